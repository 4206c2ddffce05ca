/**
 * Visual search: embed a query image, find its nearest pins in a vector index, look up their metadata and
 * re-rank them with the blend — each result with its similarity, final score and the reason it ranks.
 */
import type { Id, Metric } from '../core/types.js';
import { DimensionMismatchError, InvalidParameterError, UnknownIdError } from '../core/errors.js';
import { checkIdType } from '../core/ids.js';
import { checkInt, checkNumber, firstNonFinite } from '../core/validate.js';
import { cropImage, type Box } from '../images/crop.js';
import type { ImageSource } from '../images/source.js';
import type { CapsOptions } from '../diversity/caps.js';
import type { Candidate, GroupKey } from './candidates.js';
import { type EmbedderLike, type PinMetadataSource, type VectorSearcher, hitSimilarity } from './interfaces.js';
import { rerank } from './rerank.js';
import { type BlendWeights, DEFAULT_WEIGHTS, type Scorer, type SignalOptions, normalizeWeights } from './signals.js';

/**
 * Options of the {@link VisualSearch} constructor.
 *
 * @example
 * new VisualSearch({ embedder, index, metadata, weights: { similarity: 0.6, engagement: 0.2, quality: 0.2 } });
 */
export interface VisualSearchOptions<In, I extends Id> extends Omit<SignalOptions, 'metric'> {
  /** Turns a query into an embedding (e.g. `pinrec/embeddings`' embedder). */
  embedder: EmbedderLike<In>;
  /** Vector index over pin embeddings (e.g. `pinrec/ann`'s `HnswIndex`, metric `'cosine'`). */
  index: VectorSearcher<I>;
  /** Pin metadata for the blend and for `searchByPin` embeddings. */
  metadata: PinMetadataSource<I>;
  /** Blend weights. @default {similarity: 0.6, engagement: 0.2, quality: 0.2} */
  weights?: BlendWeights;
  /** The index's metric, when it does not report one. @default index.metric ?? 'cosine' */
  metric?: Metric;
  /**
   * Ranks the hits instead of the blend (e.g. a `LearnedRanker`, or its `forUser(profile)` per request); the
   * caps still apply after it, and `contributions`/`reason` still describe the blend's signals.
   * @default the blend with `weights`
   */
  scorer?: Scorer;
  /** A pin's image (path, bytes, URL), for `searchByPin(id, { box })`. */
  imageOf?: (id: I) => Promise<ImageSource | undefined> | ImageSource | undefined;
  /**
   * For an index that also holds the objects detected in pins (ingest with a `detector` adds each object's
   * embedding as a child `pin#k` of its pin): the pin an index id belongs to (`undefined`/`null` for a pin
   * itself), e.g. `parentPin` of `pinrec/ingest`. Hits are then grouped by pin — each result is a pin, found by
   * its whole image or by one of its objects (`object` says which, the best-scoring hit wins), `filter` and the
   * metadata see the pin's id, and `searchByPin(id)` leaves out the pin's own objects too.
   * @default none: every index id is a result of its own
   */
  parentOf?: (id: I) => I | undefined | null;
}

/**
 * Options of {@link VisualSearch.search}.
 *
 * @example
 * await vs.search(image, { k: 50, overfetch: 2, diversity: false });
 */
export interface VisualQueryOptions<I extends Id> {
  /** Results to return. @default 50 */
  k?: number;
  /** Neighbours fetched from the index per result (re-ranking needs spares), >= 1. @default 2 */
  overfetch?: number;
  /** Only pins for which this returns true. */
  filter?: (id: I) => boolean;
  /** Diversity caps on the results, or `false`. @default false */
  diversity?: CapsOptions | false;
  /**
   * Search by region: only this box of the query image (pixels of the image as displayed) is embedded — for
   * `search`, an image input (path, bytes, URL); for `searchByPin`, the pin's image from the `imageOf` option.
   * A box outside the image, or empty, is an `InvalidParameterError` naming `box`.
   */
  box?: Box;
  /** This query's scorer (e.g. `ranker.forUser(profile)`), over the one given to the constructor. */
  scorer?: Scorer;
}

/** Which signal contributed most to a result's score. */
export type ReasonKind = 'similarity' | 'engagement' | 'quality';

/** One visual-search result. */
export interface VisualResult<I extends Id = Id> {
  id: I;
  /** The index's raw similarity (cosine for a cosine index). */
  similarity: number;
  /** Final blended score in [0, 1]. */
  score: number;
  /** Each signal's weighted contribution to `score` (they sum to it). */
  contributions: { similarity: number; engagement: number; quality: number };
  /** The largest contribution. */
  reason: ReasonKind;
  /** Human-readable reason, e.g. `"visually similar (0.912); engagement 0.45; quality 0.80"`. */
  explanation: string;
  category: GroupKey | null;
  creator: GroupKey | null;
  /** With `parentOf`: the pin's detected object whose embedding matched best (absent when the whole image did). */
  object?: I;
}

