/**
 * Offline evaluation: leave-last-out splits and full-ranking metrics (HR@K, NDCG@K, Recall@K, MRR, catalogue
 * coverage), plus the sampled protocol (1 positive + 99 seeded negatives) for comparison with papers.
 */
import { InvalidParameterError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { topK } from '../core/topk.js';
import type { Id, ProgressCallback } from '../core/types.js';
import { checkInt, checkOneOf } from '../core/validate.js';
import type { CombineRule, InteractionLog, InteractionMatrix } from './interactions.js';

/** A train matrix and one held-out pin per evaluated user (dense indices). */
export interface LeaveLastOutSplit<U extends Id = Id, I extends Id = Id> {
  train: InteractionMatrix<U, I>;
  /** Row index of each evaluated user. */
  testUsers: Int32Array;
  /** The held-out pin of each evaluated user (column index). */
  testItems: Int32Array;
}

/** Options of {@link leaveLastOut}. */
export interface SplitOptions {
  /**
   * `'timestamp'`: each user's latest event by timestamp (ties: later in input) is held out;
   * `'order'`: the last event in input order (sequence data). @default 'timestamp' when the log has timestamps, else 'order'
   */
  by?: 'timestamp' | 'order';
  /** Users with fewer events than this are kept whole in train and not evaluated. @default 2 */
  minEvents?: number;
  /** How duplicates combine in the train matrix. @default 'sum' */
  combine?: CombineRule;
}

/**
 * Hold out each user's last interaction. Other events of the same pin stay in train (as in the usual
 * protocol), so a re-interaction is filtered as seen and counts as a miss.
 *
 * @example
 * const split = leaveLastOut(log, { by: 'order', combine: 'max' });
 * model.fit(split.train);
 * const m = evaluate(model, split, { k: 10 });
 */
export function leaveLastOut<U extends Id, I extends Id>(log: InteractionLog<U, I>, options: SplitOptions = {}): LeaveLastOutSplit<U, I> {
  const by = checkOneOf('by', options.by ?? (log.time ? 'timestamp' : 'order'), ['timestamp', 'order'] as const);
  if (by === 'timestamp' && !log.time) throw new InvalidParameterError('by', "'order' for a log without timestamps", by);
  const minEvents = checkInt('minEvents', options.minEvents ?? 2, 2);
  const nU = log.users.size;
  const last = new Int32Array(nU).fill(-1);
  const count = new Int32Array(nU);
  const t = log.time;
  for (let e = 0; e < log.length; e++) {
    const u = log.user[e];
    count[u]++;
    const cur = last[u];
    if (cur < 0 || by === 'order' || t![e] >= t![cur]) last[u] = e;
  }
  const keep = new Uint8Array(log.length).fill(1);
  const users: number[] = [];
  const items: number[] = [];
  for (let u = 0; u < nU; u++) {
    if (count[u] < minEvents) continue;
    keep[last[u]] = 0;
    users.push(u);
    items.push(log.item[last[u]]);
  }
  const train = log.toMatrix({ combine: options.combine, keep });
  return { train, testUsers: Int32Array.from(users), testItems: Int32Array.from(items) };
}

/** Anything that scores every pin for a user's interaction row. */
export interface RowScorer {
  scoreRow(idx: Int32Array, val: Float32Array, out: Float32Array): void;
  /** Optional batched form: `out` is rows × pins. Used when present (much faster). */
  scoreRows?(rows: readonly { idx: Int32Array; val: Float32Array }[], out: Float32Array): void;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Cut-off K for HR, NDCG, Recall and coverage. @default 10 */
  k?: number;
  /** `'full'` ranks against every pin; `'sampled'` against `negatives` seeded random unseen pins. @default 'full' */
  protocol?: 'full' | 'sampled';
  /** Negatives per user for the sampled protocol. @default 99 */
  negatives?: number;
  /** Seed of the sampled negatives. @default 0 */
  seed?: number;
  /** Evaluate only this many users (seeded sample), for quick checks. @default all */
  maxUsers?: number;
  /**
   * Bootstrap confidence intervals of every metric: `resamples` resamplings of the evaluated users with
   * replacement (seeded), percentile intervals at `level`. @default none
   */
  confidence?: { resamples?: number; level?: number; seed?: number };
  /** Return each evaluated user's rank of the held-out pin (`perUser`). @default false */
  perUser?: boolean;
  onProgress?: ProgressCallback;
}

/** A percentile bootstrap interval. */
export interface Interval {
  low: number;
  high: number;
}

/**
 * Ranking metrics over the evaluated users. A user whose held-out pin is also in their training row (it can
 * never be recommended to them) counts 0 in every metric.
 */
export interface RankingMetrics {
  users: number;
  k: number;
  protocol: 'full' | 'sampled';
  /** Hit rate: share of users whose held-out pin is in the top K. */
  hr: number;
  /** NDCG@K with one relevant pin: 1 / log2(rank + 2) when rank < K. */
  ndcg: number;
  /** Recall@K (equal to HR@K with one held-out pin per user). */
  recall: number;
  /** Mean reciprocal rank over the full ranking. */
  mrr: number;
  /** Share of the catalogue that appears in at least one top-K list (full protocol only). */
  coverage: number;
  /** Precision@K: hits over K (one held-out pin per user, so at most 1/K). */
  precision: number;
  /** MAP@K: with one relevant pin, the reciprocal rank when it is in the top K, else 0. */
  map: number;
  /** AUC: the share of candidate pins (all unseen pins, or the sampled negatives) ranked below the held-out one. */
  auc: number;
  /** With `confidence`: an interval per metric, and the settings used. */
  intervals?: { hr: Interval; ndcg: Interval; mrr: Interval; precision: Interval; map: Interval; auc: Interval; level: number; resamples: number };
  /** With `perUser`: for each evaluated user (index into the split's test arrays), the held-out pin's rank (Infinity when it was in training). */
  perUser?: { test: Int32Array; rank: Float64Array };
}

/**
 * Rank each user's held-out pin among all pins not in their training row (full protocol) and average the
 * metrics. The rank is the number of candidate pins scored strictly higher than the held-out one.
 *
 * @example
 * const { hr, ndcg } = evaluate(model, split, { k: 10 });
 */
export function evaluate(model: RowScorer, split: LeaveLastOutSplit, options: EvaluateOptions = {}): RankingMetrics {
  const x = split?.train?.csr;
  if (!x || !(split.testUsers instanceof Int32Array) || !(split.testItems instanceof Int32Array)) throw new InvalidParameterError('split', 'a split from leaveLastOut', split);
  if (split.testUsers.length === 0) throw new InvalidParameterError('split', 'a split with at least one evaluated user (metrics of none are undefined)', 0);
  const nItems = x.cols;
  // k and negatives beyond the catalogue change nothing: clamp them (no allocation of k slots, no endless sampling)
  const k = Math.min(checkInt('k', options.k ?? 10, 1), nItems);
  const protocol = checkOneOf('protocol', options.protocol ?? 'full', ['full', 'sampled'] as const);
  const negatives = Math.min(checkInt('negatives', options.negatives ?? 99, 1), Math.max(1, nItems - 1));
  const rng = new Rng(options.seed ?? 0);
  let order = Array.from({ length: split.testUsers.length }, (_, i) => i);
  if (options.maxUsers !== undefined) {
    const mu = checkInt('maxUsers', options.maxUsers, 1);
    if (mu < order.length) order = new Rng((options.seed ?? 0) + 1).shuffle(order).slice(0, mu).sort((a, b) => a - b);
  }
  const BATCH = 32;
  const batchScores = new Float32Array(BATCH * nItems);
  const seen = new Uint8Array(nItems);
  const inTop = new Uint8Array(nItems);
  let hr = 0, ndcg = 0, mrr = 0;
  const ranks = new Float64Array(order.length);
  const pool = new Float64Array(order.length); // candidates each user's pin was ranked among
  let done = 0;
  const rowOf = (u: number) => ({
    idx: x.indices.subarray(x.indptr[u], x.indptr[u + 1]),
    val: x.data.subarray(x.indptr[u], x.indptr[u + 1]),
  });
  for (let t0 = 0; t0 < order.length; t0 += BATCH) {
    const batch = order.slice(t0, t0 + BATCH);
    const rows = batch.map((q) => rowOf(split.testUsers[q]));
    if (model.scoreRows) model.scoreRows(rows, batchScores.subarray(0, rows.length * nItems));
    else rows.forEach((r, i) => model.scoreRow(r.idx, r.val, batchScores.subarray(i * nItems, (i + 1) * nItems)));
    for (let i = 0; i < batch.length; i++) {
      const q = batch[i];
      const target = split.testItems[q];
      const { idx } = rows[i];
      const scores = batchScores.subarray(i * nItems, (i + 1) * nItems);
      for (let p = 0; p < idx.length; p++) seen[idx[p]] = 1;
      const ts = seen[target] ? -Infinity : scores[target];
      let rank = 0;
      if (ts === -Infinity) {
        rank = Infinity;
      } else if (protocol === 'full') {
        for (let j = 0; j < nItems; j++) if (scores[j] > ts && !seen[j]) rank++;
      } else {
        let drawn = 0;
        let guard = 0;
        while (drawn < negatives && guard++ < negatives * 100) {
          const j = rng.int(nItems);
          if (seen[j] || j === target) continue;
          drawn++;
          if (scores[j] > ts) rank++;
        }
      }
      if (rank < k) { hr++; ndcg += 1 / Math.log2(rank + 2); }
      if (Number.isFinite(rank)) mrr += 1 / (rank + 1);
      ranks[done] = rank;
      pool[done++] = protocol === 'full' ? Math.max(1, nItems - idx.length - 1) : negatives;
      if (protocol === 'full') for (const j of topK(scores, k, seen)) inTop[j] = 1; // unseen top-k pins
      for (let p = 0; p < idx.length; p++) seen[idx[p]] = 0;
    }
    options.onProgress?.({ stage: 'evaluate', done: Math.min(order.length, t0 + BATCH), total: order.length });
  }
  const nUsers = order.length;
  let covered = 0;
  for (let j = 0; j < nItems; j++) covered += inTop[j];
  const per = perUserMetrics(ranks, pool, k);
  const mean = (a: Float64Array) => { let t = 0; for (let i = 0; i < a.length; i++) t += a[i]; return t / a.length; };
  const out: RankingMetrics = {
    users: nUsers, k, protocol,
    hr: hr / nUsers, ndcg: ndcg / nUsers, recall: hr / nUsers, mrr: mrr / nUsers,
    coverage: protocol === 'full' ? covered / nItems : NaN,
    precision: hr / nUsers / k, map: mean(per.map), auc: mean(per.auc),
  };
  if (options.confidence !== undefined) out.intervals = bootstrap(per, k, options.confidence);
  if (options.perUser === true) out.perUser = { test: Int32Array.from(order), rank: ranks };
  return out;
}

interface PerUser { hit: Float64Array; ndcg: Float64Array; rr: Float64Array; map: Float64Array; auc: Float64Array }

function perUserMetrics(ranks: Float64Array, pool: Float64Array, k: number): PerUser {
  const n = ranks.length;
  const m: PerUser = { hit: new Float64Array(n), ndcg: new Float64Array(n), rr: new Float64Array(n), map: new Float64Array(n), auc: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    const r = ranks[i];
    if (!Number.isFinite(r)) continue; // the held-out pin was in training: every metric 0
    m.rr[i] = 1 / (r + 1);
    if (r < k) { m.hit[i] = 1; m.ndcg[i] = 1 / Math.log2(r + 2); m.map[i] = 1 / (r + 1); }
    m.auc[i] = 1 - Math.min(r, pool[i]) / pool[i];
  }
  return m;
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
  const rng = new Rng(o.seed ?? 0);
  const n = per.hit.length;
  const names = ['hit', 'ndcg', 'rr', 'map', 'auc'] as const;
  const draws = names.map(() => new Float64Array(resamples));
  for (let b = 0; b < resamples; b++) {
    const sums = new Float64Array(names.length);
    for (let i = 0; i < n; i++) {
      const u = rng.int(n);
      for (let m = 0; m < names.length; m++) sums[m] += per[names[m]][u];
    }
    for (let m = 0; m < names.length; m++) draws[m][b] = sums[m] / n;
  }
  const interval = (d: Float64Array, scale = 1): Interval => {
    d.sort();
    const lo = Math.floor(((1 - level) / 2) * (resamples - 1));
    const hi = Math.ceil((1 - (1 - level) / 2) * (resamples - 1));
    return { low: d[lo] * scale, high: d[hi] * scale };
  };
  const hitI = interval(draws[0]);
  return {
    hr: hitI, ndcg: interval(draws[1]), mrr: interval(draws[2]), precision: { low: hitI.low / k, high: hitI.high / k },
    map: interval(draws[3]), auc: interval(draws[4]), level, resamples,
  };
}
