/** Collaborative filtering: interactions in, truncated SVD, the recommender, evaluation. */
export {
  DEFAULT_WEIGHTS, InteractionLog, InteractionMatrix, interactionsFromColumns, interactionsFromRecords, buildCsr,
} from './interactions.js';
export type { CombineRule, InteractionColumns, InteractionRecord, InteractionOptions } from './interactions.js';
export { readSequenceFile, readRatingsCsv, readArrowFile, interactionsFromArrow } from './io.js';
export type { RatingsCsvOptions, ArrowColumns } from './io.js';
export { CsrMatrix, transposeCsr, spmm, gram } from './csr.js';
export { randomizedSvd } from './svd.js';
export type { SvdOptions, SvdResult } from './svd.js';
export { SvdRecommender } from './model.js';
export type { SvdRecommenderOptions, RecommendOptions, NewUser, Scoring } from './model.js';
export { leaveLastOut, evaluate } from './eval.js';
export type { LeaveLastOutSplit, SplitOptions, EvaluateOptions, RankingMetrics, RowScorer } from './eval.js';
export { syntheticInteractions } from './synthetic.js';
export type { SyntheticOptions } from './synthetic.js';
