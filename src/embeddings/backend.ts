/**
 * TensorFlow.js backend selection, public side: `@tensorflow/tfjs-node` when it is installed (an optional package
 * that is not a dependency of pinrec; its install needs internet), else `@tensorflow/tfjs-backend-wasm` with
 * SIMD, else the pure-JS CPU backend. The backend is global to a JS thread (TF.js keeps one engine per isolate),
 * so every worker thread of the pool selects its own.
 *
 * The types here are pinrec's own: the implementation (`tf.ts`) is internal, so these declarations never
 * import `@tensorflow/tfjs`'s types.
 */
import { loadTf } from './tf.js';

/** Which backend to ask for. `'auto'` tries tfjs-node, then wasm, then cpu. */
export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/** The backend actually in use. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/**
 * The part of the TF.js namespace pinrec promises in its types. At run time {@link BackendHandle.tf} is the
 * whole `@tensorflow/tfjs` namespace; for its full API import `@tensorflow/tfjs` yourself (the same instance when
 * your install deduplicates it) or cast: `h.tf as unknown as typeof import('@tensorflow/tfjs')`.
 */
export interface TfLike {
  /** Live tensors and bytes of this thread's TF.js engine (`tf.memory()`). */
  memory(): { numTensors: number; numBytes: number };
  /** Name of the active backend (`tf.getBackend()`). */
  getBackend(): string;
}

/** What {@link initBackend} returns. */
export interface BackendHandle {
  /** The TF.js namespace in use (typed minimally; see {@link TfLike}). */
  tf: TfLike;
  backend: BackendName;
  /** Backends tried before the one in use, with the reason each was skipped. */
  skipped: { backend: BackendName; reason: string }[];
}

/**
 * Load TF.js and select a backend (once per thread; later calls with the same preference reuse it).
 *
 * The wasm backend's emscripten glue installs process-level `uncaughtException` / `unhandledRejection`
 * handlers that re-throw from inside its minified source; they are removed again here, so the program's own
 * uncaught errors keep Node's normal short report and exit code 1 (in the main thread and in pool workers).
 *
 * @param preference `'auto'` (default) or a specific backend; a specific backend that cannot start throws
 * @throws {InvalidParameterError} for an unknown preference
 * @example
 * const { backend, tf } = await initBackend();   // backend: 'tensorflow' | 'wasm' | 'cpu'
 * tf.memory().numTensors;
 */
export function initBackend(preference: BackendPreference = 'auto'): Promise<BackendHandle> {
  return loadTf(preference).then(({ tf, backend, skipped }) => ({ tf, backend, skipped: skipped.map((s) => ({ ...s })) }));
}
