/**
 * Where models come from: the registry of named models, local folders, URLs (with an on-disk cache), and the
 * bundled nsfwjs MobileNetV2 used as the offline fallback. Everything here produces {@link ModelArtifacts}:
 * the parsed `model.json` plus all weight bytes in memory, which TF.js loads through `tf.io.fromMemory`
 * (in this thread or in a worker). `file://` URLs do not work in plain `@tensorflow/tfjs`, so folders are read
 * with `fs` here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { ModelLoadError } from './errors.js';
import { fetchBytes, FetchFailure } from '../core/http.js';
import type { NormalizationName } from './preprocess.js';

/** Pooling applied when the feature layer is a feature map `[batch, h, w, c]`. */
export type Pooling = 'avg' | 'max' | 'gem';

/** One weight entry of a `model.json` manifest. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number };
  [k: string]: unknown;
}

/** A model in memory, ready for `tf.io.fromMemory`. Plain data, so it can be posted to a worker. */
export interface ModelArtifacts {
  format: 'layers' | 'graph';
  modelTopology: object;
  weightSpecs: WeightSpec[];
  weightData: ArrayBuffer;
  /** Other `model.json` fields a graph model may need (signature, userDefinedMetadata, modelInitializer). */
  extra: Record<string, unknown>;
}

/** A numeric fingerprint of a model: its feature vector for a fixed synthetic input. */
export interface Fingerprint {
  /** L2 norm of the raw pooled feature. */
  norm: number;
  /** Feature values at `indices`. */
  indices: number[];
  values: number[];
  /** Values of the full model's output (class probabilities) at some indices, to catch corrupted classifier weights too. */
  output?: { indices: number[]; values: number[] };
}

/** A model pinrec knows by name. */
export interface RegisteredModel {
  name: string;
  /** Path under the hub base URL; absent for models that are only loadable from a local folder. */
  hubPath?: string;
  /** Folder name under a models root (`PINREC_MODEL_DIR=../shared/models`). */
  folder: string;
  featureLayer: string;
  pooling: Pooling;
  size: number;
  normalization: NormalizationName;
  dim: number;
  /** Exact parameter count of the full model (checked after loading). */
  params: number;
  /** Trained on ImageNet-1k (false for the nsfwjs fallback). */
  imagenet: boolean;
  fingerprint?: Fingerprint;
  description: string;
}

/** Default hub: Google's public TF.js model bucket. */
export const DEFAULT_HUB_URL = 'https://storage.googleapis.com/tfjs-models/tfjs/';

/** The default model's name. */
export const DEFAULT_MODEL = 'mobilenet_v1_0.75_224';

/** The bundled fallback's name. */
export const FALLBACK_MODEL = 'nsfwjs_mobilenet_v2';

/** Models known by name. */
export const MODELS: Readonly<Record<string, RegisteredModel>> = Object.freeze({
  'mobilenet_v1_0.75_224': {
    name: 'mobilenet_v1_0.75_224',
    hubPath: 'mobilenet_v1_0.75_224/model.json',
    folder: 'mobilenet_v1_0.75_224',
    featureLayer: 'global_average_pooling2d_1',
    pooling: 'avg',
    size: 224,
    normalization: 'tf',
    dim: 768,
    params: 2_601_976,
    imagenet: true,
    // Feature of fingerprintInput(224) on the verified copy (../shared/models, SHA-256 in its PROVENANCE.md);
    // wasm and cpu backends agree to 1e-6.
    fingerprint: {
      norm: 26.026098,
      indices: [5, 126, 159, 264, 267, 287, 300, 754],
      values: [0.037823, 5.820639, 5.569200, 5.582673, 5.475210, 5.901838, 0, 5.501483],
      output: { indices: [723, 522, 545, 811, 701], values: [0.299168, 0.142771, 0.049443, 0.030804, 0.023938] },
    },
    description: 'MobileNet V1 (alpha 0.75, 224), ImageNet-1k, Keras weights converted by Google for TF.js; 768-d pooled features',
  },
  tiny_darknet_imagenet: {
    name: 'tiny_darknet_imagenet',
    folder: 'tiny_darknet_imagenet',
    featureLayer: 'leaky_re_lu_15',
    pooling: 'avg',
    size: 224,
    normalization: 'unit',
    dim: 128,
    params: 1_046_488,
    imagenet: true,
    description: 'Tiny Darknet, ImageNet-1k (ml5 conversion); 128-d average-pooled leaky_re_lu_15; local folder only',
  },
  [FALLBACK_MODEL]: {
    name: FALLBACK_MODEL,
    folder: FALLBACK_MODEL,
    featureLayer: 'block_15_add',
    pooling: 'avg',
    size: 224,
    normalization: 'unit',
    dim: 160,
    params: 0, // filled from the bundled manifest; not checked
    imagenet: false,
    description: 'MobileNetV2 backbone bundled in the npm package nsfwjs (fine-tuned for 5 NSFW classes, uint8-quantised); 160-d average-pooled block_15_add. Offline fallback only: much weaker for general photos',
  },
});

