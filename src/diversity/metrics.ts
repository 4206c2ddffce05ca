/**
 * Diversity metrics for evaluating a ranked list: category and creator shares at cut-offs, distinct
 * categories and creators, and intra-list similarity over embeddings.
 */
import { InvalidParameterError } from '../core/errors.js';
import { checkInt } from '../core/validate.js';
import { l2Norm } from '../core/vectors.js';
import type { Groupable, Key } from './caps.js';

/** Metrics of the first `cutoff` items of a list. */
export interface CutoffMetrics {
  cutoff: number;
  /** Items actually measured: min(cutoff, list length). */
  n: number;
  /** Largest share of any one category among the `n` items (0 when none has a category). */
  maxCategoryShare: number;
  /** The category with that share (on ties, the one that reached it first), or null. */
  topCategory: Key | null;
  /** Largest share of any one creator. */
  maxCreatorShare: number;
  topCreator: Key | null;
  distinctCategories: number;
  distinctCreators: number;
  /** Mean pairwise cosine among the `n` items (when vectors were given and n >= 2). */
  intraListSimilarity?: number;
}

/**
 * Options of {@link diversityMetrics}.
 *
 * @example
 * diversityMetrics(list, { cutoffs: [20, 50, 100], vectorOf: (item) => embeddings.get(item.id) });
 */
export interface MetricsOptions<T> {
  /** Cut-offs to measure at. @default [20, 50, 100] */
  cutoffs?: number[];
  /** An item's embedding, for intra-list similarity (items without one are left out of the pairs). */
  vectorOf?: (item: T, position: number) => ArrayLike<number> | undefined;
}

/**
 * Category and creator shares, distinct counts and (optionally) intra-list similarity at each cut-off.
 *
 * @throws {InvalidParameterError} when a cut-off is not an integer >= 1
 * @example
 * const [at20, at50, at100] = diversityMetrics(feed.items);
 * at100.maxCategoryShare; // e.g. 0.31
 */
export function diversityMetrics<T extends Groupable>(list: readonly T[], options: MetricsOptions<T> = {}): CutoffMetrics[] {
  if (!Array.isArray(list)) throw new InvalidParameterError('list', 'an array', list);
  const cutoffs = options.cutoffs ?? [20, 50, 100];
  if (!Array.isArray(cutoffs)) throw new InvalidParameterError('cutoffs', 'an array of integers >= 1', cutoffs);
  cutoffs.forEach((c, i) => checkInt(`cutoffs[${i}]`, c, 1));
  return cutoffs.map((cutoff) => {
    const n = Math.min(cutoff, list.length);
    const items = list.slice(0, n);
    const cat = topShare(items.map((x) => x.category));
    const cre = topShare(items.map((x) => x.creator));
    const m: CutoffMetrics = {
      cutoff, n,
      maxCategoryShare: cat.share, topCategory: cat.key, maxCreatorShare: cre.share, topCreator: cre.key,
      distinctCategories: cat.distinct, distinctCreators: cre.distinct,
    };
    if (options.vectorOf) {
      const vecs: ArrayLike<number>[] = [];
      items.forEach((it, p) => { const v = options.vectorOf!(it, p); if (v) vecs.push(v); });
      if (vecs.length >= 2) m.intraListSimilarity = intraListSimilarity(vecs);
    }
    return m;
  });
}

function topShare(keys: (Key | null | undefined)[]): { share: number; key: Key | null; distinct: number } {
  const counts = new Map<Key, number>();
  let best: Key | null = null;
  let bestC = 0;
  for (const k of keys) {
    if (k === undefined || k === null) continue;
    const c = (counts.get(k) ?? 0) + 1;
    counts.set(k, c);
    if (c > bestC) { bestC = c; best = k; }
  }
  return { share: keys.length > 0 ? bestC / keys.length : 0, key: best, distinct: counts.size };
}

/**
 * Mean cosine similarity over all pairs of vectors (0 for zero vectors).
 *
 * @throws {InvalidParameterError} with fewer than 2 vectors or vectors of different lengths
 * @example
 * intraListSimilarity([[1, 0], [1, 0], [0, 1]]); // (1 + 0 + 0) / 3
 */
export function intraListSimilarity(vectors: readonly ArrayLike<number>[]): number {
  if (!Array.isArray(vectors) || vectors.length < 2) throw new InvalidParameterError('vectors', 'at least 2 vectors', vectors);
  const dim = vectors[0].length;
  const norms = vectors.map((v, i) => {
    if (v.length !== dim) throw new InvalidParameterError(`vectors[${i}].length`, `equal to vectors[0].length (${dim})`, v.length);
    return l2Norm(v);
  });
  let sum = 0;
  let pairs = 0;
  for (let a = 0; a < vectors.length; a++) {
    for (let b = a + 1; b < vectors.length; b++) {
      const va = vectors[a];
      const vb = vectors[b];
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += va[d] * vb[d];
      const den = norms[a] * norms[b];
      sum += den > 0 ? dot / den : 0;
      pairs++;
    }
  }
  return sum / pairs;
}
