/**
 * The contracts every pinrec layer speaks: one ranked-result shape, {@link Recommender}, {@link VectorIndex},
 * {@link Embedder}, {@link CandidateSource} and {@link Scorer}'s inputs. The real classes (`SvdRecommender`,
 * `HnswIndex`, `ExactIndex`, the embedder, the feed sources) implement these, and `pinrec/ranking` accepts
 * any object that does — type tests check that the classes satisfy them.
 *
 * Composition rules shared by every implementation:
 * - a search or recommendation for more results than exist returns what exists; `requested` says how many
 *   were asked for, so `ids.length < requested` means the answer was truncated (never an error);
 * - lookups that can miss have non-throwing forms (`tryGetVector`, `tryUserFactors`, `hasUser`);
 * - exclusions are applied before truncation: asking for k with m excluded returns k when k + m exist.
 */
import type { Id, Metric, ProgressCallback } from './types.js';

/** Ranked results in the caller's ids, best first. `scores[i]` belongs to `ids[i]`. */
export interface Ranked<I extends Id = Id> {
  ids: I[];
  scores: Float32Array;
  /** How many results were asked for; `ids.length < requested` when fewer exist. */
  requested?: number;
}

/** A category or creator key; `null`/`undefined` means "none" (never counted by the caps). */
export type GroupKey = string | number | bigint;

// ---------------------------------------------------------------------------------------------------------
// Recommender

/** A user who was not in the training data, given by their raw interactions (fold-in). */
export interface NewUser<I extends Id = Id> {
  /** Pins the user interacted with. Pins unknown to the model are ignored. */
  items: readonly I[];
  /** Weight of each interaction (default 1 each). */
  weights?: readonly number[];
  /** Interaction type of each interaction (instead of weights), weighed by the model's type weights. */
  types?: readonly string[];
  /**
   * When each interaction happened (any finite numbers, larger = later), for order-aware scoring. Without
   * them, `items` is taken to be in the order the interactions happened, oldest first.
   */
  timestamps?: readonly number[];
}

/** Options every {@link Recommender.recommend} understands. */
export interface RecommendOptions<I extends Id = Id> {
  /** Number of pins to return. @default 10 */
  n?: number;
  /** Exclude pins the user already interacted with. @default true */
  filterSeen?: boolean;
  /** Pins never to return. */
  filterItems?: Iterable<I>;
  /** When given, only these pins may be returned (scored alone when few). */
  allowItems?: Iterable<I>;
  /**
   * Two-stage ranking: score only these pins (e.g. an inner-product index's top hits for the user) plus the
   * pins the model can reach cheaply and exactly itself (for SVD-EASE, every pin that co-occurs with the
   * user's pins), instead of every pin in the catalogue.
   */
  candidates?: Iterable<I>;
  /**
   * What to do for a user the model cannot score (unknown id, or no interaction on a known pin): `'error'`
   * throws, `'popular'` returns the most popular pins. @default 'error'
   */
  fallback?: 'error' | 'popular';
}

/**
 * A fitted collaborative-filtering model. `Train` is what `fit` takes (an `InteractionMatrix` for the SVD
 * recommender).
 *
 * @example
 * function top(model: Recommender<string, string>, user: string) {
 *   return model.hasUser(user) ? model.recommend(user, { n: 10 }).ids : [];
 * }
 */
