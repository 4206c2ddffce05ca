/**
 * Opening an untrusted image: bounded bytes, the format recognised from magic bytes and checked against an
 * allow-list, the header read (dimensions, frames, colour space) and checked against a pixel limit — all
 * before a single pixel is decoded. Every later step (renditions, analysis, hashing) starts from the
 * {@link SourceImage} this returns, so none of them can be handed an SVG, a decompression bomb or a lie.
 */
import sharp from 'sharp';
import type { Metadata, Sharp, SharpOptions } from 'sharp';
import { ImageDecodeError, InvalidParameterError } from '../core/errors.js';
import { describeInput, readInputBytes, sniffImageFormat, type SniffedFormat } from '../core/input.js';
import { checkInt } from '../core/validate.js';

/** Raster formats pinrec decodes. SVG and PDF are never decoded (external entities, unbounded work). */
export type RasterFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'avif' | 'heif' | 'tiff';

/** What {@link openImage} accepts: encoded bytes, a file path, an `http(s)://` URL or a `file:` URL. */
export type ImageSource = Buffer | Uint8Array | string | URL;

/**
 * Limits on an untrusted image.
 *
 * @example
 * await openImage(upload, { maxBytes: 10 << 20, maxPixels: 25_000_000, formats: ['jpeg', 'png', 'webp'] });
 */
export interface ImageLimits {
  /** Largest encoded input in bytes. @default 33_554_432 (32 MiB) */
  maxBytes?: number;
  /**
   * Largest image in pixels, width × height of one frame as the header declares it (a header claiming more
   * is refused before decoding: the decompression-bomb guard). @default 40_000_000
   */
  maxPixels?: number;
  /** Largest number of frames read when all frames are asked for (animations). @default 200 */
  maxFrames?: number;
  /** Formats accepted, by their magic bytes. @default every {@link RasterFormat} */
  formats?: readonly RasterFormat[];
  /** Time budget of one image's decode-and-encode work in milliseconds. @default 10_000 */
  timeoutMs?: number;
  /** Timeout of a URL fetch in milliseconds. @default 15_000 */
  fetchTimeoutMs?: number;
}

/** {@link ImageLimits} with defaults filled in. */
export interface ResolvedImageLimits {
  maxBytes: number;
  maxPixels: number;
  maxFrames: number;
  formats: readonly RasterFormat[];
  timeoutMs: number;
  fetchTimeoutMs: number;
}

/** Every raster format, the default allow-list. */
export const RASTER_FORMATS: readonly RasterFormat[] = Object.freeze(['jpeg', 'png', 'gif', 'webp', 'avif', 'heif', 'tiff']);

/**
 * Validate {@link ImageLimits} and fill in defaults.
 *
 * @throws {InvalidParameterError} naming the limit
 * @example
 * resolveImageLimits({ maxPixels: 1e6 }).maxBytes; // 33554432
 */
export function resolveImageLimits(o: ImageLimits = {}): ResolvedImageLimits {
  const formats = o.formats ?? RASTER_FORMATS;
  if (!Array.isArray(formats) || formats.length === 0 || !formats.every((f) => RASTER_FORMATS.includes(f))) {
    throw new InvalidParameterError('limits.formats', `a non-empty list of ${RASTER_FORMATS.join(', ')}`, formats);
  }
  const resolved: ResolvedImageLimits = Object.freeze({
    maxBytes: checkInt('limits.maxBytes', o.maxBytes ?? 32 * 1024 * 1024, 1, 2 ** 40),
    maxPixels: checkInt('limits.maxPixels', o.maxPixels ?? 40_000_000, 1, 2 ** 40),
    maxFrames: checkInt('limits.maxFrames', o.maxFrames ?? 200, 1, 100_000),
    formats: Object.freeze([...formats]),
    timeoutMs: checkInt('limits.timeoutMs', o.timeoutMs ?? 10_000, 1, 3_600_000),
    fetchTimeoutMs: checkInt('limits.fetchTimeoutMs', o.fetchTimeoutMs ?? 15_000, 1, 3_600_000),
  });
  RESOLVED.add(resolved);
  return resolved;
}

/** An opened, checked image: its bytes and what its header says. Nothing has been decoded yet. */
export interface SourceImage {
  /** How the image is named in errors. */
  readonly name: string;
  /** The encoded bytes, exactly as received. */
  readonly bytes: Buffer;
  readonly format: RasterFormat;
  /** Width and height as displayed (EXIF orientation applied). */
  readonly width: number;
  readonly height: number;
  /** Frames in the file (1 for a still image). */
  readonly frames: number;
  readonly hasAlpha: boolean;
  /** The header's colour space, e.g. `'srgb'`, `'cmyk'`, `'b-w'`, `'rgb16'`. */
  readonly space: string;
  /** Bits per channel sample: 8 or 16. */
  readonly bitDepth: number;
  readonly hasProfile: boolean;
  /** EXIF orientation (1–8), 1 when absent. */
  readonly orientation: number;
  readonly limits: ResolvedImageLimits;
}

const MIME: Record<RasterFormat, string> = {
  jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp', avif: 'image/avif', heif: 'image/heif', tiff: 'image/tiff',
};

/** The MIME type of a format, e.g. `'image/webp'`. */
export function mimeType(format: RasterFormat): string {
  return MIME[format];
}

