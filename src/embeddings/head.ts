/**
 * A supervised embedding head learned from a catalogue's own labels (boards, categories, product types), on top
 * of the frozen CNN features. Three ways to learn it:
 *
 * - `'gaussian'` (the default): the classes modelled as Gaussians with one shared covariance (the model behind
 *   LDA), `Σ = (1 − s)·Σw + s·(tr Σw / d)·I`. The output joins two unit-length parts,
 *   `[√(1 − β)·z/‖z‖ ; √β·√p(c | x)]`: the within-class-whitened feature `z = Σ^(−1/2)(x − μ)` with all `d`
 *   directions kept (directions of nuisance — pose, background — are damped, and what tells classes apart that the
 *   catalogue has not labelled yet is kept; `Σ^(−1/2)` is taken as `L⁻¹`, `Σ = L Lᵀ`, which gives the same
 *   cosines as any other whitening), and the square root of the model's class posterior,
 *   `p(c | x) ∝ exp(−‖z − m_c‖² / 2T)` (its cosine is the Bhattacharyya coefficient of two posteriors). The cosine
 *   of two outputs is `(1 − β)·cos(z, z') + β·BC(p, p')`. The shrinkage `s`, the temperature `T` and the weight `β`
 *   are chosen on a validation split of the training samples only, by one rule for every catalogue (see
 *   {@link HeadFitOptions.validation}): a quarter of the classes are held out entirely (new classes), half the
 *   images of the other classes are held out (new images of known classes); among fixed candidate grids, the
 *   setting with the best mean P@10 over the two held-out sets is kept, among those that do not lose P@10 on the
 *   held-out classes against the unsupervised input. Closed form (Cholesky factorisations, float64); no TF.js.
 * - `'lda'` (closed form, the baseline): Fisher discriminant directions, `W = Vᵀ Σw^(−1/2)`, where `Σw` is the
 *   pooled within-class covariance shrunk towards `(tr Σw / d)·I` by the Ledoit–Wolf rule (no tuning), and `V`
 *   are the top eigenvectors of the whitened between-class scatter. At most `classes − 1` useful directions: strong
 *   on the labelled classes, poor on new ones.
 * - `'proxy'` (trained in TensorFlow.js): a linear layer trained with the normalised-softmax / proxy loss
 *   (cosine to one learned proxy per class, divided by a temperature, softmax cross-entropy; Zhai & Wu,
 *   "Classification is a Strong Baseline for Deep Metric Learning", BMVC 2019). `W` starts at the training samples'
 *   principal directions (or a seeded random projection), proxies at the projected class means; a
 *   stratified validation split of the training samples picks the epoch (early stopping on validation loss).
 *
 * `'lda'` and `'proxy'` heads are linear, `y = normalise(W (x − μ))`. Deterministic for a given seed (and, for
 * `'proxy'`, a given TF.js backend). Saved in pinrec's checksummed container, alone or inside a saved embedder.
 *
 * References: Ledoit & Wolf, "A well-conditioned estimator for large-dimensional covariance matrices" (2004);
 * Hatch, Kajarekar & Stolcke, "Within-class covariance normalization for SVM-based speaker recognition" (2006);
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
export type HeadMethod = 'gaussian' | 'lda' | 'proxy';

/** The method {@link fitHead} uses when `options.method` is not given. */
export const DEFAULT_HEAD_METHOD: HeadMethod = 'gaussian';

