/**
 * pinrec: Pinterest-style recommendation and visual search for Node.
 * Subpaths: `pinrec/cf`, `pinrec/ann`, `pinrec/embeddings`, `pinrec/ranking`, `pinrec/diversity`.
 */
export * from './core/index.js';
export * from './cf/index.js';
