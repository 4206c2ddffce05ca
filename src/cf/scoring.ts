/**
 * The two scorings of the SVD recommender as kernels over its fitted state: the scoring matrix built at fit
 * time, the cache-blocked kernel that scores every pin for a block of users, and the candidate-restricted
 * kernel of two-stage ranking, which gives each candidate its full-ranking score bit for bit.
 */
import { InvalidParameterError } from '../core/errors.js';
import { topK } from '../core/topk.js';
import type { FittedState, Row } from './state.js';

/**
 * The scoring item matrix, transposed (k × nItems): V for `'puresvd'`; for `'ease'`, −V·E/dg with
 * E = diag(s⁴/(s²+λ)) and dg the low-rank estimate of EASE's diagonal, plus 1/dg per item (`itemScale`, the
 * scale of the co-occurrence term).
 */
export function scoringMatrix(scoring: 'ease' | 'puresvd', s: Float64Array, vRows: Float64Array | Float32Array, n: number, k: number, lam: number): { wt: Float32Array; itemScale?: Float32Array } {
  const wt = new Float32Array(k * n);
  if (scoring === 'puresvd') {
    for (let j = 0; j < n; j++) for (let f = 0; f < k; f++) wt[f * n + j] = vRows[j * k + f];
    return { wt };
  }
  const d = new Float64Array(k);
  const e = new Float64Array(k);
  for (let f = 0; f < k; f++) {
    const s2 = s[f] * s[f];
    d[f] = s2 / (s2 + lam);
    e[f] = (s2 * s2) / (s2 + lam);
  }
  const itemScale = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let dg = 1;
    for (let f = 0; f < k; f++) dg -= vRows[j * k + f] * vRows[j * k + f] * d[f];
    // dg ∈ (0, 1] in exact arithmetic; guard against rounding for items fully inside the subspace.
    const inv = 1 / Math.max(dg, 1e-6);
    itemScale[j] = inv;
    for (let f = 0; f < k; f++) wt[f * n + j] = -vRows[j * k + f] * e[f] * inv;
  }
  return { wt, itemScale };
}

/**
 * Scores of every pin for several rows of scaled weights at once: `out` is rows × nItems, row-major, from a
 * cache-blocked kernel that streams the item factors once per block of users instead of once per user.
 */
export function scoreBlocked(st: FittedState, rows: readonly Row[], out: Float32Array): void {
  const k = st.k;
  const nItems = st.items.size;
  const b = rows.length;
  if (out.length !== b * nItems) throw new InvalidParameterError('out.length', `rows × pins (${b * nItems})`, out.length);
  const q = new Float64Array(b * k);
  for (let r = 0; r < b; r++) {
    const { idx, val } = rows[r];
    for (let p = 0; p < idx.length; p++) {
      const o = idx[p] * k;
      const w = val[p];
      for (let f = 0; f < k; f++) q[r * k + f] += w * st.v[o + f];
    }
  }
  // The sparse co-occurrence term ('ease') goes first into a float64 buffer, so the blocked kernel adds the
  // low-rank term to it before anything is rounded to float32.
  const base = new Float64Array(st.g ? b * nItems : 0);
  if (st.g && st.itemScale && st.native && (!st.live || st.live.gDelta.size === 0)) {
    // the same scalar sums in the same order, natively (co-occurrence added since the fit keeps the JS path)
    let total = 0;
    for (const r of rows) total += r.idx.length;
    const rptr = new Int32Array(b + 1), ridx = new Int32Array(total), rval = new Float32Array(total);
    for (let r = 0, t = 0; r < b; r++) { ridx.set(rows[r].idx, t); rval.set(rows[r].val, t); t += rows[r].idx.length; rptr[r + 1] = t; }
    const g = st.g;
    st.native.sparseBase(rptr, ridx, rval, b, g.indptr, g.indices, g.data, g.rows, st.itemScale, nItems, base);
  } else if (st.g && st.itemScale) {
    const g = st.g;
    const gRows = g.rows;
    for (let r = 0; r < b; r++) {
      const { idx, val } = rows[r];
      const o = r * nItems;
      for (let p = 0; p < idx.length; p++) {
        const i = idx[p];
        const w = val[p];
        if (i < gRows) {
          for (let e = g.indptr[i]; e < g.indptr[i + 1]; e++) {
            const j = g.indices[e];
            base[o + j] += w * g.data[e] * st.itemScale[j];
          }
        }
        const extra = st.live?.gDelta.get(i);
        if (extra) for (const [j, gv] of extra) base[o + j] += w * gv * st.itemScale[j];
      }
    }
  }
  const wt = st.wt;
  const stride = st.cap;
  if (st.native) { // the same sums in the same order (kernels.c), vectorised across pins
    st.native.score(q, b, k, wt, stride, nItems, base.length > 0 ? base : null, out);
    return;
  }
  if (b === 1) {
    // One row: stream each factor's row of the scoring matrix once over every pin (the per-pin sum is the
    // same float64 sum in the same order as the blocked kernel's, so the results are identical).
    streamRow(q, wt, k, nItems, stride, base.length > 0 ? base : new Float64Array(nItems), out);
    return;
  }
  const BLOCK = 2048;
  const acc = new Float64Array(4 * BLOCK);
  for (let j0 = 0; j0 < nItems; j0 += BLOCK) {
    const len = Math.min(BLOCK, nItems - j0);
    for (let r0 = 0; r0 < b; r0 += 4) {
      const nr = Math.min(4, b - r0);
      acc.fill(0);
      if (base.length > 0) for (let t = 0; t < nr; t++) acc.set(base.subarray((r0 + t) * nItems + j0, (r0 + t) * nItems + j0 + len), t * BLOCK);
      if (nr === 1) { // a last single row: the same arithmetic as the 4-row kernel for row 0, a quarter of the work
        for (let f = 0; f < k; f++) {
          const o = f * stride + j0;
          const q0 = q[r0 * k + f];
          for (let j = 0; j < len; j++) acc[j] += q0 * wt[o + j];
        }
      } else for (let f = 0; f < k; f++) {
        const o = f * stride + j0;
        const q0 = q[r0 * k + f];
        const q1 = nr > 1 ? q[(r0 + 1) * k + f] : 0;
        const q2 = nr > 2 ? q[(r0 + 2) * k + f] : 0;
        const q3 = nr > 3 ? q[(r0 + 3) * k + f] : 0;
        for (let j = 0; j < len; j++) {
          const w = wt[o + j];
          acc[j] += q0 * w;
          acc[BLOCK + j] += q1 * w;
          acc[2 * BLOCK + j] += q2 * w;
          acc[3 * BLOCK + j] += q3 * w;
        }
      }
      for (let t = 0; t < nr; t++) {
        const dst = (r0 + t) * nItems + j0;
        const src = t * BLOCK;
        for (let j = 0; j < len; j++) out[dst + j] = acc[src + j];
      }
    }
  }
}

