/**
 * Small dense kernels over row-major `Float64Array`s, written for V8: contiguous inner loops, several rows per
 * pass to cut memory traffic. Tall-skinny shapes (n × l with l ≤ ~1,000) are the case that matters.
 */
import { Matrix, EigenvalueDecomposition } from 'ml-matrix';

/** C (l × l) = Aᵀ A for A (n × l), rows [r0, r1) only, accumulated into C (upper triangle, then mirrored by caller). */
export function syrkUpperAcc(a: Float64Array, l: number, r0: number, r1: number, c: Float64Array): void {
  let r = r0;
  for (; r + 3 < r1; r += 4) {
    const o0 = r * l, o1 = o0 + l, o2 = o1 + l, o3 = o2 + l;
    for (let i = 0; i < l; i++) {
      const x0 = a[o0 + i], x1 = a[o1 + i], x2 = a[o2 + i], x3 = a[o3 + i];
      const g = i * l;
      for (let j = i; j < l; j++) c[g + j] += x0 * a[o0 + j] + x1 * a[o1 + j] + x2 * a[o2 + j] + x3 * a[o3 + j];
    }
  }
  for (; r < r1; r++) {
    const o0 = r * l;
    for (let i = 0; i < l; i++) {
      const x0 = a[o0 + i];
      const g = i * l;
      for (let j = i; j < l; j++) c[g + j] += x0 * a[o0 + j];
    }
  }
}

/** Copy the upper triangle of a square matrix into its lower triangle. */
export function mirrorUpper(c: Float64Array, l: number): void {
  for (let i = 0; i < l; i++) for (let j = i + 1; j < l; j++) c[j * l + i] = c[i * l + j];
}

/** Aᵀ A for A (n × l). */
export function syrk(a: Float64Array, n: number, l: number): Float64Array {
  const c = new Float64Array(l * l);
  syrkUpperAcc(a, l, 0, n, c);
  mirrorUpper(c, l);
  return c;
}

/** C (l × m) += Aᵀ B over rows [r0, r1), for A (n × l) and B (n × m). */
export function gemmTNAcc(a: Float64Array, l: number, b: Float64Array, m: number, r0: number, r1: number, c: Float64Array): void {
  let r = r0;
  for (; r + 3 < r1; r += 4) {
    const a0 = r * l, a1 = a0 + l, a2 = a1 + l, a3 = a2 + l;
    const b0 = r * m, b1 = b0 + m, b2 = b1 + m, b3 = b2 + m;
    for (let i = 0; i < l; i++) {
      const x0 = a[a0 + i], x1 = a[a1 + i], x2 = a[a2 + i], x3 = a[a3 + i];
      const g = i * m;
      for (let j = 0; j < m; j++) c[g + j] += x0 * b[b0 + j] + x1 * b[b1 + j] + x2 * b[b2 + j] + x3 * b[b3 + j];
    }
  }
  for (; r < r1; r++) {
    const a0 = r * l, b0 = r * m;
    for (let i = 0; i < l; i++) {
      const x0 = a[a0 + i];
      const g = i * m;
      for (let j = 0; j < m; j++) c[g + j] += x0 * b[b0 + j];
    }
  }
}

/** Aᵀ B for A (n × l) and B (n × m). */
export function gemmTN(a: Float64Array, n: number, l: number, b: Float64Array, m: number): Float64Array {
  const c = new Float64Array(l * m);
  gemmTNAcc(a, l, b, m, 0, n, c);
  return c;
}

/**
 * out[r0..r1) = A[r0..r1) · B for A (n × l), B (l × m). When `upper` is true, B is upper triangular and only
 * its upper part is read (`out` may then alias `a` only if l === m; a scratch row is used).
 */
