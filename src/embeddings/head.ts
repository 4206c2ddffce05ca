/**
 * A supervised embedding head learned from a catalogue's own labels (boards, categories, product types), on top
 * of the frozen CNN features: `y = W (x − μ)`, then L2-normalised. Two ways to learn `W`:
 *
 * - `'lda'` (closed form, the baseline): Fisher discriminant directions, `W = Vᵀ Σw^(−1/2)`, where `Σw` is the
 *   pooled within-class covariance shrunk towards `(tr Σw / d)·I` by the Ledoit–Wolf rule (no tuning), and `V`
 *   are the top eigenvectors of the whitened between-class scatter. At most `classes − 1` useful directions.
 * - `'proxy'` (trained in TensorFlow.js): a linear layer trained with the normalised-softmax / proxy loss
 *   (cosine to one learned proxy per class, divided by a temperature, softmax cross-entropy; Zhai & Wu,
 *   "Classification is a Strong Baseline for Deep Metric Learning", BMVC 2019). `W` starts at the training samples'
 *   principal directions (or a seeded random projection), proxies at the projected class means; a
 *   stratified validation split of the training samples picks the epoch (early stopping on validation loss).
 *
 * Learned in float64 (LDA) or float32 (proxy, TF.js). Deterministic for a given seed (and, for `'proxy'`, a
 * given TF.js backend). Saved in pinrec's checksummed container, alone or inside a saved embedder.
 *
 * References: Ledoit & Wolf, "A well-conditioned estimator for large-dimensional covariance matrices" (2004);
 * Zhai & Wu (2019); Movshovitz-Attias et al., "No Fuss Distance Metric Learning using Proxies" (2017).
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { DimensionMismatchError, FileFormatError, InvalidParameterError, NumericalError } from '../core/errors.js';
import { readContainer, requireSection, writeContainer, type SectionArray } from '../core/container.js';
import { Rng } from '../core/rng.js';
import { checkFiniteArray, checkInt, checkNumber, checkOneOf } from '../core/validate.js';
import { inverseNorm } from '../core/vectors.js';
import type { ProgressCallback } from '../core/types.js';
import { PcaProjection } from './pca.js';
import { loadTf, type Tf } from './tf.js';

/** How a head is learned. */
export type HeadMethod = 'lda' | 'proxy';

/** Options of {@link fitHead} (and {@link Embedder.fitHead}). */
export interface HeadFitOptions {
  /**
   * `'lda'`: closed-form Fisher LDA with Ledoit–Wolf shrinkage. `'proxy'`: a linear layer trained with the
   * normalised-softmax (proxy) loss in TensorFlow.js.
   * @default 'proxy'
   */
  method?: HeadMethod;
  /**
   * Output dimension.
   * @default 'lda': min(classes − 1, inputDim); 'proxy': min(256, inputDim)
   */
  dim?: number;
  /**
   * Maximum training epochs (`'proxy'`); the epoch with the lowest validation loss is kept.
   * @default 60
   */
  epochs?: number;
  /**
   * Seed of the validation split, the initial weights and the batch order (`'proxy'`).
   * @default 0
   */
  seed?: number;
  /**
   * Softmax temperature of the proxy loss (Zhai & Wu use 0.05).
   * @default 0.05
   */
  temperature?: number;
  /**
   * Adam learning rate (`'proxy'`).
   * @default 0.001
   */
  learningRate?: number;
  /**
   * Mini-batch size (`'proxy'`).
   * @default 128
   */
  batchSize?: number;
  /**
   * Fraction of each class (with at least 3 samples) held out for early stopping (`'proxy'`); 0 = train all
   * `epochs` on everything.
   * @default 0.2
   */
  validation?: number;
  /**
   * Epochs without a better validation loss before stopping (`'proxy'`).
   * @default 5
   */
  patience?: number;
  /**
   * L2 penalty on the change of `W` from its initial random projection (`'proxy'`).
   * @default 0.0001
   */
  weightDecay?: number;
  /**
   * Shrinkage of the within-class covariance (`'lda'`): `'auto'` = Ledoit–Wolf, or a number in [0, 1].
   * @default 'auto'
   */
  shrinkage?: 'auto' | number;
  /**
   * Starting point of `W` (`'proxy'`): `'pca'` = the top principal directions of the training samples (so training
   * starts from, nearly, the unsupervised geometry; falls back to `'random'` when there are too few samples),
   * `'random'` = a seeded Gaussian random projection (the identity when `dim = inputDim`).
   * @default 'pca'
   */
  init?: 'pca' | 'random';
  /** Progress per epoch (`stage: 'head:train'`, `done` = epochs run, `total` = `epochs`). */
  onProgress?: ProgressCallback;
}

