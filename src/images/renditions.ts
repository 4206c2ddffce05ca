/**
 * Renditions: the sizes a pin is served at. Each is fitted inside its box keeping the aspect ratio and
 * never enlarged (or, with a crop strategy, cropped to fill the box), oriented by EXIF, converted to sRGB
 * (CMYK and greyscale included), flattened onto white where the format has no alpha, and stripped of
 * metadata except a non-sRGB RGB colour profile. Every rendition decodes the original on its own with
 * libvips' shrink-on-load, so a 12-megapixel JPEG is never decoded at full size for a thumbnail.
 */
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { InvalidParameterError } from '../core/errors.js';
import { checkInt } from '../core/validate.js';
import { type ImageLimits, type ImageSource, type RasterFormat, type SourceImage, mimeType, openImage, pipelineOf, withinBudget } from './source.js';

/** Encoded formats a rendition can have. */
export type OutputFormat = 'webp' | 'jpeg' | 'avif' | 'png';

/** How a rendition fills its box: sharp's smart crops (`'attention'`: salient regions, `'entropy'`: detail) or the centre. */
export type CropStrategy = 'attention' | 'entropy' | 'centre';

/**
 * One rendition: a box and an encoding.
 *
 * @example
 * const thumb: RenditionSpec = { name: 'thumb', width: 236, height: 236, format: 'webp', quality: 80 };
 */
export interface RenditionSpec {
  /** Its name, e.g. `'feed'`; unique within a preset, not `'original'`. */
  name: string;
  /** Box width in pixels. */
  width: number;
  /** Box height in pixels; omitted, only the width bounds the image. */
  height?: number;
  format: OutputFormat;
  /** Encoder quality 1–100 (ignored by PNG). */
  quality: number;
  /** Crop to fill the box with this strategy instead of fitting inside it. @default no crop */
  crop?: CropStrategy | false;
}

function freezeSpecs(specs: RenditionSpec[]): readonly RenditionSpec[] {
  return Object.freeze(specs.map((s) => Object.freeze(s)));
}

/**
 * Named presets. `pinterest2020` (the default): thumbnail 236×236 WebP q80, feed 474×632 WebP q85, detail
 * 736×980 WebP q90, zoom 1200×1600 JPEG q95. `pinterest2012`: 150×150, 236 wide and 736 wide, JPEG q85.
 */
export const RENDITION_PRESETS = Object.freeze({
  pinterest2020: freezeSpecs([
    { name: 'thumbnail', width: 236, height: 236, format: 'webp', quality: 80 },
    { name: 'feed', width: 474, height: 632, format: 'webp', quality: 85 },
    { name: 'detail', width: 736, height: 980, format: 'webp', quality: 90 },
    { name: 'zoom', width: 1200, height: 1600, format: 'jpeg', quality: 95 },
  ]),
  pinterest2012: freezeSpecs([
    { name: '150x150', width: 150, height: 150, format: 'jpeg', quality: 85 },
    { name: '236x', width: 236, format: 'jpeg', quality: 85 },
    { name: '736x', width: 736, format: 'jpeg', quality: 85 },
  ]),
});

/** The name of a built-in preset. */
export type PresetName = keyof typeof RENDITION_PRESETS;

/**
 * Options of {@link makeRenditions}.
 *
 * @example
 * await makeRenditions('photo.jpg', { preset: 'pinterest2012', crop: 'attention', format: 'avif' });
 */
export interface RenditionOptions {
  /** A preset name or your own list of renditions. @default 'pinterest2020' */
  preset?: PresetName | readonly RenditionSpec[];
  /** Crop every rendition that does not set its own `crop`. @default false (fit inside) */
  crop?: CropStrategy | false;
  /** Encode every rendition in this format instead (e.g. `'avif'`). @default each rendition's own */
  format?: OutputFormat;
  /** Keep all frames of an animation in WebP renditions (other formats take the first frame). @default false */
  animated?: boolean;
  /** Limits on the input (bytes, pixels, formats, time budget). */
  limits?: ImageLimits;
}

/** One encoded image. */
export interface Rendition {
  /** The rendition's name, or `'original'`. */
  name: string;
  bytes: Buffer;
  width: number;
  height: number;
  format: OutputFormat | RasterFormat;
  /** MIME type, e.g. `'image/webp'`. */
  contentType: string;
  /** `bytes.length`. */
  byteSize: number;
}

/** The original and its renditions. */
export interface RenditionSet {
  /** The upload's bytes, unchanged (its width and height as displayed, EXIF orientation applied). */
  original: Rendition;
  /** One per spec, in the preset's order. */
  renditions: Rendition[];
}

const FORMATS: readonly OutputFormat[] = ['webp', 'jpeg', 'avif', 'png'];
const CROPS: readonly CropStrategy[] = ['attention', 'entropy', 'centre'];

