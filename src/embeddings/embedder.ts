/**
 * `loadEmbedder`: resolve a model (local folder, cache, hub download, URL, or the bundled fallback), check
 * what was loaded, and embed images in batches, in-process or on a worker pool.
 */
import * as path from 'node:path';
import { InvalidParameterError, NumericalError, PinrecError, FileFormatError, DimensionMismatchError } from '../core/errors.js';
import { checkBool, checkInt, checkNumber, checkOneOf } from '../core/validate.js';
import { readContainer, writeContainer } from '../core/container.js';
import type { ProgressCallback } from '../core/types.js';
import { initBackend, type BackendName, type BackendPreference } from './backend.js';
import { decodeImage, describeInput, resolveDecodeOptions, type DecodeLimits, type DecodeOptions, type ImageInput } from './decode.js';
import { ImageDecodeError, ModelLoadError } from './errors.js';
import { checkFingerprint, FeatureExtractor, fingerprintInput, type ExtractorSpec, type ModelStructure } from './extractor.js';
import {
  cacheKey, DEFAULT_HUB_URL, DEFAULT_MODEL, defaultCacheDir, downloadModel, FALLBACK_MODEL, hasModelJson, loadBundledFallback,
  MODELS, readCache, readModelDir, writeCache, type ModelArtifacts, type Pooling, type RegisteredModel,
} from './models.js';
import { PcaProjection, type PcaFitOptions } from './pca.js';
import { l2NormalizeRows, powerNormalize } from './postprocess.js';
import { resolvePreprocessing, type Preprocessing, type PreprocessingOptions } from './preprocess.js';
import { WorkerPool } from './pool.js';

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
  /** Output dimension (after projection). */
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
  /** Set when the requested model could not be loaded and the bundled nsfwjs MobileNetV2 is used instead. */
  fallback?: { requested: string; reason: string };
}