/** Options of {@link fitHead} (and {@link Embedder.fitHead}). */
export interface HeadFitOptions {
  /**
   * `'gaussian'`: whitened feature joined with the class posterior of a shared-covariance Gaussian model, settings
   * chosen on a validation split. `'lda'`: closed-form Fisher LDA with Ledoit–Wolf shrinkage. `'proxy'`: a linear
   * layer trained with the normalised-softmax (proxy) loss in TensorFlow.js.
   * @default 'gaussian'
   */
  method?: HeadMethod;
  /**
   * Output dimension (`'lda'`, `'proxy'`; a `'gaussian'` head's is `inputDim + classes`, or one of the two when
   * `blend` is 0 or 1, and this option is refused).
   * @default 'lda': min(classes − 1, inputDim); 'proxy': min(256, inputDim)
   */
  dim?: number;
  /**
   * Maximum training epochs (`'proxy'`); the epoch with the lowest validation loss is kept.
   * @default 60
   */
  epochs?: number;
  /**
   * Seed of the validation split (`'gaussian'`, `'proxy'`), the initial weights and the batch order (`'proxy'`).
   * @default 0
   */
  seed?: number;
  /**
   * `'proxy'`: softmax temperature of the proxy loss (Zhai & Wu use 0.05; default 0.05). `'gaussian'`: temperature
   * `T` of the class posterior, in whitened squared distance (1 = the Gaussian model's own posterior, larger =
   * softer); default: chosen on the validation split among 1, 2, 4, …, 256.
   */
  temperature?: number;
  /**
   * Weight `β` in [0, 1] of the class-posterior part (`'gaussian'`): 0 = the whitened feature alone, 1 = the
   * posterior alone.
   * @default chosen on the validation split among 0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1
   */
  blend?: number;
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
   * `'proxy'`: fraction of each class (with at least 3 samples) held out for early stopping; 0 = train all
   * `epochs` on everything (default 0.2). `'gaussian'`: fraction of the images of each class that is not held
   * out by {@link HeadFitOptions.validationClasses} (classes of at least 4 images; at least 2 images stay on
   * each side) held out to measure new images of known classes (default 0.5). With 0 for both, nothing is
   * validated and the settings not given fall back to Ledoit–Wolf shrinkage, `temperature` 16 and `blend` 0.2
   * (what the validation chose on the Caltech-101 benchmark: a starting point, not tuned for your catalogue).
   * Each validation set is capped at 1,000 images (a seeded random subset). The final head is then fitted on
   * all the samples.
   */
  validation?: number;
  /**
   * Fraction of the classes held out entirely (`'gaussian'`; at least 1 when there are 3 classes or more, and at
   * least 2 classes stay), to measure classes the head was not fitted on. With 2 classes only the image split
   * chooses, and nothing guards classes to come.
   * @default 0.25
   */
  validationClasses?: number;
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
   * Shrinkage `s` of the within-class covariance, a number in [0, 1], or `'auto'`: for `'lda'` the Ledoit–Wolf
   * estimate; for `'gaussian'` chosen on the validation split among the Ledoit–Wolf estimate, 0.25, 0.5, 0.75
   * and 1 (1 = no whitening, only centring).
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
  /**
   * Progress: `'proxy'` per epoch (`stage: 'head:train'`, `done` = epochs run, `total` = `epochs`); `'gaussian'`
   * per shrinkage candidate validated and for the final fit (`stage: 'head:fit'`).
   */
  onProgress?: ProgressCallback;
}

/** What a `'gaussian'` fit measured on its validation split (P@10 by label among each held-out set, cosine, the query excluded; k = same-class others when fewer than 10). */
export interface HeadSelection {
  /** `'validation'`: chosen on the split; `'fixed'`: every setting was given; `'fallback'`: no usable split. */
  by: 'validation' | 'fixed' | 'fallback';
  /** Classes held out entirely, and the images of each validation set (after the cap). */
  heldOutClasses: number;
  newClassImages: number;
  sameClassImages: number;
  /** Settings tried, and how many did not lose on the held-out classes. */
  candidates: number;
  feasible: number;
  /** P@10 of the unsupervised input and of the chosen setting on each set (absent when the set is empty). */
  baseNewClass?: number;
  baseSameClass?: number;
  newClass?: number;
  sameClass?: number;
}

/** What a fit recorded (stored with the head). */
export interface HeadFitInfo {
  classes: number;
  samples: number;
  /** `'lda'`, `'gaussian'`: the shrinkage used. */
  shrinkage?: number;
  /** `'gaussian'`: how the shrinkage was set (`'ledoit-wolf'`: the estimate on all the samples, `'grid'`, `'fixed'`). */
  shrinkageRule?: 'ledoit-wolf' | 'grid' | 'fixed';
  /** `'gaussian'`: the weight of the posterior part. */
  blend?: number;
  /** `'gaussian'`: the validation split and what it chose. */
  selection?: HeadSelection;
  /** `'proxy'`: epochs run, the epoch kept (1-based), its validation loss, validation samples. */
  epochsRun?: number;
  bestEpoch?: number;
  validationLoss?: number;
  validationSamples?: number;
  /** `'proxy'`: of the loss; `'gaussian'`: of the class posterior. */
  temperature?: number;
  /** `'proxy'`: the starting point used. */
  init?: 'pca' | 'random';
  /** Wall-clock seconds of the fit. */
  seconds: number;
}

/** The class-posterior part of a `'gaussian'` head. */
export interface HeadPosterior {
  /** Whitened class means `m_c = W (μ_c − μ)`, row-major `classes × (weights rows)`. */
  means: Float32Array;
  /** Temperature `T` of `p(c | x) ∝ exp(−‖W(x − μ) − m_c‖² / 2T)`. */
  temperature: number;
  /** Weight `β` of the posterior part in the output, in [0, 1]. */
  blend: number;
  /** The labels, in the order of the posterior's entries. */
  classes: (string | number)[];
}

const KIND = 'pinrec.head';
const VERSION = 1;
const METHODS = ['gaussian', 'lda', 'proxy'] as const;

/**
 * A learned embedding head. `'lda'` / `'proxy'`: `y = normalise(W (x − μ))`. `'gaussian'`: with
 * `z = W (x − μ)`, `y = [√(1 − β)·z/‖z‖ ; √β·√p]`, `p` the class posterior (see {@link HeadPosterior}); a part
 * whose weight is 0 is left out.
 */
