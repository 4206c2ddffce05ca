/**
 * Product tags on a pin: detect the objects in its image (or take the ones ingest recorded), embed each
 * object's crop, match it against the catalogue within the object's category, then price and check each match
 * through a {@link PriceSource} — normally a {@link CachedPriceSource}, so a surge is answered from the cache with
 * the staleness said, never by hammering the merchants.
 */
import type { Embedder } from '../core/interfaces.js';
import { InvalidParameterError, PinrecError } from '../core/errors.js';
import { checkInt, checkNumber } from '../core/validate.js';
import { checkBox, cropImage, type Box } from '../images/crop.js';
import { openImage, type ImageLimits, type ImageSource, type SourceImage } from '../images/source.js';
import type { ProductCatalog } from './catalog.js';
import type { DetectOptions, DetectionMode } from './detect.js';
import type { PriceAnswer, PriceSource } from './prices.js';

/** An object to tag: a box and the detector's class (a `Detection`, or a `PinObject` of an ingest record). */
export interface TagObject {
  box: Box;
  className: string;
  /** Detector score. @default 1 */
  score?: number;
  /** The object's index id (e.g. `'pin#0'` from ingest). */
  id?: string;
}

/** One product on a tag, with its price as the price source answered it. */
export interface TaggedProduct {
  productId: string;
  name: string;
  merchant: string;
  category: string;
  /** Cosine similarity of the object's crop and the product image. */
  similarity: number;
  /** `null` when no price could be had (see `priceError`). */
  price: number | null;
  currency: string | null;
  /** `null` when unknown. */
  available: boolean | null;
  /** Age of the price when answered, ms (`null` without a price). */
  stalenessMs: number | null;
  /** Whether the price is older than the price source's staleness bound (served because nothing fresher could be had). */
  stale: boolean;
  /** Where the price came from: `'upstream'`, `'cache'` or `'fallback'` (`null` without a price). */
  priceSource: PriceAnswer['source'] | null;
  /** Why there is no price (e.g. `'rate-limited'`, `'circuit-open'`, `'timeout'`, `'not-found'`). */
  priceError?: string;
}

/** One tag: an object in the pin and its best catalogue matches. */
export interface ProductTag {
  box: Box;
  className: string;
  score: number;
  /** The catalogue category searched (`null` = all). */
  category: string | null;
  objectId?: string;
  /** Best first; empty when nothing in the category is similar enough. */
  products: TaggedProduct[];
}

/** What {@link tagProducts} returns. */
export interface TagResult {
  tags: ProductTag[];
  /** How the detector ran (`null` when the objects were given). */
  detection: { mode: DetectionMode; ms: number } | null;
  /** Wall time of the call, ms. */
  ms: number;
}

/** Options of {@link tagProducts}. */
export interface TagOptions {
  /** Proposes the objects (`await loadDetector()`); not needed when `objects` are given. */
  detector?: { detect(image: SourceImage, options?: DetectOptions): Promise<{ boxes: readonly { box: Box; score: number; className: string }[]; mode: DetectionMode; ms: number }> };
  /** The objects to tag instead of detecting them (e.g. an ingest record's `objects`). */
  objects?: readonly TagObject[];
  /** Embeds each object's crop (PNG bytes); the same embedder as the catalogue's product images. */
  embedder: Embedder<Buffer>;
  catalog: ProductCatalog;
  /** Prices and availability; a `CachedPriceSource` says how stale each is (a plain source's answers count as fresh). */
  prices: PriceSource;
  /** The shopper's location, passed to the price source. @default 'default' */
  location?: string;
  /**
   * The catalogue category to search for a detector class: a function or a table (`{ chair: 'furniture' }`);
   * `null`/`undefined` from it (or a class missing from the table) = search every category. @default the class name itself
   */
  categoryOf?: ((className: string) => string | null | undefined) | Readonly<Record<string, string>>;
  /** Matches per object. @default 3 */
  perObject?: number;
  /** Matches less similar than this are left out. @default 0 */
  minSimilarity?: number;
  /** Leave out products the price source reports unavailable. @default false */
  availableOnly?: boolean;
  /** Detection options (`mode: 'light'` when over budget, `minScore`, `maxBoxes`, `flip`). @default the detector's, with `nms: 'all'` (one box per region) */
  detect?: DetectOptions;
  /** Limits on the pin's image. @default the `pinrec/images` defaults */
  limits?: ImageLimits;
}

/**
 * Tag the products in a pin: for each detected object, the best catalogue matches by visual similarity within the
 * object's category, with price, availability, merchant and the price's staleness. A price that cannot be had
 * leaves the match on the tag with `price: null` and `priceError` saying why; prices are asked concurrently.
 *
 * @throws {ImageDecodeError} when the image does not decode; {@link InvalidParameterError} for bad options or a box outside the image
 * @example
 * const detector = await loadDetector();
 * const prices = new CachedPriceSource({ upstream: httpPriceUpstream({ baseUrl: 'http://127.0.0.1:8080' }) });
 * const { tags } = await tagProducts('pin.jpg', { detector, embedder, catalog, prices, categoryOf: { couch: 'sofa' } });
 * tags[0]; // { box, className: 'couch', products: [{ productId, name, merchant, price: 499, stalenessMs: 1200, stale: false, ... }] }
 */
