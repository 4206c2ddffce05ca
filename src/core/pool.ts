/**
 * One small worker-thread pool, shared by HNSW batch search (src/ann/pool.ts) and the embedding workers
 * (src/embeddings/pool.ts). Internal (not exported from the package index).
 *
 * Lifecycle and contracts:
 * - {@link ThreadPool.start} spawns `size` workers from a CommonJS `source` (run with `eval: true`) or a module
 *   `file` (a `.ts` file is run through tsx's loader, for tests and benchmarks run from source), sends each the
 *   `init` value as `workerData`, and waits for every worker's ready handshake. A worker that fails to
 *   initialise (or exits first) fails `start` with its own error, and every started worker is terminated.
 * - Each worker has at most ONE job in flight. A job has its own id and its own completion: the reply carrying
 *   that id settles that job's promise and nothing else. {@link ThreadPool.run} queues a job for the first
 *   idle worker (or for one given worker); {@link ThreadPool.broadcast} queues one copy on every live worker.
 * - A worker that crashes or exits fails its in-flight and queued jobs with a {@link WorkerError} and is
 *   never scheduled, nor awaited, again; when no worker is left, every queued job fails too.
 * - An error thrown by a job (or by `init`) in the worker is serialised (name, code, message, stack, own
 *   fields) and rebuilt in the caller with its class ({@link deserializeError}), so `instanceof` holds.
 * - {@link ThreadPool.close} rejects every pending and queued job with a {@link ClosedError} at once, asks
 *   the workers to exit after their current job (never terminating one inside a native call unless it
 *   overruns `closeTimeoutMs`) and resolves once they have all exited. Later calls reject with `ClosedError`.
 * - Ownership: a worker is `ref`'d only while it has a job in flight, so idle workers never keep the process
 *   alive; their threads and memory are held until `close()`, which the owner (index, embedder) must call.
 *
 * Worker side: a worker calls {@link serveWorker} (from a module file) or, in an eval'd `source`, the global
 * `serve` that {@link ThreadPool.start} prepends — the same code either way ({@link WORKER_RUNTIME}).
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ClosedError, WorkerError, deserializeError, type SerializedError } from './errors.js';

/**
 * The worker-side protocol, as plain CommonJS so that it runs both in eval'd sources and (through
 * {@link serveWorker}) in module workers. Defines `serve({ init?, run })`:
 * - `init(workerData)` runs once (may be async); its return value is the ready handshake's `info`;
 * - `run(job, ctx)` answers one job (may be async); `ctx.transfer(...buffers)` transfers buffers with the reply.
 * Messages: to the worker `{ t: 'job', id, job }`; from it `{ t: 'ready', info }`, `{ t: 'init-error', error }`,
 * `{ t: 'result', id, value }`, `{ t: 'error', id, error }`; `{ t: 'close' }` makes the worker exit once its
 * current job (if any) has finished.
 */
export const WORKER_RUNTIME = String.raw`
const __pinrecWt = require('node:worker_threads');
function __pinrecDescribe(v) {
  if (typeof v === 'function') return 'function ' + (v.name || '(anonymous)');
  if (typeof v === 'symbol') return v.toString();
  return Object.prototype.toString.call(v);
}
function __pinrecSerializeError(e, depth) {
  if (e === null || typeof e !== 'object') return { name: 'Error', message: String(e) };
  const out = { name: typeof e.name === 'string' ? e.name : 'Error', message: typeof e.message === 'string' ? e.message : String(e) };
  if (typeof e.code === 'string') out.code = e.code;
  if (typeof e.stack === 'string') out.stack = e.stack;
  const fields = {};
  for (const key of Object.keys(e)) {
    if (key === 'name' || key === 'message' || key === 'stack' || key === 'code' || key === 'cause') continue;
    let v = e[key];
    try { structuredClone(v); } catch (_) { v = __pinrecDescribe(v); }
    fields[key] = v;
  }
  out.fields = fields;
  if (e.cause !== undefined && (depth || 0) < 3) out.cause = __pinrecSerializeError(e.cause, (depth || 0) + 1);
  return out;
}
function serve(handlers) {
  const port = __pinrecWt.parentPort;
  if (!port) throw new Error('pinrec: serve() must run in a worker thread');
  // Leave between jobs when asked (never terminated mid-call: native addons abort the process on that).
  port.on('message', (m) => { if (m && m.t === 'close') { port.close(); process.exit(0); } });
  const onMessage = (m) => {
    if (!m || m.t !== 'job') return;
    const transfer = [];
    const ctx = { transfer: (...buffers) => { transfer.push(...buffers); } };
    new Promise((resolve) => resolve(handlers.run(m.job, ctx))).then((value) => {
      try { port.postMessage({ t: 'result', id: m.id, value }, transfer); }
      catch (e) { port.postMessage({ t: 'error', id: m.id, error: __pinrecSerializeError(e) }); }
    }, (e) => { port.postMessage({ t: 'error', id: m.id, error: __pinrecSerializeError(e) }); });
  };
  new Promise((resolve) => resolve(handlers.init ? handlers.init(__pinrecWt.workerData) : undefined)).then((info) => {
    port.on('message', onMessage);
    port.postMessage({ t: 'ready', info: info === undefined ? null : info });
  }, (e) => { port.postMessage({ t: 'init-error', error: __pinrecSerializeError(e) }); });
}
`;

