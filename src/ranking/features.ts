/**
 * Ranking features: one user, one candidate batch and the request's context in, a columnar `Float32Array`
 * matrix with named, documented columns out — what a learned {@link Scorer} (see `learned.ts`) reads.
 *
 * Every value is finite: a signal that is missing becomes a fixed fill value **and** sets its `*_missing`
 * indicator column to 1, so the model can tell "absent" from "zero". The columns, in order (for each source
 * `s` of `FeatureExtractorOptions.sources`, default `['cf', 'visual', 'trending']`, three columns first):
 *
 * | column | meaning | missing → |
 * |---|---|---|
 * | `src_<s>_score` | the source's raw score (`batch.features[s]`), min–max scaled over the batch's present rows (all equal → 1) | 0 |
 * | `src_<s>_rank` | the candidate's 0-based rank r among the m present rows, as `log2(1 + r) / log2(1 + m)` (0 = best) | 1 |
 * | `src_<s>_missing` | 1 when the source did not propose the candidate (column absent or NaN) | — |
 * | `similarity` | the normalised similarity of `normalizeSignals` (the blend's input; a feed's calibrated merge) | 0 |
 * | `similarity_missing` | no `similarity`/`distance` on the row | — |
 * | `popularity` | `log1p(engagements)` (or `log1p(features.popularity)`) | 0 |
 * | `engagement_rate` | Beta-smoothed rate `(e + a) / (n + a + b)` (`smoothedRate`), else `engagementRate` | the prior rate |
 * | `engagement_missing` | neither counts nor a rate | — |
 * | `age_days` | `log1p(days since features.createdAt)` (ms since the epoch) at `context.now` | 0 |
 * | `age_missing` | no `createdAt` or no `context.now` | — |
 * | `category_affinity` | share of the user's history in the candidate's category | 0 |
 * | `category_last` | 1 when the candidate's category is that of the user's most recent pin | 0 |
 * | `creator_affinity` | share of the user's history by the candidate's creator | 0 |
 * | `creator_last` | 1 when the candidate's creator is that of the user's most recent pin | 0 |
 * | `group_missing` | no category and no creator on the row, or no user history | — |
 * | `recent_sim_max` / `recent_sim_mean` / `recent_sim_last` | cosine of the candidate's embedding (`context.embedding`) with the user's recent pins (max, mean, most recent) | 0 |
 * | `recent_sim_missing` | no embedding for the candidate or for any recent pin | — |
 * | `quality` | image-analysis quality in [0, 1] | 0.5 |
 * | `quality_missing` | no quality | — |
 * | `hour_sin` / `hour_cos` / `dow_sin` / `dow_cos` | time of day and day of week of `context.now` (UTC + `tzOffsetMinutes`) on the unit circle | 0 |
 * | `time_missing` | no `context.now` | — |
 *
 * The column list is the **schema**: a saved model records it, and loading a model against an extractor with
 * other columns is a `FeatureSchemaError` (see `learned.ts`).
 */
import type { Id } from '../core/types.js';
import { InvalidParameterError } from '../core/errors.js';
import { checkInt, checkNumber } from '../core/validate.js';
import type { CandidateBatch, GroupKey, NormalizedSignals } from '../core/interfaces.js';
import { normalizeSignals, type EngagementPrior, type SignalOptions } from './signals.js';

/** Version of the feature definitions above; part of every schema. */
export const FEATURE_SCHEMA_VERSION = 1;

/**
 * What the extractor knows about the user. Build it once per request (see {@link userProfile}).
 *
 * @example
 * const profile = userProfile(['p1', 'p7', 'p9'], { categoryOf: (p) => cats.get(p), creatorOf: (p) => brand.get(p) });
 */
export interface UserProfile<I extends Id = Id> {
  /** The user's pins, oldest first (only the last `recent` are compared with candidates). */
  history: readonly I[];
  /** Interactions per category in the history. */
  categories: ReadonlyMap<GroupKey, number>;
  /** Interactions per creator in the history. */
  creators: ReadonlyMap<GroupKey, number>;
  /** Category and creator of the most recent pin. */
  lastCategory: GroupKey | null;
  lastCreator: GroupKey | null;
}

/**
 * Build a {@link UserProfile} from a history (oldest first).
 *
 * @example
 * userProfile(['a', 'b'], { categoryOf: (p) => (p === 'a' ? 'x' : 'y') }).lastCategory; // 'y'
 */
