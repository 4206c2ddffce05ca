/**
 * Order-aware scoring: a user's recent pins weigh more than their first ones, and the pins that tend to come
 * *next* after the user's latest pin get a boost.
 *
 * - **Recency.** Before scoring, the weight of the user's r-th most recent pin (r = 0 for the latest) is
 *   multiplied by `decay^r` (by position), or by 0.5^(age / halfLife) with age measured from the user's latest
 *   interaction (by timestamp). `decay = 1` (and no half-life) is plain, order-free scoring.
 * - **Transitions.** The next-pin counts C[i, j] (how often pin j directly follows pin i in a user's sequence)
 *   are counted once from the log at fit time, in closed form. Pin j gains `β · m · C[last, j] / Σ_j C[last, j]`,
 *   where `last` is the user's latest pin and m the user's best score among unseen pins (so β is relative to
 *   the user's own score range: β = 1 lets a sure transition match the user's top collaborative pin).
 *
 * Both strengths are chosen from the data by default (see {@link chooseOrder}): on a log whose order carries
 * nothing they come out as plain SVD-EASE.
 */
import { InvalidParameterError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { topK as topKIndices } from '../core/topk.js';
import { CsrMatrix } from './csr.js';
import type { InteractionMatrix } from './interactions.js';
import type { FittedState, Row } from './state.js';

/** The order-aware part of the scoring, as resolved at fit time. */
export interface OrderSettings {
  /** Weight factor per position of recency (1 = no recency weighting). */
  decay: number;
  /** Half-life of recency by timestamp (timestamp units), instead of `decay`; `null` when unused. */
  halfLife: number | null;
  /** Weight β of the next-pin transition term (0 = none). */
  transitions: number;
}

/** Order-aware scoring turned off: plain SVD-EASE / PureSVD. */
export const ORDER_OFF: Readonly<OrderSettings> = Object.freeze({ decay: 1, halfLife: null, transitions: 0 });

/** Next-pin counts: `counts` (pins × pins, CSR, float32) and each row's total. */
export interface Transitions {
  counts: CsrMatrix;
  rowSum: Float64Array;
}

/**
 * Count next-pin transitions from the log a matrix was built from: each user's kept events in time order
 * (timestamps when the log has them, ties by input order; else input order), each consecutive pair of
 * different pins (a, b) adds 1 to C[a, b].
 */
export function countTransitions(matrix: InteractionMatrix): Transitions | undefined {
  const src = matrix.source;
  if (!src) return undefined;
  if ('transitions' in src) return { counts: src.transitions.counts, rowSum: Float64Array.from(src.transitions.rowSum) };
  const { log, keep } = src;
  const n = log.length;
  const nU = log.users.size, nI = log.items.size;
  // events grouped by user (stable: input order within a user), then sorted by time within the user
  const start = new Int32Array(nU + 1);
  for (let e = 0; e < n; e++) if (!keep || keep[e]) start[log.user[e] + 1]++;
  for (let u = 0; u < nU; u++) start[u + 1] += start[u];
  const fill = start.slice(0, nU);
  const ev = new Int32Array(start[nU]);
  for (let e = 0; e < n; e++) if (!keep || keep[e]) ev[fill[log.user[e]]++] = e;
  const t = log.time;
  const pairsA = new Int32Array(ev.length), pairsB = new Int32Array(ev.length);
  let np = 0;
  for (let u = 0; u < nU; u++) {
    const seq = ev.subarray(start[u], start[u + 1]);
    if (seq.length < 2) continue;
    if (t) {
      // logs usually arrive in time order: sort only a user whose events do not
      let sorted = true;
      for (let p = 1; p < seq.length; p++) if (t[seq[p]] < t[seq[p - 1]]) { sorted = false; break; }
      if (!sorted) seq.sort((a, b) => t[a] - t[b] || a - b);
    }
    for (let p = 1; p < seq.length; p++) {
      const a = log.item[seq[p - 1]], b = log.item[seq[p]];
      if (a !== b) { pairsA[np] = a; pairsB[np] = b; np++; }
    }
  }
  return transitionsFromPairs(nI, pairsA.subarray(0, np), pairsB.subarray(0, np));
}

/** CSR of pair counts (rows sorted by column) and row totals. */
export function transitionsFromPairs(nI: number, a: Int32Array, b: Int32Array): Transitions {
  const m = a.length;
  const count = new Int32Array(nI + 1);
  for (let p = 0; p < m; p++) count[a[p] + 1]++;
  for (let i = 0; i < nI; i++) count[i + 1] += count[i];
  const pos = count.slice(0, nI);
  const cols = new Int32Array(m);
  for (let p = 0; p < m; p++) cols[pos[a[p]]++] = b[p];
  const indptr = new Int32Array(nI + 1);
  const indices = new Int32Array(m);
  const data = new Float32Array(m);
  let nz = 0;
  const rowSum = new Float64Array(nI);
  for (let i = 0; i < nI; i++) {
    const row = cols.subarray(count[i], count[i + 1]).sort();
    for (let p = 0; p < row.length;) {
      let q = p;
      while (q < row.length && row[q] === row[p]) q++;
      indices[nz] = row[p];
      data[nz++] = q - p;
      rowSum[i] += q - p;
      p = q;
    }
    indptr[i + 1] = nz;
  }
  return { counts: new CsrMatrix(nI, nI, indptr, indices.slice(0, nz), data.slice(0, nz)), rowSum };
}

/** A row ready for scoring: recency-weighted values and the user's latest pin (−1 when unknown). */
export interface PreparedRow extends Row {
  last: number;
}

/**
 * Apply the recency weights to a row (a new row; the input is not changed) and find its latest pin. A row
 * without `key` has no order: it is returned as is, with no latest pin.
 */
export function prepareRow(order: OrderSettings, row: Row): PreparedRow {
  const key = row.key;
  const len = row.idx.length;
  if (!key || len === 0) return { idx: row.idx, val: row.val, key: row.key, last: -1 };
  let lastP = 0;
  for (let p = 1; p < len; p++) if (key[p] > key[lastP] || (key[p] === key[lastP] && row.idx[p] > row.idx[lastP])) lastP = p;
  const last = row.idx[lastP];
  if (order.halfLife !== null) {
    const val = new Float32Array(len);
    const t0 = key[lastP];
    for (let p = 0; p < len; p++) val[p] = row.val[p] * Math.pow(0.5, (t0 - key[p]) / order.halfLife);
    return { idx: row.idx, val, key, last };
  }
  if (order.decay === 1) return { idx: row.idx, val: row.val, key, last };
  // rank by recency: latest first (ties: higher pin index first, as for `last`)
  const byAge = Int32Array.from({ length: len }, (_, p) => p).sort((a, b) => key[b] - key[a] || row.idx[b] - row.idx[a]);
  const val = new Float32Array(len);
  let f = 1;
  for (let r = 0; r < len; r++) { val[byAge[r]] = row.val[byAge[r]] * f; f *= order.decay; }
  return { idx: row.idx, val, key, last };
}

/** The next-pin counts out of pin `last`: the fitted counts plus those added by updates (columns ascending). */
export function transitionRow(tr: Transitions, last: number, delta?: Map<number, Map<number, number>>): { cols: Int32Array; vals: Float32Array } {
  const c = tr.counts;
  const inBase = last < c.rows;
  const lo = inBase ? c.indptr[last] : 0, hi = inBase ? c.indptr[last + 1] : 0;
  const extra = delta?.get(last);
  if (!extra) return { cols: c.indices.subarray(lo, hi), vals: c.data.subarray(lo, hi) };
  const m = new Map<number, number>();
  for (let e = lo; e < hi; e++) m.set(c.indices[e], c.data[e]);
  for (const [j, v] of extra) m.set(j, (m.get(j) ?? 0) + v);
  const cols = Int32Array.from(m.keys()).sort();
  return { cols, vals: Float32Array.from(cols, (j) => m.get(j)!) };
}

/**
 * Add the transition term to full scores of one user: `scores` has one slot per pin, `isSeen` marks the
 * user's pins (excluded from the score range m). Returns m.
 */
export function addTransitions(tr: Transitions, beta: number, last: number, scores: Float32Array, isSeen: (j: number) => boolean, delta?: Map<number, Map<number, number>>): number {
  if (beta === 0 || last < 0 || !(tr.rowSum[last] > 0)) return 0;
  let m = -Infinity;
  for (let j = 0; j < scores.length; j++) if (scores[j] > m && !isSeen(j)) m = scores[j];
  if (!(m > 0)) return 0;
  const { cols, vals } = transitionRow(tr, last, delta);
  const w = (beta * m) / tr.rowSum[last];
  for (let e = 0; e < cols.length; e++) { const j = cols[e]; scores[j] = scores[j] + w * vals[e]; }
  return m;
}

/**
 * {@link addTransitions} over candidate pins only: `scores[c]` is the score of pin `cand[c]`. The score range
 * m is taken over the unseen candidates, so it equals full ranking's whenever the candidates hold the user's
 * best unseen pin (two-stage ranking adds the co-occurring pins, which hold it for SVD-EASE).
 */
export function addTransitionsTo(tr: Transitions, beta: number, last: number, cand: Int32Array, scores: Float32Array, isSeen: (j: number) => boolean, delta?: Map<number, Map<number, number>>): void {
  if (beta === 0 || last < 0 || !(tr.rowSum[last] > 0)) return;
  let m = -Infinity;
  for (let c = 0; c < cand.length; c++) if (scores[c] > m && !isSeen(cand[c])) m = scores[c];
  if (!(m > 0)) return;
  const { cols, vals } = transitionRow(tr, last, delta);
  const w = (beta * m) / tr.rowSum[last];
  for (let c = 0; c < cand.length; c++) {
    const e = search(cols, 0, cols.length, cand[c]);
    if (e >= 0) scores[c] = scores[c] + w * vals[e];
  }
}

function search(a: Int32Array, lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else if (a[mid] > x) hi = mid;
    else return mid;
  }
  return -1;
}

