/**
 * Supervised embedding heads (head.ts): the gaussian head's exact geometry on a planted case (whitening, posterior,
 * the cosine it induces), its validation-chosen settings beating the input on seen and unseen classes when the
 * within-class nuisance is shared (and beating LDA on unseen ones), determinism and bit-exact persistence; exact
 * LDA on a planted case, a proxy head that learns a planted separation deterministically, bad-label errors, and
 * persistence inside a saved embedder (on the tiny fake model, so no shared models are needed), including files
 * of the previous format version.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Matrix, inverse } from 'ml-matrix';
import {
  fitHead, EmbeddingHead, loadEmbedder, loadSavedEmbedder, initBackend, retrievalAtK, InvalidParameterError, DimensionMismatchError,
  FileFormatError, type LoadEmbedderOptions,
} from './imports.js';
import { Rng } from '../../src/core/rng.js';
import { DEFAULT_HEAD_METHOD } from '../../src/embeddings/head.js';
import { readContainer, writeContainer } from '../../src/core/container.js';
import { tempDir, offlineModelEnv, maxAbsDiff } from './helpers.js';
import { gradientPng, writeFakeModel, type FakeModel } from './fake-model.js';

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** `perClass` Gaussian samples per class in `d` dims; class c has mean `means[c]`, per-axis std `std`. */
function planted(means: number[][], perClass: number, std: number[], seed: number): { x: Float32Array; labels: string[]; d: number } {
  const d = std.length;
  const rng = new Rng(seed);
  const x = new Float32Array(means.length * perClass * d);
  const labels: string[] = [];
  let r = 0;
  for (let c = 0; c < means.length; c++) {
    for (let i = 0; i < perClass; i++, r++) {
      for (let j = 0; j < d; j++) x[r * d + j] = means[c][j] + std[j] * rng.normal();
      labels.push(`class${c}`);
    }
  }
  return { x, labels, d };
}

/** Row-major rows scaled to unit length (zero rows stay zero). */
function l2Rows(m: Float32Array, dim: number): Float32Array {
  const o = m.slice();
  for (let i = 0; i < o.length / dim; i++) {
    const r = o.subarray(i * dim, (i + 1) * dim);
    const s = norm(r);
    if (s > 0) for (let j = 0; j < dim; j++) r[j] /= s;
  }
  return o;
}

/**
 * Classes that differ along 16 of 24 axes (means N(1.5, 1) there, noise 0.5 on every axis), all sharing 4 strong
 * random nuisance directions (amplitude std 3): the nuisance, not the classes, dominates the raw cosine.
 */
function sharedNuisance(seed: number) {
  const d = 24;
  const rng = new Rng(seed);
  const means = (k: number) => Array.from({ length: k }, () => Array.from({ length: d }, (_, j) => (j < 16 ? rng.normal() : 0) + 1.5));
  const nuisance = Array.from({ length: 4 }, () => { const v = Array.from({ length: d }, () => rng.normal()); const s = norm(v); return v.map((a) => a / s); });
  const sample = (classMeans: number[][], perClass: number, prefix: string, r: Rng) => {
    const x = new Float32Array(classMeans.length * perClass * d);
    const labels: string[] = [];
    let row = 0;
    classMeans.forEach((m, c) => {
      for (let i = 0; i < perClass; i++, row++) {
        for (let j = 0; j < d; j++) x[row * d + j] = m[j] + 0.5 * r.normal();
        for (const v of nuisance) { const a = 3 * r.normal(); for (let j = 0; j < d; j++) x[row * d + j] += a * v[j]; }
        labels.push(`${prefix}${c}`);
      }
    });
    return { x, labels };
  };
  const seenMeans = means(8), newMeans = means(8);
  return { d, train: sample(seenMeans, 40, 'seen', rng.fork()), seen: sample(seenMeans, 20, 'seen', rng.fork()), fresh: sample(newMeans, 20, 'new', rng.fork()) };
}

