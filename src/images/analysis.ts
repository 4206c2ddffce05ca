/**
 * Visual analysis of a pin's image: a palette of dominant colours (seeded k-means in CIELAB), brightness,
 * contrast, sharpness, noise, JPEG blockiness, colourfulness, clipping — and a quality score in [0, 1] that
 * combines them: the `quality` signal of the ranking blend.
 *
 * Everything is measured on the image scaled so that its longer side is at most `analysisSize` (512 px), so
 * the figures do not depend on the upload's resolution; blockiness needs the 8×8 JPEG grid and is measured
 * only when the pixels are the JPEG's own (not resampled).
 */
import sharp from 'sharp';
import { InvalidParameterError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { checkInt } from '../core/validate.js';
import type { RawImage } from './renditions.js';
import { decodeWorking } from './renditions.js';
import { type ImageLimits, type ImageSource, type SourceImage, openImage, withinBudget } from './source.js';
import { isSourceImage } from './renditions.js';

/** One palette colour. */
export interface PaletteColour {
  /** `#rrggbb`. */
  hex: string;
  rgb: [number, number, number];
  /** CIELAB (D65): L in [0, 100]. */
  lab: [number, number, number];
  /** Share of the image's pixels nearest to this colour, in (0, 1]; the palette's shares sum to 1. */
  share: number;
}

/**
 * What {@link analyzeImage} measures. Every figure is finite.
 *
 * @example
 * const a = await analyzeImage('photo.jpg');
 * a.quality;         // 0.83
 * a.palette[0].hex;  // '#e8e4dc' (the dominant colour)
 */
export interface ImageAnalysis {
  width: number;
  height: number;
  /** Palette, largest share first (at most `paletteSize` colours; fewer for images with fewer colours). */
  palette: PaletteColour[];
  /** `palette[0].hex`. */
  dominant: string;
  /** Mean luminance (Rec. 709 weights on the sRGB values) in [0, 1]. */
  brightness: number;
  /** RMS contrast: the standard deviation of luminance, in [0, 0.5]. */
  contrast: number;
  /**
   * Variance of the Laplacian of the luminance (0–255 scale) with the part that noise explains removed
   * (`laplacianVariance − 20·noise²`, since the 4-neighbour Laplacian multiplies white-noise variance by 20), ≥ 0.
   */
  sharpness: number;
  /** Raw variance of the Laplacian (0–255 scale), noise included. */
  laplacianVariance: number;
  /** Estimated standard deviation of pixel noise on the 0–255 scale (Immerkær's mask, median-based: robust to edges). */
  noise: number;
  /**
   * JPEG blockiness: mean luminance step across the 8-pixel grid over the mean step inside blocks (1 = no
   * visible blocks); 1 when the pixels were resampled or the image is not a JPEG.
   */
  blockiness: number;
  /** Hasler & Süsstrunk colourfulness (0 for grey; ~100 very colourful). */
  colourfulness: number;
  /** Share of pixels with luminance ≥ 0.98. */
  clippedHighlights: number;
  /** Share of pixels with luminance ≤ 0.02. */
  clippedShadows: number;
  /**
   * Tonal range used: the mean over R, G, B of the entropy, in bits (0–8), of the channel's 256-level
   * histogram after a 3×3 median filter. Any exposure change (a non-decreasing tone curve: darkening,
   * brightening into clipped highlights) can only lower it — the median commutes with the curve, and a
   * function of a variable never has more entropy than the variable; the median keeps isolated noise and
   * JPEG ringing from counting as tones.
   */
  tonalRange: number;
  /** The combined score in [0, 1]; see {@link qualityScore}. */
  quality: number;
  /** Each factor of the quality score, in [0, 1]. */
  qualityFactors: QualityFactors;
}

/** The factors {@link qualityScore} multiplies. */
export interface QualityFactors {
  sharpness: number;
  noise: number;
  blockiness: number;
  exposure: number;
}

/** Options of {@link analyzeImage}. */
export interface AnalysisOptions {
  /** Colours in the palette (k of the k-means). @default 5 */
  paletteSize?: number;
  /** Seed of the palette's k-means. @default 0 */
  seed?: number;
  /** The longer side, in pixels, at which the image is measured. @default 512 */
  analysisSize?: number;
  /** Limits when `input` is not opened yet. */
  limits?: ImageLimits;
}

// Reference points of the quality factors: where each factor is 1/2. They are perceptual anchors, not fitted
// to a collection (see docs/images.md):
/** Contrast-relative sharpness `sharpness / (255·contrast)²` of a just-acceptably sharp photo. */
export const SHARPNESS_HALF = 0.02;
/** Noise-to-contrast ratio `noise / (255·contrast)` at which grain is plainly visible. */
export const NOISE_HALF = 0.1;
/** Blockiness excess (ratio − 1) at which 8×8 blocks are plainly visible. */
export const BLOCKINESS_HALF = 0.35;
/** Tonal range (bits) at which a photo looks posterised or washed out: 2^6 = 64 effective levels per channel. */
export const TONES_HALF = 6;

/**
 * The documented quality score: the geometric mean of four factors, each in (0, 1) and 1/2 at its reference
 * point —
 * - sharpness, relative to contrast so that brightening or darkening alone does not change it:
 *   `r / (r + SHARPNESS_HALF)` with `r = sharpness / (255·contrast)²`;
 * - noise, relative to contrast (the inverse of a signal-to-noise ratio): `1 / (1 + (ν / NOISE_HALF)²)` with
 *   `ν = noise / (255·contrast)`;
 * - blockiness: `1 / (1 + (blockiness − 1)⁺ / BLOCKINESS_HALF)`;
 * - exposure, by the tones the image keeps: `2^t / (2^t + 2^TONES_HALF)` with `t` = {@link ImageAnalysis.tonalRange}.
 *   Clipping as such is not penalised (a white product background is "clipped" and loses nothing); clipping
 *   that merges tones lowers `t`.
 *
 * More blur, more noise, stronger JPEG compression, darker or brighter exposure each lower one factor and
 * leave the others about where they were, so the score falls with each degradation.
 *
 * @example
 * qualityScore({ sharpness: 400, contrast: 0.2, noise: 1.5, blockiness: 1, tonalRange: 7.2 }).quality; // ≈ 0.87
 */
export function qualityScore(m: Pick<ImageAnalysis, 'sharpness' | 'noise' | 'blockiness' | 'tonalRange' | 'contrast'>): { quality: number; factors: QualityFactors } {
  const c = 255 * m.contrast;
  const rel = c > 1e-6 ? m.sharpness / (c * c) : 0;
  const sharp = rel / (rel + SHARPNESS_HALF);
  const nsr = c > 1e-6 ? m.noise / c : 1;
  const noise = 1 / (1 + (nsr / NOISE_HALF) ** 2);
  const block = 1 / (1 + Math.max(0, m.blockiness - 1) / BLOCKINESS_HALF);
  const tones = 2 ** m.tonalRange;
  const exposure = tones / (tones + 2 ** TONES_HALF);
  const factors = { sharpness: sharp, noise, blockiness: block, exposure };
  const q = Math.sqrt(Math.sqrt(sharp * noise * block * exposure));
  return { quality: Number.isFinite(q) ? Math.min(1, Math.max(0, q)) : 0, factors };
}

/**
 * Analyse an image: palette, brightness, contrast, sharpness, noise, blockiness, colourfulness and the
 * quality score.
 *
 * @param input encoded bytes, a path, an http(s) URL, an {@link openImage} result, or decoded pixels
 *   (`{ raw, native }`: `native` says the pixels are the JPEG's own, so blockiness can be measured)
 * @throws {ImageDecodeError} for unreadable, corrupt, unsupported or over-limit input
 * @example
 * const { quality, dominant, sharpness } = await analyzeImage('photo.jpg');
 */
export async function analyzeImage(input: ImageSource | SourceImage | { raw: RawImage; native?: boolean }, options: AnalysisOptions = {}): Promise<ImageAnalysis> {
  const k = checkInt('paletteSize', options.paletteSize ?? 5, 1, 32);
  const size = checkInt('analysisSize', options.analysisSize ?? 512, 16, 4096);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new InvalidParameterError('seed', 'a safe integer', seed);
  let raw: RawImage;
  let native: boolean;
  let img: SourceImage | undefined;
  if (typeof input === 'object' && input !== null && 'raw' in input && !Buffer.isBuffer(input) && !(input instanceof URL) && !(input instanceof Uint8Array)) {
    raw = input.raw;
    native = input.native === true;
  } else {
    img = isSourceImage(input) ? input : await openImage(input as ImageSource, options.limits);
    raw = await decodeWorking(img);
    native = img.format === 'jpeg' && img.orientation === 1;
  }
  const work = async () => analyzeRaw(raw, native, k, size, seed);
  return img ? withinBudget(img, work) : work();
}

async function analyzeRaw(raw: RawImage, native: boolean, k: number, size: number, seed: number): Promise<ImageAnalysis> {
  let px = raw;
  let resampled = false;
  if (Math.max(raw.width, raw.height) > size) {
    const { data, info } = await sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } })
      .resize(size, size, { fit: 'inside' }).raw().toBuffer({ resolveWithObject: true });
    px = { data, width: info.width, height: info.height, channels: info.channels as 3 | 4 };
    resampled = true;
  }
  const { width: w, height: h, channels: c, data } = px;
  const n = w * h;
  // luminance on the sRGB values (alpha composited on white)
  const Y = new Float64Array(n);
  const rgb = new Float64Array(n * 3);
  let sumY = 0;
  let sumY2 = 0;
  let hi = 0;
  let lo = 0;
  let sRg = 0, sRg2 = 0, sYb = 0, sYb2 = 0;
  for (let i = 0; i < n; i++) {
    let r = data[i * c], g = data[i * c + 1], b = data[i * c + 2];
    if (c === 4) {
      const a = data[i * c + 3] / 255;
      r = r * a + 255 * (1 - a); g = g * a + 255 * (1 - a); b = b * a + 255 * (1 - a);
    }
    rgb[i * 3] = r; rgb[i * 3 + 1] = g; rgb[i * 3 + 2] = b;
    const y = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    Y[i] = y;
    sumY += y; sumY2 += y * y;
    if (y >= 0.98) hi++;
    if (y <= 0.02) lo++;
    const rg = r - g;
    const yb = 0.5 * (r + g) - b;
    sRg += rg; sRg2 += rg * rg; sYb += yb; sYb2 += yb * yb;
  }
  const brightness = sumY / n;
  const contrast = Math.sqrt(Math.max(0, sumY2 / n - brightness * brightness));
  const mRg = sRg / n, mYb = sYb / n;
  const colourfulness = Math.sqrt(Math.max(0, sRg2 / n - mRg * mRg) + Math.max(0, sYb2 / n - mYb * mYb)) + 0.3 * Math.sqrt(mRg * mRg + mYb * mYb);
  const { laplacianVariance, noise } = laplacianAndNoise(Y, w, h);
  const sharpness = Math.max(0, laplacianVariance - 20 * noise * noise);
  const tonalRange = tonalEntropy(rgb, w, h);
  const blockiness = native && !resampled ? blockinessOf(Y, w, h) : 1;
  const clippedHighlights = hi / n;
  const clippedShadows = lo / n;
  const palette = paletteOf(rgb, n, k, seed);
  const base = { sharpness, noise, blockiness, tonalRange, contrast };
  const { quality, factors } = qualityScore(base);
  return {
    width: raw.width, height: raw.height, palette, dominant: palette[0]?.hex ?? '#000000',
    brightness, contrast, sharpness, laplacianVariance, noise, blockiness, colourfulness,
    clippedHighlights, clippedShadows, tonalRange, quality, qualityFactors: factors,
  };
}