/** Options of the automatic choice of the order-aware strengths. */
export interface ChooseOrderOptions {
  /** Validation users sampled (seeded). @default 1000 */
  users?: number;
  /**
   * Recency factors tried. @default a walk: 1 and 0.8, then down in steps of 0.2 while it helps (or 0.9 when
   * 0.8 does not beat 1)
   */
  decays?: readonly number[];
  /** Transition weights tried (0 is always tried). @default [0, 0.5, 1, 2, 4, 8, 16, 32] */
  transitions?: readonly number[];
  /** Seed of the user sample. @default 0 */
  seed?: number;
}

/** What {@link chooseOrder} saw: NDCG@10 of each setting on the validation users, and the choice. */
export interface OrderChoice {
  settings: OrderSettings;
  users: number;
  /** NDCG@10 per (decay, transitions) tried, plain scoring first. */
  grid: { decay: number; transitions: number; ndcg: number; hr: number }[];
  /** The chosen setting's NDCG@10 gain over plain scoring, and the standard error of that paired difference. */
  gain: number;
  stderr: number;
}

/**
 * Choose the recency factor and the transition weight from the fitted model itself. Each sampled user
 * (with ≥ 3 pins) has their latest pin held out of their row; their own contribution is taken out of the
 * co-occurrence counts (and, to first order, out of the fitted spectrum) and out of the transition counts the
 * held-out pin is scored with, and every setting ranks the held-out pin.
 *
 * Plain scoring ranks the held-out pin against every unseen pin. The other settings rank it against a
 * candidate set found once per user: the 300 best pins under plain scoring, the pins that follow the latest
 * pin, and the 300 pins that co-occur most with it (what recency and transitions can lift); a held-out pin
 * in plain scoring's top 10 is in the top 10 of that set too, so the comparison is like for like. This keeps
 * the search to one full scoring per user.
 *
 * The best setting by NDCG@10 is found (recency factors by a coarse-to-fine walk, every transition weight
 * of the grid at each), then the one-standard-error rule picks the mildest setting within one standard error
 * of it, and it is kept only when its gain over plain scoring is more than two standard errors of the paired
 * per-user difference: a log whose order carries no signal gets plain scoring.
 */
