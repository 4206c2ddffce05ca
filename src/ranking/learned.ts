/**
 * A learned ranker for feeds: a small MLP over the dense features of `features.ts`, trained in Node with
 * TensorFlow.js (an optional peer, loaded on first `fit`) on interaction logs, served in plain JavaScript from
 * the trained weights (no TF.js at serving time, synchronous, as {@link Scorer} requires).
 *
 * - Inputs are standardised with the training set's mean and standard deviation (saved with the weights).
 * - Architecture: `d → hidden[0] → … → 1`, ReLU, a logit out; Adam; L2 on weights. Loss: listwise softmax
 *   cross-entropy over each query's candidates (default) or pointwise logistic (`loss: 'logistic'`).
 * - Deterministic: weights are initialised (Glorot uniform) and mini-batches shuffled from `seed` through the
 *   library's RNG; the default TF.js backend is the pure-JS CPU one, whose results do not depend on threads.
 * - Early stopping: a `validationFraction` of the training **groups** (one group = one user's candidate list)
 *   is held out; training stops after `patience` epochs without a better mean NDCG of the positives within
 *   their group, and the best epoch's weights are kept.
 * - `save`/`load` use the pinrec container (kind `pinrec.learned-ranker`): weights, standardisation and the
 *   feature schema together; loading against an extractor with other columns is a {@link FeatureSchemaError}.
 *
 * @example
 * const fx = new FeatureExtractor({ sources: ['cf'] });
 * const set = new TrainingSetBuilder({ negatives: 20, seed: 1 });
 * for (const q of queries) set.add(fx.extract(q.batch, q.profile), (row) => q.batch.ids[row] === q.target);
 * const ranker = new LearnedRanker({ extractor: fx, seed: 1 });
 * await ranker.fit(set.build());
 * rerank(candidates, { scorer: ranker.forUser(profile, { now: Date.now() }), limit: 100 });
 */
import type { Id } from '../core/types.js';
import { FileFormatError, InvalidParameterError, MissingDependencyError, NotFittedError, NumericalError, PinrecError } from '../core/errors.js';
import { readContainer, requireSection, writeContainer, type SectionArray } from '../core/container.js';
import { Rng } from '../core/rng.js';
import { checkInt, checkNumber, checkOneOf } from '../core/validate.js';
import type { CandidateBatch, NormalizedSignals, Scorer } from '../core/interfaces.js';
import { FEATURE_SCHEMA_VERSION, FeatureExtractor, type FeatureContext, type FeatureMatrix, type UserProfile } from './features.js';

const KIND = 'pinrec.learned-ranker';
const VERSION = 1;

/**
 * A saved model's feature schema differs from the extractor's (other columns, order or schema version).
 *
 * @example
 * try { await LearnedRanker.load(file, { extractor }); }
 * catch (e) { if (e instanceof FeatureSchemaError) console.error(e.missing, e.extra); }
 */
export class FeatureSchemaError extends PinrecError {
  /** Columns the model expects that the extractor does not produce. */
  readonly missing: string[];
  /** Columns the extractor produces that the model does not know. */
  readonly extra: string[];
  constructor(source: string, expected: readonly string[], received: readonly string[], detail?: string) {
    const have = new Set(received);
    const want = new Set(expected);
    const missing = expected.filter((x) => !have.has(x));
    const extra = received.filter((x) => !want.has(x));
    const what = detail ?? (missing.length || extra.length
      ? `missing [${missing.join(', ')}], extra [${extra.join(', ')}]`
      : 'the same columns in another order');
    super('FEATURE_SCHEMA_MISMATCH', `${source}: the model's feature schema (${expected.length} columns) differs from the extractor's (${received.length}): ${what}`);
    this.missing = missing;
    this.extra = extra;
  }
}

/** Training rows: features, a 0/1 label per row and the group (query) each row belongs to. */
export interface RankingExamples {
  features: FeatureMatrix;
  /** 1 = positive (engaged), 0 = negative. */
  labels: Float32Array;
  /** Group id of each row, non-decreasing (rows of one query are contiguous). */
  groups: Int32Array;
}

/** Options of {@link TrainingSetBuilder}. */
export interface TrainingSetOptions {
  /** Negatives kept per query (sampled uniformly from the query's non-positive candidates). @default 20 */
  negatives?: number;
  /** Seed of the negative sampling. @default 0 */
  seed?: number;
}

