/**
 * Ready-made candidate sources for {@link FeedGenerator}, and a brute-force {@link VectorSearcher} for small
 * catalogues and tests.
 */
import type { Id, Metric } from '../core/types.js';
import { DimensionMismatchError, InvalidParameterError } from '../core/errors.js';
import { checkIdType } from '../core/ids.js';
import { checkInt, checkOneOf } from '../core/validate.js';
import type { Candidate, GroupKey } from './candidates.js';
import type { CandidateSource, SourceContext } from './feed.js';
import { type VectorSearcher, hitSimilarity } from './interfaces.js';
import { compareIds } from './order.js';

/**
 * Exact search by scanning every row: metric `'ip'` (dot product), `'cosine'` or `'l2'` (squared).
 * O(n·dim) per query — fine for tens of thousands of items, too slow for a million within a feed budget
 * (use `pinrec/ann`'s `HnswIndex` there). Ties go to the lower row.
 *
 * @example
 * const s = new BruteForceSearcher(['a', 'b'], new Float32Array([1, 0, 0, 1]), 2, 'ip');
 * s.search(new Float32Array([0.2, 0.9]), 1).ids; // ['b']
 */
export class BruteForceSearcher<I extends Id = Id> implements VectorSearcher<I> {
  readonly metric: Metric;
  readonly dim: number;
  private readonly ids: I[];
  private readonly vectors: Float32Array;
  private readonly rowOf = new Map<I, number>();

  /** @throws {InvalidParameterError} for duplicate ids or sizes that disagree */
  constructor(ids: readonly I[], vectors: Float32Array, dim: number, metric: Metric = 'ip') {
    this.dim = checkInt('dim', dim, 1);
    this.metric = checkOneOf('metric', metric, ['cosine', 'ip', 'l2'] as const);
    if (vectors.length !== ids.length * dim) throw new DimensionMismatchError('vectors.length', ids.length * dim, vectors.length);
    this.ids = ids.slice();
    ids.forEach((id, r) => {
      checkIdType(`ids[${r}]`, id);
      if (this.rowOf.has(id)) throw new InvalidParameterError('ids', 'distinct ids', id);
      this.rowOf.set(id, r);
    });
    if (metric === 'cosine') {
      this.vectors = new Float32Array(vectors.length);
      for (let o = 0; o < vectors.length; o += dim) {
        let s = 0;
        for (let d = 0; d < dim; d++) s += vectors[o + d] * vectors[o + d];
        const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
        for (let d = 0; d < dim; d++) this.vectors[o + d] = vectors[o + d] * inv;
      }
    } else this.vectors = vectors;
  }

  /** Number of items. */
  get size(): number {
    return this.ids.length;
  }

  getVector(id: I): Float32Array {
    const r = this.rowOf.get(id);
    if (r === undefined) throw new InvalidParameterError('id', 'a known id', id);
    return this.vectors.slice(r * this.dim, (r + 1) * this.dim);
  }

