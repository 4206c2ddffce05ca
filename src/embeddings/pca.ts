/**
 * PCA projection with optional whitening, fitted on a sample of embeddings: `y = s ⊙ (W (x − μ))`, then
 * L2-normalised, where the rows of `W` are the top principal directions and `s_k = (λ_k + ε)^(−w/2)` (`w = 0`:
 * plain PCA, `w = 1`: full whitening). Learned in float64; signs made deterministic (the largest-magnitude
 * entry of each direction is positive). Saved in pinrec's checksummed container.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { DimensionMismatchError, InvalidParameterError, NumericalError, FileFormatError } from '../core/errors.js';
import { checkInt, checkNumber, checkFiniteArray } from '../core/validate.js';
import { readContainer, requireSection, writeContainer, type SectionArray } from '../core/container.js';
import { topK } from '../core/topk.js';
import { inverseNorm } from '../core/vectors.js';

/** Options of {@link PcaProjection.fit}. */
export interface PcaFitOptions {
  /**
   * Output dimension (number of principal directions kept); at most `min(inputDim, n − 1)`.
   * @default 256
   */
  dim?: number;
  /**
   * Whitening exponent `w` in [0, 1]: each direction is scaled by `(λ + ε)^(−w/2)`. 0 = PCA only.
   * @default 1
   */
  whiten?: number;
  /**
   * Regulariser `ε` added to the eigenvalues, as a fraction of the largest eigenvalue.
   * @default 0.01
   */
  epsilon?: number;
}

const KIND = 'pinrec.pca';
const VERSION = 1;

/** A fitted PCA / whitening projection. */
export class PcaProjection {
  /** Input dimension. */
  readonly inputDim: number;
  /** Output dimension. */
  readonly dim: number;
  /** Whitening exponent used. */
  readonly whiten: number;
  /** Regulariser used (absolute). */
  readonly epsilon: number;
  /** Mean of the fitting sample (length `inputDim`). */
  readonly mean: Float64Array;
  /** Directions, row-major `dim × inputDim`, already multiplied by their scale. */
  readonly components: Float32Array;
  /** Eigenvalues of the kept directions, descending. */
  readonly eigenvalues: Float64Array;

  private constructor(inputDim: number, dim: number, whiten: number, epsilon: number, mean: Float64Array, components: Float32Array, eigenvalues: Float64Array) {
    this.inputDim = inputDim;
    this.dim = dim;
    this.whiten = whiten;
    this.epsilon = epsilon;
    this.mean = mean;
    this.components = components;
    this.eigenvalues = eigenvalues;
  }

