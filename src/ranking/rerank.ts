/**
 * Re-ranking: score candidates (blend or any {@link Scorer}), then walk them best-first through a lazy heap
 * — de-duplicating ids and applying the seed's diversity caps — until `limit` results are placed.
 */
import type { Id } from '../core/types.js';
import { InvalidParameterError } from '../core/errors.js';
import { checkInt } from '../core/validate.js';
import { selectWithCaps, type CapsOptions, type CapReason } from '../diversity/caps.js';
import { type CandidateBatch, type CandidateInput, type GroupKey, toBatch } from './candidates.js';
import { RankHeap } from './order.js';
import { BlendScorer, type BlendWeights, type NormalizedSignals, type Scorer, type SignalOptions, normalizeSignals, runScorer } from './signals.js';

/**
 * Options of {@link scoreCandidates} and {@link rerank}.
 *
 * @example
 * rerank(candidates, { limit: 100, weights: { similarity: 0.6, engagement: 0.2, quality: 0.2 },
 *                      diversity: { freePrefix: 20, categoryCap: 0.3, creatorCap: 0.2 } });
 */
export interface RerankOptions extends SignalOptions {
  /** Blend weights; ignored when `scorer` is given. @default {similarity: 0.6, engagement: 0.2, quality: 0.2} */
  weights?: BlendWeights;
  /** A model to use instead of the blend. @default new BlendScorer(weights) */
  scorer?: Scorer;
  /** Most results (overrides `diversity.limit`). @default 100 */
  limit?: number;
  /** The seed's caps (see `pinrec/diversity`), or `false` for plain top-k. @default {} (seed caps) */
  diversity?: CapsOptions | false;
}

/** Scores plus everything needed to explain them. */
export interface ScoredBatch<I extends Id = Id> {
  batch: CandidateBatch<I>;
  signals: NormalizedSignals;
  scores: Float64Array;
  scorer: string;
}

/**
 * Validate, normalise and score candidates without selecting any.
 *
 * @throws {InvalidParameterError} for bad candidates or options; {@link NumericalError} when a scorer gives a non-finite score
 * @example
 * const { scores } = scoreCandidates([{ id: 'a', similarity: 1, quality: 1 }]); // scores[0] ≈ 0.8 + 0.2·1
 */
export function scoreCandidates<I extends Id = Id>(input: CandidateInput<I>, options: RerankOptions = {}): ScoredBatch<I> {
  const batch = toBatch(input);
  const signals = normalizeSignals(batch, options);
  const scorer = options.scorer ?? new BlendScorer(options.weights);
  if (typeof scorer?.score !== 'function') throw new InvalidParameterError('scorer', 'an object with a score() method', scorer);
  return { batch, signals, scores: runScorer(scorer, batch, signals), scorer: scorer.name };
}

/** One result of {@link rerank}. */
export interface RankedCandidate<I extends Id = Id> {
  id: I;
  /** Row of the candidate in the input. */
  index: number;
  /** Final score. */
  score: number;
  /** The normalised signals that went into the blend. */
  similarity: number;
  engagement: number;
  quality: number;
  category: GroupKey | null;
  creator: GroupKey | null;
  /** Placed by `'relax'` fill, ignoring the caps. */
  relaxed: boolean;
}

/** A candidate that did not make the list although it ranked above the cut. */
export interface SkippedCandidate<I extends Id = Id> {
  id: I;
  index: number;
  score: number;
  /** `'duplicate'`: the id already appeared with a better rank; otherwise the cap that held it back. */
  reason: CapReason | 'duplicate';
  /** Results placed when it was considered (for `'duplicate'`: distinct candidates considered before it). */
  position: number;
  categoryShare: number;
  creatorShare: number;
}

