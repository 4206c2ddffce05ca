/**
 * Errors of the embeddings module. Each extends {@link PinrecError}, so `err.code` survives a worker boundary.
 */
import { PinrecError } from '../core/errors.js';

export { ImageDecodeError } from '../core/errors.js';
export type { ImageErrorKind } from '../core/errors.js';

/**
 * A model could not be loaded: not found, download failed, wrong structure, corrupted weights, or the
 * requested feature layer does not exist. `source` names the folder, URL or model name.
 *
 * @example
 * try { await loadEmbedder({ modelDir: '/nope' }); }
 * catch (e) { if (e instanceof ModelLoadError) report(e.source); }
 */
export class ModelLoadError extends PinrecError {
  /** The model folder, URL or name that failed. */
  readonly source: string;
  constructor(source: string, reason: string, options?: { cause?: unknown }) {
    super('MODEL_LOAD', `${source}: ${reason}`, options);
    this.source = source;
  }
}
