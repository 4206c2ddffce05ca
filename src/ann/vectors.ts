/**
 * Validation and conversion of vectors, batches and `k` at the public boundary of every index.
 */
import { DimensionMismatchError, InvalidParameterError } from '../core/errors.js';
import { checkIdType, type IdMap } from '../core/ids.js';
import type { Id, Metric } from '../core/types.js';
import type { SearchResult } from './types.js';

/** A single vector as a `Float32Array` (no copy when it already is one). */
export function toFloat32(name: string, v: unknown): Float32Array {
  if (v instanceof Float32Array) return v;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView) && typeof (v as unknown as { length: unknown }).length === 'number') {
    return Float32Array.from(v as unknown as ArrayLike<number>);
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (typeof v[i] !== 'number') throw new InvalidParameterError(`${name}[${i}]`, 'a number', v[i]);
    }
    return Float32Array.from(v as number[]);
  }
  throw new InvalidParameterError(name, 'a Float32Array or an array of numbers', v);
}

/**
 * Check that `rows` row-major vectors of length `dim` in `data` are finite and, under cosine, non-zero.
 * Names the offending row and component in the error.
 */
export function checkRows(name: string, data: Float32Array, rows: number, dim: number, metric: Metric): void {
  // Under l2 and ip, distances are float32 sums of dim products: components up to `bound` keep every
  // squared distance and dot product finite. Cosine vectors are normalised first, so any finite one works.
  const bound = metric === 'cosine' ? Infinity : maxComponent(dim);
  for (let r = 0; r < rows; r++) {
    const off = r * dim;
    let sq = 0;
    for (let j = 0; j < dim; j++) {
      const x = data[off + j];
      if (!Number.isFinite(x)) {
        const where = rows === 1 ? `${name}[${j}]` : `${name}[row ${r}][${j}]`;
        throw new InvalidParameterError(where, 'a finite number', x);
      }
      if (x > bound || x < -bound) {
        const where = rows === 1 ? `${name}[${j}]` : `${name}[row ${r}][${j}]`;
        throw new InvalidParameterError(where, `at most ${bound.toPrecision(3)} in magnitude under ${metric} at dim ${dim} (larger distances overflow float32)`, x);
      }
      sq += x * x;
    }
    if (metric === 'cosine' && !(sq > 0)) {
      const where = rows === 1 ? name : `${name}[row ${r}]`;
      throw new InvalidParameterError(where, 'a non-zero vector under the cosine metric', rows === 1 ? data : `row ${r} of ${describeLen(data)}`);
    }
  }
}

/** Largest component magnitude for which l2/ip distances in `dim` dimensions stay finite in float32. */
export function maxComponent(dim: number): number {
  return Math.sqrt(3.4028234663852886e38 / (4 * dim));
}

function describeLen(a: Float32Array): string {
  return `Float32Array(${a.length})`;
}

/** Validate one query vector against `dim` and `metric`; returns it as a `Float32Array`. */
export function checkQuery(name: string, query: unknown, dim: number, metric: Metric): Float32Array {
  const q = toFloat32(name, query);
  if (q.length !== dim) throw new DimensionMismatchError(name, dim, q.length);
  checkRows(name, q, 1, dim, metric);
  return q;
}

/** Validate a row-major query batch; returns the number of rows. */
export function checkQueryBatch(name: string, queries: unknown, dim: number, metric: Metric): { data: Float32Array; rows: number } {
  const data = toFloat32(name, queries);
  if (data.length === 0 || data.length % dim !== 0) {
    throw new InvalidParameterError(name, `a non-empty row-major batch whose length is a multiple of dim ${dim}`, data);
  }
  const rows = data.length / dim;
  checkRows(name, data, rows, dim, metric);
  return { data, rows };
}

/** Validate `addItems` arguments: ids (one or many, each a string, finite number or bigint) and a matching batch. */
export function checkItems<I extends Id>(ids: I | readonly I[], vectors: unknown, dim: number, metric: Metric): { ids: readonly I[]; data: Float32Array } {
  const list: readonly I[] = Array.isArray(ids) ? (ids as readonly I[]) : [ids as I];
  if (list.length === 0) throw new InvalidParameterError('ids', 'a non-empty id or list of ids', ids);
  for (let i = 0; i < list.length; i++) checkIdType(Array.isArray(ids) ? `ids[${i}]` : 'ids', list[i]);
  const data = toFloat32('vectors', vectors);
  if (data.length !== list.length * dim) {
    if (list.length === 1) throw new DimensionMismatchError('vectors', dim, data.length);
    throw new InvalidParameterError('vectors', `a row-major batch of ${list.length} x ${dim} = ${list.length * dim} floats`, data);
  }
  checkRows('vectors', data, list.length, dim, metric);
  return { ids: list, data };
}

/**
 * Validate `k` (an integer >= 1) and return how many results a search can give: `min(k, size)`. Asking for
 * more neighbours than the index holds is not an error — the result is shorter and its `requested` says so.
 */
export function checkK(k: unknown, size: number): number {
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) {
    throw new InvalidParameterError('k', 'an integer >= 1', k);
  }
  return Math.min(k, size);
}

/** Dot product of two rows. */
export function dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let j = 0;
  for (; j + 3 < dim; j += 4) {
    s0 += a[aOff + j] * b[bOff + j];
    s1 += a[aOff + j + 1] * b[bOff + j + 1];
    s2 += a[aOff + j + 2] * b[bOff + j + 2];
    s3 += a[aOff + j + 3] * b[bOff + j + 3];
  }
  for (; j < dim; j++) s0 += a[aOff + j] * b[bOff + j];
  return s0 + s1 + s2 + s3;
}

/** Squared Euclidean distance of two rows. */
export function sqL2(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let j = 0;
  for (; j + 3 < dim; j += 4) {
    const d0 = a[aOff + j] - b[bOff + j];
    const d1 = a[aOff + j + 1] - b[bOff + j + 1];
    const d2 = a[aOff + j + 2] - b[bOff + j + 2];
    const d3 = a[aOff + j + 3] - b[bOff + j + 3];
    s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
  }
  for (; j < dim; j++) { const d = a[aOff + j] - b[bOff + j]; s0 += d * d; }
  return s0 + s1 + s2 + s3;
}

/** Unit-length copy of a vector (callers check it is non-zero; a zero vector would give zeros). */
export { normalizeVector as normalized } from '../core/vectors.js';

/** Similarity reported next to a distance: `1 - d` for cosine and ip, `-d` for l2 (squared Euclidean). */
export function similarityOf(metric: Metric, distance: number): number {
  return metric === 'l2' ? -distance : 1 - distance;
}

/** Turn labels and distances (best first) into a result in the caller's ids, with similarities. */
export function toSearchResult<I extends Id>(ids: IdMap<I>, metric: Metric, labels: ArrayLike<number>, distances: ArrayLike<number>, requested = labels.length): SearchResult<I> {
  const n = labels.length;
  const out = new Array<I>(n);
  const dist = new Float32Array(n), sim = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = ids.id(labels[i]);
    dist[i] = distances[i];
    sim[i] = similarityOf(metric, distances[i]);
  }
  return { ids: out, distances: dist, similarities: sim, scores: sim, requested };
}