/**
 * Read and check an untrusted image: byte limit, format allow-list by magic bytes (SVG, PDF and unknown
 * bytes are refused before any decoder sees them), header parsed, pixel and frame limits.
 *
 * @param input encoded bytes, a file path, an http(s) URL or a `file:` URL
 * @param limits see {@link ImageLimits}
 * @param name how the input is named in errors (defaults to the path, the URL or `Buffer(n bytes)`)
 * @throws {ImageDecodeError} kind `'too-large'`, `'unsupported'`, `'decode'` (corrupt or empty), `'read'`,
 *   `'fetch'`, `'timeout'` or `'input'`
 * @example
 * const img = await openImage('photo.jpg');
 * img.width; img.format; // 4000, 'jpeg'
 */
export async function openImage(input: ImageSource, limits: ImageLimits | ResolvedImageLimits = {}, name?: string): Promise<SourceImage> {
  const lim = isResolved(limits) ? limits : resolveImageLimits(limits);
  const source = name ?? describeInput(input);
  const bytes = await readInputBytes(input, source, lim);
  const sniffed: SniffedFormat = sniffImageFormat(bytes);
  if (sniffed === 'unknown') throw new ImageDecodeError(source, 'decode', 'not a recognised image format');
  if (!(lim.formats as readonly string[]).includes(sniffed)) {
    throw new ImageDecodeError(source, 'unsupported', `${sniffed} images are not accepted (accepted: ${lim.formats.join(', ')})`);
  }
  let meta: Metadata;
  try {
    // the header only: no pixel is decoded here
    meta = await sharp(bytes, { limitInputPixels: false, failOn: 'error' }).metadata();
  } catch (e) {
    throw new ImageDecodeError(source, 'decode', `cannot read the image header (${firstLine(e)})`, { cause: e });
  }
  const format = meta.format === 'heif' ? (sniffed === 'avif' ? 'avif' : 'heif') : (meta.format as string);
  if (format !== sniffed && !(sniffed === 'heif' && format === 'avif')) {
    throw new ImageDecodeError(source, 'decode', `the bytes start like ${sniffed} but decode as ${meta.format}`);
  }
  const w = meta.width ?? 0;
  const frames = Math.max(1, meta.pages ?? 1);
  const h = meta.pageHeight && frames > 1 ? meta.pageHeight : (meta.height ?? 0);
  if (!(w > 0 && h > 0)) throw new ImageDecodeError(source, 'decode', `the header declares ${w}x${h} pixels`);
  if (w * h > lim.maxPixels) {
    throw new ImageDecodeError(source, 'too-large', `image is ${w}x${h} = ${w * h} pixels, above limits.maxPixels = ${lim.maxPixels}`);
  }
  const orientation = meta.orientation ?? 1;
  const swap = orientation >= 5 && orientation <= 8;
  const depth = meta.depth === 'ushort' || meta.space === 'rgb16' || meta.space === 'grey16' || (meta.bitsPerSample ?? 8) > 8 ? 16 : 8;
  return Object.freeze({
    name: source,
    bytes,
    format: sniffed as RasterFormat,
    width: swap ? h : w,
    height: swap ? w : h,
    frames,
    hasAlpha: meta.hasAlpha,
    space: meta.space,
    bitDepth: depth,
    hasProfile: meta.hasProfile,
    orientation,
    limits: lim,
  });
}

/** Limits objects {@link resolveImageLimits} made (and froze): no need to validate them again. */
const RESOLVED = new WeakSet<object>();

function isResolved(l: ImageLimits | ResolvedImageLimits): l is ResolvedImageLimits {
  return typeof l === 'object' && l !== null && RESOLVED.has(l);
}

/**
 * A sharp pipeline over a checked image: the pixel limit, the first frame only (unless `animated`), the
 * libvips time limit, and EXIF orientation applied.
 */
export function pipelineOf(img: SourceImage, options: { animated?: boolean } = {}): Sharp {
  const animated = options.animated === true && img.frames > 1;
  const opts: SharpOptions = {
    limitInputPixels: img.limits.maxPixels * (animated ? Math.min(img.frames, img.limits.maxFrames) : 1),
    failOn: 'error',
    sequentialRead: true,
  };
  if (animated) opts.pages = Math.min(img.frames, img.limits.maxFrames);
  else { opts.pages = 1; opts.page = 0; }
  return sharp(img.bytes, opts)
    .timeout({ seconds: Math.max(1, Math.ceil(img.limits.timeoutMs / 1000)) })
    .rotate();
}

/** Turn a decoder failure into an {@link ImageDecodeError} (truncated, corrupt, over the time limit). */
export function decodeError(img: { name: string; limits: { timeoutMs: number } }, e: unknown): ImageDecodeError {
  if (e instanceof ImageDecodeError) return e;
  const msg = firstLine(e);
  if (/timeout/i.test(msg)) return new ImageDecodeError(img.name, 'timeout', `over the time budget of ${img.limits.timeoutMs} ms`, { cause: e });
  if (/pixel limit|exceeds/i.test(msg)) return new ImageDecodeError(img.name, 'too-large', `cannot decode image (${msg})`, { cause: e });
  return new ImageDecodeError(img.name, 'decode', `cannot decode image (${msg})`, { cause: e });
}

/**
 * Run `work` within the image's time budget: past it, the promise rejects with an {@link ImageDecodeError} of
 * kind `'timeout'` (libvips stops its own work at the pipeline's `timeout`).
 */
export async function withinBudget<T>(img: SourceImage, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ImageDecodeError(img.name, 'timeout', `over the time budget of ${img.limits.timeoutMs} ms`)), img.limits.timeoutMs);
  });
  const job = work().catch((e) => { throw decodeError(img, e); });
  job.catch(() => undefined); // past the deadline, the work's own failure has no one to tell
  try {
    return await Promise.race([job, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}
