/**
 * The SVD recommender: a truncated SVD of the weighted user × pin matrix, with two scorings.
 *
 * - `'puresvd'` (Cremonesi et al. 2010): score = x V Vᵀ, where x is the user's interaction row.
 * - `'ease'` (default): EASE (Steck 2019) approximated from the SVD. EASE scores unseen pin j as
 *   −(xP)_j / P_jj with P = (XᵀX + λI)⁻¹. Writing XᵀX = V S² Vᵀ + R, where the residual R lives in the
 *   orthogonal complement of V, and expanding P to first order in R (a Neumann series that converges when
 *   σ²_{k+1} < λ) gives, for unseen j,
 *
 *       score_j ∝ [ (x XᵀX)_j − Σ_f (xV)_f · s_f⁴ / (s_f² + λ) · V_jf ] / (1 − Σ_f V_jf² · s_f² / (s_f² + λ))
 *
 *   i.e. the exact item–item co-occurrence term minus a rank-k correction, normalised by the low-rank
 *   estimate of P's diagonal. It needs the sparse Gram matrix XᵀX and the factors, no dense n × n inverse.
 *   On Amazon Beauty it matches exact EASE (see the README for measured numbers).
 *
 * Both scorings fold in a new user from raw interactions with the same formula as a known one, no refit.
 */
import { FileFormatError, InvalidParameterError, NotFittedError, UnknownIdError } from '../core/errors.js';
import { IdMap, checkIdType } from '../core/ids.js';
import { readContainer, requireSection, writeContainer } from '../core/container.js';
import { topK } from '../core/topk.js';
import type { Id, ProgressCallback, Ranked } from '../core/types.js';
import type { NewUser, RecommendOptions, Recommender } from '../core/interfaces.js';
import { checkInt, checkNumber, checkOneOf, weightTable } from '../core/validate.js';
import { CsrMatrix, gram } from './csr.js';
import { DEFAULT_WEIGHTS, InteractionMatrix } from './interactions.js';
import { randomizedSvd } from './svd.js';
import { defaultThreads } from './parallel.js';
import { type FittedState, type Row, isNewUser, rowOf } from './state.js';
import { scoreBlocked, scoreCandidates, scoringMatrix, withCooccurring } from './scoring.js';
import { checkLoadedState } from './model-file.js';

/** How scores are computed from the factors. */
export type Scoring = 'ease' | 'puresvd';

/** Options of {@link SvdRecommender}. Every field has a default. */
export interface SvdRecommenderOptions {
  /** Number of latent factors k. @default 64 */
  factors?: number;
  /** Scoring rule (see the class doc). @default 'ease' */
  scoring?: Scoring;
  /**
   * EASE's L2 regularisation λ (only for `'ease'`). `'auto'` sets λ = 3·σ²_{k+1} (three times the largest
   * eigenvalue of XᵀX left out of the factors): scale-free, so it suits weighted as well as binary data, and it
   * keeps the first-order expansion convergent (it needs σ²_{k+1} < λ). A number is used as given.
   * @default 'auto'
   */
  lambda?: number | 'auto';
  /** Oversampling of the randomized SVD. @default 10 */
  oversample?: number;
  /** Power iterations of the randomized SVD (`'auto'`: scikit-learn's rule). @default 'auto' */
  nIter?: number | 'auto';
  /** Seed of the randomized SVD. @default 0 */
  seed?: number;
  /** Threads for the SVD (the fit stays synchronous). @default available parallelism, at most 8 */
  threads?: number;
  /** Upper bound on the Gram matrix XᵀX entries (`'ease'` only); fit fails with a clear error beyond it. @default 400_000_000 */
  gramMaxNnz?: number;
  /** Weights of interaction types for fold-in from typed interactions. @default DEFAULT_WEIGHTS */
  typeWeights?: Readonly<Record<string, number>>;
}

export type { NewUser, RecommendOptions };


const KIND = 'pinrec.svd-recommender';
const VERSION = 1;

