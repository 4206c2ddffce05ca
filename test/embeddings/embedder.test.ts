/**
 * Embedder behaviour on the real MobileNet V1 0.75 (../shared/models) and real photos: unit vectors, batch ==
 * single, one bad image does not fail the batch, no tensor leaks, worker pool == in-process, flip symmetry,
 * projection save/load, retrieval quality on a small labelled sample.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import sharp from 'sharp';
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  loadEmbedder, loadSavedEmbedder, ImageDecodeError, retrievalAtK, PcaProjection, FileFormatError, ModelLoadError,
  DimensionMismatchError, type Embedder,
} from './imports.js';
import { CALTECH, guardNetwork, HAVE_CALTECH, HAVE_MODELS, MODELS_ROOT, tempDir } from './helpers.js';

const CATS = ['Leopards', 'airplanes', 'grand_piano', 'ketch', 'hawksbill', 'sunflower'];
const img = (cat: string, i: number) => path.join(CALTECH, 'images', cat, `image_${String(i).padStart(4, '0')}.jpg`);

function norm(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}
function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.skipIf(!HAVE_MODELS || !HAVE_CALTECH)('Embedder (MobileNet V1 0.75, real photos)', () => {
  let e: Embedder;
  let tmp: string;
  const files = CATS.flatMap((c) => [1, 2, 3, 4, 5, 6].map((i) => img(c, i)));
  const labels = CATS.flatMap((c) => [c, c, c, c, c, c]);

  beforeAll(async () => {
    guardNetwork();
    tmp = await tempDir('embedder');
    e = await loadEmbedder({ modelDir: MODELS_ROOT, batchSize: 8 });
  });
  afterAll(async () => {
    await e?.dispose();
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('reports what it runs', () => {
    expect(e.dim).toBe(768);
    expect(e.info).toMatchObject({ model: 'mobilenet_v1_0.75_224', source: 'dir', inputSize: 224, featureLayer: 'global_average_pooling2d_1', rawDim: 768, imagenet: true, workers: 0 });
    expect(['tensorflow', 'wasm', 'cpu']).toContain(e.info.backend);
    expect(e.info.fallback).toBeUndefined();
  });

  it('embeds to unit-length vectors; batch equals single; Buffer, path and sharp instance agree', async () => {
    const r = await e.embedBatch(files.slice(0, 10));
    expect(r.failed).toEqual([]);
    expect(r.vectors.length).toBe(10 * 768);
    for (let i = 0; i < 10; i++) expect(norm(r.vectors.subarray(i * 768, (i + 1) * 768))).toBeCloseTo(1, 5);
    const one = await e.embed(files[3]);
    expect(maxAbsDiff(one, r.vectors.subarray(3 * 768, 4 * 768))).toBeLessThan(1e-5);
    const buf = readFileSync(files[3]);
    expect(maxAbsDiff(await e.embed(buf), one)).toBeLessThan(1e-5);
    expect(maxAbsDiff(await e.embed(sharp(buf)), one)).toBeLessThan(1e-5);
  });

  it('matches ImageNet semantics: same-category photos are closer than cross-category ones', async () => {
    const r = await e.embedBatch([img('Leopards', 1), img('Leopards', 2), img('airplanes', 1)]);
    const dot = (a: number, b: number) => { let s = 0; for (let j = 0; j < 768; j++) s += r.vectors[a * 768 + j] * r.vectors[b * 768 + j]; return s; };
    expect(dot(0, 1)).toBeGreaterThan(dot(0, 2) + 0.2);
  });

  it('one bad image does not fail the others; the result says which and why', async () => {
    const truncated = readFileSync(files[0]).subarray(0, 2000);
    const inputs = [files[0], '/no/such/file.jpg', truncated, files[1], Buffer.from('garbage')];
    const progress: number[] = [];
    const r = await e.embedBatch(inputs, { onProgress: (p) => { expect(p.total).toBe(5); progress.push(p.done); } });
    expect(r.ok).toEqual([true, false, false, true, false]);
    expect(r.failed).toEqual([1, 2, 4]);
    expect(r.errors[1]).toBeInstanceOf(ImageDecodeError);
    expect(r.errors[1]!.message).toContain('/no/such/file.jpg');
    expect((r.errors[2] as ImageDecodeError).source).toBe('inputs[2] (Buffer(2000 bytes))');
    expect(Array.from(r.vectors.subarray(768, 2 * 768)).every((v) => v === 0)).toBe(true);
    const good = await e.embedBatch([files[0], files[1]]);
    expect(maxAbsDiff(r.vectors.subarray(3 * 768, 4 * 768), good.vectors.subarray(768, 2 * 768))).toBeLessThan(1e-5);
    expect(progress.at(-1)).toBe(5);
    await expect(e.embed('/no/such/file.jpg')).rejects.toThrow(ImageDecodeError);
    expect((await e.embedBatch([])).count).toBe(0);
    await expect(e.embedBatch('x.jpg' as never)).rejects.toThrow(/inputs must be an array/);
  });

  it('does not leak tensors', async () => {
    await e.embedBatch(files.slice(0, 3));
    const before = await e.liveTensors();
    const beforeGlobal = tf.memory().numTensors;
    await e.embedBatch(files.slice(0, 12));
    await e.embedBatch([files[0], '/missing.jpg']);
    expect(await e.liveTensors()).toBe(before);
    expect(tf.memory().numTensors).toBe(beforeGlobal);
  });

  it('flip averaging is mirror-symmetric: an image and its mirror get the same vector', async () => {
    const f = await loadEmbedder({ modelDir: MODELS_ROOT, flip: true, powerNorm: 0.5 });
    try {
      // Square 224x224 so decoding does no (possibly off-by-one, asymmetric) centre crop.
      const plain = await sharp(readFileSync(img('ketch', 1))).resize(224, 224, { fit: 'fill' }).png().toBuffer();
      const mirrored = await sharp(plain).flop().png().toBuffer();
      const [a, b] = [await f.embed(plain), await f.embed(mirrored)];
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
      expect(norm(a)).toBeCloseTo(1, 5);
      // Without flips, an asymmetric photo and its mirror differ.
      expect(maxAbsDiff(await e.embed(plain), await e.embed(mirrored))).toBeGreaterThan(1e-3);
    } finally {
      await f.dispose();
    }
  });

  it('retrieval on 6 categories x 6 photos is far above chance (P@5 >= 0.7; chance = 0.14)', async () => {
    const r = await e.embedBatch(files);
    const s = retrievalAtK(r.vectors, r.dim, labels, 5);
    expect(s.queries).toBe(36);
    expect(s.precision).toBeGreaterThanOrEqual(0.7);
  });

  it('fits a projection, saves with the embedder, and loads back to identical vectors', async () => {
    const p = await e.fitProjection(files, { dim: 16, whiten: 1 });
    try {
      expect(e.dim).toBe(16);
      expect(p.inputDim).toBe(768);
      const v = await e.embed(files[7]);
      expect(v.length).toBe(16);
      expect(norm(v)).toBeCloseTo(1, 5);
      const file = path.join(tmp, 'embedder.pinrec');
      await e.save(file);
      const again = await loadSavedEmbedder(file, { modelDir: MODELS_ROOT });
      try {
        expect(again.dim).toBe(16);
        expect(maxAbsDiff(await again.embed(files[7]), v)).toBeLessThan(1e-6);
      } finally {
        await again.dispose();
      }
      const bytes = await fsp.readFile(file);
      bytes[bytes.length - 40] ^= 0xff;
      await fsp.writeFile(path.join(tmp, 'bad.pinrec'), bytes);
      await expect(loadSavedEmbedder(path.join(tmp, 'bad.pinrec'), { modelDir: MODELS_ROOT })).rejects.toThrow(FileFormatError);
      expect(() => e.setProjection(PcaProjection.fit(new Float32Array(40).map((_, i) => Math.sin(i)), 4, { dim: 2 }))).toThrow(DimensionMismatchError);
    } finally {
      e.setProjection(undefined);
    }
    expect(e.dim).toBe(768);
  });

  it('the worker pool gives the same vectors as in-process inference, with progress and no leaks', async () => {
    const w = await loadEmbedder({ modelDir: MODELS_ROOT, workers: 2, batchSize: 4 });
    try {
      expect(w.info.workers).toBe(2);
      const inputs = [...files.slice(0, 10), '/missing.jpg'];
      const ref = await e.embedBatch(inputs);
      const before = await w.liveTensors();
      const done: number[] = [];
      const r = await w.embedBatch(inputs, { onProgress: (p) => done.push(p.done) });
      expect(r.failed).toEqual([10]);
      expect(maxAbsDiff(r.vectors, ref.vectors)).toBeLessThan(1e-5);
      expect(done.at(-1)).toBe(11);
      expect([...done].sort((a, b) => a - b)).toEqual(done);
      expect(await w.liveTensors()).toBe(before);
    } finally {
      await w.dispose();
    }
    await expect(w.embed(files[0])).rejects.toThrow(/disposed/);
  });

  it('the fused (BatchNorm-folded) forward pass matches the plain layers model', async () => {
    expect(e.info.fused).toBe(true);
    const plain = await loadEmbedder({ modelDir: MODELS_ROOT, fuse: false });
    try {
      expect(plain.info.fused).toBe(false);
      const a = await e.embedBatch(files.slice(0, 4));
      const b = await plain.embedBatch(files.slice(0, 4));
      expect(maxAbsDiff(a.vectors, b.vectors)).toBeLessThan(1e-5);
    } finally {
      await plain.dispose();
    }
  });

  it('takes another feature layer with GeM or max pooling (layer choice)', async () => {
    const g = await loadEmbedder({ modelDir: MODELS_ROOT, featureLayer: 'conv_pw_13_relu', pooling: 'gem', gemP: 3 });
    try {
      expect(g.dim).toBe(768);
      expect(g.info.pooling).toBe('gem');
      const v = await g.embed(files[0]);
      expect(norm(v)).toBeCloseTo(1, 5);
      // GeM with p = 3 differs from plain average pooling of the same layer.
      expect(maxAbsDiff(v, await e.embed(files[0]))).toBeGreaterThan(1e-3);
    } finally {
      await g.dispose();
    }
    const logits = await loadEmbedder({ modelDir: MODELS_ROOT, featureLayer: 'reshape_2' });
    expect(logits.dim).toBe(1000);
    await logits.dispose();
  });
});
