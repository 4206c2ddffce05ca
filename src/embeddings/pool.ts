/**
 * A pool of worker threads, each with its own TF.js instance and a copy of the model, so inference uses every
 * core (TF.js's wasm backend cannot run multi-threaded in Node). Jobs go to the first idle worker.
 *
 * The worker file is found beside this module: `worker.js` when running compiled from `dist/`, or
 * `worker.ts` when running from source (tests, benchmarks under tsx/vitest), in which case the worker first
 * registers tsx's ESM loader.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PinrecError } from '../core/errors.js';
import { ModelLoadError } from './errors.js';
import type { BackendName } from './backend.js';
import type { ModelStructure } from './extractor.js';
import type { FromWorker, InitMessage, SerializedError, ToWorker } from './protocol.js';

function rebuild(e: SerializedError): PinrecError {
  const err = new PinrecError(e.code, e.message);
  err.name = e.name;
  return err;
}

/** Start one worker thread running the embeddings worker module. */
export function spawnWorker(): Worker {
  const here = import.meta.url;
  const ext = path.extname(fileURLToPath(here));
  if (ext === '.ts' || ext === '.mts') {
    const workerUrl = new URL('./worker.ts', here).href;
    const req = createRequire(here);
    const tsxApi = pathToFileURL(path.join(path.dirname(req.resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
    const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(workerUrl)}); })`
      + `.catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'init-error', error: { name: 'Error', code: 'WORKER', message: String(e && e.stack || e) } }); });`;
    return new Worker(code, { eval: true });
  }
  return new Worker(new URL('./worker.js', here));
}

interface Slot {
  worker: Worker;
  busy: boolean;
  pending: Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>;
}

/** Worker pool for {@link FeatureExtractor} inference. */
export class WorkerPool {
  readonly size: number;
  readonly backend: BackendName;
  readonly structure: ModelStructure;
  private readonly slots: Slot[];
  private readonly queue: { msg: ToWorker; transfer: ArrayBuffer[]; resolve: (v: never) => void; reject: (e: Error) => void }[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(slots: Slot[], backend: BackendName, structure: ModelStructure) {
    this.slots = slots;
    this.size = slots.length;
    this.backend = backend;
    this.structure = structure;
    for (const s of slots) this.wire(s);
  }

  /**
   * Start `n` workers and load the model in each (in parallel).
   * @throws {ModelLoadError} when a worker fails to start or load the model
   */
  static async start(n: number, init: Omit<InitMessage, 'type'>): Promise<WorkerPool> {
    const workers: Worker[] = [];
    try {
      const readies = await Promise.all(Array.from({ length: n }, () => {
        const w = spawnWorker();
        workers.push(w);
        return new Promise<{ backend: BackendName; structure: ModelStructure }>((resolve, reject) => {
          const onMsg = (m: FromWorker) => {
            if (m.type === 'ready') { cleanup(); resolve({ backend: m.backend, structure: m.structure }); }
            else if (m.type === 'init-error') { cleanup(); reject(new ModelLoadError(init.source, `worker failed to load the model: ${m.error.message}`)); }
          };
          const onErr = (e: Error) => { cleanup(); reject(new ModelLoadError(init.source, `worker crashed while loading: ${e.message}`, { cause: e })); };
          const onExit = (code: number) => { cleanup(); reject(new ModelLoadError(init.source, `worker exited with code ${code} while loading`)); };
          const cleanup = () => { w.off('message', onMsg); w.off('error', onErr); w.off('exit', onExit); };
          w.on('message', onMsg);
          w.on('error', onErr);
          w.on('exit', onExit);
          w.postMessage({ type: 'init', ...init } satisfies InitMessage);
        });
      }));
      const slots = workers.map((worker) => ({ worker, busy: false, pending: new Map() }));
      return new WorkerPool(slots, readies[0].backend, readies[0].structure);
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
  }

  private wire(s: Slot): void {
    s.worker.on('message', (m: FromWorker) => {
      if (m.type !== 'result' && m.type !== 'error' && m.type !== 'tensors') return;
      const p = s.pending.get(m.id);
      if (!p) return;
      s.pending.delete(m.id);
      if (m.type !== 'tensors') s.busy = false;
      if (m.type === 'result') p.resolve(m.features as never);
      else if (m.type === 'tensors') p.resolve(m.count as never);
      else p.reject(rebuild(m.error));
      this.pump();
    });
    const fail = (err: Error) => {
      for (const p of s.pending.values()) p.reject(err);
      s.pending.clear();
      s.busy = true; // never schedule on a dead worker again
      if (this.slots.every((x) => x.busy && x.pending.size === 0)) {
        for (const q of this.queue.splice(0)) q.reject(err);
      }
    };
    s.worker.on('error', (e) => fail(new PinrecError('WORKER', `embedding worker crashed: ${e.message}`)));
    s.worker.on('exit', (code) => { if (!this.closed) fail(new PinrecError('WORKER', `embedding worker exited with code ${code}`)); });
  }

  private pump(): void {
    for (const s of this.slots) {
      if (this.queue.length === 0) return;
      if (s.busy) continue;
      const job = this.queue.shift()!;
      const id = (job.msg as { id: number }).id;
      s.busy = true;
      s.pending.set(id, { resolve: job.resolve, reject: job.reject });
      s.worker.postMessage(job.msg, job.transfer);
    }
  }

  private submit<T>(msg: ToWorker, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new PinrecError('CLOSED', 'the embedder was disposed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ msg, transfer, resolve: resolve as (v: never) => void, reject });
      this.pump();
    });
  }

  /** Raw pooled features for `n` decoded images; `pixels` is transferred to the worker (do not reuse it). */
  infer(pixels: Uint8Array, n: number): Promise<Float32Array> {
    const id = this.nextId++;
    const own = pixels.byteOffset === 0 && pixels.byteLength === pixels.buffer.byteLength ? pixels : pixels.slice();
    return this.submit<Float32Array>({ type: 'infer', id, pixels: own, n }, [own.buffer as ArrayBuffer]);
  }

  /** Live tensor count in each worker (waits for queued jobs on that worker). */
  async numTensors(): Promise<number[]> {
    const out: number[] = [];
    for (const s of this.slots) {
      const id = this.nextId++;
      out.push(await new Promise<number>((resolve, reject) => {
        s.pending.set(id, { resolve: resolve as (v: never) => void, reject });
        s.worker.postMessage({ type: 'tensors', id } satisfies ToWorker);
      }));
    }
    return out;
  }

  /** Stop all workers (pending jobs are rejected). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new PinrecError('CLOSED', 'the embedder was disposed');
    for (const q of this.queue.splice(0)) q.reject(err);
    await Promise.all(this.slots.map(async (s) => {
      for (const p of s.pending.values()) p.reject(err);
      s.pending.clear();
      const exited = new Promise<void>((r) => s.worker.once('exit', () => r()));
      s.worker.postMessage({ type: 'close' } satisfies ToWorker);
      const t = setTimeout(() => { void s.worker.terminate(); }, 2000);
      await exited;
      clearTimeout(t);
    }));
  }
}
