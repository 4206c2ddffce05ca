/** Shared types, errors, ids, the seeded RNG and the file container. */
export * from './errors.js';
export { Rng } from './rng.js';
export { IdMap, encodeIds, decodeIds, checkIdType } from './ids.js';
export type { Id, Ranked, Progress, ProgressCallback, Metric } from './types.js';
export { checkInt, checkNumber, checkPositive, checkOneOf, checkBool, checkFiniteArray, firstNonFinite } from './validate.js';
export { topK } from './topk.js';
export { writeContainer, readContainer, encodeContainer, decodeContainer, writeFileAtomic, requireSection } from './container.js';
export type { Container, SectionArray } from './container.js';