/**
 * Visual search over pins: `search(image, {k: 50})` and `searchByPin(id)`.
 *
 * @example
 * const vs = new VisualSearch({ embedder, index, metadata });
 * const results = await vs.search(imageBuffer, { k: 50 });
 * results[0]; // { id, similarity, score, reason: 'similarity', explanation, ... }
 */
export class VisualSearch<In = unknown, I extends Id = Id> {
  private readonly embedder: EmbedderLike<In>;
  private readonly index: VectorSearcher<I>;
  private readonly metadata: PinMetadataSource<I>;
  private readonly weights: BlendWeights;
  private readonly metric: Metric;
  private readonly signalOptions: SignalOptions;
  private readonly imageOf?: VisualSearchOptions<In, I>['imageOf'];
  private readonly scorer?: Scorer;
  private readonly parentOf?: (id: I) => I | undefined | null;

  /** @throws {InvalidParameterError} for a missing part; {@link DimensionMismatchError} when embedder and index dims differ */
  constructor(options: VisualSearchOptions<In, I>) {
    const { embedder, index, metadata, weights, metric, imageOf, scorer, parentOf, ...signals } = options ?? ({} as VisualSearchOptions<In, I>);
    if (parentOf !== undefined && typeof parentOf !== 'function') throw new InvalidParameterError('parentOf', 'a function from an index id to its pin', parentOf);
    this.parentOf = parentOf;
    if (scorer !== undefined && typeof scorer?.score !== 'function') throw new InvalidParameterError('scorer', 'an object with a score() method', scorer);
    this.scorer = scorer;
    if (imageOf !== undefined && typeof imageOf !== 'function') throw new InvalidParameterError('imageOf', 'a function from pin id to its image', imageOf);
    this.imageOf = imageOf;
    if (typeof embedder?.embed !== 'function') throw new InvalidParameterError('embedder', 'an object with embed()', embedder);
    if (typeof index?.search !== 'function') throw new InvalidParameterError('index', 'an object with search()', index);
    if (typeof metadata?.get !== 'function') throw new InvalidParameterError('metadata', 'an object with get()', metadata);
    if (index.dim !== undefined && index.dim !== embedder.dim) throw new DimensionMismatchError('embedder.dim', index.dim, embedder.dim);
    this.embedder = embedder;
    this.index = index;
    this.metadata = metadata;
    this.weights = normalizeWeights(weights ?? DEFAULT_WEIGHTS);
    this.metric = metric ?? index.metric ?? 'cosine';
    this.signalOptions = signals;
  }

  /**
   * Pins that look like `input`, re-ranked by the blend.
   *
   * @throws {InvalidParameterError} for bad options or an embedding with non-finite values
   */
  async search(input: In, options: VisualQueryOptions<I> = {}): Promise<VisualResult<I>[]> {
    const q = options.box !== undefined
      ? await this.embedder.embed((await cropImage(input as unknown as ImageSource, options.box)) as unknown as In)
      : await this.embedder.embed(input);
    return this.searchVector(q, options);
  }

  /**
   * Pins that look like pin `id` (the pin itself excluded). The pin's vector comes from the metadata
   * source's `embedding(id)` or else the index's `getVector(id)`.
   *
   * @throws {UnknownIdError} when no embedding is known for `id`
   */
  async searchByPin(id: I, options: VisualQueryOptions<I> = {}): Promise<VisualResult<I>[]> {
    checkIdType('id', id);
    if (options.box !== undefined) {
      if (!this.imageOf) throw new InvalidParameterError('imageOf', 'a function from pin id to its image (needed to search a pin by region)', undefined);
      const img = await this.imageOf(id);
      if (img === undefined) throw new UnknownIdError('id', id, 'pin (no image)');
      const q = await this.embedder.embed((await cropImage(img, options.box)) as unknown as In);
      const userFilter = options.filter;
      return this.searchVector(q, { ...options, filter: userFilter ? (x) => x !== id && userFilter(x) : (x) => x !== id });
    }
    let v = this.metadata.embedding?.(id);
    if (!v) v = vectorFrom(this.index, id);
    if (!v) throw new UnknownIdError('id', id, 'pin (no embedding)');
    const userFilter = options.filter;
    return this.searchVector(v, { ...options, filter: userFilter ? (x) => x !== id && userFilter(x) : (x) => x !== id });
  }

