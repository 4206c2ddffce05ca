/**
 * How each signal becomes a number in [0, 1] before blending, and the blend itself.
 *
 * | signal | rule |
 * |---|---|
 * | similarity, metric `'cosine'` (default) | `similarity` is a cosine in [-1, 1] (±1e-6 tolerated, then clamped); otherwise `1 - distance` with `distance` in [0, 2]. Negative cosines become 0 ("unrelated" carries no relevance). |
 * | similarity, metric `'ip'` | raw inner product = `similarity`, or `1 - distance` (hnswlib's ip distance); min–max scaled over the batch's present rows (all equal → 1). |
 * | similarity, metric `'l2'` | `similarity` must already be in [0, 1]; otherwise `1 / (1 + distance)` with `distance >= 0`. |
 * | engagement | counts: Beta-prior posterior mean `(engagements + a) / (impressions + a + b)` with `a = rate·strength`, `b = (1 - rate)·strength` (default rate 0.02, strength 100: 1 of 1 → 0.0297, 900 of 10,000 → 0.0893). Else `engagementRate` as given (cannot be smoothed). Else no evidence → the prior rate. Then, with `engagementScale: 'max'` (default), divided by the batch's largest value so the most engaging candidate gets 1; `'none'` keeps the rate. |
 * | quality | as given in [0, 1]. |
 * | missing | similarity → `missing.similarity` (default 0), quality → `missing.quality` (default 0.5), engagement → the prior rate (above). |
 *
 * Weights: finite, >= 0, not all 0; they are **normalised** to sum to 1 (never rejected for their sum),
 * so `{similarity: 3, engagement: 1, quality: 1}` equals the default `{0.6, 0.2, 0.2}` and every blended
 * score lies in [0, 1].
 */
import type { Metric } from '../core/types.js';
import { InvalidParameterError, NumericalError } from '../core/errors.js';
import { checkNumber, checkOneOf } from '../core/validate.js';
import type { CandidateBatch, NormalizedSignals, Scorer } from '../core/interfaces.js';

export type { NormalizedSignals, Scorer };

/** Blend weights (normalised to sum to 1 before use). */
export interface BlendWeights {
  similarity: number;
  engagement: number;
  quality: number;
}

/** The seed's weights: 0.6·similarity + 0.2·engagement + 0.2·quality. */
export const DEFAULT_WEIGHTS: Readonly<BlendWeights> = Object.freeze({ similarity: 0.6, engagement: 0.2, quality: 0.2 });

/** Beta prior for engagement-rate smoothing, as a mean rate and a strength in pseudo-impressions. */
export interface EngagementPrior {
  /** Prior mean engagement rate, in (0, 1). @default 0.02 */
  rate?: number;
  /** Prior strength in pseudo-impressions, > 0. @default 100 */
  strength?: number;
}

/**
 * Options for {@link normalizeSignals}.
 *
 * @example
 * const opts: SignalOptions = { metric: 'cosine', engagementPrior: { rate: 0.02, strength: 100 },
 *                               engagementScale: 'max', missing: { similarity: 0, quality: 0.5 } };
 */
export interface SignalOptions {
  /** How `similarity`/`distance` are read (table above). @default 'cosine' */
  metric?: Metric;
  /** Prior for smoothing engagement counts. @default {rate: 0.02, strength: 100} */
  engagementPrior?: EngagementPrior;
  /** `'max'`: divide smoothed rates by the batch maximum; `'none'`: keep rates. @default 'max' */
  engagementScale?: 'max' | 'none';
  /** Values in [0, 1] for missing signals. @default {similarity: 0, quality: 0.5} */
  missing?: { similarity?: number; quality?: number };
}


const COS_TOL = 1e-6;

/**
 * Smoothed engagement rate: the posterior mean of a Beta(`rate·strength`, `(1-rate)·strength`) prior
 * after `engagements` of `impressions`.
 *
 * @example
 * smoothedRate(1, 1);          // ≈ 0.0297
 * smoothedRate(900, 10000);    // ≈ 0.0893
 * smoothedRate(0, 0);          // 0.02 (the prior)
 */
