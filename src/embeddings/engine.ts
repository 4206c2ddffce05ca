/**
 * Where inference runs for an {@link Embedder}: in this thread ({@link LocalEngine}) or on a worker pool
 * ({@link PoolEngine}). Internal. The engines take structural types rather than `FeatureExtractor` /
 * `WorkerPool` so that these declarations (reachable from the public `Embedder` constructor) never refer to
 * TF.js's types.
 */
// For {@link} links in the doc comments only.
import type { Embedder } from './embedder.js';
import type { FeatureExtractor } from './extractor.js';
import type { WorkerPool } from './pool.js';

/** Raw pooled features for packed decoded pixels, tensor accounting and shutdown. */
export interface Engine {
  infer(pixels: Uint8Array, n: number): Promise<Float32Array>;
  numTensors(): Promise<number>;
  close(): Promise<void>;
}

/** What {@link LocalEngine} needs of a {@link FeatureExtractor}. */
export interface LocalModel {
  infer(pixels: Uint8Array, n: number): Float32Array;
  numTensors(): number;
  dispose(): void;
}

/** What {@link PoolEngine} needs of a {@link WorkerPool}. */
export interface ModelPool {
  infer(pixels: Uint8Array, n: number): Promise<Float32Array>;
  numTensors(): Promise<number[]>;
  close(): Promise<void>;
}

/** Inference in this thread, on a loaded model ({@link FeatureExtractor}). */
export class LocalEngine implements Engine {
  constructor(private readonly ex: LocalModel) {}
  async infer(pixels: Uint8Array, n: number): Promise<Float32Array> { return this.ex.infer(pixels, n); }
  async numTensors(): Promise<number> { return this.ex.numTensors(); }
  async close(): Promise<void> { this.ex.dispose(); }
}

/** Inference on a worker pool ({@link WorkerPool}); tensor counts are summed over its workers. */
export class PoolEngine implements Engine {
  constructor(private readonly pool: ModelPool) {}
  infer(pixels: Uint8Array, n: number): Promise<Float32Array> { return this.pool.infer(pixels, n); }
  async numTensors(): Promise<number> { return (await this.pool.numTensors()).reduce((a, b) => a + b, 0); }
  close(): Promise<void> { return this.pool.close(); }
}