/** What a job handler may do besides returning its result. */
export interface JobContext {
  /** Transfer these buffers with the reply instead of copying them. */
  transfer(...buffers: ArrayBuffer[]): void;
}

/** The handlers a worker serves. */
export interface WorkerHandlers<Init, Job, Result, Info = unknown> {
  /** Runs once with the pool's `init` value; the return value becomes the ready handshake's `info`. */
  init?(data: Init): Info | Promise<Info>;
  /** Answers one job; a throw (or rejection) becomes the job's error in the caller, with its class. */
  run(job: Job, ctx: JobContext): Result | Promise<Result>;
}

let serveImpl: ((h: unknown) => void) | undefined;

/**
 * Serve jobs from a module worker (the file given to {@link ThreadPool.start}).
 * @example serveWorker<Init, Job, Result>({ init: (d) => load(d), run: (job) => answer(job) });
 */
export function serveWorker<Init, Job, Result, Info = unknown>(handlers: WorkerHandlers<Init, Job, Result, Info>): void {
  serveImpl ??= new Function('require', `${WORKER_RUNTIME}\nreturn serve;`)(createRequire(import.meta.url)) as (h: unknown) => void;
  serveImpl(handlers);
}

/** Where a worker's code comes from: CommonJS source that calls `serve(...)`, or a module file that calls {@link serveWorker}. */
export type WorkerScript = { source: string } | { file: URL };

/** Options of {@link ThreadPool.start}. */
export interface ThreadPoolOptions<Init> {
  /** Number of workers (>= 1). */
  size: number;
  script: WorkerScript;
  /** Passed to every worker's `init` (structured-cloned, as `workerData`). */
  init?: Init;
  /** Used in error messages, e.g. `'search worker'`. */
  name: string;
  /**
   * How long {@link ThreadPool.close} waits for a busy worker to finish its job and exit before terminating it.
   * `Infinity` never terminates (for workers in native addons such as hnswlib, which abort the whole process
   * when their thread is terminated inside a native call). @default 2000
   */
  closeTimeoutMs?: number;
}

/** Options of {@link ThreadPool.run}. */
export interface RunOptions {
  /** Buffers transferred to the worker with the job (the caller must not reuse them). */
  transfer?: ArrayBuffer[];
  /** Run on this worker (index in `0 .. size-1`) instead of the first idle one. */
  worker?: number;
}