export function gemmNNRows(a: Float64Array, l: number, b: Float64Array, m: number, out: Float64Array, r0: number, r1: number, upper = false): void {
  const row = new Float64Array(m);
  for (let r = r0; r < r1; r++) {
    row.fill(0);
    const ao = r * l;
    let i = 0;
    for (; i + 3 < l; i += 4) {
      const x0 = a[ao + i], x1 = a[ao + i + 1], x2 = a[ao + i + 2], x3 = a[ao + i + 3];
      const b0 = i * m, b1 = b0 + m, b2 = b1 + m, b3 = b2 + m;
      const js = upper ? i : 0;
      // For an upper-triangular B, entries below the diagonal are zero; reading them is harmless when they
      // are stored as zeros, which our triangular factors guarantee.
      for (let j = js; j < m; j++) row[j] += x0 * b[b0 + j] + x1 * b[b1 + j] + x2 * b[b2 + j] + x3 * b[b3 + j];
    }
    for (; i < l; i++) {
      const x0 = a[ao + i];
      const b0 = i * m;
      for (let j = upper ? i : 0; j < m; j++) row[j] += x0 * b[b0 + j];
    }
    out.set(row, r * m);
  }
}

/** A · B for A (n × l), B (l × m). */
export function gemmNN(a: Float64Array, n: number, l: number, b: Float64Array, m: number): Float64Array {
  const out = new Float64Array(n * m);
  gemmNNRows(a, l, b, m, out, 0, n);
  return out;
}

/**
 * Cholesky factor R (upper, G = RᵀR) of a symmetric positive definite l × l matrix; lower part zero.
 * Returns null when a pivot is not positive (numerically rank deficient).
 */
export function choleskyUpper(g: Float64Array, l: number): Float64Array | null {
  const r = new Float64Array(l * l);
  for (let j = 0; j < l; j++) {
    let d = g[j * l + j];
    for (let k = 0; k < j; k++) d -= r[k * l + j] * r[k * l + j];
    if (!(d > 0) || !Number.isFinite(d)) return null;
    const rjj = Math.sqrt(d);
    r[j * l + j] = rjj;
    for (let i = j + 1; i < l; i++) {
      let s = g[j * l + i];
      for (let k = 0; k < j; k++) s -= r[k * l + j] * r[k * l + i];
      r[j * l + i] = s / rjj;
    }
  }
  return r;
}

/** Inverse of an upper-triangular matrix (lower part zero). */
export function invUpper(r: Float64Array, l: number): Float64Array {
  const x = new Float64Array(l * l);
  for (let j = l - 1; j >= 0; j--) {
    x[j * l + j] = 1 / r[j * l + j];
    for (let i = j - 1; i >= 0; i--) {
      let s = 0;
      for (let k = i + 1; k <= j; k++) s += r[i * l + k] * x[k * l + j];
      x[i * l + j] = -s / r[i * l + i];
    }
  }
  return x;
}

/**
 * Eigen-decomposition of a symmetric l × l matrix (ml-matrix's Householder tridiagonalisation + QL).
 * Returns eigenvalues in descending order and the matching eigenvectors as columns of a row-major l × l array.
 */
export function symEig(h: Float64Array, l: number): { values: Float64Array; vectors: Float64Array } {
  const rows: number[][] = [];
  for (let i = 0; i < l; i++) {
    const row = new Array<number>(l);
    for (let j = 0; j < l; j++) row[j] = 0.5 * (h[i * l + j] + h[j * l + i]);
    rows.push(row);
  }
  const evd = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true });
  const vals = evd.realEigenvalues;
  const vecs = evd.eigenvectorMatrix;
  const order = vals.map((_, i) => i).sort((a, b) => vals[b] - vals[a]);
  const values = new Float64Array(l);
  const vectors = new Float64Array(l * l);
  for (let c = 0; c < l; c++) {
    const src = order[c];
    values[c] = vals[src];
    for (let i = 0; i < l; i++) vectors[i * l + c] = vecs.get(i, src);
  }
  return { values, vectors };
}
