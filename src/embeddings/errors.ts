/**
 * Errors of the embeddings module. Both extend {@link PinrecError}, so `err.code` survives a worker boundary.
 */
import { PinrecError } from '../core/errors.js';

/** What went wrong with an image input. */
export type ImageErrorKind = 'read' | 'fetch' | 'too-large' | 'decode' | 'input';

/**
 * An image could not be read, fetched or decoded (corrupt, truncated, over a limit, wrong type). The message
 * names the source: the file path, the URL, or `Buffer(n bytes)` / `sharp instance` / `inputs[i]`.
 *
 * @example
 * try { await embedder.embed('broken.jpg'); }
 * catch (e) { if (e instanceof ImageDecodeError) report(e.source, e.kind); }
 */
export class ImageDecodeError extends PinrecError {
  /** The input that failed (path, URL or a short description). */
  readonly source: string;
  /** Which stage failed. */
  readonly kind: ImageErrorKind;
  constructor(source: string, kind: ImageErrorKind, reason: string, options?: { cause?: unknown }) {
    super('IMAGE_DECODE', `${source}: ${reason}`, options);
    this.source = source;
    this.kind = kind;
  }
}

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
