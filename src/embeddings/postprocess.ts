/**
 * Vector post-processing used after pooling: power normalisation and L2 normalisation (the core helper of
 * `core/vectors.ts`), row-wise on row-major matrices.
 */
import { InvalidParameterError } from '../core/errors.js';

/** L2 normalisation of rows in place (zero or non-finite rows become zeros and are reported): the core helper. */
export { l2NormalizeRows } from '../core/vectors.js';

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