/**
 * Truncated-SVD collaborative filtering with implicit-style names: `fit`, `recommend`, `recommendBatch`,
 * `similarItems`, `save`/`load`.
 *
 * @example
 * const log = interactionsFromColumns({ users, items, types });
 * const model = new SvdRecommender({ factors: 64 });
 * model.fit(log.toMatrix());
 * const { ids, scores } = model.recommend('alice', { n: 10 });
 * const forNewUser = model.recommend({ items: ['p1', 'p7'], types: ['repin', 'click'] });
 */
export class SvdRecommender<U extends Id = Id, I extends Id = Id> implements Recommender<U, I, InteractionMatrix<U, I>> {
  /** The options as given (with defaults filled in). */
  readonly options: Required<Omit<SvdRecommenderOptions, 'typeWeights'>> & { typeWeights: Readonly<Record<string, number>> };
  private state?: FittedState;
  /** Interaction type → weight for fold-in (a Map: user-supplied type names never reach Object.prototype). */
  private readonly typeWeightMap: Map<string, number>;
  /** Reused float64 buffer for the sparse co-occurrence term of the candidate-restricted path. */
  private sparseScratch?: Float64Array;
  /** Reused pin marks of the co-occurring-pins pass (all zero between calls). */
  private markScratch?: Uint8Array;

  constructor(options: SvdRecommenderOptions = {}) {
    const o = options ?? {};
    this.options = {
      factors: checkInt('factors', o.factors ?? 64, 1),
      scoring: checkOneOf('scoring', o.scoring ?? 'ease', ['ease', 'puresvd'] as const),
      lambda: o.lambda === undefined || o.lambda === 'auto' ? 'auto' : checkNumber('lambda', o.lambda, Number.MIN_VALUE),
      oversample: checkInt('oversample', o.oversample ?? 10, 0),
      nIter: o.nIter === undefined || o.nIter === 'auto' ? 'auto' : checkInt('nIter', o.nIter, 0, 1000),
      seed: checkNumber('seed', o.seed ?? 0),
      threads: checkInt('threads', o.threads ?? defaultThreads(), 1, 256),
      gramMaxNnz: checkInt('gramMaxNnz', o.gramMaxNnz ?? 400_000_000, 1),
      typeWeights: o.typeWeights ?? DEFAULT_WEIGHTS,
    };
    this.typeWeightMap = weightTable('typeWeights', this.options.typeWeights);
    this.options.typeWeights = Object.freeze(Object.fromEntries(this.typeWeightMap));
  }

  /** Whether `fit` or `load` has run. */
  get fitted(): boolean {
    return this.state !== undefined;
  }

  /** Number of factors actually fitted. */
  get factors(): number {
    return this.fitted_().k;
  }

  /** Singular values, descending. */
  get singularValues(): Float64Array {
    return this.fitted_().s.slice();
  }

  /** The λ the `'ease'` scoring used after resolving `'auto'`, in the units of the training weights (0 for `'puresvd'`). */
  get lambda(): number {
    const st = this.fitted_();
    return st.lambdaUsed / (st.weightScale * st.weightScale);
  }

  /**
   * The factor the model applies to every weight (1 / the training weights' root mean square), so that its
   * answers do not depend on the weights' overall scale. Scores are computed on the scaled weights: compare
   * them within one model, not across models.
   */
  get weightScale(): number {
    return this.fitted_().weightScale;
  }

  /** Number of users and pins known to the model. */
  get shape(): { users: number; items: number } {
    const st = this.fitted_();
    return { users: st.users.size, items: st.items.size };
  }