/** acc += Σ_f q_f · wt[f, ·] (f ascending), then out = acc: a small function V8 optimises on its own. */
function streamRow(q: Float64Array, wt: Float32Array, k: number, nItems: number, stride: number, acc: Float64Array, out: Float32Array): void {
  for (let f = 0; f < k; f++) {
    const qf = q[f];
    const o = f * stride;
    for (let j = 0; j < nItems; j++) acc[j] += qf * wt[o + j];
  }
  for (let j = 0; j < nItems; j++) out[j] = acc[j];
}

/** `extra` plus every pin the user's pins co-occur with (the pins the `'ease'` sparse term reaches). */
export function withCooccurring(st: FittedState, row: Row | undefined, extra: Int32Array, scratch?: Uint8Array): Int32Array {
  if (!row || row.idx.length === 0 || !st.g) return extra;
  const g = st.g;
  // `scratch` (nItems, all zero) is reused across calls and zeroed again before returning
  const mark = scratch && scratch.length === st.items.size ? scratch : new Uint8Array(st.items.size);
  const out: number[] = [];
  for (const j of extra) if (!mark[j]) { mark[j] = 1; out.push(j); }
  for (let p = 0; p < row.idx.length; p++) {
    const i = row.idx[p];
    if (i < g.rows) for (let e = g.indptr[i]; e < g.indptr[i + 1]; e++) { const j = g.indices[e]; if (!mark[j]) { mark[j] = 1; out.push(j); } }
    const extra = st.live?.gDelta.get(i);
    if (extra) for (const j of extra.keys()) if (!mark[j]) { mark[j] = 1; out.push(j); }
  }
  for (const j of out) mark[j] = 0;
  return Int32Array.from(out);
}

/**
 * `extra` plus the `m` pins with the largest co-occurrence term Σᵢ x_ui·G[i, j]·scale_j over the user's pins
 * (the sparse part of the SVD-EASE score): the pins full ranking would most likely lift above the index's
 * candidates, without scoring every co-occurring pin. `mark` (nItems, zero) and `acc` (nItems, zero) are
 * zero again on return. Without a co-occurrence term (PureSVD) it is `extra`.
 */