/**
 * Collects training rows query by query: every positive candidate, and `negatives` sampled from the same
 * candidate list (the candidates the feed's sources produced, so negatives are the near misses the ranker must
 * learn to push down). A query without a positive among its candidates is skipped (it teaches nothing about
 * re-ranking these candidates).
 *
 * @example
 * const b = new TrainingSetBuilder({ negatives: 10, seed: 3 });
 * b.add(matrix, (row) => row === 4); // true when added
 * const examples = b.build();
 */
export class TrainingSetBuilder {
  private readonly negatives: number;
  private readonly rng: Rng;
  private names: readonly string[] | null = null;
  private readonly cols: number[][] = [];
  private readonly labels: number[] = [];
  private readonly groups: number[] = [];
  private nGroups = 0;

  constructor(options: TrainingSetOptions = {}) {
    this.negatives = checkInt('negatives', options.negatives ?? 20, 1);
    this.rng = new Rng(checkNumber('seed', options.seed ?? 0));
  }

  /** Queries added so far (with at least one positive). */
  get size(): number {
    return this.nGroups;
  }

  /**
   * Add one query's candidates. @returns whether it was kept (it had a positive and a negative)
   * @throws {FeatureSchemaError} when `m` has other columns than earlier queries
   */
  add(m: FeatureMatrix, isPositive: (row: number) => boolean): boolean {
    if (this.names === null) { this.names = m.names; for (let j = 0; j < m.d; j++) this.cols.push([]); }
    else if (m.names.length !== this.names.length || m.names.some((x, j) => x !== this.names![j])) throw new FeatureSchemaError('TrainingSetBuilder.add', this.names, m.names);
    const pos: number[] = [];
    const neg: number[] = [];
    for (let i = 0; i < m.n; i++) (isPositive(i) ? pos : neg).push(i);
    if (pos.length === 0 || neg.length === 0) return false;
    // partial Fisher–Yates: the first `k` of `neg` become a uniform sample
    const k = Math.min(this.negatives, neg.length);
    for (let t = 0; t < k; t++) { const u = t + this.rng.int(neg.length - t); const x = neg[t]; neg[t] = neg[u]; neg[u] = x; }
    const rows = [...pos, ...neg.slice(0, k)];
    for (let r = 0; r < rows.length; r++) {
      const i = rows[r];
      for (let j = 0; j < m.d; j++) this.cols[j].push(m.data[j * m.n + i]);
      this.labels.push(r < pos.length ? 1 : 0);
      this.groups.push(this.nGroups);
    }
    this.nGroups++;
    return true;
  }

  /** The collected rows. @throws {InvalidParameterError} when nothing was added */
  build(): RankingExamples {
    if (this.names === null || this.labels.length === 0) throw new InvalidParameterError('examples', 'at least one query with a positive and a negative', 0);
    const n = this.labels.length;
    const d = this.names.length;
    const data = new Float32Array(n * d);
    for (let j = 0; j < d; j++) data.set(this.cols[j], j * n);
    return { features: { names: this.names, n, d, data }, labels: Float32Array.from(this.labels), groups: Int32Array.from(this.groups) };
  }
}

/** Options of {@link LearnedRanker}. Every field has a default. */
export interface LearnedRankerOptions {
  /** Feature extractor (its columns are the model's schema). @default new FeatureExtractor() */
  extractor?: FeatureExtractor;
  /** Hidden layer widths. @default [32, 16] */
  hidden?: readonly number[];
  /** Most training epochs. @default 40 */
  epochs?: number;
  /** Mini-batch size. @default 256 */
  batchSize?: number;
  /** Adam learning rate. @default 0.003 */
  learningRate?: number;
  /** L2 penalty on the weight matrices. @default 1e-5 */
  l2?: number;
  /** Epochs without a better validation NDCG before stopping. @default 4 */
  patience?: number;
  /** Share of the groups held out for early stopping, in [0, 0.9]; 0 trains all `epochs`. @default 0.1 */
  validationFraction?: number;
  /** Seed of the initialisation, the validation split and the shuffles. @default 0 */
  seed?: number;
  /** TF.js backend for training. @default 'cpu' */
  backend?: 'cpu' | 'wasm' | 'auto';
  /**
   * `'logistic'`: pointwise, each row's label; `'softmax'`: listwise, a softmax over each query's candidates
   * with cross-entropy against its positives (optimises their rank among the query's negatives). @default 'softmax'
   */
  loss?: 'logistic' | 'softmax';
  /** With `loss: 'softmax'`: queries per mini-batch (`batchSize` counts rows for `'logistic'`). @default 32 */
  queriesPerBatch?: number;
}