const REGISTRY: ReadonlyMap<string, RegisteredModel> = new Map(Object.entries(MODELS));

/**
 * The registered model called `name`, or `undefined`. Only real entries count: inherited names such as
 * `'toString'` are not models.
 * @example
 * registeredModel('mobilenet_v1_0.75_224')?.dim; // 768
 * registeredModel('toString');                   // undefined
 */
export function registeredModel(name: string): RegisteredModel | undefined {
  return typeof name === 'string' ? REGISTRY.get(name) : undefined;
}

/**
 * Names of the registered models, in registry order.
 * @example
 * registeredModelNames(); // ['mobilenet_v1_0.75_224', 'tiny_darknet_imagenet', 'nsfwjs_mobilenet_v2']
 */
export function registeredModelNames(): string[] {
  return [...REGISTRY.keys()];
}

const SHARD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;
const MAX_WEIGHT_BYTES = 2 * 1024 * 1024 * 1024;

interface ModelJson {
  format?: string;
  modelTopology?: object;
  weightsManifest?: { paths: string[]; weights: WeightSpec[] }[];
  [k: string]: unknown;
}

function parseModelJson(bytes: Buffer, source: string): ModelJson {
  let mj: ModelJson;
  try {
    mj = JSON.parse(bytes.toString('utf8')) as ModelJson;
  } catch (e) {
    throw new ModelLoadError(source, `model.json is not valid JSON (${(e as Error).message})`);
  }
  if (!mj || typeof mj !== 'object' || !mj.modelTopology || typeof mj.modelTopology !== 'object') {
    throw new ModelLoadError(source, 'model.json has no modelTopology: not a TF.js model');
  }
  if (!Array.isArray(mj.weightsManifest) || mj.weightsManifest.some((g) => !Array.isArray(g?.paths) || !Array.isArray(g?.weights))) {
    throw new ModelLoadError(source, 'model.json has no valid weightsManifest');
  }
  for (const g of mj.weightsManifest) {
    for (const p of g.paths) {
      if (typeof p !== 'string' || !SHARD_NAME.test(p) || p.includes('..')) {
        throw new ModelLoadError(source, `weight file name ${JSON.stringify(p)} is not a plain file name; refusing it`);
      }
    }
  }
  return mj;
}

/** Detect layers vs graph model from a parsed model.json. */
function detectFormat(mj: ModelJson): 'layers' | 'graph' {
  if (mj.format === 'graph-model') return 'graph';
  if (mj.format === 'layers-model') return 'layers';
  const topo = mj.modelTopology as Record<string, unknown>;
  if ('node' in topo || 'versions' in topo) return 'graph';
  return 'layers';
}

/** Bytes per element of each weight dtype (a Map: dtype names come from model.json, `'toString'` must not match). */
const DTYPE_BYTES: ReadonlyMap<string, number> = new Map([
  ['float32', 4], ['int32', 4], ['bool', 1], ['uint8', 1], ['int8', 1], ['uint16', 2], ['int16', 2], ['float16', 2], ['complex64', 8],
]);

