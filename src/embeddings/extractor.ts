/**
 * The TF.js side: build a feature extractor from in-memory model artifacts, check its structure, and turn
 * batches of decoded pixels into pooled feature vectors inside `tf.tidy` (no tensor survives a call).
 * The same class runs in the main thread and in each pool worker.
 */
import type * as TF from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { LayersModel, SymbolicTensor, layers } from '@tensorflow/tfjs-layers';
import { ModelLoadError } from './errors.js';
import { requireTfPart, type Tf } from './tf.js';
import type { ModelArtifacts, Pooling, Fingerprint } from './models.js';
import { toModelInput, type Preprocessing } from './preprocess.js';
import { planFused, type FusedPlan } from './fused.js';

/** What the extractor needs to know besides the weights. */
export interface ExtractorSpec {
  /** Layer (layers model) or node (graph model) whose output is the feature; `''` = the model output. */
  featureLayer: string;
  pooling: Pooling;
  /** Exponent of GeM pooling (`pooling: 'gem'`). */
  gemP: number;
  preprocessing: Preprocessing;
  /** Average the features of each image and its mirror image. */
  flip: boolean;
  /** Fold BatchNorm into convolutions and fuse activations when the model is a plain chain (checked numerically). */
  fuse?: boolean;
}

/** Structural facts read from a loaded model. */
export interface ModelStructure {
  format: 'layers' | 'graph';
  /** Parameters of the full model (layers models; graph models: total weight elements). */
  params: number;
  /** Layer names (layers models; first and last few) for error messages. */
  inputShape: (number | null)[];
  /** Shape of the feature tensor before pooling, batch axis as null. */
  featureShape: (number | null)[];
  /** Feature dimension after pooling. */
  dim: number;
  /** Whether the fused (BatchNorm-folded) forward pass is in use, and how many convolutions were folded. */
  fused: boolean;
  foldedConvs: number;
}

/** A loaded model that maps pixels to raw (un-normalised) pooled features. */
export class FeatureExtractor {
  readonly structure: ModelStructure;
  private readonly tf: Tf;
  private readonly spec: ExtractorSpec;
  private layersModel?: LayersModel;
  private fullModel?: LayersModel;
  private graphModel?: GraphModel;
  private fusedPlan?: FusedPlan;
  private disposed = false;

  private constructor(tf: Tf, spec: ExtractorSpec, structure: ModelStructure, parts: { layers?: LayersModel; full?: LayersModel; graph?: GraphModel }) {
    this.tf = tf;
    this.spec = spec;
    this.structure = structure;
    this.layersModel = parts.layers;
    this.fullModel = parts.full;
    this.graphModel = parts.graph;
  }