export function smoothedRate(engagements: number, impressions: number, prior: EngagementPrior = {}): number {
  const { a, b } = priorParams(prior);
  checkNumber('engagements', engagements, 0);
  checkNumber('impressions', impressions, engagements);
  return (engagements + a) / (impressions + a + b);
}

function priorParams(prior: EngagementPrior = {}): { a: number; b: number; rate: number } {
  const rate = prior.rate ?? 0.02;
  const strength = prior.strength ?? 100;
  if (typeof rate !== 'number' || !(rate > 0 && rate < 1)) throw new InvalidParameterError('engagementPrior.rate', 'a number in (0, 1)', rate);
  if (typeof strength !== 'number' || !Number.isFinite(strength) || strength <= 0) {
    throw new InvalidParameterError('engagementPrior.strength', 'a finite number > 0', strength);
  }
  return { a: rate * strength, b: (1 - rate) * strength, rate };
}

/**
 * Validate blend weights and normalise them to sum to 1.
 *
 * @throws {InvalidParameterError} when a weight is missing, negative or not finite, or all are 0
 * @example
 * normalizeWeights({ similarity: 3, engagement: 1, quality: 1 }); // {similarity: 0.6, engagement: 0.2, quality: 0.2}
 */
export function normalizeWeights(weights: BlendWeights): BlendWeights {
  if (typeof weights !== 'object' || weights === null) throw new InvalidParameterError('weights', 'an object', weights);
  const s = checkNumber('weights.similarity', weights.similarity, 0);
  const e = checkNumber('weights.engagement', weights.engagement, 0);
  const q = checkNumber('weights.quality', weights.quality, 0);
  const sum = s + e + q;
  if (!(sum > 0)) throw new InvalidParameterError('weights', 'weights with a positive sum', sum);
  return { similarity: s / sum, engagement: e / sum, quality: q / sum };
}

/**
 * Turn a batch's raw signals into [0, 1] values by the rules in this file's header.
 *
 * @throws {InvalidParameterError} for bad options or a similarity/distance outside its metric's range
 * @example
 * const sig = normalizeSignals(toBatch([{ id: 1, distance: 0.2 }]), { metric: 'cosine' });
 * sig.similarity[0]; // 0.8
 */