export function strongestCooccurring(st: FittedState, row: Row | undefined, extra: Int32Array, m: number, mark: Uint8Array, acc: Float64Array): Int32Array {
  if (!row || row.idx.length === 0 || !st.g || !st.itemScale || m <= 0) return extra;
  const g = st.g, scale = st.itemScale, indptr = g.indptr, indices = g.indices, data = g.data;
  let total = 0;
  for (let p = 0; p < row.idx.length; p++) { const i = row.idx[p]; if (i < g.rows) total += indptr[i + 1] - indptr[i]; }
  const touchedBuf = new Int32Array(total + 64);
  let nt = 0;
  for (let p = 0; p < row.idx.length; p++) {
    const i = row.idx[p], w = row.val[p];
    if (i < g.rows) {
      for (let e = indptr[i], end = indptr[i + 1]; e < end; e++) {
        const j = indices[e];
        if (mark[j] === 0) { mark[j] = 1; touchedBuf[nt++] = j; }
        acc[j] += w * data[e];
      }
    }
  }
  let touched: Int32Array = touchedBuf.subarray(0, nt);
  for (let p = 0; p < row.idx.length; p++) { // pins' co-occurrences added since the fit
    const more = st.live?.gDelta.get(row.idx[p]);
    if (!more) continue;
    const w = row.val[p];
    const fresh: number[] = [];
    for (const entry of more) { // [pin index, G delta]; acc is a Float64Array indexed by pin
      const jj = entry[0];
      if (mark[jj] === 0) { mark[jj] = 1; fresh.push(jj); }
      acc[jj] += w * entry[1];
    }
    if (fresh.length > 0) { const t = new Int32Array(touched.length + fresh.length); t.set(touched); t.set(fresh, touched.length); touched = t; }
  }
  const vals = new Float32Array(touched.length);
  for (let t = 0; t < touched.length; t++) vals[t] = acc[touched[t]] * scale[touched[t]];
  const top = topK(vals, Math.min(m, touched.length));
  for (const j of touched) { mark[j] = 0; acc[j] = 0; }
  const out: number[] = [];
  for (const j of extra) if (!mark[j]) { mark[j] = 1; out.push(j); }
  for (const t of top) { const j = touched[t]; if (!mark[j]) { mark[j] = 1; out.push(j); } }
  for (const j of out) mark[j] = 0;
  return Int32Array.from(out);
}

/** `st.wt` row-major (cap × k), made once and kept by the updates (see {@link FittedState.wtRows}). */
export function wtRows(st: FittedState): Float32Array {
  if (st.wtRows && st.wtRows.length === st.cap * st.k) return st.wtRows;
  const k = st.k, cap = st.cap, n = st.items.size, wt = st.wt;
  const out = new Float32Array(cap * k);
  for (let f = 0; f < k; f++) { const o = f * cap; for (let j = 0; j < n; j++) out[j * k + f] = wt[o + j]; }
  st.wtRows = out;
  return out;
}

/**
 * Scores of the pins `cand` only, with the same arithmetic as {@link scoreBlocked} (sparse term first, then
 * the factor term, in float64, rounded once), so a pin's score equals its full-ranking score bit for bit.
 * `scratch` (nItems float64, all zero) holds the sparse term and is zero again on return.
 */
export function scoreCandidates(st: FittedState, row: Row, cand: Int32Array, scratch?: Float64Array): Float32Array {
  const m = cand.length;
  const scores = new Float32Array(m);
  const k = st.k, nItems = st.items.size, wt = st.wt, stride = st.cap;
  const q = new Float64Array(k);
  for (let p = 0; p < row.idx.length; p++) {
    const o = row.idx[p] * k;
    const w = row.val[p];
    for (let f = 0; f < k; f++) q[f] += w * st.v[o + f];
  }
  let base: Float64Array | null = null;
  if (st.g && st.itemScale) {
    base = scratch ?? new Float64Array(nItems);
    const g = st.g;
    for (let p = 0; p < row.idx.length; p++) {
      const i = row.idx[p];
      const w = row.val[p];
      if (i < g.rows) for (let e = g.indptr[i]; e < g.indptr[i + 1]; e++) { const j = g.indices[e]; base[j] += w * g.data[e] * st.itemScale[j]; }
      const extra = st.live?.gDelta.get(i);
      if (extra) for (const [j, gv] of extra) base[j] += w * gv * st.itemScale[j];
    }
  }
  const rows = m * 2 >= nItems ? null : wtRows(st); // a large share of the catalogue: the strided reads stream well enough
  for (let c = 0; c < m; c++) {
    const j = cand[c];
    let acc = base ? base[j] : 0;
    if (rows) { const o = j * k; for (let f = 0; f < k; f++) acc += q[f] * rows[o + f]; }
    else for (let f = 0; f < k; f++) acc += q[f] * wt[f * stride + j];
    scores[c] = acc;
  }
  if (base) { // reset only what the sparse pass touched
    const g = st.g!;
    for (let p = 0; p < row.idx.length; p++) {
      const i = row.idx[p];
      if (i < g.rows) for (let e = g.indptr[i]; e < g.indptr[i + 1]; e++) base[g.indices[e]] = 0;
      const extra = st.live?.gDelta.get(i);
      if (extra) for (const j of extra.keys()) base[j] = 0;
    }
  }
  return scores;
}