/** Result of {@link rerank}. */
export interface RerankResult<I extends Id = Id> {
  items: RankedCandidate<I>[];
  skipped: SkippedCandidate<I>[];
  /** How many of `items` (at the end) came from `'relax'` fill. */
  relaxed: number;
  /** Whether the candidates ran out before `limit`. */
  exhausted: boolean;
  /** Name of the scorer used. */
  scorer: string;
}

/**
 * Score candidates and select the best `limit`, best first, under the seed's diversity caps (or plain top-k
 * with `diversity: false`). Only as many candidates as needed are taken off a heap, never a full sort.
 *
 * Documented behaviour: an empty input gives an empty result; a duplicate id keeps its best-ranked copy and
 * the others are reported in `skipped` as `'duplicate'`; ties are broken by score, then id, then input row.
 * With the caps, the output is in score order except for `'relax'` fill (appended, itself in score order).
 *
 * @throws {InvalidParameterError} for bad candidates or options (`limit` must be an integer >= 1)
 * @example
 * const res = rerank(candidates, { limit: 100 });
 * res.items[0]; // { id, score, similarity, engagement, quality, category, creator, ... }
 */
export function rerank<I extends Id = Id>(input: CandidateInput<I>, options: RerankOptions = {}): RerankResult<I> {
  const limit = checkInt('limit', options.limit ?? (options.diversity ? options.diversity.limit : undefined) ?? 100, 1);
  const scored = scoreCandidates(input, options);
  return selectRanked(scored, limit, options.diversity);
}

/**
 * Selection step of {@link rerank} on an already scored batch (useful when scores are reused).
 *
 * @example
 * const scored = scoreCandidates(cands);
 * const top = selectRanked(scored, 50, false);
 */
export function selectRanked<I extends Id>(scored: ScoredBatch<I>, limit: number, diversity: CapsOptions | false = {}): RerankResult<I> {
  checkInt('limit', limit, 1);
  const { batch, scores, signals } = scored;
  const heap = new RankHeap(scores, batch.ids);
  const seen = new Set<I>();
  const dupes: { index: number; position: number }[] = [];
  const ids = batch.ids;
  let yielded = 0;
  const order: Iterable<number> = {
    *[Symbol.iterator]() {
      for (let i = heap.next(); i >= 0; i = heap.next()) {
        const id = ids[i];
        if (seen.has(id)) {
          dupes.push({ index: i, position: yielded });
          continue;
        }
        seen.add(id);
        yielded++;
        yield i;
      }
    },
  };
  let selected: number[];
  let relaxedCount = 0;
  let exhausted: boolean;
  const skipped: SkippedCandidate<I>[] = [];
  if (diversity === false) {
    selected = [];
    for (const i of order) {
      selected.push(i);
      if (selected.length >= limit) break;
    }
    exhausted = selected.length < limit;
  } else {
    const sel = selectWithCaps(order, batch.category, batch.creator, { ...diversity, limit });
    selected = sel.selected;
    relaxedCount = sel.relaxed;
    exhausted = sel.exhausted;
    for (const s of sel.skipped) {
      skipped.push({ id: ids[s.index], index: s.index, score: scores[s.index], reason: s.reason, position: s.position, categoryShare: s.categoryShare, creatorShare: s.creatorShare });
    }
  }
  for (const d of dupes) {
    skipped.push({ id: ids[d.index], index: d.index, score: scores[d.index], reason: 'duplicate', position: d.position, categoryShare: 0, creatorShare: 0 });
  }
  const firstRelaxed = selected.length - relaxedCount;
  const items: RankedCandidate<I>[] = new Array(selected.length);
  for (let r = 0; r < selected.length; r++) {
    const i = selected[r];
    items[r] = {
      id: ids[i], index: i, score: scores[i],
      similarity: signals.similarity[i], engagement: signals.engagement[i], quality: signals.quality[i],
      category: batch.category?.[i] ?? null, creator: batch.creator?.[i] ?? null,
      relaxed: r >= firstRelaxed,
    };
  }
  return { items, skipped, relaxed: relaxedCount, exhausted, scorer: scored.scorer };
}
