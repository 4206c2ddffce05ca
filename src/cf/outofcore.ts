/**
 * Out-of-core truncated SVD for interaction matrices that fit on disk but not in memory: block subspace
 * iteration on AᵀA over the partitions of an export ({@link exportInteractions}), one partition in memory at a
 * time. Only the item side is kept (Z and AᵀA·Z, items × (k + oversample) each, float64); users live only inside
 * their partition's pass. Each iteration is one read of every partition: Y = Σ_b A_bᵀ (A_b Z), then
 * Z = orth(Y) (Cholesky QR, twice); a last pass forms the Rayleigh quotient T = Σ_b (A_b Z)ᵀ(A_b Z), whose
 * eigenvectors rotate Z into the right singular vectors V and whose eigenvalues are σ². Memory: the item
 * vectors, plus the largest partition (its CSR and its users × l block); choose the partition count for that.
 * The first pass parses the partitions (Arrow or Parquet) and keeps a raw CSR copy of each on disk
 * (`scratchDir`, 12 bytes a non-zero) that the later passes read.
 */
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { NumericalError } from '../core/errors.js';
import { IdMap } from '../core/ids.js';
import { Rng } from '../core/rng.js';
import type { Id, ProgressCallback } from '../core/types.js';
import { checkInt } from '../core/validate.js';
import { nativeKernels, type KernelChoice } from '../native/index.js';
import { CsrMatrix, gramApplyRows } from './csr.js';
import { choleskyUpper, gemmNNRows, gemmTNAcc, invUpper, mirrorUpper, symEig, syrkUpperAcc } from './dense.js';
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
  /** Folder for the scratch copy of the partitions (12 bytes a non-zero; removed at the end). @default os.tmpdir() */
  scratchDir?: string;
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

/** A partition as CSR over the global item index (rows = its users), growing the item map. */
async function partitionCsr(dir: string, manifest: ReturnType<typeof readPartitionManifest>, p: number, items: IdMap<Id>): Promise<CsrMatrix> {
  const log = await readPartition(dir, manifest, p);
  const m = log.toMatrix();
  const localItems = m.items.ids();
  const map = new Int32Array(localItems.length);
  for (let j = 0; j < localItems.length; j++) map[j] = items.add(localItems[j]);
  const idx = new Int32Array(m.csr.indices.length);
  for (let q = 0; q < idx.length; q++) idx[q] = map[m.csr.indices[q]];
  return new CsrMatrix(m.csr.rows, 0, m.csr.indptr, idx, m.csr.data);
}

/**
 * The passes after the first read each partition's CSR from a scratch file (the three arrays, raw): 12 bytes
 * a non-zero, read at disk speed, instead of parsing Arrow and rebuilding id maps every pass.
 */