/** What a fit recorded (stored with the head). */
export interface HeadFitInfo {
  classes: number;
  samples: number;
  /** `'lda'`: the shrinkage used. */
  shrinkage?: number;
  /** `'proxy'`: epochs run, the epoch kept (1-based), its validation loss, validation samples, temperature. */
  epochsRun?: number;
  bestEpoch?: number;
  validationLoss?: number;
  validationSamples?: number;
  temperature?: number;
  /** `'proxy'`: the starting point used. */
  init?: 'pca' | 'random';
  /** Wall-clock seconds of the fit. */
  seconds: number;
}

const KIND = 'pinrec.head';
const VERSION = 1;

/** A learned linear embedding head: `y = normalise(W (x − μ))`. */
export class EmbeddingHead {
  /** Input dimension (the embedder's output before the head). */
  readonly inputDim: number;
  /** Output dimension. */
  readonly dim: number;
  /** How it was learned. */
  readonly method: HeadMethod;
  /** Centre subtracted before the projection (length `inputDim`). */
  readonly mean: Float64Array;
  /** Row-major `dim × inputDim`. */
  readonly weights: Float32Array;
  /** What the fit recorded. */
  readonly fitInfo: HeadFitInfo;

  /** @internal use {@link fitHead} or {@link EmbeddingHead.load} */
  constructor(inputDim: number, dim: number, method: HeadMethod, mean: Float64Array, weights: Float32Array, fitInfo: HeadFitInfo) {
    if (mean.length !== inputDim) throw new DimensionMismatchError('mean', inputDim, mean.length);
    if (weights.length !== dim * inputDim) throw new DimensionMismatchError('weights', dim * inputDim, weights.length);
    this.inputDim = inputDim;
    this.dim = dim;
    this.method = method;
    this.mean = mean;
    this.weights = weights;
    this.fitInfo = fitInfo;
  }

  /**
   * Map one vector (length `inputDim`) to `dim` values, L2-normalised (a zero result stays zero).
   * @throws {DimensionMismatchError} when the vector has the wrong length
   */
  apply(x: ArrayLike<number>, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    if (x.length !== this.inputDim) throw new DimensionMismatchError('vector', this.inputDim, x.length);
    const d = this.inputDim;
    const c = new Float64Array(d);
    for (let j = 0; j < d; j++) c[j] = x[j] - this.mean[j];
    const acc = new Float64Array(this.dim);
    let ss = 0;
    for (let k = 0; k < this.dim; k++) {
      let a = 0;
      const base = k * d;
      for (let j = 0; j < d; j++) a += this.weights[base + j] * c[j];
      acc[k] = a;
      ss += a * a;
    }
    const inv = ss > 0 ? inverseNorm(ss) : 0;
    for (let k = 0; k < this.dim; k++) out[k] = acc[k] * inv;
    return out;
  }

  /**
   * Map `n` row-major vectors; returns `n × dim`.
   * @example
   * const head = await fitHead(features, labels, { method: 'lda' });
   * const y = head.applyBatch(features); // rows of length head.dim, unit length
   */
  applyBatch(rows: Float32Array): Float32Array {
    if (rows.length % this.inputDim !== 0) throw new DimensionMismatchError('rows', this.inputDim, rows.length % this.inputDim);
    const n = rows.length / this.inputDim;
    const out = new Float32Array(n * this.dim);
    for (let i = 0; i < n; i++) this.apply(rows.subarray(i * this.inputDim, (i + 1) * this.inputDim), out.subarray(i * this.dim, (i + 1) * this.dim));
    return out;
  }

  /** Sections and meta for a container (used by {@link EmbeddingHead.save} and the embedder's save). */
  toSections(): { meta: Record<string, unknown>; sections: Record<string, SectionArray> } {
    return {
      meta: { inputDim: this.inputDim, dim: this.dim, method: this.method, fitInfo: this.fitInfo },
      sections: { 'head.mean': this.mean, 'head.weights': this.weights },
    };
  }

