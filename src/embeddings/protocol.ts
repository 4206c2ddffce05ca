/**
 * What the embeddings pool and its worker threads exchange, on top of the shared worker protocol of
 * src/core/pool.ts (ready handshake, one job in flight per worker, errors rebuilt with their class).
 */
import type { BackendName, BackendPreference } from './backend.js';
import type { ExtractorSpec, ModelStructure } from './extractor.js';
import type { ModelArtifacts } from './models.js';

/** Sent to every worker at start (as `workerData`): the model to load and the backend to use. */
export interface WorkerInit {
  artifacts: ModelArtifacts;
  spec: ExtractorSpec;
  backend: BackendPreference;
  source: string;
}

/** A worker's ready handshake: the backend it started and the loaded model's structure. */
export interface ReadyInfo { backend: BackendName; structure: ModelStructure }

/** Raw pooled features for `n` packed decoded images (the reply's buffer is transferred). */
export interface InferJob { type: 'infer'; pixels: Uint8Array; n: number }
/** The worker's live TF.js tensor count. */
export interface TensorsJob { type: 'tensors' }
export type Job = InferJob | TensorsJob;
/** `Float32Array` for an infer job, a count for a tensors job. */
export type JobResult = Float32Array | number;
