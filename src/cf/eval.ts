/**
 * Offline evaluation: holdout splits (leave-last-out, leave-k-out, seeded random holdout) and ranking metrics
 * over the full catalogue (HR@K, NDCG@K, Recall@K, Precision@K, MAP@K, MRR, AUC, catalogue coverage), plus
 * the sampled protocol (the held-out pins + 99 seeded negatives) for comparison with papers, per-user results
 * and seeded bootstrap intervals.
 */
import { InvalidParameterError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { topK } from '../core/topk.js';
import type { Id, ProgressCallback } from '../core/types.js';
import { checkInt, checkNumber, checkOneOf } from '../core/validate.js';
import type { CombineRule, InteractionLog, InteractionMatrix } from './interactions.js';

/**
 * A train matrix and the held-out pins of each evaluated user (dense indices). With `testIndptr`, user `q`'s
 * held-out pins are `testItems[testIndptr[q] .. testIndptr[q + 1])` (distinct columns, at least one);
 * without it, `testItems[q]` is user `q`'s one held-out pin.
 */
export interface HoldoutSplit<U extends Id = Id, I extends Id = Id> {
  train: InteractionMatrix<U, I>;
  /** Row index of each evaluated user. */
  testUsers: Int32Array;
  /** The held-out pins (column indices): one per user, or grouped by `testIndptr`. */
  testItems: Int32Array;
  /** Offsets of each user's held-out pins in `testItems` (length `testUsers.length + 1`). @default one pin per user */
  testIndptr?: Int32Array;
}

/** A split with one held-out pin per evaluated user, as {@link leaveLastOut} makes it. */
export type LeaveLastOutSplit<U extends Id = Id, I extends Id = Id> = HoldoutSplit<U, I>;

/** Options of {@link leaveLastOut}. */
export interface SplitOptions {
  /**
   * `'timestamp'`: each user's latest event by timestamp (ties: later in input) is held out;
   * `'order'`: the last event in input order (sequence data). @default 'timestamp' when the log has timestamps, else 'order'
   */
  by?: 'timestamp' | 'order';
  /** Users with fewer events than this are kept whole in train and not evaluated (integer >= 2). @default 2 */
  minEvents?: number;
  /** How duplicates combine in the train matrix. @default 'sum' */
  combine?: CombineRule;
}

/** Options of {@link leaveKOut}. */
export interface LeaveKOutOptions extends SplitOptions {
  /** Events held out per user (integer >= 1); users with fewer than `max(minEvents, k + 1)` events are not evaluated. @default 1 */
  k?: number;
}

/** Options of {@link randomHoldout}. */
export interface RandomHoldoutOptions {
  /** Probability that each event of an evaluated user is held out, in (0, 1). @default 0.2 */
  fraction?: number;
  /** Seed of the draws. @default 0 */
  seed?: number;
  /** Users with fewer events than this are kept whole in train and not evaluated (integer >= 2). @default 2 */
  minEvents?: number;
  /** How duplicates combine in the train matrix. @default 'sum' */
  combine?: CombineRule;
}

/**
 * Hold out each user's last interaction. Other events of the same pin stay in train (as in the usual
 * protocol), so a re-interaction is filtered as seen and counts as a miss. The same split as
 * `leaveKOut(log, { k: 1 })`, in the one-pin-per-user shape (no `testIndptr`).
 *
 * Defaults: `by` `'timestamp'` when the log has timestamps, else `'order'`; `minEvents` 2; `combine` `'sum'`.
 * @throws InvalidParameterError for a bad `by` (or `'timestamp'` without timestamps), `minEvents` or `combine`
 * @example
 * import { interactionsFromColumns, leaveLastOut } from 'pinrec/cf';
 * const log = interactionsFromColumns({ users: ['a', 'a', 'b', 'b'], items: ['x', 'y', 'x', 'z'] });
 * const split = leaveLastOut(log, { by: 'order', combine: 'max' });
 * split.testItems.length; // 2: y for a, z for b
 */
export function leaveLastOut<U extends Id, I extends Id>(log: InteractionLog<U, I>, options: SplitOptions = {}): LeaveLastOutSplit<U, I> {
  const { train, testUsers, testItems } = holdLast(log, options ?? {}, 1);
  return { train, testUsers, testItems };
}

/**
 * Hold out each user's last `k` events (by timestamp, ties by input order, or by input order, exactly as
 * {@link leaveLastOut} decides `by`). A user's held-out pins are the distinct pins of those events (in the input
 * order of the events); other events of the same pins stay in train (such a pin counts as relevant but is
 * never hit). Users with fewer than `max(minEvents, k + 1)` events stay whole in train and are not evaluated.
 * The result always has `testIndptr`; with `k = 1` it is otherwise the split of {@link leaveLastOut}.
 *
 * Defaults: `k` 1; `by` `'timestamp'` when the log has timestamps, else `'order'`; `minEvents` 2; `combine` `'sum'`.
 * @throws InvalidParameterError for a bad `k`, `by`, `minEvents` or `combine`
 * @example
 * import { evaluate, leaveKOut, syntheticInteractions, SvdRecommender } from 'pinrec/cf';
 * const split = leaveKOut(syntheticInteractions({ users: 300, items: 100, events: 6000, seed: 1 }), { k: 3 });
 * const model = new SvdRecommender({ factors: 8 }).fit(split.train);
 * const { recall, precision, map } = evaluate(model, split, { k: 10 });
 */
export function leaveKOut<U extends Id, I extends Id>(log: InteractionLog<U, I>, options: LeaveKOutOptions = {}): Required<HoldoutSplit<U, I>> {
  const o = options ?? {};
  const k = checkInt('k', o.k ?? 1, 1, 2 ** 31 - 2);
  return holdLast(log, o, k);
}

function holdLast<U extends Id, I extends Id>(log: InteractionLog<U, I>, options: SplitOptions, k: number): Required<HoldoutSplit<U, I>> {
  checkLog(log);
  const by = checkOneOf('by', options.by ?? (log.time ? 'timestamp' : 'order'), ['timestamp', 'order'] as const);
  if (by === 'timestamp' && !log.time) throw new InvalidParameterError('by', "'order' for a log without timestamps", by);
  const minEvents = checkInt('minEvents', options.minEvents ?? 2, 2);
  const need = Math.max(minEvents, k + 1);
  const { start, events } = byUser(log);
  const t = log.time;
  const keep = new Uint8Array(log.length).fill(1);
  const held: number[] = [];
  for (let u = 0; u < log.users.size; u++) {
    const n = start[u + 1] - start[u];
    if (n < need) continue;
    let mine = events.subarray(start[u], start[u + 1]); // input order
    if (by === 'timestamp') mine = Int32Array.from(mine).sort((a, b) => t![a] - t![b] || a - b);
    for (let p = n - k; p < n; p++) keep[mine[p]] = 0;
    held.push(u);
  }
  return finishSplit(log, keep, held, options.combine);
}

/**
 * Hold out each event of every evaluated user independently with probability `fraction` (seeded), keeping at
 * least one of the user's events in train and holding out at least one. A user's held-out pins are the
 * distinct pins of their held-out events, in input order; other events of the same pins stay in train (such a
 * pin counts as relevant but is never hit). Users with fewer than `minEvents` events stay whole in train.
 *
 * Defaults: `fraction` 0.2, `seed` 0, `minEvents` 2, `combine` `'sum'`.
 * @throws InvalidParameterError for a bad `fraction`, `seed`, `minEvents` or `combine`
 * @example
 * import { randomHoldout, syntheticInteractions } from 'pinrec/cf';
 * const split = randomHoldout(syntheticInteractions({ users: 300, items: 100, events: 6000, seed: 1 }), { fraction: 0.3, seed: 7 });
 * split.testIndptr[split.testUsers.length] === split.testItems.length; // true
 */
export function randomHoldout<U extends Id, I extends Id>(log: InteractionLog<U, I>, options: RandomHoldoutOptions = {}): Required<HoldoutSplit<U, I>> {
  checkLog(log);
  const o = options ?? {};
  const fraction = checkNumber('fraction', o.fraction ?? 0.2, 0, 1);
  if (fraction === 0 || fraction === 1) throw new InvalidParameterError('fraction', 'a finite number in (0, 1)', fraction);
  const seed = checkNumber('seed', o.seed ?? 0);
  const minEvents = checkInt('minEvents', o.minEvents ?? 2, 2);
  const rng = new Rng(seed);
  const { start, events } = byUser(log);
  const keep = new Uint8Array(log.length).fill(1);
  const held: number[] = [];
  for (let u = 0; u < log.users.size; u++) {
    const s = start[u];
    const n = start[u + 1] - s;
    if (n < minEvents) continue;
    let out = 0;
    for (let p = s; p < s + n; p++) if (rng.next() < fraction) { keep[events[p]] = 0; out++; }
    if (out === 0) keep[events[s + rng.int(n)]] = 0; // hold out at least one
    else if (out === n) keep[events[s + rng.int(n)]] = 1; // keep at least one in train
    held.push(u);
  }
  return finishSplit(log, keep, held, o.combine);
}

function checkLog(log: unknown): asserts log is InteractionLog {
  const l = log as InteractionLog | null;
  if (!l || !(l.user instanceof Int32Array) || !(l.item instanceof Int32Array) || typeof l.toMatrix !== 'function') {
    throw new InvalidParameterError('log', 'an InteractionLog', log);
  }
}

/** Event indices grouped by user row (stable: input order within a user). */
function byUser(log: InteractionLog): { start: Int32Array; events: Int32Array } {
  const nU = log.users.size;
  const start = new Int32Array(nU + 1);
  for (let e = 0; e < log.length; e++) start[log.user[e] + 1]++;
  for (let u = 0; u < nU; u++) start[u + 1] += start[u];
  const fill = start.slice(0, nU);
  const events = new Int32Array(log.length);
  for (let e = 0; e < log.length; e++) events[fill[log.user[e]]++] = e;
  return { start, events };
}

/** The train matrix of the kept events, and each held user's distinct dropped pins (in input order of the events). */
function finishSplit<U extends Id, I extends Id>(log: InteractionLog<U, I>, keep: Uint8Array, held: number[], combine: CombineRule | undefined): Required<HoldoutSplit<U, I>> {
  const train = log.toMatrix({ combine, keep });
  const heldRow = new Int32Array(log.users.size).fill(-1);
  held.forEach((u, q) => { heldRow[u] = q; });
  // dropped events of each held user, in input order (events are visited in input order)
  const count = new Int32Array(held.length + 1);
  for (let e = 0; e < log.length; e++) if (!keep[e]) count[heldRow[log.user[e]] + 1]++;
  for (let q = 0; q < held.length; q++) count[q + 1] += count[q];
  const fill = count.slice(0, held.length);
  const dropped = new Int32Array(count[held.length]);
  for (let e = 0; e < log.length; e++) if (!keep[e]) dropped[fill[heldRow[log.user[e]]]++] = log.item[e];
  // distinct pins per user, first occurrence first
  const stamp = new Int32Array(log.items.size);
  const indptr = new Int32Array(held.length + 1);
  const items = new Int32Array(dropped.length);
  let nz = 0;
  for (let q = 0; q < held.length; q++) {
    for (let p = count[q]; p < count[q + 1]; p++) {
      const j = dropped[p];
      if (stamp[j] === q + 1) continue;
      stamp[j] = q + 1;
      items[nz++] = j;
    }
    indptr[q + 1] = nz;
  }
  return { train, testUsers: Int32Array.from(held), testItems: items.slice(0, nz), testIndptr: indptr };
}

/** A user's training row as given to a {@link RowScorer}: pin indices, weights and, when known, when each entry last happened. */
export interface ScoredRow {
  idx: Int32Array;
  val: Float32Array;
  /** `InteractionMatrix.lastEvent` of the row's entries (larger = more recent), when the matrix has it. */
  key?: Float64Array;
}

/** Anything that scores every pin for a user's interaction row. */
export interface RowScorer {
  scoreRow(idx: Int32Array, val: Float32Array, out: Float32Array): void;
  /** Optional batched form: `out` is rows × pins. Used when present (much faster). Rows carry `key` when the train matrix has `lastEvent`. */
  scoreRows?(rows: readonly { idx: Int32Array; val: Float32Array; key?: Float64Array }[], out: Float32Array): void;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Cut-off K for HR, NDCG, Recall, Precision, MAP and coverage (clamped to the catalogue size). @default 10 */
  k?: number;
  /**
   * `'full'` ranks against every pin not in the user's train row; `'sampled'` against `negatives` seeded random
   * pins that are neither in the train row nor held out (drawn with replacement). @default 'full'
   */
  protocol?: 'full' | 'sampled';
  /** Negatives per user for the sampled protocol. @default 99 */
  negatives?: number;
  /** Seed of the sampled negatives (and of `maxUsers`' sample). @default 0 */
  seed?: number;
  /** Evaluate only this many users (seeded sample), for quick checks. @default all */
  maxUsers?: number;
  /**
   * Bootstrap confidence intervals of every metric: `resamples` resamplings of the evaluated users with
   * replacement (seeded), percentile intervals at `level`. @default none (resamples 1000, level 0.95, seed 0 when given)
   */
  confidence?: { resamples?: number; level?: number; seed?: number };
  /** Return each evaluated user's rank of their first held-out pin (and hits, for multi-pin splits) as `perUser`. @default false */
  perUser?: boolean;
  onProgress?: ProgressCallback;
}

/** A percentile bootstrap interval. */
export interface Interval {
  low: number;
  high: number;
}

/**
 * Ranking metrics, averaged over the evaluated users. For a user with held-out set T, the candidates are
 * every pin not in their train row (or, sampled, T plus the negatives); the position of a held-out pin is the
 * number of candidates (held out or not) scored strictly higher, and held-out pins with equal scores take
 * consecutive positions (best case). A held-out pin that is also in the user's train row (it can never be
 * recommended to them) or scored −∞ counts in |T| but is never hit. With one held-out pin per user, recall
 * equals HR, precision is HR / K and MAP is the reciprocal rank within the top K.
 */
export interface RankingMetrics {
  users: number;
  k: number;
  protocol: 'full' | 'sampled';
  /** Hit rate: share of users with at least one held-out pin in the top K. */
  hr: number;
  /** NDCG@K: Σ over hits of 1 / log2(position + 2), over the ideal Σ over the first min(K, |T|) positions. */
  ndcg: number;
  /** Recall@K: hits / |T|. */
  recall: number;
  /** Mean reciprocal rank of the first held-out pin, over the full ranking (0 when none can be hit). */
  mrr: number;
  /** Share of the catalogue that appears in at least one top-K list (full protocol only; NaN when sampled). */
  coverage: number;
  /** Precision@K: hits / K. */
  precision: number;
  /** MAP@K: Σ over hits, by position, of (hits so far) / (position + 1), over min(K, |T|). */
  map: number;
  /**
   * AUC: for each held-out pin not in the train row, the share of non-held-out candidates not scored above it
   * (1 − above / (candidates − |T|), at least 1 candidate; sampled: 1 − above / negatives), averaged over
   * those pins (0 when there are none).
   */
  auc: number;
  /** With `confidence`: an interval per metric, and the settings used. */
  intervals?: {
    hr: Interval; ndcg: Interval; recall: Interval; mrr: Interval; precision: Interval; map: Interval; auc: Interval;
    level: number; resamples: number;
  };
  /**
   * With `perUser`: for each evaluated user (`test`: index into the split's test arrays), the position of their
   * best-placed held-out pin (`rank`, Infinity when none can be hit) and, for splits with `testIndptr`, the
   * number of held-out pins in the top K (`hits`).
   */
  perUser?: { test: Int32Array; rank: Float64Array; hits?: Int32Array };
}

/**
 * Rank each user's held-out pins among the candidates (all pins not in their train row, or the sampled
 * negatives) and average the metrics of {@link RankingMetrics}. O(pins · log |T|) per user.
 *
 * Defaults: `k` 10, `protocol` `'full'`, `negatives` 99, `seed` 0, every user, no intervals, no `perUser`.
 * @throws InvalidParameterError for a malformed split, a split with no evaluated user, or a bad option
 * @example
 * import { evaluate, interactionsFromColumns, leaveKOut } from 'pinrec/cf';
 * const log = interactionsFromColumns({ users: ['a', 'a', 'a', 'b', 'b', 'b'], items: ['x', 'y', 'z', 'x', 'z', 'w'] });
 * const split = leaveKOut(log, { k: 2, by: 'order' });
 * const fixed = Float32Array.from({ length: split.train.nItems }, (_, j) => -j); // a scorer: lower column first
 * const m = evaluate({ scoreRow: (_idx, _val, out) => out.set(fixed) }, split, { k: 2, confidence: { resamples: 100 } });
 * m.recall; m.precision; m.map; m.intervals?.recall; // point estimates and bootstrap intervals
 */
export function evaluate(model: RowScorer, split: HoldoutSplit, options: EvaluateOptions = {}): RankingMetrics {
  const x = split?.train?.csr;
  if (!x || !(split.testUsers instanceof Int32Array) || !(split.testItems instanceof Int32Array)) throw new InvalidParameterError('split', 'a split from leaveLastOut, leaveKOut or randomHoldout', split);
  if (split.testUsers.length === 0) throw new InvalidParameterError('split', 'a split with at least one evaluated user (metrics of none are undefined)', 0);
  if (!model || (typeof model.scoreRow !== 'function' && typeof model.scoreRows !== 'function')) throw new InvalidParameterError('model', 'a RowScorer (scoreRow or scoreRows)', model);
  options = options ?? {};
  const nItems = x.cols;
  const nTest = split.testUsers.length;
  const ip = testOffsets(split, x.rows, nItems);
  const multi = split.testIndptr !== undefined;
  // k and negatives beyond the catalogue change nothing: clamp them (no allocation of k slots, no endless sampling)
  const k = Math.min(checkInt('k', options.k ?? 10, 1), nItems);
  const protocol = checkOneOf('protocol', options.protocol ?? 'full', ['full', 'sampled'] as const);
  const negatives = Math.min(checkInt('negatives', options.negatives ?? 99, 1), Math.max(1, nItems - 1));
  const rng = new Rng(options.seed ?? 0);
  let order = Array.from({ length: nTest }, (_, i) => i);
  if (options.maxUsers !== undefined) {
    const mu = checkInt('maxUsers', options.maxUsers, 1);
    if (mu < order.length) order = new Rng((options.seed ?? 0) + 1).shuffle(order).slice(0, mu).sort((a, b) => a - b);
  }
  let maxT = 1;
  for (let q = 0; q < nTest; q++) maxT = Math.max(maxT, ip[q + 1] - ip[q]);
  const idcg = new Float64Array(Math.min(k, maxT) + 1); // idcg[c]: ideal DCG of c hits
  for (let c = 1; c < idcg.length; c++) idcg[c] = idcg[c - 1] + 1 / Math.log2(c + 1);
  const BATCH = 32;
  const batchScores = new Float32Array(BATCH * nItems);
  const seen = new Uint8Array(nItems);
  const rel = new Uint8Array(nItems);
  const inTop = new Uint8Array(nItems);
  const rs = new Float64Array(maxT); // scores of the rankable held-out pins, ascending
  const hist = new Float64Array(maxT + 1); // hist[c]: candidates scored above exactly the c lowest of rs
  const pos = new Float64Array(maxT);
  const nUsers = order.length;
  const per = newPerUser(nUsers);
  const ranks = new Float64Array(nUsers);
  const hitCounts = new Int32Array(nUsers);
  const lastEvent = split.train.lastEvent;
  let done = 0;
  const rowOf = (u: number): ScoredRow => {
    const s = x.indptr[u], e = x.indptr[u + 1];
    const row: ScoredRow = { idx: x.indices.subarray(s, e), val: x.data.subarray(s, e) };
    if (lastEvent) row.key = lastEvent.subarray(s, e);
    return row;
  };
  for (let t0 = 0; t0 < order.length; t0 += BATCH) {
    const batch = order.slice(t0, t0 + BATCH);
    const rows = batch.map((q) => rowOf(split.testUsers[q]));
    if (model.scoreRows) model.scoreRows(rows, batchScores.subarray(0, rows.length * nItems));
    else rows.forEach((r, i) => model.scoreRow(r.idx, r.val, batchScores.subarray(i * nItems, (i + 1) * nItems)));
    for (let i = 0; i < batch.length; i++) {
      const q = batch[i];
      const targets = split.testItems.subarray(ip[q], ip[q + 1]);
      const nT = targets.length;
      const { idx } = rows[i];
      const scores = batchScores.subarray(i * nItems, (i + 1) * nItems);
      for (let p = 0; p < idx.length; p++) seen[idx[p]] = 1;
      for (let p = 0; p < nT; p++) rel[targets[p]] = 1;
      // held-out pins that can be ranked: not in train, not −∞ (NaN is ranked first, as nothing is above it)
      let m = 0, nNaN = 0, nIn = 0;
      for (let p = 0; p < nT; p++) {
        const j = targets[p];
        if (seen[j]) continue;
        nIn++;
        const s = scores[j];
        if (s === -Infinity) continue;
        if (s !== s) nNaN++;
        else rs[m++] = s;
      }
      const sorted = rs.subarray(0, m).sort();
      hist.fill(0, 0, m + 1);
      // count each candidate against the held-out scores below it: O(log m) per candidate
      const add = (s: number) => {
        let lo = 0, hi = m;
        while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid] < s) lo = mid + 1; else hi = mid; }
        hist[lo]++;
      };
      if (m + nNaN > 0) {
        if (protocol === 'full') {
          for (let j = 0; j < nItems; j++) if (!seen[j]) add(scores[j]);
        } else {
          let drawn = 0;
          let guard = 0;
          while (drawn < negatives && guard++ < negatives * 100) {
            const j = rng.int(nItems);
            if (seen[j] || rel[j]) continue;
            drawn++;
            add(scores[j]);
          }
          for (let p = 0; p < nT; p++) if (!seen[targets[p]]) add(scores[targets[p]]);
        }
      }
      // position of sorted[c]: candidates above it = Σ hist[c+1..m]
      let acc = 0;
      for (let c = m - 1; c >= 0; c--) { acc += hist[c + 1]; pos[c] = acc; }
      // AUC over the held-out pins not in train: non-held-out candidates not above each one
      const pool = protocol === 'full' ? Math.max(1, nItems - idx.length - nIn) : negatives;
      let aucSum = nNaN; // NaN: nothing above it
      for (let c = m - 1, above = 0; c >= 0; c--) {
        if (c < m - 1 && sorted[c] < sorted[c + 1]) above = m - 1 - c; // held-out pins strictly above sorted[c]
        const r = pos[c] - above;
        aucSum += 1 - Math.min(r, pool) / pool;
      }
      // positions best first (NaN first, then by score), equal ones made consecutive; −∞ and train pins never hit
      let hits = 0, dcg = 0, ap = 0, first = Infinity, prev = -1;
      for (let n = 0; n < m + nNaN; n++) {
        const p = Math.max(n < nNaN ? 0 : pos[m - 1 - (n - nNaN)], prev + 1);
        prev = p;
        if (n === 0) first = p;
        if (p >= k) break;
        hits++;
        dcg += 1 / Math.log2(p + 2);
        ap += hits / (p + 1);
      }
      const cut = Math.min(k, nT);
      const o = done++;
      per.hit[o] = hits > 0 ? 1 : 0;
      per.hits[o] = hits;
      per.recall[o] = hits / nT;
      per.ndcg[o] = dcg / idcg[cut];
      per.map[o] = ap / cut;
      per.rr[o] = Number.isFinite(first) ? 1 / (first + 1) : 0;
      per.auc[o] = nIn > 0 ? aucSum / nIn : 0;
      ranks[o] = first;
      hitCounts[o] = hits;
      if (protocol === 'full') for (const j of topK(scores, k, seen)) inTop[j] = 1; // unseen top-k pins
      for (let p = 0; p < idx.length; p++) seen[idx[p]] = 0;
      for (let p = 0; p < nT; p++) rel[targets[p]] = 0;
    }
    options.onProgress?.({ stage: 'evaluate', done: Math.min(order.length, t0 + BATCH), total: order.length });
  }
  let covered = 0;
  for (let j = 0; j < nItems; j++) covered += inTop[j];
  const out: RankingMetrics = {
    users: nUsers, k, protocol,
    hr: mean(per.hit), ndcg: mean(per.ndcg), recall: mean(per.recall), mrr: mean(per.rr),
    coverage: protocol === 'full' ? covered / nItems : NaN,
    precision: mean(per.hits) / k, map: mean(per.map), auc: mean(per.auc),
  };
  if (options.confidence !== undefined) out.intervals = bootstrap(per, k, options.confidence);
  if (options.perUser === true) {
    out.perUser = { test: Int32Array.from(order), rank: ranks };
    if (multi) out.perUser.hits = hitCounts;
  }
  return out;
}