  /** Rebuild from {@link EmbeddingHead.toSections} output; `source` names the file in errors. */
  static fromSections(meta: Record<string, unknown>, sections: Map<string, SectionArray>, source: string): EmbeddingHead {
    const { inputDim, dim, method, fitInfo } = meta;
    if (!(typeof inputDim === 'number' && Number.isInteger(inputDim) && inputDim > 0 && typeof dim === 'number' && Number.isInteger(dim) && dim > 0)) {
      throw new FileFormatError(source, 'head metadata is malformed');
    }
    if (method !== 'lda' && method !== 'proxy') throw new FileFormatError(source, `unknown head method ${String(method)}`);
    const c = { sections } as Parameters<typeof requireSection>[0];
    const mean = requireSection(c, 'head.mean', Float64Array, source);
    const w = requireSection(c, 'head.weights', Float32Array, source);
    if (mean.length !== inputDim || w.length !== dim * inputDim) throw new FileFormatError(source, 'head sections do not match their dimensions');
    const info = (fitInfo && typeof fitInfo === 'object' ? fitInfo : { classes: 0, samples: 0, seconds: 0 }) as HeadFitInfo;
    return new EmbeddingHead(inputDim, dim, method, mean, w, info);
  }

  /**
   * Save to a file (atomic, checksummed).
   * @example
   * await head.save('head.pinrec'); const again = await EmbeddingHead.load('head.pinrec');
   */
  async save(file: string): Promise<void> {
    const { meta, sections } = this.toSections();
    await writeContainer(file, KIND, VERSION, meta, sections);
  }

  /**
   * Load a file written by {@link EmbeddingHead.save}.
   * @throws {FileFormatError} for a missing, truncated, altered or foreign file
   */
  static async load(file: string): Promise<EmbeddingHead> {
    const c = await readContainer<Record<string, unknown>>(file, KIND);
    if (c.version !== VERSION) throw new FileFormatError(file, `unsupported head file version ${c.version}`);
    return EmbeddingHead.fromSections(c.meta, c.sections, file);
  }
}

/** Labels mapped to dense class indices (in order of first appearance), validated. */
export interface ClassIndex {
  /** Class of each sample. */
  y: Int32Array;
  /** Samples per class. */
  counts: number[];
  /** The distinct labels, by class index. */
  names: (string | number)[];
}

/**
 * Check labels for a supervised fit: one per sample, at least 2 classes, at least 2 samples per class.
 * @throws {InvalidParameterError} naming `labels`
 */
export function indexLabels(labels: ArrayLike<string | number>, n: number): ClassIndex {
  if (labels === null || typeof labels !== 'object' || typeof (labels as { length?: unknown }).length !== 'number') {
    throw new InvalidParameterError('labels', 'an array of labels (strings or numbers)', labels);
  }
  if (labels.length !== n) throw new InvalidParameterError('labels', `one label per sample (${n} samples)`, labels);
  const map = new Map<string | number, number>();
  const y = new Int32Array(n);
  const counts: number[] = [];
  const names: (string | number)[] = [];
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (!(typeof l === 'string' || (typeof l === 'number' && Number.isFinite(l)))) throw new InvalidParameterError(`labels[${i}]`, 'a string or a finite number', l);
    let c = map.get(l);
    if (c === undefined) { c = names.length; map.set(l, c); names.push(l); counts.push(0); }
    y[i] = c;
    counts[c]++;
  }
  if (names.length < 2) throw new InvalidParameterError('labels', 'at least 2 distinct classes', labels);
  const single = counts.findIndex((c) => c < 2);
  if (single >= 0) throw new InvalidParameterError('labels', `at least 2 samples per class (class ${JSON.stringify(names[single])} has ${counts[single]})`, labels);
  return { y, counts, names };
}

/**
 * Learn an embedding head from labelled feature vectors (row-major `Float32Array`, `labels.length` rows; the
 * row length is the head's input dimension). Standalone: no embedder or model needed (TF.js is loaded for
 * `'proxy'` only).
 *
 * @throws {InvalidParameterError} for bad labels (length mismatch, fewer than 2 classes, a class with one
 *   sample) or options; {@link NumericalError} when a fit breaks down
 * @example
 * const head = await fitHead(features, labels, { method: 'lda' });
 * const y = head.applyBatch(features);
 * const trained = await fitHead(features, labels, { method: 'proxy', dim: 128, seed: 1 });
 */
