/**
 * A pool of worker threads that each hold a read-only copy of an HNSW graph (loaded from hnswlib's own
 * file format) and answer unfiltered batch searches in parallel. hnswlib-node's `searchKnn` is synchronous
 * and one native index cannot be shared between threads from JavaScript, so each worker loads its own copy.
 *
 * Built on the shared {@link ThreadPool} (src/core/pool.ts): one `run` is one job broadcast to every worker,
 * with its own id and its own `SharedArrayBuffer`s (queries, results, an atomic chunk counter), so
 * concurrent runs on one pool never see each other's completions or rows; each worker answers its jobs in
 * order. Errors from hnswlib (plain `Error`s) become {@link WorkerError}s; pinrec errors keep their class.
 */
import { createRequire } from 'node:module';
import { PinrecError, WorkerError, registerErrorClasses } from '../core/errors.js';
import { ThreadPool } from '../core/pool.js';
import type { Metric } from '../core/types.js';

export { WorkerError };


// Plain CommonJS run with `eval: true` (after the pool's worker runtime, which defines `serve`), so the pool
// works the same from tsx, vitest and compiled dist.
const WORKER_SOURCE = `
let index = null;
serve({
  init(d) {
    const { HierarchicalNSW } = require(d.hnswlibPath);
    index = new HierarchicalNSW(d.metric, d.dim);
    index.readIndexSync(d.file);
  },
  run(m) {
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
    return null;
  },
});
`;

/** Raw batch results: `labels`/`dists` hold `k` slots per query, `counts[i]` of them filled. */
export interface RawBatch {
  labels: Int32Array;
  dists: Float32Array;
  counts: Int32Array;
}

interface SearchJob {
  queries: Float32Array; nq: number; k: number; dim: number; ef: number; chunk: number;
  labels: Int32Array; dists: Float32Array; counts: Int32Array; next: Int32Array;
}

const asWorkerError = (e: unknown): Error =>
  e instanceof PinrecError ? e : new WorkerError(`search worker failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });

/** Worker pool bound to one snapshot (`version`) of an index. */
export class SearchPool {
  /** The chunk counters of the runs in progress, so close() can stop them after their current chunk. */
  private readonly active = new Set<{ next: Int32Array; nq: number }>();

  private constructor(readonly version: number, readonly dim: number, private readonly pool: ThreadPool<SearchJob, null>) {}

  /** Number of worker threads. */
  get threads(): number {
    return this.pool.size;
  }

  /** Worker threads still running (diagnostics, tests). */
  get live(): number {
    return this.pool.live;
  }

  /** Start `threads` workers that each load the hnswlib file `file`. Resolves once all are ready. */
  static async create(file: string, metric: Metric, dim: number, threads: number, version: number): Promise<SearchPool> {
    const hnswlibPath = createRequire(import.meta.url).resolve('hnswlib-node');
    try {
      const pool = await ThreadPool.start<SearchJob, null>({
        size: threads, name: 'search worker', script: { source: WORKER_SOURCE }, init: { hnswlibPath, metric, dim, file },
        // hnswlib-node aborts the process when a thread is terminated inside searchKnn: always let workers leave.
        closeTimeoutMs: Infinity,
      });
      return new SearchPool(version, dim, pool);
    } catch (e) {
      throw asWorkerError(e);
    }
  }

  /**
   * Search every row of `queries` (row-major, `nq` rows) for `k` neighbours at `ef`. Safe to call
   * concurrently: every run has its own buffers and its own completion.
   * @throws ClosedError when the pool is closed before the run completes; WorkerError when a worker fails
   */
  async run(queries: Float32Array, nq: number, k: number, ef: number): Promise<RawBatch> {
    const dim = this.dim;
    const q = new Float32Array(new SharedArrayBuffer(nq * dim * 4));
    q.set(queries.subarray(0, nq * dim));
    const labels = new Int32Array(new SharedArrayBuffer(nq * k * 4));
    const dists = new Float32Array(new SharedArrayBuffer(nq * k * 4));
    const counts = new Int32Array(new SharedArrayBuffer(nq * 4));
    const next = new Int32Array(new SharedArrayBuffer(4));
    const chunk = Math.max(1, Math.min(64, Math.floor(nq / (this.pool.size * 8))));
    const run = { next, nq };
    this.active.add(run);
    try {
      await this.pool.broadcast({ queries: q, nq, k, dim, labels, dists, counts, next, chunk, ef });
    } catch (e) {
      throw asWorkerError(e);
    } finally {
      this.active.delete(run);
    }
    return { labels, dists, counts };
  }

  /**
   * Stop the workers: pending runs reject with ClosedError at once and stop after their current chunk; each
   * worker then exits. Resolves once every worker has exited.
   */
  close(): Promise<void> {
    for (const r of this.active) Atomics.store(r.next, 0, r.nq);
    return this.pool.close();
  }
}
