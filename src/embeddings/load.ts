/**
 * `loadEmbedder`: validate options, resolve a model (resolve.ts: local folder, cache, hub download, URL, or the
 * bundled fallback), load and check it, and build an {@link Embedder} running in-process or on a worker pool.
 * `loadSavedEmbedder` does the same from a file written by {@link Embedder.save}.
 */
import * as path from 'node:path';
import { InvalidParameterError } from '../core/errors.js';
import { checkBool, checkInt, checkNumber, checkOneOf } from '../core/validate.js';
import type { BackendName } from './backend.js';
import { resolveDecodeOptions } from './decode.js';
import { Embedder } from './embedder.js';
import { LocalEngine, PoolEngine, type Engine } from './engine.js';
import { ModelLoadError } from './errors.js';
import { checkFingerprint, FeatureExtractor, fingerprintInput, type ExtractorSpec, type ModelStructure } from './extractor.js';
import { cacheKey, DEFAULT_MODEL, defaultCacheDir, FALLBACK_MODEL, readCache, registeredModel, type RegisteredModel } from './models.js';
import type { EmbedderInfo, LoadEmbedderOptions } from './options.js';
import { resolvePreprocessing, type Preprocessing } from './preprocess.js';
import { WorkerPool } from './pool.js';
import { envFlag, resolveModel, type Resolved } from './resolve.js';
import { readSavedEmbedder } from './saved.js';
import { loadTf } from './tf.js';

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
  const { tf, backend } = await loadTf(backendPref);

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
  const fallbackEligible = allowFallback && o.modelUrl === undefined && o.modelDir === undefined && requested !== FALLBACK_MODEL && registeredModel(requested)?.imagenet === true;
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
  const info: Omit<EmbedderInfo, 'dim' | 'projection' | 'head'> = {
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
  return new Embedder({ engine, pre: built.pre, limits, batchSize, decodeConcurrency, powerNorm, rawDim: built.ex.structure.dim, projection: o.projection, head: o.head, info, saveMeta });
}

/** Options of {@link loadSavedEmbedder}: those of {@link loadEmbedder} (the file's own settings win), plus `allowStoredUrl`. */
export interface LoadSavedEmbedderOptions extends LoadEmbedderOptions {
  /**
   * A file saved from a `modelUrl` stores that URL. A file is data, so by default the loader never downloads it:
   * the stored URL is only looked up in the model cache (`cacheDir`), and a cache miss is a {@link ModelLoadError}.
   * `true` lets the loader download the stored URL (subject to `download` / `PINREC_OFFLINE`). A `modelDir` or
   * `modelUrl` given here replaces the stored URL altogether.
   * @default false
   */
  allowStoredUrl?: boolean;
}

/**
 * Load an embedder saved with {@link Embedder.save}: same model (by name or URL; `overrides` can point at a
 * folder with `modelDir` or at a URL with `modelUrl`, or set `workers`, `batchSize`, limits), same options, same
 * projection and embedding head (files of version 1, from before heads, load too). The fallback is never
 * substituted silently: if the saved model cannot be loaded this throws.
 *
 * Nothing in the file makes the loader fetch from a place the caller did not choose: a `modelUrl` stored in the
 * file is downloaded only with `allowStoredUrl: true` (otherwise only a cached copy is used), and a caller's
 * `modelDir` / `modelUrl` replaces it. (A registered model name is resolved as {@link loadEmbedder} does:
 * `PINREC_MODEL_DIR`, the cache, then the hub the caller configured, if `download` allows.)
 *
 * @throws {FileFormatError} for a bad file; {@link ModelLoadError} when the model cannot be loaded or differs, or
 *   when the stored URL is not cached and `allowStoredUrl` is not set; {@link InvalidParameterError} for bad options
 * @example
 * const again = await loadSavedEmbedder('embedder.pinrec', { modelDir: '../shared/models', workers: 2 });
 * const fromUrl = await loadSavedEmbedder('embedder.pinrec', { allowStoredUrl: true }); // trust the file's URL
 */
export async function loadSavedEmbedder(file: string, overrides: LoadSavedEmbedderOptions = {}): Promise<Embedder> {
  if (overrides === null || typeof overrides !== 'object') throw new InvalidParameterError('overrides', 'an object', overrides);
  const { allowStoredUrl: allowGiven, ...rest } = overrides;
  const allowStoredUrl = checkBool('allowStoredUrl', allowGiven ?? false);
  const { meta: m, projection, head } = await readSavedEmbedder(file);
  const callerChoosesPlace = rest.modelDir !== undefined || rest.modelUrl !== undefined;
  const storedUrl = !callerChoosesPlace && m.modelUrl ? m.modelUrl : undefined;
  if (storedUrl !== undefined && !allowStoredUrl) {
    const cacheDir = rest.cacheDir !== undefined && typeof rest.cacheDir === 'string' ? path.resolve(rest.cacheDir) : defaultCacheDir();
    if (!(await readCache(cacheDir, cacheKey(storedUrl, true)))) {
      throw new ModelLoadError(storedUrl, `${file} was saved from this URL, which is not in the cache (${cacheDir}); a saved file never makes pinrec ` +
        'download: pass { allowStoredUrl: true } to download it, or modelDir / modelUrl to load the model from a place you choose');
    }
  }
  const e = await loadEmbedder({
    ...rest,
    model: m.model,
    ...(storedUrl !== undefined ? { modelUrl: storedUrl, ...(allowStoredUrl ? {} : { download: false }) } : {}),
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
  // The file's projection and head replace any given in `overrides` (a head belongs to its projection).
  if (projection || head) e.setHead(undefined);
  if (projection) e.setProjection(projection);
  if (head) e.setHead(head);
  return e;
}
