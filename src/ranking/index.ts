/**
 * `pinrec/ranking`: candidate records (objects, columns, Arrow), signal normalisation and the seed's blend,
 * top-k without a full sort, the scorer interface, re-ranking with diversity, visual search, style
 * clustering and the multi-source feed.
 */
export { SIGNAL_FIELDS, toBatch, columnsFromArrow, isArrowTable, isPresent } from './candidates.js';
export type {
  GroupKey, SignalField, Candidate, CandidateColumns, ArrowTableLike, ArrowVectorLike, CandidateInput, CandidateBatch, ArrowColumnNames,
} from './candidates.js';
export { compareIds, RankHeap, topK } from './order.js';
export {
  DEFAULT_WEIGHTS, smoothedRate, normalizeWeights, normalizeSignals, BlendScorer, runScorer,
} from './signals.js';
export type { BlendWeights, EngagementPrior, SignalOptions, NormalizedSignals, Scorer } from './signals.js';
export { scoreCandidates, rerank, selectRanked } from './rerank.js';
export type { RerankOptions, ScoredBatch, RankedCandidate, SkippedCandidate, RerankResult } from './rerank.js';
export { hitSimilarity } from './interfaces.js';
export type { EmbedderLike, SearchHits, VectorSearcher, PinMetadata, PinMetadataSource } from './interfaces.js';
export { InMemoryPinMetadata, ArrowPinMetadata } from './metadata.js';
export type { ArrowMetadataColumns } from './metadata.js';
export { VisualSearch } from './visual.js';
export type { VisualSearchOptions, VisualQueryOptions, ReasonKind, VisualResult } from './visual.js';
export { styleClusters } from './cluster.js';
export type { StyleClusterOptions, StyleClusters } from './cluster.js';
export { FeedGenerator } from './feed.js';
export { ManualClock, SYSTEM_CLOCK, MAX_TIMER_MS, runBudgeted } from './budget.js';
export type { FeedClock, StageOutcome } from './budget.js';
export { calibrate } from './merge.js';
export type { SourceContext, CandidateSource, FeedOptions, SourceReport, FeedItem, FeedResult, GenerateOptions, MetadataReport } from './feed.js';
export type { Calibration } from '../core/interfaces.js';
export { BruteForceSearcher, CfCandidateSource, VisualNeighborsSource, PopularSource } from './sources.js';
export type { CfSourceOptions, VisualNeighborsOptions, PopularPin, PopularSourceOptions } from './sources.js';
export { FEATURE_SCHEMA_VERSION, FeatureExtractor, featureColumn, userProfile } from './features.js';
export type { FeatureContext, FeatureExtractorOptions, FeatureMatrix, UserProfile } from './features.js';
export { FeatureSchemaError, LearnedRanker, TrainingSetBuilder, groupNdcg } from './learned.js';
export type { FeatureImportance, FitReport, LearnedRankerOptions, RankingExamples, TrainingSetOptions } from './learned.js';