/** What {@link LearnedRanker.fit} reports. */
export interface FitReport {
  epochs: number;
  bestEpoch: number;
  /** Training loss (mean logistic loss) per epoch. */
  trainLoss: number[];
  /** Validation mean NDCG of positives within their group per epoch (empty without validation). */
  validationNdcg: number[];
  trainRows: number;
  validationRows: number;
  seconds: number;
  backend: string;
}

/** One row of {@link LearnedRanker.permutationImportance}. */
export interface FeatureImportance {
  feature: string;
  /** Drop of the mean within-group NDCG when this column is shuffled (larger = more important). */
  importance: number;
}

interface Layer { W: Float32Array; b: Float32Array; inDim: number; outDim: number }
/**
 * The layers as the forward pass reads them: float64, weights transposed (`Wt[k·in + j] = W[j,k]`), the input
 * standardisation folded into the first layer (`W'[j,k] = W[j,k]·invStd[j]`, `b'[k] = b[k] − Σ_j mean[j]·W'[j,k]`).
 */
interface ServingLayer { Wt: Float64Array; b: Float64Array; inDim: number; outDim: number }

function servingLayers(layers: readonly Layer[], mean: Float32Array, invStd: Float32Array): ServingLayer[] {
  return layers.map((L, l) => {
    const Wt = new Float64Array(L.inDim * L.outDim);
    const bias = Float64Array.from(L.b);
    for (let j = 0; j < L.inDim; j++) {
      for (let k = 0; k < L.outDim; k++) {
        const w = L.W[j * L.outDim + k] * (l === 0 ? invStd[j] : 1);
        Wt[k * L.inDim + j] = w;
        if (l === 0) bias[k] -= mean[j] * w;
      }
    }
    return { Wt, b: bias, inDim: L.inDim, outDim: L.outDim };
  });
}

/**
 * The learned ranker; a {@link Scorer} (`name` `'learned'`).
 *
 * As a plain `Scorer` (`rerank(c, { scorer: ranker })`) it knows nothing of the user: user features are
 * missing (their indicators say so). {@link LearnedRanker.forUser} binds a profile and a context for one request.
 */
export class LearnedRanker implements Scorer {
  readonly name = 'learned';
  readonly extractor: FeatureExtractor;
  private readonly o: Required<Omit<LearnedRankerOptions, 'extractor'>>;
  private layers_: Layer[] | null = null;
  private serving_: ServingLayer[] = [];
  private mean_: Float32Array | null = null;
  private invStd_: Float32Array | null = null;
  private buf = new Float64Array(0);

  /** @throws {InvalidParameterError} for bad options */
  constructor(options: LearnedRankerOptions = {}) {
    this.extractor = options.extractor ?? new FeatureExtractor();
    if (!(this.extractor instanceof FeatureExtractor)) throw new InvalidParameterError('extractor', 'a FeatureExtractor', this.extractor);
    const hidden = options.hidden ?? [32, 16];
    if (!Array.isArray(hidden)) throw new InvalidParameterError('hidden', 'an array of layer widths', hidden);
    hidden.forEach((h, i) => checkInt(`hidden[${i}]`, h, 1, 4096));
    this.o = {
      hidden: [...hidden],
      epochs: checkInt('epochs', options.epochs ?? 40, 1),
      batchSize: checkInt('batchSize', options.batchSize ?? 256, 1),
      learningRate: checkNumber('learningRate', options.learningRate ?? 0.003, 1e-8, 10),
      l2: checkNumber('l2', options.l2 ?? 1e-5, 0, 10),
      patience: checkInt('patience', options.patience ?? 4, 1),
      validationFraction: checkNumber('validationFraction', options.validationFraction ?? 0.1, 0, 0.9),
      seed: checkNumber('seed', options.seed ?? 0),
      backend: checkOneOf('backend', options.backend ?? 'cpu', ['cpu', 'wasm', 'auto'] as const),
      loss: checkOneOf('loss', options.loss ?? 'softmax', ['logistic', 'softmax'] as const),
      queriesPerBatch: checkInt('queriesPerBatch', options.queriesPerBatch ?? 32, 1),
    };
  }

