/**
 * Ordering helpers: the one id comparison every ranking tie-break uses, and the core heaps
 * (`core/topk.ts`) with that tie-break: a lazy best-first heap and top-k selection.
 */
import type { Id } from '../core/types.js';
import { checkInt } from '../core/validate.js';
import { InvalidParameterError } from '../core/errors.js';
import { BestFirstHeap, TopKHeap, type TieBreak } from '../core/topk.js';
import { compareIds } from '../core/ids.js';

export { compareIds } from '../core/ids.js';

/** The ranking tie-break for equal scores: smaller id ({@link compareIds}); the heaps then fall back to the index. */
function idTie(ids: ArrayLike<Id> | undefined): TieBreak | undefined {
  return ids === undefined ? undefined : (a, b) => compareIds(ids[a], ids[b]);
}

/**
 * Yields candidate indices best-first (score descending, then id ascending, then index) from a binary
 * max-heap built in O(n); each {@link RankHeap.next} costs O(log n). Re-ranking with diversity usually
 * needs only the first few hundred of many thousands of candidates, so nothing is fully sorted.
 * (The core {@link BestFirstHeap} with the id tie-break.)
 *
 * Scores must not be NaN (callers validate before building the heap).
 *
 * @example
 * const heap = new RankHeap(new Float64Array([0.2, 0.9, 0.5]), ['a', 'b', 'c']);
 * heap.next(); // 1
 * heap.next(); // 2
 * heap.next(); // 0
 * heap.next(); // -1 (empty)
 */
export class RankHeap extends BestFirstHeap {
  /**
   * @param scores one score per candidate (higher is better)
   * @param ids optional ids for the tie-break; without them ties fall back to the index
   * @param subset optional indices to rank instead of all `0..scores.length-1`
   */
  constructor(scores: ArrayLike<number>, ids?: ArrayLike<Id>, subset?: ArrayLike<number>) {
    super(scores, { tie: idTie(ids) }, subset);
  }
}

/**
 * Indices of the `k` best candidates, best first (score descending, then id ascending, then index),
 * in O(n log k) without sorting all `n` (the core {@link TopKHeap} with the id tie-break).
 *
 * @param scores one finite score per candidate
 * @param k how many to keep; more than `scores.length` returns all of them
 * @param ids optional ids for the tie-break
 * @throws {InvalidParameterError} when `k` is not an integer >= 1 or a score is NaN
 * @example
 * topK(new Float64Array([0.1, 0.7, 0.7, 0.3]), 2, ['w', 'y', 'x', 'z']); // Int32Array [2, 1]
 */
export function topK(scores: ArrayLike<number>, k: number, ids?: ArrayLike<Id>): Int32Array {
  checkInt('k', k, 1);
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new InvalidParameterError(`scores[${i}]`, 'a number, not NaN', scores[i]);
  }
  if (ids !== undefined && ids.length !== scores.length) {
    throw new InvalidParameterError('ids.length', `equal to scores.length (${scores.length})`, ids.length);
  }
  const heap = new TopKHeap(Math.min(k, scores.length), { tie: idTie(ids) });
  for (let i = 0; i < scores.length; i++) heap.push(scores[i], i);
  return heap.indices();
}
