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
import { fitInWorker } from './refit.js';
import { topK } from '../core/topk.js';
import type { Id, ProgressCallback, Ranked } from '../core/types.js';
import type { NewUser, RecommendOptions, Recommender } from '../core/interfaces.js';
import { checkInt, checkNumber, checkOneOf, weightTable } from '../core/validate.js';
import { CsrMatrix, gram } from './csr.js';
import { DEFAULT_WEIGHTS, InteractionMatrix, type InteractionRecord } from './interactions.js';
import { randomizedSvd } from './svd.js';
import { nativeKernels, type KernelChoice, type NativeKernels } from '../native/index.js';
import { defaultThreads, shared } from './parallel.js';
import { type FittedState, type Row, isNewUser, recentRow, userRow } from './state.js';
import { scoreBlocked, scoreCandidates, scoringMatrix, strongestCooccurring, withCooccurring } from './scoring.js';
import { readModelFile, writeModelFile } from './model-file.js';
import { applyEvent, compactState, liveOf, reservePins } from './updates.js';
import {
  ORDER_OFF, addTransitions, addTransitionsTo, chooseOrder, countTransitions, prepareRow, transitionRow,
  type ChooseOrderOptions, type OrderChoice, type OrderSettings, type PreparedRow,
} from './order.js';

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
  /**
   * Order-aware scoring (see `order.ts`): `'auto'` chooses the recency factor and the next-pin transition
   * weight on a validation hold-out of each sampled user's latest pin, and keeps plain scoring unless order
   * measurably helps; `'off'` is plain SVD-EASE / PureSVD; or give the settings: `decay` (per-position recency
   * factor in (0, 1], 1 = none), `halfLife` (recency by timestamp instead, in timestamp units) and
   * `transitions` (β ≥ 0). Needs a matrix built by `InteractionLog.toMatrix` (which records when each entry
   * happened); on other matrices it is off. @default 'auto'
   */
  order?: 'auto' | 'off' | { decay?: number; halfLife?: number; transitions?: number };
  /** How `order: 'auto'` searches (validation users, grids, seed). @default see ChooseOrderOptions */
  orderSearch?: ChooseOrderOptions;
  /**
   * Popularity penalty α ∈ [0, 4]: each pin's score is divided by max(1, popularity)^α (multiplied, for a
   * negative score), where popularity is the pin's summed training weight on the model's scale (about its
   * number of interactions). 0 is the model as fitted; larger α trades hit rate for catalogue coverage and
   * a flatter spread of recommendations (see the README's table for the trade-off on Amazon). Per call:
   * `recommend(user, { popularityPenalty })`. @default 0
   */
  popularityPenalty?: number;
  /**
   * Which kernels the fit's SVD and the scoring run: `'auto'` (the native kernels when they were built at
   * install time, else JavaScript), `'native'` (required: the constructor throws, saying why, when they are not
   * available) or `'js'`. Both compute the same results bit for bit; see {@link SvdRecommender.kernels} and
   * `nativeInfo()`. Not saved with the model (a loaded model uses `'auto'`). @default 'auto'
   */
  kernels?: KernelChoice;
}

/** {@link RecommendOptions} plus the SVD recommender's own. */
export interface SvdRecommendOptions<I extends Id = Id> extends RecommendOptions<I> {
  /** Overrides the model's `popularityPenalty` for this call. */
  popularityPenalty?: number;
  /**
   * With `candidates`: which pins co-occurring with the user's history join them. `'all'`: every one, so the
   * result equals full ranking; a number m: the m with the largest co-occurrence term (SVD-EASE's sparse part),
   * which bounds the work on a dense catalogue where a user's pins co-occur with tens of thousands of pins
   * (scores stay exact; a pin outside both sets cannot come back). @default 'all'
   */
  cooccurring?: 'all' | number;
  /**
   * Score from at most this many of the user's pins: the most recent (by the time, or the input order, of
   * their latest event), or the heaviest when the model has no order. A heavy user's co-occurrence term costs
   * the co-occurrence rows of every pin they have (seconds for thousands of popular pins); this bounds it and
   * leans on recent taste. Pins left out of the scoring are still filtered as seen. @default every pin
   */
  history?: number;
}

export type { NewUser, RecommendOptions };

