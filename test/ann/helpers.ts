/** Seeded test data for the ann tests. */
import { Rng } from '../../src/core/rng.js';

/** `n` row-major vectors in `c` Gaussian clusters (centres N(0,1), points centre + 0.5·N(0,1)). */
export function clustered(n: number, dim: number, seed: number, clusters = 8): Float32Array {
  const rng = new Rng(seed);
  const centres = rng.fillNormal(new Float32Array(clusters * dim));
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = rng.int(clusters);
    for (let j = 0; j < dim; j++) out[i * dim + j] = centres[c * dim + j] + 0.5 * rng.normal();
  }
  return out;
}

/** The i-th row of a row-major matrix. */
export function row(data: Float32Array, dim: number, i: number): Float32Array {
  return data.subarray(i * dim, (i + 1) * dim);
}
