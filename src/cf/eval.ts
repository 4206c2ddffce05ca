/**
 * Offline evaluation: ranking metrics over the full catalogue (HR@K, NDCG@K, Recall@K, Precision@K, MAP@K, MRR,
 * AUC, catalogue coverage), plus the sampled protocol (the held-out pins + 99 seeded negatives) for comparison
 * with papers, per-user results and seeded bootstrap intervals. The splits are in `splits.ts`.
 */
import { InvalidParameterError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { topK } from '../core/topk.js';
import type { ProgressCallback } from '../core/types.js';
import { checkInt, checkNumber, checkOneOf } from '../core/validate.js';
import type { HoldoutSplit } from './splits.js';

export { leaveLastOut, leaveKOut, randomHoldout } from './splits.js';
export type { HoldoutSplit, LeaveLastOutSplit, SplitOptions, LeaveKOutOptions, RandomHoldoutOptions } from './splits.js';

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
        if (protocol === 'full' && m === 1) { // one held-out pin (leave-last-out): hist[1] counts the scores above it
          const s0 = sorted[0];
          let above = 0, rest = 0;
          for (let j = 0; j < nItems; j++) if (!seen[j]) { if (s0 < scores[j]) above++; else rest++; }
          hist[0] += rest; hist[1] += above;
        } else if (protocol === 'full') {
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