/** Bytes a weight manifest needs, or undefined when it holds strings (variable size). */
export function manifestBytes(specs: WeightSpec[]): number | undefined {
  let total = 0;
  for (const s of specs) {
    const dt = s.quantization?.dtype ?? s.dtype;
    const b = typeof dt === 'string' ? DTYPE_BYTES.get(dt) : undefined;
    if (b === undefined) return undefined;
    total += b * s.shape.reduce((a, v) => a * v, 1);
  }
  return total;
}

function toArtifacts(mj: ModelJson, shards: Buffer[], source: string): ModelArtifacts {
  const weightSpecs = mj.weightsManifest!.flatMap((g) => g.weights);
  const total = shards.reduce((a, b) => a + b.length, 0);
  const need = manifestBytes(weightSpecs);
  if (need !== undefined && need !== total) {
    throw new ModelLoadError(source, `weight files hold ${total} bytes but the manifest needs ${need}: a shard is truncated or wrong`);
  }
  const weightData = new ArrayBuffer(total);
  const view = new Uint8Array(weightData);
  let off = 0;
  for (const b of shards) { view.set(b, off); off += b.length; }
  const { modelTopology, weightsManifest: _wm, format: _f, ...extra } = mj;
  return { format: detectFormat(mj), modelTopology: modelTopology as object, weightSpecs, weightData, extra };
}

/** Does `dir` hold a model.json? */
export async function hasModelJson(dir: string): Promise<boolean> {
  try {
    return (await fsp.stat(path.join(dir, 'model.json'))).isFile();
  } catch {
    return false;
  }
}

/**
 * Read a TF.js model folder (`model.json` + weight files) into memory.
 * @throws {ModelLoadError} when the folder, model.json or a shard is missing or malformed
 */
export async function readModelDir(dir: string): Promise<ModelArtifacts> {
  const source = path.resolve(dir);
  let mjBytes: Buffer;
  try {
    mjBytes = await fsp.readFile(path.join(dir, 'model.json'));
  } catch (e) {
    throw new ModelLoadError(source, `cannot read model.json (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  const mj = parseModelJson(mjBytes, source);
  const shards: Buffer[] = [];
  for (const p of mj.weightsManifest!.flatMap((g) => g.paths)) {
    try {
      shards.push(await fsp.readFile(path.join(dir, p)));
    } catch (e) {
      throw new ModelLoadError(source, `cannot read weight file ${p} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
    }
  }
  return toArtifacts(mj, shards, source);
}

/** Download options. */
export interface DownloadOptions {
  timeoutMs: number;
  /** Called after each file with bytes so far. */
  onFile?: (file: string, done: number, total: number) => void;
}

interface DownloadedModel {
  artifacts: ModelArtifacts;
  files: Map<string, Buffer>;
}

/**
 * Download a TF.js model (`model.json` URL) and its weight files into memory.
 * @throws {ModelLoadError} for HTTP errors, timeouts, oversized or malformed files
 */
export async function downloadModel(url: string, opts: DownloadOptions): Promise<DownloadedModel> {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new ModelLoadError(url, 'is not a valid URL');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new ModelLoadError(url, 'model URLs must be http: or https:');
  const get = async (u: string, what: string, maxBytes: number) => {
    try {
      return await fetchBytes(u, { timeoutMs: opts.timeoutMs, maxBytes });
    } catch (e) {
      const f = e as FetchFailure;
      throw new ModelLoadError(url, `downloading ${what} failed: ${f.message}`, { cause: e });
    }
  };
  const files = new Map<string, Buffer>();
  const mjBytes = await get(base.href, 'model.json', MAX_MODEL_JSON_BYTES);
  files.set('model.json', mjBytes);
  const mj = parseModelJson(mjBytes, url);
  const paths = mj.weightsManifest!.flatMap((g) => g.paths);
  const shards: Buffer[] = [];
  let total = 0;
  for (let i = 0; i < paths.length; i++) {
    const b = await get(new URL(paths[i], base).href, `weight file ${paths[i]}`, MAX_WEIGHT_BYTES - total);
    total += b.length;
    shards.push(b);
    files.set(paths[i], b);
    opts.onFile?.(paths[i], i + 1, paths.length);
  }
  return { artifacts: toArtifacts(mj, shards, url), files };
}

