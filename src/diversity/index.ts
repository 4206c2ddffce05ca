/**
 * `pinrec/diversity`: the seed's diversity caps (O(n), every number an option), a sliding-window
 * constraint, MMR over embeddings and diversity metrics.
 */
export {
  selectWithCaps, applyCaps, checkCaps, resolveCapsOptions, DEFAULT_CAPS,
} from './caps.js';
export type {
  Key, OnExhausted, CapsOptions, ResolvedCapsOptions, CapReason, CapSkip, CapsSelection, Groupable, CapsResult, CapViolation,
} from './caps.js';
export { selectWithWindow, applySlidingWindow } from './window.js';
export type { WindowOptions, WindowSelection } from './window.js';
export { mmr, normalizeRows } from './mmr.js';
export type { MmrOptions, MmrResult } from './mmr.js';
export { diversityMetrics, intraListSimilarity } from './metrics.js';
export type { CutoffMetrics, MetricsOptions } from './metrics.js';
