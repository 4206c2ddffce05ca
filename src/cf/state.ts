/** The fitted state of an `SvdRecommender` and the small row helpers its parts share. */
import type { IdMap } from '../core/ids.js';
import type { NewUser } from '../core/interfaces.js';
import type { Id } from '../core/types.js';
import type { CsrMatrix } from './csr.js';
import type { NativeKernels } from '../native/index.js';
import type { OrderSettings, Transitions } from './order.js';

/** Everything `fit` learns (and `save` writes). */
export interface FittedState {
  users: IdMap;
  items: IdMap;
  x: CsrMatrix;
  k: number;
  s: Float64Array;
  /** Item factors V, nItems × k, row-major. */
  v: Float32Array;
  /** Scoring item matrix, transposed (k × nItems): V for puresvd, −V·E/dg for ease. */
  wt: Float32Array;
  /**
   * The same matrix row-major (cap × k), made on the first candidate scoring: a candidate's k weights are then
   * contiguous instead of `cap` floats apart. Kept in step with `wt` by the updates; dropped when `wt` is
   * reallocated (and made again when next needed).
   */
  wtRows?: Float32Array;
  /** EASE: 1/dg per item (scale of the co-occurrence term). */
  itemScale?: Float32Array;
  /** EASE: sparse Gram XᵀX. */
  g?: CsrMatrix;
  /** Summed weight per item (popularity fallback). */
  popularity: Float64Array;
  /** The λ the 'ease' scoring used (0 for puresvd). */
  lambdaUsed: number;
  /** Norms of V·diag(s) rows, for similarItems. */
  itemNorm: Float32Array;
  /** Factor applied to every training weight (1 / their RMS) and to folded-in weights. */
  weightScale: number;
  /** When each entry of `x` last happened (timestamps or input positions), parallel to `x.data`. */
  xKey?: Float64Array;
  /** Whether `xKey` holds timestamps. */
  timed: boolean;
  /** Order-aware scoring settings (plain scoring: decay 1, transitions 0). */
  order: OrderSettings;
  /** Next-pin counts, when the training matrix came with its log. */
  trans?: Transitions;
  /**
   * Capacity of the per-pin arrays and the stride of `wt` (≥ the number of pins): pins added after the fit
   * take free slots without moving the factors of the others.
   */
  cap: number;
  /** Whether `users` and `items` belong to the model alone (updates add ids to them). */
  ownsIds?: boolean;
  /** What updates after the fit changed (absent until the first update). */
  live?: LiveState;
  /** The native kernels scoring runs on (set by the model; null or absent: the JavaScript kernels). Not saved. */
  native?: NativeKernels | null;
}

/** The changes updates make on top of the fitted state. */
export interface LiveState {
  /** Rows of users whose interactions changed (or who are new), replacing their row of `x`. */
  rows: Map<number, { idx: Int32Array; val: Float32Array; key: Float64Array }>;
  /** Co-occurrence added since the fit: gDelta[i][j] adds to XᵀX[i, j] (symmetric). */
  gDelta: Map<number, Map<number, number>>;
  /** Next-pin counts added since the fit. */
  tDelta: Map<number, Map<number, number>>;
  /** Pins and users the fit knew (later ones were added by updates). */
  basePins: number;
  baseUsers: number;
  /** The latest event key seen (events without a timestamp are stamped after it). */
  clock: number;
  /** Events applied since the fit. */
  events: number;
}

/** A user's interaction row: dense pin indices and weights, and optionally when each happened (larger = later). */
export type Row = { idx: Int32Array; val: Float32Array; key?: Float64Array };

/** A user's current row: their row after updates, else their row of the fitted matrix. */
export function userRow(st: FittedState, u: number): Row {
  const live = st.live?.rows.get(u);
  if (live) return live;
  if (u >= st.x.rows) return { idx: new Int32Array(0), val: new Float32Array(0), key: new Float64Array(0) };
  return rowOf(st.x, u, st.xKey);
}

export function rowOf(x: CsrMatrix, r: number, key?: Float64Array): Row {
  const a = x.indptr[r], b = x.indptr[r + 1];
  return { idx: x.indices.subarray(a, b), val: x.data.subarray(a, b), key: key?.subarray(a, b) };
}


/** The `h` most recent entries of a row (by key; by weight without one), in pin order. */
export function recentRow(r: Row, h: number): Row {
  const order = Int32Array.from({ length: r.idx.length }, (_, p) => p);
  const key = r.key;
  order.sort(key ? (a, b) => key[b] - key[a] || a - b : (a, b) => r.val[b] - r.val[a] || a - b);
  const keep = order.subarray(0, h).sort();
  return {
    idx: Int32Array.from(keep, (p) => r.idx[p]),
    val: Float32Array.from(keep, (p) => r.val[p]),
    key: key ? Float64Array.from(keep, (p) => key[p]) : undefined,
  };
}

/** Whether `u` is a new user given by raw interactions (rather than an id). */
export function isNewUser<I extends Id>(u: unknown): u is NewUser<I> {
  return typeof u === 'object' && u !== null && 'items' in u;
}
