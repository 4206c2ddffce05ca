/**
 * Maximal marginal relevance (Carbonell & Goldstein, 1998) over embeddings: repeatedly pick the candidate
 * maximising `λ·relevance − (1 − λ)·max cosine to the already picked`. O(limit · n · dim) with a running
 * max-similarity per candidate; apply it to a pre-cut pool (a few hundred) rather than to 10,000 candidates.
 */
import { DimensionMismatchError, InvalidParameterError } from '../core/errors.js';
import { checkInt, checkNumber, firstNonFinite } from '../core/validate.js';
import { normalizeRows } from '../core/vectors.js';

/** Unit-normalised copy of row-major vectors (zero rows stay zero); the core helper, re-exported. */
export { normalizeRows };

/**
 * Options of {@link mmr}.
 *
 * @example
 * mmr(relevance, vectors, 256, { lambda: 0.7, limit: 50 });
 */
export interface MmrOptions {
  /** Trade-off in [0, 1]: 1 = pure relevance order, 0 = pure novelty. @default 0.7 */
  lambda?: number;
  /** Most results. @default 100 */
  limit?: number;
  /** Whether the vectors are already unit length (skips normalising a copy). @default false */
  normalized?: boolean;
}

/** Result of {@link mmr}. */
export interface MmrResult {
  /** Candidate indices in pick order. */
  selected: number[];
  /** The MMR objective of each pick when it was made. */
  gains: Float64Array;
}

/**
 * Greedy MMR selection. Ties go to the lower index.
 *
 * @param relevance one finite relevance per candidate (e.g. blended scores in [0, 1])
 * @param vectors row-major embeddings, `relevance.length × dim`
 * @param dim embedding dimension
 * @throws {InvalidParameterError} for bad options or non-finite relevance/vectors; {@link DimensionMismatchError} when sizes disagree
 * @example
 * const rel = new Float64Array([1, 0.99, 0.5]);
 * const vecs = new Float32Array([1, 0, 1, 0, 0, 1]);   // items 0 and 1 identical
 * mmr(rel, vecs, 2, { lambda: 0.5, limit: 2 }).selected; // [0, 2]
 */
export function mmr(relevance: ArrayLike<number>, vectors: Float32Array, dim: number, options: MmrOptions = {}): MmrResult {
  const lambda = checkNumber('lambda', options.lambda ?? 0.7, 0, 1);
  const limit = checkInt('limit', options.limit ?? 100, 1);
  checkInt('dim', dim, 1);
  const n = relevance.length;
  if (vectors.length !== n * dim) throw new DimensionMismatchError('vectors.length', n * dim, vectors.length);
  const bad = firstNonFinite(relevance);
  if (bad >= 0) throw new InvalidParameterError(`relevance[${bad}]`, 'a finite number', relevance[bad]);
  const badV = firstNonFinite(vectors);
  if (badV >= 0) throw new InvalidParameterError(`vectors[${badV}]`, 'a finite number', vectors[badV]);
  const v = options.normalized ? vectors : normalizeRows(vectors, dim);
  const maxSim = new Float64Array(n).fill(-Infinity);
  const taken = new Uint8Array(n);
  const m = Math.min(limit, n);
  const selected: number[] = [];
  const gains = new Float64Array(m);
  for (let step = 0; step < m; step++) {
    let best = -1;
    let bestGain = -Infinity;
    for (let i = 0; i < n; i++) {
      if (taken[i]) continue;
      const red = step === 0 ? 0 : maxSim[i];
      const g = lambda * relevance[i] - (1 - lambda) * red;
      if (g > bestGain) { bestGain = g; best = i; }
    }
    taken[best] = 1;
    selected.push(best);
    gains[step] = bestGain;
    const bo = best * dim;
    for (let i = 0; i < n; i++) {
      if (taken[i]) continue;
      const io = i * dim;
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += v[io + d] * v[bo + d];
      if (dot > maxSim[i]) maxSim[i] = dot;
    }
  }
  return { selected, gains };
}