export function userProfile<I extends Id>(history: readonly I[], lookup: { categoryOf?: (id: I) => GroupKey | null | undefined; creatorOf?: (id: I) => GroupKey | null | undefined } = {}): UserProfile<I> {
  if (!Array.isArray(history)) throw new InvalidParameterError('history', 'an array of pin ids', history);
  const categories = new Map<GroupKey, number>();
  const creators = new Map<GroupKey, number>();
  let lastCategory: GroupKey | null = null;
  let lastCreator: GroupKey | null = null;
  for (const id of history) {
    const c = lookup.categoryOf?.(id) ?? null;
    const k = lookup.creatorOf?.(id) ?? null;
    if (c !== null) categories.set(c, (categories.get(c) ?? 0) + 1);
    if (k !== null) creators.set(k, (creators.get(k) ?? 0) + 1);
    lastCategory = c;
    lastCreator = k;
  }
  return { history, categories, creators, lastCategory, lastCreator };
}

/** Per-request context of {@link FeatureExtractor.extract}. Every field is optional. */
export interface FeatureContext<I extends Id = Id> {
  /** Request time, ms since the epoch (for pin age and time of day). @default undefined (those features missing) */
  now?: number;
  /** The user's time zone as minutes east of UTC. @default 0 */
  tzOffsetMinutes?: number;
  /** A pin's embedding (any dimension, equal for all pins), for `recent_sim_*`. @default undefined */
  embedding?: (id: I) => Float32Array | undefined;
}

/** Options of {@link FeatureExtractor}. */
export interface FeatureExtractorOptions {
  /**
   * Candidate sources whose raw scores are read from `batch.features[name]` (NaN or absent = not proposed by
   * that source). @default ['cf', 'visual', 'trending']
   */
  sources?: readonly string[];
  /** Recent pins of the history compared with each candidate (`recent_sim_*`), >= 1. @default 10 */
  recent?: number;
  /** Prior for `engagement_rate`. @default {rate: 0.02, strength: 100} */
  engagementPrior?: EngagementPrior;
}

/** A columnar feature matrix: column `j` is `data.subarray(j * n, (j + 1) * n)`. */
export interface FeatureMatrix {
  /** Column names, in order (the schema). */
  readonly names: readonly string[];
  /** Rows (candidates). */
  readonly n: number;
  /** Columns (features). */
  readonly d: number;
  /** Column-major values, length `n * d`, all finite. */
  readonly data: Float32Array;
}

/** The column of `name` in `m` (a view). @throws {InvalidParameterError} for an unknown name */
export function featureColumn(m: FeatureMatrix, name: string): Float32Array {
  const j = m.names.indexOf(name);
  if (j < 0) throw new InvalidParameterError('name', `one of the matrix's features (${m.names.join(', ')})`, name);
  return m.data.subarray(j * m.n, (j + 1) * m.n);
}

const BASE_COLUMNS = [
  'similarity', 'similarity_missing',
  'popularity', 'engagement_rate', 'engagement_missing',
  'age_days', 'age_missing',
  'category_affinity', 'category_last', 'creator_affinity', 'creator_last', 'group_missing',
  'recent_sim_max', 'recent_sim_mean', 'recent_sim_last', 'recent_sim_missing',
  'quality', 'quality_missing',
  'hour_sin', 'hour_cos', 'dow_sin', 'dow_cos', 'time_missing',
] as const;

const DAY_MS = 86_400_000;
const EMPTY_PROFILE: UserProfile = { history: [], categories: new Map(), creators: new Map(), lastCategory: null, lastCreator: null };

/**
 * Turns (user, candidate batch, context) into a {@link FeatureMatrix} with the columns of this file's header.
 *
 * @example
 * const fx = new FeatureExtractor({ sources: ['cf', 'trending'] });
 * const batch = toBatch([{ id: 'p1', features: { cf: 3.2 }, category: 'decor' }, { id: 'p2', features: { trending: 40 } }]);
 * const m = fx.extract(batch, userProfile(['p0'], { categoryOf: () => 'decor' }), { now: Date.now() });
 * featureColumn(m, 'src_cf_missing'); // Float32Array [0, 1]
 */
export class FeatureExtractor {
  /** The schema: column names in order. */
  readonly names: readonly string[];
  readonly sources: readonly string[];
  readonly recent: number;
  private readonly signalOptions: SignalOptions;
  private readonly priorA: number;
  private readonly priorB: number;
  private readonly priorRate: number;

