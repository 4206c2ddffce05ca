/**
 * The embedder's own logic (batching, per-image failures, disposal, tensor accounting, worker pool, persistence)
 * on a tiny synthetic CNN written to a temp folder (see fake-model.ts), so it is tested where ../shared/models is
 * absent. PINREC_MODEL_DIR and the cache point at empty temp folders and downloads are off, so nothing here can
 * reach a real model.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  loadEmbedder, loadSavedEmbedder, initBackend, ImageDecodeError, NumericalError, PinrecError, InvalidParameterError,
  type LoadEmbedderOptions,
} from './imports.js';
import { offlineModelEnv, maxAbsDiff } from './helpers.js';
import { blackPng, gradientPng, writeFakeModel, type FakeModel } from './fake-model.js';

function norm(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

describe('Embedder on a fake model (no shared models needed)', () => {
  let tmp: string;
  let fake: FakeModel;
  let images: Buffer[];
  let black: Buffer;
  let opts: LoadEmbedderOptions;
  let env: Awaited<ReturnType<typeof offlineModelEnv>>;

  beforeAll(async () => {
    env = await offlineModelEnv('fake-model'); // any model-dir setting points at an empty folder: only the fake model can load
    tmp = env.tmp;
    // Select the backend the embedder will use, then build the model with the same TF.js instance.
    const h = await initBackend();
    expect(h.tf.getBackend()).toBe(h.backend);
    expect(h.tf.memory().numTensors).toBe(tf.memory().numTensors);
    fake = await writeFakeModel(tf, path.join(tmp, 'fake_cnn'));
    images = await Promise.all(Array.from({ length: 11 }, (_, i) => gradientPng(i)));
    black = await blackPng();
    opts = { model: fake.name, modelDir: fake.dir, featureLayer: fake.featureLayer, preprocessing: { size: fake.size, normalization: 'unit' } };
  });
  afterAll(() => env.restore());

  it('reports its dimension and what it runs', async () => {
    const e = await loadEmbedder({ ...opts, batchSize: 4 });
    try {
      expect(e.dim).toBe(fake.dim);
      expect(e.rawDim).toBe(fake.dim);
      expect(e.info).toMatchObject({
        model: fake.name, source: 'dir', location: path.resolve(fake.dir), inputSize: fake.size, featureLayer: 'features',
        pooling: 'avg', rawDim: fake.dim, dim: fake.dim, params: fake.params, fused: true, workers: 0, batchSize: 4, imagenet: false,
      });
      expect(e.info.fallback).toBeUndefined();
      const v = await e.embed(images[0]);
      expect(v.length).toBe(fake.dim);
      expect(norm(v)).toBeCloseTo(1, 5);
      const raw = await e.embedBatch([images[0]], { output: 'raw' });
      expect(raw.dim).toBe(fake.dim);
      expect(norm(raw.vectors)).not.toBeCloseTo(1, 2);
    } finally {
      await e.dispose();
    }
  });

  it('batching gives the same vectors as embedding one by one (batch sizes 1, 3, 8)', async () => {
    const single = await loadEmbedder({ ...opts, batchSize: 1 });
    const small = await loadEmbedder({ ...opts, batchSize: 3 });
    const big = await loadEmbedder({ ...opts, batchSize: 8, decodeConcurrency: 2 });
    try {
      const oneByOne = new Float32Array(images.length * fake.dim);
      for (let i = 0; i < images.length; i++) oneByOne.set(await single.embed(images[i]), i * fake.dim);
      for (const e of [single, small, big]) {
        const r = await e.embedBatch(images);
        expect(r.failed).toEqual([]);
        expect(r.count).toBe(images.length);
        expect(maxAbsDiff(r.vectors, oneByOne)).toBeLessThan(1e-5);
      }
      // Different images give different vectors (the fake model is not degenerate).
      expect(maxAbsDiff(oneByOne.subarray(0, fake.dim), oneByOne.subarray(fake.dim, 2 * fake.dim))).toBeGreaterThan(1e-3);
    } finally {
      await Promise.all([single.dispose(), small.dispose(), big.dispose()]);
    }
  });

  it('the fused (BatchNorm-folded) pass gives the same vectors as the plain layers model', async () => {
    const fused = await loadEmbedder({ ...opts, batchSize: 4 });
    const plain = await loadEmbedder({ ...opts, batchSize: 4, fuse: false });
    try {
      expect(fused.info.fused).toBe(true);
      expect(plain.info.fused).toBe(false);
      expect(maxAbsDiff((await fused.embedBatch(images)).vectors, (await plain.embedBatch(images)).vectors)).toBeLessThan(1e-5);
    } finally {
      await Promise.all([fused.dispose(), plain.dispose()]);
    }
  });

  it('one bad image in a batch fails only that entry, with a typed reason', async () => {
    const e = await loadEmbedder({ ...opts, batchSize: 8 });
    try {
      const missing = path.join(tmp, 'no-such-file.png');
      const inputs = [images[0], Buffer.from('not an image'), images[1], missing, black, images[2], images[3].subarray(0, 40)];
      const progress: number[] = [];
      const r = await e.embedBatch(inputs, { onProgress: (p) => { expect(p.stage).toBe('embed'); expect(p.total).toBe(inputs.length); progress.push(p.done); } });
      expect(r.ok).toEqual([true, false, true, false, false, true, false]);
      expect(r.failed).toEqual([1, 3, 4, 6]);
      expect(r.errors[1]).toBeInstanceOf(ImageDecodeError);
      expect((r.errors[1] as ImageDecodeError).kind).toBe('decode');
      expect(r.errors[1]!.message).toContain('inputs[1]');
      expect(r.errors[3]).toBeInstanceOf(ImageDecodeError);
      expect((r.errors[3] as ImageDecodeError).kind).toBe('read');
      expect(r.errors[3]!.message).toContain(missing);
      // The black image decodes fine but gives an all-zero feature, which cannot be normalised.
      expect(r.errors[4]).toBeInstanceOf(NumericalError);
      expect(r.errors[4]!.message).toContain('inputs[4]');
      expect(r.errors[6]).toBeInstanceOf(ImageDecodeError);
      for (const i of [0, 2, 5]) expect(r.errors[i]).toBeUndefined();
      for (const i of r.failed) expect(Array.from(r.vectors.subarray(i * r.dim, (i + 1) * r.dim)).every((x) => x === 0)).toBe(true);
      // The good entries are exactly what they are on their own.
      for (const [i, img] of [[0, images[0]], [2, images[1]], [5, images[2]]] as const) {
        expect(maxAbsDiff(r.vectors.subarray(i * r.dim, (i + 1) * r.dim), await e.embed(img))).toBeLessThan(1e-5);
      }
      expect(progress.at(-1)).toBe(inputs.length);
      await expect(e.embed(black)).rejects.toBeInstanceOf(NumericalError);
      await expect(e.embed(Buffer.alloc(0))).rejects.toBeInstanceOf(ImageDecodeError);
      const allBad = await e.embedBatch([missing, black]);
      expect(allBad.failed).toEqual([0, 1]);
      expect((await e.embedBatch([])).count).toBe(0);
      await expect(e.embedBatch('x.png' as never)).rejects.toBeInstanceOf(InvalidParameterError);
    } finally {
      await e.dispose();
    }
  });

  it('dispose() releases every tensor; later calls throw a typed error; disposing twice is safe', async () => {
    const baseline = tf.memory().numTensors;
    const e = await loadEmbedder({ ...opts, batchSize: 4 });
    expect(tf.memory().numTensors).toBeGreaterThan(baseline);
    expect(await e.liveTensors()).toBe(tf.memory().numTensors);
    await e.embedBatch(images.slice(0, 6));
    await e.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
    await e.dispose();
    await expect(e.embedBatch(images)).rejects.toMatchObject({ code: 'DISPOSED' });
    await expect(e.embed(images[0])).rejects.toBeInstanceOf(PinrecError);
    expect(() => e.liveTensors()).toThrow(PinrecError);
    await expect(e.save(path.join(tmp, 'x.pinrec'))).rejects.toMatchObject({ code: 'DISPOSED' });
  });

  it('a failed load (missing feature layer) leaves no tensors behind', async () => {
    const baseline = tf.memory().numTensors;
    await expect(loadEmbedder({ ...opts, featureLayer: 'nope' })).rejects.toThrow(/has no layer 'nope'/);
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('does not leak tensors across 20 batches, with flips and failures', async () => {
    for (const flip of [false, true]) {
      const e = await loadEmbedder({ ...opts, batchSize: 3, flip });
      try {
        await e.embedBatch(images.slice(0, 3));
        const live = await e.liveTensors();
        const global = tf.memory().numTensors;
        for (let b = 0; b < 20; b++) {
          const batch = b % 4 === 3 ? [images[b % images.length], black, Buffer.from('x')] : images.slice(b % 5, (b % 5) + 4);
          const r = await e.embedBatch(batch);
          expect(r.count).toBe(batch.length);
        }
        expect(await e.liveTensors()).toBe(live);
        expect(tf.memory().numTensors).toBe(global);
      } finally {
        await e.dispose();
      }
    }
  });

  it('the worker pool gives the same vectors as in-process inference, and frees its workers', async () => {
    const local = await loadEmbedder({ ...opts, batchSize: 3 });
    const pooled = await loadEmbedder({ ...opts, batchSize: 3, workers: 2 });
    const baseline = tf.memory().numTensors;
    try {
      expect(pooled.info.workers).toBe(2);
      expect(pooled.dim).toBe(fake.dim);
      const inputs = [...images, black];
      const [a, b] = [await local.embedBatch(inputs), await pooled.embedBatch(inputs)];
      expect(b.failed).toEqual([images.length]);
      expect(b.errors[images.length]).toBeInstanceOf(NumericalError);
      expect(a.failed).toEqual(b.failed);
      expect(maxAbsDiff(a.vectors, b.vectors)).toBeLessThan(1e-5);
      const live = await pooled.liveTensors();
      expect(live).toBeGreaterThan(0);
      for (let k = 0; k < 5; k++) await pooled.embedBatch(images);
      expect(await pooled.liveTensors()).toBe(live);
      // The workers' tensors live in their own threads, not in this one.
      expect(tf.memory().numTensors).toBe(baseline);
    } finally {
      await local.dispose();
      await pooled.dispose();
    }
    await expect(pooled.embed(images[0])).rejects.toMatchObject({ code: 'DISPOSED' });
  });

  it('fits a projection, saves, and loads back to identical vectors', async () => {
    const e = await loadEmbedder({ ...opts, powerNorm: 0.5 });
    const file = path.join(tmp, 'fake.pinrec');
    try {
      const p = await e.fitProjection(images, { dim: 4 });
      expect(e.dim).toBe(4);
      expect(p.inputDim).toBe(fake.dim);
      const v = await e.embedBatch(images.slice(0, 4));
      expect(v.dim).toBe(4);
      await e.save(file);
      const again = await loadSavedEmbedder(file, { modelDir: fake.dir });
      try {
        expect(again.dim).toBe(4);
        expect(again.info).toMatchObject({ model: fake.name, featureLayer: 'features', powerNorm: 0.5, projection: { dim: 4 } });
        expect(maxAbsDiff((await again.embedBatch(images.slice(0, 4))).vectors, v.vectors)).toBeLessThan(1e-5);
      } finally {
        await again.dispose();
      }
    } finally {
      await e.dispose();
    }
  });

  it('only the fake model is reachable: a registered name fails offline with a typed error', async () => {
    await expect(loadEmbedder({ model: 'tiny_darknet_imagenet', fallback: false })).rejects.toMatchObject({ code: 'MODEL_LOAD' });
  });
});
