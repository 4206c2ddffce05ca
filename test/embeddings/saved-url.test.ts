/**
 * Saved embedder files and URLs (hardening): a file that stores a `modelUrl` never makes the loader fetch it
 * unless the caller allows it (`allowStoredUrl: true`, or its own `modelDir` / `modelUrl`), and downloads follow
 * redirects only within the same origin unless allowed. Local HTTP servers on 127.0.0.1 count the requests.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { promises as fsp } from 'node:fs';
import type { ServerResponse } from 'node:http';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadEmbedder, loadSavedEmbedder, initBackend, ModelLoadError, type Embedder } from './imports.js';
import { guardNetwork, serve, tempDir, type TestServer } from './helpers.js';
import { writeFakeModel, type FakeModel } from './fake-model.js';
import { writeSavedEmbedder } from '../../src/embeddings/saved.js';
import { fetchBytes, FetchFailure } from '../../src/core/http.js';

const redirect = (to: string) => (res: ServerResponse) => { res.writeHead(302, { location: to }); res.end(); };

describe('saved embedder files do not fetch their stored modelUrl', () => {
  let tmp: string;
  let fake: FakeModel;
  let hub: TestServer; // serves the fake model: the URL stored in the file
  let other: TestServer; // the caller's own URL
  let file: string;
  const saved: Record<string, string | undefined> = {};
  const open: Embedder[] = [];

  beforeAll(async () => {
    for (const k of ['PINREC_MODEL_DIR', 'PINREC_MODEL_CACHE', 'PINREC_OFFLINE', 'PINREC_MODEL_HUB']) saved[k] = process.env[k];
    guardNetwork();
    tmp = await tempDir('saved-url');
    await initBackend();
    fake = await writeFakeModel(tf, path.join(tmp, 'fake_cnn'));
    hub = await serve(fake.dir);
    other = await serve(fake.dir);
    file = path.join(tmp, 'emb.pinrec');
    await writeSavedEmbedder(file, {
      model: `${hub.url}/model.json`, modelUrl: `${hub.url}/model.json`, featureLayer: fake.featureLayer, pooling: 'avg', gemP: 3,
      preprocessing: { size: fake.size, fit: 'cover', normalization: 'unit' }, flip: false, powerNorm: 1,
    }, fake.dim, undefined);
  });
  afterAll(async () => {
    await Promise.all(open.map((e) => e.dispose()));
    await hub?.close();
    await other?.close();
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('by default makes no request and says how to allow it', async () => {
    const err = await loadSavedEmbedder(file, { cacheDir: path.join(tmp, 'c1') }).then((e) => { open.push(e); return undefined; }, (e: unknown) => e);
    expect(hub.requests).toEqual([]);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toMatch(/allowStoredUrl/);
  });

  it('a caller modelDir or modelUrl replaces the stored URL (no request to it)', async () => {
    const a = await loadSavedEmbedder(file, { modelDir: fake.dir, cacheDir: path.join(tmp, 'c2') });
    open.push(a);
    expect(a.info.source).toBe('dir');
    const b = await loadSavedEmbedder(file, { modelUrl: `${other.url}/model.json`, cacheDir: path.join(tmp, 'c3') });
    open.push(b);
    expect(b.info.location).toBe(`${other.url}/model.json`);
    expect(other.requests.length).toBeGreaterThan(0);
    expect(hub.requests).toEqual([]);
  });

  it('allowStoredUrl: true fetches the stored URL; a cached copy is then used without it', async () => {
    const e = await loadSavedEmbedder(file, { allowStoredUrl: true, cacheDir: path.join(tmp, 'c4') });
    open.push(e);
    expect(e.info.location).toBe(`${hub.url}/model.json`);
    expect(hub.requests).toContain('/model.json');
    // Now cached: loading again without allowStoredUrl uses the cache and makes no request.
    const n = hub.requests.length;
    const again = await loadSavedEmbedder(file, { cacheDir: path.join(tmp, 'c4') });
    open.push(again);
    expect(again.info.source).toBe('url-cache');
    expect(hub.requests.length).toBe(n);
  });
});

describe('downloads follow redirects only within the same origin', () => {
  let target: TestServer;
  let origin: TestServer;
  beforeAll(async () => {
    target = await serve(undefined, { '/model.json': Buffer.from('{"hello":1}') });
    origin = await serve(undefined, {
      '/same': Buffer.from('same-origin body'),
      '/to-same': redirect('/same'),
      '/loop': redirect('/loop'),
    });
  });
  afterAll(async () => {
    await target?.close();
    await origin?.close();
  });

  it('fetchBytes follows a same-origin redirect, refuses a cross-origin one without touching the other host', async () => {
    expect((await fetchBytes(`${origin.url}/to-same`, { timeoutMs: 5000, maxBytes: 1000 })).toString()).toBe('same-origin body');
    // A redirect to another port of 127.0.0.1 is another origin.
    const cross = await serve(undefined, { '/x': redirect(`${target.url}/model.json`) });
    try {
      const err = await fetchBytes(`${cross.url}/x`, { timeoutMs: 5000, maxBytes: 1000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FetchFailure);
      expect((err as FetchFailure).kind).toBe('redirect');
      expect((err as Error).message).toMatch(/origin/);
      expect(target.requests).toEqual([]);
      const ok = await fetchBytes(`${cross.url}/x`, { timeoutMs: 5000, maxBytes: 1000, allowCrossOriginRedirects: true });
      expect(ok.toString()).toBe('{"hello":1}');
      expect(target.requests).toEqual(['/model.json']);
    } finally {
      await cross.close();
    }
    const loop = await fetchBytes(`${origin.url}/loop`, { timeoutMs: 5000, maxBytes: 1000 }).catch((e: unknown) => e);
    expect((loop as FetchFailure).kind).toBe('redirect');
  });

  it('loadEmbedder with a modelUrl that redirects to another host fails without requesting it', async () => {
    const before = target.requests.length;
    const cross = await serve(undefined, { '/m/model.json': redirect(`${target.url}/model.json`) });
    try {
      const err = await loadEmbedder({ modelUrl: `${cross.url}/m/model.json`, cacheDir: await tempDir('redir'), backend: 'cpu' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModelLoadError);
      expect(target.requests.length).toBe(before);
    } finally {
      await cross.close();
    }
  });
});
