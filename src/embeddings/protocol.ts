/** Messages between the pool and its worker threads. */
import type { BackendName, BackendPreference } from './backend.js';
import type { ExtractorSpec, ModelStructure } from './extractor.js';
import type { ModelArtifacts } from './models.js';

export interface InitMessage {
  type: 'init';
  artifacts: ModelArtifacts;
  spec: ExtractorSpec;
  backend: BackendPreference;
  source: string;
}
export interface InferMessage { type: 'infer'; id: number; pixels: Uint8Array; n: number }
export interface TensorsMessage { type: 'tensors'; id: number }
export interface CloseMessage { type: 'close' }
export type ToWorker = InitMessage | InferMessage | TensorsMessage | CloseMessage;

export interface SerializedError { name: string; code: string; message: string }
export type FromWorker =
  | { type: 'ready'; backend: BackendName; structure: ModelStructure }
  | { type: 'init-error'; error: SerializedError }
  | { type: 'result'; id: number; features: Float32Array }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'tensors'; id: number; count: number };

export function serializeError(e: unknown): SerializedError {
  const err = e as { name?: string; code?: string; message?: string };
  return { name: err?.name ?? 'Error', code: typeof err?.code === 'string' ? err.code : 'WORKER', message: err?.message ?? String(e) };
}