  /** @throws {InvalidParameterError} for bad options */
  constructor(options: FeatureExtractorOptions = {}) {
    const sources = options.sources ?? ['cf', 'visual', 'trending'];
    if (!Array.isArray(sources) || sources.some((s) => typeof s !== 'string' || s === '')) {
      throw new InvalidParameterError('sources', 'an array of non-empty source names', sources);
    }
    if (new Set(sources).size !== sources.length) throw new InvalidParameterError('sources', 'unique source names', sources);
    this.sources = Object.freeze([...sources]);
    this.recent = checkInt('recent', options.recent ?? 10, 1);
    this.signalOptions = { engagementPrior: options.engagementPrior, engagementScale: 'none' };
    normalizeSignals({ n: 0, ids: [], columns: {}, present: {}, features: {} }, this.signalOptions); // validates the prior
    this.priorRate = options.engagementPrior?.rate ?? 0.02;
    const strength = options.engagementPrior?.strength ?? 100;
    this.priorA = this.priorRate * strength;
    this.priorB = (1 - this.priorRate) * strength;
    const names: string[] = [];
    for (const s of this.sources) names.push(`src_${s}_score`, `src_${s}_rank`, `src_${s}_missing`);
    names.push(...BASE_COLUMNS);
    this.names = Object.freeze(names);
  }

  /** The options that rebuild this extractor (saved with a model). */
  get options(): Required<Pick<FeatureExtractorOptions, 'sources' | 'recent'>> & { version: number } {
    return { sources: [...this.sources], recent: this.recent, version: FEATURE_SCHEMA_VERSION };
  }

  /**
   * Features of every row of `batch`. Only `signals.similarity` is read (a {@link Scorer} passes the signals
   * `rerank` normalised under the batch's metric); without `signals` it is normalised here as a cosine.
   *
   * @throws {InvalidParameterError} for a bad context
   */
  extract<I extends Id>(batch: CandidateBatch<I>, profile: UserProfile<I> | null = null, context: FeatureContext<I> = {}, signals?: NormalizedSignals): FeatureMatrix {
    const n = batch.n;
    const names = this.names;
    const d = names.length;
    const data = new Float32Array(n * d);
    const col = (j: number) => data.subarray(j * n, (j + 1) * n);
    let j = 0;
    const order = new Int32Array(n);
    for (const s of this.sources) {
      const src = batch.features[s];
      const score = col(j), rank = col(j + 1), miss = col(j + 2);
      j += 3;
      let m = 0;
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < n; i++) {
        const v = src ? src[i] : NaN;
        if (v === v && v !== Infinity && v !== -Infinity) {
          order[m++] = i;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        } else { miss[i] = 1; rank[i] = 1; }
      }
      if (m === 0) continue;
      const span = hi - lo;
      for (let t = 0; t < m; t++) { const i = order[t]; score[i] = span > 0 ? (src![i] - lo) / span : 1; }
      const ord = order.subarray(0, m);
      ord.sort((a, b) => src![b] - src![a] || a - b);
      const denom = Math.log2(1 + m);
      let r = 0;
      for (let t = 0; t < m; t++) {
        if (t > 0 && src![ord[t]] !== src![ord[t - 1]]) r = t;
        rank[ord[t]] = m > 1 ? Math.log2(1 + r) / denom : 0;
      }
    }

