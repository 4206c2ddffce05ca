/**
 * pinrec/images: renditions, visual analysis (palette, sharpness, the `quality` signal), perceptual hashes for
 * near-duplicates, and the blob store renditions are kept in — all on sharp, with untrusted input checked
 * before it reaches the decoder.
 *
 * @example
 * import { makeRenditions, analyzeImage, perceptualHash } from 'pinrec/images';
 * const { renditions } = await makeRenditions('photo.jpg');
 * const { quality, dominant } = await analyzeImage('photo.jpg');
 */
export { openImage, resolveImageLimits, mimeType, RASTER_FORMATS } from './source.js';
export type { ImageSource, ImageLimits, ResolvedImageLimits, SourceImage, RasterFormat } from './source.js';
export { makeRenditions, renderFromRaw, decodeWorking, resolveRenditionSpecs, originalOf, RENDITION_PRESETS } from './renditions.js';
export type { RenditionSpec, RenditionOptions, Rendition, RenditionSet, RawImage, OutputFormat, CropStrategy, PresetName } from './renditions.js';
export { analyzeImage, qualityScore, srgbToLab, labToSrgb, SHARPNESS_HALF, NOISE_HALF, BLOCKINESS_HALF, TONES_HALF } from './analysis.js';
export type { ImageAnalysis, AnalysisOptions, PaletteColour, QualityFactors } from './analysis.js';
export { perceptualHash, hammingDistance, hashFromHex, HashIndex } from './hash.js';
export type { ImageHash, HashKind, HashOptions } from './hash.js';
export { FileSystemStore, MemoryStore, contentKey, sha256Hex, checkKey, IMMUTABLE_CACHE_CONTROL } from './store.js';
export type { BlobStore, BlobMeta } from './store.js';
export { checkBox, cropImage } from './crop.js';
export type { Box } from './crop.js';
export { ImageDecodeError } from '../core/errors.js';
export type { ImageErrorKind } from '../core/errors.js';
