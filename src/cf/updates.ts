/**
 * Updates without refitting: new interactions change the user's row at once, new pins are folded in from
 * their first interactions, and the sparse statistics (co-occurrence XᵀX, next-pin counts) stay exact.
 *
 * - **A user's row** is replaced by the updated row (sum of weights per pin, latest key per pin).
 * - **Co-occurrence.** An event (u, j, w) changes XᵀX by w·x_u (row and column j) and by (x_uj + w)² − x_uj²
 *   on the diagonal; the changes go to a sparse delta the kernels add to the fitted XᵀX.
 * - **Next-pin counts.** When the event comes after the user's latest pin p ≠ j, C[p, j] gains 1.
 * - **New pins** (the mirror of user fold-in): a pin's factor row is v_j = S⁻² Vᵀ (XᵀX)_{·j} over the
 *   fitted pins, i.e. Σ_u x_uj (x_u V) S⁻². It is kept up to date event by event in O(|x_u|·k), and the
 *   pin's column of the scoring matrix and its EASE diagonal follow from it. The fitted pins' factors do not
 *   move (that is what a refit is for).
 *
 * Each event costs O(|x_u| · k) for new pins and O(|x_u|) otherwise, independent of the catalogue size
 * (a pin beyond the arrays' capacity grows them, an O(pins · k) copy: `fit` leaves room for pins/16 new pins,
 * and later growth is by 25%, so it is amortised — and a refit resets it).
 */
import { IdMap } from '../core/ids.js';
import { CsrMatrix } from './csr.js';
import type { FittedState, LiveState } from './state.js';
import { userRow } from './state.js';

/** Start tracking updates. */
export function liveOf(st: FittedState): LiveState {
  if (st.live) return st.live;
  let clock = -Infinity;
  if (st.xKey) for (let p = 0; p < st.xKey.length; p++) if (st.xKey[p] > clock) clock = st.xKey[p];
  if (!st.ownsIds) { // (fit and load give the model id tables of its own; this is for states made by hand)
    st.users = IdMap.from(st.users.ids());
    st.items = IdMap.from(st.items.ids());
    st.ownsIds = true;
  }
  st.live = { rows: new Map(), gDelta: new Map(), tDelta: new Map(), basePins: st.items.size, baseUsers: st.users.size, clock: Number.isFinite(clock) ? clock : 0, events: 0 };
  return st.live;
}

/** Make room for pin index `j` in every per-pin array (capacity grows by 25%, at least 64). */
export function ensurePinCapacity(st: FittedState, j: number): void {
  if (j < st.cap) return;
  reservePins(st, Math.max(j + 1, Math.ceil(st.cap * 1.25), st.cap + 64));
}

/**
 * Room for `cap` pins in every per-pin array (an O(pins · k) copy). `fit` and `load` reserve 1/16 more pins
 * than they have, so the first new pins never pay for it.
 */
export function reservePins(st: FittedState, cap: number): void {
  if (cap <= st.cap) return;
  const k = st.k;
  const grow32 = (a: Float32Array, per: number) => { const b = new Float32Array(cap * per); b.set(a.subarray(0, st.cap * per)); return b; };
  st.v = grow32(st.v, k);
  const wt = new Float32Array(k * cap);
  for (let f = 0; f < k; f++) wt.set(st.wt.subarray(f * st.cap, f * st.cap + st.cap), f * cap);
  st.wt = wt;
  st.wtRows = undefined;
  if (st.itemScale) st.itemScale = grow32(st.itemScale, 1);
  st.itemNorm = grow32(st.itemNorm, 1);
  const pop = new Float64Array(cap); pop.set(st.popularity.subarray(0, st.cap)); st.popularity = pop;
  if (st.trans) { const rs = new Float64Array(cap); rs.set(st.trans.rowSum.subarray(0, st.cap)); st.trans.rowSum = rs; }
  st.cap = cap;
}

