/**
 * A small synchronous thread pool for the SVD's row-parallel kernels. Worker threads run the same kernel
 * functions as the main thread (their source is shipped to the workers as text, so nothing depends on where
 * the compiled files live), over `SharedArrayBuffer`s, and the main thread takes its own share of every job and
 * then waits on `Atomics.wait` — so `fit()` stays synchronous while every core works.
 *
 * The pool is created on first use, its threads are `unref()`ed (they never keep a process alive) and it is
 * shared by every fit in the process. Fits from several threads or re-entrant fits are not supported.
 */
import { defaultThreads } from '../core/threads.js';
import { Worker } from 'node:worker_threads';
import { gramApplyRows, spmmRows, spmmRowsF32 } from './csr.js';
import { gemmNNRows, gemmTNAcc, syrkUpperAcc } from './dense.js';
import { nativeAddonFile, nativeKernels, type KernelChoice, type NativeKernels } from '../native/index.js';

/** CSR arrays backed by shared memory. */
export interface SharedCsr {
  rows: number;
  cols: number;
  indptr: Int32Array;
  indices: Int32Array;
  data: Float32Array;
}

type Job =
  | { op: 'spmm'; a: SharedCsr; z: Float64Array; l: number; out: Float64Array; r0: number; r1: number; nat?: boolean }
  | { op: 'gramApply'; a: SharedCsr; z: Float64Array; l: number; y: Float64Array; r0: number; r1: number; nat?: boolean }
  | { op: 'spmmF32'; a: SharedCsr; z: Float32Array; l: number; out: Float32Array | Float64Array; r0: number; r1: number; nat?: boolean }
  | { op: 'syrk'; z: Float64Array; l: number; r0: number; r1: number; g: Float64Array; nat?: boolean }
  | { op: 'trmm'; z: Float64Array; l: number; ri: Float64Array; r0: number; r1: number; nat?: boolean }
  | { op: 'gemm'; a: Float64Array; l: number; b: Float64Array; m: number; out: Float64Array; r0: number; r1: number; nat?: boolean }
  | { op: 'gemmTN'; a: Float64Array; l: number; b: Float64Array; m: number; r0: number; r1: number; c: Float64Array; nat?: boolean };

/** Run one job with the native kernels `n` when the job asks for them, else with the JavaScript ones. */
function runJobWith(n: NativeKernels | null, job: Job): void {
  if (job.nat && n) {
    if (job.op === 'gramApply') n.gramApply(job.a.indptr, job.a.indices, job.a.data, job.a.rows, job.a.cols, job.z, job.l, job.y, job.r0, job.r1);
    else if (job.op === 'spmm') n.spmm(job.a.indptr, job.a.indices, job.a.data, job.a.rows, job.a.cols, job.z, job.l, job.out, job.r0, job.r1);
    else if (job.op === 'spmmF32') n.spmmF32(job.a.indptr, job.a.indices, job.a.data, job.a.rows, job.a.cols, job.z, job.l, job.out, job.r0, job.r1);
    else if (job.op === 'syrk') n.syrk(job.z, job.l, job.r0, job.r1, job.g);
    else if (job.op === 'trmm') n.gemmNN(job.z, job.l, job.ri, job.l, job.z, job.r0, job.r1, true);
    else if (job.op === 'gemm') n.gemmNN(job.a, job.l, job.b, job.m, job.out, job.r0, job.r1, false);
    else n.gemmTN(job.a, job.l, job.b, job.m, job.r0, job.r1, job.c);
    return;
  }
  runJob(job);
}

function runJob(job: Job): void {
  if (job.op === 'gramApply') gramApplyRows(job.a as never, job.z, job.l, job.y, new Float64Array(job.l), job.r0, job.r1);
  else if (job.op === 'spmm') spmmRows(job.a as never, job.z, job.l, job.out, job.r0, job.r1);
  else if (job.op === 'spmmF32') spmmRowsF32(job.a, job.z, job.l, job.out, new Float64Array(job.l), job.r0, job.r1);
  else if (job.op === 'syrk') syrkUpperAcc(job.z, job.l, job.r0, job.r1, job.g);
  else if (job.op === 'trmm') gemmNNRows(job.z, job.l, job.ri, job.l, job.z, job.r0, job.r1, true);
  else if (job.op === 'gemm') gemmNNRows(job.a, job.l, job.b, job.m, job.out, job.r0, job.r1, false);
  else gemmTNAcc(job.a, job.l, job.b, job.m, job.r0, job.r1, job.c);
}