/** Variance of the 4-neighbour Laplacian, and Immerkær's noise σ estimated from the median |response|. */
function laplacianAndNoise(Y: Float64Array, w: number, h: number): { laplacianVariance: number; noise: number } {
  if (w < 3 || h < 3) return { laplacianVariance: 0, noise: 0 };
  let s = 0, s2 = 0, m = 0;
  const resp = new Float32Array((w - 2) * (h - 2));
  for (let y = 1; y < h - 1; y++) {
    const r = y * w;
    for (let x = 1; x < w - 1; x++) {
      const i = r + x;
      const l = 255 * (Y[i - 1] + Y[i + 1] + Y[i - w] + Y[i + w] - 4 * Y[i]);
      s += l; s2 += l * l;
      // Immerkær's mask [1 -2 1; -2 4 -2; 1 -2 1]: zero on planes and ramps, gain 6 on white noise
      const nm = 255 * (Y[i - w - 1] + Y[i - w + 1] + Y[i + w - 1] + Y[i + w + 1]
        - 2 * (Y[i - 1] + Y[i + 1] + Y[i - w] + Y[i + w]) + 4 * Y[i]);
      resp[m++] = Math.abs(nm);
    }
  }
  const mean = s / m;
  const laplacianVariance = Math.max(0, s2 / m - mean * mean);
  const med = medianInPlace(resp.subarray(0, m));
  // |N(0, 36σ²)| has median 0.6745·6σ
  const noise = med / (0.6745 * 6);
  return { laplacianVariance, noise };
}