/** Offsets of each user's held-out pins in `split.testItems`, after checking the split's shape. */
function testOffsets(split: HoldoutSplit, rows: number, cols: number): Int32Array {
  const n = split.testUsers.length;
  for (let q = 0; q < n; q++) {
    const u = split.testUsers[q];
    if (u < 0 || u >= rows) throw new InvalidParameterError(`split.testUsers[${q}]`, `a row index in [0, ${rows})`, u);
  }
  let ip: Int32Array;
  if (split.testIndptr === undefined) {
    if (split.testItems.length !== n) throw new InvalidParameterError('split.testItems.length', `equal to testUsers.length (${n}) without testIndptr`, split.testItems.length);
    ip = Int32Array.from({ length: n + 1 }, (_, q) => q);
  } else {
    ip = split.testIndptr;
    if (!(ip instanceof Int32Array) || ip.length !== n + 1) throw new InvalidParameterError('split.testIndptr', `an Int32Array of length testUsers.length + 1 (${n + 1})`, ip);
    if (ip[0] !== 0 || ip[n] !== split.testItems.length) throw new InvalidParameterError('split.testIndptr', `offsets from 0 to testItems.length (${split.testItems.length})`, `${ip[0]}..${ip[n]}`);
    for (let q = 0; q < n; q++) {
      if (ip[q + 1] <= ip[q]) throw new InvalidParameterError(`split.testIndptr[${q + 1}]`, `> testIndptr[${q}] (${ip[q]}): every evaluated user holds out at least one pin`, ip[q + 1]);
    }
  }
  const stamp = new Int32Array(cols);
  for (let q = 0; q < n; q++) {
    for (let p = ip[q]; p < ip[q + 1]; p++) {
      const j = split.testItems[p];
      if (j < 0 || j >= cols) throw new InvalidParameterError(`split.testItems[${p}]`, `a column index in [0, ${cols})`, j);
      if (stamp[j] === q + 1) throw new InvalidParameterError(`split.testItems[${p}]`, `a pin not already held out for user ${q} (distinct per user)`, j);
      stamp[j] = q + 1;
    }
  }
  return ip;
}

