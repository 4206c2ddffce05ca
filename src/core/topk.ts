/**
 * The one top-k selector of the library: binary heaps over (value, index) entries with a configurable
 * direction and tie-break, without sorting everything.
 *
 * - {@link TopKHeap}: bounded, keeps the `k` best entries pushed so far, O(n log k) (ANN exact scans,
 *   collaborative-filtering recommendations, evaluation, neighbour lists).
 * - {@link BestFirstHeap}: lazy, heapifies all `n` entries in O(n) and yields them best-first in O(log n) each
 *   (re-ranking, which does not know in advance how many candidates the caps will consume).
 * - {@link topK}: indices of the `k` largest scores, built on {@link TopKHeap}.
 *
 * Ranking order: better value first (higher for `'max'`, lower for `'min'`); equal values (`0` and `-0` are
 * equal) by the tie-break comparator, and where that gives 0 (or there is none), by the lower index. The order
 * is total, so results are deterministic and do not depend on the push order.
 *
 * Internally both heaps store a key `±value` (negation is exact, so values come back bit-identical) and the
 * index; the tie-break comparator is only called on exactly equal keys, never per element.
 */

/** Which end of the values is best: `'max'` (scores) or `'min'` (distances). */
export type TopKDirection = 'max' | 'min';

/**
 * Tie-break between the indices `a` and `b` of two entries with equal values: negative when `a` ranks first,
 * positive when `b` does; 0 falls back to the lower index.
 */
export type TieBreak = (a: number, b: number) => number;

/** Options of {@link TopKHeap} and {@link BestFirstHeap}. */
export interface HeapOrder {
  /** @default 'max' */
  direction?: TopKDirection;
  /** Tie-break for equal values. @default lower index first */
  tie?: TieBreak;
}

// Shared heap primitives. The root is the entry that is "first": larger key; on equal keys the comparator
// (tie, then index) multiplied by `tieSign` is negative.

function first(ka: number, ia: number, kb: number, ib: number, tieSign: number, tie: TieBreak | undefined): boolean {
  if (ka !== kb) return ka > kb;
  const c = tie === undefined ? ia - ib : tie(ia, ib) || ia - ib;
  return tieSign * c < 0;
}

/** Place (k, i) at `pos` or below it in a heap of `n` entries. */
function siftDown(key: Float64Array, idx: Int32Array, n: number, pos: number, k: number, i: number, tieSign: number, tie: TieBreak | undefined): void {
  for (;;) {
    let c = 2 * pos + 1;
    if (c >= n) break;
    const r = c + 1;
    if (r < n && first(key[r], idx[r], key[c], idx[c], tieSign, tie)) c = r;
    if (!first(key[c], idx[c], k, i, tieSign, tie)) break;
    key[pos] = key[c]; idx[pos] = idx[c];
    pos = c;
  }
  key[pos] = k; idx[pos] = i;
}

/** Place (k, i) at `pos` or above it. */
function siftUp(key: Float64Array, idx: Int32Array, pos: number, k: number, i: number, tieSign: number, tie: TieBreak | undefined): void {
  while (pos > 0) {
    const p = (pos - 1) >> 1;
    if (!first(k, i, key[p], idx[p], tieSign, tie)) break;
    key[pos] = key[p]; idx[pos] = idx[p];
    pos = p;
  }
  key[pos] = k; idx[pos] = i;
}

/**
 * Bounded top-k selector: keeps the `k` best (value, index) entries pushed so far. Its root is the worst
 * entry held, so rejecting an entry costs one comparison. NaN values are ignored; everything else (infinities
 * included) competes normally, so callers that exclude items filter them before pushing (see {@link topK}).
 *
 * @example
 * const h = new TopKHeap(2, { direction: 'min' });       // two smallest distances
 * h.push(0.5, 7); h.push(0.1, 3); h.push(0.5, 2);
 * h.entries(); // { indices: Int32Array [3, 2], values: Float64Array [0.1, 0.5] }
 */
export class TopKHeap {
  /** Capacity. */
  readonly k: number;
  readonly direction: TopKDirection;
  private readonly key: Float64Array;
  private readonly idx: Int32Array;
  /** key = sign · value, so that the root (largest key) is the worst entry. */
  private readonly sign: number;
  private readonly tie: TieBreak | undefined;
  private n = 0;

  /** @param k capacity (an integer >= 0; 0 keeps nothing) */
  constructor(k: number, options: HeapOrder = {}) {
    this.k = Math.max(0, Math.floor(k)) || 0;
    this.direction = options.direction ?? 'max';
    this.sign = this.direction === 'max' ? -1 : 1;
    this.tie = options.tie;
    this.key = new Float64Array(this.k);
    this.idx = new Int32Array(this.k);
  }

  /** Number of entries held. */
  get size(): number {
    return this.n;
  }

  /**
   * The worst value held once full; while not full, the worst possible value (`-Infinity` for `'max'`,
   * `Infinity` for `'min'`). A value strictly worse than the bound cannot enter. With `k = 0`, the best
   * possible value (nothing enters).
   */
  get bound(): number {
    if (this.k === 0) return -this.sign * Infinity;
    return this.n < this.k ? this.sign * Infinity : this.sign * this.key[0];
  }