  /**
   * Load artifacts into TF.js and cut the model at the feature layer.
   * @throws {ModelLoadError} when TF.js rejects the model or the feature layer is missing or has an unusable shape
   */
  static async create(tf: Tf, artifacts: ModelArtifacts, spec: ExtractorSpec, source: string): Promise<FeatureExtractor> {
    const handler = tf.io.fromMemory({
      modelTopology: artifacts.modelTopology,
      weightSpecs: artifacts.weightSpecs as TF.io.WeightsManifestEntry[],
      weightData: artifacts.weightData,
      ...(artifacts.extra as object),
    });
    const size = spec.preprocessing.size;
    if (artifacts.format === 'layers') {
      let full: LayersModel;
      try {
        full = await requireTfPart(tf, 'loadLayersModel')(handler);
      } catch (e) {
        throw new ModelLoadError(source, `TF.js could not load the layers model (${(e as Error).message.split('\n')[0]})`, { cause: e });
      }
      let out: SymbolicTensor;
      if (spec.featureLayer === '') {
        out = full.outputs[0];
      } else {
        let layer: layers.Layer;
        try {
          layer = full.getLayer(spec.featureLayer);
        } catch {
          const names = full.layers.map((l) => l.name);
          full.dispose();
          throw new ModelLoadError(source, `has no layer '${spec.featureLayer}' (it has ${names.length} layers: ${names.slice(0, 4).join(', ')}, ..., ${names.slice(-4).join(', ')})`);
        }
        out = layer.output as SymbolicTensor;
        if (Array.isArray(out)) {
          full.dispose();
          throw new ModelLoadError(source, `layer '${spec.featureLayer}' has several outputs; pick a single-output layer`);
        }
      }
      const featureShape = out.shape;
      const inputShape = full.inputs[0].shape;
      const params = full.countParams();
      const checkShape = (s: (number | null)[]) => (s.length === 2 || s.length === 4) && typeof s[s.length - 1] === 'number';
      if (!checkShape(featureShape)) {
        full.dispose();
        throw new ModelLoadError(source, `feature layer '${spec.featureLayer}' has shape [${featureShape.join(', ')}]; need [batch, c] or [batch, h, w, c]`);
      }
      if (inputShape.length !== 4 || inputShape[3] !== 3 || (inputShape[1] !== null && inputShape[1] !== size) || (inputShape[2] !== null && inputShape[2] !== size)) {
        full.dispose();
        throw new ModelLoadError(source, `model input shape [${inputShape.join(', ')}] does not take ${size}x${size} RGB images (set preprocessing.size)`);
      }
      const cut = requireTfPart(tf, 'model')({ inputs: full.inputs, outputs: out });
      const structure: ModelStructure = { format: 'layers', params, inputShape, featureShape, dim: featureShape[featureShape.length - 1] as number, fused: false, foldedConvs: 0 };
      const ex = new FeatureExtractor(tf, spec, structure, { layers: cut, full });
      if (spec.fuse !== false && spec.featureLayer !== '') ex.tryFuse();
      ex.warmUp();
      return ex;
    }
    let graph: GraphModel;
    try {
      graph = await requireTfPart(tf, 'loadGraphModel')(handler);
    } catch (e) {
      throw new ModelLoadError(source, `TF.js could not load the graph model (${(e as Error).message.split('\n')[0]})`, { cause: e });
    }
    const params = artifacts.weightSpecs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    const structure: ModelStructure = { format: 'graph', params, inputShape: [null, size, size, 3], featureShape: [], dim: 0, fused: false, foldedConvs: 0 };
    const ex = new FeatureExtractor(tf, spec, structure, { graph });
    // Run once to learn the feature shape (and to fail early on a wrong node name).
    try {
      const probe = tf.tidy(() => {
        const y = ex.rawForward(tf.zeros([1, size, size, 3]) as TF.Tensor4D);
        return y.shape;
      });
      if (!(probe.length === 2 || probe.length === 4)) throw new Error(`output has shape [${probe.join(', ')}]`);
      structure.featureShape = [null, ...probe.slice(1)];
      structure.dim = probe[probe.length - 1];
    } catch (e) {
      graph.dispose();
      throw new ModelLoadError(source, `feature node '${spec.featureLayer || '(model output)'}' is unusable (${(e as Error).message.split('\n')[0]})`, { cause: e });
    }
    return ex;
  }

  /** Plan the fused chain and keep it only when it matches the layers model on a test input. */
  private tryFuse(): void {
    const full = this.fullModel;
    if (!full) return;
    const plan = planFused(this.tf, full, this.spec.featureLayer);
    if (!plan) return;
    const s = this.spec.preprocessing.size;
    const x = toModelInput(fingerprintInput(s), 1, this.spec.preprocessing, false);
    const ok = this.tf.tidy(() => {
      const inp = this.tf.tensor4d(x, [1, s, s, 3]);
      const ref = (this.layersModel!.predict(inp) as TF.Tensor).dataSync();
      const got = plan.run(inp).dataSync();
      if (ref.length !== got.length) return false;
      let scale = 0, diff = 0;
      for (let i = 0; i < ref.length; i++) { scale = Math.max(scale, Math.abs(ref[i])); diff = Math.max(diff, Math.abs(ref[i] - got[i])); }
      return Number.isFinite(diff) && diff <= 1e-3 * Math.max(scale, 1e-6);
    });
    if (!ok) { plan.dispose(); return; }
    this.fusedPlan = plan;
    this.structure.fused = true;
    this.structure.foldedConvs = plan.folded;
  }

  /** Forward pass to the feature tensor (before pooling). */
  private rawForward(x: TF.Tensor4D): TF.Tensor {
    if (this.fusedPlan) return this.fusedPlan.run(x);
    if (this.layersModel) return this.layersModel.predict(x) as TF.Tensor;
    const g = this.graphModel!;
    const r = this.spec.featureLayer === '' ? g.execute(x) : g.execute(x, this.spec.featureLayer);
    return Array.isArray(r) ? r[0] : r;
  }

  private pool(t: TF.Tensor): TF.Tensor2D {
    const tf = this.tf;
    if (t.rank === 2) return t as TF.Tensor2D;
    if (t.rank !== 4) throw new ModelLoadError('feature', `feature tensor has rank ${t.rank}`);
    if (this.spec.pooling === 'max') return tf.max(t, [1, 2]) as TF.Tensor2D;
    if (this.spec.pooling === 'gem') {
      const p = this.spec.gemP;
      return tf.pow(tf.mean(tf.pow(tf.add(tf.relu(t), 1e-6), p), [1, 2]), 1 / p) as TF.Tensor2D;
    }
    return tf.mean(t, [1, 2]) as TF.Tensor2D;
  }