describe("fitHead 'gaussian' (the default)", () => {
  it('is exactly the whitened feature joined with the square-rooted class posterior (fixed settings)', async () => {
    const d = 5, C = 3, per = 12;
    const { x, labels } = planted([[0, 0, 0, 0, 0], [2, 1, 0, 0, 0], [0, 2, 2, 0, 1]], per, [1, 0.5, 1.5, 2, 1], 5);
    const s = 0.3, T = 2, beta = 0.4;
    const head = await fitHead(x, labels, { shrinkage: s, temperature: T, blend: beta });
    expect(head.method).toBe('gaussian');
    expect(head.dim).toBe(d + C);
    expect(head.fitInfo).toMatchObject({ classes: C, samples: C * per, shrinkage: s, shrinkageRule: 'fixed', temperature: T, blend: beta });
    expect(head.fitInfo.selection?.by).toBe('fixed');
    expect(head.posterior?.classes).toEqual(['class0', 'class1', 'class2']);
    // Reference, in float64 with ml-matrix: Σ = (1 − s)·Σw + s·(tr Σw / d)·I, Σw the pooled within-class covariance (1/n).
    const n = C * per;
    const cls = labels.map((l) => Number(l.slice(5)));
    const mu = new Float64Array(d), cm = Array.from({ length: C }, () => new Float64Array(d));
    cls.forEach((c, i) => { for (let j = 0; j < d; j++) { mu[j] += x[i * d + j] / n; cm[c][j] += x[i * d + j] / per; } });
    const Sw = Matrix.zeros(d, d);
    cls.forEach((c, i) => { for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) Sw.set(a, b, Sw.get(a, b) + (x[i * d + a] - cm[c][a]) * (x[i * d + b] - cm[c][b]) / n); });
    const tr = Sw.trace(); // (ml-matrix's mul/add work in place)
    const Sigma = Sw.clone().mul(1 - s).add(Matrix.eye(d).mul(s * tr / d));
    const inv = inverse(Sigma);
    // W whitens: W Σ Wᵀ = I (W = L⁻¹, lower triangular), and the class means are W (μ_c − μ).
    const W = new Matrix(Array.from({ length: d }, (_, a) => Array.from(head.weights.subarray(a * d, (a + 1) * d))));
    const I = W.mmul(Sigma).mmul(W.transpose());
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) expect(I.get(a, b)).toBeCloseTo(a === b ? 1 : 0, 5);
    for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) expect(head.weights[a * d + b]).toBe(0);
    for (let c = 0; c < C; c++) {
      const m = W.mmul(Matrix.columnVector(Array.from(cm[c], (v, j) => v - mu[j]))).to1DArray();
      for (let a = 0; a < d; a++) expect(head.posterior!.means[c * d + a]).toBeCloseTo(m[a], 5);
    }
    // The output, part by part, against the formula.
    const quad = (u: number[], v: number[]) => Matrix.rowVector(u).mmul(inv).mmul(Matrix.columnVector(v)).get(0, 0);
    const centred = (i: number, m: ArrayLike<number>) => Array.from({ length: d }, (_, j) => x[i * d + j] - m[j]);
    const post = (i: number) => {
      const logits = cm.map((m) => -quad(centred(i, m), centred(i, m)) / (2 * T));
      const top = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - top));
      const z = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / z);
    };
    const y = head.applyBatch(x);
    for (const i of [0, 13, 30]) {
      const row = y.subarray(i * head.dim, (i + 1) * head.dim);
      expect(norm(row)).toBeCloseTo(1, 6);
      expect(norm(row.subarray(0, d)) ** 2).toBeCloseTo(1 - beta, 6);
      const p = post(i);
      for (let c = 0; c < C; c++) expect(row[d + c]).toBeCloseTo(Math.sqrt(beta * p[c]), 6);
    }
    // So the cosine of two outputs is (1 − β)·cos_Σ⁻¹ + β·(Bhattacharyya coefficient of the posteriors).
    for (const [i, j] of [[0, 1], [2, 20], [14, 35]]) {
      const a = centred(i, mu), b = centred(j, mu);
      const cosW = quad(a, b) / Math.sqrt(quad(a, a) * quad(b, b));
      const pi = post(i), pj = post(j);
      const bc = pi.reduce((acc, v, c) => acc + Math.sqrt(v * pj[c]), 0);
      let dot = 0;
      for (let k = 0; k < head.dim; k++) dot += y[i * head.dim + k] * y[j * head.dim + k];
      expect(dot).toBeCloseTo((1 - beta) * cosW + beta * bc, 6);
    }
    // A part whose weight is 0 is left out; a far-away input still gives a finite, unit-length output.
    const w0 = await fitHead(x, labels, { shrinkage: s, temperature: T, blend: 0 });
    expect(w0.dim).toBe(d);
    const w1 = await fitHead(x, labels, { shrinkage: s, temperature: T, blend: 1 });
    expect(w1.dim).toBe(C);
    const far = head.apply([1e4, -1e4, 3e3, 0, 5]);
    expect(far.every(Number.isFinite)).toBe(true);
    expect(norm(far)).toBeCloseTo(1, 6);
    expect(() => head.apply(new Float32Array(4))).toThrow(DimensionMismatchError);
  });

  it('chooses its settings on a validation split of the training samples and beats the input on seen and unseen classes when the nuisance is shared', async () => {
    const { d, train, seen, fresh } = sharedNuisance(11);
    const head = await fitHead(train.x, train.labels, { seed: 3 });
    expect(DEFAULT_HEAD_METHOD).toBe('gaussian');
    expect(head.method).toBe('gaussian');
    const sel = head.fitInfo.selection!;
    // 8 classes: 2 held out entirely (80 images); half of each other class's 40 images held out (6 × 20).
    expect(sel).toMatchObject({ by: 'validation', heldOutClasses: 2, newClassImages: 80, sameClassImages: 120, candidates: 410 });
    expect(sel.feasible).toBeGreaterThan(0);
    expect(sel.newClass!).toBeGreaterThanOrEqual(sel.baseNewClass!);
    expect(sel.sameClass!).toBeGreaterThan(sel.baseSameClass!);
    expect(head.fitInfo.blend!).toBeGreaterThan(0);
    const p10 = (h: EmbeddingHead, s: { x: Float32Array; labels: string[] }) => retrievalAtK(h.applyBatch(s.x), h.dim, s.labels, 10).precision;
    const base = (s: { x: Float32Array; labels: string[] }) => retrievalAtK(l2Rows(s.x, d), d, s.labels, 10).precision;
    expect(base(seen)).toBeLessThan(0.6);
    expect(p10(head, seen)).toBeGreaterThan(base(seen) + 0.3);
    expect(p10(head, fresh)).toBeGreaterThan(base(fresh) + 0.3);
    // LDA keeps classes − 1 = 7 of the 16 directions that tell classes apart: as good on seen classes, worse on new ones.
    const lda = await fitHead(train.x, train.labels, { method: 'lda' });
    expect(p10(head, fresh)).toBeGreaterThan(p10(lda, fresh) + 0.05);
  });

  it('is deterministic for a seed and saves and loads bit-exactly', async () => {
    const { train } = sharedNuisance(12);
    const a = await fitHead(train.x, train.labels, { seed: 1 });
    const b = await fitHead(train.x, train.labels, { seed: 1 });
    expect(maxAbsDiff(a.weights, b.weights)).toBe(0);
    expect(maxAbsDiff(a.posterior!.means, b.posterior!.means)).toBe(0);
    expect({ ...a.fitInfo, seconds: 0 }).toEqual({ ...b.fitInfo, seconds: 0 });
    const c = await fitHead(train.x, train.labels, { seed: 2 });
    expect(c.fitInfo.selection).not.toEqual(a.fitInfo.selection); // another split measures other numbers
    const tmp = await tempDir('head-gaussian');
    try {
      const f = path.join(tmp, 'g.pinrec');
      await a.save(f);
      const again = await EmbeddingHead.load(f);
      expect(again.method).toBe('gaussian');
      expect(again.dim).toBe(a.dim);
      expect(again.posterior).toEqual(a.posterior);
      expect(again.fitInfo).toEqual(a.fitInfo);
      expect(maxAbsDiff(again.applyBatch(train.x), a.applyBatch(train.x))).toBe(0);
      // Altered metadata or a missing section is refused.
      const cont = await readContainer<Record<string, unknown>>(f, 'pinrec.head');
      const bad = path.join(tmp, 'bad.pinrec');
      const posterior = cont.meta.posterior as Record<string, unknown>;
      await writeContainer(bad, 'pinrec.head', 1, { ...cont.meta, posterior: { ...posterior, blend: 2 } }, Object.fromEntries(cont.sections));
      await expect(EmbeddingHead.load(bad)).rejects.toThrow(FileFormatError);
      const { 'head.classMeans': _m, ...rest } = Object.fromEntries(cont.sections);
      await writeContainer(bad, 'pinrec.head', 1, cont.meta, rest);
      await expect(EmbeddingHead.load(bad)).rejects.toThrow(FileFormatError);
      await writeContainer(bad, 'pinrec.head', 1, { ...cont.meta, dim: a.dim + 1 }, Object.fromEntries(cont.sections));
      await expect(EmbeddingHead.load(bad)).rejects.toThrow(/do not match/);
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  });

  it('falls back to fixed settings without a usable split, and rejects bad options by name', async () => {
    const { x, labels } = planted([[0, 0, 0], [2, 1, 0]], 10, [1, 1, 1], 6);
    // 2 classes: no class can be held out; the image split alone chooses.
    const two = await fitHead(x, labels);
    expect(two.fitInfo.selection).toMatchObject({ by: 'validation', heldOutClasses: 0, newClassImages: 0, sameClassImages: 10 });
    expect(two.fitInfo.selection!.baseNewClass).toBeUndefined();
    const off = await fitHead(x, labels, { validation: 0, validationClasses: 0 });
    expect(off.fitInfo).toMatchObject({ shrinkageRule: 'ledoit-wolf', temperature: 16, blend: 0.2 });
    expect(off.fitInfo.selection?.by).toBe('fallback');
    const expectParam = async (options: object, parameter: string) => {
      const err = await fitHead(x, labels, options).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidParameterError);
      expect((err as InvalidParameterError).parameter).toBe(parameter);
    };
    await expectParam({ dim: 4 }, 'options.dim');
    await expectParam({ blend: 1.5 }, 'options.blend');
    await expectParam({ temperature: 0 }, 'options.temperature');
    await expectParam({ shrinkage: -0.1 }, 'options.shrinkage');
    await expectParam({ validation: 0.95 }, 'options.validation');
    await expectParam({ validationClasses: 'half' }, 'options.validationClasses');
  });
});

