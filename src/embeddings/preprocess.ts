/**
 * Model input preprocessing: how decoded RGB bytes become the float tensor a CNN expects.
 */
import { InvalidParameterError } from '../core/errors.js';
import { checkInt } from '../core/validate.js';
import { checkFit, type ResizeFit } from './decode.js';

/**
 * Named normalisations of 8-bit RGB `x`:
 * - `'tf'`: `x / 127.5 - 1` (range [-1, 1]; Keras "tf" mode, MobileNet V1/V2/V3 from Keras and TF Hub)
 * - `'unit'`: `x / 255` (range [0, 1]; Darknet, nsfwjs, many TF Hub feature-vector models)
 * - `'torch'`: `(x / 255 - mean) / std` with ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)
 * - `'raw'`: `x` unchanged (range [0, 255]; EfficientNet from Keras, which rescales inside the graph)
 */
export type NormalizationName = 'tf' | 'unit' | 'torch' | 'raw';

/** Preprocessing of a model, as options. */
export interface PreprocessingOptions {
  /**
   * Side of the square model input in pixels.
   * @default 224
   */
  size?: number;
  /**
   * How the photo is fitted into the square: `'cover'` = shorter side to `size` then centre crop.
   * @default 'cover'
   */
  fit?: ResizeFit;
  /**
   * Pixel normalisation: a named preset or explicit per-channel `mean`/`std` on the [0, 1] scale.
   * @default 'tf'
   */
  normalization?: NormalizationName | { mean: [number, number, number]; std: [number, number, number] };
}

/** Fully resolved preprocessing: `value = (x / 255 - mean[c]) / std[c]`. */
export interface Preprocessing {
  size: number;
  fit: ResizeFit;
  mean: [number, number, number];
  std: [number, number, number];
  /** The preset name, or `'custom'`. */
  normalization: NormalizationName | 'custom';
}

const PRESETS: Record<NormalizationName, { mean: [number, number, number]; std: [number, number, number] }> = {
  tf: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  unit: { mean: [0, 0, 0], std: [1, 1, 1] },
  torch: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  raw: { mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1 / 255] },
};

/**
 * Validate preprocessing options and fill in defaults.
 * @example
 * resolvePreprocessing({ normalization: 'unit' }); // { size: 224, fit: 'cover', mean: [0,0,0], std: [1,1,1], ... }
 */
export function resolvePreprocessing(o: PreprocessingOptions = {}, defaults: Partial<PreprocessingOptions> = {}): Preprocessing {
  const size = checkInt('preprocessing.size', o.size ?? defaults.size ?? 224, 8, 1024);
  const fit = checkFit('preprocessing.fit', o.fit ?? defaults.fit ?? 'cover');
  const norm = o.normalization ?? defaults.normalization ?? 'tf';
  if (typeof norm === 'string') {
    const p = PRESETS[norm as NormalizationName];
    if (!p) throw new InvalidParameterError('preprocessing.normalization', "one of 'tf', 'unit', 'torch', 'raw' or {mean, std}", norm);
    return { size, fit, mean: [...p.mean], std: [...p.std], normalization: norm };
  }
  const ok = (a: unknown) => Array.isArray(a) && a.length === 3 && a.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!norm || !ok(norm.mean) || !ok(norm.std) || norm.std.some((s) => s === 0)) {
    throw new InvalidParameterError('preprocessing.normalization', 'a preset name or {mean: [r,g,b], std: [r,g,b]} with finite values and non-zero std', norm);
  }
  return { size, fit, mean: [...norm.mean], std: [...norm.std], normalization: 'custom' };
}

/**
 * Convert `n` decoded images (`n*size*size*3` bytes, RGB interleaved) to normalised floats, optionally
 * appending the horizontally mirrored copies after them (then the output holds `2n` images).
 */
export function toModelInput(pixels: Uint8Array, n: number, p: Preprocessing, withFlips: boolean): Float32Array {
  const s = p.size;
  const per = s * s * 3;
  if (pixels.length !== n * per) throw new InvalidParameterError('pixels', `of length ${n}*${per}`, pixels.length);
  const out = new Float32Array((withFlips ? 2 : 1) * n * per);
  const a = [1 / (255 * p.std[0]), 1 / (255 * p.std[1]), 1 / (255 * p.std[2])];
  const b = [-p.mean[0] / p.std[0], -p.mean[1] / p.std[1], -p.mean[2] / p.std[2]];
  for (let i = 0; i < n * per; i += 3) {
    out[i] = pixels[i] * a[0] + b[0];
    out[i + 1] = pixels[i + 1] * a[1] + b[1];
    out[i + 2] = pixels[i + 2] * a[2] + b[2];
  }
  if (withFlips) {
    const off = n * per;
    for (let img = 0; img < n; img++) {
      for (let y = 0; y < s; y++) {
        const row = img * per + y * s * 3;
        for (let x = 0; x < s; x++) {
          const src = row + x * 3;
          const dst = off + row + (s - 1 - x) * 3;
          out[dst] = out[src];
          out[dst + 1] = out[src + 1];
          out[dst + 2] = out[src + 2];
        }
      }
    }
  }
  return out;
}