  /** Whether `fit` or `load` has run. */
  get fitted(): boolean {
    return this.layers_ !== null;
  }

  /** The feature schema (column names). */
  get schema(): readonly string[] {
    return this.extractor.names;
  }

  /**
   * Train on `examples` (see {@link TrainingSetBuilder}). Loads TF.js on first use.
   *
   * @throws {FeatureSchemaError} when the examples' columns are not the extractor's
   * @throws {MissingDependencyError} when TF.js is not installed
   * @throws {NumericalError} when the loss diverges
   */
  async fit(examples: RankingExamples): Promise<FitReport> {
    const t0 = performance.now();
    const { features: m, labels, groups } = examples ?? ({} as RankingExamples);
    if (!m || !(m.data instanceof Float32Array)) throw new InvalidParameterError('examples.features', 'a FeatureMatrix', m);
    this.checkSchema(m.names, 'fit');
    const n = m.n, d = m.d;
    if (!(labels instanceof Float32Array) || labels.length !== n) throw new InvalidParameterError('examples.labels', `a Float32Array of length ${n}`, labels);
    if (!(groups instanceof Int32Array) || groups.length !== n) throw new InvalidParameterError('examples.groups', `an Int32Array of length ${n}`, groups);
    for (let i = 0; i < m.data.length; i++) if (!Number.isFinite(m.data[i])) throw new InvalidParameterError(`examples.features[${i}]`, 'a finite number', m.data[i]);

    const rng = new Rng(this.o.seed);
    // split by group
    const groupIds = Array.from(new Set(groups));
    const valGroups = new Set<number>();
    if (this.o.validationFraction > 0 && groupIds.length >= 10) {
      rng.shuffle(groupIds);
      const nv = Math.max(1, Math.round(groupIds.length * this.o.validationFraction));
      for (let t = 0; t < nv; t++) valGroups.add(groupIds[t]);
    }
    const trainRows: number[] = [], valRows: number[] = [];
    for (let i = 0; i < n; i++) (valGroups.has(groups[i]) ? valRows : trainRows).push(i);
    if (trainRows.length === 0) throw new InvalidParameterError('examples', 'at least one training row', 0);

    // standardisation from the training rows
    const mean = new Float32Array(d), invStd = new Float32Array(d);
    for (let j = 0; j < d; j++) {
      let s = 0, s2 = 0;
      for (const i of trainRows) { const v = m.data[j * n + i]; s += v; s2 += v * v; }
      const mu = s / trainRows.length;
      const sd = Math.sqrt(Math.max(0, s2 / trainRows.length - mu * mu));
      mean[j] = mu;
      invStd[j] = sd > 1e-6 ? 1 / sd : 0; // a constant column carries nothing
    }
    const rowMajor = (rows: number[]) => {
      const X = new Float32Array(rows.length * d);
      rows.forEach((i, r) => { for (let j = 0; j < d; j++) X[r * d + j] = (m.data[j * n + i] - mean[j]) * invStd[j]; });
      return X;
    };
    const Xtr = rowMajor(trainRows);
    const ytr = Float32Array.from(trainRows, (i) => labels[i]);

    // initial weights (Glorot uniform), from the seed
    const dims = [d, ...this.o.hidden, 1];
    const init: Layer[] = [];
    for (let l = 0; l + 1 < dims.length; l++) {
      const a = Math.sqrt(6 / (dims[l] + dims[l + 1]));
      const W = new Float32Array(dims[l] * dims[l + 1]);
      for (let t = 0; t < W.length; t++) W[t] = (rng.next() * 2 - 1) * a;
      init.push({ W, b: new Float32Array(dims[l + 1]), inDim: dims[l], outDim: dims[l + 1] });
    }

    const { loadTf } = await import('../embeddings/tf.js');
    const { tf, backend } = await loadTf(this.o.backend).catch((e: unknown) => {
      if (e instanceof MissingDependencyError) {
        throw new MissingDependencyError('training a LearnedRanker', e.packages, 'TensorFlow.js is an optional peer dependency of pinrec; a trained ranker scores without it', { cause: e });
      }
      throw e;
    });
    const vars = init.flatMap((L) => [tf.variable(tf.tensor2d(L.W, [L.inDim, L.outDim])), tf.variable(tf.tensor1d(L.b))]);
    const optimizer = tf.train.adam(this.o.learningRate);
    const bs = this.o.batchSize;
    // logistic: mini-batches of rows; softmax: mini-batches of `queriesPerBatch` queries padded to the largest
    const softmax = this.o.loss === 'softmax';
    const gStart: number[] = [0];
    for (let r = 1; r <= trainRows.length; r++) if (r === trainRows.length || groups[trainRows[r]] !== groups[trainRows[r - 1]]) gStart.push(r);
    let S = 1;
    for (let q = 0; q + 1 < gStart.length; q++) S = Math.max(S, gStart[q + 1] - gStart[q]);
    const units = softmax ? Int32Array.from({ length: gStart.length - 1 }, (_, i) => i) : Int32Array.from({ length: trainRows.length }, (_, i) => i);
    const per = softmax ? this.o.queriesPerBatch : bs;
    const cap = softmax ? per * S : bs;
    const xb = new Float32Array(cap * d), yb = new Float32Array(cap), mb = new Float32Array(softmax ? cap : 0);
    const trainLoss: number[] = [], validationNdcg: number[] = [];
    let best: Layer[] = init, bestScore = -Infinity, bestEpoch = 0, since = 0, epoch = 0;
    const snapshot = (): Layer[] => init.map((L, l) => ({ ...L, W: vars[2 * l].dataSync() as Float32Array, b: vars[2 * l + 1].dataSync() as Float32Array }));
    const valMatrix = valRows.length ? subset(m, valRows) : null;
    const valLabels = Float32Array.from(valRows, (i) => labels[i]);
    const valGroupsArr = Int32Array.from(valRows, (i) => groups[i]);
    try {
      for (epoch = 1; epoch <= this.o.epochs; epoch++) {
        rng.shuffle(units);
        let lossSum = 0;
        for (let start = 0; start < units.length; start += per) {
          const cnt = Math.min(per, units.length - start);
          let rows: number;
          if (!softmax) {
            rows = cnt;
            for (let r = 0; r < cnt; r++) { const src = units[start + r]; xb.set(Xtr.subarray(src * d, (src + 1) * d), r * d); yb[r] = ytr[src]; }
          } else {
            rows = cnt * S;
            xb.fill(0, 0, rows * d); yb.fill(0, 0, rows); mb.fill(0, 0, rows);
            for (let g = 0; g < cnt; g++) {
              const q = units[start + g], from = gStart[q], size = gStart[q + 1] - from;
              let pos = 0;
              for (let t = 0; t < size; t++) pos += ytr[from + t] > 0 ? 1 : 0;
              for (let t = 0; t < size; t++) {
                xb.set(Xtr.subarray((from + t) * d, (from + t + 1) * d), (g * S + t) * d);
                yb[g * S + t] = ytr[from + t] > 0 ? 1 / pos : 0;
                mb[g * S + t] = 1;
              }
            }
          }
          const lossT = tf.tidy(() => {
            const x = tf.tensor2d(xb.subarray(0, rows * d), [rows, d]);
            const y = softmax ? tf.tensor2d(yb.subarray(0, rows), [cnt, S]) : tf.tensor2d(yb.subarray(0, rows), [rows, 1]);
            const mask = softmax ? tf.tensor2d(mb.subarray(0, rows), [cnt, S]) : null;
            return optimizer.minimize(() => {
              let h: ReturnType<typeof tf.matMul> = x;
              for (let l = 0; l < init.length; l++) {
                h = tf.add(tf.matMul(h, vars[2 * l] as never), vars[2 * l + 1] as never);
                if (l + 1 < init.length) h = tf.relu(h);
              }
              let loss: ReturnType<typeof tf.scalar>;
              if (mask) {
                // listwise: softmax over each query's candidates (padding masked out), cross-entropy with the positives
                const logits = tf.add(tf.reshape(h, [cnt, S]), tf.mul(tf.sub(mask, 1), 1e4));
                loss = tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as never;
              } else {
                loss = tf.losses.sigmoidCrossEntropy(y, h) as never;
              }
              if (this.o.l2 > 0) for (let l = 0; l < init.length; l++) loss = tf.add(loss, tf.mul(this.o.l2, tf.sum(tf.square(vars[2 * l] as never)))) as never;
              return loss;
            }, true)!;
          });
          const v = (await lossT.data())[0];
          lossT.dispose();
          if (!Number.isFinite(v)) throw new NumericalError(`learned ranker: the training loss became ${v} in epoch ${epoch}; lower learningRate`);
          lossSum += v * cnt;
        }
        trainLoss.push(lossSum / units.length);
        if (!valMatrix) { best = snapshot(); bestEpoch = epoch; continue; }
        const layers = snapshot();
        const scores = forward(servingLayers(layers, mean, invStd), valMatrix, new Float64Array(valMatrix.n));
        const ndcg = groupNdcg(scores, valLabels, valGroupsArr);
        validationNdcg.push(ndcg);
        if (ndcg > bestScore + 1e-6) { bestScore = ndcg; best = layers; bestEpoch = epoch; since = 0; }
        else if (++since >= this.o.patience) break;
      }
    } finally {
      for (const v of vars) v.dispose();
      optimizer.dispose();
    }
    this.layers_ = best;
    this.serving_ = servingLayers(best, mean, invStd);
    this.mean_ = mean;
    this.invStd_ = invStd;
    return {
      epochs: Math.min(epoch, this.o.epochs), bestEpoch, trainLoss, validationNdcg, trainRows: trainRows.length, validationRows: valRows.length,
      seconds: (performance.now() - t0) / 1000, backend,
    };
  }

