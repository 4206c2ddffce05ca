/**
 * The public option, info and result types of the embedder ({@link loadEmbedder}, {@link Embedder}).
 */
import type { PinrecError } from '../core/errors.js';
import type { ProgressCallback } from '../core/types.js';
import type { BackendName, BackendPreference } from './backend.js';
import type { DecodeOptions } from './decode.js';
import type { Pooling } from './models.js';
import type { EmbeddingHead, HeadMethod } from './head.js';
import type { PcaProjection } from './pca.js';
import type { Preprocessing, PreprocessingOptions } from './preprocess.js';
// For {@link} links in the doc comments only.
import type { Embedder } from './embedder.js';
import type { loadEmbedder } from './load.js';

/** Options of {@link loadEmbedder}. Every field is optional. */
export interface LoadEmbedderOptions {
  /**
   * A registered model name (`'mobilenet_v1_0.75_224'`, `'tiny_darknet_imagenet'`, `'nsfwjs_mobilenet_v2'`),
   * or any name for a custom model given by `modelDir`.
   * @default 'mobilenet_v1_0.75_224'
   */
  model?: string;
  /**
   * Local folder: either a TF.js model folder (with `model.json`) or a root holding `<model>/model.json`.
   * When given explicitly it must work (no fallback). Env: `PINREC_MODEL_DIR` (used when it holds the model).
   */
  modelDir?: string;
  /** URL of any TF.js layers or graph model's `model.json` (cached on disk like hub models). */
  modelUrl?: string;
  /**
   * Layer (layers model) or node (graph model) whose output is the embedding; `''` = the model's output.
   * @default the registered model's layer, else `''`
   */
  featureLayer?: string;
  /**
   * Pooling when the feature layer is a feature map: `'avg'`, `'max'` or `'gem'` (generalised mean).
   * @default the registered model's pooling, else 'avg'
   */
  pooling?: Pooling;
  /**
   * Exponent of GeM pooling.
   * @default 3
   */
  gemP?: number;
  /** Input size, fit and pixel normalisation. @default the registered model's, else 224 / 'cover' / 'tf' */
  preprocessing?: PreprocessingOptions;
  /**
   * Base URL of the model hub that registered names are downloaded from. Env: `PINREC_MODEL_HUB`.
   * @default 'https://storage.googleapis.com/tfjs-models/tfjs/'
   */
  hubUrl?: string;
  /**
   * Folder of downloaded models. Env: `PINREC_MODEL_CACHE`.
   * @default '~/.cache/pinrec/models' (or `$XDG_CACHE_HOME/pinrec/models`)
   */
  cacheDir?: string;
  /**
   * Allow network downloads of models. Env: `PINREC_OFFLINE=1` turns it off.
   * @default true
   */
  download?: boolean;
  /**
   * When the requested registered ImageNet model cannot be loaded from `PINREC_MODEL_DIR`, the cache or the hub,
   * use the MobileNetV2 bundled in `nsfwjs` instead (reported in `info.fallback`).
   * @default true
   */
  fallback?: boolean;
  /**
   * Timeout for each model file download, in milliseconds.
   * @default 60_000
   */
  modelFetchTimeoutMs?: number;
  /**
   * TF.js backend: `'auto'` = tfjs-node if installed, else wasm (SIMD), else cpu.
   * @default 'auto'
   */
  backend?: BackendPreference;
  /**
   * Worker threads for inference (each loads its own TF.js and model copy); 0 = run in this thread.
   * @default 0
   */
  workers?: number;
  /**
   * Images per inference call (8 was fastest with 2 workers on 2 cores; see docs/embeddings.md).
   * @default 8
   */
  batchSize?: number;
  /**
   * Average each image's features with its horizontal mirror's (twice the inference cost).
   * @default false
   */
  flip?: boolean;
  /**
   * Signed power normalisation exponent applied to pooled features before L2 (0.5 = square root); 1 = off.
   * @default 1
   */
  powerNorm?: number;
  /**
   * Fold BatchNorm into convolutions and fuse activations for chain-shaped layers models (MobileNet V1, Tiny
   * Darknet), after checking the fused pass matches the layers model numerically; otherwise the layers model runs.
   * @default true
   */
  fuse?: boolean;
  /** A fitted PCA / whitening projection applied last (see {@link Embedder.fitProjection}). */
  projection?: PcaProjection;
  /** A learned embedding head applied after the projection (see {@link Embedder.fitHead}). */
  head?: EmbeddingHead;
  /** Decoding limits (pixels, bytes, URL timeout). */
  decode?: DecodeOptions;
  /**
   * Images decoded concurrently per batch.
   * @default 4
   */
  decodeConcurrency?: number;
  /** Progress of model downloads (`stage: 'model:download'`). */
  onProgress?: ProgressCallback;
}

/** Where the loaded model came from. */
export type ModelSource = 'dir' | 'cache' | 'download' | 'url' | 'url-cache' | 'bundled';

/** What an embedder runs. */
export interface EmbedderInfo {
  /** Model name (registered name, or the custom name / URL). */
  model: string;
  source: ModelSource;
  /** Folder or URL the weights were read from (`'nsfwjs'` for the bundled fallback). */
  location: string;
  backend: BackendName;
  inputSize: number;
  featureLayer: string;
  pooling: Pooling;
  preprocessing: Preprocessing;
  /** Pooled feature dimension. */
  rawDim: number;
  /** Output dimension (after projection and head). */
  dim: number;
  params: number;
  /** Whether the BatchNorm-folded, activation-fused forward pass is in use (see `fuse`). */
  fused: boolean;
  workers: number;
  batchSize: number;
  flip: boolean;
  powerNorm: number;
  /** Whether the model is an ImageNet-trained general model. */
  imagenet: boolean;
  projection?: { dim: number; whiten: number };
  /** The embedding head in use, if any. */
  head?: { method: HeadMethod; dim: number };
  /** Set when the requested model could not be loaded and the bundled nsfwjs MobileNetV2 is used instead. */
  fallback?: { requested: string; reason: string };
}

/** Options of {@link Embedder.embedBatch}. */
export interface EmbedBatchOptions {
  /** Called after each batch with `stage: 'embed'`. */
  onProgress?: ProgressCallback;
  /**
   * `'final'` (default): the embedder's output. `'head-input'`: after normalisation and the projection but before
   * the embedding head (what {@link Embedder.fitHead} fits on). `'unprojected'`: after power and L2 normalisation
   * but before the projection (what {@link Embedder.fitProjection} fits on). `'raw'`: pooled features, not
   * normalised.
   * @default 'final'
   */
  output?: 'final' | 'head-input' | 'unprojected' | 'raw';
}

/** Result of {@link Embedder.embedBatch}: row `i` belongs to `inputs[i]`; failed rows are zeros. */
export interface EmbedBatchResult {
  /** Row-major `count × dim`. */
  vectors: Float32Array;
  dim: number;
  count: number;
  /** `ok[i]` is false when input `i` failed. */
  ok: boolean[];
  /** The error of each failed input (`undefined` for successes). */
  errors: (PinrecError | undefined)[];
  /** Indices of failed inputs, ascending. */
  failed: number[];
}