/**
 * Mean over R, G and B of the entropy (bits) of the 256-level histogram of the channel after a 3×3 median
 * filter. The median commutes with any non-decreasing tone curve f (median(f(x)) = f(median(x))), so for an
 * exposure change the filtered image is f of the filtered original, and a function of a variable never has
 * more entropy than the variable: darkening, or brightening into clipping, can only lower this. The median
 * keeps isolated noise and JPEG ringing from counting as tones.
 */
function tonalEntropy(rgb: Float64Array, w: number, h: number): number {
  if (w < 3 || h < 3) return plainEntropy(rgb, w * h);
  let total = 0;
  const ch8 = new Uint8Array(w * h);
  const count = (w - 2) * (h - 2);
  for (let ch = 0; ch < 3; ch++) {
    for (let i = 0; i < w * h; i++) ch8[i] = rgb[i * 3 + ch]; // already integers in 0–255
    const hist = new Float64Array(256);
    for (let y = 1; y < h - 1; y++) {
      const r0 = (y - 1) * w, r1 = y * w, r2 = (y + 1) * w;
      for (let x = 1; x < w - 1; x++) {
        hist[median9(ch8[r0 + x - 1], ch8[r0 + x], ch8[r0 + x + 1], ch8[r1 + x - 1], ch8[r1 + x], ch8[r1 + x + 1], ch8[r2 + x - 1], ch8[r2 + x], ch8[r2 + x + 1])]++;
      }
    }
    total += entropyBits(hist, count);
  }
  return total / 3;
}