export class EmbeddingHead {
  /** Input dimension (the embedder's output before the head). */
  readonly inputDim: number;
  /** Output dimension. */
  readonly dim: number;
  /** How it was learned. */
  readonly method: HeadMethod;
  /** Centre subtracted before the projection (length `inputDim`). */
  readonly mean: Float64Array;
  /** Row-major `rows × inputDim`: `dim` rows for `'lda'` / `'proxy'`; for `'gaussian'`, `inputDim` rows, `L⁻¹` (lower triangular, `Σ = L Lᵀ`). */
  readonly weights: Float32Array;
  /** `'gaussian'`: the class-posterior part. */
  readonly posterior?: HeadPosterior;
  /** What the fit recorded. */
  readonly fitInfo: HeadFitInfo;
  private readonly rows: number;
  private readonly meanNorms?: Float64Array;

  /** @internal use {@link fitHead} or {@link EmbeddingHead.load} */
  constructor(inputDim: number, dim: number, method: HeadMethod, mean: Float64Array, weights: Float32Array, fitInfo: HeadFitInfo, posterior?: HeadPosterior) {
    if (mean.length !== inputDim) throw new DimensionMismatchError('mean', inputDim, mean.length);
    if (method === 'gaussian') {
      if (!posterior) throw new InvalidParameterError('posterior', "the class-posterior part of a 'gaussian' head", posterior);
      if (weights.length % inputDim !== 0 || weights.length === 0) throw new DimensionMismatchError('weights', inputDim * inputDim, weights.length);
      const rows = weights.length / inputDim;
      const C = posterior.classes.length;
      if (posterior.means.length !== C * rows) throw new DimensionMismatchError('posterior.means', C * rows, posterior.means.length);
      const want = (posterior.blend < 1 ? rows : 0) + (posterior.blend > 0 ? C : 0);
      if (dim !== want) throw new DimensionMismatchError('dim', want, dim);
      this.rows = rows;
      this.meanNorms = new Float64Array(C);
      for (let c = 0; c < C; c++) { let s = 0; for (let k = 0; k < rows; k++) s += posterior.means[c * rows + k] ** 2; this.meanNorms[c] = s; }
    } else {
      if (weights.length !== dim * inputDim) throw new DimensionMismatchError('weights', dim * inputDim, weights.length);
      this.rows = dim;
    }
    this.inputDim = inputDim;
    this.dim = dim;
    this.method = method;
    this.mean = mean;
    this.weights = weights;
    this.posterior = posterior;
    this.fitInfo = fitInfo;
  }

  /**
   * Map one vector (length `inputDim`) to `dim` values, unit length (a vector equal to the mean gives a zero
   * linear part).
   * @throws {DimensionMismatchError} when the vector has the wrong length
   * @example
   * const head = await fitHead(features, labels);
   * const y = head.apply(features.subarray(0, head.inputDim)); // length head.dim
   */
  apply(x: ArrayLike<number>, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    if (x.length !== this.inputDim) throw new DimensionMismatchError('vector', this.inputDim, x.length);
    const d = this.inputDim;
    const c = new Float64Array(d);
    for (let j = 0; j < d; j++) c[j] = x[j] - this.mean[j];
    const m = this.rows;
    const acc = new Float64Array(m);
    let ss = 0;
    for (let k = 0; k < m; k++) {
      let a = 0;
      const base = k * d;
      for (let j = 0; j < d; j++) a += this.weights[base + j] * c[j];
      acc[k] = a;
      ss += a * a;
    }
    const inv = ss > 0 ? inverseNorm(ss) : 0;
    const p = this.posterior;
    if (!p) {
      for (let k = 0; k < m; k++) out[k] = acc[k] * inv;
      return out;
    }
    let o = 0;
    if (p.blend < 1) {
      const w = Math.sqrt(1 - p.blend) * inv;
      for (let k = 0; k < m; k++) out[o++] = acc[k] * w;
    }
    if (p.blend > 0) {
      const C = p.classes.length;
      const dist = new Float64Array(C);
      for (let cl = 0; cl < C; cl++) {
        let dot = 0;
        const base = cl * m;
        for (let k = 0; k < m; k++) dot += acc[k] * p.means[base + k];
        dist[cl] = ss - 2 * dot + this.meanNorms![cl];
      }
      const q = sqrtPosterior(dist, C, p.temperature);
      const w = Math.sqrt(p.blend);
      for (let cl = 0; cl < C; cl++) out[o++] = q[cl] * w;
    }
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
    const p = this.posterior;
    return {
      meta: {
        inputDim: this.inputDim, dim: this.dim, method: this.method, fitInfo: this.fitInfo,
        ...(p ? { posterior: { temperature: p.temperature, blend: p.blend, classes: p.classes } } : {}),
      },
      sections: { 'head.mean': this.mean, 'head.weights': this.weights, ...(p ? { 'head.classMeans': p.means } : {}) },
    };
  }

