/**
 * Vector post-processing used after pooling: power normalisation and L2 normalisation, row-wise on
 * row-major matrices.
 */
import { InvalidParameterError } from '../core/errors.js';

/**
 * Signed power normalisation in place: `x ← sign(x)·|x|^alpha` (alpha = 0.5 is the usual "square-rooting"
 * that damps bursty, dominant channels). `alpha = 1` leaves the data unchanged.
 * @example
 * powerNormalize(new Float32Array([4, -9]), 0.5); // [2, -3]
 */
export function powerNormalize<T extends Float32Array | Float64Array>(x: T, alpha: number): T {
  if (!(alpha > 0 && alpha <= 1)) throw new InvalidParameterError('powerNorm', 'a number in (0, 1]', alpha);
  if (alpha === 1) return x;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    x[i] = v < 0 ? -Math.pow(-v, alpha) : Math.pow(v, alpha);
  }
  return x;
}

/**
 * L2-normalise each of the `x.length / dim` rows in place. Returns the indices of rows whose norm was zero or
 * not finite (those rows are left as zeros), so callers can report them instead of returning NaN.
 * @example
 * const bad = l2NormalizeRows(rows, 768); // [] when every row had a usable norm
 */
export function l2NormalizeRows(x: Float32Array, dim: number): number[] {
  if (!Number.isInteger(dim) || dim < 1 || x.length % dim !== 0) throw new InvalidParameterError('dim', `a positive divisor of ${x.length}`, dim);
  const bad: number[] = [];
  const n = x.length / dim;
  for (let r = 0; r < n; r++) {
    let ss = 0;
    const o = r * dim;
    for (let j = 0; j < dim; j++) ss += x[o + j] * x[o + j];
    if (!(ss > 0) || !Number.isFinite(ss)) {
      bad.push(r);
      x.fill(0, o, o + dim);
      continue;
    }
    const inv = 1 / Math.sqrt(ss);
    for (let j = 0; j < dim; j++) x[o + j] *= inv;
  }
  return bad;
}
