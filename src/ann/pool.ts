/**
 * A pool of worker threads that each hold a read-only copy of an HNSW graph (loaded from hnswlib's own
 * file format) and answer unfiltered batch searches in parallel. hnswlib-node's `searchKnn` is synchronous
 * and one native index cannot be shared between threads from JavaScript, so each worker loads its own copy;
 * queries and results travel through `SharedArrayBuffer`s and workers pull chunks from an atomic counter.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { PinrecError } from '../core/errors.js';
import type { Metric } from '../core/types.js';

// Plain CommonJS source run with `eval: true`, so the pool works the same from tsx, vitest and compiled dist.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { HierarchicalNSW } = require(workerData.hnswlibPath);
let index = null;
try {
  index = new HierarchicalNSW(workerData.metric, workerData.dim);
  index.readIndexSync(workerData.file);
  parentPort.postMessage({ type: 'ready' });
} catch (e) {
  parentPort.postMessage({ type: 'error', message: String((e && e.message) || e) });
}
parentPort.on('message', (m) => {
  if (m === 'close') { index = null; parentPort.close(); return; }
  try {
    const { queries, nq, k, dim, labels, dists, counts, next, chunk } = m;
    index.setEf(m.ef);
    const q = new Array(dim).fill(0);
    for (;;) {
      const start = Atomics.add(next, 0, chunk);
      if (start >= nq) break;
      const end = Math.min(nq, start + chunk);
      for (let i = start; i < end; i++) {
        const off = i * dim;
        for (let j = 0; j < dim; j++) q[j] = queries[off + j];
        const r = index.searchKnn(q, k);
        const n = r.neighbors.length;
        counts[i] = n;
        const o = i * k;
        for (let j = 0; j < n; j++) { labels[o + j] = r.neighbors[j]; dists[o + j] = r.distances[j]; }
      }
    }
    parentPort.postMessage({ type: 'done' });
  } catch (e) {
    parentPort.postMessage({ type: 'error', message: String((e && e.message) || e) });
  }
});
`;

/** Raw batch results: `labels`/`dists` hold `k` slots per query, `counts[i]` of them filled. */
export interface RawBatch {
  labels: Int32Array;
  dists: Float32Array;
  counts: Int32Array;
}

/**
 * A batch-search worker thread failed (could not load the graph, or threw while searching).
 *
 * @example
 * try { await index.searchBatch(queries, 10); }
 * catch (e) { if (e instanceof WorkerError) await index.searchBatch(queries, 10, { threads: 1 }); }
 */
export class WorkerError extends PinrecError {
  constructor(message: string) {
    super('WORKER', `search worker failed: ${message}`);
  }
}

/** Worker pool bound to one snapshot (`version`) of an index. */
export class SearchPool {
  private constructor(readonly version: number, readonly dim: number, private readonly workers: Worker[]) {}

  /** Number of worker threads. */
  get threads(): number {
    return this.workers.length;
  }

  /** Start `threads` workers that each load the hnswlib file `file`. Resolves once all are ready. */
  static async create(file: string, metric: Metric, dim: number, threads: number, version: number): Promise<SearchPool> {
    const hnswlibPath = createRequire(import.meta.url).resolve('hnswlib-node');
    const workers: Worker[] = [];
    try {
      await Promise.all(Array.from({ length: threads }, () => new Promise<void>((resolve, reject) => {
        const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { hnswlibPath, metric, dim, file } });
        workers.push(w);
        const onError = (e: Error) => reject(new WorkerError(e.message));
        w.once('error', onError);
        w.once('message', (m: { type: string; message?: string }) => {
          w.off('error', onError);
          if (m.type === 'ready') { w.unref(); resolve(); } else reject(new WorkerError(m.message ?? 'failed to start'));
        });
      })));
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    return new SearchPool(version, dim, workers);
  }

  /** Search every row of `queries` (row-major, `nq` rows) for `k` neighbours at `ef`. */
  async run(queries: Float32Array, nq: number, k: number, ef: number): Promise<RawBatch> {
    const dim = this.dim;
    const q = new Float32Array(new SharedArrayBuffer(nq * dim * 4));
    q.set(queries.subarray(0, nq * dim));
    const labels = new Int32Array(new SharedArrayBuffer(nq * k * 4));
    const dists = new Float32Array(new SharedArrayBuffer(nq * k * 4));
    const counts = new Int32Array(new SharedArrayBuffer(nq * 4));
    const next = new Int32Array(new SharedArrayBuffer(4));
    const chunk = Math.max(1, Math.min(64, Math.floor(nq / (this.workers.length * 8))));
    const msg = { queries: q, nq, k, dim, labels, dists, counts, next, chunk, ef };
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve, reject) => {
      w.ref();
      const onError = (e: Error) => { cleanup(); reject(new WorkerError(e.message)); };
      const onMessage = (m: { type: string; message?: string }) => {
        cleanup();
        if (m.type === 'done') resolve(); else reject(new WorkerError(m.message ?? 'unknown error'));
      };
      const cleanup = () => { w.off('error', onError); w.off('message', onMessage); w.unref(); };
      w.on('error', onError);
      w.on('message', onMessage);
      w.postMessage(msg);
    })));
    return { labels, dists, counts };
  }

  /** Stop every worker: ask it to leave its event loop, and terminate it if it has not within 2 s. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => { void w.terminate().then(() => resolve(), () => resolve()); }, 2000);
      w.once('exit', () => { clearTimeout(timer); resolve(); });
      w.postMessage('close');
    })));
  }
}
