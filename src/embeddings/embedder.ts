/**
 * The {@link Embedder} class: photos in, L2-normalised feature vectors out, in batches (decoding overlaps
 * inference), with per-image failures, an optional PCA projection, an optional supervised embedding head (head.ts),
 * and persistence of its settings. Created by
 * {@link loadEmbedder} (load.ts); inference runs on an {@link Engine} (engine.ts).
 */
import { InvalidParameterError, NumericalError, PinrecError, DimensionMismatchError, DisposedError, InferenceError } from '../core/errors.js';
import { checkOneOf } from '../core/validate.js';
import type { ProgressCallback } from '../core/types.js';
import { decodeImage, describeInput, type DecodeLimits, type ImageInput } from './decode.js';
import { ImageDecodeError } from './errors.js';
import type { Engine } from './engine.js';
import type { EmbedBatchOptions, EmbedBatchResult, EmbedderInfo } from './options.js';
import { EmbeddingHead, fitHead, type HeadFitOptions } from './head.js';
import { PcaProjection, type PcaFitOptions } from './pca.js';
import { l2NormalizeRows, powerNormalize } from './postprocess.js';
import type { Preprocessing } from './preprocess.js';
import { writeSavedEmbedder, type SavedSettings } from './saved.js';
// For {@link} links in the doc comments only.
import type { loadEmbedder, loadSavedEmbedder } from './load.js';

/**
 * An image embedder: photos in, L2-normalised feature vectors out. Create with {@link loadEmbedder}; call
 * {@link Embedder.dispose} when done (it stops worker threads and frees the model).
 */
export class Embedder {
  /** Output dimension. */
  get dim(): number { return this.head ? this.head.dim : this.headInputDim; }
  /** Dimension before the head: the projection's output, else {@link Embedder.rawDim}. */
  get headInputDim(): number { return this.projection ? this.projection.dim : this.rawDim; }
  /** Pooled feature dimension of the model. */
  readonly rawDim: number;
  private projection?: PcaProjection;
  private head?: EmbeddingHead;
  private readonly engine: Engine;
  private readonly pre: Preprocessing;
  private readonly limits: DecodeLimits;
  private readonly batchSize: number;
  private readonly decodeConcurrency: number;
  private readonly powerNorm: number;
  private readonly baseInfo: Omit<EmbedderInfo, 'dim' | 'projection' | 'head'>;
  private readonly saveMeta: SavedSettings;
  private closed = false;

  /** @internal use {@link loadEmbedder} */
  constructor(args: {
    engine: Engine; pre: Preprocessing; limits: DecodeLimits; batchSize: number; decodeConcurrency: number; powerNorm: number;
    rawDim: number; projection?: PcaProjection; head?: EmbeddingHead; info: Omit<EmbedderInfo, 'dim' | 'projection' | 'head'>; saveMeta: SavedSettings;
  }) {
    this.engine = args.engine;
    this.pre = args.pre;
    this.limits = args.limits;
    this.batchSize = args.batchSize;
    this.decodeConcurrency = args.decodeConcurrency;
    this.powerNorm = args.powerNorm;
    this.rawDim = args.rawDim;
    this.baseInfo = args.info;
    this.saveMeta = args.saveMeta;
    if (args.projection) this.setProjection(args.projection);
    if (args.head) this.setHead(args.head);
  }

  /** What this embedder runs: model, source, backend, sizes, options, and `fallback` when the fallback is in use. */
  get info(): EmbedderInfo {
    const p = this.projection;
    const h = this.head;
    return { ...this.baseInfo, dim: this.dim, ...(p ? { projection: { dim: p.dim, whiten: p.whiten } } : {}), ...(h ? { head: { method: h.method, dim: h.dim } } : {}) };
  }

  /** The projection in use, if any. */
  getProjection(): PcaProjection | undefined { return this.projection; }

  /**
   * Use (or, with `undefined`, stop using) a PCA / whitening projection.
   * @throws {DimensionMismatchError} when its input dimension is not {@link Embedder.rawDim}, or when a head is in
   *   use and the new output dimension is not the head's input dimension (remove the head first: a head is trained
   *   on the output of one projection)
   */
  setProjection(p: PcaProjection | undefined): void {
    if (p !== undefined) {
      if (!(p instanceof PcaProjection)) throw new InvalidParameterError('projection', 'a PcaProjection', p);
      if (p.inputDim !== this.rawDim) throw new DimensionMismatchError('projection.inputDim', this.rawDim, p.inputDim);
    }
    const out = p ? p.dim : this.rawDim;
    if (this.head && this.head.inputDim !== out) throw new DimensionMismatchError('projection.dim (the head in use takes this input)', this.head.inputDim, out);
    this.projection = p;
  }

  /** The embedding head in use, if any. */
  getHead(): EmbeddingHead | undefined { return this.head; }