export async function fitHead(features: Float32Array, labels: ArrayLike<string | number>, options: HeadFitOptions = {}): Promise<EmbeddingHead> {
  if (!(features instanceof Float32Array)) throw new InvalidParameterError('features', 'a Float32Array (row-major, one row per label)', features);
  if (options === null || typeof options !== 'object') throw new InvalidParameterError('options', 'an object', options);
  const n = labels?.length;
  if (typeof n !== 'number' || n === 0) throw new InvalidParameterError('labels', 'a non-empty array of labels', labels);
  if (features.length === 0 || features.length % n !== 0) {
    throw new InvalidParameterError('labels', `one label per row of features (features has ${features.length} values, not a multiple of ${n})`, labels);
  }
  const d = features.length / n;
  checkFiniteArray('features', features);
  const cls = indexLabels(labels, n);
  const method = checkOneOf('options.method', options.method ?? 'proxy', ['lda', 'proxy'] as const);
  const t0 = performance.now();
  if (method === 'lda') {
    const C = cls.names.length;
    const dim = checkInt('options.dim', options.dim ?? Math.min(C - 1, d), 1, d);
    const sh = options.shrinkage ?? 'auto';
    if (sh !== 'auto') checkNumber('options.shrinkage', sh, 0, 1);
    return fitLda(features, d, cls, dim, sh, t0);
  }
  return fitProxy(features, d, cls, options, t0);
}

// ---------------------------------------------------------------- LDA