  /** {@link VisualSearch.search} with an embedding already in hand. */
  async searchVector(query: Float32Array, options: VisualQueryOptions<I> = {}): Promise<VisualResult<I>[]> {
    const k = checkInt('k', options.k ?? 50, 1);
    const overfetch = checkNumber('overfetch', options.overfetch ?? 2, 1);
    if (!(query instanceof Float32Array)) throw new InvalidParameterError('query', 'a Float32Array', query);
    if (query.length !== this.embedder.dim) throw new DimensionMismatchError('query', this.embedder.dim, query.length);
    const bad = firstNonFinite(query);
    if (bad >= 0) throw new InvalidParameterError(`query[${bad}]`, 'a finite number', query[bad]);
    // Over-fetch for the re-rank, but never ask a searcher for more items than it holds.
    const size = this.index.size;
    const fetchK = Math.max(1, typeof size === 'number' ? Math.min(Math.ceil(k * overfetch), size) : Math.ceil(k * overfetch));
    if (size === 0) return [];
    const parentOf = this.parentOf;
    const pinOf = parentOf ? (x: I): I => parentOf(x) ?? x : undefined;
    const userFilter = options.filter;
    const filter = userFilter && pinOf ? (x: I) => userFilter(pinOf(x)) : userFilter;
    let hits = await this.index.search(query, fetchK, filter ? { filter } : undefined);
    if (pinOf) {
      // grouping by pin can leave fewer pins than wanted (a pin's objects take several hits): fetch deeper
      let want = fetchK;
      const pins = (h: typeof hits) => new Set(Array.from(h.ids, (x) => pinOf(x))).size;
      for (let round = 0; round < 3 && hits.ids.length === want && pins(hits) < Math.ceil(k * overfetch) && (typeof size !== 'number' || want < size); round++) {
        want = typeof size === 'number' ? Math.min(want * 4, size) : want * 4;
        hits = await this.index.search(query, want, filter ? { filter } : undefined);
      }
    }
    if (hits.ids.length === 0) return [];
    let ids: I[] = Array.from(hits.ids);
    let raw = new Float64Array(ids.length);
    for (let i = 0; i < ids.length; i++) raw[i] = hitSimilarity(hits, i, this.metric);
    const via = new Map<I, I>();
    if (pinOf) {
      // one result per pin: its best hit (hits come best first), whole image or object
      const seen = new Set<I>();
      const keep: number[] = [];
      ids.forEach((x, i) => {
        const pin = pinOf(x);
        if (seen.has(pin)) return;
        seen.add(pin);
        keep.push(i);
        if (pin !== x) via.set(pin, x);
      });
      raw = Float64Array.from(keep, (i) => raw[i]);
      ids = keep.map((i) => pinOf(ids[i]));
    }
    const n = ids.length;
    const metas = await this.metadata.get(ids);
    const cands: Candidate<I>[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const m = metas[i];
      cands[i] = {
        id: ids[i], similarity: raw[i],
        engagements: m?.engagements, impressions: m?.impressions, engagementRate: m?.engagementRate,
        quality: m?.quality, category: m?.category, creator: m?.creator,
      };
    }
    // hitSimilarity already mapped l2 distances into (0, 1]; cosine and ip are read by their own rules
    const scorer = options.scorer ?? this.scorer;
    if (options.scorer !== undefined && typeof options.scorer?.score !== 'function') throw new InvalidParameterError('scorer', 'an object with a score() method', options.scorer);
    const res = rerank(cands, { ...this.signalOptions, metric: this.metric, weights: this.weights, limit: k, diversity: options.diversity ?? false, ...(scorer ? { scorer } : {}) });
    const w = this.weights;
    return res.items.map((it) => {
      const c = { similarity: w.similarity * it.similarity, engagement: w.engagement * it.engagement, quality: w.quality * it.quality };
      const reason: ReasonKind = c.similarity >= c.engagement && c.similarity >= c.quality ? 'similarity' : c.engagement >= c.quality ? 'engagement' : 'quality';
      const explanation = `${scorer ? `ranked by ${scorer.name ?? 'a custom scorer'}; ` : ''}${reason === 'similarity' ? 'mostly ' : ''}visually similar (${raw[it.index].toFixed(3)}); ` +
        `${reason === 'engagement' ? 'mostly ' : ''}engagement ${it.engagement.toFixed(2)}; ` +
        `${reason === 'quality' ? 'mostly ' : ''}quality ${it.quality.toFixed(2)}`;
      const r: VisualResult<I> = { id: it.id, similarity: raw[it.index], score: it.score, contributions: c, reason, explanation, category: it.category, creator: it.creator };
      const obj = via.get(it.id);
      if (obj !== undefined) r.object = obj;
      return r;
    });
  }
}

/** The index's stored vector of `id`, or `undefined` (non-throwing form first, a miss of `getVector` second). */
function vectorFrom<I extends Id>(index: VectorSearcher<I>, id: I): Float32Array | undefined {
  if (index.tryGetVector) return index.tryGetVector(id);
  if (!index.getVector) return undefined;
  try { return index.getVector(id); } catch (e) { if (e instanceof UnknownIdError || e instanceof InvalidParameterError) return undefined; throw e; }
}
