/**
 * pinrec: Pinterest-style recommendation and visual search for Node.
 * Subpaths: `pinrec/cf`, `pinrec/ann`, `pinrec/embeddings`, `pinrec/images`, `pinrec/ingest`, `pinrec/ranking`,
 * `pinrec/diversity`, `pinrec/store`, `pinrec/workload`.
 *
 * Two names exist in two modules; at the root they resolve as follows: `DEFAULT_WEIGHTS` is the interaction-type
 * weights of `pinrec/cf` (the blend weights of `pinrec/ranking` are `DEFAULT_BLEND_WEIGHTS` here), and `topK` is
 * the core index selection (ranking's candidate selection is `topKCandidates` here).
 */
export * from './core/index.js';
export * from './cf/index.js';
export * from './ann/index.js';
export * from './embeddings/index.js';
export * from './images/index.js';
export * from './ingest/index.js';
export * from './ranking/index.js';
export * from './diversity/index.js';
export * from './store/index.js';
export * from './workload/index.js';
export * from './shopping/index.js';
export { nativeInfo } from './native/index.js';
export type { NativeInfo, KernelChoice } from './native/index.js';
export { topK } from './core/index.js';
export { DEFAULT_WEIGHTS } from './cf/index.js';
export { DEFAULT_WEIGHTS as DEFAULT_BLEND_WEIGHTS, topK as topKCandidates } from './ranking/index.js';
