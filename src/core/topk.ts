/**
 * Top-k selection without sorting everything: a bounded min-heap, O(n log k). Ties are broken by the lower
 * index first, so results are deterministic.
 */

/**
 * Indices of the `k` largest finite scores, best first (ties: lower index first). Entries equal to `-Infinity`
 * or NaN are never returned, so callers exclude items by setting their score to `-Infinity`.
 *
 * @example
 * topK(Float32Array.of(0.1, 0.9, 0.5), 2); // Int32Array [1, 2]
 */
export function topK(scores: ArrayLike<number>, k: number): Int32Array {
  const n = scores.length;
  if (k <= 0 || n === 0) return new Int32Array(0);
  const heapIdx = new Int32Array(Math.min(k, n));
  const heapVal = new Float64Array(Math.min(k, n));
  let size = 0;
  const cap = heapIdx.length;
  // "a is worse than b": lower score, or equal score and higher index.
  const worse = (va: number, ia: number, vb: number, ib: number) => va < vb || (va === vb && ia > ib);
  for (let i = 0; i < n; i++) {
    const v = scores[i];
    if (!(v > -Infinity)) continue;
    if (size < cap) {
      let c = size++;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!worse(v, i, heapVal[p], heapIdx[p])) break;
        heapVal[c] = heapVal[p]; heapIdx[c] = heapIdx[p]; c = p;
      }
      heapVal[c] = v; heapIdx[c] = i;
    } else if (worse(heapVal[0], heapIdx[0], v, i)) {
      let c = 0;
      for (;;) {
        const l = 2 * c + 1;
        if (l >= size) break;
        const r = l + 1;
        const m = r < size && worse(heapVal[r], heapIdx[r], heapVal[l], heapIdx[l]) ? r : l;
        if (!worse(heapVal[m], heapIdx[m], v, i)) break;
        heapVal[c] = heapVal[m]; heapIdx[c] = heapIdx[m]; c = m;
      }
      heapVal[c] = v; heapIdx[c] = i;
    }
  }
  const order = Array.from({ length: size }, (_, j) => j);
  order.sort((a, b) => heapVal[b] - heapVal[a] || heapIdx[a] - heapIdx[b]);
  const out = new Int32Array(size);
  for (let j = 0; j < size; j++) out[j] = heapIdx[order[j]];
  return out;
}