function fitLda(x: Float32Array, d: number, cls: ClassIndex, dim: number, shrinkageOpt: 'auto' | number, t0: number): EmbeddingHead {
  const n = cls.y.length;
  const C = cls.names.length;
  const mean = new Float64Array(d);
  const cm = new Float64Array(C * d);
  for (let i = 0; i < n; i++) {
    const c = cls.y[i];
    for (let j = 0; j < d; j++) { const v = x[i * d + j]; mean[j] += v; cm[c * d + j] += v; }
  }
  for (let j = 0; j < d; j++) mean[j] /= n;
  for (let c = 0; c < C; c++) for (let j = 0; j < d; j++) cm[c * d + j] /= cls.counts[c];
  // Pooled within-class scatter of the class-centred residuals (upper triangle), and Σ‖r‖⁴ for Ledoit–Wolf.
  const S = new Float64Array(d * d);
  const r = new Float64Array(d);
  let sumR4 = 0;
  for (let i = 0; i < n; i++) {
    const c = cls.y[i];
    let rr = 0;
    for (let j = 0; j < d; j++) { const v = x[i * d + j] - cm[c * d + j]; r[j] = v; rr += v * v; }
    sumR4 += rr * rr;
    for (let a = 0; a < d; a++) {
      const ra = r[a];
      if (ra === 0) continue;
      const base = a * d;
      for (let b = a; b < d; b++) S[base + b] += ra * r[b];
    }
  }
  for (let a = 0; a < d; a++) for (let b = a; b < d; b++) { const v = S[a * d + b] / n; S[a * d + b] = v; S[b * d + a] = v; }
  let tr = 0, fro2 = 0;
  for (let a = 0; a < d; a++) tr += S[a * d + a];
  for (let k = 0; k < d * d; k++) fro2 += S[k] * S[k];
  if (!(tr > 0) || !Number.isFinite(tr)) throw new NumericalError('LDA fit: the samples have no within-class variance');
  const mu = tr / d;
  let shrinkage: number;
  if (shrinkageOpt === 'auto') {
    // Ledoit & Wolf (2004), as in scikit-learn's ledoit_wolf_shrinkage (residuals treated as centred).
    const delta = (fro2 - 2 * mu * tr + d * mu * mu) / d;
    let beta = (sumR4 / n - fro2) / (d * n);
    beta = Math.min(Math.max(beta, 0), delta);
    shrinkage = delta > 0 ? beta / delta : 1;
  } else {
    shrinkage = shrinkageOpt;
  }
  const Sw = new Matrix(d, d);
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) Sw.set(a, b, (1 - shrinkage) * S[a * d + b] + (a === b ? shrinkage * mu : 0));
  const evd = new EigenvalueDecomposition(Sw, { assumeSymmetric: true });
  const lam = evd.realEigenvalues;
  const U = evd.eigenvectorMatrix;
  const floor = 1e-10 * Math.max(...lam);
  // Σw^(−1/2) = U Λ^(−1/2) Uᵀ; B = Σw^(−1/2) · M, with M's columns sqrt(n_c / n)(μ_c − μ)  (d × C).
  const invSqrt = lam.map((l) => 1 / Math.sqrt(Math.max(l, floor)));
  const M = new Matrix(d, C);
  for (let c = 0; c < C; c++) {
    const w = Math.sqrt(cls.counts[c] / n);
    for (let j = 0; j < d; j++) M.set(j, c, w * (cm[c * d + j] - mean[j]));
  }
  const UtM = U.transpose().mmul(M); // d × C
  for (let k = 0; k < d; k++) for (let c = 0; c < C; c++) UtM.set(k, c, UtM.get(k, c) * invSqrt[k]);
  const Bm = U.mmul(UtM); // Σw^(−1/2) M, d × C
  // Eigenvectors of B Bᵀ (d × d, rank ≤ C − 1) from the small C × C Gram matrix BᵀB.
  const G = Bm.transpose().mmul(Bm);
  const ge = new EigenvalueDecomposition(G, { assumeSymmetric: true });
  const gv = ge.realEigenvalues;
  const order = Array.from(gv.keys()).sort((a, b) => gv[b] - gv[a] || a - b);
  const top = gv[order[0]];
  if (!(top > 0)) throw new NumericalError('LDA fit: the class means coincide (no between-class variance)');
  // Whitened-space directions u = B g / sqrt(σ) (orthonormal). A `dim` beyond the rank of B Bᵀ (classes − 1) is
  // completed with directions of zero between-class variance: Gram–Schmidt on the whitened coordinate axes.
  const dirs: Float64Array[] = [];
  for (const gi of order) {
    if (dirs.length >= dim) break;
    const s = gv[gi];
    if (!(s > 1e-12 * top)) break;
    const u = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      let acc = 0;
      for (let c = 0; c < C; c++) acc += Bm.get(j, c) * ge.eigenvectorMatrix.get(c, gi);
      u[j] = acc / Math.sqrt(s);
    }
    dirs.push(u);
  }
  for (let axis = 0; dirs.length < dim && axis < d; axis++) {
    const u = new Float64Array(d);
    u[axis] = 1;
    for (const v of dirs) { let dot = 0; for (let j = 0; j < d; j++) dot += v[j] * u[j]; for (let j = 0; j < d; j++) u[j] -= dot * v[j]; }
    let nn = 0;
    for (let j = 0; j < d; j++) nn += u[j] * u[j];
    if (nn < 1e-8) continue;
    const inv = 1 / Math.sqrt(nn);
    for (let j = 0; j < d; j++) u[j] *= inv;
    dirs.push(u);
  }
  // Back to input space: w = Σw^(−1/2) u (Σw^(−1/2) is symmetric); deterministic sign (largest entry positive).
  const W = new Float32Array(dim * d);
  const tmp = new Float64Array(d);
  for (let k = 0; k < dim; k++) {
    const u = dirs[k];
    for (let q = 0; q < d; q++) { let acc = 0; for (let j = 0; j < d; j++) acc += U.get(j, q) * u[j]; tmp[q] = acc * invSqrt[q]; }
    const w = new Float64Array(d);
    for (let j = 0; j < d; j++) { let acc = 0; for (let q = 0; q < d; q++) acc += U.get(j, q) * tmp[q]; w[j] = acc; }
    let best = 0;
    for (let j = 1; j < d; j++) if (Math.abs(w[j]) > Math.abs(w[best])) best = j;
    const sign = w[best] < 0 ? -1 : 1;
    for (let j = 0; j < d; j++) W[k * d + j] = sign * w[j];
  }
  checkFiniteArray('LDA weights', W);
  return new EmbeddingHead(d, dim, 'lda', mean, W, { classes: C, samples: n, shrinkage, seconds: (performance.now() - t0) / 1000 });
}

// ---------------------------------------------------------------- proxy (normalised softmax)

