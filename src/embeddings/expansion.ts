/**
 * Database-side augmentation with α-weighted query expansion (αQE / DBA, Radenović, Tolias & Chum, "Fine-tuning
 * CNN image retrieval with no human annotation", TPAMI 2019): each vector is replaced by the normalised,
 * similarity-weighted sum of itself and its nearest neighbours, `x'_i = normalise(Σ_{j ∈ NN_n(i)} (x_iᵀx_j)^α x_j)`
 * (the item itself is its own first neighbour, weight 1). Applied to a whole corpus, and to queries with the same
 * formula, it pulls images of one category together. A corpus-level step, not a per-image embedding option.
 */
import { InvalidParameterError } from '../core/errors.js';
import type { ProgressCallback } from '../core/types.js';
import { checkInt, checkNumber } from '../core/validate.js';
import { TopKHeap } from '../core/topk.js';
import { l2NormalizeRows } from '../core/vectors.js';

/** Options of {@link alphaQueryExpansion}. */
export interface QueryExpansionOptions {
  /**
   * Neighbours summed per item, the item itself included.
   * @default 3
   */
  n?: number;
  /**
   * Exponent on the (clamped to ≥ 0) cosine similarity weights.
   * @default 3
   */
  alpha?: number;
  /**
   * Precomputed neighbour lists (row-major `count × n`, each row starting with the item itself), e.g. from an
   * ANN index; when absent they are computed exactly (O(count² · dim)).
   */
  neighbours?: Int32Array;
  onProgress?: ProgressCallback;
}

/**
 * αQE / database-side augmentation of L2-normalised row-major vectors; returns new L2-normalised rows.
 *
 * @example
 * const augmented = alphaQueryExpansion(corpus, 768, { n: 3, alpha: 3 });
 */
export function alphaQueryExpansion(vectors: Float32Array, dim: number, options: QueryExpansionOptions = {}): Float32Array {
  checkInt('dim', dim, 1);
  if (vectors.length % dim !== 0) throw new InvalidParameterError('vectors', `a multiple of dim = ${dim} values long`, vectors.length);
  const count = vectors.length / dim;
  const n = checkInt('n', options.n ?? 3, 1, Math.max(1, count));
  const alpha = checkNumber('alpha', options.alpha ?? 3, 0, 100);
  const dot = (a: number, b: number) => {
    let s = 0;
    const oa = a * dim, ob = b * dim;
    for (let j = 0; j < dim; j++) s += vectors[oa + j] * vectors[ob + j];
    return s;
  };
  let nb = options.neighbours;
  if (nb !== undefined) {
    if (!(nb instanceof Int32Array) || nb.length !== count * n) throw new InvalidParameterError('neighbours', `an Int32Array of count*n = ${count * n} indices`, nb);
    for (let i = 0; i < nb.length; i++) if (nb[i] < 0 || nb[i] >= count) throw new InvalidParameterError(`neighbours[${i}]`, `an index in [0, ${count - 1}]`, nb[i]);
  } else {
    nb = new Int32Array(count * n);
    const heap = new TopKHeap(n - 1);
    for (let i = 0; i < count; i++) {
      // The item itself first, then the n-1 most similar others (ties: lower index; a NaN similarity never
      // counts, and missing neighbours repeat the item).
      heap.clear();
      if (n > 1) for (let j = 0; j < count; j++) if (j !== i) heap.push(dot(i, j), j);
      const top = heap.indices();
      nb[i * n] = i;
      for (let k = 1; k < n; k++) nb[i * n + k] = k - 1 < top.length ? top[k - 1] : i;
      if (options.onProgress && (i % 256 === 255 || i === count - 1)) options.onProgress({ stage: 'expansion:neighbours', done: i + 1, total: count });
    }
  }
  const out = new Float32Array(vectors.length);
  for (let i = 0; i < count; i++) {
    const o = i * dim;
    for (let k = 0; k < n; k++) {
      const j = nb[i * n + k];
      const w = Math.pow(Math.max(0, dot(i, j)), alpha);
      if (w === 0) continue;
      const oj = j * dim;
      for (let t = 0; t < dim; t++) out[o + t] += w * vectors[oj + t];
    }
  }
  l2NormalizeRows(out, dim);
  return out;
}