  /** Rebuild from {@link EmbeddingHead.toSections} output; `source` names the file in errors. */
  static fromSections(meta: Record<string, unknown>, sections: Map<string, SectionArray>, source: string): EmbeddingHead {
    const { inputDim, dim, method, fitInfo, posterior } = meta;
    if (!(typeof inputDim === 'number' && Number.isInteger(inputDim) && inputDim > 0 && typeof dim === 'number' && Number.isInteger(dim) && dim > 0)) {
      throw new FileFormatError(source, 'head metadata is malformed');
    }
    if (!(METHODS as readonly unknown[]).includes(method)) throw new FileFormatError(source, `unknown head method ${String(method)}`);
    const c = { sections } as Parameters<typeof requireSection>[0];
    const mean = requireSection(c, 'head.mean', Float64Array, source);
    const w = requireSection(c, 'head.weights', Float32Array, source);
    const info = (fitInfo && typeof fitInfo === 'object' ? fitInfo : { classes: 0, samples: 0, seconds: 0 }) as HeadFitInfo;
    if (method === 'gaussian') {
      const p = posterior as { temperature?: unknown; blend?: unknown; classes?: unknown } | undefined;
      const ok = p && typeof p === 'object' && typeof p.temperature === 'number' && p.temperature > 0 && Number.isFinite(p.temperature)
        && typeof p.blend === 'number' && p.blend >= 0 && p.blend <= 1 && Array.isArray(p.classes) && p.classes.length >= 2
        && p.classes.every((l) => typeof l === 'string' || (typeof l === 'number' && Number.isFinite(l)));
      if (!ok) throw new FileFormatError(source, 'gaussian head metadata is malformed');
      const means = requireSection(c, 'head.classMeans', Float32Array, source);
      const C = (p.classes as unknown[]).length;
      const want = (p.blend as number) < 1 ? inputDim + ((p.blend as number) > 0 ? C : 0) : C;
      if (mean.length !== inputDim || w.length !== inputDim * inputDim || means.length !== C * inputDim || dim !== want) {
        throw new FileFormatError(source, 'head sections do not match their dimensions');
      }
      return new EmbeddingHead(inputDim, dim, 'gaussian', mean, w, info, {
        means, temperature: p.temperature as number, blend: p.blend as number, classes: p.classes as (string | number)[],
      });
    }
    if (mean.length !== inputDim || w.length !== dim * inputDim) throw new FileFormatError(source, 'head sections do not match their dimensions');
    return new EmbeddingHead(inputDim, dim, method as HeadMethod, mean, w, info);
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
   * @example
   * const head = await EmbeddingHead.load('head.pinrec');
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
 * @example
 * indexLabels(['a', 'b', 'a', 'b'], 4); // { y: Int32Array [0, 1, 0, 1], counts: [2, 2], names: ['a', 'b'] }
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
 * const head = await fitHead(features, labels); // 'gaussian', settings chosen on a validation split
 * const y = head.applyBatch(features);
 * const lda = await fitHead(features, labels, { method: 'lda' });
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
  const method = checkOneOf('options.method', options.method ?? DEFAULT_HEAD_METHOD, METHODS);
  const t0 = performance.now();
  if (method === 'gaussian') return fitGaussian(features, d, cls, options, t0);
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
// ---------------------------------------------------------------- gaussian (whitened feature + class posterior)

/** Candidate shrinkages searched on the validation split (`'gaussian'`): Ledoit–Wolf's estimate and a fixed ladder. */
const SHRINKAGE_GRID: readonly ('ledoit-wolf' | number)[] = ['ledoit-wolf', 0.25, 0.5, 0.75, 1];
/** Candidate posterior temperatures (`'gaussian'`), in units of the whitened squared distance. */
const TEMPERATURE_GRID: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/** Candidate weights of the posterior part (`'gaussian'`); 0 = the whitened feature alone. */
const BLEND_GRID: readonly number[] = [0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1];
/** At most this many images in each validation set (a seeded random subset beyond it). */
const VALIDATION_CAP = 1000;
/** Used when a setting cannot be validated (validation off, or too few classes / images for a split): what the validation chose on the Caltech-101 benchmark. */
const FALLBACK = { temperature: 16, blend: 0.2 };

/** Pooled within-class scatter of some rows. */
interface WithinScatter {
  d: number;
  classes: number;
  /** Mean of the rows (length d). */
  mean: Float64Array;
  /** Class means minus `mean`, classes × d. */
  centred: Float64Array;
  /** Pooled within-class covariance (1/n), d × d. */
  S: Float64Array;
  /** tr Σw / d, the shrinkage target's scale. */
  mu: number;
  /** The Ledoit–Wolf shrinkage of Σw. */
  lw: number;
}

/** Pooled within-class covariance of `rows` (classes `y`, dense 0..C−1, each present), with its Ledoit–Wolf shrinkage as in {@link fitLda}. */
function withinScatter(x: Float32Array, d: number, rows: readonly number[], y: readonly number[], C: number): WithinScatter {
  const n = rows.length;
  const mean = new Float64Array(d);
  const cm = new Float64Array(C * d);
  const counts = new Float64Array(C);
  rows.forEach((i, t) => {
    const c = y[t];
    counts[c]++;
    for (let j = 0; j < d; j++) { const v = x[i * d + j]; mean[j] += v; cm[c * d + j] += v; }
  });
  for (let j = 0; j < d; j++) mean[j] /= n;
  for (let c = 0; c < C; c++) for (let j = 0; j < d; j++) cm[c * d + j] /= counts[c];
  // S = Σ rᵢ rᵢᵀ over the class-centred residuals, in chunks of rows (each chunk transposed, d × chunk).
  const S = new Float64Array(d * d);
  const chunk = Math.min(n, 2048);
  const Rt = new Float64Array(d * chunk);
  let sumR4 = 0;
  for (let start = 0; start < n; start += chunk) {
    const m = Math.min(chunk, n - start);
    for (let t = 0; t < m; t++) {
      const i = rows[start + t], c = y[start + t];
      let rr = 0;
      for (let j = 0; j < d; j++) { const v = x[i * d + j] - cm[c * d + j]; Rt[j * m + t] = v; rr += v * v; }
      sumR4 += rr * rr;
    }
    const part = mulABt(Rt, d, Rt, d, m, true);
    for (let k = 0; k < d * d; k++) S[k] += part[k];
  }
  let tr = 0, fro2 = 0;
  for (let k = 0; k < d * d; k++) { S[k] /= n; fro2 += S[k] * S[k]; }
  for (let a = 0; a < d; a++) tr += S[a * d + a];
  if (!(tr > 0) || !Number.isFinite(tr)) throw new NumericalError('gaussian head: the samples have no within-class variance');
  const mu = tr / d;
  const delta = (fro2 - 2 * mu * tr + d * mu * mu) / d;
  let beta = (sumR4 / n - fro2) / (d * n);
  beta = Math.min(Math.max(beta, 0), delta);
  const lw = delta > 0 ? beta / delta : 1;
  const centred = new Float64Array(C * d);
  for (let c = 0; c < C; c++) for (let j = 0; j < d; j++) centred[c * d + j] = cm[c * d + j] - mean[j];
  return { d, classes: C, mean, centred, S, mu, lw };
}

/**
 * Lower Cholesky factor `L` of Σ(s) = (1 − s)·Σw + s·(tr Σw / d)·I (plus 1e-10 of its largest diagonal entry, so a
 * singular Σw with s = 0 still factors): `z = L⁻¹(x − μ)` whitens, `zᵀz' = (x − μ)ᵀ Σ(s)⁻¹ (x' − μ)`.
 */
function shrunkCholesky(e: WithinScatter, s: number): Float64Array {
  const d = e.d;
  const A = new Float64Array(d * d);
  let maxDiag = 0;
  for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) {
    const v = (1 - s) * e.S[a * d + b] + (a === b ? s * e.mu : 0);
    A[a * d + b] = v;
    if (a === b) maxDiag = Math.max(maxDiag, v);
  }
  for (let a = 0; a < d; a++) A[a * d + a] += 1e-10 * maxDiag;
  // In place, row by row (row-major, lower triangle).
  for (let i = 0; i < d; i++) {
    const oi = i * d;
    for (let j = 0; j <= i; j++) {
      const oj = j * d;
      let sum = A[oi + j];
      for (let k = 0; k < j; k++) sum -= A[oi + k] * A[oj + k];
      if (i === j) {
        if (!(sum > 0)) throw new NumericalError(`gaussian head: the shrunk within-class covariance is not positive definite (shrinkage ${s})`);
        A[oi + i] = Math.sqrt(sum);
      } else {
        A[oi + j] = sum / A[oj + j];
      }
    }
  }
  for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) A[a * d + b] = 0;
  return A;
}

