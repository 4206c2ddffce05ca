/**
 * Ready-made candidate sources for {@link FeedGenerator} (one file each under `sources/`), and
 * {@link BruteForceSearcher}, an `ExactIndex` built in one call for small catalogues and tests.
 */
import { ExactIndex } from '../ann/exact.js';
import type { Id, Metric } from '../core/types.js';

export { CfCandidateSource } from './sources/cf.js';
export type { CfSourceOptions } from './sources/cf.js';
export { VisualNeighborsSource } from './sources/visual.js';
export type { VisualNeighborsOptions } from './sources/visual.js';
export { PopularSource } from './sources/popular.js';
export type { PopularPin, PopularSourceOptions } from './sources/popular.js';

/**
 * Exact search over fixed rows, metric `'ip'` (dot product), `'cosine'` or `'l2'` (squared): `pinrec/ann`'s
 * {@link ExactIndex} filled from `ids` and row-major `vectors`. O(n·dim) per query — fine for tens of
 * thousands of items; use `HnswIndex` for a million within a feed budget. Ties go to the lower row.
 *
 * @example
 * const s = new BruteForceSearcher(['a', 'b'], new Float32Array([1, 0, 0, 1]), 2, 'ip');
 * s.search(new Float32Array([0.2, 0.9]), 1).ids; // ['b']
 */
export class BruteForceSearcher<I extends Id = Id> extends ExactIndex<I> {
  /** @throws {InvalidParameterError} or {@link DimensionMismatchError} for sizes that disagree */
  constructor(ids: readonly I[], vectors: Float32Array, dim: number, metric: Metric = 'ip') {
    super({ metric, dim, capacity: Math.max(1, ids.length) });
    if (ids.length > 0 || vectors.length > 0) this.addItems(ids as I[], vectors);
  }
}
