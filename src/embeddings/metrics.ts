/**
 * Retrieval quality by label: for each query, its k nearest neighbours by cosine similarity among all other
 * items (the query itself excluded), scored by whether they share the query's label.
 */
import { InvalidParameterError } from '../core/errors.js';
import { checkInt } from '../core/validate.js';

/** What {@link retrievalAtK} returns. */
export interface RetrievalScores {
  /** Mean over queries of (same-label items among the k neighbours) / k. */
  precision: number;
  /** Mean over queries of AP@k = Σ_{i≤k} P@i·rel_i / min(k, R), R = other items with the query's label. */
  map: number;
  /** Queries evaluated (items whose label has at least one other item). */
  queries: number;
  k: number;
}

/**
 * Precision@k and mAP@k of cosine nearest neighbours, labels as ground truth. Rows are assumed
 * L2-normalised (so the dot product is the cosine). Ties are broken by lower index. Exact, O(n²·dim).
 *
 * @param vectors row-major `n × dim`
 * @param labels one label per row
 * @param k neighbours per query
 * @param queries optional subset of row indices to use as queries (default all)
 * @example
 * retrievalAtK(vecs, 768, labels, 10).precision; // e.g. 0.64
 */
export function retrievalAtK(vectors: Float32Array, dim: number, labels: ArrayLike<string | number>, k: number, queries?: ArrayLike<number>): RetrievalScores {
  checkInt('dim', dim, 1);
  const n = labels.length;
  if (vectors.length !== n * dim) throw new InvalidParameterError('vectors', `of length labels.length*dim = ${n * dim}`, vectors.length);
  checkInt('k', k, 1, Math.max(1, n - 1));
  const count = new Map<string | number, number>();
  for (let i = 0; i < n; i++) count.set(labels[i], (count.get(labels[i]) ?? 0) + 1);
  const qs = queries ?? Array.from({ length: n }, (_, i) => i);
  const sims = new Float32Array(n);
  const topIdx = new Int32Array(k);
  const topSim = new Float32Array(k);
  let sumP = 0, sumAp = 0, used = 0;
  for (let qi = 0; qi < qs.length; qi++) {
    const q = qs[qi];
    checkInt(`queries[${qi}]`, q, 0, n - 1);
    const relTotal = (count.get(labels[q]) ?? 1) - 1;
    if (relTotal === 0) continue;
    const qo = q * dim;
    for (let i = 0; i < n; i++) {
      let s = 0;
      const o = i * dim;
      for (let j = 0; j < dim; j++) s += vectors[qo + j] * vectors[o + j];
      sims[i] = s;
    }
    // Top-k by insertion (k is small), excluding the query.
    let filled = 0;
    for (let i = 0; i < n; i++) {
      if (i === q) continue;
      const s = sims[i];
      if (filled === k && !(s > topSim[k - 1])) continue;
      let pos = filled < k ? filled++ : k - 1;
      while (pos > 0 && s > topSim[pos - 1]) { topSim[pos] = topSim[pos - 1]; topIdx[pos] = topIdx[pos - 1]; pos--; }
      topSim[pos] = s; topIdx[pos] = i;
    }
    let hits = 0, ap = 0;
    for (let r = 0; r < filled; r++) {
      if (labels[topIdx[r]] === labels[q]) { hits++; ap += hits / (r + 1); }
    }
    sumP += hits / k;
    sumAp += ap / Math.min(k, relTotal);
    used++;
  }
  return { precision: used ? sumP / used : 0, map: used ? sumAp / used : 0, queries: used, k };
}
