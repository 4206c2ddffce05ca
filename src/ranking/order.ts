/**
 * Ordering helpers: the one id comparison every ranking tie-break uses, a lazy max-heap that yields
 * candidates best-first without sorting everything, and top-k selection built on it.
 */
import type { Id } from '../core/types.js';
import { checkInt } from '../core/validate.js';
import { InvalidParameterError } from '../core/errors.js';

const TYPE_RANK: Record<string, number> = { number: 0, bigint: 0, string: 1 };

/**
 * Total order on ids used for tie-breaks: numbers and bigints compare numerically (`2 < 10n`), strings
 * compare by UTF-16 code units, and every numeric id sorts before every string id. A number and a bigint
 * with the same value compare equal.
 *
 * @returns negative when `a` comes first, positive when `b` does, 0 when they tie.
 * @example
 * compareIds(2, 10);     // < 0
 * compareIds('b', 'a');  // > 0
 * compareIds(5, 'a');    // < 0 (numbers first)
 */
export function compareIds(a: Id, b: Id): number {
  const ta = typeof a;
  const tb = typeof b;
  if (ta === tb || (ta !== 'string' && tb !== 'string')) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  return TYPE_RANK[ta] - TYPE_RANK[tb];
}

/**
 * Whether candidate `a` ranks before candidate `b`: higher score first, then smaller id
 * ({@link compareIds}), then smaller index (so the order is total and deterministic).
 */
function before(scores: ArrayLike<number>, ids: ArrayLike<Id> | undefined, a: number, b: number): boolean {
  const sa = scores[a];
  const sb = scores[b];
  if (sa !== sb) return sa > sb;
  if (ids !== undefined) {
    const c = compareIds(ids[a], ids[b]);
    if (c !== 0) return c < 0;
  }
  return a < b;
}

/**
 * Yields candidate indices best-first (score descending, then id ascending, then index) from a binary
 * max-heap built in O(n); each {@link RankHeap.next} costs O(log n). Re-ranking with diversity usually
 * needs only the first few hundred of many thousands of candidates, so nothing is fully sorted.
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
export class RankHeap implements Iterable<number> {
  private readonly heap: Int32Array;
  private size: number;

  /**
   * @param scores one score per candidate (higher is better)
   * @param ids optional ids for the tie-break; without them ties fall back to the index
   * @param subset optional indices to rank instead of all `0..scores.length-1`
   */
  constructor(
    private readonly scores: ArrayLike<number>,
    private readonly ids?: ArrayLike<Id>,
    subset?: ArrayLike<number>,
  ) {
    const n = subset ? subset.length : scores.length;
    this.heap = new Int32Array(n);
    if (subset) for (let i = 0; i < n; i++) this.heap[i] = subset[i];
    else for (let i = 0; i < n; i++) this.heap[i] = i;
    this.size = n;
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** Candidates not yet returned. */
  get remaining(): number {
    return this.size;
  }

  /** The next best candidate's index, or -1 when none are left. */
  next(): number {
    if (this.size === 0) return -1;
    const h = this.heap;
    const top = h[0];
    this.size--;
    if (this.size > 0) {
      h[0] = h[this.size];
      this.siftDown(0);
    }
    return top;
  }

  *[Symbol.iterator](): Iterator<number> {
    for (let i = this.next(); i >= 0; i = this.next()) yield i;
  }

  private siftDown(pos: number): void {
    const h = this.heap;
    const n = this.size;
    const s = this.scores;
    const ids = this.ids;
    const item = h[pos];
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && before(s, ids, h[right], h[child])) child = right;
      if (!before(s, ids, h[child], item)) break;
      h[pos] = h[child];
      pos = child;
    }
    h[pos] = item;
  }
}

/**
 * Indices of the `k` best candidates, best first (score descending, then id ascending, then index),
 * in O(n + k log n) without sorting all `n`.
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
  const heap = new RankHeap(scores, ids);
  const m = Math.min(k, scores.length);
  const out = new Int32Array(m);
  for (let i = 0; i < m; i++) out[i] = heap.next();
  return out;
}