  search(query: Float32Array, k: number, options: { filter?: (id: I) => boolean } = {}): { ids: I[]; similarities: Float32Array; distances: Float32Array } {
    checkInt('k', k, 1);
    if (query.length !== this.dim) throw new DimensionMismatchError('query', this.dim, query.length);
    const dim = this.dim;
    let q = query;
    if (this.metric === 'cosine') {
      let s = 0;
      for (let d = 0; d < dim; d++) s += query[d] * query[d];
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      q = new Float32Array(dim);
      for (let d = 0; d < dim; d++) q[d] = query[d] * inv;
    }
    const n = this.ids.length;
    const m = Math.min(k, n);
    // bounded min-heap of (score, row) for the k best
    const hs = new Float64Array(m);
    const hr = new Int32Array(m);
    let size = 0;
    const v = this.vectors;
    const l2 = this.metric === 'l2';
    const filter = options.filter;
    const worse = (a: number, b: number) => hs[a] < hs[b] || (hs[a] === hs[b] && hr[a] > hr[b]);
    for (let r = 0; r < n; r++) {
      const o = r * dim;
      let s = 0;
      if (l2) for (let d = 0; d < dim; d++) { const t = v[o + d] - q[d]; s -= t * t; }
      else for (let d = 0; d < dim; d++) s += v[o + d] * q[d];
      if (size === m && !(s > hs[0])) continue;
      if (filter && !filter(this.ids[r])) continue;
      if (size < m) {
        let p = size++;
        hs[p] = s; hr[p] = r;
        while (p > 0) { const par = (p - 1) >> 1; if (!worse(p, par)) break; swap(hs, hr, p, par); p = par; }
      } else {
        hs[0] = s; hr[0] = r;
        let p = 0;
        for (;;) {
          const l = 2 * p + 1;
          if (l >= size) break;
          let c = l;
          if (l + 1 < size && worse(l + 1, l)) c = l + 1;
          if (!worse(c, p)) break;
          swap(hs, hr, p, c); p = c;
        }
      }
    }
    const order = Array.from({ length: size }, (_, i) => i).sort((a, b) => hs[b] - hs[a] || hr[a] - hr[b]);
    const ids: I[] = new Array(size);
    const similarities = new Float32Array(size);
    const distances = new Float32Array(size);
    order.forEach((h, j) => {
      ids[j] = this.ids[hr[h]];
      similarities[j] = hs[h];
      distances[j] = l2 ? -hs[h] : 1 - hs[h];
    });
    return { ids, similarities, distances };
  }
}

function swap(a: Float64Array, b: Int32Array, i: number, j: number): void {
  const t = a[i]; a[i] = a[j]; a[j] = t;
  const u = b[i]; b[i] = b[j]; b[j] = u;
}

/** Min–max scale raw scores to [0, 1] (all equal → 1). */
function minMax(raw: Float64Array): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of raw) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const span = hi - lo;
  return raw.map((v) => (span > 0 ? (v - lo) / span : 1));
}

/*
 * Exclusions are applied after the search, by over-fetching `k + excluded` items, rather than through the
 * index's filter: a filter is a JS callback per visited node inside the native search, which costs more
 * than the extra results (and excluded sets are small: recent engagements, seen pins).
 */

/**
 * Options of {@link CfCandidateSource}.
 *
 * @example
 * new CfCandidateSource({ userVector: (u) => model.userFactors(u), index: hnswIp, k: 500 });
 */
export interface CfSourceOptions<U, I extends Id> {
  /** @default 'cf' */
  name?: string;
  /** Budget in ms. @default the feed's */
  timeoutMs?: number;
  /** The user's factor vector, or `undefined` for an unknown (cold) user — the source then returns nothing. */
  userVector: (user: U) => Float32Array | undefined;
  /** Index over item factors in inner-product mode (`pinrec/ann` `HnswIndex` with metric `'ip'`, or {@link BruteForceSearcher}). */
  index: VectorSearcher<I>;
  /** Candidates to fetch. @default 500 */
  k?: number;
}

/**
 * Collaborative-filtering candidates: the top items for the user's factor vector by inner product.
 * `similarity` is the inner product min–max scaled over the fetched items (best → 1, worst → 0).
 *
 * @example
 * const cf = new CfCandidateSource({ userVector: (u) => userFactors.get(u), index: itemIndexIp, k: 500 });
 */
export class CfCandidateSource<U = unknown, I extends Id = Id> implements CandidateSource<U, I> {
  readonly name: string;
  readonly timeoutMs?: number;
  private readonly o: CfSourceOptions<U, I>;
  private readonly k: number;

  constructor(options: CfSourceOptions<U, I>) {
    if (typeof options?.userVector !== 'function') throw new InvalidParameterError('userVector', 'a function', options?.userVector);
    if (typeof options.index?.search !== 'function') throw new InvalidParameterError('index', 'an object with search()', options.index);
    this.o = options;
    this.name = options.name ?? 'cf';
    this.timeoutMs = options.timeoutMs;
    this.k = checkInt('k', options.k ?? 500, 1);
  }

