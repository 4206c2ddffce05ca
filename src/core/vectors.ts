/**
 * L2 norms and row normalisation of row-major matrices — the one implementation every module uses.
 *
 * Every function sums squares sequentially in float64 and scales by `1 / sqrt(sum)`, so results are the same
 * to the bit wherever they are computed. A row whose squared norm is zero or not finite cannot be normalised:
 * it is written as zeros (never NaN), and the in-place form reports it.
 */
import { InvalidParameterError } from './errors.js';

/**
 * The factor that scales a row with squared norm `sumSquares` to unit length: `1 / sqrt(sumSquares)`, or 0
 * when `sumSquares` is zero or not finite (such a row cannot be normalised).
 *
 * @example
 * inverseNorm(25); // 0.2
 * inverseNorm(0);  // 0
 */
export function inverseNorm(sumSquares: number): number {
  return sumSquares > 0 && sumSquares < Infinity ? 1 / Math.sqrt(sumSquares) : 0;
}

/**
 * Euclidean norm of `len` values of `x` starting at `off` (the whole of `x` by default).
 *
 * @example
 * l2Norm([3, 4]); // 5
 */
export function l2Norm(x: ArrayLike<number>, off = 0, len = x.length - off): number {
  let s = 0;
  for (let j = off, end = off + len; j < end; j++) s += x[j] * x[j];
  return Math.sqrt(s);
}

/**
 * Write row `src[srcOff .. srcOff + dim)` scaled to unit length into `dst` at `dstOff` (`dst` may be `src`
 * at the same offset: in place). A zero or non-finite row is written as zeros.
 *
 * @returns whether the row had a usable norm
 * @example
 * const c = new Float32Array(2);
 * normalizeRowInto(Float64Array.of(3, 4), 0, 2, c, 0); // true; c = [0.6, 0.8]
 */
export function normalizeRowInto(src: ArrayLike<number>, srcOff: number, dim: number, dst: Float32Array, dstOff: number): boolean {
  let s = 0;
  for (let j = 0; j < dim; j++) s += src[srcOff + j] * src[srcOff + j];
  const inv = inverseNorm(s);
  if (inv === 0) {
    dst.fill(0, dstOff, dstOff + dim);
    return false;
  }
  for (let j = 0; j < dim; j++) dst[dstOff + j] = src[srcOff + j] * inv;
  return true;
}

function checkDim(x: Float32Array, dim: number): void {
  if (!Number.isInteger(dim) || dim < 1 || x.length % dim !== 0) throw new InvalidParameterError('dim', `a positive divisor of ${x.length}`, dim);
}

/**
 * L2-normalise each of the `x.length / dim` rows in place. Returns the indices of rows whose norm was zero or
 * not finite (those rows are left as zeros), so callers can report them instead of returning NaN.
 *
 * @throws {InvalidParameterError} when `dim` is not a positive divisor of `x.length`
 * @example
 * const bad = l2NormalizeRows(rows, 768); // [] when every row had a usable norm
 */
export function l2NormalizeRows(x: Float32Array, dim: number): number[] {
  checkDim(x, dim);
  const bad: number[] = [];
  for (let r = 0, o = 0; o < x.length; r++, o += dim) if (!normalizeRowInto(x, o, dim, x, o)) bad.push(r);
  return bad;
}

/**
 * Unit-normalised copy of row-major vectors (zero or non-finite rows become zero rows).
 *
 * @throws {InvalidParameterError} when `dim` is not a positive divisor of `vectors.length`
 * @example
 * normalizeRows(Float32Array.of(3, 4, 0, 0), 2); // [0.6, 0.8, 0, 0]
 */
export function normalizeRows(vectors: Float32Array, dim: number): Float32Array {
  checkDim(vectors, dim);
  const out = new Float32Array(vectors.length);
  for (let o = 0; o < vectors.length; o += dim) normalizeRowInto(vectors, o, dim, out, o);
  return out;
}

/**
 * Unit-length copy of one vector (a zero or non-finite vector gives zeros).
 *
 * @example
 * normalizeVector(Float32Array.of(0, 2)); // [0, 1]
 */
export function normalizeVector(v: Float32Array): Float32Array {
  const out = new Float32Array(v.length);
  normalizeRowInto(v, 0, v.length, out, 0);
  return out;
}