/** Stratified split: from each class with ≥ 3 samples, `round(frac · n_c)` (at least 1) go to validation. */
function stratifiedSplit(cls: ClassIndex, frac: number, rng: Rng): { train: number[]; val: number[] } {
  const byClass: number[][] = cls.counts.map(() => []);
  cls.y.forEach((c, i) => byClass[c].push(i));
  const train: number[] = [], val: number[] = [];
  for (const members of byClass) {
    shuffle(members, rng);
    const k = frac > 0 && members.length >= 3 ? Math.min(members.length - 2, Math.max(1, Math.round(frac * members.length))) : 0;
    val.push(...members.slice(0, k));
    train.push(...members.slice(k));
  }
  train.sort((a, b) => a - b);
  val.sort((a, b) => a - b);
  return { train, val };
}

function shuffle<T>(a: T[], rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i]; a[i] = a[j]; a[j] = t;
  }
}

async function fitProxy(x: Float32Array, d: number, cls: ClassIndex, o: HeadFitOptions, t0: number): Promise<EmbeddingHead> {
  const C = cls.names.length;
  const n = cls.y.length;
  const dim = checkInt('options.dim', o.dim ?? Math.min(256, d), 1, d);
  const epochs = checkInt('options.epochs', o.epochs ?? 60, 1, 100_000);
  const seed = checkNumber('options.seed', o.seed ?? 0);
  const temperature = checkNumber('options.temperature', o.temperature ?? 0.05, 1e-4, 10);
  const lr = checkNumber('options.learningRate', o.learningRate ?? 0.001, 1e-8, 10);
  const bs = checkInt('options.batchSize', o.batchSize ?? 128, 1, 1 << 20);
  const valFrac = checkNumber('options.validation', o.validation ?? 0.2, 0, 0.5);
  const patience = checkInt('options.patience', o.patience ?? 5, 1, 100_000);
  const wd = checkNumber('options.weightDecay', o.weightDecay ?? 1e-4, 0, 1e6);
  const init = checkOneOf('options.init', o.init ?? 'pca', ['pca', 'random'] as const);
  const rng = new Rng(seed);
  const { train, val } = stratifiedSplit(cls, valFrac, rng.fork());
  // Centre on the training mean.
  const mean = new Float64Array(d);
  for (const i of train) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= train.length;
  const centred = (idx: number[]) => {
    const out = new Float32Array(idx.length * d);
    idx.forEach((i, k) => { for (let j = 0; j < d; j++) out[k * d + j] = x[i * d + j] - mean[j]; });
    return out;
  };
  // Initial W (d × dim, column k = output k): principal directions of the training split, or (also when there are
  // too few samples for them) the identity when dim = d, else a seeded Gaussian random projection.
  const initRng = rng.fork();
  const W0 = new Float32Array(d * dim);
  let initUsed: 'pca' | 'random' = 'random';
  if (init === 'pca' && dim <= train.length - 1 && dim < d) {
    const pca = PcaProjection.fit(centred(train), d, { dim, whiten: 0 });
    for (let k = 0; k < dim; k++) for (let j = 0; j < d; j++) W0[j * dim + k] = pca.components[k * d + j];
    initUsed = 'pca';
  } else if (dim === d) {
    for (let j = 0; j < d; j++) W0[j * dim + j] = 1;
  } else {
    for (let k = 0; k < W0.length; k++) W0[k] = initRng.normal() / Math.sqrt(dim);
  }
  // Proxies start at the projected, normalised class means of the training split.
  const P0 = new Float32Array(C * dim);
  const cmean = new Float64Array(C * d);
  const ccount = new Array<number>(C).fill(0);
  for (const i of train) { const c = cls.y[i]; ccount[c]++; for (let j = 0; j < d; j++) cmean[c * d + j] += x[i * d + j] - mean[j]; }
  for (let c = 0; c < C; c++) {
    let ss = 0;
    for (let k = 0; k < dim; k++) {
      let acc = 0;
      for (let j = 0; j < d; j++) acc += (cmean[c * d + j] / ccount[c]) * W0[j * dim + k];
      P0[c * dim + k] = acc;
      ss += acc * acc;
    }
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let k = 0; k < dim; k++) P0[c * dim + k] *= inv;
  }
  const { tf } = await loadTf();
  const Xtr = centred(train), Ytr = Int32Array.from(train, (i) => cls.y[i]);
  const Xva = centred(val), Yva = Int32Array.from(val, (i) => cls.y[i]);
  const W = tf.tidy(() => tf.variable(tf.tensor2d(W0, [d, dim]), true, undefined, 'float32'));
  const P = tf.tidy(() => tf.variable(tf.tensor2d(P0, [C, dim]), true, undefined, 'float32'));
  const Winit = tf.tensor2d(W0, [d, dim]);
  const opt = tf.train.adam(lr);
  const invT = 1 / temperature;
  const lossOf = (tfx: Tf, xb: ReturnType<Tf['tensor2d']>, yb: ReturnType<Tf['tensor1d']>, withReg: boolean) => {
    const h = tfx.matMul(xb, W);
    const z = tfx.div(h, tfx.add(tfx.norm(h, 'euclidean', 1, true), 1e-12));
    const p = tfx.div(P, tfx.add(tfx.norm(P, 'euclidean', 1, true), 1e-12));
    const logits = tfx.mul(tfx.matMul(z, p, false, true), invT);
    const ce = tfx.losses.softmaxCrossEntropy(tfx.oneHot(yb, C), logits);
    return withReg && wd > 0 ? tfx.add(ce, tfx.mul(tfx.sum(tfx.square(tfx.sub(W, Winit))), wd)) : ce;
  };
  const evalLoss = (X: Float32Array, Y: Int32Array): number => {
    if (Y.length === 0) return NaN;
    let total = 0;
    for (let s = 0; s < Y.length; s += 1024) {
      const m = Math.min(1024, Y.length - s);
      const l = tf.tidy(() => lossOf(tf, tf.tensor2d(X.subarray(s * d, (s + m) * d), [m, d]), tf.tensor1d(Y.subarray(s, s + m), 'int32'), false));
      total += (l.dataSync()[0]) * m;
      l.dispose();
    }
    return total / Y.length;
  };
  const orderRng = rng.fork();
  const order = Array.from(train.keys());
  let best = Number.POSITIVE_INFINITY, bestEpoch = 0, since = 0, run = 0;
  let bestW: Float32Array = W0.slice();
  try {
    for (let ep = 1; ep <= epochs; ep++) {
      shuffle(order, orderRng);
      for (let s = 0; s < order.length; s += bs) {
        const idx = order.slice(s, s + bs);
        const xb = new Float32Array(idx.length * d);
        const yb = new Int32Array(idx.length);
        idx.forEach((r, k) => { xb.set(Xtr.subarray(r * d, (r + 1) * d), k * d); yb[k] = Ytr[r]; });
        const xt = tf.tensor2d(xb, [idx.length, d]), yt = tf.tensor1d(yb, 'int32');
        const cost = opt.minimize(() => lossOf(tf, xt, yt, true) as ReturnType<Tf['scalar']>, true, [W, P]);
        xt.dispose(); yt.dispose();
        const cv = cost?.dataSync()[0];
        cost?.dispose();
        if (cv === undefined || !Number.isFinite(cv)) throw new NumericalError(`proxy head: the training loss became ${cv} at epoch ${ep}; lower options.learningRate`);
      }
      run = ep;
      const vl = Yva.length > 0 ? evalLoss(Xva, Yva) : evalLoss(Xtr, Ytr);
      if (vl < best - 1e-6) {
        best = vl; bestEpoch = ep; since = 0;
        bestW = (await W.data()) as Float32Array;
      } else if (Yva.length > 0 && ++since >= patience) {
        o.onProgress?.({ stage: 'head:train', done: ep, total: epochs });
        break;
      }
      o.onProgress?.({ stage: 'head:train', done: ep, total: epochs });
    }
  } finally {
    W.dispose(); P.dispose(); Winit.dispose(); opt.dispose();
  }
  // Stored row-major dim × d (the transpose of the trained d × dim matrix).
  const out = new Float32Array(dim * d);
  for (let j = 0; j < d; j++) for (let k = 0; k < dim; k++) out[k * d + j] = bestW[j * dim + k];
  checkFiniteArray('proxy head weights', out);
  return new EmbeddingHead(d, dim, 'proxy', mean, out, {
    classes: C, samples: n, epochsRun: run, bestEpoch, validationLoss: best, validationSamples: val.length, temperature, init: initUsed,
    seconds: (performance.now() - t0) / 1000,
  });
}
