/**
 * Compressed sparse row matrices in typed arrays, and the sparse × dense products the SVD needs.
 * Dense operands are row-major `Float64Array`s. No dense user × pin matrix is ever formed.
 */
import { InvalidParameterError } from '../core/errors.js';

/** A CSR matrix: row r holds columns `indices[indptr[r]..indptr[r+1])` with values `data[...]`. */
export class CsrMatrix {
  private transposed?: CsrMatrix;

  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly indptr: Int32Array,
    readonly indices: Int32Array,
    readonly data: Float32Array,
  ) {}

  /** Number of stored entries. */
  get nnz(): number {
    return this.indices.length;
  }

  /** Number of stored entries in row `r`. */
  rowNnz(r: number): number {
    return this.indptr[r + 1] - this.indptr[r];
  }

  /** The transpose (CSR of Aᵀ, i.e. CSC of A), computed once and cached. */
  transpose(): CsrMatrix {
    if (!this.transposed) {
      this.transposed = transposeCsr(this);
      this.transposed.transposed = this;
    }
    return this.transposed;
  }

  /** Squared Frobenius norm. */
  frobeniusSq(): number {
    let s = 0;
    const d = this.data;
    for (let p = 0; p < d.length; p++) s += d[p] * d[p];
    return s;
  }

  /** Sum of each column. */
  colSums(): Float64Array {
    const out = new Float64Array(this.cols);
    for (let p = 0; p < this.indices.length; p++) out[this.indices[p]] += this.data[p];
    return out;
  }

  /** Number of stored entries per column. */
  colCounts(): Int32Array {
    const out = new Int32Array(this.cols);
    for (let p = 0; p < this.indices.length; p++) out[this.indices[p]]++;
    return out;
  }

  /** Column-scaled copy: entry (r, c) multiplied by `scale[c]`. */
  scaleColumns(scale: Float64Array): CsrMatrix {
    const data = new Float32Array(this.data.length);
    for (let p = 0; p < data.length; p++) data[p] = this.data[p] * scale[this.indices[p]];
    return new CsrMatrix(this.rows, this.cols, this.indptr, this.indices, data);
  }
}

/**
 * Transpose by counting sort: O(nnz + rows + cols); the result has sorted column indices. A matrix in shared
 * memory (SharedArrayBuffers, as the SVD's threads use) gets a transpose in shared memory too, so the threads
 * read both without copies.
 */
export function transposeCsr(a: CsrMatrix): CsrMatrix {
  const { rows, cols, indptr, indices, data } = a;
  const sh = typeof SharedArrayBuffer !== 'undefined' && indices.buffer instanceof SharedArrayBuffer;
  const i32 = (n: number) => (sh ? new Int32Array(new SharedArrayBuffer(n * 4)) : new Int32Array(n));
  const tptr = i32(cols + 1);
  for (let p = 0; p < indices.length; p++) tptr[indices[p] + 1]++;
  for (let c = 0; c < cols; c++) tptr[c + 1] += tptr[c];
  const next = tptr.slice(0, cols);
  const tind = i32(indices.length);
  const tdat = sh ? new Float32Array(new SharedArrayBuffer(indices.length * 4)) : new Float32Array(indices.length);
  for (let r = 0; r < rows; r++) {
    for (let p = indptr[r]; p < indptr[r + 1]; p++) {
      const q = next[indices[p]]++;
      tind[q] = r;
      tdat[q] = data[p];
    }
  }
  return new CsrMatrix(cols, rows, tptr, tind, tdat);
}

/**
 * out[r0..r1) = A[r0..r1) · Z, with Z of shape (A.cols × l) and out of shape (A.rows × l), both row-major.
 * Rows are independent, so callers may split [r0, r1) across threads.
 */
export function spmmRows(a: CsrMatrix, z: Float64Array, l: number, out: Float64Array, r0 = 0, r1 = a.rows): void {
  const { indptr, indices, data } = a;
  for (let r = r0; r < r1; r++) {
    const o = r * l;
    out.fill(0, o, o + l);
    const pe = indptr[r + 1];
    let p = indptr[r];
    // Two nonzeros at a time halves the passes over the output row.
    for (; p + 1 < pe; p += 2) {
      const a0 = data[p];
      const a1 = data[p + 1];
      const z0 = indices[p] * l;
      const z1 = indices[p + 1] * l;
      for (let c = 0; c < l; c++) out[o + c] += a0 * z[z0 + c] + a1 * z[z1 + c];
    }
    if (p < pe) {
      const a0 = data[p];
      const z0 = indices[p] * l;
      for (let c = 0; c < l; c++) out[o + c] += a0 * z[z0 + c];
    }
  }
}

