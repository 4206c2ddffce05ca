/**
 * A pool of worker threads, each with its own TF.js instance and a copy of the model, so inference uses every
 * core (TF.js's wasm backend cannot run multi-threaded in Node). Jobs go to the first idle worker. Built on the
 * shared {@link ThreadPool} (src/core/pool.ts): one job in flight per worker, a worker that dies fails its job
 * with a `WorkerError` and is not used (nor waited for) again, errors keep their class across the boundary.
 *
 * The worker file is found beside this module: `worker.js` when running compiled from `dist/`, or
 * `worker.ts` when running from source (tests, benchmarks under tsx/vitest), in which case the pool runs it
 * through tsx's ESM loader.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClosedError, registerErrorClasses } from '../core/errors.js';
import { ThreadPool } from '../core/pool.js';
import { ImageDecodeError, ModelLoadError } from './errors.js';
import type { BackendName } from './backend.js';
import type { ModelStructure } from './extractor.js';
import type { Job, JobResult, ReadyInfo, WorkerInit } from './protocol.js';

registerErrorClasses(ImageDecodeError, ModelLoadError);

/** The worker module beside this one (`.ts` from source, `.js` from dist). */
function workerFile(): URL {
  const here = import.meta.url;
  const ext = path.extname(fileURLToPath(here));
  return new URL(ext === '.ts' || ext === '.mts' ? './worker.ts' : './worker.js', here);
}

/** Worker pool for {@link FeatureExtractor} inference. */
export class WorkerPool {
  readonly size: number;
  readonly backend: BackendName;
  readonly structure: ModelStructure;

  private constructor(private readonly pool: ThreadPool<Job, JobResult, ReadyInfo>) {
    this.size = pool.size;
    this.backend = pool.infos[0].backend;
    this.structure = pool.infos[0].structure;
  }

  /**
   * Start `n` workers and load the model in each (in parallel).
   * @throws {ModelLoadError} when a worker fails to start or load the model
   */
  static async start(n: number, init: WorkerInit): Promise<WorkerPool> {
    try {
      return new WorkerPool(await ThreadPool.start<Job, JobResult, ReadyInfo, WorkerInit>({
        size: n, name: 'embedding worker', script: { file: workerFile() }, init,
      }));
    } catch (e) {
      if (e instanceof ModelLoadError) throw e;
      throw new ModelLoadError(init.source, `worker failed to load the model: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
  }

  /**
   * Raw pooled features for `n` decoded images; `pixels` is transferred to the worker (do not reuse it).
   * @throws the worker's error with its class; WorkerError when the worker died; ClosedError after close()
   */
  infer(pixels: Uint8Array, n: number): Promise<Float32Array> {
    const own = pixels.byteOffset === 0 && pixels.byteLength === pixels.buffer.byteLength ? pixels : pixels.slice();
    return this.pool.run({ type: 'infer', pixels: own, n }, { transfer: [own.buffer as ArrayBuffer] }) as Promise<Float32Array>;
  }

  /** Live tensor count in each running worker (waits for the job in flight on that worker); dead workers hold none. */
  numTensors(): Promise<number[]> {
    const live: number[] = [];
    for (let i = 0; i < this.size; i++) if (this.pool.isAlive(i)) live.push(i);
    return Promise.all(live.map((i) => this.pool.run({ type: 'tensors' }, { worker: i }) as Promise<number>));
  }

  /** Workers still running. */
  get live(): number {
    return this.pool.live;
  }

  /** @internal Terminate worker `i` now (tests: a worker that dies). */
  terminateWorker(i: number): Promise<void> {
    return this.pool.terminateWorker(i);
  }

  /** Stop all workers; pending jobs reject with ClosedError. Resolves once every worker has exited. */
  close(): Promise<void> {
    return this.pool.close(new ClosedError('the embedder was disposed'));
  }
}