export interface Recommender<U extends Id = Id, I extends Id = Id, Train = unknown> {
  /** Whether `fit` or `load` has run. */
  readonly fitted: boolean;
  fit(data: Train, options?: { onProgress?: ProgressCallback }): this;
  /** Top pins for a known user or a folded-in new user. */
  recommend(user: U | NewUser<I>, options?: RecommendOptions<I>): Ranked<I>;
  /** `recommend` for many users; position i equals `recommend(users[i], options)`. */
  recommendBatch(users: readonly (U | NewUser<I>)[], options?: RecommendOptions<I>): Ranked<I>[];
  /** Pins most similar to `pin`; empty for a pin the model knows but has no training data for. */
  similarItems(pin: I, options?: { n?: number; filterItems?: Iterable<I> }): Ranked<I>;
  /** Whether the model can score `user` from its own data (known and with at least one interaction). */
  hasUser(user: U): boolean;
  /** Whether `pin` is in the model's catalogue. */
  hasItem(pin: I): boolean;
  /** The user's latent vector for an inner-product index, or `undefined` when the model cannot score them. */
  tryUserFactors(user: U | NewUser<I>): Float32Array | undefined;
  /** Save to a versioned, checksummed file (atomic). */
  save(path: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Vector index

/**
 * Which ids a search may return.
 * - a predicate `(id) => boolean` over the caller's ids (called for candidate items, may be called many
 *   times per search: keep it cheap);
 * - `{ allow: ids }`: only these ids (unknown ids are ignored);
 * - `{ deny: ids }`: every id except these.
 */
export type Filter<I extends Id = Id> =
  | ((id: I) => boolean)
  | { allow: Iterable<I> }
  | { deny: Iterable<I> };

/** Options of {@link VectorIndex.search}. */
export interface SearchOptions<I extends Id = Id> {
  /** Restrict results to some ids. @default undefined (all live items) */
  filter?: Filter<I>;
  /** Size of the dynamic candidate list for this search (HNSW only; raised to k when below). @default the index's `ef` */
  ef?: number;
}

/** Options of {@link VectorIndex.searchBatch}. */
export interface BatchSearchOptions<I extends Id = Id> extends SearchOptions<I> {
  /**
   * Worker threads to use (HNSW only). `1` searches on the calling thread.
   * @default defaultThreads() (PINREC_THREADS, else the cores, at most 8)
   */
  threads?: number;
}

/**
 * Nearest neighbours of one query, best first.
 * - `distances[i]` is the index's distance: `1 - cos` (cosine), `1 - dot` (ip), squared Euclidean (l2).
 * - `similarities[i]` is the matching similarity: `cos` (cosine), `dot` (ip), `-squared Euclidean` (l2),
 *   so larger is always better; `scores` is the same array (the {@link Ranked} view).
 * - `requested` is the k asked for: fewer results come back when fewer (allowed) items exist.
 */
export interface SearchResult<I extends Id = Id> extends Ranked<I> {
  distances: Float32Array;
  similarities: Float32Array;
  requested: number;
}

/** What every pinrec vector index can do. Ids are the caller's; vectors are `Float32Array` rows. */
export interface VectorIndex<I extends Id = Id> {
  /** Distance metric. */
  readonly metric: Metric;
  /** Vector dimension. */
  readonly dim: number;
  /** Number of live (not deleted) items. */
  readonly size: number;
  /** Add one vector or a row-major batch (`ids.length * dim` floats); an existing id gets its vector replaced. */
  addItems(ids: I | readonly I[], vectors: Float32Array | readonly number[]): void;
  /** Whether `id` is present and not deleted. */
  has(id: I): boolean;
  /** Mark `id` deleted: it is never returned again (until re-added). Throws UnknownIdError when absent. */
  markDeleted(id: I): void;
  /** Alias of {@link VectorIndex.markDeleted}. */
  remove(id: I): void;
  /** The stored vector of `id` (normalised under cosine). Throws UnknownIdError when absent. */
  getVector(id: I): Float32Array;
  /** The stored vector of `id`, or `undefined` when absent or deleted. */
  tryGetVector(id: I): Float32Array | undefined;
  /** The k nearest live items to `query`, best first (fewer when fewer exist; none on an empty index). */
  search(query: Float32Array | readonly number[], k: number, options?: SearchOptions<I>): SearchResult<I>;
  /** {@link VectorIndex.search} for each row of a row-major query batch. */
  searchBatch(queries: Float32Array, k: number, options?: BatchSearchOptions<I>): Promise<SearchResult<I>[]>;
  /** Save to `file` atomically (pinrec container). */
  save(file: string): Promise<void>;
  /** Release worker threads and temp files, if any. The index stays usable. */
  close(): Promise<void>;
}

/**
 * The part of a vector index the ranking pipelines need: any {@link VectorIndex}, a brute-force searcher,
 * or a remote one. `similarities` (larger is better) and/or `distances` as {@link SearchResult} defines them.
 */
export interface VectorSearcher<I extends Id = Id> {
  /** The index's metric; pipelines assume `'cosine'` when absent. */
  readonly metric?: Metric;
  /** Vector dimension, checked against the embedder when present. */
  readonly dim?: number;
  /** Items it holds, when known: pipelines never ask for more than this. */
  readonly size?: number;
  /** The k best hits; a searcher that holds fewer than k items should return what it has. */
  search(query: Float32Array, k: number, options?: { filter?: (id: I) => boolean }): SearchHits<I> | Promise<SearchHits<I>>;
  /** The stored vector of `id` (used by `searchByPin`); throws for an unknown id. */
  getVector?(id: I): Float32Array;
  /** The stored vector of `id`, or `undefined` for an unknown id. */
  tryGetVector?(id: I): Float32Array | undefined;
}

/** What {@link VectorSearcher.search} returns: a {@link SearchResult} or anything with the same columns. */
export interface SearchHits<I extends Id = Id> {
  ids: ArrayLike<I>;
  distances?: ArrayLike<number>;
  similarities?: ArrayLike<number>;
}

// ---------------------------------------------------------------------------------------------------------
// Embedder

/**
 * Anything that turns an input (an image path, a URL, a buffer...) into an embedding: `pinrec/embeddings`'s
 * embedder, or a fake in tests.
 *
 * @example
 * const fake: Embedder<string> = { dim: 2, embed: async (s) => Float32Array.of(s.length, 1) };
 */
export interface Embedder<In = unknown> {
  /** Embedding dimension. */
  readonly dim: number;
  embed(input: In): Promise<Float32Array> | Float32Array;
}

// ---------------------------------------------------------------------------------------------------------
// Pin metadata

/** What ranking needs to know about a pin (written by ingest, read by the feed and visual search). Any field may be missing. */
export interface PinMetadata<I extends Id = Id> {
  id: I;
  category?: GroupKey | null;
  creator?: GroupKey | null;
  engagements?: number | null;
  impressions?: number | null;
  engagementRate?: number | null;
  quality?: number | null;
}

/** A source of pin metadata (in memory, Arrow, a remote store...). */
export interface PinMetadataSource<I extends Id = Id> {
  /** Metadata for each id, `undefined` for unknown ids; same length and order as `ids`. */
  get(ids: readonly I[]): (PinMetadata<I> | undefined)[] | Promise<(PinMetadata<I> | undefined)[]>;
  /** A pin's embedding, if this source stores them. */
  embedding?(id: I): Float32Array | undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Candidates and the feed

/**
 * One candidate pin, as an object.
 *
 * @example
 * const c: Candidate = { id: 'pin42', similarity: 0.83, engagements: 120, impressions: 4000, quality: 0.9,
 *                        category: 'home-decor', creator: 'alice' };
 */
export interface Candidate<I extends Id = Id> {
  /** The pin's id (string, finite number or bigint). */
  id: I;
  /**
   * Similarity to the query or user. In a feed, each source's similarities are calibrated to one scale
   * before merging (see `FeedOptions.calibration`); in `rerank`, its meaning depends on the batch's `metric`.
   */
  similarity?: number | null;
  /** Distance to the query, used when `similarity` is missing; meaning depends on the batch's `metric`. */
  distance?: number | null;
  /** Engagements (saves, clicks) — a count >= 0, used with `impressions`. */
  engagements?: number | null;
  /** Impressions (views) — a count >= `engagements`. */
  impressions?: number | null;
  /** A precomputed engagement rate in [0, 1], used only when the counts are missing (it cannot be smoothed). */
  engagementRate?: number | null;
  /** Content quality in [0, 1]. */
  quality?: number | null;
  /** Category key for the diversity caps. */
  category?: GroupKey | null;
  /** Creator key for the diversity caps. */
  creator?: GroupKey | null;
  /** Extra numeric features for a custom scorer (ignored by the blend). */
  features?: Record<string, number>;
}

/** What a source is given besides the user. */
export interface SourceContext<I extends Id = Id> {
  /** Aborted when the source's budget runs out: stop work and return. */
  signal: AbortSignal;
  /** Most candidates the feed wants from one source. */
  limit: number;
  /** Pins the user must not be shown (already seen, blocked...): apply before truncating to `limit`. */
  exclude: ReadonlySet<I>;
}

/**
 * A source of feed candidates. Returns candidates best first; their `similarity` may be on any finite
 * scale (the feed calibrates each source to one scale). A user the source knows nothing about gets `[]`
 * (reported `'empty'`), never an error.
 *
 * @example
 * const fallback: CandidateSource<string> = {
 *   name: 'editorial', timeoutMs: 20,
 *   fetch: async () => [{ id: 'pin1', quality: 0.9, category: 'food' }],
 * };
 */
export interface CandidateSource<U = unknown, I extends Id = Id> {
  /** Unique name, reported in results. */
  readonly name: string;
  /** This source's budget in ms. @default the feed's `timeoutMs` */
  readonly timeoutMs?: number;
  /** How the feed puts this source's similarities on the common scale. @default the feed's `calibration` */
  readonly calibration?: Calibration;
  fetch(user: U, ctx: SourceContext<I>): Promise<readonly Candidate<I>[]> | readonly Candidate<I>[];
}

/**
 * How a feed maps one source's similarities to the common [0, 1] scale before merging:
 * - `'rank'`: by rank within the source's answer, `1 − r/n` for the r-th best (0-based) of n candidates
 *   that carry a similarity (ties share the better rank) — scale-free, so sources whose raw scores differ by
 *   orders of magnitude compare fairly;
 * - `'none'`: used as given (the source already returns [0, 1] similarities or cosines).
 */
export type Calibration = 'rank' | 'none';

// ---------------------------------------------------------------------------------------------------------
// Scoring

/** The signals a candidate may carry, by name. */
export const SIGNAL_FIELDS = ['similarity', 'distance', 'engagements', 'impressions', 'engagementRate', 'quality'] as const;
/** One of {@link SIGNAL_FIELDS}. */
export type SignalField = (typeof SIGNAL_FIELDS)[number];

/**
 * A validated columnar batch: what scorers see. Signal columns are numeric arrays (the caller's typed
 * arrays are used as they are, not copied) with a presence mask (`null` = all present); a column absent
 * from the input is `undefined`.
 */
export interface CandidateBatch<I extends Id = Id> {
  readonly n: number;
  readonly ids: ArrayLike<I>;
  readonly columns: Partial<Record<SignalField, ArrayLike<number>>>;
  readonly present: Partial<Record<SignalField, Uint8Array | null>>;
  readonly category?: ArrayLike<GroupKey | null | undefined>;
  readonly creator?: ArrayLike<GroupKey | null | undefined>;
  readonly features: Record<string, ArrayLike<number>>;
}

/** Per-candidate signals, each in [0, 1]. */
export interface NormalizedSignals {
  n: number;
  similarity: Float64Array;
  engagement: Float64Array;
  quality: Float64Array;
}

/**
 * Anything that scores a candidate batch: the seed's blend (`BlendScorer`) or a learned ranker, which can
 * read raw columns and `batch.features`.
 *
 * @example
 * const byQuality: Scorer = { name: 'quality', score: (_b, sig, out) => out.set(sig.quality) };
 */
export interface Scorer {
  /** Short name, reported in results. */
  readonly name: string;
  /** Fill `out` (length `batch.n`) with scores. */
  score(batch: CandidateBatch, signals: NormalizedSignals, out: Float64Array): void;
}
