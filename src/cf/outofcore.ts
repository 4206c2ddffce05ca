/**
 * Out-of-core truncated SVD for interaction matrices that fit on disk but not in memory: block subspace
 * iteration on AᵀA over the partitions of an export ({@link exportInteractions}), one partition in memory at a
 * time. Only the item side is kept (Z and AᵀA·Z, items × (k + oversample) each, float64); users live only inside
 * their partition's pass. Each iteration is one read of every partition: Y = Σ_b A_bᵀ (A_b Z), then
 * Z = orth(Y) (Cholesky QR, twice); a last pass forms the Rayleigh quotient T = Σ_b (A_b Z)ᵀ(A_b Z), whose
 * eigenvectors rotate Z into the right singular vectors V and whose eigenvalues are σ². Memory: the item
 * vectors, plus the largest partition (its CSR and its users × l block); choose the partition count for that.
 */
import { NumericalError } from '../core/errors.js';
import { IdMap } from '../core/ids.js';
import { Rng } from '../core/rng.js';
import type { Id, ProgressCallback } from '../core/types.js';
import { checkInt } from '../core/validate.js';
import { nativeKernels, type KernelChoice } from '../native/index.js';
import { CsrMatrix, spmmRows, transposeCsr } from './csr.js';
import { choleskyUpper, invUpper, symEig } from './dense.js';
import { readPartition, readPartitionManifest } from './partitioned.js';

/** Options of {@link fitFactorsOutOfCore}. */
export interface OutOfCoreOptions {
  /** Latent factors k. @default 64 */
  factors?: number;
  /** Extra subspace columns. @default 10 */
  oversample?: number;
  /** Subspace iterations (each one read of every partition). @default 5 */
  nIter?: number;
  seed?: number;
  /** `'auto'` (native kernels when built), `'native'` or `'js'`. @default 'auto' */
  kernels?: KernelChoice;
  /** Called per partition read with `{ stage: 'outofcore:items' | 'outofcore:iter N' | 'outofcore:ritz', done, total }`. */
  onProgress?: ProgressCallback;
}

/** What {@link fitFactorsOutOfCore} returns: the item side of the truncated SVD A ≈ U Σ Vᵀ. */
export interface OutOfCoreResult<I extends Id = Id> {
  itemIds: I[];
  /** V, items × k, row-major, float32: orthonormal columns. */
  itemFactors: Float32Array;
  /** σ, descending. */
  singularValues: Float64Array;
  k: number;
  /** All k + oversample Ritz estimates of σ, descending. */
  ritz: Float64Array;
  stats: { partitions: number; rows: number; users: number; passes: number; largestPartitionRows: number; seconds: number };
}

/** A partition as CSR over the global item index (rows = its users). */
async function partitionCsr(dir: string, manifest: ReturnType<typeof readPartitionManifest>, p: number, items: IdMap<Id>, grow: boolean): Promise<CsrMatrix> {
  const log = await readPartition(dir, manifest, p);
  const m = log.toMatrix();
  const localItems = m.items.ids();
  const map = new Int32Array(localItems.length);
  for (let j = 0; j < localItems.length; j++) map[j] = grow ? items.add(localItems[j]) : items.get(localItems[j]);
  const idx = new Int32Array(m.csr.indices.length);
  for (let q = 0; q < idx.length; q++) idx[q] = map[m.csr.indices[q]];
  return new CsrMatrix(m.csr.rows, grow ? 0 : items.size, m.csr.indptr, idx, m.csr.data);
}

/** Y = Z R⁻¹ with RᵀR = ZᵀZ (Cholesky QR), in place; twice for orthogonality to working precision. */
function orthonormalize(z: Float64Array, n: number, l: number): void {
  for (let pass = 0; pass < 2; pass++) {
    const g = new Float64Array(l * l);
    for (let i = 0; i < n; i++) {
      const o = i * l;
      for (let a = 0; a < l; a++) {
        const za = z[o + a];
        if (za === 0) continue;
        for (let b = a; b < l; b++) g[a * l + b] += za * z[o + b];
      }
    }
    for (let a = 0; a < l; a++) for (let b = 0; b < a; b++) g[a * l + b] = g[b * l + a];
    // a tiny ridge keeps Cholesky alive when the subspace is (numerically) rank deficient
    let tr = 0;
    for (let a = 0; a < l; a++) tr += g[a * l + a];
    for (let a = 0; a < l; a++) g[a * l + a] += 1e-13 * tr / l;
    const r = choleskyUpper(g, l);
    if (!r) throw new NumericalError('out-of-core SVD: the subspace lost rank (Cholesky QR failed); use fewer factors');
    const ri = invUpper(r, l);
    const row = new Float64Array(l);
    for (let i = 0; i < n; i++) {
      const o = i * l;
      for (let b = 0; b < l; b++) {
        let s = 0;
        for (let a = 0; a <= b; a++) s += z[o + a] * ri[a * l + b];
        row[b] = s;
      }
      z.set(row, o);
    }
  }
}