/** `L⁻¹ xᵢ` for `n` rows of length d (forward substitution; `L` lower triangular, row-major). */
function forwardSolve(L: Float64Array, d: number, X: Float64Array, n: number): Float64Array {
  const Y = new Float64Array(n * d);
  for (let t = 0; t < n; t++) {
    const ot = t * d;
    for (let a = 0; a < d; a++) {
      const oa = a * d;
      let s = X[ot + a];
      for (let b = 0; b < a; b++) s -= L[oa + b] * Y[ot + b];
      Y[ot + a] = s / L[oa + a];
    }
  }
  return Y;
}

/** A Bᵀ (na × nb) for row-major A (na × m) and B (nb × m), in 2 × 2 blocks; `sym` when B is A (mirrors the upper half). */
function mulABt(A: Float64Array, na: number, B: Float64Array, nb: number, m: number, sym: boolean): Float64Array {
  const G = new Float64Array(na * nb);
  for (let i = 0; i < na; i += 2) {
    const i1 = Math.min(i + 1, na - 1);
    const oa0 = i * m, oa1 = i1 * m;
    for (let j = sym ? i : 0; j < nb; j += 2) {
      const j1 = Math.min(j + 1, nb - 1);
      const ob0 = j * m, ob1 = j1 * m;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
      for (let t = 0; t < m; t++) {
        const a0 = A[oa0 + t], a1 = A[oa1 + t], b0 = B[ob0 + t], b1 = B[ob1 + t];
        s00 += a0 * b0; s01 += a0 * b1; s10 += a1 * b0; s11 += a1 * b1;
      }
      G[i * nb + j] = s00; G[i * nb + j1] = s01; G[i1 * nb + j] = s10; G[i1 * nb + j1] = s11;
    }
  }
  if (sym) for (let i = 1; i < na; i++) for (let j = 0; j < i; j++) G[i * nb + j] = G[j * nb + i];
  return G;
}

