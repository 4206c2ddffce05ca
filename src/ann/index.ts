/**
 * Vector search: {@link HnswIndex} (approximate, over hnswlib), {@link UsearchIndex} (approximate, over usearch)
 * and {@link ExactIndex} (brute force), all implementing {@link VectorIndex}, plus {@link recallAtK}; beyond one
 * machine, {@link ShardedIndex} (scatter-gather over local or remote shards) and {@link PgVectorIndex}
 * (PostgreSQL + pgvector, an {@link AsyncVectorIndex}).
 */
export { HnswIndex } from './hnsw.js';
export type { HnswIndexOptions, AddOptions } from './hnsw.js';
export { UsearchIndex, usearchIndexBytes } from './usearch.js';
export type { UsearchIndexOptions, UsearchAddOptions, UsearchBackendInfo } from './usearch.js';
export { ExactIndex } from './exact.js';
export type { ExactIndexOptions } from './exact.js';
export { recallAtK } from './recall.js';
export { WorkerError } from './pool.js';
export type { VectorIndex, SearchOptions, BatchSearchOptions, SearchResult, Filter } from './types.js';
export { ShardedIndex, ShardWriteError, ShardSearchError, mergeResults, idKey, fromIdKey, routeHash, isSyncIndex } from './sharded.js';
export type {
  ShardedIndexOptions, ShardedSearchOptions, ShardedBatchSearchOptions, ShardedLoadOptions, ShardedSearchResult, ShardReport, ShardFailure,
  Shard, AsyncVectorIndex, AsyncSearchOptions, AsyncBatchSearchOptions, AddItemsOptions,
} from './sharded.js';
export { PgVectorIndex, checkIdentifier } from './pgvector.js';
export type { PgVectorIndexOptions, PgSearchOptions, PgBatchSearchOptions, PgPoolLike, PgClientLike, PgQueryResult } from './pgvector.js';
