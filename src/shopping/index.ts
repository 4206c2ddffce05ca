/**
 * Shop the look: prices and availability that survive a surge ({@link CachedPriceSource} over any
 * {@link PriceSource}, e.g. a merchant's HTTP API through {@link httpPriceUpstream}), and object detection that
 * proposes the regions of a photo to search by ({@link loadDetector}: CenterNet MobileNetV3, COCO).
 */
export { CachedPriceSource, InMemoryPriceSource, PriceUnavailableError, httpPriceUpstream } from './prices.js';
export type { PriceAnswer, PriceQuote, PriceRequest, PriceSource, CachedPriceOptions, PriceSourceStats } from './prices.js';
export { loadDetector, decodeCenterNet, letterbox, nonMaxSuppression, boxIoU, CENTERNET, DETECTOR_MODEL } from './detect.js';
export type { Detector, DetectionCandidate, Detection, DetectionMode, DetectionResult, DetectOptions, LoadDetectorOptions } from './detect.js';
export { COCO_CLASSES } from './coco.js';
export { InMemoryProductCatalog } from './catalog.js';
export type { Product, ProductCatalog, ProductMatch, MatchOptions } from './catalog.js';
export { tagProducts } from './tags.js';
export type { TagOptions, TagResult, ProductTag, TaggedProduct, TagObject } from './tags.js';