  /**
   * Fit on `n` row-major vectors of dimension `inputDim` (typically L2-normalised embeddings).
   *
   * @throws {InvalidParameterError} for bad sizes or options, {@link NumericalError} when the sample is degenerate
   * @example
   * const pca = PcaProjection.fit(vectors, 768, { dim: 256, whiten: 1 });
   * const y = pca.apply(vectors.subarray(0, 768));   // 256-d, unit length
   */
  static fit(data: Float32Array | Float64Array, inputDim: number, options: PcaFitOptions = {}): PcaProjection {
    checkInt('inputDim', inputDim, 1, 1 << 20);
    if (data.length === 0 || data.length % inputDim !== 0) throw new InvalidParameterError('data', `a non-empty multiple of inputDim = ${inputDim} values long`, data.length);
    checkFiniteArray('data', data);
    const n = data.length / inputDim;
    if (n < 2) throw new InvalidParameterError('data', 'at least 2 vectors', n);
    const dim = checkInt('options.dim', options.dim ?? Math.min(256, inputDim, n - 1), 1, Math.min(inputDim, n - 1));
    const whiten = checkNumber('options.whiten', options.whiten ?? 1, 0, 1);
    const epsRel = checkNumber('options.epsilon', options.epsilon ?? 0.01, 0, 1e6);
    const d = inputDim;
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j];
    for (let j = 0; j < d; j++) mean[j] /= n;
    // Covariance (upper triangle accumulated, then mirrored), float64.
    const cov = new Float64Array(d * d);
    const row = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) row[j] = data[i * d + j] - mean[j];
      for (let a = 0; a < d; a++) {
        const ra = row[a];
        if (ra === 0) continue;
        const base = a * d;
        for (let b = a; b < d; b++) cov[base + b] += ra * row[b];
      }
    }
    const m = new Matrix(d, d);
    for (let a = 0; a < d; a++) {
      for (let b = a; b < d; b++) {
        const v = cov[a * d + b] / (n - 1);
        m.set(a, b, v);
        m.set(b, a, v);
      }
    }
    const evd = new EigenvalueDecomposition(m, { assumeSymmetric: true });
    const vals = evd.realEigenvalues;
    const vecs = evd.eigenvectorMatrix;
    const order = topK(vals, dim); // largest first, ties: lower index
    const top = vals[order[0]];
    if (!(top > 0) || !Number.isFinite(top)) throw new NumericalError('PCA fit: the sample has zero (or non-finite) variance');
    const eps = epsRel * top;
    const comps = new Float32Array(dim * d);
    const eig = new Float64Array(dim);
    for (let k = 0; k < dim; k++) {
      const c = order[k];
      const lam = Math.max(vals[c], 0);
      eig[k] = lam;
      const s = whiten === 0 ? 1 : Math.pow(lam + eps, -whiten / 2);
      if (!Number.isFinite(s)) throw new NumericalError(`PCA fit: direction ${k} has eigenvalue ${lam}; whitening needs epsilon > 0`);
      // Deterministic sign: the largest-magnitude entry is positive.
      let best = 0;
      for (let j = 0; j < d; j++) if (Math.abs(vecs.get(j, c)) > Math.abs(vecs.get(best, c))) best = j;
      const sign = vecs.get(best, c) < 0 ? -1 : 1;
      for (let j = 0; j < d; j++) comps[k * d + j] = sign * s * vecs.get(j, c);
    }
    return new PcaProjection(d, dim, whiten, eps, mean, comps, eig);
  }

  /**
   * Project one vector (length `inputDim`) to `dim` values and L2-normalise.
   * @throws {DimensionMismatchError} when the vector has the wrong length
   */
  apply(x: ArrayLike<number>, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    if (x.length !== this.inputDim) throw new DimensionMismatchError('vector', this.inputDim, x.length);
    const d = this.inputDim;
    const centred = new Float64Array(d);
    for (let j = 0; j < d; j++) centred[j] = x[j] - this.mean[j];
    let ss = 0;
    for (let k = 0; k < this.dim; k++) {
      let acc = 0;
      const base = k * d;
      for (let j = 0; j < d; j++) acc += this.components[base + j] * centred[j];
      out[k] = acc;
      ss += acc * acc;
    }
    // Scaled by the float64 norm of the projection (not re-summed from the float32 output).
    const inv = inverseNorm(ss);
    for (let k = 0; k < this.dim; k++) out[k] *= inv;
    return out;
  }

  /** Project `n` row-major vectors; returns `n × dim`. */
  applyBatch(rows: Float32Array): Float32Array {
    if (rows.length % this.inputDim !== 0) throw new DimensionMismatchError('rows', this.inputDim, rows.length % this.inputDim);
    const n = rows.length / this.inputDim;
    const out = new Float32Array(n * this.dim);
    for (let i = 0; i < n; i++) this.apply(rows.subarray(i * this.inputDim, (i + 1) * this.inputDim), out.subarray(i * this.dim, (i + 1) * this.dim));
    return out;
  }

  /** Sections and meta for a container (used by {@link PcaProjection.save} and the embedder's save). */
  toSections(): { meta: Record<string, number>; sections: Record<string, SectionArray> } {
    return {
      meta: { inputDim: this.inputDim, dim: this.dim, whiten: this.whiten, epsilon: this.epsilon },
      sections: { 'pca.mean': this.mean, 'pca.components': this.components, 'pca.eigenvalues': this.eigenvalues },
    };
  }

  /** Rebuild from {@link PcaProjection.toSections} output; `source` names the file in errors. */
  static fromSections(meta: Record<string, unknown>, sections: Map<string, SectionArray>, source: string): PcaProjection {
    const inputDim = meta.inputDim, dim = meta.dim, whiten = meta.whiten, epsilon = meta.epsilon;
    if (![inputDim, dim, whiten, epsilon].every((v) => typeof v === 'number' && Number.isFinite(v))) throw new FileFormatError(source, 'PCA metadata is malformed');
    const c = { sections } as Parameters<typeof requireSection>[0];
    const mean = requireSection(c, 'pca.mean', Float64Array, source);
    const comps = requireSection(c, 'pca.components', Float32Array, source);
    const eig = requireSection(c, 'pca.eigenvalues', Float64Array, source);
    if (mean.length !== inputDim || comps.length !== (dim as number) * (inputDim as number) || eig.length !== dim) {
      throw new FileFormatError(source, 'PCA sections do not match their dimensions');
    }
    return new PcaProjection(inputDim as number, dim as number, whiten as number, epsilon as number, mean, comps, eig);
  }

  /**
   * Save to a file (atomic, checksummed).
   * @example
   * await pca.save('pca.pinrec'); const again = await PcaProjection.load('pca.pinrec');
   */
  async save(file: string): Promise<void> {
    const { meta, sections } = this.toSections();
    await writeContainer(file, KIND, VERSION, meta, sections);
  }

  /**
   * Load a file written by {@link PcaProjection.save}.
   * @throws {FileFormatError} for a missing, truncated, altered or foreign file
   */
  static async load(file: string): Promise<PcaProjection> {
    const c = await readContainer<Record<string, unknown>>(file, KIND);
    if (c.version !== VERSION) throw new FileFormatError(file, `unsupported PCA file version ${c.version}`);
    return PcaProjection.fromSections(c.meta, c.sections, file);
  }
}