export function chooseOrder(
  st: FittedState,
  tr: Transitions | undefined,
  score: (rows: readonly Row[], out: Float32Array) => void,
  scoreCand: (row: Row, cand: Int32Array) => Float32Array,
  options: ChooseOrderOptions = {},
): OrderChoice {
  const decays = options.decays ?? [];
  const betas = [...new Set([0, ...(tr ? options.transitions ?? [0, 0.5, 1, 2, 4, 8, 16, 32] : [])])];
  for (const d of decays) if (!(d > 0 && d <= 1)) throw new InvalidParameterError('orderSearch.decays', 'factors in (0, 1]', d);
  for (const b of betas) if (!(b >= 0 && Number.isFinite(b))) throw new InvalidParameterError('orderSearch.transitions', 'weights >= 0', b);
  const x = st.x;
  const key = st.xKey;
  const nI = st.items.size;
  const k = st.k;
  const none: OrderChoice = { settings: { ...ORDER_OFF }, users: 0, grid: [], gain: 0, stderr: 0 };
  if (!key) return none;
  const eligible: number[] = [];
  for (let u = 0; u < x.rows; u++) if (x.indptr[u + 1] - x.indptr[u] >= 3) eligible.push(u);
  const want = options.users ?? 1000;
  const sample = eligible.length > want ? new Rng(options.seed ?? 0).shuffle(eligible).slice(0, want).sort((a, b) => a - b) : eligible;
  const n = sample.length;
  // too few users to tell settings apart: keep plain scoring
  if (n < 200) return { ...none, users: n };

  // per user, once: the held-out row, plain full scores → the candidate set and plain's rank
  interface Held { row: Row; full: Row; target: number; w: number; cand: Int32Array; tPos: number; uV: Float64Array }
  const held: Held[] = new Array(n);
  const plainRank = new Float64Array(n);
  const BATCH = 32;
  const out = new Float32Array(BATCH * nI);
  const seen = new Uint8Array(nI);
  const mark = new Uint8Array(nI);
  for (let b0 = 0; b0 < n; b0 += BATCH) {
    const users = sample.slice(b0, b0 + BATCH);
    const hs = users.map((u): Held => {
      const a = x.indptr[u], e = x.indptr[u + 1];
      let h = a;
      for (let p = a + 1; p < e; p++) if (key[p] > key[h] || (key[p] === key[h] && x.indices[p] > x.indices[h])) h = p;
      const idx = new Int32Array(e - a - 1), val = new Float32Array(e - a - 1), k2 = new Float64Array(e - a - 1);
      for (let p = a, q = 0; p < e; p++) if (p !== h) { idx[q] = x.indices[p]; val[q] = x.data[p]; k2[q++] = key[p]; }
      const full = { idx: x.indices.subarray(a, e), val: x.data.subarray(a, e) };
      const uV = new Float64Array(k);
      for (let p = 0; p < full.idx.length; p++) for (let f = 0; f < k; f++) uV[f] += full.val[p] * st.v[full.idx[p] * k + f];
      return { row: { idx, val, key: k2 }, full, target: x.indices[h], w: x.data[h], cand: new Int32Array(0), tPos: -1, uV };
    });
    const view = out.subarray(0, users.length * nI);
    score(hs.map((h) => h.row), view);
    for (let i = 0; i < users.length; i++) {
      const h = hs[i];
      const sc = view.subarray(i * nI, (i + 1) * nI);
      if (st.g && st.itemScale) sc[h.target] = sc[h.target] - ownShare(st, h, h.row) * st.itemScale[h.target];
      for (let p = 0; p < h.row.idx.length; p++) seen[h.row.idx[p]] = 1;
      const ts = sc[h.target];
      let rank = 0;
      for (let j = 0; j < nI; j++) if (sc[j] > ts && !seen[j] && j !== h.target) rank++;
      plainRank[b0 + i] = rank;
      // candidates: plain's best 300, the latest pin's followers and its 300 strongest co-occurrences, the target
      const list: number[] = [h.target];
      mark[h.target] = 1;
      const add = (j: number) => { if (!mark[j] && !seen[j]) { mark[j] = 1; list.push(j); } };
      for (const j of topUnseen(sc, 300, seen)) add(j);
      const last = prepareRow(ORDER_OFF, h.row).last;
      if (tr && last >= 0) for (let e = tr.counts.indptr[last]; e < tr.counts.indptr[last + 1]; e++) add(tr.counts.indices[e]);
      if (st.g && last >= 0) {
        const g = st.g;
        const lo = g.indptr[last], hi = g.indptr[last + 1];
        for (const q of topKIndices(g.data.subarray(lo, hi), 300)) add(g.indices[lo + q]);
      }
      for (const j of list) mark[j] = 0;
      for (let p = 0; p < h.row.idx.length; p++) seen[h.row.idx[p]] = 0;
      h.cand = Int32Array.from(list);
      h.tPos = 0; // the target is candidate 0
      held[b0 + i] = h;
    }
  }

  const settings: { decay: number; transitions: number }[] = [];
  const gains: Float64Array[] = [];
  const hits: number[] = [];
  const runDecay = (d: number): void => {
    const base = settings.length;
    for (const b of betas) { settings.push({ decay: d, transitions: b }); gains.push(new Float64Array(n)); hits.push(0); }
    const order: OrderSettings = { decay: d, halfLife: null, transitions: 0 };
    for (let q = 0; q < n; q++) {
      const h = held[q];
      const prepared = prepareRow(order, h.row);
      let ranks: Float64Array;
      const sc = d === 1 && betas.length === 1 ? null : scoreCand(prepared, h.cand);
      if (sc) {
        if (st.g && st.itemScale) sc[0] = sc[0] - ownShare(st, h, prepared) * st.itemScale[h.target];
        // the transition row of the latest pin, without the user's own last step
        let m = -Infinity;
        for (let c = 0; c < sc.length; c++) if (sc[c] > m) m = sc[c];
        const last = prepared.last;
        const bonus = new Float64Array(sc.length);
        let total = 0;
        if (tr && last >= 0) {
          total = tr.rowSum[last];
          const lo = tr.counts.indptr[last], hi = tr.counts.indptr[last + 1];
          for (let c = 0; c < sc.length; c++) {
            const e = search(tr.counts.indices, lo, hi, h.cand[c]);
            if (e >= 0) bonus[c] = tr.counts.data[e];
          }
          if (bonus[0] >= 1) { bonus[0] -= 1; total -= 1; }
        }
        ranks = Float64Array.from(betas, (beta) => {
          const w = beta > 0 && total > 0 && m > 0 ? (beta * m) / total : 0;
          const ts = sc[0] + w * bonus[0];
          let r = 0;
          for (let c = 1; c < sc.length; c++) if (sc[c] + w * bonus[c] > ts) r++;
          return r;
        });
        if (d === 1) ranks[0] = plainRank[q]; // plain scoring: the exact full rank
      } else ranks = Float64Array.of(plainRank[q]);
      for (let b = 0; b < betas.length; b++) if (ranks[b] < 10) { gains[base + b][q] = 1 / Math.log2(ranks[b] + 2); hits[base + b]++; }
    }
  };
  const mean = (a: Float64Array) => a.reduce((t, v) => t + v, 0) / n;
  const tried = new Map<number, number>();
  const f = (d: number): number => {
    let v = tried.get(d);
    if (v === undefined) {
      const from = settings.length;
      runDecay(d);
      v = -Infinity;
      for (let si = from; si < settings.length; si++) v = Math.max(v, mean(gains[si]));
      tried.set(d, v);
    }
    return v;
  };
  f(1);
  if (options.decays) for (const d of decays) f(d);
  else {
    // coarse to fine, down from 1
    const r = (d: number) => Math.round(d * 10) / 10;
    if (f(0.8) > f(1)) {
      let d = 0.8;
      while (d > 0.3 && f(r(d - 0.2)) > f(d)) d = r(d - 0.2);
      if (d < 0.8 || f(0.6) <= f(0.8)) { f(r(d + 0.1)); if (d > 0.2) f(r(d - 0.1)); }
    } else f(0.9);
  }
  const grid = settings.map((s2, si) => ({ ...s2, ndcg: mean(gains[si]), hr: hits[si] / n }));
  const p0 = settings.findIndex((s2) => s2.decay === 1 && s2.transitions === 0);
  let top = p0;
  for (let si = 0; si < settings.length; si++) if (grid[si].ndcg > grid[top].ndcg) top = si;
  const paired = (a: number, b: number) => {
    const diff = Float64Array.from(gains[a], (v, i) => v - gains[b][i]);
    const g = mean(diff);
    return { g, se: Math.sqrt(diff.reduce((t, v) => t + (v - g) * (v - g), 0) / (n - 1) / n) };
  };
  // the one-standard-error rule: the mildest setting (smallest transition weight, then weakest decay)
  // within one standard error of the best
  let best = top;
  for (let si = 0; si < settings.length; si++) {
    const a = settings[si], b = settings[best];
    const milder = a.transitions < b.transitions || (a.transitions === b.transitions && a.decay > b.decay);
    if (milder && paired(top, si).g <= paired(top, si).se) best = si;
  }
  let gain = 0, stderr = 0;
  if (best !== p0) {
    ({ g: gain, se: stderr } = paired(best, p0));
    if (!(gain > 2 * stderr)) best = p0;
  }
  const chosen = settings[best];
  return { settings: { decay: chosen.decay, halfLife: null, transitions: chosen.transitions }, users: n, grid, gain, stderr };
}