/**
 * The specs a preset or list stands for, validated, with the option-wide crop and format applied.
 *
 * @throws {InvalidParameterError} naming the field, e.g. `preset[1].quality`
 * @example
 * resolveRenditionSpecs('pinterest2012').map((s) => s.name); // ['150x150', '236x', '736x']
 */
export function resolveRenditionSpecs(preset: RenditionOptions['preset'] = 'pinterest2020', crop?: CropStrategy | false, format?: OutputFormat): RenditionSpec[] {
  let list: readonly RenditionSpec[];
  if (typeof preset === 'string') {
    if (!Object.prototype.hasOwnProperty.call(RENDITION_PRESETS, preset)) {
      throw new InvalidParameterError('preset', `one of ${Object.keys(RENDITION_PRESETS).join(', ')} or a list of renditions`, preset);
    }
    list = RENDITION_PRESETS[preset as PresetName];
  } else if (Array.isArray(preset)) {
    list = preset;
  } else {
    throw new InvalidParameterError('preset', 'a preset name or a list of renditions', preset);
  }
  if (crop !== undefined && crop !== false && !CROPS.includes(crop)) throw new InvalidParameterError('crop', `false or one of ${CROPS.join(', ')}`, crop);
  if (format !== undefined && !FORMATS.includes(format)) throw new InvalidParameterError('format', `one of ${FORMATS.join(', ')}`, format);
  const names = new Set<string>();
  return list.map((s, i) => {
    const at = `preset[${i}]`;
    if (typeof s !== 'object' || s === null) throw new InvalidParameterError(at, 'a rendition spec object', s);
    if (typeof s.name !== 'string' || s.name === '' || s.name === 'original' || !/^[A-Za-z0-9_.-]{1,64}$/.test(s.name)) {
      throw new InvalidParameterError(`${at}.name`, "1-64 letters, digits, '_', '.' or '-', not 'original'", s.name);
    }
    if (names.has(s.name)) throw new InvalidParameterError(`${at}.name`, 'a name not used by another rendition', s.name);
    names.add(s.name);
    const width = checkInt(`${at}.width`, s.width, 1, 16_384);
    const height = s.height === undefined ? undefined : checkInt(`${at}.height`, s.height, 1, 16_384);
    const fmt = format ?? s.format;
    if (!FORMATS.includes(fmt)) throw new InvalidParameterError(`${at}.format`, `one of ${FORMATS.join(', ')}`, s.format);
    const quality = checkInt(`${at}.quality`, s.quality, 1, 100);
    const c = s.crop ?? crop ?? false;
    if (c !== false && !CROPS.includes(c)) throw new InvalidParameterError(`${at}.crop`, `false or one of ${CROPS.join(', ')}`, s.crop);
    if (c !== false && height === undefined) throw new InvalidParameterError(`${at}.height`, 'a height when the rendition is cropped', height);
    return { name: s.name, width, height, format: fmt, quality, crop: c };
  });
}

/** Decoded pixels: 8-bit sRGB, interleaved, with alpha when `channels` is 4. */
export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 3 | 4;
}

/** Scale (≤ 1) at which the original must be decoded so that every spec can be cut from it without enlarging. */
function workingScale(img: SourceImage, specs: readonly RenditionSpec[]): number {
  let scale = 0;
  for (const s of specs) {
    const sw = s.width / img.width;
    const sh = s.height === undefined ? Infinity : s.height / img.height;
    scale = Math.max(scale, s.crop ? Math.max(sw, s.height === undefined ? sw : sh) : Math.min(sw, sh));
  }
  return Math.min(1, scale);
}

/**
 * Decode an opened image once, at the smallest size every spec can be cut from (libvips shrink-on-load does
 * most of the work for JPEG and WebP), oriented, in 8-bit sRGB, alpha kept when present. With no specs, the
 * image is decoded at full size.
 *
 * @example
 * const raw = await decodeWorking(await openImage('photo.jpg'), resolveRenditionSpecs());
 * raw.width; // 1200 for a 4000×3000 photo and the default preset
 */
export async function decodeWorking(img: SourceImage, specs: readonly RenditionSpec[] = []): Promise<RawImage> {
  const scale = specs.length ? workingScale(img, specs) : 1;
  return withinBudget(img, async () => {
    let p = pipelineOf(img);
    if (scale < 1) {
      p = p.resize(Math.max(1, Math.round(img.width * scale)), Math.max(1, Math.round(img.height * scale)), { fit: 'fill' });
    }
    p = p.toColourspace('srgb');
    if (!img.hasAlpha) p = p.removeAlpha();
    const { data, info } = await p.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const channels = info.channels === 4 ? 4 : 3;
    if (info.channels !== channels) throw new Error(`decoder returned ${info.channels} channels`);
    return { data, width: info.width, height: info.height, channels };
  });
}

