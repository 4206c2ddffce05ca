/**
 * Vector search: {@link HnswIndex} (approximate, over hnswlib) and {@link ExactIndex} (brute force), both
 * implementing {@link VectorIndex}, plus {@link recallAtK}.
 */
export { HnswIndex } from './hnsw.js';
export type { HnswIndexOptions, AddOptions } from './hnsw.js';
export { ExactIndex } from './exact.js';
export type { ExactIndexOptions } from './exact.js';
export { recallAtK } from './recall.js';
export { WorkerError } from './pool.js';
export type { VectorIndex, SearchOptions, BatchSearchOptions, SearchResult, Filter } from './types.js';