  /**
   * Fit on a user × pin interaction matrix.
   *
   * @throws InvalidParameterError when the matrix is empty, has negative or non-finite weights, users without
   * interactions are the only rows, or `factors ≥ min(users, pins)`.
   * @example
   * model.fit(log.toMatrix(), { onProgress: (p) => bar.update(p.done / p.total) });
   */
  fit(matrix: InteractionMatrix<U, I>, opts: { onProgress?: ProgressCallback } = {}): this {
    if (!(matrix instanceof InteractionMatrix)) throw new InvalidParameterError('matrix', 'an InteractionMatrix (see InteractionLog.toMatrix)', matrix);
    const raw = matrix.csr;
    if (raw.nnz === 0) throw new InvalidParameterError('matrix', 'a matrix with at least one interaction', 'an empty matrix');
    let sumSq = 0;
    for (let p = 0; p < raw.data.length; p++) {
      const w = raw.data[p];
      if (!Number.isFinite(w) || w < 0) throw new InvalidParameterError(`matrix.data[${p}]`, 'a finite weight >= 0', w);
      sumSq += (w / 1e19) * w; // scaled so that squares of float32 weights never overflow
    }
    // Fit on the weights divided by their root mean square: the rankings of both scorings do not depend on
    // the overall weight scale, but their float32 intermediates (XᵀX, s⁴, scores) do, so any scale from
    // 1e-30 to 1e38 gives the same answers as weights near 1. Fold-in applies the same factor.
    const rms = Math.sqrt(sumSq / raw.nnz) * Math.sqrt(1e19);
    if (!(rms > 0)) throw new InvalidParameterError('matrix', 'a matrix with at least one interaction of weight > 0', 'all weights 0');
    const weightScale = 1 / rms;
    const x = new CsrMatrix(raw.rows, raw.cols, raw.indptr, raw.indices, Float32Array.from(raw.data, (w) => w * weightScale));
    const minDim = Math.min(x.rows, x.cols);
    const k = this.options.factors;
    if (k >= minDim) {
      throw new InvalidParameterError('factors', `an integer < min(users, pins) = ${minDim}`, k);
    }
    const svd = randomizedSvd(x, k, {
      oversample: this.options.oversample,
      nIter: this.options.nIter,
      seed: this.options.seed,
      threads: this.options.threads,
      computeU: false,
      onProgress: opts.onProgress,
    });
    const n = x.cols;
    const v = Float32Array.from(svd.v);
    const lambdaUsed = this.options.scoring === 'ease' ? (this.options.lambda === 'auto' ? autoLambda(svd.ritz, k) : this.options.lambda * weightScale * weightScale) : 0;
    const { wt, itemScale } = scoringMatrix(this.options.scoring, svd.s, svd.v, n, k, lambdaUsed);
    let g: CsrMatrix | undefined;
    if (this.options.scoring === 'ease') {
      opts.onProgress?.({ stage: 'gram', done: 0, total: 1 });
      g = gram(x, this.options.gramMaxNnz);
      opts.onProgress?.({ stage: 'gram', done: 1, total: 1 });
    }
    const itemNorm = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      let q = 0;
      for (let f = 0; f < k; f++) { const t = svd.v[j * k + f] * svd.s[f]; q += t * t; }
      itemNorm[j] = Math.sqrt(q);
    }
    const popularity = x.colSums();
    this.state = { users: matrix.users, items: matrix.items, x, k, s: svd.s, v, wt, itemScale, g, popularity, itemNorm, lambdaUsed, weightScale };
    return this;
  }

  /**
   * Top-`n` pins for a known user (by id) or a new user (by raw interactions, folded in without refitting).
   * Results are in the caller's pin ids, best first, ties broken by pin index; `requested` is `n` (fewer come
   * back when fewer pins pass the filters). With a small `allowItems` set only those pins are scored (the
   * second stage of a two-stage feed: same scores as full ranking, O(|allowItems|·k) instead of O(pins·k)).
   *
   * @throws UnknownIdError for an unknown user id (unless `fallback: 'popular'`).
   * @example
   * model.recommend('alice', { n: 20, filterItems: ['p3'] });
   * model.recommend({ items: ['p1', 'p2'] }, { n: 5 });
   */
  recommend(user: U | NewUser<I>, options: RecommendOptions<I> = {}): Ranked<I> {
    return this.recommendBatch([user], options)[0];
  }

  /**
   * {@link recommend} for many users; the result at position i equals `recommend(users[i], options)` (both
   * run the same blocked kernel, which streams the item factors once per block of users instead of once per
   * user).
   *
   * @example
   * const lists = model.recommendBatch(['alice', 'bob'], { n: 10 });
   */
  recommendBatch(users: readonly (U | NewUser<I>)[], options: RecommendOptions<I> = {}): Ranked<I>[] {
    const st = this.fitted_();
    if (!Array.isArray(users)) throw new InvalidParameterError('users', 'an array of user ids or new users', users);
    const o = options ?? {};
    const n = checkInt('n', o.n ?? 10, 1);
    const filterSeen = o.filterSeen ?? true;
    if (typeof filterSeen !== 'boolean') throw new InvalidParameterError('filterSeen', 'a boolean', filterSeen);
    const fallback = checkOneOf('fallback', o.fallback ?? 'error', ['error', 'popular'] as const);
    const nItems = st.items.size;
    const denied = o.filterItems === undefined ? null : this.denseIds('filterItems', o.filterItems);
    const allowed = o.allowItems === undefined ? null : this.denseIds('allowItems', o.allowItems);
    const extra = o.candidates === undefined ? null : this.denseIds('candidates', o.candidates);
    const rows = users.map((u, i) => this.rowFor(u, fallback, users.length === 1 ? 'user' : `users[${i}]`));
    if (extra) {
      let allowMask: Uint8Array | null = null;
      if (allowed) { allowMask = new Uint8Array(nItems); for (const j of allowed) allowMask[j] = 1; }
      return rows.map((row) => {
        let cand = this.withCooccurring(row, extra);
        if (allowMask) cand = cand.filter((j) => allowMask![j] === 1);
        return this.rankCandidates(row, cand, denied, filterSeen, n);
      });
    }
    if (allowed && allowed.length * 4 <= nItems) {
      return rows.map((row) => this.rankCandidates(row, allowed, denied, filterSeen, n));
    }
    let allowMask: Uint8Array | null = null;
    if (allowed) { allowMask = new Uint8Array(nItems); for (const j of allowed) allowMask[j] = 1; }
    const out: Ranked<I>[] = new Array(rows.length);
    const block = Math.max(1, Math.min(64, Math.floor((1 << 23) / Math.max(1, nItems))));
    const buf = new Float32Array(Math.min(block, rows.length) * nItems);
    for (let r0 = 0; r0 < rows.length; r0 += block) {
      const part = rows.slice(r0, r0 + block);
      const scored = part.filter((r): r is Row => r !== undefined && r.idx.length > 0);
      const view = buf.subarray(0, scored.length * nItems);
      if (scored.length > 0) this.kernel(scored, view);
      let t = 0;
      for (let i = 0; i < part.length; i++) {
        const row = part[i];
        let scores: Float32Array;
        if (row && row.idx.length > 0) scores = view.subarray(t * nItems, (t++ + 1) * nItems);
        else scores = Float32Array.from(st.popularity);
        if (filterSeen && row) for (let p = 0; p < row.idx.length; p++) scores[row.idx[p]] = -Infinity;
        if (denied) for (const j of denied) scores[j] = -Infinity;
        if (allowMask) for (let j = 0; j < nItems; j++) if (!allowMask[j]) scores[j] = -Infinity;
        out[r0 + i] = this.ranked(topK(scores, n), scores, n);
      }
    }
    return out;
  }

  /** Whether the model can score `user` from its training data (known, with at least one interaction). @example model.hasUser('alice') */
  hasUser(user: U): boolean {
    const st = this.fitted_();
    const u = st.users.get(user);
    return u >= 0 && st.x.indptr[u + 1] > st.x.indptr[u];
  }

  /** Whether `pin` is in the model's catalogue. @example model.hasItem('p1') */
  hasItem(pin: I): boolean {
    return this.fitted_().items.get(pin) >= 0;
  }

  /**
   * {@link userFactors} that returns `undefined` instead of throwing when the model cannot score the user
   * (unknown id, no interactions, or a new user with no known pin) — what a feed source wants for a cold user.
   * @example
   * const q = model.tryUserFactors('new-visitor'); // undefined
   */
  tryUserFactors(user: U | NewUser<I>): Float32Array | undefined {
    const st = this.fitted_();
    let row: Row;
    if (isNewUser(user)) row = this.foldInRow(user);
    else {
      const u = st.users.get(user as U);
      if (u < 0) return undefined;
      row = rowOf(st.x, u);
    }
    return row.idx.length === 0 ? undefined : this.factorsOf(row);
  }

  /**
   * Pins most similar to `pin`: cosine similarity of the pins' factor vectors V·diag(s). The pin itself is
   * excluded. A pin the model knows but has no training interactions for (e.g. only in held-out data) has no
   * factor vector: the answer is an empty list.
   *
   * @throws UnknownIdError for an unknown pin.
   * @example
   * model.similarItems('p42', { n: 10 });
   */
  similarItems(pin: I, options: { n?: number; filterItems?: Iterable<I> } = {}): Ranked<I> {
    const st = this.fitted_();
    const n = checkInt('n', options.n ?? 10, 1);
    checkIdType('pin', pin);
    const j0 = st.items.index(pin, 'pin', 'pin');
    const k = st.k;
    const nItems = st.items.size;
    const q = new Float64Array(k);
    for (let f = 0; f < k; f++) q[f] = st.v[j0 * k + f] * st.s[f] * st.s[f];
    const qn = st.itemNorm[j0];
    // A pin with no training interactions has a zero factor vector: every cosine would be 0/0. Say "nothing
    // is known" with an empty list rather than returning the first n pins as noise.
    if (!(qn > 0) || st.popularity[j0] === 0) return { ids: [], scores: new Float32Array(0), requested: n };
    const scores = new Float32Array(nItems);
    for (let j = 0; j < nItems; j++) {
      let dot = 0;
      const o = j * k;
      for (let f = 0; f < k; f++) dot += q[f] * st.v[o + f];
      const den = qn * st.itemNorm[j];
      // rounding (float32 norms of tiny factors) can push |dot / den| past 1: a cosine is clamped to [-1, 1]
      scores[j] = den > 0 ? Math.max(-1, Math.min(1, dot / den)) : 0;
    }
    scores[j0] = -Infinity;
    if (options.filterItems !== undefined) for (const j of this.denseIds('filterItems', options.filterItems)) scores[j] = -Infinity;
    return this.ranked(topK(scores, n), scores, n);
  }

  /**
   * Scores of every pin for a user's interaction row (dense indices and weights); `out` has one slot per pin.
   * Used by evaluation; `recommend` is the public entry point.
   */
  scoreRow(idx: Int32Array, val: Float32Array, out: Float32Array): void {
    this.scoreRows([{ idx, val }], out);
  }

  /**
   * {@link scoreRow} for several rows of raw weights (in the units of the training data): `out` is
   * rows × nItems, row-major, computed by the blocked kernel that {@link recommendBatch} uses.
   */
  scoreRows(rows: readonly { idx: Int32Array; val: Float32Array }[], out: Float32Array): void {
    const c = this.fitted_().weightScale;
    this.kernel(c === 1 ? rows : rows.map((r) => ({ idx: r.idx, val: Float32Array.from(r.val, (w) => w * c) })), out);
  }

  private kernel(rows: readonly Row[], out: Float32Array): void {
    scoreBlocked(this.fitted_(), rows, out);
  }

  /**
   * The user's latent vector q = x·V (k floats): for `'puresvd'`, `score_j = q · V_j`, so `q` and
   * {@link itemFactors} feed an inner-product ANN index directly (the first stage of a feed's CF source,
   * whose candidates `recommend(user, { allowItems })` then re-scores with the model's own scoring).
   * @throws UnknownIdError for an unknown user (see {@link tryUserFactors} for the non-throwing form)
   * @example
   * const q = model.userFactors('alice');
   */
  userFactors(user: U | NewUser<I>): Float32Array {
    const st = this.fitted_();
    let row: { idx: Int32Array; val: Float32Array };
    if (isNewUser(user)) row = this.foldInRow(user);
    else row = rowOf(st.x, st.users.index(user as U, 'user', 'user'));
    return this.factorsOf(row);
  }

  private factorsOf(row: Row): Float32Array {
    const st = this.fitted_();
    const q = new Float32Array(st.k);
    for (let p = 0; p < row.idx.length; p++) {
      const o = row.idx[p] * st.k;
      for (let f = 0; f < st.k; f++) q[f] += row.val[p] * st.v[o + f];
    }
    return q;
  }

  /**
   * The item side of the model's own scoring as inner products (nItems × k, row-major): for every pin j that
   * shares no user with the user's pins, `score_j = tryUserFactors(user) · scoringFactors()_j` exactly (the
   * co-occurrence term of `'ease'` is 0 there; for `'puresvd'` these are the item factors V). An
   * inner-product index over these rows is the first stage of a two-stage recommender: its top pins, passed
   * as `recommend(user, { candidates })`, together with the co-occurring pins the model scores itself, give
   * full ranking's answer whenever the index returns the true top non-co-occurring pins.
   * @example
   * const { ids, factors, dim } = model.scoringFactors();
   * const index = new HnswIndex({ metric: 'ip', dim }); index.addItems(ids, factors);
   */
  scoringFactors(): { ids: I[]; factors: Float32Array; dim: number } {
    const st = this.fitted_();
    const k = st.k, n = st.items.size;
    const out = new Float32Array(n * k);
    for (let j = 0; j < n; j++) for (let f = 0; f < k; f++) out[j * k + f] = st.wt[f * n + j];
    return { ids: st.items.ids() as I[], factors: out, dim: k };
  }

  /** Item factors V (nItems × k, row-major) and their ids, e.g. to build an inner-product ANN index. */
  itemFactors(): { ids: I[]; factors: Float32Array; dim: number } {
    const st = this.fitted_();
    return { ids: st.items.ids() as I[], factors: st.v.slice(), dim: st.k };
  }

  /** Pin ids in dense-index order. */
  itemIds(): I[] {
    return this.fitted_().items.ids() as I[];
  }

  /** User ids in dense-index order. */
  userIds(): U[] {
    return this.fitted_().users.ids() as U[];
  }

  /**
   * Save to `path` (versioned header, SHA-256 checksum, atomic temp-file + rename).
   *
   * @example
   * await model.save('model.pinrec');
   * const again = await SvdRecommender.load('model.pinrec');
   */
  async save(path: string): Promise<void> {
    const st = this.fitted_();
    const sections: Record<string, import('../core/container.js').SectionArray> = {
      users: st.users.encode(),
      items: st.items.encode(),
      xIndptr: st.x.indptr,
      xIndices: st.x.indices,
      xData: st.x.data,
      s: st.s,
      v: st.v,
      wt: st.wt,
      popularity: st.popularity,
      itemNorm: st.itemNorm,
    };
    if (st.g && st.itemScale) {
      sections.gIndptr = st.g.indptr;
      sections.gIndices = st.g.indices;
      sections.gData = st.g.data;
      sections.itemScale = st.itemScale;
    }
    const meta = { options: this.options, k: st.k, nUsers: st.users.size, nItems: st.items.size, lambdaUsed: st.lambdaUsed, weightScale: st.weightScale };
    await writeContainer(path, KIND, VERSION, meta, sections);
  }

  /**
   * Load a model written by {@link save}.
   *
   * @throws FileFormatError when the file is missing, truncated, altered, of another kind or version.
   */
  static async load<U extends Id = Id, I extends Id = Id>(path: string): Promise<SvdRecommender<U, I>> {
    const c = await readContainer<{ options: SvdRecommenderOptions; k: number; nUsers: number; nItems: number; lambdaUsed?: number; weightScale?: number }>(path, KIND);
    if (c.version !== VERSION) throw new FileFormatError(path, `unsupported svd-recommender version ${c.version} (this build reads ${VERSION})`);
    const meta = c.meta;
    let model: SvdRecommender<U, I>;
    try {
      model = new SvdRecommender<U, I>(meta.options);
    } catch (e) {
      throw new FileFormatError(path, `header holds invalid options (${(e as Error).message})`);
    }
    const sec = <T extends import('../core/container.js').SectionArray>(name: string, ctor: new (...a: never[]) => T) => requireSection(c, name, ctor, path);
    let users: IdMap, items: IdMap;
    try {
      users = IdMap.decode(sec('users', Uint8Array));
      items = IdMap.decode(sec('items', Uint8Array));
    } catch (e) {
      if (e instanceof FileFormatError) throw e;
      throw new FileFormatError(path, `id table is malformed (${(e as Error).message})`);
    }
    const k = meta.k;
    const nU = users.size, nI = items.size;
    const x = new CsrMatrix(nU, nI, sec('xIndptr', Int32Array), sec('xIndices', Int32Array), sec('xData', Float32Array));
    const s = sec('s', Float64Array), v = sec('v', Float32Array), wt = sec('wt', Float32Array);
    if (x.indptr.length !== nU + 1 || s.length !== k || v.length !== nI * k || wt.length !== nI * k) {
      throw new FileFormatError(path, 'section sizes do not match the header');
    }
    let g: CsrMatrix | undefined, itemScale: Float32Array | undefined;
    if (c.sections.has('gIndptr')) {
      g = new CsrMatrix(nI, nI, sec('gIndptr', Int32Array), sec('gIndices', Int32Array), sec('gData', Float32Array));
      itemScale = sec('itemScale', Float32Array);
    }
    model.state = {
      users, items, x, k, s, v, wt, g, itemScale,
      popularity: sec('popularity', Float64Array),
      itemNorm: sec('itemNorm', Float32Array),
      lambdaUsed: meta.lambdaUsed === undefined ? 0 : (meta.lambdaUsed as number),
      weightScale: meta.weightScale === undefined ? 1 : meta.weightScale,
    };
    checkLoadedState(path, model.state, meta);
    return model;
  }

  private foldInRow(user: NewUser<I>): { idx: Int32Array; val: Float32Array } {
    const st = this.fitted_();
    const { items, weights, types } = user;
    if (!Array.isArray(items)) throw new InvalidParameterError('user.items', 'an array of pin ids', items);
    if (weights !== undefined && (!Array.isArray(weights) || weights.length !== items.length)) {
      throw new InvalidParameterError('user.weights', `an array of ${items.length} weights`, weights);
    }
    if (types !== undefined && (!Array.isArray(types) || types.length !== items.length)) {
      throw new InvalidParameterError('user.types', `an array of ${items.length} interaction types`, types);
    }
    const acc = new Map<number, number>();
    for (let p = 0; p < items.length; p++) {
      let w = 1;
      if (weights) {
        w = weights[p];
        if (typeof w !== 'number' || !Number.isFinite(w) || w < 0 || w > 3.4028234663852886e38) throw new InvalidParameterError(`user.weights[${p}]`, 'a finite number >= 0 that float32 holds (<= 3.4e38)', w);
      } else if (types) {
        const tw = typeof types[p] === 'string' ? this.typeWeightMap.get(types[p]) : undefined;
        if (tw === undefined) throw new InvalidParameterError(`user.types[${p}]`, `a known interaction type (${[...this.typeWeightMap.keys()].join(', ')})`, types[p]);
        w = tw;
      }
      checkIdType(`user.items[${p}]`, items[p]);
      const j = st.items.get(items[p]);
      if (j < 0) continue; // pins unknown to the model carry no signal here
      acc.set(j, (acc.get(j) ?? 0) + w * st.weightScale);
    }
    const idx = Int32Array.from(acc.keys()).sort();
    const val = Float32Array.from(idx, (j) => acc.get(j)!);
    for (let p = 0; p < val.length; p++) {
      if (!Number.isFinite(val[p])) throw new InvalidParameterError('user.weights', "weights whose sum per pin, on the model's scale, float32 holds", `a sum of ${acc.get(idx[p])} for ${describePin(st, idx[p])}`);
    }
    return { idx, val };
  }

  /** Dense indices of the known pins in a user-supplied iterable (unknown pins are ignored), deduplicated. */
  private denseIds(name: string, ids: Iterable<I>): Int32Array {
    const st = this.fitted_();
    const seen = new Set<number>();
    for (const id of iterableOf(name, ids)) { const j = st.items.get(id); if (j >= 0) seen.add(j); }
    return Int32Array.from(seen);
  }

  /** The interaction row of a user, or `undefined` for an unknown user under `fallback: 'popular'`. */
  private rowFor(user: U | NewUser<I>, fallback: 'error' | 'popular', name: string): Row | undefined {
    const st = this.fitted_();
    let row: Row | undefined;
    if (isNewUser(user)) row = this.foldInRow(user);
    else {
      checkIdType(name, user);
      const u = st.users.get(user as U);
      if (u >= 0) row = rowOf(st.x, u);
      else if (fallback === 'error') throw new UnknownIdError(name, user, 'user');
    }
    if (row && row.idx.length === 0 && fallback === 'error') {
      throw new InvalidParameterError(name, "a user with at least one interaction on a known pin (or fallback: 'popular')", isNewUser(user) ? `new user with ${user.items.length} known-pin interactions` : user);
    }
    return row;
  }

  /**
   * Top-n among `cand` only: the same arithmetic as {@link scoreRows} (sparse term first, then the factor
   * term, in float64, rounded once), so a pin's score equals its score under full ranking bit for bit.
   */
  /** `extra` plus every pin the user's pins co-occur with (the pins the `'ease'` sparse term reaches). */
  private withCooccurring(row: Row | undefined, extra: Int32Array): Int32Array {
    const st = this.fitted_();
    if (!this.markScratch || this.markScratch.length !== st.items.size) this.markScratch = new Uint8Array(st.items.size);
    return withCooccurring(st, row, extra, this.markScratch);
  }

  /** Top-n among `cand` only, with the same scores as full ranking (see {@link scoreCandidates}). */
  private rankCandidates(row: Row | undefined, cand: Int32Array, denied: Int32Array | null, filterSeen: boolean, n: number): Ranked<I> {
    const st = this.fitted_();
    const m = cand.length;
    let scores: Float32Array;
    if (row && row.idx.length > 0) {
      if (st.g && (!this.sparseScratch || this.sparseScratch.length !== st.items.size)) this.sparseScratch = new Float64Array(st.items.size);
      scores = scoreCandidates(st, row, cand, this.sparseScratch);
    } else scores = Float32Array.from(cand, (j) => st.popularity[j]);
    if ((filterSeen && row) || denied) {
      const drop = new Set<number>(denied ?? []);
      if (filterSeen && row) for (const j of row.idx) drop.add(j);
      for (let c = 0; c < m; c++) if (drop.has(cand[c])) scores[c] = -Infinity;
    }
    // topK breaks ties by position: order the candidates by pin index first, as full ranking does.
    const order = Int32Array.from({ length: m }, (_, c) => c).sort((a, b) => cand[a] - cand[b]);
    const sorted = Float32Array.from(order, (c) => scores[c]);
    const top = topK(sorted, n);
    const ids = new Array<I>(top.length);
    const out = new Float32Array(top.length);
    for (let t = 0; t < top.length; t++) { const c = order[top[t]]; ids[t] = st.items.id(cand[c]) as I; out[t] = scores[c]; }
    return { ids, scores: out, requested: n };
  }

  private ranked(idx: Int32Array, scores: Float32Array, requested: number): Ranked<I> {
    const st = this.fitted_();
    const ids = new Array<I>(idx.length);
    const out = new Float32Array(idx.length);
    for (let t = 0; t < idx.length; t++) { ids[t] = st.items.id(idx[t]) as I; out[t] = scores[idx[t]]; }
    return { ids, scores: out, requested };
  }

  private fitted_(): FittedState {
    if (!this.state) throw new NotFittedError('SvdRecommender');
    return this.state;
  }
}

/** λ = 3·σ²_{k+1}, from the Ritz estimate of the first singular value left out (σ_k when none is left). */
function autoLambda(ritz: Float64Array, k: number): number {
  const next = ritz.length > k ? ritz[k] : ritz[k - 1];
  return Math.max(3 * next * next, Number.MIN_VALUE * 1e10, 1e-12);
}


function iterableOf<T>(name: string, v: Iterable<T>): Iterable<T> {
  if (v === null || typeof v !== 'object' || typeof (v as Iterable<T>)[Symbol.iterator] !== 'function') {
    throw new InvalidParameterError(name, 'an iterable of pin ids (array or Set)', v);
  }
  return v;
}

function describePin(st: FittedState, j: number): string {
  return `pin ${String(st.items.id(j))}`;
}