  async fetch(user: U, ctx: SourceContext<I>): Promise<Candidate<I>[]> {
    const q = this.o.userVector(user);
    if (!q) return [];
    const want = Math.min(this.k, ctx.limit);
    const hits = await this.o.index.search(q, want + ctx.exclude.size);
    const keep: number[] = [];
    for (let i = 0; i < hits.ids.length && keep.length < want; i++) if (!ctx.exclude.has(hits.ids[i])) keep.push(i);
    const raw = new Float64Array(keep.length);
    for (let j = 0; j < keep.length; j++) raw[j] = hitSimilarity(hits, keep[j], 'ip');
    const sim = minMax(raw);
    const out: Candidate<I>[] = new Array(keep.length);
    for (let j = 0; j < keep.length; j++) out[j] = { id: hits.ids[keep[j]], similarity: sim[j] };
    return out;
  }
}

/**
 * Options of {@link VisualNeighborsSource}.
 *
 * @example
 * new VisualNeighborsSource({ recent: (u) => lastSaves(u), vectorOf: (id) => meta.embedding(id), index: hnswCos });
 */
export interface VisualNeighborsOptions<U, I extends Id> {
  /** @default 'visual' */
  name?: string;
  /** Budget in ms. @default the feed's */
  timeoutMs?: number;
  /** The user's recent engagements, most recent first. */
  recent: (user: U) => readonly I[];
  /** A pin's embedding (`undefined` skips that pin). */
  vectorOf: (id: I) => Float32Array | undefined;
  /** Cosine index over pin embeddings. */
  index: VectorSearcher<I>;
  /** Most recent engagements used as seeds. @default 5 */
  seeds?: number;
  /** Neighbours per seed. @default 50 */
  perSeed?: number;
}

/**
 * Visual neighbours of the user's recent engagements. A pin reached from several seeds keeps its highest
 * cosine (negatives become 0); the seeds themselves are not returned.
 *
 * @example
 * const visual = new VisualNeighborsSource({ recent, vectorOf, index: cosIndex, seeds: 5, perSeed: 50 });
 */
export class VisualNeighborsSource<U = unknown, I extends Id = Id> implements CandidateSource<U, I> {
  readonly name: string;
  readonly timeoutMs?: number;
  private readonly o: VisualNeighborsOptions<U, I>;
  private readonly seeds: number;
  private readonly perSeed: number;

  constructor(options: VisualNeighborsOptions<U, I>) {
    if (typeof options?.recent !== 'function') throw new InvalidParameterError('recent', 'a function', options?.recent);
    if (typeof options.vectorOf !== 'function') throw new InvalidParameterError('vectorOf', 'a function', options.vectorOf);
    if (typeof options.index?.search !== 'function') throw new InvalidParameterError('index', 'an object with search()', options.index);
    this.o = options;
    this.name = options.name ?? 'visual';
    this.timeoutMs = options.timeoutMs;
    this.seeds = checkInt('seeds', options.seeds ?? 5, 1);
    this.perSeed = checkInt('perSeed', options.perSeed ?? 50, 1);
  }

  async fetch(user: U, ctx: SourceContext<I>): Promise<Candidate<I>[]> {
    const recent = this.o.recent(user).slice(0, this.seeds);
    const seedSet = new Set<I>(recent);
    const best = new Map<I, number>();
    for (const seed of recent) {
      if (ctx.signal.aborted) break;
      const v = this.o.vectorOf(seed);
      if (!v) continue;
      const hits = await this.o.index.search(v, this.perSeed + seedSet.size + ctx.exclude.size);
      let taken = 0;
      for (let i = 0; i < hits.ids.length && taken < this.perSeed; i++) {
        const id = hits.ids[i];
        if (seedSet.has(id) || ctx.exclude.has(id)) continue;
        taken++;
        const s = Math.max(0, Math.min(1, hitSimilarity(hits, i, 'cosine')));
        const prev = best.get(id);
        if (prev === undefined || s > prev) best.set(id, s);
      }
    }
    const out: Candidate<I>[] = [];
    for (const [id, s] of best) out.push({ id, similarity: s });
    return out.slice(0, ctx.limit);
  }
}

