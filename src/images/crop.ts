/**
 * Regions of an image: a box checked against the image it is meant for, and the crop as PNG bytes (for
 * visual search by region: the products in a pin, a detected object).
 */
import { InvalidParameterError } from '../core/errors.js';
import { decodeError, openImage, pipelineOf, type ImageLimits, type ImageSource, type SourceImage } from './source.js';

/** A region in pixels of the image as displayed (EXIF orientation applied): left, top, width, height. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Check that `box` is a non-empty region inside a `width × height` image; returns it with integer pixel
 * edges (the smallest pixel-aligned box that covers it).
 *
 * @throws {InvalidParameterError} naming `box` (or `box.x` …) for a non-number, an empty box, or one outside the image
 * @example
 * checkBox({ x: 10, y: 10, width: 50, height: 40 }, 320, 240); // { x: 10, y: 10, width: 50, height: 40 }
 */
export function checkBox(box: Box, width: number, height: number, parameter = 'box'): Box {
  if (box === null || typeof box !== 'object') throw new InvalidParameterError(parameter, 'an object { x, y, width, height } in pixels', box);
  for (const f of ['x', 'y', 'width', 'height'] as const) {
    if (typeof box[f] !== 'number' || !Number.isFinite(box[f])) throw new InvalidParameterError(`${parameter}.${f}`, 'a finite number of pixels', box[f]);
  }
  if (!(box.width > 0) || !(box.height > 0)) throw new InvalidParameterError(parameter, 'a non-empty region (width and height > 0)', `${box.width}×${box.height}`);
  if (box.x < 0 || box.y < 0 || box.x + box.width > width || box.y + box.height > height) {
    throw new InvalidParameterError(parameter, `a region inside the ${width}×${height} image`, `x ${box.x}, y ${box.y}, ${box.width}×${box.height}`);
  }
  const x0 = Math.floor(box.x);
  const y0 = Math.floor(box.y);
  const x1 = Math.min(width, Math.ceil(box.x + box.width));
  const y1 = Math.min(height, Math.ceil(box.y + box.height));
  return { x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) };
}

/**
 * The region `box` of an image as PNG bytes, after the same checks as every decode (size, pixels, format,
 * time budget; see `openImage`).
 *
 * @throws {InvalidParameterError} for a box outside the image or empty; {@link ImageDecodeError} for input that does not decode
 * @example
 * const crop = await cropImage('scene.jpg', { x: 40, y: 30, width: 120, height: 90 });
 * await embedder.embed(crop);
 */
export async function cropImage(input: ImageSource | SourceImage, box: Box, limits: ImageLimits = {}): Promise<Buffer> {
  const img = isSourceImage(input) ? input : await openImage(input, limits);
  const b = checkBox(box, img.width, img.height);
  try {
    return await pipelineOf(img).extract({ left: b.x, top: b.y, width: b.width, height: b.height }).png().toBuffer();
  } catch (e) {
    throw decodeError(img, e);
  }
}

function isSourceImage(x: unknown): x is SourceImage {
  return x !== null && typeof x === 'object' && Buffer.isBuffer((x as SourceImage).bytes) && typeof (x as SourceImage).width === 'number' && typeof (x as SourceImage).limits === 'object';
}