/** Recompute pin j's scoring column, EASE diagonal and norm from its factor row (new pins only). */
function refreshPin(st: FittedState, j: number, scoring: 'ease' | 'puresvd'): void {
  const k = st.k;
  const o = j * k;
  let norm = 0;
  for (let f = 0; f < k; f++) { const t = st.v[o + f] * st.s[f]; norm += t * t; }
  st.itemNorm[j] = Math.sqrt(norm);
  if (scoring === 'puresvd') {
    for (let f = 0; f < k; f++) st.wt[f * st.cap + j] = st.v[o + f];
    if (st.wtRows) for (let f = 0; f < k; f++) st.wtRows[o + f] = st.wt[f * st.cap + j];
    return;
  }
  const lam = st.lambdaUsed;
  let dg = 1;
  for (let f = 0; f < k; f++) { const s2 = st.s[f] * st.s[f]; dg -= st.v[o + f] * st.v[o + f] * (s2 / (s2 + lam)); }
  const inv = 1 / Math.max(dg, 1e-6);
  st.itemScale![j] = inv;
  for (let f = 0; f < k; f++) { const s2 = st.s[f] * st.s[f]; st.wt[f * st.cap + j] = -st.v[o + f] * ((s2 * s2) / (s2 + lam)) * inv; }
  if (st.wtRows) for (let f = 0; f < k; f++) st.wtRows[o + f] = st.wt[f * st.cap + j];
}

function addTo(m: Map<number, Map<number, number>>, i: number, j: number, v: number): void {
  let row = m.get(i);
  if (!row) m.set(i, (row = new Map()));
  row.set(j, (row.get(j) ?? 0) + v);
}

/**
 * Apply one event: user index u (may be new: ≥ the fitted users), pin index j (may be new), weight w on the
 * model's scale (≥ 0), key t (when it happened).
 */
export function applyEvent(st: FittedState, scoring: 'ease' | 'puresvd', u: number, j: number, w: number, t: number): void {
  const live = liveOf(st);
  ensurePinCapacity(st, j);
  const row = userRow(st, u);
  const key = row.key ?? new Float64Array(row.idx.length);
  const len = row.idx.length;
  // the user's latest pin before this event
  let prev = -1;
  for (let p = 0; p < len; p++) if (prev < 0 || key[p] > key[prev] || (key[p] === key[prev] && row.idx[p] > row.idx[prev])) prev = p;
  let pos = -1;
  { let lo = 0, hi = len; while (lo < hi) { const mid = (lo + hi) >>> 1; if (row.idx[mid] < j) lo = mid + 1; else hi = mid; } if (lo < len && row.idx[lo] === j) pos = lo; }
  const old = pos >= 0 ? row.val[pos] : 0;
  const k = st.k;
  const base = live.basePins;
  if (st.g) {
    for (let p = 0; p < len; p++) {
      const i = row.idx[p];
      if (i === j) continue;
      const c = w * row.val[p];
      addTo(live.gDelta, j, i, c);
      addTo(live.gDelta, i, j, c);
    }
    addTo(live.gDelta, j, j, (old + w) * (old + w) - old * old);
  }
  // factor rows of new pins: v_n = Σ_u x_un (x_u V) S⁻² over the fitted pins
  if (w !== 0) {
    if (j >= base) {
      const o = j * k;
      for (let p = 0; p < len; p++) {
        const i = row.idx[p];
        if (i >= base) continue;
        const c = w * row.val[p];
        for (let f = 0; f < k; f++) st.v[o + f] += (c * st.v[i * k + f]) / (st.s[f] * st.s[f]);
      }
      refreshPin(st, j, scoring);
    } else {
      for (let p = 0; p < len; p++) {
        const nn = row.idx[p];
        if (nn < base) continue;
        const c = w * row.val[p];
        for (let f = 0; f < k; f++) st.v[nn * k + f] += (c * st.v[j * k + f]) / (st.s[f] * st.s[f]);
        refreshPin(st, nn, scoring);
      }
    }
  }
  if (st.trans && prev >= 0 && row.idx[prev] !== j && t >= key[prev]) {
    addTo(live.tDelta, row.idx[prev], j, 1);
    st.trans.rowSum[row.idx[prev]] += 1;
  }
  // the user's new row
  let idx: Int32Array, val: Float32Array, nk: Float64Array;
  if (pos >= 0) {
    idx = row.idx.slice(); val = row.val.slice(); nk = key.slice();
    val[pos] = old + w;
    if (t > nk[pos]) nk[pos] = t;
  } else {
    let at = 0;
    while (at < len && row.idx[at] < j) at++;
    idx = new Int32Array(len + 1); val = new Float32Array(len + 1); nk = new Float64Array(len + 1);
    idx.set(row.idx.subarray(0, at)); idx[at] = j; idx.set(row.idx.subarray(at), at + 1);
    val.set(row.val.subarray(0, at)); val[at] = w; val.set(row.val.subarray(at), at + 1);
    nk.set(key.subarray(0, at)); nk[at] = t; nk.set(key.subarray(at), at + 1);
  }
  live.rows.set(u, { idx, val, key: nk });
  st.popularity[j] += w;
  if (t > live.clock) live.clock = t;
  live.events++;
}