/** Default cache folder: `$PINREC_MODEL_CACHE`, else `$XDG_CACHE_HOME/pinrec/models`, else `~/.cache/pinrec/models`. */
export function defaultCacheDir(): string {
  if (process.env.PINREC_MODEL_CACHE) return path.resolve(process.env.PINREC_MODEL_CACHE);
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg ? path.resolve(xdg) : path.join(homedir(), '.cache'), 'pinrec', 'models');
}

/** Cache key for a model: its registered name, or `url-<hash>` for an arbitrary URL. */
export function cacheKey(nameOrUrl: string, isUrl: boolean): string {
  return isUrl ? `url-${createHash('sha256').update(nameOrUrl).digest('hex').slice(0, 20)}` : nameOrUrl;
}

const CACHE_MANIFEST = 'pinrec-cache.json';

interface CacheManifest {
  url: string;
  savedAt: string;
  files: Record<string, string>;
}

/**
 * Read a cached model folder; returns undefined when it is absent or any file's SHA-256 differs from the
 * manifest written at download time (a partial or altered cache counts as a miss).
 */
export async function readCache(cacheDir: string, key: string): Promise<{ artifacts: ModelArtifacts; url: string } | undefined> {
  const dir = path.join(cacheDir, key);
  let man: CacheManifest;
  try {
    man = JSON.parse(await fsp.readFile(path.join(dir, CACHE_MANIFEST), 'utf8')) as CacheManifest;
  } catch {
    return undefined;
  }
  if (!man || typeof man.files !== 'object') return undefined;
  for (const [f, sum] of Object.entries(man.files)) {
    if (!SHARD_NAME.test(f)) return undefined;
    try {
      const b = await fsp.readFile(path.join(dir, f));
      if (createHash('sha256').update(b).digest('hex') !== sum) return undefined;
    } catch {
      return undefined;
    }
  }
  try {
    return { artifacts: await readModelDir(dir), url: man.url };
  } catch {
    return undefined;
  }
}

/** Write a downloaded model into the cache atomically (temp folder, then rename). */
export async function writeCache(cacheDir: string, key: string, url: string, files: Map<string, Buffer>): Promise<string> {
  await fsp.mkdir(cacheDir, { recursive: true });
  const final = path.join(cacheDir, key);
  const tmp = path.join(cacheDir, `.${key}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  await fsp.mkdir(tmp);
  try {
    const sums: [string, string][] = [];
    for (const [name, data] of files) {
      await fsp.writeFile(path.join(tmp, name), data);
      sums.push([name, createHash('sha256').update(data).digest('hex')]);
    }
    const man: CacheManifest = { url, savedAt: new Date().toISOString(), files: Object.fromEntries(sums) };
    await fsp.writeFile(path.join(tmp, CACHE_MANIFEST), JSON.stringify(man, null, 2));
    await fsp.rm(final, { recursive: true, force: true });
    await fsp.rename(tmp, final);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return final;
}

/**
 * The MobileNetV2 bundled inside the npm package `nsfwjs` (weights shipped as base64 inside a JS module).
 * @throws {ModelLoadError} when nsfwjs is not installed
 */
export async function loadBundledFallback(): Promise<ModelArtifacts> {
  type Bundle = { MobileNetV2Model: { modelJson: () => Promise<{ default: ModelJson }>; weightBundles: (() => Promise<{ default: string }>)[] } };
  let mod: Bundle;
  try {
    const spec: string = 'nsfwjs/models/mobilenet_v2';
    mod = (await import(spec)) as Bundle;
  } catch (e) {
    throw new ModelLoadError('nsfwjs', `the fallback model's package is not installed (it is an optional peer dependency: \`npm install nsfwjs\`; ${(e as Error).message.split('\n')[0]})`, { cause: e });
  }
  const mj = (await mod.MobileNetV2Model.modelJson()).default;
  const shards: Buffer[] = [];
  for (const wb of mod.MobileNetV2Model.weightBundles) shards.push(Buffer.from((await wb()).default, 'base64'));
  const copy = JSON.parse(JSON.stringify(mj)) as ModelJson;
  return toArtifacts(parseModelJson(Buffer.from(JSON.stringify(copy)), 'nsfwjs'), shards, 'nsfwjs');
}