/**
 * Mean precision at k' = min(k, same-class others) over the queries with at least one same-class other, ranked
 * by `a·A + b·B` (n × n similarity matrices), the query excluded; ties go to the lower index. NaN when no query
 * qualifies.
 */
function precisionAt(A: Float64Array, a: number, B: Float64Array | undefined, b: number, labels: Int32Array, same: Int32Array, k: number): number {
  const n = labels.length;
  const row = new Float64Array(n);
  const vals = new Float64Array(k), labs = new Int32Array(k);
  let total = 0, queries = 0;
  for (let i = 0; i < n; i++) {
    const kk = Math.min(k, same[i]);
    if (kk === 0) continue;
    const oi = i * n;
    if (B && b !== 0) for (let j = 0; j < n; j++) row[j] = a * A[oi + j] + b * B[oi + j];
    else for (let j = 0; j < n; j++) row[j] = a * A[oi + j];
    row[i] = Number.NEGATIVE_INFINITY;
    for (let p = 0; p < kk; p++) vals[p] = Number.NEGATIVE_INFINITY;
    let thr = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < n; j++) {
      const v = row[j];
      if (v > thr) {
        let p = kk - 1;
        while (p > 0 && v > vals[p - 1]) { vals[p] = vals[p - 1]; labs[p] = labs[p - 1]; p--; }
        vals[p] = v; labs[p] = labels[j];
        thr = vals[kk - 1];
      }
    }
    let hit = 0;
    const li = labels[i];
    for (let p = 0; p < kk; p++) if (labs[p] === li) hit++;
    total += hit / kk;
    queries++;
  }
  return queries > 0 ? total / queries : NaN;
}

/** A validation set: members centred on the validation fit's mean, their labels, and the unsupervised baseline's similarities. */
interface ValidationSet {
  n: number;
  labels: Int32Array;
  /** Same-class others of each member. */
  same: Int32Array;
  /** Queries that count (members with a same-class other). */
  queries: number;
  /** Cosine similarities of the inputs (the unsupervised baseline). */
  base: Float64Array;
  /** Members minus the fit's mean, n × d. */
  centred: Float64Array;
}

function prepareValidation(x: Float32Array, e: WithinScatter, rows: readonly number[], labels: readonly number[]): ValidationSet {
  const { d, mean } = e;
  const n = rows.length;
  const lab = Int32Array.from(labels);
  const count = new Map<number, number>();
  for (const l of lab) count.set(l, (count.get(l) ?? 0) + 1);
  const same = Int32Array.from(lab, (l) => count.get(l)! - 1);
  const unit = new Float64Array(n * d);
  const centred = new Float64Array(n * d);
  rows.forEach((i, t) => {
    let ss = 0;
    for (let j = 0; j < d; j++) { const v = x[i * d + j]; ss += v * v; centred[t * d + j] = v - mean[j]; }
    const inv = inverseNorm(ss);
    for (let j = 0; j < d; j++) unit[t * d + j] = x[i * d + j] * inv;
  });
  let queries = 0;
  for (const s of same) if (s > 0) queries++;
  return { n, labels: lab, same, queries, base: mulABt(unit, n, unit, n, d, true), centred };
}

/** For one whitening: cosine similarities of the whitened members (n × n) and their squared whitened distances to the class means (n × classes). */
function whitenedSimilarities(v: ValidationSet, e: WithinScatter, L: Float64Array, M: Float64Array): { cos: Float64Array; dist: Float64Array } {
  const { n } = v;
  const { d, classes: C } = e;
  const Z = forwardSolve(L, d, v.centred, n);
  const cos = mulABt(Z, n, Z, n, d, true);
  const zz = Float64Array.from({ length: n }, (_, t) => cos[t * n + t]);
  const inv = Float64Array.from(zz, (s) => inverseNorm(s));
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) cos[i * n + j] *= inv[i] * inv[j];
  const mm = new Float64Array(C);
  for (let c = 0; c < C; c++) { let s = 0; for (let k = 0; k < d; k++) s += M[c * d + k] ** 2; mm[c] = s; }
  const dist = mulABt(Z, n, M, C, d, false);
  for (let t = 0; t < n; t++) for (let c = 0; c < C; c++) dist[t * C + c] = Math.max(0, zz[t] - 2 * dist[t * C + c] + mm[c]);
  return { cos, dist };
}