/**
 * Fit the item factors of a truncated SVD on a partitioned export, reading one partition at a time (see the
 * module comment for the method and its memory). The result serves through {@link FactorModel} (a user's
 * vector is their history times V, as PureSVD scores), or exports as Arrow.
 *
 * @throws {FileFormatError} for a missing or malformed export; {@link NumericalError} when the subspace loses rank
 * @example
 * import { exportInteractions, fitFactorsOutOfCore, FactorModel, syntheticInteractions } from 'pinrec/cf';
 * await exportInteractions(syntheticInteractions({ users: 500, items: 200, events: 8000 }), 'parts', { partitions: 4 });
 * const r = await fitFactorsOutOfCore('parts', { factors: 16 });
 * const model = FactorModel.fromOutOfCore(r);
 */
export async function fitFactorsOutOfCore<I extends Id = Id>(dir: string, options: OutOfCoreOptions = {}): Promise<OutOfCoreResult<I>> {
  const t0 = performance.now();
  const manifest = readPartitionManifest(dir);
  const P = manifest.partitions.length;
  const k = checkInt('factors', options.factors ?? 64, 1, 4096);
  const oversample = checkInt('oversample', options.oversample ?? 10, 0, 1000);
  const nIter = checkInt('nIter', options.nIter ?? 5, 1, 100);
  const native = nativeKernels(options.kernels ?? 'auto');
  const progress = options.onProgress;
  // pass 0: the item ids (and the sizes)
  const items = new IdMap<Id>();
  let users = 0;
  let rows = 0;
  let largest = 0;
  for (let p = 0; p < P; p++) {
    const a = await partitionCsr(dir, manifest, p, items, true);
    users += a.rows;
    rows += a.nnz;
    largest = Math.max(largest, a.nnz);
    progress?.({ stage: 'outofcore:items', done: p + 1, total: P });
  }
  const n = items.size;
  const l = Math.min(k + oversample, n);
  if (k >= n) throw new NumericalError(`out-of-core SVD: factors (${k}) must be below the number of items (${n})`);
  const rng = new Rng(options.seed ?? 0);
  let z = new Float64Array(n * l);
  for (let i = 0; i < z.length; i++) z[i] = rng.normal();
  orthonormalize(z, n, l);
  const y = new Float64Array(n * l);
  const tmp = new Float64Array(n * l);
  const gather = (a: CsrMatrix, src: Float64Array, out: Float64Array) => {
    if (native) native.spmm(a.indptr, a.indices, a.data, a.rows, a.cols, src, l, out, 0, a.rows);
    else spmmRows(a, src, l, out, 0, a.rows);
  };
  let passes = 1;
  for (let it = 0; it < nIter; it++) {
    y.fill(0);
    for (let p = 0; p < P; p++) {
      const a = await partitionCsr(dir, manifest, p, items, false);
      const w = new Float64Array(a.rows * l);
      gather(a, z, w); // W = A_b Z
      const at = transposeCsr(a);
      gather(at, w, tmp); // A_bᵀ W
      for (let i = 0; i < y.length; i++) y[i] += tmp[i];
      progress?.({ stage: `outofcore:iter ${it + 1}`, done: p + 1, total: P });
    }
    passes++;
    orthonormalize(y, n, l);
    z.set(y);
  }
  // Rayleigh–Ritz: T = Zᵀ AᵀA Z = Σ_b (A_b Z)ᵀ (A_b Z)
  const t = new Float64Array(l * l);
  for (let p = 0; p < P; p++) {
    const a = await partitionCsr(dir, manifest, p, items, false);
    const w = new Float64Array(a.rows * l);
    gather(a, z, w);
    for (let r = 0; r < a.rows; r++) {
      const o = r * l;
      for (let c = 0; c < l; c++) {
        const wc = w[o + c];
        if (wc === 0) continue;
        for (let d = c; d < l; d++) t[c * l + d] += wc * w[o + d];
      }
    }
    progress?.({ stage: 'outofcore:ritz', done: p + 1, total: P });
  }
  passes++;
  for (let c = 0; c < l; c++) for (let d = 0; d < c; d++) t[c * l + d] = t[d * l + c];
  const { values, vectors } = symEig(t, l);
  const ritz = Float64Array.from(values, (v) => Math.sqrt(Math.max(0, v)));
  const v = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let a = 0; a < l; a++) s += z[i * l + a] * vectors[a * l + c];
      v[i * k + c] = s;
    }
  }
  // signs: each column's largest-magnitude entry positive (deterministic output)
  for (let c = 0; c < k; c++) {
    let best = 0;
    for (let i = 0; i < n; i++) if (Math.abs(v[i * k + c]) > Math.abs(best)) best = v[i * k + c];
    if (best < 0) for (let i = 0; i < n; i++) v[i * k + c] = -v[i * k + c];
  }
  z = new Float64Array(0);
  return {
    itemIds: items.ids() as I[], itemFactors: v, singularValues: ritz.slice(0, k), k, ritz,
    stats: { partitions: P, rows, users, passes, largestPartitionRows: largest, seconds: +((performance.now() - t0) / 1000).toFixed(3) },
  };
}