    const sig = signals ?? normalizeSignals(batch, this.signalOptions);
    // similarity
    {
      const sim = col(j), miss = col(j + 1);
      j += 2;
      const sc = batch.columns.similarity, sm = batch.present.similarity;
      const dc = batch.columns.distance, dm = batch.present.distance;
      for (let i = 0; i < n; i++) {
        const has = (sc !== undefined && (!sm || sm[i] === 1)) || (dc !== undefined && (!dm || dm[i] === 1));
        if (has) sim[i] = sig.similarity[i]; else miss[i] = 1;
      }
    }
    // popularity and engagement
    {
      const pop = col(j), rate = col(j + 1), miss = col(j + 2);
      j += 3;
      const ec = batch.columns.engagements, em = batch.present.engagements;
      const rc = batch.columns.engagementRate, rm = batch.present.engagementRate;
      const pc = batch.features.popularity;
      for (let i = 0; i < n; i++) {
        const hasE = ec !== undefined && (!em || em[i] === 1);
        const hasR = rc !== undefined && (!rm || rm[i] === 1);
        if (hasE) pop[i] = Math.log1p(ec[i]);
        else if (pc !== undefined && pc[i] >= 0 && pc[i] !== Infinity) pop[i] = Math.log1p(pc[i]);
        if (hasE) rate[i] = (ec[i] + this.priorA) / (batch.columns.impressions![i] + this.priorA + this.priorB);
        else if (hasR) rate[i] = rc[i];
        else { rate[i] = this.priorRate; miss[i] = 1; }
      }
    }
    // age
    {
      const age = col(j), miss = col(j + 1);
      j += 2;
      const now = context.now;
      if (now !== undefined) checkNumber('context.now', now);
      const cc = batch.features.createdAt;
      for (let i = 0; i < n; i++) {
        const c = cc ? cc[i] : NaN;
        if (now !== undefined && Number.isFinite(c)) age[i] = Math.log1p(Math.max(0, now - c) / DAY_MS);
        else miss[i] = 1;
      }
    }
    // category and creator affinity
    {
      const p = profile ?? (EMPTY_PROFILE as UserProfile<I>);
      const ca = col(j), cl = col(j + 1), ka = col(j + 2), kl = col(j + 3), miss = col(j + 4);
      j += 5;
      const total = p.history.length;
      const cats = batch.category, cres = batch.creator;
      for (let i = 0; i < n; i++) {
        const c = cats?.[i] ?? null;
        const k = cres?.[i] ?? null;
        if (total === 0 || (c === null && k === null)) { miss[i] = 1; continue; }
        if (c !== null) { ca[i] = (p.categories.get(c) ?? 0) / total; cl[i] = c === p.lastCategory ? 1 : 0; }
        if (k !== null) { ka[i] = (p.creators.get(k) ?? 0) / total; kl[i] = k === p.lastCreator ? 1 : 0; }
      }
    }
    // similarity to recent pins
    {
      const smax = col(j), smean = col(j + 1), slast = col(j + 2), miss = col(j + 3);
      j += 4;
      const emb = context.embedding;
      const hist = profile?.history ?? [];
      const recent: Float32Array[] = [];
      let lastIsNewest = false;
      let dim = -1;
      if (emb) {
        for (let h = Math.max(0, hist.length - this.recent); h < hist.length; h++) {
          const v = emb(hist[h]);
          const u = v ? unit(v) : undefined;
          if (u && (dim < 0 || u.length === dim)) { dim = u.length; recent.push(u); lastIsNewest = h === hist.length - 1; }
          else if (h === hist.length - 1) lastIsNewest = false;
        }
      }
      const R = recent.length;
      for (let i = 0; i < n; i++) {
        const v = R > 0 ? emb!(batch.ids[i]) : undefined;
        if (!v || v.length !== dim) { miss[i] = 1; continue; }
        let norm = 0;
        for (let t = 0; t < dim; t++) norm += v[t] * v[t];
        if (!(norm > 0) || !Number.isFinite(norm)) { miss[i] = 1; continue; }
        const inv = 1 / Math.sqrt(norm);
        let mx = -1, sum = 0, last = 0;
        for (let r = 0; r < R; r++) {
          const u = recent[r];
          let dot = 0;
          for (let t = 0; t < dim; t++) dot += u[t] * v[t];
          dot *= inv;
          if (dot > mx) mx = dot;
          sum += dot;
          last = dot;
        }
        smax[i] = mx;
        smean[i] = sum / R;
        slast[i] = lastIsNewest ? last : 0;
      }
    }
    // quality
    {
      const q = col(j), miss = col(j + 1);
      j += 2;
      const qc = batch.columns.quality, qm = batch.present.quality;
      for (let i = 0; i < n; i++) {
        if (qc !== undefined && (!qm || qm[i] === 1)) q[i] = qc[i];
        else { q[i] = 0.5; miss[i] = 1; }
      }
    }
    // time of day, day of week
    {
      const hs = col(j), hc = col(j + 1), ds = col(j + 2), dc = col(j + 3), miss = col(j + 4);
      j += 5;
      const now = context.now;
      if (now === undefined) miss.fill(1);
      else {
        const tz = checkNumber('context.tzOffsetMinutes', context.tzOffsetMinutes ?? 0, -24 * 60, 24 * 60);
        const local = now + tz * 60_000;
        const dayFrac = (((local % DAY_MS) + DAY_MS) % DAY_MS) / DAY_MS;
        const dow = (((Math.floor(local / DAY_MS) + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday (4)
        const weekFrac = (dow + dayFrac) / 7;
        hs.fill(Math.sin(2 * Math.PI * dayFrac)); hc.fill(Math.cos(2 * Math.PI * dayFrac));
        ds.fill(Math.sin(2 * Math.PI * weekFrac)); dc.fill(Math.cos(2 * Math.PI * weekFrac));
      }
    }
    return { names, n, d, data };
  }
}

function unit(v: Float32Array): Float32Array | undefined {
  let s = 0;
  for (let t = 0; t < v.length; t++) s += v[t] * v[t];
  if (!(s > 0) || !Number.isFinite(s)) return undefined;
  const inv = 1 / Math.sqrt(s);
  const out = new Float32Array(v.length);
  for (let t = 0; t < v.length; t++) out[t] = v[t] * inv;
  return out;
}