/** √(softmax(−dist / 2T)) per row (rows of `classes` values): unit-length rows. */
function sqrtPosterior(dist: ArrayLike<number>, classes: number, temperature: number, out: Float64Array = new Float64Array(dist.length)): Float64Array {
  const n = dist.length / classes;
  for (let t = 0; t < n; t++) {
    const o = t * classes;
    let min = Number.POSITIVE_INFINITY;
    for (let c = 0; c < classes; c++) min = Math.min(min, dist[o + c]);
    let z = 0;
    for (let c = 0; c < classes; c++) { const e = Math.exp(-(dist[o + c] - min) / (4 * temperature)); out[o + c] = e; z += e * e; }
    const inv = 1 / Math.sqrt(z);
    for (let c = 0; c < classes; c++) out[o + c] *= inv;
  }
  return out;
}

/** The `'gaussian'` validation split: classes held out entirely (`fresh`), images held out of the other classes (`same`), the rest (`fit`). */
function gaussianSplit(cls: ClassIndex, classFrac: number, imageFrac: number, rng: Rng): { fit: number[]; same: number[]; fresh: number[]; heldOutClasses: number } {
  const C = cls.names.length;
  const byClass: number[][] = cls.counts.map(() => []);
  cls.y.forEach((c, i) => byClass[c].push(i));
  const order = Array.from(byClass.keys());
  shuffle(order, rng);
  const hold = C >= 3 && classFrac > 0 ? Math.min(C - 2, Math.max(1, Math.round(classFrac * C))) : 0;
  const fit: number[] = [], same: number[] = [], fresh: number[] = [];
  order.forEach((c, q) => {
    const m = byClass[c];
    if (q < hold) { fresh.push(...m); return; }
    shuffle(m, rng);
    const k = imageFrac > 0 && m.length >= 4 ? Math.min(m.length - 2, Math.max(2, Math.round(imageFrac * m.length))) : 0;
    same.push(...m.slice(0, k));
    fit.push(...m.slice(k));
  });
  const cap = (a: number[]) => {
    if (a.length > VALIDATION_CAP) { shuffle(a, rng); a.length = VALIDATION_CAP; }
    return a.sort((x, y) => x - y);
  };
  return { fit: fit.sort((x, y) => x - y), same: cap(same), fresh: cap(fresh), heldOutClasses: hold };
}

interface GaussianSetting { shrinkage: 'ledoit-wolf' | number; temperature: number; blend: number }

/** P@10 of one setting on the held-out new classes (`fresh`) and new images of known classes (`same`). */
interface SetScores { fresh?: number; same?: number }

