/**
 * Style clustering from the seed: k-means++ seeding and Lloyd iterations on unit-normalised embeddings
 * (so squared Euclidean distance is `2 − 2·cos`), seeded through {@link Rng}.
 */
import { InvalidParameterError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { checkInt, checkNumber, firstNonFinite } from '../core/validate.js';
import { normalizeRowInto, normalizeRows } from '../core/vectors.js';

/**
 * Options of {@link styleClusters}.
 *
 * @example
 * styleClusters(vectors, 256, { k: 8, seed: 7, maxIter: 100 });
 */
export interface StyleClusterOptions {
  /** Number of clusters. @default min(10, max(1, floor(n / 5))) */
  k?: number;
  /** RNG seed. @default 0 */
  seed?: number;
  /** Most Lloyd iterations. @default 50 */
  maxIter?: number;
  /** Stop when the inertia improves by less than this fraction. @default 1e-6 */
  tol?: number;
}

/** Result of {@link styleClusters}. */
export interface StyleClusters {
  k: number;
  /** Cluster of each input row. */
  assignments: Int32Array;
  /** Row-major `k × dim` unit-length centroids. */
  centroids: Float32Array;
  /** Rows per cluster. */
  sizes: Int32Array;
  /** Sum of squared distances of the (normalised) rows to their centroids. */
  inertia: number;
  iterations: number;
}

/**
 * Cluster embeddings into styles. With `n` rows the default `k` is `min(10, floor(n / 5))` (the seed's
 * rule), raised to 1 for 1 ≤ n < 5. Empty clusters are re-seeded with the row farthest from its centroid.
 * The same seed gives the same clusters.
 *
 * @param vectors row-major embeddings, `n × dim`, n >= 1
 * @throws {InvalidParameterError} for empty input, non-finite values, or `k` outside [1, n]
 * @example
 * const { k, assignments } = styleClusters(embeddings, 256, { seed: 42 });
 */
export function styleClusters(vectors: Float32Array, dim: number, options: StyleClusterOptions = {}): StyleClusters {
  checkInt('dim', dim, 1);
  if (!(vectors instanceof Float32Array)) throw new InvalidParameterError('vectors', 'a Float32Array', vectors);
  if (vectors.length % dim !== 0) throw new InvalidParameterError('vectors.length', `a multiple of dim (${dim})`, vectors.length);
  const n = vectors.length / dim;
  if (n === 0) throw new InvalidParameterError('vectors', 'at least one vector', vectors);
  const bad = firstNonFinite(vectors);
  if (bad >= 0) throw new InvalidParameterError(`vectors[${bad}]`, 'a finite number', vectors[bad]);
  const k = checkInt('k', options.k ?? Math.min(10, Math.max(1, Math.floor(n / 5))), 1, n);
  const rng = new Rng(checkNumber('seed', options.seed ?? 0));
  const maxIter = checkInt('maxIter', options.maxIter ?? 50, 1);
  const tol = checkNumber('tol', options.tol ?? 1e-6, 0);
  const x = normalizeRows(vectors, dim);

  const centroids = new Float32Array(k * dim);
  const d2 = new Float64Array(n);
  const dist = (row: number, c: number): number => {
    let s = 0;
    const ro = row * dim;
    const co = c * dim;
    for (let d = 0; d < dim; d++) { const t = x[ro + d] - centroids[co + d]; s += t * t; }
    return s;
  };
  // k-means++ seeding
  const first = rng.int(n);
  centroids.set(x.subarray(first * dim, first * dim + dim), 0);
  for (let i = 0; i < n; i++) d2[i] = dist(i, 0);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += d2[i];
    let pick = -1;
    if (total > 0) {
      let r = rng.next() * total;
      for (let i = 0; i < n; i++) { r -= d2[i]; if (r < 0) { pick = i; break; } }
      if (pick < 0) for (let i = n - 1; i >= 0; i--) if (d2[i] > 0) { pick = i; break; }
    } else pick = rng.int(n); // all rows identical: any row
    centroids.set(x.subarray(pick * dim, pick * dim + dim), c * dim);
    for (let i = 0; i < n; i++) { const v = dist(i, c); if (v < d2[i]) d2[i] = v; }
  }

  const assignments = new Int32Array(n);
  const sizes = new Int32Array(k);
  const sums = new Float64Array(k * dim);
  /** Assign row `i` to its nearest centroid (ties: the lower cluster); returns the squared distance. */
  const assign = (i: number): number => {
    let best = 0;
    let bd = Infinity;
    for (let c = 0; c < k; c++) { const v = dist(i, c); if (v < bd) { bd = v; best = c; } }
    assignments[i] = best;
    d2[i] = bd;
    return bd;
  };
  let inertia = Infinity;
  let iterations = 0;
  for (let it = 0; it < maxIter; it++) {
    iterations = it + 1;
    let cur = 0;
    for (let i = 0; i < n; i++) cur += assign(i);
    sizes.fill(0);
    sums.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assignments[i];
      sizes[c]++;
      const ro = i * dim;
      const co = c * dim;
      for (let d = 0; d < dim; d++) sums[co + d] += x[ro + d];
    }
    for (let c = 0; c < k; c++) {
      const co = c * dim;
      if (sizes[c] === 0) {
        // re-seed an empty cluster with the row farthest from its centroid
        let far = 0;
        for (let i = 1; i < n; i++) if (d2[i] > d2[far]) far = i;
        centroids.set(x.subarray(far * dim, far * dim + dim), co);
        d2[far] = 0;
        continue;
      }
      normalizeRowInto(sums, co, dim, centroids, co);
    }
    const improved = inertia - cur;
    inertia = cur;
    if (improved >= 0 && improved <= tol * Math.max(cur, 1e-12)) break;
  }
  // final assignment against the final centroids
  sizes.fill(0);
  inertia = 0;
  for (let i = 0; i < n; i++) {
    inertia += assign(i);
    sizes[assignments[i]]++;
  }
  return { k, assignments, centroids, sizes, inertia, iterations };
}