describe('fitHead (standalone, on feature matrices)', () => {
  it("LDA on two Gaussian classes separated along one axis maps that axis (and equals Σw⁻¹(μ₁ − μ₀))", async () => {
    const d = 6;
    const { x, labels } = planted([[0, 0, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0]], 200, [1, 2, 0.5, 1.5, 1, 3], 1);
    const head = await fitHead(x, labels, { method: 'lda' });
    expect(head.method).toBe('lda');
    expect(head.dim).toBe(1); // classes − 1
    expect(head.inputDim).toBe(d);
    const w = head.weights;
    expect(Math.abs(w[0]) / norm(w)).toBeGreaterThan(0.99);
    // Exact: the direction is (shrunk) Σw⁻¹ (μ₁ − μ₀), with Σw the pooled within-class covariance (1/n).
    const n = labels.length;
    const mu = [new Float64Array(d), new Float64Array(d)];
    labels.forEach((l, i) => { const c = l === 'class0' ? 0 : 1; for (let j = 0; j < d; j++) mu[c][j] += x[i * d + j] / 200; });
    const S = Matrix.zeros(d, d);
    labels.forEach((l, i) => {
      const c = l === 'class0' ? 0 : 1;
      for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) S.set(a, b, S.get(a, b) + (x[i * d + a] - mu[c][a]) * (x[i * d + b] - mu[c][b]) / n);
    });
    const s = head.fitInfo.shrinkage!;
    expect(s).toBeGreaterThanOrEqual(0);
    expect(s).toBeLessThan(0.2);
    const trace = S.trace();
    const Sw = S.mul(1 - s).add(Matrix.eye(d).mul(s * trace / d));
    const exact = inverse(Sw).mmul(Matrix.columnVector(Array.from({ length: d }, (_, j) => mu[1][j] - mu[0][j]))).to1DArray();
    const cos = exact.reduce((acc, v, j) => acc + v * w[j], 0) / (norm(exact) * norm(w));
    expect(Math.abs(cos)).toBeGreaterThan(1 - 1e-6);
    // Deterministic sign (largest entry positive) and unit-norm discriminant (wᵀ Σw w = 1).
    expect(w[0]).toBeGreaterThan(0);
    const Sw_w = Sw.mmul(Matrix.columnVector(Array.from(w))).to1DArray();
    expect(Sw_w.reduce((acc, v, j) => acc + v * w[j], 0)).toBeCloseTo(1, 4);
    // The 1-d output is ±1: the sign tells the classes apart (almost all: the classes overlap a little).
    const y = head.applyBatch(x);
    let right = 0;
    labels.forEach((l, i) => { if ((y[i] > 0) === (l === 'class1')) right++; });
    expect(right / n).toBeGreaterThan(0.9);
    expect(head.apply(x.subarray(0, d)).length).toBe(1);
    expect(() => head.apply(new Float32Array(3))).toThrow(DimensionMismatchError);
    // More directions than classes − 1 on request, still unit-length output.
    const wide = await fitHead(x, labels, { method: 'lda', dim: 4 });
    expect(wide.dim).toBe(4);
    expect(norm(wide.apply(x.subarray(0, d)))).toBeCloseTo(1, 5);
  });

  it('a proxy head learns a planted separation, deterministically for a seed, without leaking tensors', async () => {
    await initBackend();
    // 4 classes that differ only along axes 0 and 1 (means ±2, std 0.3), buried under 10 noisy axes (std 1.5).
    const std = [0.3, 0.3, ...Array(10).fill(1.5)];
    const means = [[2, 0], [-2, 0], [0, 2], [0, -2]].map((m) => [...m, ...Array(10).fill(0)]);
    const { x, labels, d } = planted(means, 40, std, 2);
    const before = tf.memory().numTensors;
    const progress: number[] = [];
    const opts = { method: 'proxy' as const, dim: 4, epochs: 100, seed: 7, learningRate: 0.01, batchSize: 32, onProgress: (p: { done: number }) => progress.push(p.done) };
    const a = await fitHead(x, labels, opts);
    expect(tf.memory().numTensors).toBe(before);
    expect(a.method).toBe('proxy');
    expect(a.dim).toBe(4);
    expect(a.fitInfo.validationSamples).toBe(32); // 20 % of each class of 40
    expect(a.fitInfo.bestEpoch).toBeGreaterThanOrEqual(1);
    expect(progress.length).toBe(a.fitInfo.epochsRun);
    const b = await fitHead(x, labels, { ...opts, onProgress: undefined });
    expect(maxAbsDiff(a.weights, b.weights)).toBe(0);
    const c = await fitHead(x, labels, { ...opts, seed: 8, onProgress: undefined });
    expect(maxAbsDiff(a.weights, c.weights)).toBeGreaterThan(0);
    // Retrieval by label: the raw (normalised) features are noisy; the head's output separates the classes.
    const l2 = (m: Float32Array, dim: number) => { const o = m.slice(); for (let i = 0; i < o.length / dim; i++) { const r = o.subarray(i * dim, (i + 1) * dim); const s = norm(r); for (let j = 0; j < dim; j++) r[j] /= s; } return o; };
    const test = planted(means, 40, std, 3); // fresh samples of the same classes
    const base = retrievalAtK(l2(test.x, d), d, test.labels, 10).precision;
    const headP = retrievalAtK(a.applyBatch(test.x), a.dim, test.labels, 10).precision;
    expect(base).toBeLessThan(0.7);
    expect(headP).toBeGreaterThan(base + 0.1);
    // The trained projection puts more of its weight on the two informative axes than the random start did.
    const share = (w: Float32Array) => { let inf = 0, all = 0; for (let k = 0; k < a.dim; k++) for (let j = 0; j < d; j++) { const v = w[k * d + j] ** 2; all += v; if (j < 2) inf += v; } return inf / all; };
    expect(share(a.weights)).toBeGreaterThan(1.5 * (2 / d)); // 2 / d: an isotropic projection
  });

  it('rejects bad labels with errors naming the parameter', async () => {
    const x = new Float32Array(12).map((_, i) => Math.sin(i));
    const expectLabels = async (labels: unknown, re: RegExp) => {
      const err = await fitHead(x, labels as string[], { method: 'lda' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidParameterError);
      expect((err as InvalidParameterError).parameter).toBe('labels');
      expect((err as Error).message).toMatch(re);
    };
    await expectLabels(['a', 'a', 'a', 'a'], /at least 2 distinct classes/);
    await expectLabels(['a', 'a', 'a', 'b'], /at least 2 samples per class \(class "b" has 1\)/);
    await expectLabels(['a', 'a', 'b', 'b', 'b'], /one label per row of features/);
    await expectLabels(['a', 'b', 'b', 'a', 'c', 'c', 'a', 'b'], /one label per row/); // 12 values, not 8 rows
    const e2 = await fitHead(x, ['a', 'b', null, 'a'] as unknown as string[]).catch((e: unknown) => e);
    expect((e2 as InvalidParameterError).parameter).toBe('labels[2]');
    await expect(fitHead(x, ['a', 'a', 'b', 'b'], { method: 'nope' as 'lda' })).rejects.toThrow(/options\.method/);
    await expect(fitHead([1, 2] as unknown as Float32Array, ['a', 'b'])).rejects.toThrow(/features/);
  });

  it('saves and loads a head on its own', async () => {
    const tmp = await tempDir('head');
    try {
      const { x, labels } = planted([[0, 0, 0], [2, 1, 0], [0, 2, 2]], 10, [1, 1, 1], 4);
      const h = await fitHead(x, labels, { method: 'lda' });
      const f = path.join(tmp, 'head.pinrec');
      await h.save(f);
      const again = await EmbeddingHead.load(f);
      expect(again.dim).toBe(2);
      expect(again.fitInfo.shrinkage).toBe(h.fitInfo.shrinkage);
      expect(maxAbsDiff(again.applyBatch(x), h.applyBatch(x))).toBe(0);
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  });
});

describe('Embedder with a head (fake model)', () => {
  let tmp: string;
  let fake: FakeModel;
  let images: Buffer[];
  let opts: LoadEmbedderOptions;
  let env: Awaited<ReturnType<typeof offlineModelEnv>>;

  beforeAll(async () => {
    env = await offlineModelEnv('head-embedder'); // any model-dir setting points at an empty folder: only the fake model can load
    tmp = env.tmp;
    await initBackend();
    fake = await writeFakeModel(tf, path.join(tmp, 'fake_cnn'));
    images = await Promise.all(Array.from({ length: 12 }, (_, i) => gradientPng(i)));
    opts = { model: fake.name, modelDir: fake.dir, featureLayer: fake.featureLayer, preprocessing: { size: fake.size, normalization: 'unit' } };
  });
  afterAll(() => env.restore());

  it('fits a head on images, applies it in embed/embedBatch, saves it and loads it back', async () => {
    const e = await loadEmbedder(opts);
    try {
      const labels = images.map((_, i) => `board${i % 3}`);
      const head = await e.fitHead(images, labels, { method: 'lda' });
      expect(e.getHead()).toBe(head);
      expect(head.inputDim).toBe(fake.dim);
      expect(e.dim).toBe(2);
      expect(e.info.head).toEqual({ method: 'lda', dim: 2 });
      const r = await e.embedBatch(images);
      expect(r.dim).toBe(2);
      const inputs = await e.embedBatch(images, { output: 'head-input' });
      expect(inputs.dim).toBe(fake.dim);
      expect(maxAbsDiff(r.vectors, head.applyBatch(inputs.vectors))).toBeLessThan(1e-6);
      const v = await e.embed(images[5]);
      expect(norm(v)).toBeCloseTo(1, 5);
      expect(maxAbsDiff(v, r.vectors.subarray(10, 12))).toBeLessThan(1e-6);
      // The same head from the feature matrix.
      const again = await e.fitHead(inputs.vectors, labels, { method: 'lda' });
      expect(maxAbsDiff(again.weights, head.weights)).toBe(0);
      await expect(e.fitHead(inputs.vectors, labels.slice(1))).rejects.toThrow(InvalidParameterError);
      await expect(e.fitHead(images, labels.slice(1))).rejects.toThrow(/labels must be one label per sample/);
      expect(e.getHead()).toBe(again);

      const file = path.join(tmp, 'with-head.pinrec');
      await e.save(file);
      const loaded = await loadSavedEmbedder(file, { modelDir: fake.dir });
      try {
        expect(loaded.dim).toBe(2);
        expect(loaded.getHead()?.method).toBe('lda');
        expect(maxAbsDiff((await loaded.embedBatch(images)).vectors, r.vectors)).toBeLessThan(1e-6);
      } finally {
        await loaded.dispose();
      }
      // A head with a projection: the head takes the projection's output.
      e.setHead(undefined);
      await e.fitProjection(images, { dim: 4, whiten: 0 });
      expect(() => e.setHead(head)).toThrow(DimensionMismatchError);
      const h4 = await e.fitHead(images, labels, { method: 'proxy', dim: 3, epochs: 5, seed: 1 });
      expect(h4.inputDim).toBe(4);
      expect(() => e.setProjection(undefined)).toThrow(DimensionMismatchError);
      const f2 = path.join(tmp, 'with-pca-head.pinrec');
      await e.save(f2);
      const ref = await e.embedBatch(images);
      const l2 = await loadSavedEmbedder(f2, { modelDir: fake.dir });
      try {
        expect(l2.info.head).toEqual({ method: 'proxy', dim: 3 });
        expect(l2.info.projection?.dim).toBe(4);
        expect(maxAbsDiff((await l2.embedBatch(images)).vectors, ref.vectors)).toBeLessThan(1e-6);
      } finally {
        await l2.dispose();
      }
    } finally {
      await e.dispose();
    }
  });

  it("fits the default ('gaussian') head on images and saves it inside the embedder", async () => {
    const e = await loadEmbedder(opts);
    try {
      const labels = images.map((_, i) => `board${i % 3}`);
      const head = await e.fitHead(images, labels, { seed: 2 });
      expect(head.method).toBe('gaussian');
      expect(head.fitInfo.selection?.by).toBe('validation');
      const b = head.fitInfo.blend!;
      expect(e.dim).toBe((b < 1 ? fake.dim : 0) + (b > 0 ? 3 : 0));
      expect(e.info.head).toEqual({ method: 'gaussian', dim: e.dim });
      const r = await e.embedBatch(images);
      const inputs = await e.embedBatch(images, { output: 'head-input' });
      expect(maxAbsDiff(r.vectors, head.applyBatch(inputs.vectors))).toBe(0);
      const file = path.join(tmp, 'with-gaussian-head.pinrec');
      await e.save(file);
      const loaded = await loadSavedEmbedder(file, { modelDir: fake.dir });
      try {
        expect(loaded.getHead()?.method).toBe('gaussian');
        expect(loaded.getHead()?.posterior?.classes).toEqual(['board0', 'board1', 'board2']);
        expect(maxAbsDiff((await loaded.embedBatch(images)).vectors, r.vectors)).toBeLessThan(1e-6);
      } finally {
        await loaded.dispose();
      }
    } finally {
      await e.dispose();
    }
  });

  it('still loads version-1 embedder files (from before heads)', async () => {
    const e = await loadEmbedder(opts);
    try {
      await e.fitProjection(images, { dim: 3, whiten: 0 });
      const f = path.join(tmp, 'v2.pinrec');
      await e.save(f);
      const c = await readContainer<Record<string, unknown>>(f, 'pinrec.embedder');
      expect(c.version).toBe(2);
      const { head: _h, ...v1meta } = c.meta;
      const v1 = path.join(tmp, 'v1.pinrec');
      await writeContainer(v1, 'pinrec.embedder', 1, v1meta, Object.fromEntries(c.sections));
      const loaded = await loadSavedEmbedder(v1, { modelDir: fake.dir });
      try {
        expect(loaded.getHead()).toBeUndefined();
        expect(loaded.dim).toBe(3);
        expect(maxAbsDiff((await loaded.embedBatch(images)).vectors, (await e.embedBatch(images)).vectors)).toBeLessThan(1e-6);
      } finally {
        await loaded.dispose();
      }
      const v9 = path.join(tmp, 'v9.pinrec');
      await writeContainer(v9, 'pinrec.embedder', 9, v1meta, Object.fromEntries(c.sections));
      await expect(loadSavedEmbedder(v9, { modelDir: fake.dir })).rejects.toThrow(FileFormatError);
    } finally {
      await e.dispose();
    }
  });
});