function encode(p: Sharp, spec: RenditionSpec, tagged: boolean): Sharp {
  // a colour-managed upload keeps a profile (sRGB: the pixels were converted to it); the rest stays untagged sRGB
  if (tagged) p = p.withIccProfile('srgb');
  switch (spec.format) {
    case 'webp': return p.webp({ quality: spec.quality });
    case 'jpeg': return p.jpeg({ quality: spec.quality });
    case 'avif': return p.avif({ quality: spec.quality });
    case 'png': return p.png();
  }
}

function resizeTo(p: Sharp, spec: RenditionSpec): Sharp {
  if (spec.crop) {
    return p.resize(spec.width, spec.height, { fit: 'cover', withoutEnlargement: true, position: spec.crop === 'centre' ? 'centre' : spec.crop });
  }
  return p.resize(spec.width, spec.height ?? null, { fit: 'inside', withoutEnlargement: true });
}

/**
 * Cut one rendition from decoded pixels (see {@link decodeWorking}).
 *
 * @param tagged embed an sRGB colour profile (do so when the upload carried a profile)
 * @example
 * const img = await openImage('photo.jpg');
 * const specs = resolveRenditionSpecs();
 * const thumb = await renderFromRaw(await decodeWorking(img, specs), specs[0]);
 */
export async function renderFromRaw(raw: RawImage, spec: RenditionSpec, tagged = false): Promise<Rendition> {
  let p = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } });
  p = resizeTo(p, spec);
  if (raw.channels === 4 && spec.format === 'jpeg') p = p.flatten({ background: { r: 255, g: 255, b: 255 } });
  const { data, info } = await encode(p, spec, tagged).toBuffer({ resolveWithObject: true });
  return { name: spec.name, bytes: data, width: info.width, height: info.height, format: spec.format, contentType: mimeType(spec.format), byteSize: data.length };
}

/** Render one spec straight from the encoded image (all frames of an animation for WebP). */
async function renderAnimated(img: SourceImage, spec: RenditionSpec): Promise<Rendition> {
  return withinBudget(img, async () => {
    const animated = spec.format === 'webp';
    let p = resizeTo(pipelineOf(img, { animated }), spec).toColourspace('srgb');
    if (img.hasAlpha && spec.format === 'jpeg') p = p.flatten({ background: { r: 255, g: 255, b: 255 } });
    const { data, info } = await encode(p, spec, img.hasProfile).toBuffer({ resolveWithObject: true });
    const height = animated && info.pageHeight ? info.pageHeight : info.height;
    return { name: spec.name, bytes: data, width: info.width, height, format: spec.format, contentType: mimeType(spec.format), byteSize: data.length };
  });
}

/**
 * Make every rendition of an image, and describe the original.
 *
 * The image is decoded once, at the size of the largest rendition ({@link decodeWorking}); the renditions are
 * then cut from those pixels concurrently. Each step is bounded by the image's time budget
 * (`limits.timeoutMs`). With `animated`, an animation's WebP renditions keep every frame instead.
 *
 * @param input encoded bytes, a file path, an http(s) URL or an {@link openImage} result
 * @throws {ImageDecodeError} for unreadable, corrupt, unsupported, over-limit or over-budget input
 * @throws {InvalidParameterError} for a bad option, naming it
 * @example
 * const { original, renditions } = await makeRenditions('photo.jpg');
 * renditions.map((r) => `${r.name} ${r.width}x${r.height} ${r.byteSize}`);
 */
export async function makeRenditions(input: ImageSource | SourceImage, options: RenditionOptions = {}): Promise<RenditionSet> {
  const specs = resolveRenditionSpecs(options.preset, options.crop, options.format);
  const img = isSourceImage(input) ? input : await openImage(input, options.limits);
  return { original: originalOf(img), renditions: await renderAll(img, specs, options.animated === true) };
}

/**
 * Every rendition of an opened image, from `raw` when given (decoded by {@link decodeWorking} for these specs).
 * @internal used by ingest, which shares the decoded pixels with the analysis
 */
export async function renderAll(img: SourceImage, specs: readonly RenditionSpec[], animated: boolean, raw?: RawImage): Promise<Rendition[]> {
  if (animated && img.frames > 1) return Promise.all(specs.map((s) => renderAnimated(img, s)));
  const pixels = raw ?? await decodeWorking(img, specs);
  return withinBudget(img, () => Promise.all(specs.map((s) => renderFromRaw(pixels, s, img.hasProfile))));
}

/** The original as a {@link Rendition} (bytes unchanged). */
export function originalOf(img: SourceImage): Rendition {
  return {
    name: 'original', bytes: img.bytes, width: img.width, height: img.height, format: img.format,
    contentType: mimeType(img.format), byteSize: img.bytes.length,
  };
}

/** Whether `x` is what {@link openImage} returned. */
export function isSourceImage(x: unknown): x is SourceImage {
  return typeof x === 'object' && x !== null && !Buffer.isBuffer(x) && !(x instanceof Uint8Array) && !(x instanceof URL)
    && Buffer.isBuffer((x as SourceImage).bytes) && typeof (x as SourceImage).format === 'string' && typeof (x as SourceImage).limits === 'object';
}
