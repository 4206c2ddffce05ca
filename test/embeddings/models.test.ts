/**
 * Model resolution: download from a hub (a local HTTP server on 127.0.0.1 serving ../shared/models), the disk
 * cache, environment variables, failures (404, corrupted or truncated shards, hostile manifests) and the bundled
 * nsfwjs fallback. No test reaches the internet: the default hub is redirected to a closed local port.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { loadEmbedder, ModelLoadError, MODELS, DEFAULT_MODEL, InvalidParameterError, type Embedder } from './imports.js';
import { guardNetwork, HAVE_MODELS, MODELS_ROOT, serve, tempDir, type TestServer } from './helpers.js';

const MN = 'mobilenet_v1_0.75_224';

/** The error a load attempt fails with, or the string 'loaded' (never an Embedder: those do not serialise). */
async function failure(p: Promise<Embedder>): Promise<Error> {
  return p.then(async (e) => { await e.dispose(); return 'loaded' as unknown as Error; }, (x: Error) => x);
}
const MN_DIR = path.join(MODELS_ROOT, MN);

describe.skipIf(!HAVE_MODELS)('model loading', () => {
  let good: TestServer;
  let bad: TestServer;
  let tmp: string;
  let corruptRoot: string;
  let truncRoot: string;
  const open: Embedder[] = [];
  const track = (e: Embedder) => { open.push(e); return e; };

  beforeAll(async () => {
    guardNetwork();
    tmp = await tempDir('models');
    // Same files, but one shard with flipped bytes (same length) and one hub where a shard is truncated.
    corruptRoot = path.join(tmp, 'hub-corrupt');
    truncRoot = path.join(tmp, 'hub-trunc');
    for (const [root, mutate] of [[corruptRoot, (b: Buffer) => { for (let i = 100; i < 4000; i += 7) b[i] ^= 0x5a; return b; }], [truncRoot, (b: Buffer) => b.subarray(0, b.length - 400)]] as const) {
      await fsp.mkdir(path.join(root, MN), { recursive: true });
      for (const f of await fsp.readdir(MN_DIR)) {
        let b: Buffer = await fsp.readFile(path.join(MN_DIR, f));
        if (f === 'group29-shard1of1') b = mutate(Buffer.from(b));
        await fsp.writeFile(path.join(root, MN, f), b);
      }
    }
    good = await serve(MODELS_ROOT);
    bad = await serve(undefined);
  });
  afterAll(async () => {
    await Promise.all(open.map((e) => e.dispose()));
    await good.close();
    await bad.close();
    await fsp.rm(tmp, { recursive: true, force: true });
  });
  beforeEach(() => guardNetwork());

  it('downloads the default model from the (redirected) hub, checks it, caches it, then loads from the cache', async () => {
    const cacheDir = path.join(tmp, 'cache1');
    const progress: number[] = [];
    const e = track(await loadEmbedder({ hubUrl: `${good.url}/`, cacheDir, fallback: false, onProgress: (p) => progress.push(p.done) }));
    expect(e.info.model).toBe(DEFAULT_MODEL);
    expect(e.info.source).toBe('download');
    expect(e.info.location).toBe(`${good.url}/${MN}/model.json`);
    expect(e.info.params).toBe(2_601_976);
    expect(e.dim).toBe(768);
    expect(e.info.fallback).toBeUndefined();
    expect(progress.at(-1)).toBe(55);
    expect(good.requests).toContain(`/${MN}/model.json`);
    expect(existsSync(path.join(cacheDir, MN, 'pinrec-cache.json'))).toBe(true);
    expect(existsSync(path.join(cacheDir, MN, 'group29-shard1of1'))).toBe(true);
    const before = good.requests.length;
    const again = track(await loadEmbedder({ hubUrl: `${good.url}/`, cacheDir, fallback: false }));
    expect(again.info.source).toBe('cache');
    expect(good.requests.length).toBe(before);
    // A cache file altered on disk is a miss: the model is downloaded again.
    const shard = path.join(cacheDir, MN, 'group5-shard1of1');
    const b = await fsp.readFile(shard); b[0] ^= 1; await fsp.writeFile(shard, b);
    const third = track(await loadEmbedder({ hubUrl: `${good.url}/`, cacheDir, fallback: false }));
    expect(third.info.source).toBe('download');
  });

  it('honours PINREC_MODEL_HUB and PINREC_MODEL_CACHE', async () => {
    const cacheDir = path.join(tmp, 'cache-env');
    process.env.PINREC_MODEL_HUB = `${good.url}`;
    process.env.PINREC_MODEL_CACHE = cacheDir;
    try {
      const e = track(await loadEmbedder({ fallback: false }));
      expect(e.info.source).toBe('download');
      expect(existsSync(path.join(cacheDir, MN, 'model.json'))).toBe(true);
    } finally {
      delete process.env.PINREC_MODEL_CACHE;
    }
  });

  it('PINREC_MODEL_DIR (a models root or a model folder) is used before the cache and the hub', async () => {
    process.env.PINREC_MODEL_DIR = MODELS_ROOT;
    const e = track(await loadEmbedder({ cacheDir: path.join(tmp, 'unused') }));
    expect(e.info.source).toBe('dir');
    expect(e.info.location).toBe(MN_DIR);
    process.env.PINREC_MODEL_DIR = MN_DIR;
    const f = track(await loadEmbedder({ cacheDir: path.join(tmp, 'unused') }));
    expect(f.info.source).toBe('dir');
  });

  it('a 404 hub gives ModelLoadError without fallback, and the documented nsfwjs fallback with it', async () => {
    const cacheDir = path.join(tmp, 'cache404');
    const err = await failure(loadEmbedder({ hubUrl: bad.url, cacheDir, fallback: false }));
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toMatch(/HTTP 404/);
    const fb = track(await loadEmbedder({ hubUrl: bad.url, cacheDir }));
    expect(fb.info.model).toBe('nsfwjs_mobilenet_v2');
    expect(fb.info.source).toBe('bundled');
    expect(fb.info.imagenet).toBe(false);
    expect(fb.info.fallback?.requested).toBe(MN);
    expect(fb.info.fallback?.reason).toMatch(/404/);
    expect(fb.dim).toBe(160);
    expect(fb.info.featureLayer).toBe('block_15_add');
    const v = await fb.embed(path.join(MODELS_ROOT, '..', 'datasets', 'caltech101-subset', 'images', 'Leopards', 'image_0001.jpg')).catch(() => undefined);
    if (v) expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    expect(existsSync(path.join(cacheDir, MN))).toBe(false);
  });

  it('offline with an empty cache falls back (PINREC_OFFLINE=1 / download: false)', async () => {
    process.env.PINREC_OFFLINE = '1';
    const e = track(await loadEmbedder({ cacheDir: path.join(tmp, 'empty') }));
    expect(e.info.fallback?.reason).toMatch(/downloads are off/);
    const strict = await failure(loadEmbedder({ cacheDir: path.join(tmp, 'empty'), fallback: false }));
    expect(strict).toBeInstanceOf(ModelLoadError);
  });

  it('rejects a shard with corrupted bytes (fingerprint check) and caches nothing', async () => {
    const srv = await serve(corruptRoot);
    try {
      const cacheDir = path.join(tmp, 'cache-corrupt');
      const err = await failure(loadEmbedder({ hubUrl: srv.url, cacheDir, fallback: false }));
      expect(err).toBeInstanceOf(ModelLoadError);
      expect(err.message).toMatch(/weights differ from the known/);
      expect(existsSync(path.join(cacheDir, MN))).toBe(false);
      const fb = track(await loadEmbedder({ hubUrl: srv.url, cacheDir }));
      expect(fb.info.fallback?.reason).toMatch(/corrupted/);
    } finally {
      await srv.close();
    }
  });

  it('rejects a truncated shard by size', async () => {
    const srv = await serve(truncRoot);
    try {
      const err = await failure(loadEmbedder({ hubUrl: srv.url, cacheDir: path.join(tmp, 'cache-trunc'), fallback: false }));
      expect(err).toBeInstanceOf(ModelLoadError);
      expect(err.message).toMatch(/weight files hold 10407504 bytes but the manifest needs 10407904/);
    } finally {
      await srv.close();
    }
  });

  it('refuses manifests whose weight paths leave the folder', async () => {
    const mj = JSON.parse(await fsp.readFile(path.join(MN_DIR, 'model.json'), 'utf8'));
    mj.weightsManifest[0].paths = ['../../../etc/passwd'];
    const srv = await serve(undefined, { '/evil/model.json': Buffer.from(JSON.stringify(mj)) });
    try {
      const err = await failure(loadEmbedder({ modelUrl: `${srv.url}/evil/model.json`, cacheDir: path.join(tmp, 'evil'), featureLayer: 'global_average_pooling2d_1' }));
      expect(err).toBeInstanceOf(ModelLoadError);
      expect(err.message).toMatch(/not a plain file name/);
    } finally {
      await srv.close();
    }
  });

  it('loads any layers model from a URL with its feature layer and preprocessing (Tiny Darknet), and caches it', async () => {
    const cacheDir = path.join(tmp, 'cache-url');
    const url = `${good.url}/tiny_darknet_imagenet/model.json`;
    const e = track(await loadEmbedder({ modelUrl: url, featureLayer: 'leaky_re_lu_15', pooling: 'avg', preprocessing: { normalization: 'unit' }, cacheDir }));
    expect(e.info.source).toBe('url');
    expect(e.dim).toBe(128);
    expect(e.info.params).toBe(MODELS.tiny_darknet_imagenet.params);
    expect(e.info.preprocessing.std).toEqual([1, 1, 1]);
    const again = track(await loadEmbedder({ modelUrl: url, featureLayer: 'leaky_re_lu_15', preprocessing: { normalization: 'unit' }, cacheDir }));
    expect(again.info.source).toBe('url-cache');
  });

  it('loads a registered model from a models root by name, and reports a missing feature layer', async () => {
    const e = track(await loadEmbedder({ model: 'tiny_darknet_imagenet', modelDir: MODELS_ROOT }));
    expect(e.dim).toBe(128);
    expect(e.info.featureLayer).toBe('leaky_re_lu_15');
    const err = await failure(loadEmbedder({ modelDir: MODELS_ROOT, featureLayer: 'no_such_layer' }));
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toMatch(/has no layer 'no_such_layer'/);
  });

  it('an explicit modelDir that holds no model throws (no silent fallback)', async () => {
    const err = await failure(loadEmbedder({ modelDir: path.join(tmp, 'nothing-here') }));
    expect(err).toBeInstanceOf(ModelLoadError);
    expect(err.message).toContain('nothing-here');
  });

  it('validates options', async () => {
    await expect(loadEmbedder({ workers: -1 })).rejects.toThrow(InvalidParameterError);
    await expect(loadEmbedder({ batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(loadEmbedder({ powerNorm: 2 })).rejects.toThrow(/powerNorm/);
    await expect(loadEmbedder({ model: 'resnet9000' })).rejects.toThrow(/registered model/);
    await expect(loadEmbedder({ modelUrl: 'ftp://x/model.json' })).rejects.toThrow(/modelUrl/);
    await expect(loadEmbedder({ hubUrl: 'nope' })).rejects.toThrow(/hubUrl/);
    await expect(loadEmbedder({ backend: 'gpu' as never })).rejects.toThrow(/backend/);
  });
});
