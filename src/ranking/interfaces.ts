/**
 * The small structural interfaces the ranking pipelines need from other modules. `pinrec/ann` indexes,
 * `pinrec/embeddings` embedders and `pinrec/cf` models satisfy them as they are; tests use fakes.
 */
import type { Id, Metric } from '../core/types.js';
import type { GroupKey } from './candidates.js';

/** Anything that turns an input (an image, a URL, a buffer...) into an embedding. */
export interface EmbedderLike<In = unknown> {
  /** Embedding dimension. */
  readonly dim: number;
  embed(input: In): Promise<Float32Array> | Float32Array;
}

/**
 * Nearest neighbours of one query, best first. `similarities` (larger is better: cosine, dot product, or
 * −squared-L2) and/or `distances` (`1 − cos`, `1 − dot`, squared L2), as `pinrec/ann` returns them.
 */
export interface SearchHits<I extends Id = Id> {
  ids: ArrayLike<I>;
  distances?: ArrayLike<number>;
  similarities?: ArrayLike<number>;
}

/** A vector index: `search(query, k, {filter})`, e.g. `pinrec/ann`'s `HnswIndex` or `ExactIndex`. */
export interface VectorSearcher<I extends Id = Id> {
  /** The index's metric; pipelines assume `'cosine'` when absent. */
  readonly metric?: Metric;
  /** Vector dimension, checked against the embedder when present. */
  readonly dim?: number;
  search(query: Float32Array, k: number, options?: { filter?: (id: I) => boolean }): SearchHits<I> | Promise<SearchHits<I>>;
  /** The stored vector of `id`, if the index keeps vectors (used by `searchByPin`). */
  getVector?(id: I): Float32Array;
}

/** What ranking needs to know about a pin. Any field may be missing. */
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

/** Convert hits to similarities under `metric` (see the table in `signals.ts`); returns raw values. */
export function hitSimilarity(hits: SearchHits, i: number, metric: Metric): number {
  if (metric === 'l2') {
    if (hits.distances) return 1 / (1 + Math.max(0, hits.distances[i]));
    return 1 / (1 + Math.max(0, -hits.similarities![i]));
  }
  if (hits.similarities) return hits.similarities[i];
  return 1 - hits.distances![i];
}
