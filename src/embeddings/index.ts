/**
 * pinrec/embeddings: CNN image embeddings with TensorFlow.js and sharp.
 *
 * @example
 * import { loadEmbedder } from 'pinrec/embeddings';
 * const embedder = await loadEmbedder({ workers: 2 });
 * const { vectors, dim, failed } = await embedder.embedBatch(['a.jpg', 'b.png']);
 * await embedder.dispose();
 */
export { loadEmbedder, loadSavedEmbedder } from './load.js';
export { Embedder } from './embedder.js';
export type { LoadEmbedderOptions, EmbedderInfo, EmbedBatchOptions, EmbedBatchResult, ModelSource } from './options.js';
export { ImageDecodeError, ModelLoadError } from './errors.js';
export type { ImageErrorKind } from './errors.js';
export { decodeImage, resolveDecodeOptions, describeInput } from './decode.js';
export type { ImageInput, DecodeOptions, DecodeLimits, ResizeFit } from './decode.js';
export { resolvePreprocessing } from './preprocess.js';
export type { PreprocessingOptions, Preprocessing, NormalizationName } from './preprocess.js';
export { MODELS, DEFAULT_MODEL, DEFAULT_HUB_URL, FALLBACK_MODEL, defaultCacheDir, readModelDir } from './models.js';
export type { RegisteredModel, Pooling, ModelArtifacts, Fingerprint } from './models.js';
export { PcaProjection } from './pca.js';
export type { PcaFitOptions } from './pca.js';
export { DEFAULT_HEAD_METHOD, EmbeddingHead, fitHead } from './head.js';
export type { HeadFitOptions, HeadFitInfo, HeadMethod, HeadSelection, HeadPosterior } from './head.js';
export { powerNormalize, l2NormalizeRows } from './postprocess.js';
export { retrievalAtK } from './metrics.js';
export type { RetrievalScores } from './metrics.js';
export { initBackend } from './backend.js';
export type { BackendName, BackendPreference, BackendHandle, TfLike } from './backend.js';
export { alphaQueryExpansion } from './expansion.js';
export type { QueryExpansionOptions } from './expansion.js';