/** Options of {@link Embedder.embedBatch}. */
export interface EmbedBatchOptions {
  /** Called after each batch with `stage: 'embed'`. */
  onProgress?: ProgressCallback;
  /**
   * `'final'` (default): the embedder's output. `'unprojected'`: after power and L2 normalisation but before the
   * projection (what {@link Embedder.fitProjection} fits on). `'raw'`: pooled features, not normalised.
   * @default 'final'
   */
  output?: 'final' | 'unprojected' | 'raw';
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

interface Engine {
  infer(pixels: Uint8Array, n: number): Promise<Float32Array>;
  numTensors(): Promise<number>;
  close(): Promise<void>;
}

class LocalEngine implements Engine {
  constructor(private readonly ex: FeatureExtractor) {}
  async infer(pixels: Uint8Array, n: number): Promise<Float32Array> { return this.ex.infer(pixels, n); }
  async numTensors(): Promise<number> { return this.ex.numTensors(); }
  async close(): Promise<void> { this.ex.dispose(); }
}

class PoolEngine implements Engine {
  constructor(private readonly pool: WorkerPool) {}
  infer(pixels: Uint8Array, n: number): Promise<Float32Array> { return this.pool.infer(pixels, n); }
  async numTensors(): Promise<number> { return (await this.pool.numTensors()).reduce((a, b) => a + b, 0); }
  close(): Promise<void> { return this.pool.close(); }
}

interface Resolved {
  artifacts: ModelArtifacts;
  name: string;
  reg?: RegisteredModel;
  source: ModelSource;
  location: string;
  /** Write the download into the cache once the model passed its checks. */
  commit?: () => Promise<void>;
}

const SAVE_KIND = 'pinrec.embedder';
const SAVE_VERSION = 1;

function envFlag(name: string): boolean {
  const v = process.env[name];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

async function findInRoot(dir: string, reg: RegisteredModel | undefined): Promise<string | undefined> {
  if (await hasModelJson(dir)) return dir;
  if (reg && (await hasModelJson(path.join(dir, reg.folder)))) return path.join(dir, reg.folder);
  return undefined;
}

async function fetchAndCache(url: string, key: string, cacheDir: string, timeoutMs: number, onProgress?: ProgressCallback): Promise<{ artifacts: ModelArtifacts; commit: () => Promise<void> }> {
  const { artifacts, files } = await downloadModel(url, {
    timeoutMs,
    onFile: (_f, done, total) => onProgress?.({ stage: 'model:download', done, total }),
  });
  return {
    artifacts,
    commit: async () => {
      try {
        await writeCache(cacheDir, key, url, files);
      } catch {
        // An unwritable cache only costs a download next time; the model itself is fine.
      }
    },
  };
}

/** Resolve the requested model to artifacts (no TF.js yet). Throws ModelLoadError. */
async function resolveModel(o: LoadEmbedderOptions, cacheDir: string, download: boolean, timeoutMs: number): Promise<Resolved> {
  if (o.modelUrl !== undefined) {
    if (typeof o.modelUrl !== 'string' || !/^https?:\/\//i.test(o.modelUrl)) throw new InvalidParameterError('modelUrl', 'an http(s) URL of a model.json', o.modelUrl);
    const key = cacheKey(o.modelUrl, true);
    const hit = await readCache(cacheDir, key);
    const name = o.model ?? o.modelUrl;
    if (hit) return { artifacts: hit.artifacts, name, reg: o.model ? MODELS[o.model] : undefined, source: 'url-cache', location: path.join(cacheDir, key) };
    if (!download) throw new ModelLoadError(o.modelUrl, 'not in the cache and downloads are off (download: false / PINREC_OFFLINE)');
    const r = await fetchAndCache(o.modelUrl, key, cacheDir, timeoutMs, o.onProgress);
    return { ...r, name, reg: o.model ? MODELS[o.model] : undefined, source: 'url', location: o.modelUrl };
  }
  const name = o.model ?? DEFAULT_MODEL;
  if (typeof name !== 'string' || name === '') throw new InvalidParameterError('model', 'a non-empty string', name);
  const reg = MODELS[name];
  if (name === FALLBACK_MODEL && o.modelDir === undefined) {
    return { artifacts: await loadBundledFallback(), name, reg, source: 'bundled', location: 'nsfwjs' };
  }
  if (o.modelDir !== undefined) {
    if (typeof o.modelDir !== 'string' || o.modelDir === '') throw new InvalidParameterError('modelDir', 'a folder path', o.modelDir);
    const dir = await findInRoot(o.modelDir, reg);
    if (!dir) throw new ModelLoadError(path.resolve(o.modelDir), `holds neither model.json nor ${reg ? `${reg.folder}/model.json` : '<model>/model.json'}`);
    return { artifacts: await readModelDir(dir), name, reg, source: 'dir', location: path.resolve(dir) };
  }
  if (!reg) {
    throw new InvalidParameterError('model', `a registered model (${Object.keys(MODELS).map((m) => `'${m}'`).join(', ')}) unless modelDir or modelUrl is given`, name);
  }
  const reasons: string[] = [];
  const envDir = process.env.PINREC_MODEL_DIR;
  if (envDir) {
    const dir = await findInRoot(envDir, reg);
    if (dir) return { artifacts: await readModelDir(dir), name, reg, source: 'dir', location: path.resolve(dir) };
    reasons.push(`PINREC_MODEL_DIR=${envDir} does not hold ${reg.folder}/model.json`);
  }
  const hit = await readCache(cacheDir, name);
  if (hit) return { artifacts: hit.artifacts, name, reg, source: 'cache', location: path.join(cacheDir, name) };
  reasons.push(`not cached in ${cacheDir}`);
  if (!reg.hubPath) throw new ModelLoadError(name, `${reasons.join('; ')}; this model has no hub location: give modelDir`);
  if (!download) throw new ModelLoadError(name, `${reasons.join('; ')}; downloads are off (download: false / PINREC_OFFLINE)`);
  const hub = o.hubUrl ?? process.env.PINREC_MODEL_HUB ?? DEFAULT_HUB_URL;
  const url = new URL(reg.hubPath, hub.endsWith('/') ? hub : `${hub}/`).href;
  const r = await fetchAndCache(url, name, cacheDir, timeoutMs, o.onProgress);
  return { ...r, name, reg, source: 'download', location: url };
}

/** Check a loaded model against what its registry entry promises. Returns a failure reason or undefined. */
function verifyStructure(ex: FeatureExtractor, reg: RegisteredModel | undefined, featureLayer: string, pre: Preprocessing): string | undefined {
  if (!reg || featureLayer !== reg.featureLayer) return undefined;
  const s: ModelStructure = ex.structure;
  if (reg.params > 0 && s.params !== reg.params) return `has ${s.params} parameters, expected ${reg.params} for ${reg.name}`;
  if (s.dim !== reg.dim) return `feature layer '${featureLayer}' has ${s.dim} channels, expected ${reg.dim}`;
  if (reg.fingerprint && pre.size === reg.size && pre.normalization === reg.normalization && ex.structure.format === 'layers') {
    const px = fingerprintInput(reg.size);
    const f = ex.infer(px, 1, false);
    const why = checkFingerprint(f, reg.fingerprint, ex.inferModelOutput(px, 1));
    if (why) return `weights differ from the known ${reg.name} (${why}): corrupted or a different model`;
  }
  return undefined;
}

/**
 * An image embedder: photos in, L2-normalised feature vectors out. Create with {@link loadEmbedder}; call
 * {@link Embedder.dispose} when done (it stops worker threads and frees the model).
 */
export class Embedder {
  /** Output dimension. */
  get dim(): number { return this.projection ? this.projection.dim : this.rawDim; }
  /** Pooled feature dimension of the model. */
  readonly rawDim: number;
  private projection?: PcaProjection;
  private readonly engine: Engine;
  private readonly pre: Preprocessing;
  private readonly limits: DecodeLimits;
  private readonly batchSize: number;
  private readonly decodeConcurrency: number;
  private readonly powerNorm: number;
  private readonly baseInfo: Omit<EmbedderInfo, 'dim' | 'projection'>;
  private readonly saveMeta: Record<string, unknown>;
  private closed = false;

  /** @internal use {@link loadEmbedder} */
  constructor(args: {
    engine: Engine; pre: Preprocessing; limits: DecodeLimits; batchSize: number; decodeConcurrency: number; powerNorm: number;
    rawDim: number; projection?: PcaProjection; info: Omit<EmbedderInfo, 'dim' | 'projection'>; saveMeta: Record<string, unknown>;
  }) {
    this.engine = args.engine;
    this.pre = args.pre;
    this.limits = args.limits;
    this.batchSize = args.batchSize;
    this.decodeConcurrency = args.decodeConcurrency;
    this.powerNorm = args.powerNorm;
    this.rawDim = args.rawDim;
    this.baseInfo = args.info;
    this.saveMeta = args.saveMeta;
    if (args.projection) this.setProjection(args.projection);
  }

  /** What this embedder runs: model, source, backend, sizes, options, and `fallback` when the fallback is in use. */
  get info(): EmbedderInfo {
    const p = this.projection;
    return { ...this.baseInfo, dim: this.dim, ...(p ? { projection: { dim: p.dim, whiten: p.whiten } } : {}) };
  }

  /** The projection in use, if any. */
  getProjection(): PcaProjection | undefined { return this.projection; }

  /**
   * Use (or, with `undefined`, stop using) a PCA / whitening projection.
   * @throws {DimensionMismatchError} when its input dimension is not {@link Embedder.rawDim}
   */
  setProjection(p: PcaProjection | undefined): void {
    if (p !== undefined) {
      if (!(p instanceof PcaProjection)) throw new InvalidParameterError('projection', 'a PcaProjection', p);
      if (p.inputDim !== this.rawDim) throw new DimensionMismatchError('projection.inputDim', this.rawDim, p.inputDim);
    }
    this.projection = p;
  }

  private check(): void {
    if (this.closed) throw new PinrecError('DISPOSED', 'the embedder was disposed');
  }

  /**
   * Embed one image.
   * @throws {ImageDecodeError} when the input cannot be read or decoded
   * @example
   * const v = await embedder.embed('pin.jpg'); // Float32Array(768), unit length
   */
  async embed(input: ImageInput): Promise<Float32Array> {
    const r = await this.embedBatch([input]);
    if (!r.ok[0]) throw r.errors[0]!;
    return r.vectors;
  }

  /**
   * Embed many images in batches (decoding overlaps inference; with workers, batches run in parallel). One bad
   * image does not fail the others: check `ok` / `failed` / `errors`.
   *
   * @example
   * const r = await embedder.embedBatch(paths, { onProgress: (p) => bar.update(p.done / p.total) });
   * r.vectors.subarray(i * r.dim, (i + 1) * r.dim); // row i
   */
  async embedBatch(inputs: readonly ImageInput[], options: EmbedBatchOptions = {}): Promise<EmbedBatchResult> {
    this.check();
    if (!Array.isArray(inputs)) throw new InvalidParameterError('inputs', 'an array of images', inputs);
    const output = checkOneOf('output', options.output ?? 'final', ['final', 'unprojected', 'raw'] as const);
    const proj = output === 'final' ? this.projection : undefined;
    const dim = proj ? proj.dim : this.rawDim;
    const n = inputs.length;
    const vectors = new Float32Array(n * dim);
    const ok = new Array<boolean>(n).fill(false);
    const errors = new Array<PinrecError | undefined>(n).fill(undefined);
    const per = this.pre.size * this.pre.size * 3;
    const bs = this.batchSize;
    const nb = Math.ceil(n / bs);
    const inflight = Math.max(2, (this.baseInfo.workers || 1) + 1);
    let done = 0;
    let next = 0;
    const nameOf = (i: number) => {
      const x = inputs[i];
      return typeof x === 'string' || x instanceof URL ? describeInput(x) : `inputs[${i}] (${describeInput(x)})`;
    };
    const runBatch = async (b: number) => {
      const lo = b * bs, hi = Math.min(n, lo + bs);
      const pix: (Uint8Array | undefined)[] = new Array(hi - lo);
      let cursor = lo;
      const decodeWorker = async () => {
        while (cursor < hi) {
          const i = cursor++;
          try {
            pix[i - lo] = await decodeImage(inputs[i], this.pre.size, this.pre.fit, this.limits, nameOf(i));
          } catch (e) {
            errors[i] = e instanceof PinrecError ? e : new ImageDecodeError(nameOf(i), 'decode', (e as Error)?.message ?? String(e), { cause: e });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.decodeConcurrency, hi - lo) }, decodeWorker));
      const good: number[] = [];
      for (let i = lo; i < hi; i++) if (pix[i - lo]) good.push(i);
      if (good.length > 0) {
        const packed = new Uint8Array(good.length * per);
        good.forEach((i, k) => packed.set(pix[i - lo]!, k * per));
        let raw: Float32Array | undefined;
        try {
          raw = await this.engine.infer(packed, good.length);
        } catch (e) {
          const err = e instanceof PinrecError ? e : new PinrecError('INFERENCE', `inference failed: ${(e as Error)?.message ?? String(e)}`);
          for (const i of good) errors[i] = err;
        }
        if (raw) {
          if (output !== 'raw') {
            powerNormalize(raw, this.powerNorm);
            const bad = new Set(l2NormalizeRows(raw, this.rawDim));
            good.forEach((i, k) => {
              if (bad.has(k)) errors[i] = new NumericalError(`${nameOf(i)}: the model's feature vector is all zeros or not finite; cannot normalise it`);
            });
          }
          good.forEach((i, k) => {
            if (errors[i]) return;
            const row = raw!.subarray(k * this.rawDim, (k + 1) * this.rawDim);
            if (proj) proj.apply(row, vectors.subarray(i * dim, (i + 1) * dim));
            else vectors.set(row, i * dim);
            ok[i] = true;
          });
        }
      }
      done += hi - lo;
      options.onProgress?.({ stage: 'embed', done, total: n });
    };
    const lane = async () => {
      while (next < nb) await runBatch(next++);
    };
    await Promise.all(Array.from({ length: Math.min(inflight, nb) }, lane));
    const failed: number[] = [];
    for (let i = 0; i < n; i++) if (!ok[i]) failed.push(i);
    return { vectors, dim, count: n, ok, errors, failed };
  }

  /**
   * Fit a PCA / whitening projection on a sample and start using it. `sample` is a list of images, or a
   * row-major matrix of unprojected vectors (`embedBatch(..., { output: 'unprojected' })`).
   *
   * @throws {InvalidParameterError} when fewer than 2 usable vectors remain
   * @example
   * await embedder.fitProjection(samplePaths, { dim: 256, whiten: 1 });
   * embedder.dim; // 256
   */
  async fitProjection(sample: readonly ImageInput[] | Float32Array, options: PcaFitOptions & { onProgress?: ProgressCallback } = {}): Promise<PcaProjection> {
    this.check();
    let rows: Float32Array;
    if (sample instanceof Float32Array) {
      rows = sample;
    } else {
      const r = await this.embedBatch(sample, { output: 'unprojected', onProgress: options.onProgress });
      rows = new Float32Array((r.count - r.failed.length) * this.rawDim);
      let k = 0;
      for (let i = 0; i < r.count; i++) if (r.ok[i]) rows.set(r.vectors.subarray(i * this.rawDim, (i + 1) * this.rawDim), (k++) * this.rawDim);
    }
    const p = PcaProjection.fit(rows, this.rawDim, options);
    this.setProjection(p);
    return p;
  }

  /**
   * Save the embedder's settings (model name or URL, feature layer, pooling, preprocessing, flip, power norm) and
   * its projection to one checksummed file. Model weights are not copied: {@link loadSavedEmbedder} loads the
   * model by the same route.
   * @example
   * await embedder.save('embedder.pinrec');
   */
  async save(file: string): Promise<void> {
    this.check();
    const p = this.projection?.toSections();
    await writeContainer(file, SAVE_KIND, SAVE_VERSION, { ...this.saveMeta, rawDim: this.rawDim, pca: p?.meta ?? null }, p?.sections ?? {});
  }

  /** Live TF.js tensors in the engine's thread(s); constant across calls when nothing leaks. */
  liveTensors(): Promise<number> {
    this.check();
    return this.engine.numTensors();
  }

  /** Stop workers and free the model. Later calls throw. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.engine.close();
  }
}

/**
 * Load an image embedder. Model resolution for a registered name: `modelDir` (must work) → `PINREC_MODEL_DIR`
 * → the disk cache → download from the hub (checked, then cached) → the bundled nsfwjs MobileNetV2 fallback
 * (`info.fallback` says so). `modelUrl` loads any TF.js model from a URL (cached too).
 *
 * @throws {ModelLoadError} when no model can be loaded; {@link InvalidParameterError} for bad options
 * @example
 * const embedder = await loadEmbedder();                        // MobileNet V1 0.75, 768-d
 * const v = await embedder.embed('pin.jpg');
 * const local = await loadEmbedder({ modelDir: '../shared/models', workers: 2 });
 * const custom = await loadEmbedder({ modelUrl: 'https://host/mnv3/model.json', featureLayer: '', preprocessing: { normalization: 'unit' } });
 */
export async function loadEmbedder(options: LoadEmbedderOptions = {}): Promise<Embedder> {
  if (options === null || typeof options !== 'object') throw new InvalidParameterError('options', 'an object', options);
  const o = options;
  const workers = checkInt('workers', o.workers ?? 0, 0, 64);
  const batchSize = checkInt('batchSize', o.batchSize ?? 8, 1, 1024);
  const decodeConcurrency = checkInt('decodeConcurrency', o.decodeConcurrency ?? 4, 1, 256);
  const flip = checkBool('flip', o.flip ?? false);
  const fuse = checkBool('fuse', o.fuse ?? true);
  const powerNorm = o.powerNorm ?? 1;
  if (!(typeof powerNorm === 'number' && powerNorm > 0 && powerNorm <= 1)) throw new InvalidParameterError('powerNorm', 'a number in (0, 1]', powerNorm);
  const gemP = checkNumber('gemP', o.gemP ?? 3, 0.1, 100);
  const backendPref = checkOneOf('backend', o.backend ?? 'auto', ['auto', 'tensorflow', 'wasm', 'cpu'] as const);
  const download = checkBool('download', o.download ?? !envFlag('PINREC_OFFLINE'));
  const allowFallback = checkBool('fallback', o.fallback ?? true);
  const timeoutMs = checkInt('modelFetchTimeoutMs', o.modelFetchTimeoutMs ?? 60_000, 1, 3_600_000);
  if (o.pooling !== undefined) checkOneOf('pooling', o.pooling, ['avg', 'max', 'gem'] as const);
  if (o.featureLayer !== undefined && typeof o.featureLayer !== 'string') throw new InvalidParameterError('featureLayer', 'a layer name string', o.featureLayer);
  if (o.hubUrl !== undefined && (typeof o.hubUrl !== 'string' || !/^https?:\/\//i.test(o.hubUrl))) throw new InvalidParameterError('hubUrl', 'an http(s) base URL', o.hubUrl);
  const limits = resolveDecodeOptions(o.decode);
  const cacheDir = o.cacheDir !== undefined ? path.resolve(o.cacheDir) : defaultCacheDir();
  const { tf, backend } = await initBackend(backendPref);

  const build = async (r: Resolved) => {
    const reg = r.reg;
    const featureLayer = o.featureLayer ?? reg?.featureLayer ?? '';
    const pre = resolvePreprocessing(o.preprocessing, reg ? { size: reg.size, normalization: reg.normalization } : {});
    const pooling = o.pooling ?? reg?.pooling ?? 'avg';
    const spec: ExtractorSpec = { featureLayer, pooling, gemP, preprocessing: pre, flip, fuse };
    const ex = await FeatureExtractor.create(tf, r.artifacts, spec, r.location);
    const why = verifyStructure(ex, reg, featureLayer, pre);
    if (why) {
      ex.dispose();
      throw new ModelLoadError(r.location, why);
    }
    return { ex, spec, pre, featureLayer, pooling };
  };

  let resolved: Resolved;
  let built: Awaited<ReturnType<typeof build>>;
  let fallback: EmbedderInfo['fallback'];
  const requested = o.model ?? DEFAULT_MODEL;
  const fallbackEligible = allowFallback && o.modelUrl === undefined && o.modelDir === undefined && requested !== FALLBACK_MODEL && MODELS[requested]?.imagenet === true;
  try {
    resolved = await resolveModel(o, cacheDir, download, timeoutMs);
    built = await build(resolved);
    await resolved.commit?.();
  } catch (e) {
    if (!fallbackEligible || !(e instanceof ModelLoadError)) throw e;
    fallback = { requested, reason: e.message };
    const fo: LoadEmbedderOptions = { ...o, model: FALLBACK_MODEL, featureLayer: undefined, pooling: undefined, preprocessing: undefined };
    try {
      resolved = await resolveModel(fo, cacheDir, false, timeoutMs);
    } catch (fe) {
      throw new ModelLoadError(requested, `${e.message}; the fallback ${FALLBACK_MODEL} could not be loaded either (${(fe as Error).message})`, { cause: fe });
    }
    built = await (async () => {
      const reg = resolved.reg!;
      const pre = resolvePreprocessing({}, { size: reg.size, normalization: reg.normalization });
      const spec: ExtractorSpec = { featureLayer: reg.featureLayer, pooling: reg.pooling, gemP, preprocessing: pre, flip, fuse };
      const ex = await FeatureExtractor.create(tf, resolved.artifacts, spec, resolved.location);
      return { ex, spec, pre, featureLayer: reg.featureLayer, pooling: reg.pooling };
    })();
  }

  let engine: Engine;
  let usedBackend: BackendName = backend;
  if (workers > 0) {
    built.ex.dispose();
    const pool = await WorkerPool.start(workers, { artifacts: resolved.artifacts, spec: built.spec, backend: backendPref, source: resolved.location });
    usedBackend = pool.backend;
    engine = new PoolEngine(pool);
  } else {
    engine = new LocalEngine(built.ex);
  }
  const reg = resolved.reg;
  const info: Omit<EmbedderInfo, 'dim' | 'projection'> = {
    model: resolved.name,
    source: resolved.source,
    location: resolved.location,
    backend: usedBackend,
    inputSize: built.pre.size,
    featureLayer: built.featureLayer,
    pooling: built.pooling,
    preprocessing: built.pre,
    rawDim: built.ex.structure.dim,
    params: built.ex.structure.params,
    fused: built.ex.structure.fused,
    workers,
    batchSize,
    flip,
    powerNorm,
    imagenet: reg?.imagenet ?? false,
    ...(fallback ? { fallback } : {}),
  };
  const saveMeta = {
    model: resolved.name,
    modelUrl: o.modelUrl ?? null,
    featureLayer: built.featureLayer,
    pooling: built.pooling,
    gemP,
    preprocessing: { size: built.pre.size, fit: built.pre.fit, normalization: built.pre.normalization === 'custom' ? { mean: built.pre.mean, std: built.pre.std } : built.pre.normalization },
    flip,
    powerNorm,
  };
  return new Embedder({ engine, pre: built.pre, limits, batchSize, decodeConcurrency, powerNorm, rawDim: built.ex.structure.dim, projection: o.projection, info, saveMeta });
}

interface SavedMeta {
  model: string;
  modelUrl: string | null;
  featureLayer: string;
  pooling: Pooling;
  gemP: number;
  preprocessing: PreprocessingOptions;
  flip: boolean;
  powerNorm: number;
  rawDim: number;
  pca: Record<string, unknown> | null;
}

/**
 * Load an embedder saved with {@link Embedder.save}: same model (by name or URL; `overrides` can point at a
 * folder with `modelDir`, or set `workers`, `batchSize`, limits), same options, same projection. The fallback is
 * never substituted silently: if the saved model cannot be loaded this throws.
 *
 * @throws {FileFormatError} for a bad file; {@link ModelLoadError} when the model cannot be loaded or differs
 * @example
 * const again = await loadSavedEmbedder('embedder.pinrec', { modelDir: '../shared/models', workers: 2 });
 */
export async function loadSavedEmbedder(file: string, overrides: LoadEmbedderOptions = {}): Promise<Embedder> {
  const c = await readContainer<SavedMeta>(file, SAVE_KIND);
  if (c.version !== SAVE_VERSION) throw new FileFormatError(file, `unsupported embedder file version ${c.version}`);
  const m = c.meta;
  if (!m || typeof m.model !== 'string' || typeof m.rawDim !== 'number') throw new FileFormatError(file, 'embedder metadata is malformed');
  const projection = m.pca ? PcaProjection.fromSections(m.pca, c.sections, file) : undefined;
  const e = await loadEmbedder({
    ...overrides,
    model: m.model,
    ...(m.modelUrl ? { modelUrl: m.modelUrl } : {}),
    featureLayer: m.featureLayer,
    pooling: m.pooling,
    gemP: m.gemP,
    preprocessing: m.preprocessing,
    flip: m.flip,
    powerNorm: m.powerNorm,
    fallback: false,
  });
  if (e.rawDim !== m.rawDim) {
    await e.dispose();
    throw new ModelLoadError(m.model, `the loaded model gives ${e.rawDim}-d features but ${file} was saved with ${m.rawDim}-d`);
  }
  if (projection) e.setProjection(projection);
  return e;
}
