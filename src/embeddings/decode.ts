/**
 * Robust image decoding with sharp: every input kind (Buffer, file path, URL, sharp instance) becomes an
 * sRGB, 8-bit, 3-channel, `size`×`size` pixel buffer. EXIF orientation is applied, CMYK and greyscale are
 * converted to sRGB, alpha is flattened onto white, only the first frame of an animation is read, and pixel
 * and byte limits stop decompression bombs. Every failure is an {@link ImageDecodeError} naming the source.
 */
import sharp from 'sharp';
import type { Metadata, OutputInfo, Sharp } from 'sharp';
import { ImageDecodeError } from './errors.js';
import { describeInput, readInputBytes, sniffImageFormat } from '../core/input.js';
import { checkInt } from '../core/validate.js';
import { InvalidParameterError } from '../core/errors.js';

/** Anything {@link decodeImage} accepts: encoded bytes, a file path, an `http(s)://` URL or a sharp instance. */
export type ImageInput = Buffer | Uint8Array | string | URL | Sharp;

/** Limits and fetch settings for decoding. */
export interface DecodeOptions {
  /**
   * Largest accepted image in pixels (width × height of the input, before resizing); larger images, and
   * headers that claim to be larger, fail with kind `'too-large'`.
   * @default 40_000_000
   */
  maxPixels?: number;
  /**
   * Largest accepted encoded input in bytes (file size, download size, Buffer length).
   * @default 33_554_432 (32 MiB)
   */
  maxBytes?: number;
  /**
   * Timeout for fetching a URL input, in milliseconds.
   * @default 15_000
   */
  fetchTimeoutMs?: number;
}

/** Resolved decode limits. */
export interface DecodeLimits {
  maxPixels: number;
  maxBytes: number;
  fetchTimeoutMs: number;
}

/** How the picture is fitted into the square model input. */
export type ResizeFit = 'cover' | 'contain' | 'fill';

/** Validate {@link DecodeOptions} and fill in defaults. */
export function resolveDecodeOptions(o: DecodeOptions = {}): DecodeLimits {
  return {
    maxPixels: checkInt('decode.maxPixels', o.maxPixels ?? 40_000_000, 1, 2 ** 40),
    maxBytes: checkInt('decode.maxBytes', o.maxBytes ?? 32 * 1024 * 1024, 1, 2 ** 40),
    fetchTimeoutMs: checkInt('decode.fetchTimeoutMs', o.fetchTimeoutMs ?? 15_000, 1, 3_600_000),
  };
}

export { describeInput };

function isSharp(x: unknown): x is Sharp {
  return typeof x === 'object' && x !== null && typeof (x as Sharp).clone === 'function'
    && typeof (x as Sharp).metadata === 'function' && typeof (x as Sharp).toBuffer === 'function';
}

/** Formats handed to the decoder; anything else (SVG, PDF, unrecognised bytes) is refused before it. */
const DECODABLE = new Set(['jpeg', 'png', 'gif', 'webp', 'avif', 'heif', 'tiff']);

function decodeFailure(source: string, e: unknown): ImageDecodeError {
  if (e instanceof ImageDecodeError) return e;
  const msg = (e as Error)?.message ?? String(e);
  const tooLarge = /pixel limit|exceeds/i.test(msg);
  return new ImageDecodeError(source, tooLarge ? 'too-large' : 'decode', `cannot decode image (${msg.split('\n')[0]})`, { cause: e });
}

/**
 * Decode one image to `size`×`size`×3 sRGB bytes (row-major, RGB interleaved).
 *
 * @param input encoded bytes, a file path, an http(s) URL (string or `URL`), a `file:` URL or a sharp instance
 *   (its own pipeline runs first; its input limits are the ones it was created with, and our `maxPixels` is
 *   also checked against its metadata).
 * @param size side of the square output, e.g. 224
 * @param fit `'cover'` (shorter side to `size`, centre crop), `'contain'` (letterbox on white) or `'fill'` (stretch)
 * @param limits from {@link resolveDecodeOptions}
 * @param name how the input is named in errors (defaults to {@link describeInput})
 * @throws {ImageDecodeError} for any unreadable, corrupt, truncated or over-limit input
 * @example
 * const px = await decodeImage('photo.jpg', 224, 'cover', resolveDecodeOptions());
 * px.length; // 224 * 224 * 3
 */
export async function decodeImage(input: ImageInput, size: number, fit: ResizeFit, limits: DecodeLimits, name?: string): Promise<Uint8Array> {
  const source = name ?? describeInput(input);
  let pipeline: Sharp;
  if (isSharp(input)) {
    let meta: Metadata;
    try {
      meta = await input.clone().metadata();
    } catch (e) {
      throw decodeFailure(source, e);
    }
    const px = (meta.width ?? 0) * (meta.height ?? 0);
    if (px > limits.maxPixels) {
      throw new ImageDecodeError(source, 'too-large', `image is ${meta.width}x${meta.height} = ${px} pixels, above decode.maxPixels = ${limits.maxPixels}`);
    }
    let raw: { data: Buffer; info: OutputInfo };
    try {
      raw = await input.clone().rotate().raw().toBuffer({ resolveWithObject: true });
    } catch (e) {
      throw decodeFailure(source, e);
    }
    const { width, height, channels } = raw.info;
    if (width * height > limits.maxPixels) {
      throw new ImageDecodeError(source, 'too-large', `image is ${width}x${height} pixels, above decode.maxPixels = ${limits.maxPixels}`);
    }
    pipeline = sharp(raw.data, { raw: { width, height, channels: channels as 1 | 2 | 3 | 4 }, limitInputPixels: limits.maxPixels });
  } else if (typeof input === 'string' || input instanceof URL || Buffer.isBuffer(input) || input instanceof Uint8Array) {
    const bytes = await readInputBytes(input, source, limits);
    const format = sniffImageFormat(bytes);
    if (!DECODABLE.has(format)) {
      throw new ImageDecodeError(source, format === 'unknown' ? 'decode' : 'unsupported',
        format === 'unknown' ? 'not a recognised image format' : `${format} input is not accepted (raster images only: JPEG, PNG, GIF, WebP, AVIF, HEIF, TIFF)`);
    }
    try {
      pipeline = sharp(bytes, { limitInputPixels: limits.maxPixels, pages: 1, page: 0, failOn: 'warning', sequentialRead: true })
        .rotate();
    } catch (e) {
      throw decodeFailure(source, e);
    }
  } else {
    throw new ImageDecodeError(source, 'input', 'unsupported input type (expected Buffer, Uint8Array, file path, URL or sharp instance)');
  }
  try {
    const { data, info } = await pipeline
      .toColourspace('srgb')
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .resize(size, size, { fit, position: 'centre', background: { r: 255, g: 255, b: 255 }, kernel: 'lanczos3' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width !== size || info.height !== size || info.channels !== 3 || data.length !== size * size * 3) {
      throw new ImageDecodeError(source, 'decode', `decoder returned ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (e) {
    throw decodeFailure(source, e);
  }
}

/** Check that a resize fit is valid. */
export function checkFit(name: string, v: unknown): ResizeFit {
  if (v !== 'cover' && v !== 'contain' && v !== 'fill') throw new InvalidParameterError(name, "one of 'cover', 'contain', 'fill'", v);
  return v;
}
