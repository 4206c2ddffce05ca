/** The fitted state of an `SvdRecommender` and the small row helpers its parts share. */
import type { IdMap } from '../core/ids.js';
import type { NewUser } from '../core/interfaces.js';
import type { Id } from '../core/types.js';
import type { CsrMatrix } from './csr.js';

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
}

/** A user's interaction row: dense pin indices and weights. */
export type Row = { idx: Int32Array; val: Float32Array };

export function rowOf(x: CsrMatrix, r: number): Row {
  return { idx: x.indices.subarray(x.indptr[r], x.indptr[r + 1]), val: x.data.subarray(x.indptr[r], x.indptr[r + 1]) };
}


/** Whether `u` is a new user given by raw interactions (rather than an id). */
export function isNewUser<I extends Id>(u: unknown): u is NewUser<I> {
  return typeof u === 'object' && u !== null && 'items' in u;
}
