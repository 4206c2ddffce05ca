/**
 * The contract every vector index in pinrec implements (HNSW and exact brute force), plus the option and
 * result types they share.
 */
import type { Id, Metric } from '../core/types.js';

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
   * @default os.availableParallelism()
   */
  threads?: number;
}

/**
 * Nearest neighbours of one query, best first.
 * - `distances[i]` is the index's distance: `1 - cos` (cosine), `1 - dot` (ip), squared Euclidean (l2).
 * - `similarities[i]` is the matching similarity: `cos` (cosine), `dot` (ip), `-squared Euclidean` (l2),
 *   so larger is always better.
 */
export interface SearchResult<I extends Id = Id> {
  ids: I[];
  distances: Float32Array;
  similarities: Float32Array;
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
  /** The stored vector of `id` (normalised under cosine). */
  getVector(id: I): Float32Array;
  /** The k nearest live items to `query`, best first. */
  search(query: Float32Array | readonly number[], k: number, options?: SearchOptions<I>): SearchResult<I>;
  /** {@link VectorIndex.search} for each row of a row-major query batch. */
  searchBatch(queries: Float32Array, k: number, options?: BatchSearchOptions<I>): Promise<SearchResult<I>[]>;
  /** Save to `file` atomically (pinrec container). */
  save(file: string): Promise<void>;
  /** Release worker threads and temp files, if any. The index stays usable. */
  close(): Promise<void>;
}