/** Entropy in bits of a histogram holding `count` samples. */
function entropyBits(hist: Float64Array, count: number): number {
  let H = 0;
  for (let v = 0; v < hist.length; v++) if (hist[v] > 0) { const p = hist[v] / count; H -= p * Math.log2(p); }
  return H;
}

function plainEntropy(rgb: Float64Array, n: number): number {
  let total = 0;
  for (let ch = 0; ch < 3; ch++) {
    const hist = new Float64Array(256);
    for (let i = 0; i < n; i++) hist[Math.max(0, Math.min(255, Math.round(rgb[i * 3 + ch])))]++;
    total += entropyBits(hist, n);
  }
  return total / 3;
}

/** Median of 9 values: Paeth's 19-exchange network. */
function median9(p0: number, p1: number, p2: number, p3: number, p4: number, p5: number, p6: number, p7: number, p8: number): number {
  let t: number;
  if (p1 > p2) { t = p1; p1 = p2; p2 = t; }
  if (p4 > p5) { t = p4; p4 = p5; p5 = t; }
  if (p7 > p8) { t = p7; p7 = p8; p8 = t; }
  if (p0 > p1) { t = p0; p0 = p1; p1 = t; }
  if (p3 > p4) { t = p3; p3 = p4; p4 = t; }
  if (p6 > p7) { t = p6; p6 = p7; p7 = t; }
  if (p1 > p2) { t = p1; p1 = p2; p2 = t; }
  if (p4 > p5) { t = p4; p4 = p5; p5 = t; }
  if (p7 > p8) { t = p7; p7 = p8; p8 = t; }
  if (p0 > p3) { t = p0; p0 = p3; p3 = t; }
  if (p5 > p8) { t = p5; p5 = p8; p8 = t; }
  if (p4 > p7) { t = p4; p4 = p7; p7 = t; }
  if (p3 > p6) { t = p3; p3 = p6; p6 = t; }
  if (p1 > p4) { t = p1; p1 = p4; p4 = t; }
  if (p2 > p5) { t = p2; p2 = p5; p5 = t; }
  if (p4 > p7) { t = p4; p4 = p7; p7 = t; }
  if (p4 > p2) { t = p4; p4 = p2; p2 = t; }
  if (p6 > p4) { t = p6; p6 = p4; p4 = t; }
  if (p4 > p2) { t = p4; p4 = p2; p2 = t; }
  return p4;
}