  /** Forget every entry (the capacity stays). */
  clear(): void {
    this.n = 0;
  }

  /** Offer an entry; returns whether it is now held (among the `k` best so far). NaN is never held. */
  push(value: number, index: number): boolean {
    const kv = this.sign * value;
    if (this.n === this.k) {
      // Full: the hot path is rejecting an entry that ranks after the root (the worst held); kept small so
      // that it inlines into the caller's loop.
      if (this.k === 0 || !(kv <= this.key[0])) return false; // nothing is kept, or worse, or NaN
      return this.replaceRoot(kv, index);
    }
    if (kv !== kv) return false;
    siftUp(this.key, this.idx, this.n++, kv, index, -1, this.tie);
    return true;
  }

  /** Replace the root by (kv, index) when that ranks before it (equal keys: tie, then index). */
  private replaceRoot(kv: number, index: number): boolean {
    const key = this.key;
    const idx = this.idx;
    if (kv === key[0]) {
      const i0 = idx[0];
      const tie = this.tie;
      const c = tie === undefined ? index - i0 : tie(index, i0) || index - i0;
      if (c >= 0) return false;
    }
    siftDown(key, idx, this.n, 0, kv, index, -1, this.tie);
    return true;
  }

  /** The held entries, best first (the heap is left as it is). */
  entries(): { indices: Int32Array; values: Float64Array } {
    const n = this.n;
    const key = this.key.slice(0, n);
    const idx = this.idx.slice(0, n);
    const indices = new Int32Array(n);
    const values = new Float64Array(n);
    // Pop the worst entry into the last free slot until the copy is empty.
    for (let m = n; m > 0; m--) {
      indices[m - 1] = idx[0];
      values[m - 1] = this.sign * key[0];
      if (m > 1) siftDown(key, idx, m - 1, 0, key[m - 1], idx[m - 1], -1, this.tie);
    }
    return { indices, values };
  }

  /** The held indices, best first. */
  indices(): Int32Array {
    return this.entries().indices;
  }
}

/**
 * Lazy best-first order over `n` entries: heapified in O(n), each {@link BestFirstHeap.next} costs O(log n),
 * so taking the first few hundred of many thousands never sorts them all. Values must not be NaN.
 *
 * @example
 * const h = new BestFirstHeap(Float64Array.of(0.2, 0.9, 0.5));
 * [...h]; // [1, 2, 0]
 */
export class BestFirstHeap implements Iterable<number> {
  private readonly key: Float64Array;
  private readonly idx: Int32Array;
  private readonly tie: TieBreak | undefined;
  private n: number;

  /**
   * @param values one value per index
   * @param options direction and tie-break
   * @param subset optional indices to order instead of all `0..values.length-1`
   */
  constructor(values: ArrayLike<number>, options: HeapOrder = {}, subset?: ArrayLike<number>) {
    const n = subset ? subset.length : values.length;
    const sign = (options.direction ?? 'max') === 'max' ? 1 : -1;
    this.tie = options.tie;
    this.key = new Float64Array(n);
    this.idx = new Int32Array(n);
    if (subset) for (let i = 0; i < n; i++) { const j = subset[i]; this.idx[i] = j; this.key[i] = sign * values[j]; }
    else for (let i = 0; i < n; i++) { this.idx[i] = i; this.key[i] = sign * values[i]; }
    this.n = n;
    for (let i = (n >> 1) - 1; i >= 0; i--) siftDown(this.key, this.idx, n, i, this.key[i], this.idx[i], 1, this.tie);
  }

  /** Entries not yet returned. */
  get remaining(): number {
    return this.n;
  }

  /** The next best entry's index, or -1 when none are left. */
  next(): number {
    if (this.n === 0) return -1;
    const { key, idx } = this;
    const top = idx[0];
    const n = --this.n;
    if (n > 0) siftDown(key, idx, n, 0, key[n], idx[n], 1, this.tie);
    return top;
  }

  *[Symbol.iterator](): Iterator<number> {
    for (let i = this.next(); i >= 0; i = this.next()) yield i;
  }
}

/**
 * Indices of the `k` largest finite scores, best first (ties: lower index first). Entries equal to `-Infinity`
 * or NaN are never returned, so callers exclude items by setting their score to `-Infinity` — or by marking
 * them in `exclude` (any nonzero entry skips that index). `k <= 0` or no scores gives an empty result; `k`
 * larger than the number of eligible scores returns all of them.
 *
 * @example
 * topK(Float32Array.of(0.1, 0.9, 0.5), 2); // Int32Array [1, 2]
 * topK(Float32Array.of(0.1, 0.9, 0.5), 2, Uint8Array.of(0, 1, 0)); // Int32Array [2, 0]
 */
export function topK(scores: ArrayLike<number>, k: number, exclude?: ArrayLike<number>): Int32Array {
  const n = scores.length;
  if (!(k >= 1) || n === 0) return new Int32Array(0);
  const heap = new TopKHeap(Math.min(k, n));
  if (exclude === undefined) {
    for (let i = 0; i < n; i++) {
      const v = scores[i];
      if (v > -Infinity) heap.push(v, i);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = scores[i];
      if (v > -Infinity && !exclude[i]) heap.push(v, i);
    }
  }
  return heap.indices();
}