/**
 * The part of the held-out pin's co-occurrence term that comes from the user's own row, in the units of the
 * scores before the per-pin scale: Σ_i w'_i x_ui x_uj (minus its first-order share of the fitted spectrum).
 */
function ownShare(st: FittedState, h: { full: Row; target: number; w: number; uV: Float64Array }, row: Row): number {
  if (!st.g) return 0;
  const k = st.k;
  let own = 0;
  for (let p = 0; p < row.idx.length; p++) own += row.val[p] * h.full.val[findIn(h.full.idx, row.idx[p])];
  own *= h.w;
  // with V fixed, removing the user's row lowers s_f² by δ_f = (x_u·V_f)², which shrinks the rank-k
  // correction by Σ_f (x'·V_f) δ_f c_f V_jf, c_f = d/ds² of s⁴/(s² + λ)
  let back = 0;
  const lam = st.lambdaUsed;
  for (let f = 0; f < k; f++) {
    let qf = 0;
    for (let p = 0; p < row.idx.length; p++) qf += row.val[p] * st.v[row.idx[p] * k + f];
    const s2 = st.s[f] * st.s[f];
    const c = (s2 * s2 + 2 * s2 * lam) / ((s2 + lam) * (s2 + lam));
    back += qf * h.uV[f] * h.uV[f] * c * st.v[h.target * k + f];
  }
  return own - back;
}

/** Indices of the `m` largest scores among pins not marked seen. */
function topUnseen(sc: Float32Array, m: number, seen: Uint8Array): Int32Array {
  const copy = Float32Array.from(sc);
  for (let j = 0; j < copy.length; j++) if (seen[j]) copy[j] = -Infinity;
  return topKIndices(copy, m);
}

function findIn(a: Int32Array, x: number): number {
  return search(a, 0, a.length, x);
}