/** The median of `a` (the mean of the two middle values for an even length), reordering `a`: Hoare's selection, O(n). */
export function medianInPlace(a: Float32Array): number {
  const n = a.length;
  if (n === 0) return 0;
  const k = (n - 1) >> 1;
  select(a, k);
  if (n % 2) return a[k];
  let next = Infinity;
  for (let i = k + 1; i < n; i++) if (a[i] < next) next = a[i];
  return 0.5 * (a[k] + next);
}

/** Reorder `a` so that `a[k]` is its k-th smallest, smaller-or-equal values before it and larger-or-equal after. */
function select(a: Float32Array, k: number): void {
  let lo = 0, hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/** Mean absolute luminance step across the 8-px grid over the mean step elsewhere (both directions). */
function blockinessOf(Y: Float64Array, w: number, h: number): number {
  if (w < 16 || h < 16) return 1;
  let edge = 0, ne = 0, inner = 0, ni = 0;
  for (let y = 0; y < h; y++) {
    const r = y * w;
    for (let x = 0; x < w - 1; x++) {
      const d = Math.abs(Y[r + x + 1] - Y[r + x]);
      if ((x & 7) === 7) { edge += d; ne++; } else { inner += d; ni++; }
    }
  }
  for (let y = 0; y < h - 1; y++) {
    const r = y * w;
    const onGrid = (y & 7) === 7;
    for (let x = 0; x < w; x++) {
      const d = Math.abs(Y[r + w + x] - Y[r + x]);
      if (onGrid) { edge += d; ne++; } else { inner += d; ni++; }
    }
  }
  const a = edge / Math.max(1, ne);
  const b = inner / Math.max(1, ni);
  return b > 1e-9 ? a / b : 1;
}

// --- colour: sRGB → CIELAB (D65) -------------------------------------------------------------------

const LIN = new Float64Array(256);
for (let v = 0; v < 256; v++) {
  const c = v / 255;
  LIN[v] = c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

function f(t: number): number {
  return t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116;
}

/** sRGB (0–255) to CIELAB under D65. */
export function srgbToLab(r: number, g: number, b: number): [number, number, number] {
  const R = LIN[Math.max(0, Math.min(255, Math.round(r)))];
  const G = LIN[Math.max(0, Math.min(255, Math.round(g)))];
  const B = LIN[Math.max(0, Math.min(255, Math.round(b)))];
  const X = (0.4124564 * R + 0.3575761 * G + 0.1804375 * B) / 0.95047;
  const Yv = 0.2126729 * R + 0.7151522 * G + 0.0721750 * B;
  const Z = (0.0193339 * R + 0.1191920 * G + 0.9503041 * B) / 1.08883;
  const fx = f(X), fy = f(Yv), fz = f(Z);
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

/** CIELAB (D65) to sRGB 0–255 (clamped). */
export function labToSrgb(L: number, a: number, bb: number): [number, number, number] {
  const fy = (L + 16) / 116;
  const fx = fy + a / 500;
  const fz = fy - bb / 200;
  const inv = (t: number): number => (t ** 3 > 216 / 24389 ? t ** 3 : (116 * t - 16) / (24389 / 27));
  const X = inv(fx) * 0.95047, Yv = inv(fy), Z = inv(fz) * 1.08883;
  const lin = [
    3.2404542 * X - 1.5371385 * Yv - 0.4985314 * Z,
    -0.9692660 * X + 1.8760108 * Yv + 0.0415560 * Z,
    0.0556434 * X - 0.2040259 * Yv + 1.0572252 * Z,
  ];
  return lin.map((c) => {
    const v = c <= 0.0031308 ? 12.92 * c : 1.055 * Math.max(0, c) ** (1 / 2.4) - 0.055;
    return Math.max(0, Math.min(255, Math.round(v * 255)));
  }) as [number, number, number];
}

/** At most 4,096 pixels (a regular stride) clustered with seeded k-means++ in CIELAB, 20 iterations. */
function paletteOf(rgb: Float64Array, n: number, k: number, seed: number): PaletteColour[] {
  const stride = Math.max(1, Math.floor(n / 4096));
  const m = Math.floor((n - 1) / stride) + 1;
  const lab = new Float64Array(m * 3);
  for (let j = 0; j < m; j++) {
    const i = j * stride;
    const [L, a, b] = srgbToLab(rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]);
    lab[j * 3] = L; lab[j * 3 + 1] = a; lab[j * 3 + 2] = b;
  }
  const rng = new Rng(seed);
  const centres: number[][] = [];
  const d2 = new Float64Array(m).fill(Infinity);
  let pick = rng.int(m);
  for (let c = 0; c < k; c++) {
    centres.push([lab[pick * 3], lab[pick * 3 + 1], lab[pick * 3 + 2]]);
    let total = 0;
    const ctr = centres[c];
    for (let j = 0; j < m; j++) {
      const dl = lab[j * 3] - ctr[0], da = lab[j * 3 + 1] - ctr[1], db = lab[j * 3 + 2] - ctr[2];
      const d = dl * dl + da * da + db * db;
      if (d < d2[j]) d2[j] = d;
      total += d2[j];
    }
    if (total <= 1e-9) break; // fewer distinct colours than k
    let r = rng.next() * total;
    pick = m - 1;
    for (let j = 0; j < m; j++) { r -= d2[j]; if (r <= 0) { pick = j; break; } }
  }
  const kk = centres.length;
  const assign = new Int32Array(m);
  for (let it = 0; it < 20; it++) {
    const sums = new Float64Array(kk * 4);
    let moved = 0;
    for (let j = 0; j < m; j++) {
      let best = 0, bd = Infinity;
      for (let c = 0; c < kk; c++) {
        const ctr = centres[c];
        const dl = lab[j * 3] - ctr[0], da = lab[j * 3 + 1] - ctr[1], db = lab[j * 3 + 2] - ctr[2];
        const d = dl * dl + da * da + db * db;
        if (d < bd) { bd = d; best = c; }
      }
      if (assign[j] !== best) moved++;
      assign[j] = best;
      sums[best * 4] += lab[j * 3]; sums[best * 4 + 1] += lab[j * 3 + 1]; sums[best * 4 + 2] += lab[j * 3 + 2]; sums[best * 4 + 3]++;
    }
    for (let c = 0; c < kk; c++) {
      const cnt = sums[c * 4 + 3];
      if (cnt > 0) centres[c] = [sums[c * 4] / cnt, sums[c * 4 + 1] / cnt, sums[c * 4 + 2] / cnt];
    }
    if (it > 0 && moved === 0) break;
  }
  const counts = new Float64Array(kk);
  for (let j = 0; j < m; j++) counts[assign[j]]++;
  const out: PaletteColour[] = [];
  for (let c = 0; c < kk; c++) {
    if (counts[c] === 0) continue;
    const [L, a, b] = centres[c];
    const rgbC = labToSrgb(L, a, b);
    out.push({ hex: `#${rgbC.map((v) => v.toString(16).padStart(2, '0')).join('')}`, rgb: rgbC, lab: [L, a, b], share: counts[c] / m });
  }
  out.sort((x, y) => y.share - x.share || x.hex.localeCompare(y.hex));
  return out;
}
