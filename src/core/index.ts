/** Shared types, errors, ids, the seeded RNG and the file container. */
export * from './errors.js';
export { Rng } from './rng.js';
export { IdMap, encodeIds, decodeIds, checkIdType } from './ids.js';
export type { Id, Ranked, Progress, ProgressCallback, Metric } from './types.js';
export { SIGNAL_FIELDS } from './interfaces.js';
export type {
  Recommender, NewUser, RecommendOptions, VectorIndex, VectorSearcher, SearchHits, SearchResult, SearchOptions, BatchSearchOptions, Filter,
  Embedder as EmbedderContract, Candidate, CandidateSource, SourceContext, Calibration, GroupKey, SignalField, CandidateBatch, NormalizedSignals, Scorer,
} from './interfaces.js';
export { checkInt, checkNumber, checkPositive, checkOneOf, checkBool, checkFiniteArray, firstNonFinite, weightTable } from './validate.js';
export { topK } from './topk.js';
export { defaultThreads } from './threads.js';
export { writeContainer, readContainer, encodeContainer, decodeContainer, writeFileAtomic, requireSection } from './container.js';
export type { Container, SectionArray } from './container.js';
export { assertNoNulls, firstNullRow, validityMask } from './arrow.js';
export type { ArrowColumnLike } from './arrow.js';
export {
  ArrowFileWriter, writeArrowBatches, writeEmbeddingsArrow, readEmbeddingsArrow, writeResultsArrow, readResultsArrow, rankedRows, readArrowTable,
  idColumnType, arrowIdType, idColumn, vectorType, vectorColumn, float32Column, int32Column, utf8Column,
  ARROW_FORMAT_VERSION, DEFAULT_BATCH_ROWS, MAX_BATCH_ROWS,
} from './arrow-out.js';
export type {
  ArrowFormat, ArrowKind, IdColumnType, ArrowWriteOptions, ArrowWriteSummary, ArrowColumns as ArrowBatchColumns, ArrowFileWriterOptions,
  EmbeddingsWriteOptions, EmbeddingsReadOptions, EmbeddingsArrow, ResultRow, ResultsWriteOptions, ResultsArrow,
} from './arrow-out.js';
