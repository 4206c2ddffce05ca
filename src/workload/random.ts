/**
 * The random laws of the traffic generator: Poisson counts, the heavy-tailed repin-count law
 * (Poisson–lognormal), binomial thinning and Zipf (power-law) weights. Every draw goes through a seeded
 * {@link Rng}, so the same seed gives the same numbers on every machine.
 */
import type { Rng } from '../core/rng.js';
import { checkInt, checkNumber } from '../core/validate.js';

/** Coefficients of the Stirling series of log Γ (as in NumPy's `loggam`). */
const STIRLING = [
  8.333333333333333e-02, -2.777777777777778e-03, 7.936507936507937e-04, -5.952380952380952e-04, 8.417508417508418e-04,
  -1.917526917526918e-03, 6.410256410256410e-03, -2.955065359477124e-02, 1.796443723688307e-01, -1.39243221690590e+00,
];

/** log Γ(x) for x > 0 (Stirling series, shifted up to x ≥ 7 by the recurrence). */
export function logGamma(x: number): number {
  if (x === 1 || x === 2) return 0;
  let x0 = x;
  let n = 0;
  if (x < 7) {
    n = Math.floor(7 - x);
    x0 = x + n;
  }
  const x2 = 1 / (x0 * x0);
  let gl0 = STIRLING[9];
  for (let k = 8; k >= 0; k--) gl0 = gl0 * x2 + STIRLING[k];
  let gl = gl0 / x0 + 0.5 * 1.8378770664093453 + (x0 - 0.5) * Math.log(x0) - x0;
  for (let k = 1; k <= n; k++) {
    gl -= Math.log(x0 - 1);
    x0 -= 1;
  }
  return gl;
}

/**
 * A Poisson(λ) count. Exact for every λ: multiplication of uniforms for λ < 10, Hörmann's transformed
 * rejection (PTRS, 1993) above, so a draw costs O(1) however large λ is.
 *
 * @param lambda the mean, finite and ≥ 0
 * @throws {InvalidParameterError} for a negative, NaN or infinite λ
 * @example
 * samplePoisson(new Rng(1), 15); // e.g. 13
 */
export function samplePoisson(rng: Rng, lambda: number): number {
  if (!(lambda > 0)) {
    if (lambda === 0) return 0;
    checkNumber('lambda', lambda, 0);
  }
  if (lambda < 10) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let prod = rng.next();
    while (prod > limit) {
      k++;
      prod *= rng.next();
    }
    return k;
  }
  if (!Number.isFinite(lambda)) checkNumber('lambda', lambda, 0);
  const slam = Math.sqrt(lambda);
  const loglam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rng.next() - 0.5;
    const v = rng.next();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - logGamma(k + 1)) return k;
  }
}

/**
 * The heavy-tailed law of a pin's repin count: Poisson–lognormal. The pin's latent appeal Λ is lognormal,
 * `Λ = exp(μ + σ·Z)` with `μ = ln(mean) − σ²/2` (so E[Λ] = `mean`), and the count is Poisson(Λ). Hence
 * E[count] = `mean` exactly, Var = mean + mean²·(e^{σ²} − 1), and the tail is lognormal: with the defaults
 * (mean 15, σ 1.5) a quarter of pins get 0–1 repins, the median is 5, and about 2 pins in 10,000 get more
 * than 1,000 (the 99.99th percentile of appeal is ~80× the mean).
 *
 * @param mean E[count], finite and ≥ 0. @default 15
 * @param sigma σ of log Λ in [0, 10], the heaviness of the tail (0: plain Poisson). @default 1.5
 * @throws {InvalidParameterError} for a bad mean or sigma
 * @example
 * const rng = new Rng(7);
 * const counts = Array.from({ length: 5 }, () => sampleRepinCount(rng)); // e.g. [3, 0, 41, 9, 2]
 */
export function sampleRepinCount(rng: Rng, mean = 15, sigma = 1.5): number {
  if (!(mean > 0 && mean < Infinity)) {
    if (mean === 0) return 0;
    checkNumber('mean', mean, 0);
  }
  if (!(sigma >= 0 && sigma <= 10)) checkNumber('sigma', sigma, 0, 10);
  const lambda = Math.exp(Math.log(mean) - 0.5 * sigma * sigma + sigma * rng.normal());
  return samplePoisson(rng, lambda);
}

/** A Binomial(n, p) count by n Bernoulli trials (n is a pin's repin count: small). */
export function sampleBinomial(rng: Rng, n: number, p: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return n;
  let k = 0;
  for (let i = 0; i < n; i++) if (rng.next() < p) k++;
  return k;
}

/** An exponential delay with the given mean (0 → 0). */
export function sampleExponential(rng: Rng, mean: number): number {
  return mean > 0 ? -Math.log(1 - rng.next()) * mean : 0;
}

/**
 * Zipf (power-law) weights `1 / (rank + 1)^exponent` for ranks 0..n−1, normalised to sum 1: rank 0 is the
 * most popular. Exponent 0 is uniform.
 *
 * @throws {InvalidParameterError} unless n is an integer ≥ 1 and the exponent a finite number ≥ 0
 *
 * @example
 * zipfWeights(3, 1); // Float64Array [0.545, 0.273, 0.182]
 */
export function zipfWeights(n: number, exponent: number): Float64Array {
  checkInt('n', n, 1);
  checkNumber('exponent', exponent, 0);
  const w = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    w[i] = exponent === 0 ? 1 : Math.pow(i + 1, -exponent);
    sum += w[i];
  }
  for (let i = 0; i < n; i++) w[i] /= sum;
  return w;
}

/**
 * Index of the first entry of the cumulative array `cdf[lo..hi)` that is > `u` (binary search); `hi − 1`
 * when none is (rounding at the top).
 */
export function searchCdf(cdf: Float64Array, u: number, lo = 0, hi = cdf.length): number {
  let a = lo;
  let b = hi - 1;
  while (a < b) {
    const m = (a + b) >>> 1;
    if (cdf[m] > u) b = m;
    else a = m + 1;
  }
  return a;
}