  /**
   * Logits of every row of `m` (plain JS forward; larger = more likely engaged).
   * @throws {NotFittedError} before `fit`/`load`; {@link FeatureSchemaError} for other columns
   */
  predict(m: FeatureMatrix, out: Float64Array = new Float64Array(m.n)): Float64Array {
    if (!this.layers_) throw new NotFittedError('LearnedRanker');
    if (m.names !== this.extractor.names) this.checkSchema(m.names, 'predict');
    return forward(this.serving_, m, out, this);
  }

  /** {@link Scorer}: scores without a user (user features missing). */
  score(batch: CandidateBatch, signals: NormalizedSignals, out: Float64Array): void {
    this.predict(this.extractor.extract(batch, null, {}, signals), out);
  }

  /**
   * A {@link Scorer} bound to one user's profile and the request context (for `rerank`, `FeedGenerator`...).
   *
   * @example
   * const feed = new FeedGenerator({ sources: [cfSource, visualSource, trendingSource] });
   * await feed.generate(user, { scorer: ranker.forUser(userProfile(history, lookups), { now: Date.now() }) });
   */
  forUser<I extends Id>(profile: UserProfile<I> | null, context: FeatureContext<I> = {}): Scorer {
    if (!this.layers_) throw new NotFittedError('LearnedRanker');
    return {
      name: this.name,
      score: (batch: CandidateBatch, signals: NormalizedSignals, out: Float64Array) => {
        this.predict(this.extractor.extract(batch as CandidateBatch<I>, profile, context, signals), out);
      },
    };
  }