  private warmUp(): void {
    const s = this.spec.preprocessing.size;
    this.tf.tidy(() => { this.pool(this.rawForward(this.tf.zeros([1, s, s, 3]) as TF.Tensor4D)).dataSync(); });
  }

  /** Feature for an already-normalised float input `[n, s, s, 3]` (for fingerprints and tests). */
  inferFloat(input: Float32Array, n: number): Float32Array {
    const s = this.spec.preprocessing.size;
    return this.tf.tidy(() => this.pool(this.rawForward(this.tf.tensor4d(input, [n, s, s, 3]))).dataSync() as Float32Array).slice();
  }

  /**
   * Raw pooled features of `n` decoded images (`n*size*size*3` RGB bytes): `n*dim` floats, row-major. With
   * `flip`, each row is the mean of the image's and its mirror's features.
   */
  infer(pixels: Uint8Array, n: number, flip: boolean = this.spec.flip): Float32Array {
    if (this.disposed) throw new ModelLoadError('extractor', 'was disposed');
    const s = this.spec.preprocessing.size;
    const input = toModelInput(pixels, n, this.spec.preprocessing, flip);
    const m = flip ? 2 * n : n;
    const dim = this.structure.dim;
    const out = this.tf.tidy(() => this.pool(this.rawForward(this.tf.tensor4d(input, [m, s, s, 3]))).dataSync() as Float32Array);
    if (!flip) return out.slice(0, n * dim);
    const res = new Float32Array(n * dim);
    for (let i = 0; i < n * dim; i++) res[i] = 0.5 * (out[i] + out[n * dim + i]);
    return res;
  }

  /** The full model's own output (e.g. class probabilities) for `n` decoded images; layers models only. */
  inferModelOutput(pixels: Uint8Array, n: number): Float32Array | undefined {
    const full = this.fullModel;
    if (!full) return undefined;
    const s = this.spec.preprocessing.size;
    const input = toModelInput(pixels, n, this.spec.preprocessing, false);
    return this.tf.tidy(() => {
      const y = full.predict(this.tf.tensor4d(input, [n, s, s, 3]));
      return (Array.isArray(y) ? y[0] : y).dataSync() as Float32Array;
    }).slice();
  }

  /** Live tensors in this thread's TF.js engine (for leak checks). */
  numTensors(): number {
    return this.tf.memory().numTensors;
  }

  /** Free the model's weights. Safe to call twice. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.fusedPlan?.dispose();
    this.fullModel?.dispose();
    this.graphModel?.dispose();
  }
}

/** The fixed synthetic input used for model fingerprints (values in [-1, 1] before the model's own normalisation). */
export function fingerprintInput(size: number): Uint8Array {
  const px = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      px[i] = Math.round(127.5 + 127.5 * Math.sin(x * 0.11 + y * 0.03));
      px[i + 1] = Math.round(127.5 + 127.5 * Math.cos(y * 0.09 - x * 0.05));
      px[i + 2] = (x * 7 + y * 3) % 256;
    }
  }
  return px;
}

/**
 * Compare a model's feature for {@link fingerprintInput} with a stored fingerprint; returns a reason string
 * when it differs beyond float tolerance (corrupted or different weights), else undefined.
 */
export function checkFingerprint(feature: Float32Array, fp: Fingerprint, output?: Float32Array): string | undefined {
  if (fp.output && output) {
    for (let k = 0; k < fp.output.indices.length; k++) {
      const v = output[fp.output.indices[k]];
      if (!(Math.abs(v - fp.output.values[k]) <= 1e-3)) {
        return `model output[${fp.output.indices[k]}] = ${v} differs from the known ${fp.output.values[k]}`;
      }
    }
  }
  let ss = 0;
  for (const v of feature) ss += v * v;
  const norm = Math.sqrt(ss);
  if (!Number.isFinite(norm) || Math.abs(norm - fp.norm) > 1e-3 * fp.norm) {
    return `feature norm ${norm.toFixed(5)} differs from the known ${fp.norm.toFixed(5)}`;
  }
  for (let k = 0; k < fp.indices.length; k++) {
    const v = feature[fp.indices[k]];
    if (!(Math.abs(v - fp.values[k]) <= 2e-3 * fp.norm)) {
      return `feature[${fp.indices[k]}] = ${v} differs from the known ${fp.values[k]}`;
    }
  }
  return undefined;
}