export function normalizeSignals(batch: CandidateBatch, options: SignalOptions = {}): NormalizedSignals {
  const n = batch.n;
  const metric = checkOneOf('metric', options.metric ?? 'cosine', ['cosine', 'ip', 'l2'] as const);
  const scale = checkOneOf('engagementScale', options.engagementScale ?? 'max', ['max', 'none'] as const);
  const missSim = checkNumber('missing.similarity', options.missing?.similarity ?? 0, 0, 1);
  const missQ = checkNumber('missing.quality', options.missing?.quality ?? 0.5, 0, 1);
  const { a, b, rate } = priorParams(options.engagementPrior);

  const similarity = new Float64Array(n);
  const simCol = batch.columns.similarity;
  const distCol = batch.columns.distance;
  const simMask = simCol ? batch.present.similarity : undefined;
  const distMask = distCol ? batch.present.distance : undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    let v: number;
    if (simCol && (!simMask || simMask[i] === 1)) {
      v = simCol[i];
      if (metric === 'cosine') {
        if (v < -1 - COS_TOL || v > 1 + COS_TOL) throw new InvalidParameterError(`candidates[${i}].similarity`, 'a cosine in [-1, 1] (metric cosine)', v);
        v = v < 0 ? 0 : v > 1 ? 1 : v;
      } else if (metric === 'l2') {
        if (v < 0 || v > 1) throw new InvalidParameterError(`candidates[${i}].similarity`, 'in [0, 1] (metric l2)', v);
      }
    } else if (distCol && (!distMask || distMask[i] === 1)) {
      const d = distCol[i];
      if (metric === 'cosine') {
        if (d < -COS_TOL || d > 2 + COS_TOL) throw new InvalidParameterError(`candidates[${i}].distance`, 'a cosine distance in [0, 2]', d);
        v = 1 - d;
        v = v < 0 ? 0 : v > 1 ? 1 : v;
      } else if (metric === 'l2') {
        if (d < 0) throw new InvalidParameterError(`candidates[${i}].distance`, 'an l2 distance >= 0', d);
        v = 1 / (1 + d);
      } else {
        v = 1 - d;
      }
    } else {
      similarity[i] = Number.NaN; // marks missing until the end of this loop
      continue;
    }
    similarity[i] = v;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const ip = metric === 'ip';
  const span = hi - lo;
  for (let i = 0; i < n; i++) {
    const v = similarity[i];
    if (v !== v) similarity[i] = missSim;
    else if (ip) similarity[i] = span > 0 ? (v - lo) / span : 1;
  }

  const engagement = new Float64Array(n);
  const eCol = batch.columns.engagements;
  const iCol = batch.columns.impressions;
  const rCol = batch.columns.engagementRate;
  const eMask = eCol ? batch.present.engagements ?? null : null;
  const rMask = rCol ? batch.present.engagementRate ?? null : null;
  let emax = 0;
  if (eCol && iCol && eMask === null) {
    for (let i = 0; i < n; i++) {
      const r = (eCol[i] + a) / (iCol[i] + a + b);
      engagement[i] = r;
      if (r > emax) emax = r;
    }
  } else {
    for (let i = 0; i < n; i++) {
      let r: number;
      if (eCol && (eMask === null || eMask[i] === 1)) r = (eCol[i] + a) / (iCol![i] + a + b);
      else if (rCol && (rMask === null || rMask[i] === 1)) r = rCol[i];
      else r = rate;
      engagement[i] = r;
      if (r > emax) emax = r;
    }
  }
  if (scale === 'max' && emax > 0) for (let i = 0; i < n; i++) engagement[i] /= emax;

  const quality = new Float64Array(n);
  const qCol = batch.columns.quality;
  const qMask = qCol ? batch.present.quality : undefined;
  if (qCol && !qMask) for (let i = 0; i < n; i++) quality[i] = qCol[i];
  else for (let i = 0; i < n; i++) quality[i] = qCol && (!qMask || qMask[i] === 1) ? qCol[i] : missQ;
  return { n, similarity, engagement, quality };
}


/**
 * The seed's linear blend `w_s·similarity + w_e·engagement + w_q·quality` over normalised signals.
 *
 * @example
 * const scorer = new BlendScorer();                      // 0.6 / 0.2 / 0.2
 * const custom = new BlendScorer({ similarity: 1, engagement: 1, quality: 0 }); // 0.5 / 0.5 / 0
 */
export class BlendScorer implements Scorer {
  readonly name = 'blend';
  /** The normalised weights. */
  readonly weights: Readonly<BlendWeights>;

  /** @param weights @default {similarity: 0.6, engagement: 0.2, quality: 0.2} (normalised to sum 1) */
  constructor(weights: BlendWeights = DEFAULT_WEIGHTS) {
    this.weights = Object.freeze(normalizeWeights(weights));
  }

  score(_batch: CandidateBatch, s: NormalizedSignals, out: Float64Array): void {
    const { similarity: ws, engagement: we, quality: wq } = this.weights;
    const sim = s.similarity;
    const eng = s.engagement;
    const q = s.quality;
    for (let i = 0; i < s.n; i++) out[i] = ws * sim[i] + we * eng[i] + wq * q[i];
  }
}

/** Run `scorer` and check its output: every score finite. @throws {NumericalError} naming the row */
export function runScorer(scorer: Scorer, batch: CandidateBatch, signals: NormalizedSignals): Float64Array {
  const out = new Float64Array(batch.n);
  scorer.score(batch, signals, out);
  for (let i = 0; i < batch.n; i++) {
    if (!Number.isFinite(out[i])) throw new NumericalError(`scorer '${scorer.name}' gave a non-finite score ${out[i]} for candidate ${i}`);
  }
  return out;
}