async function fitGaussian(x: Float32Array, d: number, cls: ClassIndex, o: HeadFitOptions, t0: number): Promise<EmbeddingHead> {
  if (o.dim !== undefined) throw new InvalidParameterError('options.dim', "not given for method 'gaussian' (its dimension is inputDim + classes)", o.dim);
  const C = cls.names.length;
  const n = cls.y.length;
  const seed = checkNumber('options.seed', o.seed ?? 0);
  const sh = o.shrinkage ?? 'auto';
  if (sh !== 'auto') checkNumber('options.shrinkage', sh, 0, 1);
  const fixedT = o.temperature === undefined ? undefined : checkNumber('options.temperature', o.temperature, 1e-6, 1e12);
  const fixedB = o.blend === undefined ? undefined : checkNumber('options.blend', o.blend, 0, 1);
  const imageFrac = checkNumber('options.validation', o.validation ?? 0.5, 0, 0.9);
  const classFrac = checkNumber('options.validationClasses', o.validationClasses ?? 0.25, 0, 0.9);
  const sGrid: readonly ('ledoit-wolf' | number)[] = sh === 'auto' ? SHRINKAGE_GRID : [sh];
  const tGrid = fixedT !== undefined ? [fixedT] : TEMPERATURE_GRID;
  const bGrid = fixedB !== undefined ? [fixedB] : BLEND_GRID;
  const stages = sGrid.length + 1;
  let chosen: GaussianSetting = { shrinkage: sGrid[0], temperature: fixedT ?? FALLBACK.temperature, blend: fixedB ?? FALLBACK.blend };
  let selection: HeadSelection = { by: 'fixed', heldOutClasses: 0, newClassImages: 0, sameClassImages: 0, candidates: 1, feasible: 0 };
  const free = sGrid.length > 1 || (tGrid.length > 1 && !(fixedB === 0)) || bGrid.length > 1;
  if (free) {
    selection = { ...selection, by: 'fallback' };
    const split = gaussianSplit(cls, classFrac, imageFrac, new Rng(seed));
    // The model of the validation fit knows only the kept classes (dense indices for it).
    const keptIndex = new Map<number, number>();
    for (const i of split.fit) if (!keptIndex.has(cls.y[i])) keptIndex.set(cls.y[i], keptIndex.size);
    const sets = [
      { name: 'fresh' as const, rows: split.fresh },
      { name: 'same' as const, rows: split.same },
    ].filter((s) => s.rows.length >= 2);
    if (keptIndex.size >= 2 && sets.length > 0) {
      const e = withinScatter(x, d, split.fit, split.fit.map((i) => keptIndex.get(cls.y[i])!), keptIndex.size);
      const prepared = sets.map((s) => ({ name: s.name, v: prepareValidation(x, e, s.rows, s.rows.map((i) => cls.y[i])) })).filter((s) => s.v.queries > 0);
      if (prepared.length > 0) {
        const K = 10;
        const base: SetScores = {};
        for (const s of prepared) base[s.name] = precisionAt(s.v.base, 1, undefined, 0, s.v.labels, s.v.same, K);
        const results: { setting: GaussianSetting; order: number[]; score: SetScores }[] = [];
        let stage = 0;
        for (const [si, s] of sGrid.entries()) {
          const sv = s === 'ledoit-wolf' ? e.lw : s;
          const L = shrunkCholesky(e, sv);
          const M = forwardSolve(L, d, e.centred, e.classes);
          const per = prepared.map((p) => ({ p, ...whitenedSimilarities(p.v, e, L, M) }));
          for (const [ti, T] of tGrid.entries()) {
            const gq = bGrid.some((b) => b > 0) ? per.map((q) => { const Q = sqrtPosterior(q.dist, e.classes, T); return mulABt(Q, q.p.v.n, Q, q.p.v.n, e.classes, true); }) : [];
            for (const [bi, b] of bGrid.entries()) {
              if (b === 0 && ti > 0) continue; // the temperature plays no part
              const score: SetScores = {};
              per.forEach((q, k) => { score[q.p.name] = precisionAt(q.cos, 1 - b, gq[k], b, q.p.v.labels, q.p.v.same, K); });
              // Tie order: less posterior weight, less whitening, softer posterior (closer to the input) first.
              results.push({ setting: { shrinkage: s, temperature: T, blend: b }, order: [bi, -sv, -ti, si], score });
            }
          }
          o.onProgress?.({ stage: 'head:fit', done: ++stage, total: stages });
        }
        const hasFresh = base.fresh !== undefined, hasSame = base.same !== undefined;
        const feasible = hasFresh ? results.filter((r) => r.score.fresh! >= base.fresh!) : results;
        const pool = feasible.length > 0 ? feasible : results;
        const value = (r: (typeof results)[number]) => feasible.length === 0 ? r.score.fresh! : hasFresh && hasSame ? (r.score.fresh! + r.score.same!) / 2 : hasFresh ? r.score.fresh! : r.score.same!;
        let best = pool[0];
        const before = (a: number[], b: number[]) => { for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k] < b[k]; return false; };
        for (const r of pool) { const dv = value(r) - value(best); if (dv > 0 || (dv === 0 && before(r.order, best.order))) best = r; }
        chosen = best.setting;
        selection = {
          by: 'validation', heldOutClasses: split.heldOutClasses, newClassImages: split.fresh.length, sameClassImages: split.same.length,
          candidates: results.length, feasible: hasFresh ? feasible.length : results.length,
          baseNewClass: base.fresh, baseSameClass: base.same, newClass: best.score.fresh, sameClass: best.score.same,
        };
      }
    }
  }
  // The final fit, on every sample.
  const all = Array.from(cls.y.keys());
  const e = withinScatter(x, d, all, Array.from(cls.y), C);
  const s = chosen.shrinkage === 'ledoit-wolf' ? e.lw : chosen.shrinkage;
  const L = shrunkCholesky(e, s);
  // W = L⁻¹ (lower triangular): z = W (x − μ) has zᵀz' = (x − μ)ᵀ Σ(s)⁻¹ (x' − μ).
  const W64 = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    // Row i: (e_i − Σ_{k<i} L[i,k]·W[k,:]) / L[i,i], W[k,:] zero beyond column k.
    const oi = i * d;
    for (let k = 0; k < i; k++) {
      const f = L[oi + k];
      if (f === 0) continue;
      const ok = k * d;
      for (let j = 0; j <= k; j++) W64[oi + j] -= f * W64[ok + j];
    }
    W64[oi + i] += 1;
    const inv = 1 / L[oi + i];
    for (let j = 0; j <= i; j++) W64[oi + j] *= inv;
  }
  const W = Float32Array.from(W64);
  const means = Float32Array.from(forwardSolve(L, d, e.centred, C));
  checkFiniteArray('gaussian head weights', W);
  checkFiniteArray('gaussian head class means', means);
  o.onProgress?.({ stage: 'head:fit', done: stages, total: stages });
  const blend = chosen.blend;
  const dim = (blend < 1 ? d : 0) + (blend > 0 ? C : 0);
  return new EmbeddingHead(d, dim, 'gaussian', e.mean, W, {
    classes: C, samples: n, shrinkage: s, shrinkageRule: chosen.shrinkage === 'ledoit-wolf' ? 'ledoit-wolf' : sGrid.length > 1 ? 'grid' : 'fixed',
    temperature: chosen.temperature, blend, selection, seconds: (performance.now() - t0) / 1000,
  }, { means, temperature: chosen.temperature, blend, classes: cls.names.slice() });
}