/** Options of {@link SvdRecommender.similarItems}. */
export interface SimilarItemsOptions<I extends Id = Id> {
  /** Number of pins. @default 10 */
  n?: number;
  /** Pins never to return. */
  filterItems?: Iterable<I>;
  /** Only these pins may be returned. @default every pin */
  allowItems?: Iterable<I>;
  /** `'model'`: the model's own scoring of a one-pin user; `'cosine'`: cosine of the factor vectors. @default 'model' */
  by?: 'model' | 'cosine';
}



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
  readonly options: Required<Omit<SvdRecommenderOptions, 'typeWeights' | 'orderSearch'>> & { typeWeights: Readonly<Record<string, number>>; orderSearch?: ChooseOrderOptions };
  /** The native kernels this model runs, or null for the JavaScript ones. */
  private readonly native: NativeKernels | null;
  /** Which kernels the last fit's SVD ran (`'native:<isa>'` or `'js'`; undefined before a fit). */
  private fitKernels?: string;
  /** What `order: 'auto'` measured at the last fit (undefined otherwise). */
  orderChoice?: OrderChoice;
  private state?: FittedState;
  /** Interaction type → weight for fold-in (a Map: user-supplied type names never reach Object.prototype). */
  private readonly typeWeightMap: Map<string, number>;
  /** Reused float64 buffer for the sparse co-occurrence term of the candidate-restricted path. */
  private sparseScratch?: Float64Array;
  /** Reused pin marks of the co-occurring-pins pass (all zero between calls). */
  private markScratch?: Uint8Array;
  /** Incremented by every fit, load and swap of a refit (not by updates). */
  private version_ = 0;
  /** Events applied by `update` since the last fit (a refit replays those that came during it). */
  private journal: { u: Id; i: Id; w: number; t: number | undefined }[] | null = null;
  private penaltyCache?: { key: string; f: Float32Array };
  /** Unit user vectors for similarUsers, cached until the next update or fit. */
  private userCache?: { vecs: Float32Array; updates: number };

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
      order: checkOrder(o.order ?? 'auto'),
      popularityPenalty: checkNumber('popularityPenalty', o.popularityPenalty ?? 0, 0, 4),
      orderSearch: o.orderSearch,
      kernels: checkOneOf('kernels', o.kernels ?? 'auto', ['auto', 'native', 'js'] as const),
    };
    this.native = nativeKernels(this.options.kernels);
    this.typeWeightMap = weightTable('typeWeights', this.options.typeWeights);
    this.options.typeWeights = Object.freeze(Object.fromEntries(this.typeWeightMap));
  }

  /**
   * Which kernels run: `scoring` for recommend/recommendBatch/evaluation (`'native:<isa>'`, e.g.
   * `'native:avx2'`, or `'js'`) and `fit` for the last fit's SVD (absent for a loaded model).
   *
   * @example
   * new SvdRecommender().kernels.scoring; // 'native:avx512f' where the addon was built, else 'js'
   */
  get kernels(): { scoring: string; fit?: string } {
    const scoring = this.native ? `native:${this.native.isa}` : 'js';
    return this.fitKernels === undefined ? { scoring } : { scoring, fit: this.fitKernels };
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

  /** The order-aware settings in use (decay 1 and transitions 0: plain scoring). @example model.order.transitions */
  get order(): OrderSettings {
    return { ...this.fitted_().order };
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
    // With threads, the matrix lives in shared memory from the start: the SVD's threads (and its transpose)
    // then read it without copies (at 20M non-zeros, ~300 MB less at the peak).
    const sh = this.options.threads > 1;
    const scaled = sh ? new Float32Array(new SharedArrayBuffer(raw.data.length * 4)) : new Float32Array(raw.data.length);
    for (let p = 0; p < scaled.length; p++) scaled[p] = raw.data[p] * weightScale;
    const x = new CsrMatrix(raw.rows, raw.cols, sh ? shared(raw.indptr) : raw.indptr, sh ? shared(raw.indices) : raw.indices, scaled);
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
      kernels: this.options.kernels,
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
    const ord = this.options.order;
    const xKey = matrix.lastEvent && matrix.lastEvent.length === x.nnz ? matrix.lastEvent : undefined;
    const wantsTrans = ord === 'auto' || (typeof ord === 'object' && (ord.transitions ?? 0) > 0);
    const trans = xKey && wantsTrans ? countTransitions(matrix) : undefined;
    const st: FittedState = {
      // id tables of the model's own: updates add ids, and the caller's matrix must not change under them
      users: IdMap.from(matrix.users.ids()), items: IdMap.from(matrix.items.ids()), ownsIds: true,
      x, k, s: svd.s, v, wt, itemScale, g, popularity, itemNorm, lambdaUsed, weightScale,
      xKey, timed: matrix.timed, order: { ...ORDER_OFF }, trans, cap: n, native: this.native,
    };
    this.orderChoice = undefined;
    if (ord === 'auto') {
      if (xKey) {
        opts.onProgress?.({ stage: 'order', done: 0, total: 1 });
        const scratch = st.g ? new Float64Array(st.items.size) : undefined;
        this.orderChoice = chooseOrder(st, trans, (rows, out) => scoreBlocked(st, rows, out), (row, cand) => scoreCandidates(st, row, cand, scratch), this.options.orderSearch);
        st.order = this.orderChoice.settings;
        opts.onProgress?.({ stage: 'order', done: 1, total: 1 });
      }
    } else if (ord !== 'off' && xKey) {
      st.order = { decay: ord.decay ?? 1, halfLife: ord.halfLife ?? null, transitions: ord.transitions ?? 0 };
    }
    if (st.order.transitions === 0 && ord !== 'auto') st.trans = undefined; // (kept under 'auto', for a refit to choose again)
    reservePins(st, pinSlack(n));
    this.fitKernels = svd.kernels;
    this.state = st;
    this.version_++;
    this.userCache = undefined;
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
  recommend(user: U | NewUser<I>, options: SvdRecommendOptions<I> = {}): Ranked<I> {
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
  recommendBatch(users: readonly (U | NewUser<I>)[], options: SvdRecommendOptions<I> = {}): Ranked<I>[] {
    const st = this.fitted_();
    if (!Array.isArray(users)) throw new InvalidParameterError('users', 'an array of user ids or new users', users);
    const o = options ?? {};
    const n = checkInt('n', o.n ?? 10, 1);
    const filterSeen = o.filterSeen ?? true;
    if (typeof filterSeen !== 'boolean') throw new InvalidParameterError('filterSeen', 'a boolean', filterSeen);
    const fallback = checkOneOf('fallback', o.fallback ?? 'error', ['error', 'popular'] as const);
    const alpha = o.popularityPenalty === undefined ? this.options.popularityPenalty : checkNumber('popularityPenalty', o.popularityPenalty, 0, 4);
    const nItems = st.items.size;
    const denied = o.filterItems === undefined ? null : this.denseIds('filterItems', o.filterItems);
    const allowed = o.allowItems === undefined ? null : this.denseIds('allowItems', o.allowItems);
    const extra = o.candidates === undefined ? null : this.denseIds('candidates', o.candidates);
    const co = o.cooccurring ?? 'all';
    if (co !== 'all' && (typeof co !== 'number' || !Number.isInteger(co) || co < 0)) throw new InvalidParameterError('cooccurring', "'all' or an integer >= 0", co);
    const full = users.map((u, i) => this.rowFor(u, fallback, users.length === 1 ? 'user' : `users[${i}]`));
    const history = o.history === undefined ? undefined : checkInt('history', o.history, 1);
    const rows = history === undefined ? full : full.map((r) => (r && r.idx.length > history ? recentRow(r, history) : r));
    // pins cut from a row are still seen: they join that user's denied pins
    const deniedOf = (i: number): Int32Array | null => {
      const r = full[i];
      if (!filterSeen || !r || rows[i] === r) return denied;
      return denied ? Int32Array.from([...denied, ...r.idx]) : r.idx;
    };
    if (extra) {
      let allowMask: Uint8Array | null = null;
      if (allowed) { allowMask = new Uint8Array(nItems); for (const j of allowed) allowMask[j] = 1; }
      return rows.map((row, i) => {
        let cand = co === 'all' ? this.withCooccurring(row, extra) : this.withStrongest(row, extra, co);
        if (allowMask) cand = cand.filter((j) => allowMask![j] === 1);
        return this.rankCandidates(row, cand, deniedOf(i), filterSeen, n, alpha);
      });
    }
    if (allowed && allowed.length * 4 <= nItems) {
      return rows.map((row, i) => this.rankCandidates(row, allowed, deniedOf(i), filterSeen, n, alpha));
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
      if (scored.length > 0) this.kernel(scored, view, alpha);
      let t = 0;
      for (let i = 0; i < part.length; i++) {
        const row = part[i];
        let scores: Float32Array;
        if (row && row.idx.length > 0) scores = view.subarray(t * nItems, (t++ + 1) * nItems);
        else scores = Float32Array.from(st.popularity.subarray(0, nItems));
        const seenRow = full[r0 + i];
        if (filterSeen && seenRow) for (let p = 0; p < seenRow.idx.length; p++) scores[seenRow.idx[p]] = -Infinity;
        if (denied) for (const j of denied) scores[j] = -Infinity;
        if (allowMask) for (let j = 0; j < nItems; j++) if (!allowMask[j]) scores[j] = -Infinity;
        out[r0 + i] = this.ranked(topK(scores, n), scores, n);
      }
    }
    return out;
  }

  /**
   * A counter that changes whenever the model's fitted state is replaced: by `fit`, `load` or the swap at
   * the end of {@link refit} (updates do not change it; see {@link updates}). A reader that saw version v
   * and sees it again read one and the same model.
   * @example
   * const v = model.version; await model.refit(); model.version > v; // true
   */
  get version(): number {
    return this.version_;
  }

  /** Events applied by {@link update} since the fitted state was made (0 right after a fit or a swap). @example model.updates */
  get updates(): number {
    return this.state?.live?.events ?? 0;
  }

  /**
   * Apply new interactions without refitting. Known users' recommendations change at once (their row is
   * updated); unknown users are added; unknown pins are added and folded in from their interactions (the
   * mirror of user fold-in), so they can be recommended and appear in {@link similarItems} at once. The
   * co-occurrence and next-pin counts are updated exactly; the fitted factors of known pins stay (that is
   * what {@link refit} is for). Events are applied in the order given; an event without a timestamp counts
   * as happening after every event so far.
   *
   * Cost per event: O(|user's pins| · k) for new pins, O(|user's pins|) otherwise, whatever the catalogue size.
   *
   * @throws InvalidParameterError for a malformed event (nothing of the batch is applied: all are checked first).
   * @example
   * model.update([{ user: 'alice', item: 'p9', type: 'repin' }, { user: 'zoe', item: 'new-pin', weight: 1 }]);
   */
  update(events: readonly InteractionRecord<U, I>[]): { events: number; newUsers: number; newPins: number } {
    const st = this.fitted_();
    if (!Array.isArray(events)) throw new InvalidParameterError('events', 'an array of { user, item, type? | weight?, timestamp? }', events);
    const checked = events.map((e, p) => {
      if (e === null || typeof e !== 'object') throw new InvalidParameterError(`events[${p}]`, 'an object { user, item, ... }', e);
      checkIdType(`events[${p}].user`, e.user);
      checkIdType(`events[${p}].item`, e.item);
      let w = 1;
      if (e.weight !== undefined && e.type !== undefined) throw new InvalidParameterError(`events[${p}].type`, 'absent when a weight is given', e.type);
      if (e.weight !== undefined) {
        w = e.weight;
        if (typeof w !== 'number' || !Number.isFinite(w) || w < 0 || w > 3.4e38) throw new InvalidParameterError(`events[${p}].weight`, 'a finite number >= 0', w);
      } else if (e.type !== undefined) {
        const tw = typeof e.type === 'string' ? this.typeWeightMap.get(e.type) : undefined;
        if (tw === undefined) throw new InvalidParameterError(`events[${p}].type`, `a known interaction type (${[...this.typeWeightMap.keys()].join(', ')})`, e.type);
        w = tw;
      }
      if (e.timestamp !== undefined && (typeof e.timestamp !== 'number' || !Number.isFinite(e.timestamp))) throw new InvalidParameterError(`events[${p}].timestamp`, 'a finite number', e.timestamp);
      return { u: e.user as Id, i: e.item as Id, w, t: e.timestamp };
    });
    const before = { users: st.users.size, pins: st.items.size };
    for (const e of checked) this.applyOne(st, e);
    if (this.journal) this.journal.push(...checked);
    this.userCache = undefined;
    return { events: checked.length, newUsers: st.users.size - before.users, newPins: st.items.size - before.pins };
  }

  private applyOne(st: FittedState, e: { u: Id; i: Id; w: number; t: number | undefined }): void {
    const live = liveOf(st);
    const u = st.users.add(e.u as U);
    const j = st.items.add(e.i as I);
    const t = e.t ?? live.clock + 1;
    applyEvent(st, this.options.scoring, u, j, e.w * st.weightScale, t);
  }

  /**
   * The model's current data as an interaction matrix (training weights in their own units, with every
   * update merged in, when each entry last happened, and the next-pin counts): what {@link refit} fits on,
   * and what `fit` accepts.
   * @example
   * const fresh = new SvdRecommender(model.options).fit(model.snapshot());
   */
  snapshot(): InteractionMatrix<U, I> {
    const st = compactState(this.fitted_());
    const c = 1 / st.weightScale;
    const x = new CsrMatrix(st.x.rows, st.x.cols, st.x.indptr, st.x.indices, Float32Array.from(st.x.data, (w) => w * c));
    const source = st.trans ? { transitions: st.trans } : undefined;
    return new InteractionMatrix(st.users as IdMap<U>, st.items as IdMap<I>, x, st.xKey, st.timed, source);
  }

  /**
   * Refit on a snapshot of the current data and swap the new model in atomically. With `worker: true` (the
   * default) the fit runs in a worker thread and this thread keeps serving; events passed to
   * {@link update} during the refit are applied to the old model at once and replayed onto the new one
   * before the swap, so none is lost. The swap is one assignment: a reader sees the old model or the new
   * one, never a mix, and {@link version} tells them apart.
   *
   * @returns the new version and how many events were replayed.
   * @example
   * model.update(events);
   * const { version } = await model.refit();
   */
  async refit(options: { worker?: boolean; onProgress?: ProgressCallback } = {}): Promise<{ version: number; replayed: number }> {
    this.fitted_();
    if (this.journal) throw new InvalidParameterError('refit', 'one refit at a time (await the running one)', 'a second refit while one runs');
    const snap = this.snapshot();
    const opts = { ...this.options } as SvdRecommenderOptions;
    this.journal = [];
    let fresh: SvdRecommender<U, I>;
    try {
      if (options.worker === false) fresh = new SvdRecommender<U, I>(opts).fit(snap, { onProgress: options.onProgress });
      else fresh = await fitInWorker<U, I>(snap, opts);
    } catch (e) {
      this.journal = null;
      throw e;
    }
    const pending = this.journal;
    this.journal = null;
    const st = fresh.fitted_();
    for (const e of pending) this.applyOne(st, e);
    st.native = this.native;
    this.fitKernels = fresh.fitKernels;
    this.state = st;
    this.orderChoice = fresh.orderChoice;
    this.version_++;
    this.userCache = undefined;
    return { version: this.version_, replayed: pending.length };
  }

  /**
   * Users most similar to `user`: cosine of their latent vectors x_u·V·S⁻¹ (recency-weighted like their
   * scores), the user excluded. Users without interactions are never returned.
   * @throws UnknownIdError for an unknown user.
   * @example
   * model.similarUsers('alice', { n: 5 });
   */
  similarUsers(user: U, options: { n?: number } = {}): Ranked<U> {
    const st = this.fitted_();
    const n = checkInt('n', options.n ?? 10, 1);
    checkIdType('user', user);
    const u0 = st.users.index(user, 'user', 'user');
    const k = st.k, nU = st.users.size;
    const updates = this.updates;
    if (!this.userCache || this.userCache.vecs.length !== nU * k || this.userCache.updates !== updates) {
      const vecs = new Float32Array(nU * k);
      for (let u = 0; u < nU; u++) {
        const row = userRow(st, u);
        if (row.idx.length === 0) continue;
        const q = this.factorsOf(row);
        let norm = 0;
        for (let f = 0; f < k; f++) { q[f] /= st.s[f]; norm += q[f] * q[f]; }
        norm = Math.sqrt(norm);
        if (norm > 0) for (let f = 0; f < k; f++) vecs[u * k + f] = q[f] / norm;
      }
      this.userCache = { vecs, updates };
    }
    const vecs = this.userCache.vecs;
    const scores = new Float32Array(nU).fill(-Infinity);
    let any = false;
    for (let f = 0; f < k; f++) if (vecs[u0 * k + f] !== 0) any = true;
    if (!any) return { ids: [], scores: new Float32Array(0), requested: n };
    for (let u = 0; u < nU; u++) {
      if (u === u0) continue;
      let dot = 0, nz = false;
      for (let f = 0; f < k; f++) { const a = vecs[u * k + f]; if (a !== 0) nz = true; dot += a * vecs[u0 * k + f]; }
      if (nz) scores[u] = Math.max(-1, Math.min(1, dot));
    }
    const top = topK(scores, n).filter((u) => scores[u] > -Infinity);
    return { ids: Array.from(top, (u) => st.users.id(u) as U), scores: Float32Array.from(top, (u) => scores[u]), requested: n };
  }

  /**
   * {@link similarItems} for many pins at once (one blocked scoring pass); position i equals
   * `similarItems(pins[i], options)`. `allowItems` restricts the answers to those pins.
   * @example
   * const [a, b] = model.similarItemsBatch(['p1', 'p2'], { n: 5, allowItems: inStock });
   */
  similarItemsBatch(pins: readonly I[], options: SimilarItemsOptions<I> = {}): Ranked<I>[] {
    const st = this.fitted_();
    if (!Array.isArray(pins)) throw new InvalidParameterError('pins', 'an array of pin ids', pins);
    const n = checkInt('n', options.n ?? 10, 1);
    const by = checkOneOf('by', options.by ?? 'model', ['model', 'cosine'] as const);
    const js = pins.map((p, i) => { checkIdType(`pins[${i}]`, p); return st.items.index(p, `pins[${i}]`, 'pin'); });
    const empty = (): Ranked<I> => ({ ids: [], scores: new Float32Array(0), requested: n });
    const known = (j: number) => st.popularity[j] > 0 && st.itemNorm[j] > 0;
    if (by === 'cosine') {
      // read each iterable once: the same filters for every pin
      const filter = options.filterItems === undefined ? undefined : Array.from(iterableOf('filterItems', options.filterItems));
      const allow = options.allowItems === undefined ? undefined : new Set(this.denseIds('allowItems', options.allowItems));
      return js.map((j) => {
        if (!known(j)) return empty();
        const r = this.cosineNeighbours(j, allow === undefined ? n : st.items.size, filter);
        if (allow === undefined) return r;
        const keep = r.ids.map((id, t) => [id, r.scores[t]] as const).filter(([id]) => allow.has(st.items.get(id))).slice(0, n);
        return { ids: keep.map(([id]) => id), scores: Float32Array.from(keep, ([, v]) => v), requested: n };
      });
    }
    const w = st.weightScale > 0 ? 1 / st.weightScale : 1;
    const users = js.map((j) => ({ items: [st.items.id(j) as I], weights: [w] }));
    const lists = this.recommendBatch(users, { n, filterItems: options.filterItems, allowItems: options.allowItems, fallback: 'popular' });
    return lists.map((l, i) => (known(js[i]) ? l : empty()));
  }

  /** Whether the model can score `user` from its training data (known, with at least one interaction). @example model.hasUser('alice') */
  hasUser(user: U): boolean {
    const st = this.fitted_();
    const u = st.users.get(user);
    return u >= 0 && userRow(st, u).idx.length > 0;
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
      row = userRow(st, u);
    }
    return row.idx.length === 0 ? undefined : this.factorsOf(row);
  }

  /**
   * Pins most similar to `pin`, consistent with the model's own scoring by default (`by: 'model'`): the
   * pins the model would recommend to a user whose only interaction is `pin` (for SVD-EASE, the item-item
   * weights B[pin, ·], plus the next-pin term when order-aware scoring is on). `by: 'cosine'` ranks by the
   * cosine of the pins' factor vectors V·diag(s) instead (scores in [−1, 1]). The pin itself is excluded. A
   * pin the model knows but has no interactions for (e.g. only in held-out data) gives an empty list.
   *
   * @throws UnknownIdError for an unknown pin.
   * @example
   * model.similarItems('p42', { n: 10 });
   * model.similarItems('p42', { n: 10, by: 'cosine', allowItems: inStock });
   */
  similarItems(pin: I, options: SimilarItemsOptions<I> = {}): Ranked<I> {
    checkIdType('pin', pin);
    this.fitted_().items.index(pin, 'pin', 'pin');
    return this.similarItemsBatch([pin], options)[0];
  }

  /** Cosine neighbours of pin j0 by V·diag(s). */
  private cosineNeighbours(j0: number, n: number, filterItems: Iterable<I> | undefined): Ranked<I> {
    const st = this.fitted_();
    const k = st.k;
    const nItems = st.items.size;
    const q = new Float64Array(k);
    for (let f = 0; f < k; f++) q[f] = st.v[j0 * k + f] * st.s[f] * st.s[f];
    const qn = st.itemNorm[j0];
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
    if (filterItems !== undefined) for (const j of this.denseIds('filterItems', filterItems)) scores[j] = -Infinity;
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
  scoreRows(rows: readonly { idx: Int32Array; val: Float32Array; key?: Float64Array }[], out: Float32Array): void {
    const c = this.fitted_().weightScale;
    this.kernel(c === 1 ? rows : rows.map((r) => ({ idx: r.idx, val: Float32Array.from(r.val, (w) => w * c), key: r.key })), out);
  }

  /** Full scores of rows (scaled weights): recency weights, the co-occurrence and factor terms, then transitions. */
  private kernel(rows: readonly Row[], out: Float32Array, alpha = this.options.popularityPenalty): void {
    const st = this.fitted_();
    const prepared = rows.map((r) => prepareRow(st.order, r));
    scoreBlocked(st, prepared, out);
    const nItems = st.items.size;
    if (st.trans && st.order.transitions > 0) {
      const mark = this.marks();
      for (let i = 0; i < prepared.length; i++) {
        const r = prepared[i];
        for (let p = 0; p < r.idx.length; p++) mark[r.idx[p]] = 1;
        addTransitions(st.trans, st.order.transitions, r.last, out.subarray(i * nItems, (i + 1) * nItems), (j) => mark[j] === 1, st.live?.tDelta);
        for (let p = 0; p < r.idx.length; p++) mark[r.idx[p]] = 0;
      }
    }
    if (alpha > 0) {
      const f = this.penaltyFactors(alpha);
      for (let i = 0; i < prepared.length; i++) {
        const o = i * nItems;
        for (let j = 0; j < nItems; j++) { const v = out[o + j]; out[o + j] = v > 0 ? v / f[j] : v * f[j]; }
      }
    }
  }

  /** max(1, popularity_j)^α per pin, cached for the last α (and dropped when pins change). */
  private penaltyFactors(alpha: number): Float32Array {
    const st = this.fitted_();
    const n = st.items.size;
    const key = `${alpha}:${this.version_}:${this.updates}`;
    if (this.penaltyCache?.key !== key) {
      const f = new Float32Array(n);
      for (let j = 0; j < n; j++) f[j] = Math.pow(Math.max(1, st.popularity[j]), alpha);
      this.penaltyCache = { key, f };
    }
    return this.penaltyCache.f;
  }

  /** The reused all-zero pin marks (zero again after every use). */
  private marks(): Uint8Array {
    const n = this.fitted_().items.size;
    if (!this.markScratch || this.markScratch.length !== n) this.markScratch = new Uint8Array(n);
    return this.markScratch;
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
    else row = userRow(st, st.users.index(user as U, 'user', 'user'));
    return this.factorsOf(row);
  }

  private factorsOf(raw: Row): Float32Array {
    const st = this.fitted_();
    const row = prepareRow(st.order, raw);
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
    for (let j = 0; j < n; j++) for (let f = 0; f < k; f++) out[j * k + f] = st.wt[f * st.cap + j];
    return { ids: st.items.ids() as I[], factors: out, dim: k };
  }

  /** Item factors V (nItems × k, row-major) and their ids, e.g. to build an inner-product ANN index. */
  itemFactors(): { ids: I[]; factors: Float32Array; dim: number } {
    const st = this.fitted_();
    return { ids: st.items.ids() as I[], factors: st.v.slice(0, st.items.size * st.k), dim: st.k };
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
    const { kernels: _runtime, ...stored } = this.options; // a runtime choice, not part of the model
    await writeModelFile(path, compactState(this.fitted_()), stored);
  }

  /**
   * Load a model written by {@link save}.
   *
   * @throws FileFormatError when the file is missing, truncated, altered, of another kind or version.
   */
  static async load<U extends Id = Id, I extends Id = Id>(path: string): Promise<SvdRecommender<U, I>> {
    const { options, state } = await readModelFile(path);
    let model: SvdRecommender<U, I>;
    try {
      const { kernels: _ignored, ...stored } = (options ?? {}) as SvdRecommenderOptions;
      model = new SvdRecommender<U, I>(stored);
    } catch (e) {
      throw new FileFormatError(path, `header holds invalid options (${(e as Error).message})`);
    }
    reservePins(state, pinSlack(state.items.size));
    state.native = model.native;
    model.state = state;
    model.version_ = 1;
    return model;
  }

  private foldInRow(user: NewUser<I>): Row {
    const st = this.fitted_();
    const { items, weights, types } = user;
    if (!Array.isArray(items)) throw new InvalidParameterError('user.items', 'an array of pin ids', items);
    if (weights !== undefined && (!Array.isArray(weights) || weights.length !== items.length)) {
      throw new InvalidParameterError('user.weights', `an array of ${items.length} weights`, weights);
    }
    if (types !== undefined && (!Array.isArray(types) || types.length !== items.length)) {
      throw new InvalidParameterError('user.types', `an array of ${items.length} interaction types`, types);
    }
    const { timestamps } = user;
    if (timestamps !== undefined && (!Array.isArray(timestamps) || timestamps.length !== items.length)) {
      throw new InvalidParameterError('user.timestamps', `an array of ${items.length} timestamps`, timestamps);
    }
    const acc = new Map<number, number>();
    const when = new Map<number, number>();
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
      let t = p;
      if (timestamps) {
        t = timestamps[p];
        if (typeof t !== 'number' || !Number.isFinite(t)) throw new InvalidParameterError(`user.timestamps[${p}]`, 'a finite number', t);
      }
      if (j < 0) continue; // pins unknown to the model carry no signal here
      acc.set(j, (acc.get(j) ?? 0) + w * st.weightScale);
      when.set(j, Math.max(when.get(j) ?? -Infinity, t));
    }
    const idx = Int32Array.from(acc.keys()).sort();
    const val = Float32Array.from(idx, (j) => acc.get(j)!);
    const key = Float64Array.from(idx, (j) => when.get(j)!);
    for (let p = 0; p < val.length; p++) {
      if (!Number.isFinite(val[p])) throw new InvalidParameterError('user.weights', "weights whose sum per pin, on the model's scale, float32 holds", `a sum of ${acc.get(idx[p])} for ${describePin(st, idx[p])}`);
    }
    return { idx, val, key };
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
      if (u >= 0) row = userRow(st, u);
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
    let cand = withCooccurring(st, row, extra, this.marks());
    if (st.trans && st.order.transitions > 0 && row && row.key) { // and the pins that follow the user's latest pin
      const last = prepareRow(ORDER_OFF, row).last;
      if (last >= 0) {
        const { cols } = transitionRow(st.trans, last, st.live?.tDelta);
        const mark = this.marks();
        const out = Array.from(cand);
        for (const j of cand) mark[j] = 1;
        for (const j of cols) if (!mark[j]) { mark[j] = 1; out.push(j); }
        for (const j of out) mark[j] = 0;
        cand = Int32Array.from(out);
      }
    }
    return cand;
  }

  /** `extra` plus the `m` strongest co-occurring pins (see {@link strongestCooccurring}). */
  private withStrongest(row: Row | undefined, extra: Int32Array, m: number): Int32Array {
    const st = this.fitted_();
    if (!this.sparseScratch || this.sparseScratch.length !== st.items.size) this.sparseScratch = new Float64Array(st.items.size);
    return strongestCooccurring(st, row, extra, m, this.marks(), this.sparseScratch);
  }

  /** Top-n among `cand` only, with the same scores as full ranking (see {@link scoreCandidates}). */
  private rankCandidates(row: Row | undefined, candIn: Int32Array, denied: Int32Array | null, filterSeen: boolean, n: number, alpha: number): Ranked<I> {
    const st = this.fitted_();
    // in pin-index order: topK breaks ties by position as full ranking does, and the factor reads walk forward
    const cand = candIn.slice().sort();
    const m = cand.length;
    let scores: Float32Array;
    if (row && row.idx.length > 0) {
      if (st.g && (!this.sparseScratch || this.sparseScratch.length !== st.items.size)) this.sparseScratch = new Float64Array(st.items.size);
      const prepared: PreparedRow = prepareRow(st.order, row);
      scores = scoreCandidates(st, prepared, cand, this.sparseScratch);
      if (st.trans && st.order.transitions > 0) {
        const mark = this.marks();
        for (let p = 0; p < row.idx.length; p++) mark[row.idx[p]] = 1;
        addTransitionsTo(st.trans, st.order.transitions, prepared.last, cand, scores, (j) => mark[j] === 1, st.live?.tDelta);
        for (let p = 0; p < row.idx.length; p++) mark[row.idx[p]] = 0;
      }
      if (alpha > 0) {
        const f = this.penaltyFactors(alpha);
        for (let c = 0; c < m; c++) { const v = scores[c]; scores[c] = v > 0 ? v / f[cand[c]] : v * f[cand[c]]; }
      }
    } else scores = Float32Array.from(cand, (j) => st.popularity[j]);
    if ((filterSeen && row) || denied) {
      const mark = this.marks();
      if (denied) for (const j of denied) mark[j] = 1;
      if (filterSeen && row) for (const j of row.idx) mark[j] = 1;
      for (let c = 0; c < m; c++) if (mark[cand[c]]) scores[c] = -Infinity;
      if (denied) for (const j of denied) mark[j] = 0;
      if (filterSeen && row) for (const j of row.idx) mark[j] = 0;
    }
    const top = topK(scores, n);
    const ids = new Array<I>(top.length);
    const out = new Float32Array(top.length);
    for (let t = 0; t < top.length; t++) { const c = top[t]; ids[t] = st.items.id(cand[c]) as I; out[t] = scores[c]; }
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

/** Pins' capacity after a fit or load: room for 1/16 more pins (at least 64) before the arrays grow. */
function pinSlack(n: number): number {
  return n + Math.max(64, Math.ceil(n / 16));
}

/** λ = 3·σ²_{k+1}, from the Ritz estimate of the first singular value left out (σ_k when none is left). */
function autoLambda(ritz: Float64Array, k: number): number {
  const next = ritz.length > k ? ritz[k] : ritz[k - 1];
  return Math.max(3 * next * next, Number.MIN_VALUE * 1e10, 1e-12);
}


/** Validate the `order` option. */
function checkOrder(o: unknown): SvdRecommenderOptions['order'] & object | 'auto' | 'off' {
  if (o === 'auto' || o === 'off') return o;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new InvalidParameterError('order', "'auto', 'off' or { decay?, halfLife?, transitions? }", o);
  const r = o as { decay?: unknown; halfLife?: unknown; transitions?: unknown };
  for (const key of Object.keys(r)) if (!['decay', 'halfLife', 'transitions'].includes(key)) throw new InvalidParameterError(`order.${key}`, 'one of decay, halfLife, transitions', key);
  const out: { decay?: number; halfLife?: number; transitions?: number } = {};
  if (r.decay !== undefined) out.decay = checkNumber('order.decay', r.decay as number, Number.MIN_VALUE, 1);
  if (r.halfLife !== undefined) out.halfLife = checkNumber('order.halfLife', r.halfLife as number, Number.MIN_VALUE);
  if (r.transitions !== undefined) out.transitions = checkNumber('order.transitions', r.transitions as number, 0);
  if (out.decay !== undefined && out.halfLife !== undefined) throw new InvalidParameterError('order.halfLife', 'absent when order.decay is given (recency by position or by time, not both)', out.halfLife);
  return Object.freeze(out);
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
