/**
 * The {@link Embedder} class: photos in, L2-normalised feature vectors out, in batches (decoding overlaps
 * inference), with per-image failures, an optional PCA projection, and persistence of its settings. Created by
 * {@link loadEmbedder} (load.ts); inference runs on an {@link Engine} (engine.ts).
 */
import { InvalidParameterError, NumericalError, PinrecError, DimensionMismatchError, DisposedError, InferenceError } from '../core/errors.js';
import { checkOneOf } from '../core/validate.js';
import type { ProgressCallback } from '../core/types.js';
import { decodeImage, describeInput, type DecodeLimits, type ImageInput } from './decode.js';
import { ImageDecodeError } from './errors.js';
import type { Engine } from './engine.js';
import type { EmbedBatchOptions, EmbedBatchResult, EmbedderInfo } from './options.js';
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
  get dim(): number { return this.projection ? this.projection.dim : this.rawDim; }
  /** Pooled feature dimension of the model. */
  readonly rawDim: number;
  private projection?: PcaProjection;
  private readonly engine: Engine;
  private readonly pre: Preprocessing;
  private readonly limits: DecodeLimits;
  private readonly batchSize: number;
  private readonly decodeConcurrency: number;
  private readonly powerNorm: number;
  private readonly baseInfo: Omit<EmbedderInfo, 'dim' | 'projection'>;
  private readonly saveMeta: SavedSettings;
  private closed = false;

  /** @internal use {@link loadEmbedder} */
  constructor(args: {
    engine: Engine; pre: Preprocessing; limits: DecodeLimits; batchSize: number; decodeConcurrency: number; powerNorm: number;
    rawDim: number; projection?: PcaProjection; info: Omit<EmbedderInfo, 'dim' | 'projection'>; saveMeta: SavedSettings;
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
  }

  /** What this embedder runs: model, source, backend, sizes, options, and `fallback` when the fallback is in use. */
  get info(): EmbedderInfo {
    const p = this.projection;
    return { ...this.baseInfo, dim: this.dim, ...(p ? { projection: { dim: p.dim, whiten: p.whiten } } : {}) };
  }

  /** The projection in use, if any. */
  getProjection(): PcaProjection | undefined { return this.projection; }

  /**
   * Use (or, with `undefined`, stop using) a PCA / whitening projection.
   * @throws {DimensionMismatchError} when its input dimension is not {@link Embedder.rawDim}
   */
  setProjection(p: PcaProjection | undefined): void {
    if (p !== undefined) {
      if (!(p instanceof PcaProjection)) throw new InvalidParameterError('projection', 'a PcaProjection', p);
      if (p.inputDim !== this.rawDim) throw new DimensionMismatchError('projection.inputDim', this.rawDim, p.inputDim);
    }
    this.projection = p;
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
    const output = checkOneOf('output', options.output ?? 'final', ['final', 'unprojected', 'raw'] as const);
    const proj = output === 'final' ? this.projection : undefined;
    const dim = proj ? proj.dim : this.rawDim;
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
            if (proj) proj.apply(row, vectors.subarray(i * dim, (i + 1) * dim));
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
   * Save the embedder's settings (model name or URL, feature layer, pooling, preprocessing, flip, power norm) and
   * its projection to one checksummed file. Model weights are not copied: {@link loadSavedEmbedder} loads the
   * model by the same route.
   * @example
   * await embedder.save('embedder.pinrec');
   */
  async save(file: string): Promise<void> {
    this.check();
    await writeSavedEmbedder(file, this.saveMeta, this.rawDim, this.projection);
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
