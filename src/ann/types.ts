/**
 * The contract every pinrec vector index implements (HNSW and exact brute force), plus the option and
 * result types they share. They live in `core/interfaces.ts` with the other contracts; this module
 * re-exports them for `pinrec/ann`.
 */
export type { VectorIndex, SearchOptions, BatchSearchOptions, SearchResult, Filter } from '../core/interfaces.js';
