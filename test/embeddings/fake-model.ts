/**
 * A fake model for embedder tests that must run without ../shared/models: a tiny deterministic Keras-style CNN
 * built with TF.js and written as a real TF.js model folder (`model.json` + `weights.bin`), so the embedder loads
 * it through its ordinary `modelDir` route (readModelDir → FeatureExtractor), in-process or in pool workers.
 *
 * Layers: input [size, size, 3] → conv 3x3 (4) → BatchNorm → ReLU → conv 3x3 stride 2 (8) → ReLU →
 * global average pool (`'features'`, 8-d) → dense softmax (5). All biases and BatchNorm shifts are zero, so an
 * all-black image under `'unit'` normalisation gives an all-zero feature (which the embedder must reject).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import type * as TF from '@tensorflow/tfjs';

/** What {@link writeFakeModel} wrote. */
export interface FakeModel {
  dir: string;
  /** Name to pass as `model` (any unregistered name works with `modelDir`). */
  name: string;
  featureLayer: string;
  /** Feature dimension at `featureLayer`. */
  dim: number;
  size: number;
  params: number;
}

/** Deterministic pseudo-weights in about [-0.5, 0.5]. */
function weightValues(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = 0.5 * Math.sin(1.7 * i + 0.37 * seed + 0.11 * i * seed);
  return v;
}

/**
 * Build the tiny CNN with `tf` (the same TF.js the embedder uses) and write it to `dir`.
 * @example
 * const fake = await writeFakeModel(tf, await tempDir('fake'));
 * const e = await loadEmbedder({ model: fake.name, modelDir: fake.dir, featureLayer: fake.featureLayer, preprocessing: { size: fake.size, normalization: 'unit' } });
 */
export async function writeFakeModel(tf: typeof TF, dir: string, size = 16): Promise<FakeModel> {
  // A functional model (with an InputLayer, like the converted Keras CNNs), so the fused path can plan it.
  const input = tf.input({ shape: [size, size, 3], name: 'input' });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'conv1' }).apply(input) as TF.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu1' }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', name: 'conv2' }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu2' }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'features' }).apply(x) as TF.SymbolicTensor;
  const out = tf.layers.dense({ units: 5, activation: 'softmax', name: 'logits' }).apply(x) as TF.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: out, name: 'fake_cnn' });
  const values = m.weights.map((w, k) => {
    const name = w.name;
    const shape = w.shape.map((d) => d ?? 1);
    const n = shape.reduce((a, b) => a * b, 1);
    if (/bias|beta|moving_mean/.test(name)) return tf.zeros(shape);
    if (/gamma/.test(name)) return tf.fill(shape, 1.5);
    if (/moving_variance/.test(name)) return tf.fill(shape, 0.8);
    return tf.tensor(weightValues(n, k + 1), shape);
  });
  m.setWeights(values);
  for (const t of values) t.dispose();
  let saved: TF.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => {
    saved = a;
    return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
  }));
  const params = m.countParams();
  m.dispose();
  const a = saved!;
  const data = Array.isArray(a.weightData) ? tf.io.concatenateArrayBuffers(a.weightData) : a.weightData!;
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'weights.bin'), Buffer.from(data));
  await fsp.writeFile(path.join(dir, 'model.json'), JSON.stringify({
    format: 'layers-model',
    generatedBy: 'pinrec test fake-model',
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
  }));
  return { dir, name: 'fake_cnn', featureLayer: 'features', dim: 8, size, params };
}

/** A deterministic `w`×`h` PNG: a colour gradient varied by `seed` (seed 0 is not special). */
export async function gradientPng(seed: number, w = 24, h = 20): Promise<Buffer> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      px[i] = (x * (9 + seed) + y * 3 + 40 * seed) % 256;
      px[i + 1] = (y * (7 + 2 * seed) + 17 * seed) % 256;
      px[i + 2] = Math.round(127.5 + 127 * Math.sin(0.3 * x + 0.2 * y + seed));
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

/** A solid black PNG (all-zero pixels). */
export async function blackPng(w = 16, h = 16): Promise<Buffer> {
  return sharp(Buffer.alloc(w * h * 3), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}