/**
 * out[r0..r1) = A[r0..r1) · Z for a float32 Z (A.cols × l): each output row is summed in float64 (`acc`, an
 * l-length scratch), nonzeros in order, and rounded once into `out` (float32 or float64). The SVD's power
 * iteration gathers Z's rows this way: half the memory traffic of a float64 Z, at a rounding (2⁻²⁴ relative)
 * far below the randomized SVD's own error.
 */
export function spmmRowsF32(a: { indptr: Int32Array; indices: Int32Array; data: Float32Array }, z: Float32Array, l: number, out: Float32Array | Float64Array, acc: Float64Array, r0: number, r1: number): void {
  const { indptr, indices, data } = a;
  for (let r = r0; r < r1; r++) {
    for (let c = 0; c < l; c++) acc[c] = 0;
    const pe = indptr[r + 1];
    for (let p = indptr[r]; p < pe; p++) {
      const av = data[p];
      const zo = indices[p] * l;
      for (let c = 0; c < l; c++) acc[c] += av * z[zo + c];
    }
    const o = r * l;
    for (let c = 0; c < l; c++) out[o + c] = acc[c];
  }
}

/**
 * y += Aᵀ(A Z) restricted to rows [r0, r1) of A, without forming A Z: for each row r, w = a_r · Z (a gather of
 * Z's rows), then y[j] += a_rj · w (a scatter). `w` is an l-length scratch. Rows are independent, so threads
 * can each take a range and accumulate into their own `y`.
 */
export function gramApplyRows(a: CsrMatrix, z: Float64Array, l: number, y: Float64Array, w: Float64Array, r0 = 0, r1 = a.rows): void {
  const { indptr, indices, data } = a;
  for (let r = r0; r < r1; r++) {
    const ps = indptr[r];
    const pe = indptr[r + 1];
    if (ps === pe) continue;
    w.fill(0);
    for (let p = ps; p < pe; p++) {
      const av = data[p];
      const zo = indices[p] * l;
      for (let c = 0; c < l; c++) w[c] += av * z[zo + c];
    }
    for (let p = ps; p < pe; p++) {
      const av = data[p];
      const yo = indices[p] * l;
      for (let c = 0; c < l; c++) y[yo + c] += av * w[c];
    }
  }
}

/** A · Z for a whole matrix (see {@link spmmRows}). */
export function spmm(a: CsrMatrix, z: Float64Array, l: number): Float64Array {
  if (z.length !== a.cols * l) throw new InvalidParameterError('z.length', `equal to A.cols × l (${a.cols * l})`, z.length);
  const out = new Float64Array(a.rows * l);
  spmmRows(a, z, l, out);
  return out;
}

/**
 * Sparse Gram matrix G = AᵀA (cols × cols, CSR), computed row by row with a dense accumulator.
 * Cost Σ_rows nnz(row)². `maxNnz` guards memory: an {@link InvalidParameterError} is thrown before the
 * product would exceed it.
 */
export function gram(a: CsrMatrix, maxNnz = 400_000_000): CsrMatrix {
  const at = a.transpose();
  const n = a.cols;
  // Upper bound on the result size, to fail fast instead of running out of memory.
  let bound = 0;
  for (let r = 0; r < a.rows; r++) { const k = a.rowNnz(r); bound += k * k; }
  const acc = new Float64Array(n);
  const mark = new Int32Array(n).fill(-1);
  const list = new Int32Array(n);
  const indptr = new Int32Array(n + 1);
  let cap = Math.min(bound, maxNnz, Math.max(16, 4 * a.nnz));
  let indices = new Int32Array(cap);
  let data = new Float32Array(cap);
  let out = 0;
  for (let j = 0; j < n; j++) {
    let cnt = 0;
    for (let p = at.indptr[j]; p < at.indptr[j + 1]; p++) {
      const r = at.indices[p];
      const v = at.data[p];
      for (let q = a.indptr[r]; q < a.indptr[r + 1]; q++) {
        const k = a.indices[q];
        if (mark[k] !== j) { mark[k] = j; acc[k] = 0; list[cnt++] = k; }
        acc[k] += v * a.data[q];
      }
    }
    if (out + cnt > cap) {
      if (out + cnt > maxNnz) {
        throw new InvalidParameterError('gramMaxNnz', `at least the Gram matrix size (> ${maxNnz} entries); use scoring 'puresvd' or raise the limit`, maxNnz);
      }
      cap = Math.min(maxNnz, Math.max(out + cnt, Math.ceil(cap * 1.6)));
      const ni = new Int32Array(cap); ni.set(indices.subarray(0, out)); indices = ni;
      const nd = new Float32Array(cap); nd.set(data.subarray(0, out)); data = nd;
    }
    const seg = list.subarray(0, cnt).sort();
    for (let t = 0; t < cnt; t++) { indices[out] = seg[t]; data[out] = acc[seg[t]]; out++; }
    indptr[j + 1] = out;
  }
  return new CsrMatrix(n, n, indptr, indices.slice(0, out), data.slice(0, out));
}