// The kernels' own source text is shipped (their bodies use only their arguments and globals); the dispatcher is
// written out here because a transformed module may rename imported bindings inside function bodies.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let N = null;
try { if (workerData && workerData.addon) N = require(workerData.addon); } catch (e) { N = null; }
${spmmRows.toString()}
${gramApplyRows.toString()}
${spmmRowsF32.toString()}
${syrkUpperAcc.toString()}
${gemmNNRows.toString()}
${gemmTNAcc.toString()}
function runJob(job) {
  if (job.nat && N) {
    if (job.op === 'gramApply') N.gramApply(job.a.indptr, job.a.indices, job.a.data, job.a.rows, job.a.cols, job.z, job.l, job.y, job.r0, job.r1);
    else if (job.op === 'spmm') N.spmm(job.a.indptr, job.a.indices, job.a.data, job.a.rows, job.a.cols, job.z, job.l, job.out, job.r0, job.r1);
    else if (job.op === 'spmmF32') N.spmmF32(job.a.indptr, job.a.indices, job.a.data, job.a.rows, job.a.cols, job.z, job.l, job.out, job.r0, job.r1);
    else if (job.op === 'syrk') N.syrk(job.z, job.l, job.r0, job.r1, job.g);
    else if (job.op === 'trmm') N.gemmNN(job.z, job.l, job.ri, job.l, job.z, job.r0, job.r1, true);
    else if (job.op === 'gemm') N.gemmNN(job.a, job.l, job.b, job.m, job.out, job.r0, job.r1, false);
    else N.gemmTN(job.a, job.l, job.b, job.m, job.r0, job.r1, job.c);
    return;
  }
  if (job.op === 'gramApply') gramApplyRows(job.a, job.z, job.l, job.y, new Float64Array(job.l), job.r0, job.r1);
  else if (job.op === 'spmm') spmmRows(job.a, job.z, job.l, job.out, job.r0, job.r1);
  else if (job.op === 'spmmF32') spmmRowsF32(job.a, job.z, job.l, job.out, new Float64Array(job.l), job.r0, job.r1);
  else if (job.op === 'syrk') syrkUpperAcc(job.z, job.l, job.r0, job.r1, job.g);
  else if (job.op === 'trmm') gemmNNRows(job.z, job.l, job.ri, job.l, job.z, job.r0, job.r1, true);
  else if (job.op === 'gemm') gemmNNRows(job.a, job.l, job.b, job.m, job.out, job.r0, job.r1, false);
  else gemmTNAcc(job.a, job.l, job.b, job.m, job.r0, job.r1, job.c);
}
parentPort.on('message', (m) => {
  try { runJob(m.job); Atomics.store(m.flag, m.slot, 1); }
  catch (e) { Atomics.store(m.flag, m.slot, 2); }
  Atomics.notify(m.flag, m.slot);
});
`;

/** Copy a typed array into shared memory. */
export function shared<T extends Int32Array | Float32Array | Float64Array>(src: T): T {
  const ctor = src.constructor as { new (b: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number };
  const out = new ctor(new SharedArrayBuffer(src.length * ctor.BYTES_PER_ELEMENT));
  (out as unknown as { set(a: ArrayLike<number>): void }).set(src);
  return out;
}

/** Whether a typed array lives in shared memory (a SharedArrayBuffer). */
export function isShared(a: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;
}

/** A zeroed Float64Array in shared memory. */
export function sharedF64(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(n * 8));
}

class Pool {
  private readonly flag: Int32Array;
  constructor(private readonly workers: Worker[]) {
    this.flag = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, workers.length)));
  }
  get threads(): number {
    return this.workers.length + 1;
  }
  /** Run jobs[0] on this thread and jobs[1..] on workers; wait for all. */
  run(jobs: Job[], native: NativeKernels | null): void {
    const nw = Math.min(jobs.length - 1, this.workers.length);
    for (let i = 0; i < nw; i++) {
      Atomics.store(this.flag, i, 0);
      this.workers[i].postMessage({ job: jobs[i + 1], flag: this.flag, slot: i });
    }
    for (let i = nw + 1; i < jobs.length; i++) runJobWith(native, jobs[i]);
    runJobWith(native, jobs[0]);
    let failed = false;
    for (let i = 0; i < nw; i++) {
      while (Atomics.load(this.flag, i) === 0) Atomics.wait(this.flag, i, 0, 1000);
      if (Atomics.load(this.flag, i) === 2) failed = true;
    }
    if (failed) throw new Error('an SVD worker thread failed');
  }
}

let pool: Pool | undefined;

/** Number of threads the SVD uses by default: the library's thread budget (see core/threads.ts). */
export { defaultThreads };

function getPool(threads: number): Pool {
  const want = threads - 1;
  if (!pool || pool.threads - 1 < want) {
    const workers: Worker[] = [];
    for (let i = 0; i < want; i++) {
      const addon = nativeKernels('auto') ? nativeAddonFile() : null;
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { addon } });
      w.unref();
      workers.push(w);
    }
    pool = new Pool(workers);
  }
  return pool;
}

/** Split [0, rows) into `parts` ranges with about equal nonzeros. */
function splitByNnz(indptr: Int32Array, rows: number, parts: number): number[] {
  const cuts = [0];
  const total = indptr[rows];
  for (let p = 1; p < parts; p++) {
    const target = (total * p) / parts;
    let lo = cuts[cuts.length - 1], hi = rows;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (indptr[mid] < target) lo = mid + 1; else hi = mid; }
    cuts.push(lo);
  }
  cuts.push(rows);
  return cuts;
}

function splitRows(rows: number, parts: number): number[] {
  return Array.from({ length: parts + 1 }, (_, p) => Math.round((rows * p) / parts));
}

/** Row-parallel kernels over shared memory; with `threads = 1` they run inline. */
export class ParallelKernels {
  private readonly pool?: Pool;
  readonly threads: number;
  /** The native kernels in use, or null for the JavaScript ones (both give the same results bit for bit). */
  readonly native: NativeKernels | null;
  constructor(threads: number, kernels: KernelChoice = 'auto') {
    this.threads = Math.max(1, Math.floor(threads));
    this.native = nativeKernels(kernels);
    if (this.threads > 1) this.pool = getPool(this.threads);
  }

  /** Which kernels run: `'native:<isa>'` or `'js'`. */
  get path(): string {
    return this.native ? `native:${this.native.isa}` : 'js';
  }

  private one(job: Job): void {
    runJobWith(this.native, { ...job, nat: this.native !== null } as Job);
  }

  private many(jobs: Job[]): void {
    const nat = this.native !== null;
    this.pool!.run(jobs.map((j) => ({ ...j, nat }) as Job), this.native);
  }

  /** out = A · Z. */
  spmm(a: SharedCsr, z: Float64Array, l: number, out: Float64Array): void {
    if (!this.pool || a.rows < 64) { this.one({ op: 'spmm', a, z, l, out, r0: 0, r1: a.rows }); return; }
    const cuts = splitByNnz(a.indptr, a.rows, this.threads);
    this.many(cuts.slice(0, -1).map((r0, i) => ({ op: 'spmm' as const, a, z, l, out, r0, r1: cuts[i + 1] })));
  }

  /** out = A · Z for a float32 Z (rows summed in float64, rounded once into out; see spmmRowsF32). */
  spmmF32(a: SharedCsr, z: Float32Array, l: number, out: Float32Array | Float64Array): void {
    if (!this.pool || a.rows < 64) { this.one({ op: 'spmmF32', a, z, l, out, r0: 0, r1: a.rows }); return; }
    const cuts = splitByNnz(a.indptr, a.rows, this.threads);
    this.many(cuts.slice(0, -1).map((r0, i) => ({ op: 'spmmF32' as const, a, z, l, out, r0, r1: cuts[i + 1] })));
  }

  /** y = Aᵀ(A Z) without forming A Z; `partials` are per-thread n × l buffers reused across calls. */
  gramApply(a: SharedCsr, z: Float64Array, l: number, y: Float64Array, partials: Float64Array[]): void {
    y.fill(0);
    if (!this.pool || a.rows < 64) { this.one({ op: 'gramApply', a, z, l, y, r0: 0, r1: a.rows }); return; }
    const cuts = splitByNnz(a.indptr, a.rows, this.threads);
    const outs = [y, ...partials.slice(0, this.threads - 1)];
    for (let i = 1; i < outs.length; i++) outs[i].fill(0);
    this.many(cuts.slice(0, -1).map((r0, i) => ({ op: 'gramApply' as const, a, z, l, y: outs[i], r0, r1: cuts[i + 1] })));
    for (let i = 1; i < outs.length; i++) { const p = outs[i]; for (let t = 0; t < y.length; t++) y[t] += p[t]; }
  }

  /** ZᵀZ (upper triangle filled; caller mirrors). */
  syrk(z: Float64Array, n: number, l: number): Float64Array {
    if (!this.pool || n < 256) { const g = new Float64Array(l * l); this.one({ op: 'syrk', z, l, r0: 0, r1: n, g }); return g; }
    const cuts = splitRows(n, this.threads);
    const parts = cuts.slice(0, -1).map(() => sharedF64(l * l));
    this.many(cuts.slice(0, -1).map((r0, i) => ({ op: 'syrk' as const, z, l, r0, r1: cuts[i + 1], g: parts[i] })));
    const g = parts[0];
    for (let i = 1; i < parts.length; i++) for (let t = 0; t < g.length; t++) g[t] += parts[i][t];
    return g;
  }

  /** A (n × l) · B (l × m). */
  gemm(a: Float64Array, n: number, l: number, b: Float64Array, m: number): Float64Array {
    const out = this.pool ? sharedF64(n * m) : new Float64Array(n * m);
    if (!this.pool || n < 256) { this.one({ op: 'gemm', a, l, b, m, out, r0: 0, r1: n }); return out; }
    const cuts = splitRows(n, this.threads);
    const bs = shared(b);
    this.many(cuts.slice(0, -1).map((r0, i) => ({ op: 'gemm' as const, a, l, b: bs, m, out, r0, r1: cuts[i + 1] })));
    return out;
  }

  /** Aᵀ B for A (n × l), B (n × m). */
  gemmTN(a: Float64Array, n: number, l: number, b: Float64Array, m: number): Float64Array {
    if (!this.pool || n < 256) { const c = new Float64Array(l * m); this.one({ op: 'gemmTN', a, l, b, m, r0: 0, r1: n, c }); return c; }
    const cuts = splitRows(n, this.threads);
    const parts = cuts.slice(0, -1).map(() => sharedF64(l * m));
    this.many(cuts.slice(0, -1).map((r0, i) => ({ op: 'gemmTN' as const, a, l, b, m, r0, r1: cuts[i + 1], c: parts[i] })));
    const c = parts[0];
    for (let i = 1; i < parts.length; i++) for (let t = 0; t < c.length; t++) c[t] += parts[i][t];
    return c;
  }

  /** Z ← Z · Rinv for an upper-triangular Rinv (in place). */
  trmm(z: Float64Array, n: number, l: number, ri: Float64Array): void {
    if (!this.pool || n < 256) { this.one({ op: 'trmm', z, l, ri, r0: 0, r1: n }); return; }
    const cuts = splitRows(n, this.threads);
    const rs = shared(ri);
    this.many(cuts.slice(0, -1).map((r0, i) => ({ op: 'trmm' as const, z, l, ri: rs, r0, r1: cuts[i + 1] })));
  }
}