  /**
   * Permutation importance: for each column, shuffle it across rows (seeded) and measure the drop of the mean
   * within-group NDCG of the positives, averaged over `repeats`.
   *
   * @example
   * const imp = ranker.permutationImportance(heldOut, { repeats: 3 }); // sorted, most important first
   */
  permutationImportance(examples: RankingExamples, options: { repeats?: number; seed?: number } = {}): FeatureImportance[] {
    const repeats = checkInt('repeats', options.repeats ?? 3, 1);
    const rng = new Rng(checkNumber('seed', options.seed ?? 0));
    const m = examples.features;
    this.checkSchema(m.names, 'permutationImportance');
    const base = groupNdcg(this.predict(m), examples.labels, examples.groups);
    const data = new Float32Array(m.data);
    const perm = { ...m, data };
    const scores = new Float64Array(m.n);
    const idx = Int32Array.from({ length: m.n }, (_, i) => i);
    const out: FeatureImportance[] = [];
    for (let j = 0; j < m.d; j++) {
      const colIn = m.data.subarray(j * m.n, (j + 1) * m.n);
      const colOut = data.subarray(j * m.n, (j + 1) * m.n);
      let drop = 0;
      for (let r = 0; r < repeats; r++) {
        rng.shuffle(idx);
        for (let i = 0; i < m.n; i++) colOut[i] = colIn[idx[i]];
        drop += base - groupNdcg(this.predict(perm, scores), examples.labels, examples.groups);
      }
      colOut.set(colIn);
      out.push({ feature: m.names[j], importance: drop / repeats });
    }
    return out.sort((a, b) => b.importance - a.importance || (a.feature < b.feature ? -1 : 1));
  }

