/**
 * Collaborative-filtering candidates for the feed, in two stages: an inner-product index over the model's
 * `scoringFactors()` proposes `candidates` pins for the user's factor vector, and the model scores them,
 * with the pins that co-occur with the user's history, by its own scoring (SVD-EASE by default) — so the
 * feed and `recommend()` rank a user's pins alike, without scoring every pin of a large catalogue.
 */
import type { Candidate, CandidateSource, Recommender, SourceContext, VectorSearcher } from '../../core/interfaces.js';
import { InvalidParameterError } from '../../core/errors.js';
import type { Id } from '../../core/types.js';
import { checkInt } from '../../core/validate.js';
import { hitSimilarity } from '../interfaces.js';

/**
 * Options of {@link CfCandidateSource}: either a `model` (two-stage: index proposes, model re-scores) or a
 * `userVector` function (one stage: the index's inner products are the scores).
 *
 * @example
 * new CfCandidateSource({ model, index: hnswIp, k: 500 });                       // two-stage
 * new CfCandidateSource({ userVector: (u) => myFactors.get(u), index: hnswIp });  // custom model
 */
export interface CfSourceOptions<U extends Id, I extends Id> {
  /** @default 'cf' */
  name?: string;
  /** Budget in ms. @default the feed's */
  timeoutMs?: number;
  /**
   * A fitted recommender (`SvdRecommender`): its `tryUserFactors` queries the index and its `recommend`
   * (with `candidates` = the index's hits) gives the final scores. A user it cannot score gets `[]`.
   */
  model?: Pick<Recommender<U, I>, 'tryUserFactors' | 'recommend'>;
  /** Without `model`: the user's factor vector, or `undefined` for a cold user (the source then returns `[]`). */
  userVector?: (user: U) => Float32Array | undefined;
  /**
   * Inner-product index (`HnswIndex`/`ExactIndex` with metric `'ip'`) over `model.scoringFactors()` (with
   * `model`) or over the vectors `userVector` is matched against.
   */
  index: VectorSearcher<I>;
  /** Candidates to return. @default 500 */
  k?: number;
  /**
   * With `model`: pins the index proposes for exact scoring, besides the co-occurring ones (more is closer to
   * full ranking; the README has the measured trade-off). @default k
   */
  candidates?: number;
  /** With `model`: leave out the user's training pins, as `recommend` does. @default true */
  filterSeen?: boolean;
  /**
   * With `model`: which pins co-occurring with the user's history are scored besides the index's candidates.
   * `true`: every one (`recommend`'s `candidates`), so the list equals full ranking's; a number m: the m with
   * the largest co-occurrence term; `false`: none (`allowItems`). Scores are the model's exact scores in every
   * case; what changes is which pins can come back. The expansion costs the user's co-occurrence rows: small
   * on sparse data, tens of thousands of pins per user on a dense catalogue (measured in
   * benchmarks/service.ts). @default true
   */
  cooccurring?: boolean | number;
  /** With `model`: score from at most this many of the user's most recent pins (`recommend`'s `history`). @default every pin */
  history?: number;
}

/**
 * Collaborative-filtering candidates. `similarity` is the model's raw score (the feed calibrates every
 * source to one scale before merging). Exclusions apply before truncation: with `k` wanted and `m` pins
 * excluded, `k` come back when `k + m` exist.
 *
 * @example
 * const cf = new CfCandidateSource({ model, index: itemIndexIp, k: 500 });
 * await cf.fetch('alice', { signal: new AbortController().signal, limit: 100, exclude: new Set() });
 */
export class CfCandidateSource<U extends Id = Id, I extends Id = Id> implements CandidateSource<U, I> {
  readonly name: string;
  readonly timeoutMs?: number;
  private readonly o: CfSourceOptions<U, I>;
  private readonly k: number;
  private readonly candidates: number;

  /** @throws {InvalidParameterError} without `model` or `userVector`, or without an index */
  constructor(options: CfSourceOptions<U, I>) {
    const hasModel = typeof options?.model?.recommend === 'function' && typeof options.model.tryUserFactors === 'function';
    if (!hasModel && typeof options?.userVector !== 'function') {
      throw new InvalidParameterError('model', 'a recommender (or a userVector function)', options?.model ?? options?.userVector);
    }
    if (typeof options.index?.search !== 'function') throw new InvalidParameterError('index', 'an object with search()', options.index);
    this.o = options;
    this.name = options.name ?? 'cf';
    this.timeoutMs = options.timeoutMs;
    this.k = checkInt('k', options.k ?? 500, 1);
    this.candidates = checkInt('candidates', options.candidates ?? this.k, 1);
    if (options.history !== undefined) checkInt('history', options.history, 1);
    const co = options.cooccurring;
    if (co !== undefined && typeof co !== 'boolean' && !(typeof co === 'number' && Number.isInteger(co) && co >= 0)) {
      throw new InvalidParameterError('cooccurring', 'a boolean or an integer >= 0', co);
    }
  }

  async fetch(user: U, ctx: SourceContext<I>): Promise<Candidate<I>[]> {
    const want = Math.min(this.k, ctx.limit);
    const model = this.o.model;
    const q = model ? model.tryUserFactors(user) : this.o.userVector!(user);
    if (!q) return [];
    if (model) {
      const hits = await this.o.index.search(q, Math.max(this.candidates, want) + ctx.exclude.size);
      if (hits.ids.length === 0) return [];
      const ids = Array.from(hits.ids);
      const r = model.recommend(user, {
        n: want,
        ...(this.o.cooccurring === false ? { allowItems: ids } : { candidates: ids, ...(typeof this.o.cooccurring === 'number' ? { cooccurring: this.o.cooccurring } : {}) }),
        filterItems: ctx.exclude, filterSeen: this.o.filterSeen ?? true, ...(this.o.history !== undefined ? { history: this.o.history } : {}),
      });
      return r.ids.map((id, i) => ({ id, similarity: r.scores[i] }));
    }
    const hits = await this.o.index.search(q, want + ctx.exclude.size);
    const out: Candidate<I>[] = [];
    for (let i = 0; i < hits.ids.length && out.length < want; i++) {
      if (!ctx.exclude.has(hits.ids[i])) out.push({ id: hits.ids[i], similarity: hitSimilarity(hits, i, 'ip') });
    }
    return out;
  }
}