export async function tagProducts(pin: ImageSource | SourceImage, options: TagOptions): Promise<TagResult> {
  const t0 = performance.now();
  if (options === null || typeof options !== 'object') throw new InvalidParameterError('options', 'an options object', options);
  const { detector, objects, embedder, catalog, prices } = options;
  if (objects === undefined && typeof detector?.detect !== 'function') throw new InvalidParameterError('detector', 'a detector with detect() (or give objects)', detector);
  if (objects !== undefined && !Array.isArray(objects)) throw new InvalidParameterError('objects', 'an array of { box, className }', objects);
  if (typeof embedder?.embed !== 'function') throw new InvalidParameterError('embedder', 'an Embedder with embed()', embedder);
  if (typeof catalog?.match !== 'function') throw new InvalidParameterError('catalog', 'a ProductCatalog with match()', catalog);
  if (typeof prices?.getPrice !== 'function') throw new InvalidParameterError('prices', 'a PriceSource with getPrice()', prices);
  if (catalog.dim !== embedder.dim) throw new InvalidParameterError('catalog.dim', `the embedder's dimension ${embedder.dim}`, catalog.dim);
  const location = options.location ?? 'default';
  if (typeof location !== 'string' || location.length > 256) throw new InvalidParameterError('location', 'a string of at most 256 characters', location);
  const perObject = checkInt('perObject', options.perObject ?? 3, 1, 100);
  const minSimilarity = checkNumber('minSimilarity', options.minSimilarity ?? 0, -1, 1);
  const categoryOf = categoryLookup(options.categoryOf);

  const img = isSourceImage(pin) ? pin : await openImage(pin, options.limits ?? {});
  let found: TagObject[];
  let detection: TagResult['detection'] = null;
  if (objects !== undefined) {
    found = objects.map((o, i) => {
      if (o === null || typeof o !== 'object' || typeof o.className !== 'string') throw new InvalidParameterError(`objects[${i}]`, 'an object { box, className }', o);
      checkBox(o.box, img.width, img.height, `objects[${i}].box`);
      return o;
    });
  } else {
    const r = await detector!.detect(img, { nms: 'all', ...options.detect }); // one box per region unless told otherwise
    detection = { mode: r.mode, ms: r.ms };
    found = r.boxes.map((b) => ({ box: b.box, className: b.className, score: b.score }));
  }

  const tags = await Promise.all(found.map(async (o): Promise<ProductTag> => {
    const category = categoryOf(o.className) ?? null;
    const v = await embedder.embed(await cropImage(img, o.box));
    const matches = (await catalog.match(v, { category, k: perObject })).filter((m) => m.similarity >= minSimilarity);
    const products = await Promise.all(matches.map(async (m): Promise<TaggedProduct> => {
      const p = m.product;
      const base = { productId: p.id, name: p.name, merchant: p.merchant, category: p.category, similarity: m.similarity };
      try {
        const a = await priceOf(prices, { productId: p.id, merchant: p.merchant, location });
        return { ...base, price: a.price, currency: a.currency, available: a.available, stalenessMs: a.stalenessMs, stale: a.stale, priceSource: a.source };
      } catch (e) {
        if (!(e instanceof PinrecError)) throw e;
        const why = (e as { reason?: string }).reason ?? e.code;
        return { ...base, price: null, currency: null, available: null, stalenessMs: null, stale: false, priceSource: null, priceError: why };
      }
    }));
    const tag: ProductTag = {
      box: { x: o.box.x, y: o.box.y, width: o.box.width, height: o.box.height }, className: o.className, score: o.score ?? 1, category,
      products: options.availableOnly ? products.filter((p) => p.available === true) : products,
    };
    if (o.id !== undefined) tag.objectId = o.id;
    return tag;
  }));
  return { tags, detection, ms: performance.now() - t0 };
}

/** A price with its staleness: a `CachedPriceSource`'s `get`, or a plain source's quote counted as fresh. */
async function priceOf(prices: PriceSource, req: { productId: string; merchant: string; location: string }): Promise<PriceAnswer> {
  const cached = prices as PriceSource & { get?: (r: typeof req) => Promise<PriceAnswer> };
  if (typeof cached.get === 'function') return cached.get(req);
  const q = await prices.getPrice(req);
  return { ...q, fetchedAt: Date.now(), stalenessMs: 0, stale: false, source: 'upstream' };
}

function categoryLookup(c: TagOptions['categoryOf']): (className: string) => string | null | undefined {
  if (c === undefined) return (name) => name;
  if (typeof c === 'function') return c;
  if (c === null || typeof c !== 'object') throw new InvalidParameterError('categoryOf', 'a function or a table from class name to category', c);
  const table = new Map(Object.entries(c));
  for (const [k, v] of table) if (typeof v !== 'string') throw new InvalidParameterError(`categoryOf.${k}`, 'a category name', v);
  return (name) => table.get(name);
}

function isSourceImage(x: unknown): x is SourceImage {
  return x !== null && typeof x === 'object' && Buffer.isBuffer((x as SourceImage).bytes) && typeof (x as SourceImage).width === 'number' && typeof (x as SourceImage).limits === 'object';
}