/** A popular pin, as {@link PopularSource} takes it. */
export interface PopularPin<I extends Id = Id> {
  id: I;
  category: GroupKey;
  engagements: number;
  impressions: number;
  creator?: GroupKey | null;
  quality?: number | null;
}

/**
 * Options of {@link PopularSource}.
 *
 * @example
 * new PopularSource({ pins: trendingToday, categoriesOf: (u) => favouriteCategories(u), perCategory: 20 });
 */
export interface PopularSourceOptions<U, I extends Id> {
  /** @default 'trending' */
  name?: string;
  /** Budget in ms. @default the feed's */
  timeoutMs?: number;
  /** Popular pins (any order); ranked per category by smoothed engagement rate × log(1 + engagements). */
  pins: readonly PopularPin<I>[];
  /** The user's preferred categories; without it (or for an empty list) every category is used. */
  categoriesOf?: (user: U) => readonly GroupKey[];
  /** Pins per category. @default 20 */
  perCategory?: number;
}

/**
 * Trending / popular pins per category: the fallback that needs no model. Candidates carry engagement
 * counts, category and quality but no similarity (the feed's `missing.similarity` applies).
 *
 * @example
 * const trending = new PopularSource({ pins, perCategory: 20 });
 */
export class PopularSource<U = unknown, I extends Id = Id> implements CandidateSource<U, I> {
  readonly name: string;
  readonly timeoutMs?: number;
  private readonly byCategory = new Map<GroupKey, PopularPin<I>[]>();
  private readonly categoriesOf?: (user: U) => readonly GroupKey[];
  private readonly perCategory: number;

  constructor(options: PopularSourceOptions<U, I>) {
    if (!Array.isArray(options?.pins)) throw new InvalidParameterError('pins', 'an array of popular pins', options?.pins);
    this.name = options.name ?? 'trending';
    this.timeoutMs = options.timeoutMs;
    this.perCategory = checkInt('perCategory', options.perCategory ?? 20, 1);
    this.categoriesOf = options.categoriesOf;
    const key = (p: PopularPin<I>) => ((p.engagements + 2) / (p.impressions + 100)) * Math.log1p(p.engagements);
    options.pins.forEach((p, i) => {
      checkIdType(`pins[${i}].id`, p?.id);
      if (!(p.engagements >= 0 && p.impressions >= p.engagements && Number.isFinite(p.impressions))) {
        throw new InvalidParameterError(`pins[${i}]`, 'counts with 0 <= engagements <= impressions', `${p.engagements}/${p.impressions}`);
      }
      let list = this.byCategory.get(p.category);
      if (!list) this.byCategory.set(p.category, (list = []));
      list.push(p);
    });
    for (const list of this.byCategory.values()) {
      list.sort((a, b) => key(b) - key(a) || compareIds(a.id, b.id));
      list.length = Math.min(list.length, this.perCategory);
    }
  }

  fetch(user: U, ctx: SourceContext<I>): Candidate<I>[] {
    let cats = this.categoriesOf?.(user);
    if (!cats || cats.length === 0) cats = [...this.byCategory.keys()];
    const out: Candidate<I>[] = [];
    for (const cat of cats) {
      for (const p of this.byCategory.get(cat) ?? []) {
        if (ctx.exclude.has(p.id)) continue;
        out.push({ id: p.id, engagements: p.engagements, impressions: p.impressions, category: p.category, creator: p.creator, quality: p.quality });
        if (out.length >= ctx.limit) return out;
      }
    }
    return out;
  }
}