  /** Save weights, standardisation and the feature schema to `file` (atomic, checksummed). @throws {NotFittedError} */
  async save(file: string): Promise<void> {
    if (!this.layers_) throw new NotFittedError('LearnedRanker');
    const sections: Record<string, SectionArray> = { mean: this.mean_!, invStd: this.invStd_! };
    this.layers_.forEach((L, l) => { sections[`W${l}`] = L.W; sections[`b${l}`] = L.b; });
    const meta = { schema: [...this.extractor.names], extractor: this.extractor.options, dims: [this.layers_[0].inDim, ...this.layers_.map((L) => L.outDim)], options: this.o };
    await writeContainer(file, KIND, VERSION, meta, sections);
  }

  /**
   * Load a saved ranker. Without `extractor`, one is rebuilt from the saved options.
   *
   * @throws {FileFormatError} for a file that is not a learned ranker; {@link FeatureSchemaError} when the saved
   * schema is not `extractor`'s (or not this library version's feature definitions)
   */
  static async load(file: string, options: { extractor?: FeatureExtractor } = {}): Promise<LearnedRanker> {
    const c = await readContainer<{ schema: string[]; extractor: { sources: string[]; recent: number; version: number }; dims: number[]; options: LearnedRankerOptions }>(file, KIND);
    const meta = c.meta;
    if (!meta || !Array.isArray(meta.schema) || !Array.isArray(meta.dims) || meta.dims.length < 2) throw new FileFormatError(file, 'has no valid learned-ranker header');
    if (meta.extractor?.version !== FEATURE_SCHEMA_VERSION) {
      throw new FeatureSchemaError(file, meta.schema, (options.extractor ?? new FeatureExtractor()).names, `saved with feature schema version ${meta.extractor?.version}, this library has ${FEATURE_SCHEMA_VERSION}`);
    }
    const extractor = options.extractor ?? new FeatureExtractor({ sources: meta.extractor.sources, recent: meta.extractor.recent });
    const r = new LearnedRanker({ ...meta.options, extractor });
    r.checkSchema(meta.schema, file, true);
    const d = meta.dims[0];
    const mean = requireSection(c, 'mean', Float32Array, file), invStd = requireSection(c, 'invStd', Float32Array, file);
    if (mean.length !== d || invStd.length !== d || d !== meta.schema.length) throw new FileFormatError(file, 'standardisation does not match the schema');
    const layers: Layer[] = [];
    for (let l = 0; l + 1 < meta.dims.length; l++) {
      const W = requireSection(c, `W${l}`, Float32Array, file), b = requireSection(c, `b${l}`, Float32Array, file);
      if (W.length !== meta.dims[l] * meta.dims[l + 1] || b.length !== meta.dims[l + 1]) throw new FileFormatError(file, `layer ${l} has the wrong size`);
      layers.push({ W, b, inDim: meta.dims[l], outDim: meta.dims[l + 1] });
    }
    if (meta.dims[meta.dims.length - 1] !== 1) throw new FileFormatError(file, 'the last layer must have one output');
    r.layers_ = layers;
    r.serving_ = servingLayers(layers, mean, invStd);
    r.mean_ = mean;
    r.invStd_ = invStd;
    return r;
  }

  private checkSchema(names: readonly string[], where: string, savedIsExpected = false): void {
    const mine = this.extractor.names;
    if (names.length === mine.length && names.every((x, j) => x === mine[j])) return;
    if (savedIsExpected) throw new FeatureSchemaError(where, names, mine);
    throw new FeatureSchemaError(where, mine, names);
  }

  /** @internal scratch buffer for the forward pass */
  scratch(size: number): Float64Array {
    if (this.buf.length < size) this.buf = new Float64Array(size);
    return this.buf;
  }
}

function subset(m: FeatureMatrix, rows: readonly number[]): FeatureMatrix {
  const n = rows.length;
  const data = new Float32Array(n * m.d);
  for (let j = 0; j < m.d; j++) for (let r = 0; r < n; r++) data[j * n + r] = m.data[j * m.n + rows[r]];
  return { names: m.names, n, d: m.d, data };
}