/**
 * The state with every update merged in: user rows, XᵀX and the next-pin counts as plain CSR again, every
 * per-pin array cut to the number of pins (`cap` = pins). The input is not changed.
 */
export function compactState(st: FittedState): FittedState {
  const live = st.live;
  const nI = st.items.size, nU = st.users.size, k = st.k;
  const cut32 = (a: Float32Array, per: number) => a.slice(0, nI * per);
  const wt = new Float32Array(k * nI);
  for (let f = 0; f < k; f++) wt.set(st.wt.subarray(f * st.cap, f * st.cap + nI), f * nI);
  const out: FittedState = {
    ...st, v: cut32(st.v, k), wt, wtRows: undefined, itemNorm: cut32(st.itemNorm, 1), popularity: st.popularity.slice(0, nI),
    itemScale: st.itemScale ? cut32(st.itemScale, 1) : undefined, cap: nI, live: undefined,
    users: IdMap.from(st.users.ids()), items: IdMap.from(st.items.ids()), ownsIds: true,
    trans: st.trans ? { counts: st.trans.counts, rowSum: st.trans.rowSum.slice(0, nI) } : undefined,
  };
  if (!live) return out;
  // interactions
  const indptr = new Int32Array(nU + 1);
  for (let u = 0; u < nU; u++) indptr[u + 1] = indptr[u] + userRow(st, u).idx.length;
  const indices = new Int32Array(indptr[nU]), data = new Float32Array(indptr[nU]), key = new Float64Array(indptr[nU]);
  for (let u = 0; u < nU; u++) {
    const r = userRow(st, u);
    indices.set(r.idx, indptr[u]); data.set(r.val, indptr[u]);
    if (r.key) key.set(r.key, indptr[u]);
  }
  out.x = new CsrMatrix(nU, nI, indptr, indices, data);
  out.xKey = st.xKey || live.rows.size > 0 ? key : undefined;
  if (st.g) out.g = mergeCsr(st.g, live.gDelta, nI);
  if (st.trans) out.trans = { counts: mergeCsr(st.trans.counts, live.tDelta, nI), rowSum: st.trans.rowSum.slice(0, nI) };
  return out;
}

/** base (rows × cols ≤ n) plus a sparse delta, as an n × n CSR with sorted columns. */
function mergeCsr(base: CsrMatrix, delta: Map<number, Map<number, number>>, n: number): CsrMatrix {
  const indptr = new Int32Array(n + 1);
  const idx: number[] = [], val: number[] = [];
  for (let i = 0; i < n; i++) {
    const extra = delta.get(i);
    const lo = i < base.rows ? base.indptr[i] : 0, hi = i < base.rows ? base.indptr[i + 1] : 0;
    if (!extra) {
      for (let e = lo; e < hi; e++) { idx.push(base.indices[e]); val.push(base.data[e]); }
    } else {
      const m = new Map<number, number>();
      for (let e = lo; e < hi; e++) m.set(base.indices[e], base.data[e]);
      for (const [j, v] of extra) m.set(j, (m.get(j) ?? 0) + v);
      for (const j of [...m.keys()].sort((a, b) => a - b)) { idx.push(j); val.push(m.get(j)!); }
    }
    indptr[i + 1] = idx.length;
  }
  return new CsrMatrix(n, n, indptr, Int32Array.from(idx), Float32Array.from(val));
}