interface PendingJob {
  id: number;
  job: unknown;
  transfer: ArrayBuffer[];
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

interface Slot {
  readonly index: number;
  readonly worker: Worker;
  alive: boolean;
  ready: boolean;
  current: PendingJob | null;
  readonly queue: PendingJob[];
  readonly exited: Promise<void>;
  onReady?: (info: unknown) => void;
  onInitError?: (e: Error) => void;
}

let liveCount = 0;

/** Worker threads started by any {@link ThreadPool} of this thread that have not exited yet (diagnostics). */
export function liveWorkerCount(): number {
  return liveCount;
}

function spawn(script: WorkerScript, workerData: unknown): Worker {
  if ('source' in script) return new Worker(`${WORKER_RUNTIME}\n${script.source}`, { eval: true, workerData });
  const file = fileURLToPath(script.file);
  const ext = path.extname(file);
  if (ext !== '.ts' && ext !== '.mts' && ext !== '.cts') return new Worker(script.file, { workerData });
  // Running from source (tests, benchmarks under tsx/vitest): register tsx's ESM loader in the worker first.
  const req = createRequire(import.meta.url);
  const tsxApi = pathToFileURL(path.join(path.dirname(req.resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(script.file.href)}); })`
    + `.catch((e) => { require('node:worker_threads').parentPort.postMessage({ t: 'init-error', error: { name: 'Error', message: String((e && e.stack) || e) } }); });`;
  return new Worker(code, { eval: true, workerData });
}

/** Ask a worker to exit between jobs; terminate it if it has not within `timeoutMs`. Resolves when it has exited. */
function stopWorker(s: Slot, timeoutMs: number): Promise<void> {
  if (!s.alive) return s.exited;
  // A closing worker keeps the process alive until it has exited: an unref'd one could be abandoned mid-exit
  // with the caller's `await close()` never settling (Node exits with "unsettled top-level await").
  s.worker.ref();
  try { s.worker.postMessage({ t: 'close' }); } catch { /* already closing */ }
  if (!Number.isFinite(timeoutMs)) return s.exited;
  const timer = setTimeout(() => { void s.worker.terminate().catch(() => undefined); }, Math.max(0, timeoutMs));
  return s.exited.finally(() => clearTimeout(timer));
}

/** A fixed set of worker threads with one job in flight per worker. See the module comment for the contracts. */
export class ThreadPool<Job, Result, Info = unknown> {
  /** Number of workers started. */
  readonly size: number;
  /** Each worker's ready-handshake `info` (what its `init` returned). */
  readonly infos: readonly Info[];
  private readonly slots: Slot[];
  private readonly shared: PendingJob[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(readonly name: string, slots: Slot[], infos: Info[], private readonly closeTimeoutMs: number) {
    this.slots = slots;
    this.size = slots.length;
    this.infos = infos;
  }

  /**
   * Start `size` workers and wait for each one's ready handshake.
   * @throws the error a worker's `init` threw (with its class), or {@link WorkerError} when a worker crashed or exited
   */
  static async start<Job, Result, Info = unknown, Init = unknown>(options: ThreadPoolOptions<Init>): Promise<ThreadPool<Job, Result, Info>> {
    const slots: Slot[] = [];
    let pool: ThreadPool<Job, Result, Info> | undefined;
    const readies: Promise<unknown>[] = [];
    try {
      for (let i = 0; i < options.size; i++) {
        const worker = spawn(options.script, options.init);
        liveCount++;
        let exitedResolve!: () => void;
        const exited = new Promise<void>((r) => { exitedResolve = r; });
        const slot: Slot = { index: i, worker, alive: true, ready: false, current: null, queue: [], exited };
        slots.push(slot);
        readies.push(new Promise((resolve, reject) => { slot.onReady = resolve; slot.onInitError = reject; }));
        worker.on('message', (m: { t?: string; id?: number; value?: unknown; error?: SerializedError; info?: unknown }) => {
          if (m?.t === 'ready') { slot.ready = true; slot.onReady?.(m.info); }
          else if (m?.t === 'init-error') slot.onInitError?.(deserializeError(m.error!));
          else if ((m?.t === 'result' || m?.t === 'error') && slot.current !== null && slot.current.id === m.id) {
            const job: PendingJob = slot.current;
            slot.current = null;
            if (m.t === 'result') job.resolve(m.value);
            else job.reject(deserializeError(m.error!));
            pool?.dispatch(slot);
          }
        });
        worker.on('error', (e: Error) => {
          const err = new WorkerError(`${options.name} ${i} crashed: ${e?.message ?? String(e)}`, { cause: e });
          if (!slot.ready) slot.onInitError?.(err);
          pool?.lose(slot, err);
        });
        worker.once('exit', (code: number) => {
          liveCount--;
          const err = new WorkerError(`${options.name} ${i} exited with code ${code}`, { exitCode: code });
          if (!slot.ready) slot.onInitError?.(err);
          pool?.lose(slot, err);
          slot.alive = false;
          exitedResolve();
        });
      }
      const infos = (await Promise.all(readies)) as Info[];
      pool = new ThreadPool<Job, Result, Info>(options.name, slots, infos, options.closeTimeoutMs ?? 2000);
      for (const s of slots) {
        if (!s.alive) pool.lose(s, new WorkerError(`${options.name} ${s.index} exited`));
        s.worker.unref();
      }
      return pool;
    } catch (e) {
      // Let the other workers finish their init (never terminate one inside it), then ask them to leave.
      await Promise.allSettled(readies);
      await Promise.all(slots.map((s) => stopWorker(s, options.closeTimeoutMs ?? 2000)));
      throw e;
    }
  }

  /** Number of workers still running. */
  get live(): number {
    return this.slots.reduce((n, s) => n + (s.alive ? 1 : 0), 0);
  }

  /** Whether worker `i` is still running. */
  isAlive(i: number): boolean {
    return this.slots[i]?.alive === true;
  }

  /** Run one job on the first idle worker (or on `options.worker`); resolves with the worker's result. */
  run(job: Job, options: RunOptions = {}): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      const p: PendingJob = { id: this.nextId++, job, transfer: options.transfer ?? [], resolve: resolve as (v: unknown) => void, reject };
      if (this.closed) { reject(new ClosedError(`the ${this.name} pool was closed`)); return; }
      if (options.worker !== undefined) {
        const s = this.slots[options.worker];
        if (!s) { reject(new WorkerError(`${this.name} ${options.worker} does not exist`)); return; }
        if (!s.alive) { reject(new WorkerError(`${this.name} ${options.worker} is not running`)); return; }
        s.queue.push(p);
        this.dispatch(s);
        return;
      }
      if (this.live === 0) { reject(new WorkerError(`no ${this.name} is running`)); return; }
      this.shared.push(p);
      for (const s of this.slots) if (this.shared.length > 0) this.dispatch(s);
    });
  }

  /** Run a copy of `job` on every live worker (each in its own queue); resolves with their results in worker order. */
  broadcast(job: Job): Promise<Result[]> {
    if (this.closed) return Promise.reject(new ClosedError(`the ${this.name} pool was closed`));
    const live = this.slots.filter((s) => s.alive);
    if (live.length === 0) return Promise.reject(new WorkerError(`no ${this.name} is running`));
    return Promise.all(live.map((s) => this.run(job, { worker: s.index })));
  }

  /**
   * Terminate worker `i` now (its jobs fail with {@link WorkerError}); resolves once it has exited. For tests and
   * recovery; not for workers that may be inside a native addon call (see `closeTimeoutMs`).
   */
  async terminateWorker(i: number): Promise<void> {
    const s = this.slots[i];
    if (!s) return;
    if (s.alive) await s.worker.terminate().catch(() => undefined);
    await s.exited;
  }

  /**
   * Reject every pending and queued job with `reason` (default {@link ClosedError}) at once, ask every worker to
   * exit after its current job (terminating it after `closeTimeoutMs`), and resolve once all have exited.
   * Safe to call twice.
   */
  async close(reason?: Error): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      const err = reason ?? new ClosedError(`the ${this.name} pool was closed`);
      for (const p of this.shared.splice(0)) p.reject(err);
      for (const s of this.slots) {
        for (const p of s.queue.splice(0)) p.reject(err);
        const cur = s.current;
        s.current = null;
        cur?.reject(err);
      }
    }
    await Promise.all(this.slots.map((s) => stopWorker(s, this.closeTimeoutMs)));
  }

  /** Give an idle live worker its next job: its own queue first, then the shared queue. */
  private dispatch(s: Slot): void {
    while (!this.closed && s.alive && s.current === null) {
      const p = s.queue.shift() ?? this.shared.shift();
      if (!p) { s.worker.unref(); return; }
      s.current = p;
      s.worker.ref();
      try {
        s.worker.postMessage({ t: 'job', id: p.id, job: p.job }, p.transfer);
        return;
      } catch (e) {
        s.current = null;
        p.reject(e instanceof Error ? e : new WorkerError(String(e)));
      }
    }
  }

  /** A worker died: fail its jobs, never schedule on it again; fail the shared queue when none is left. */
  private lose(s: Slot, err: Error): void {
    if (!s.alive && s.current === null && s.queue.length === 0) return;
    s.alive = false;
    s.worker.unref();
    const cur = s.current;
    s.current = null;
    cur?.reject(err);
    for (const p of s.queue.splice(0)) p.reject(err);
    if (this.live === 0) for (const p of this.shared.splice(0)) p.reject(err);
  }
}