async function writeScratch(file: string, a: CsrMatrix): Promise<void> {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(a.rows, 0);
  head.writeUInt32LE(a.nnz, 4);
  const fh = await fsp.open(file, 'w');
  try {
    await fh.write(head);
    for (const arr of [a.indptr, a.indices, a.data]) await fh.write(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
  } finally {
    await fh.close();
  }
}

async function readScratch(file: string, cols: number): Promise<CsrMatrix> {
  const buf = await fsp.readFile(file);
  const rows = buf.readUInt32LE(0);
  const nnz = buf.readUInt32LE(4);
  const ab = buf.buffer.slice(buf.byteOffset + 16, buf.byteOffset + buf.length);
  const indptr = new Int32Array(ab, 0, rows + 1);
  const indices = new Int32Array(ab, (rows + 1) * 4, nnz);
  const data = new Float32Array(ab, (rows + 1 + nnz) * 4, nnz);
  return new CsrMatrix(rows, cols, indptr, indices, data);
}

type Dense = { syrk(a: Float64Array, l: number, r0: number, r1: number, c: Float64Array): void; gemmNN(a: Float64Array, l: number, b: Float64Array, m: number, out: Float64Array, r0: number, r1: number, upper: boolean): void; gemmTN(a: Float64Array, l: number, b: Float64Array, m: number, r0: number, r1: number, c: Float64Array): void };
const JS_DENSE: Dense = { syrk: syrkUpperAcc, gemmNN: gemmNNRows, gemmTN: gemmTNAcc };

/** Z ← Z R⁻¹ with RᵀR = ZᵀZ (Cholesky QR), twice for orthogonality to working precision. */
function orthonormalize(z: Float64Array, n: number, l: number, k: Dense): void {
  const out = new Float64Array(z.length);
  for (let pass = 0; pass < 2; pass++) {
    const g = new Float64Array(l * l);
    k.syrk(z, l, 0, n, g);
    mirrorUpper(g, l);
    // a tiny ridge keeps Cholesky alive when the subspace is (numerically) rank deficient
    let tr = 0;
    for (let a = 0; a < l; a++) tr += g[a * l + a];
    for (let a = 0; a < l; a++) g[a * l + a] += 1e-13 * tr / l;
    const r = choleskyUpper(g, l);
    if (!r) throw new NumericalError('out-of-core SVD: the subspace lost rank (Cholesky QR failed); use fewer factors');
    k.gemmNN(z, l, invUpper(r, l), l, out, 0, n, true);
    z.set(out);
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
  // pass 0: the item ids (and the sizes); each partition's CSR goes to a scratch file for the later passes
  const scratch = await fsp.mkdtemp(path.join(options.scratchDir ?? tmpdir(), 'pinrec-ooc-'));
  try {
  const items = new IdMap<Id>();
  let users = 0;
  let rows = 0;
  let largest = 0;
  const scratchFile = (p: number) => path.join(scratch, `p${p}.csr`);
  for (let p = 0; p < P; p++) {
    const a = await partitionCsr(dir, manifest, p, items);
    await writeScratch(scratchFile(p), a);
    users += a.rows;
    rows += a.nnz;
    largest = Math.max(largest, a.nnz);
    progress?.({ stage: 'outofcore:items', done: p + 1, total: P });
  }
  const n = items.size;
  const l = Math.min(k + oversample, n);
  if (k >= n) throw new NumericalError(`out-of-core SVD: factors (${k}) must be below the number of items (${n})`);
  const rng = new Rng(options.seed ?? 0);
  const dense: Dense = native ?? JS_DENSE;
  const z = new Float64Array(n * l);
  for (let i = 0; i < z.length; i++) z[i] = rng.normal();
  orthonormalize(z, n, l, dense);
  const y = new Float64Array(n * l);
  const w = new Float64Array(l);
  // y = AᵀA z, one partition at a time: per row, a gather of z's rows and a scatter into y (no A z kept)
  const gramPass = async (stage: string) => {
    y.fill(0);
    for (let p = 0; p < P; p++) {
      const a = await readScratch(scratchFile(p), n);
      if (native) native.gramApply(a.indptr, a.indices, a.data, a.rows, a.cols, z, l, y, 0, a.rows);
      else gramApplyRows(a, z, l, y, w, 0, a.rows);
      progress?.({ stage, done: p + 1, total: P });
    }
  };
  let passes = 1;
  for (let it = 0; it < nIter; it++) {
    await gramPass(`outofcore:iter ${it + 1}`);
    passes++;
    orthonormalize(y, n, l, dense);
    z.set(y);
  }
  // Rayleigh–Ritz: T = Zᵀ (AᵀA Z), an items-side l × l product
  await gramPass('outofcore:ritz');
  passes++;
  const t = new Float64Array(l * l);
  dense.gemmTN(z, l, y, l, 0, n, t);
  for (let c = 0; c < l; c++) for (let d = c + 1; d < l; d++) { const m = 0.5 * (t[c * l + d] + t[d * l + c]); t[c * l + d] = m; t[d * l + c] = m; }
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
  return {
    itemIds: items.ids() as I[], itemFactors: v, singularValues: ritz.slice(0, k), k, ritz,
    stats: { partitions: P, rows, users, passes, largestPartitionRows: largest, seconds: +((performance.now() - t0) / 1000).toFixed(3) },
  };
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}