/**
 * Plain-JS MLP forward over a column-major matrix, a block of rows at a time: the block is transposed into a
 * row-major float64 buffer, then each layer is one dot product per (row, unit), accumulated in a local.
 */
function forward(layers: readonly ServingLayer[], m: FeatureMatrix, out: Float64Array, owner?: LearnedRanker): Float64Array {
  const n = m.n, d = m.d, data = m.data;
  const BLOCK = 256;
  let width = d;
  for (const L of layers) width = Math.max(width, L.outDim);
  const scratch = owner ? owner.scratch(2 * width * BLOCK) : new Float64Array(2 * width * BLOCK);
  const bufA = scratch.subarray(0, width * BLOCK), bufB = scratch.subarray(width * BLOCK, 2 * width * BLOCK);
  for (let i0 = 0; i0 < n; i0 += BLOCK) {
    const rows = Math.min(BLOCK, n - i0);
    for (let j = 0; j < d; j++) {
      const off = j * n + i0;
      for (let r = 0; r < rows; r++) bufA[r * d + j] = data[off + r];
    }
    let x = bufA, y = bufB;
    for (let l = 0; l < layers.length; l++) {
      const L = layers[l];
      denseLayer(x, y, rows, L.Wt, L.b, L.inDim, L.outDim, l + 1 < layers.length);
      const t = x; x = y; y = t;
    }
    for (let r = 0; r < rows; r++) out[i0 + r] = x[r];
  }
  return out;
}

/**
 * `y = act(x · Wtᵀ + b)` for `rows` row-major rows: one dot product per (row, output), four rows at a time so
 * that each weight read serves four accumulators.
 */
function denseLayer(x: Float64Array, y: Float64Array, rows: number, Wt: Float64Array, bias: Float64Array, inDim: number, outDim: number, relu: boolean): void {
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const x0 = r * inDim, x1 = x0 + inDim, x2 = x1 + inDim, x3 = x2 + inDim;
    const y0 = r * outDim;
    for (let k = 0; k < outDim; k++) {
      const bk = bias[k];
      let s0 = bk, s1 = bk, s2 = bk, s3 = bk;
      const wo = k * inDim;
      for (let j = 0; j < inDim; j++) {
        const w = Wt[wo + j];
        s0 += x[x0 + j] * w; s1 += x[x1 + j] * w; s2 += x[x2 + j] * w; s3 += x[x3 + j] * w;
      }
      if (relu) { if (s0 < 0) s0 = 0; if (s1 < 0) s1 = 0; if (s2 < 0) s2 = 0; if (s3 < 0) s3 = 0; }
      y[y0 + k] = s0; y[y0 + outDim + k] = s1; y[y0 + 2 * outDim + k] = s2; y[y0 + 3 * outDim + k] = s3;
    }
  }
  for (; r < rows; r++) {
    const xo = r * inDim, yo = r * outDim;
    for (let k = 0; k < outDim; k++) {
      let s = bias[k];
      const wo = k * inDim;
      for (let j = 0; j < inDim; j++) s += x[xo + j] * Wt[wo + j];
      y[yo + k] = relu && s < 0 ? 0 : s;
    }
  }
}

/** Mean over groups with a positive of the NDCG of the positives (ties: pessimistic, a tie ranks below). */
export function groupNdcg(scores: ArrayLike<number>, labels: ArrayLike<number>, groups: ArrayLike<number>): number {
  let total = 0, count = 0;
  let start = 0;
  const n = labels.length;
  while (start < n) {
    let end = start;
    while (end < n && groups[end] === groups[start]) end++;
    let dcg = 0, idcg = 0, pos = 0;
    for (let i = start; i < end; i++) {
      if (labels[i] <= 0) continue;
      let rank = 0;
      for (let t = start; t < end; t++) if (t !== i && scores[t] >= scores[i] && labels[t] <= 0) rank++;
      for (let t = start; t < end; t++) if (t !== i && labels[t] > 0 && (scores[t] > scores[i] || (scores[t] === scores[i] && t < i))) rank++;
      dcg += 1 / Math.log2(rank + 2);
      idcg += 1 / Math.log2(pos + 2);
      pos++;
    }
    if (pos > 0) { total += dcg / idcg; count++; }
    start = end;
  }
  return count > 0 ? total / count : 0;
}
