/**
 * Model resolution for {@link loadEmbedder}: from the options and the environment to in-memory model artifacts
 * (no TF.js yet). Order for a registered name: `modelDir` (must work) → `PINREC_MODEL_DIR` → the disk cache →
 * the hub (written to the cache only after the model passed its checks, see {@link Resolved.commit}).
 * `modelUrl` loads any URL (cached too); the bundled fallback is resolved by its own name. Internal.
 */
import * as path from 'node:path';
import { InvalidParameterError } from '../core/errors.js';
import type { ProgressCallback } from '../core/types.js';
import { ModelLoadError } from './errors.js';
import {
  cacheKey, DEFAULT_HUB_URL, DEFAULT_MODEL, downloadModel, FALLBACK_MODEL, hasModelJson, loadBundledFallback,
  readCache, readModelDir, registeredModel, registeredModelNames, writeCache, type ModelArtifacts, type RegisteredModel,
} from './models.js';
import type { LoadEmbedderOptions, ModelSource } from './options.js';
// For {@link} links in the doc comments only.
import type { loadEmbedder } from './load.js';

/** A resolved model: its artifacts and where they came from. */
export interface Resolved {
  artifacts: ModelArtifacts;
  name: string;
  reg?: RegisteredModel;
  source: ModelSource;
  location: string;
  /** Write the download into the cache once the model passed its checks. */
  commit?: () => Promise<void>;
}

/** Is the environment variable `name` set to something other than '', '0' or 'false'? */
export function envFlag(name: string): boolean {
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
export async function resolveModel(o: LoadEmbedderOptions, cacheDir: string, download: boolean, timeoutMs: number): Promise<Resolved> {
  if (o.modelUrl !== undefined) {
    if (typeof o.modelUrl !== 'string' || !/^https?:\/\//i.test(o.modelUrl)) throw new InvalidParameterError('modelUrl', 'an http(s) URL of a model.json', o.modelUrl);
    const key = cacheKey(o.modelUrl, true);
    const hit = await readCache(cacheDir, key);
    const name = o.model ?? o.modelUrl;
    if (hit) return { artifacts: hit.artifacts, name, reg: o.model ? registeredModel(o.model) : undefined, source: 'url-cache', location: path.join(cacheDir, key) };
    if (!download) throw new ModelLoadError(o.modelUrl, 'not in the cache and downloads are off (download: false / PINREC_OFFLINE)');
    const r = await fetchAndCache(o.modelUrl, key, cacheDir, timeoutMs, o.onProgress);
    return { ...r, name, reg: o.model ? registeredModel(o.model) : undefined, source: 'url', location: o.modelUrl };
  }
  const name = o.model ?? DEFAULT_MODEL;
  if (typeof name !== 'string' || name === '') throw new InvalidParameterError('model', 'a non-empty string', name);
  const reg = registeredModel(name);
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
    throw new InvalidParameterError('model', `a registered model (${registeredModelNames().map((m) => `'${m}'`).join(', ')}) unless modelDir or modelUrl is given`, name);
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