  /**
   * Use (or, with `undefined`, stop using) a supervised embedding head, applied last in `embed` / `embedBatch`
   * (after normalisation and the projection; the output is L2-normalised).
   * @throws {DimensionMismatchError} when its input dimension is not {@link Embedder.headInputDim}
   */
  setHead(h: EmbeddingHead | undefined): void {
    if (h !== undefined) {
      if (!(h instanceof EmbeddingHead)) throw new InvalidParameterError('head', 'an EmbeddingHead', h);
      if (h.inputDim !== this.headInputDim) throw new DimensionMismatchError('head.inputDim', this.headInputDim, h.inputDim);
    }
    this.head = h;
  }

  private check(): void {
    if (this.closed) throw new DisposedError('the embedder');
  }

  /**
   * Embed one image.
   * @throws {ImageDecodeError} when the input cannot be read or decoded
   * @example
   * const v = await embedder.embed('pin.jpg'); // Float32Array(768), unit length
   */
  async embed(input: ImageInput): Promise<Float32Array> {
    const r = await this.embedBatch([input]);
    if (!r.ok[0]) throw r.errors[0]!;
    return r.vectors;
  }

  /**
   * Embed many images in batches (decoding overlaps inference; with workers, batches run in parallel). One bad
   * image does not fail the others: check `ok` / `failed` / `errors`.
   *
   * @example
   * const r = await embedder.embedBatch(paths, { onProgress: (p) => bar.update(p.done / p.total) });
   * r.vectors.subarray(i * r.dim, (i + 1) * r.dim); // row i
   */
  async embedBatch(inputs: readonly ImageInput[], options: EmbedBatchOptions = {}): Promise<EmbedBatchResult> {
    this.check();
    if (!Array.isArray(inputs)) throw new InvalidParameterError('inputs', 'an array of images', inputs);
    const output = checkOneOf('output', options.output ?? 'final', ['final', 'head-input', 'unprojected', 'raw'] as const);
    const proj = output === 'final' || output === 'head-input' ? this.projection : undefined;
    const head = output === 'final' ? this.head : undefined;
    const projDim = proj ? proj.dim : this.rawDim;
    const dim = head ? head.dim : projDim;
    const projRow = head ? new Float32Array(projDim) : undefined;
    const n = inputs.length;
    const vectors = new Float32Array(n * dim);
    const ok = new Array<boolean>(n).fill(false);
    const errors = new Array<PinrecError | undefined>(n).fill(undefined);
    const per = this.pre.size * this.pre.size * 3;
    const bs = this.batchSize;
    const nb = Math.ceil(n / bs);
    const inflight = Math.max(2, (this.baseInfo.workers || 1) + 1);
    let done = 0;
    let next = 0;
    const nameOf = (i: number) => {
      const x = inputs[i];
      return typeof x === 'string' || x instanceof URL ? describeInput(x) : `inputs[${i}] (${describeInput(x)})`;
    };
    const runBatch = async (b: number) => {
      const lo = b * bs, hi = Math.min(n, lo + bs);
      const pix: (Uint8Array | undefined)[] = new Array(hi - lo);
      let cursor = lo;
      const decodeWorker = async () => {
        while (cursor < hi) {
          const i = cursor++;
          try {
            pix[i - lo] = await decodeImage(inputs[i], this.pre.size, this.pre.fit, this.limits, nameOf(i));
          } catch (e) {
            errors[i] = e instanceof PinrecError ? e : new ImageDecodeError(nameOf(i), 'decode', (e as Error)?.message ?? String(e), { cause: e });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.decodeConcurrency, hi - lo) }, decodeWorker));
      const good: number[] = [];
      for (let i = lo; i < hi; i++) if (pix[i - lo]) good.push(i);
      if (good.length > 0) {
        const packed = new Uint8Array(good.length * per);
        good.forEach((i, k) => packed.set(pix[i - lo]!, k * per));
        let raw: Float32Array | undefined;
        try {
          raw = await this.engine.infer(packed, good.length);
        } catch (e) {
          const err = e instanceof PinrecError ? e : new InferenceError((e as Error)?.message ?? String(e), { cause: e });
          for (const i of good) errors[i] = err;
        }
        if (raw) {
          if (output !== 'raw') {
            powerNormalize(raw, this.powerNorm);
            const bad = new Set(l2NormalizeRows(raw, this.rawDim));
            good.forEach((i, k) => {
              if (bad.has(k)) errors[i] = new NumericalError(`${nameOf(i)}: the model's feature vector is all zeros or not finite; cannot normalise it`);
            });
          }
          good.forEach((i, k) => {
            if (errors[i]) return;
            const row = raw!.subarray(k * this.rawDim, (k + 1) * this.rawDim);
            const dst = vectors.subarray(i * dim, (i + 1) * dim);
            if (head) head.apply(proj ? proj.apply(row, projRow) : row, dst);
            else if (proj) proj.apply(row, dst);
            else vectors.set(row, i * dim);
            ok[i] = true;
          });
        }
      }
      done += hi - lo;
      options.onProgress?.({ stage: 'embed', done, total: n });
    };
    const lane = async () => {
      while (next < nb) await runBatch(next++);
    };
    await Promise.all(Array.from({ length: Math.min(inflight, nb) }, lane));
    const failed: number[] = [];
    for (let i = 0; i < n; i++) if (!ok[i]) failed.push(i);
    return { vectors, dim, count: n, ok, errors, failed };
  }

  /**
   * Fit a PCA / whitening projection on a sample and start using it. `sample` is a list of images, or a
   * row-major matrix of unprojected vectors (`embedBatch(..., { output: 'unprojected' })`).
   *
   * @throws {InvalidParameterError} when fewer than 2 usable vectors remain
   * @example
   * await embedder.fitProjection(samplePaths, { dim: 256, whiten: 1 });
   * embedder.dim; // 256
   */
  async fitProjection(sample: readonly ImageInput[] | Float32Array, options: PcaFitOptions & { onProgress?: ProgressCallback } = {}): Promise<PcaProjection> {
    this.check();
    let rows: Float32Array;
    if (sample instanceof Float32Array) {
      rows = sample;
    } else {
      const r = await this.embedBatch(sample, { output: 'unprojected', onProgress: options.onProgress });
      rows = new Float32Array((r.count - r.failed.length) * this.rawDim);
      let k = 0;
      for (let i = 0; i < r.count; i++) if (r.ok[i]) rows.set(r.vectors.subarray(i * this.rawDim, (i + 1) * this.rawDim), (k++) * this.rawDim);
    }
    const p = PcaProjection.fit(rows, this.rawDim, options);
    this.setProjection(p);
    return p;
  }

  /**
   * Learn a supervised embedding head from labelled samples of the catalogue (boards, categories, product
   * types) and start using it. `samples` is a list of images (embedded here; images that fail are dropped with
   * their labels), or a row-major matrix of head inputs (`embedBatch(..., { output: 'head-input' })`, one row per
   * label). See {@link fitHead} for the methods and options.
   *
   * @throws {InvalidParameterError} for bad labels (length mismatch, fewer than 2 classes, a class with one
   *   sample, also after dropping failed images) or options
   * @example
   * await embedder.fitHead(paths, boards, { method: 'lda' });
   * const v = await embedder.embed('pin.jpg'); // embedder.dim values, unit length
   */
  async fitHead(samples: readonly ImageInput[] | Float32Array, labels: ArrayLike<string | number>, options: HeadFitOptions = {}): Promise<EmbeddingHead> {
    this.check();
    const d = this.headInputDim;
    let rows: Float32Array;
    let labs: ArrayLike<string | number> = labels;
    if (samples instanceof Float32Array) {
      if (labels && typeof labels.length === 'number' && samples.length !== labels.length * d) {
        throw new InvalidParameterError('labels', `one label per ${d}-value row of samples (samples has ${samples.length} values)`, labels);
      }
      rows = samples;
    } else {
      if (!Array.isArray(samples)) throw new InvalidParameterError('samples', 'an array of images or a Float32Array', samples);
      if (!labels || labels.length !== samples.length) throw new InvalidParameterError('labels', `one label per sample (${samples.length} samples)`, labels);
      const r = await this.embedBatch(samples, { output: 'head-input', onProgress: options.onProgress });
      const keep: number[] = [];
      for (let i = 0; i < r.count; i++) if (r.ok[i]) keep.push(i);
      rows = new Float32Array(keep.length * d);
      keep.forEach((i, k) => rows.set(r.vectors.subarray(i * d, (i + 1) * d), k * d));
      labs = keep.map((i) => labels[i]);
    }
    const h = await fitHead(rows, labs, options);
    this.setHead(h);
    return h;
  }

  /**
   * Save the embedder's settings (model name or URL, feature layer, pooling, preprocessing, flip, power norm), its
   * projection and its head to one checksummed file. Model weights are not copied: {@link loadSavedEmbedder} loads the
   * model by the same route.
   * @example
   * await embedder.save('embedder.pinrec');
   */
  async save(file: string): Promise<void> {
    this.check();
    await writeSavedEmbedder(file, this.saveMeta, this.rawDim, this.projection, this.head);
  }

  /** Live TF.js tensors in the engine's thread(s); constant across calls when nothing leaks. */
  liveTensors(): Promise<number> {
    this.check();
    return this.engine.numTensors();
  }

  /** Stop workers and free the model. Later calls throw. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.engine.close();
  }
}