const METRICS = ['hit', 'hits', 'ndcg', 'recall', 'rr', 'map', 'auc'] as const;
type PerUser = Record<(typeof METRICS)[number], Float64Array>;

function newPerUser(n: number): PerUser {
  return Object.fromEntries(METRICS.map((name) => [name, new Float64Array(n)])) as PerUser;
}

function mean(a: Float64Array): number {
  let t = 0;
  for (let i = 0; i < a.length; i++) t += a[i];
  return t / a.length;
}

/**
 * Percentile bootstrap over users: resample the per-user values with replacement, `resamples` times.
 *
 * @example
 * evaluate(model, split, { confidence: { resamples: 1000, level: 0.95 } }).intervals?.hr; // { low, high }
 */
function bootstrap(per: PerUser, k: number, o: NonNullable<EvaluateOptions['confidence']>): NonNullable<RankingMetrics['intervals']> {
  const resamples = checkInt('confidence.resamples', o.resamples ?? 1000, 10, 100_000);
  const level = o.level ?? 0.95;
  if (typeof level !== 'number' || !(level > 0 && level < 1)) throw new InvalidParameterError('confidence.level', 'a number in (0, 1)', level);
  const rng = new Rng(checkNumber('confidence.seed', o.seed ?? 0));
  const n = per.hit.length;
  const values = METRICS.map((name) => per[name]);
  const draws = METRICS.map(() => new Float64Array(resamples));
  const sums = new Float64Array(METRICS.length);
  for (let b = 0; b < resamples; b++) {
    sums.fill(0);
    for (let i = 0; i < n; i++) {
      const u = rng.int(n);
      for (let m = 0; m < values.length; m++) sums[m] += values[m][u];
    }
    for (let m = 0; m < values.length; m++) draws[m][b] = sums[m] / n;
  }
  const interval = (name: (typeof METRICS)[number]): Interval => {
    const d = draws[METRICS.indexOf(name)].sort();
    const lo = Math.floor(((1 - level) / 2) * (resamples - 1));
    const hi = Math.ceil((1 - (1 - level) / 2) * (resamples - 1));
    return { low: d[lo], high: d[hi] };
  };
  const hits = interval('hits');
  return {
    hr: interval('hit'), ndcg: interval('ndcg'), recall: interval('recall'), mrr: interval('rr'),
    precision: { low: hits.low / k, high: hits.high / k }, map: interval('map'), auc: interval('auc'), level, resamples,
  };
}
