/**
 * Vector search: {@link HnswIndex} (approximate, over hnswlib), {@link UsearchIndex} (approximate, over usearch)
 * and {@link ExactIndex} (brute force), all implementing {@link VectorIndex}, plus {@link recallAtK}.
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
