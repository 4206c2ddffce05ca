/** Collaborative filtering: interactions in, truncated SVD, the recommender, evaluation. */
export {
  DEFAULT_WEIGHTS, InteractionLog, InteractionMatrix, interactionsFromColumns, interactionsFromRecords, buildCsr,
} from './interactions.js';
export type { CombineRule, InteractionColumns, InteractionRecord, InteractionOptions, MatrixOptions } from './interactions.js';
export { readSequenceFile, readRatingsCsv, readArrowFile, interactionsFromArrow, readParquetFile, writeParquetFromArrow } from './io.js';
export { writeFactorsArrow, readFactorsArrow } from './factors-arrow.js';
export type { FactorsArrowOptions, FactorsArrow } from './factors-arrow.js';
export type { RatingsCsvOptions, ArrowColumns } from './io.js';
export { CsrMatrix, transposeCsr, spmm, gram } from './csr.js';
export { randomizedSvd } from './svd.js';
export type { SvdOptions, SvdResult } from './svd.js';
export { SvdRecommender } from './model.js';
export type { SvdRecommenderOptions, SvdRecommendOptions, SimilarItemsOptions, RecommendOptions, NewUser, Scoring } from './model.js';
export { ORDER_OFF } from './order.js';
export type { OrderSettings, OrderChoice, ChooseOrderOptions } from './order.js';
export { fitInWorker } from './refit.js';
export { leaveLastOut, leaveKOut, randomHoldout, evaluate } from './eval.js';
export type { LeaveLastOutSplit, HoldoutSplit, SplitOptions, LeaveKOutOptions, RandomHoldoutOptions, EvaluateOptions, RankingMetrics, Interval, RowScorer, ScoredRow } from './eval.js';
export { syntheticInteractions } from './synthetic.js';
export type { SyntheticOptions } from './synthetic.js';
export { exportInteractions, readPartitionManifest, readPartition, fnv1a32 } from './partitioned.js';
export type { PartitionManifest, ExportInteractionsOptions } from './partitioned.js';
export { fitFactorsOutOfCore } from './outofcore.js';
export type { OutOfCoreOptions, OutOfCoreResult } from './outofcore.js';
export { FactorModel } from './factor-model.js';
export type { FactorModelOptions } from './factor-model.js';
