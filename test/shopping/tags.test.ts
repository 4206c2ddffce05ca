/** The product catalogue (exact cosine, by category) and tagProducts wired to the real crop, catalogue and cached price path. */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { Embedder } from '../../src/core/interfaces.js';
import { DimensionMismatchError, InvalidParameterError, UnknownIdError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { MemoryStore } from '../../src/images/index.js';
import { Ingestor, InMemoryPinRecords, type ObjectDetector } from '../../src/ingest/index.js';
import { CachedPriceSource, InMemoryPriceSource, InMemoryProductCatalog, tagProducts, type Product } from '../../src/shopping/index.js';

/** Mean colour of a 4×4 grid (48 dims). */
class GridEmbedder implements Embedder<Buffer> {
  readonly dim = 48;
  async embed(input: Buffer): Promise<Float32Array> {
    const px = await sharp(input).resize(4, 4, { fit: 'fill' }).removeAlpha().raw().toBuffer();
    return Float32Array.from(px, (v) => v / 255 + 0.01);
  }
}

const swatch = (colour: string, size = 64) => sharp({ create: { width: size, height: size, channels: 3, background: colour } }).png().toBuffer();

describe('InMemoryProductCatalog', () => {
  const v = (...xs: number[]) => Float32Array.from(xs);
  const p = (id: string, category: string, e: Float32Array): Product => ({ id, name: id.toUpperCase(), category, merchant: 'm', embedding: e });

  it('matches by cosine within a category, best first, ties by id', () => {
    const c = new InMemoryProductCatalog(2, [p('b', 'cup', v(1, 0)), p('a', 'cup', v(2, 0)), p('c', 'cup', v(0, 1)), p('d', 'chair', v(1, 0))]);
    expect(c.size).toBe(4);
    expect(c.categories()).toEqual(['chair', 'cup']);
    const r = c.match(v(3, 0), { category: 'cup', k: 2 });
    expect(r.map((m) => [m.product.id, m.similarity])).toEqual([['a', 1], ['b', 1]]);
    expect(c.match(v(0, 1), { category: 'chair' }).map((m) => m.product.id)).toEqual(['d']);
    expect(c.match(v(1, 1), { k: 10 }).map((m) => m.product.id)).toEqual(['a', 'b', 'c', 'd']); // all ≈ 0.707: ties by id
    expect(c.match(v(1, 0), { category: 'lamp' })).toEqual([]);
    expect(c.match(v(0, 0))).toEqual([]);
  });

  it('agrees with a brute-force sort on seeded random products', () => {
    const rng = new Rng(3);
    const dim = 8;
    const products = Array.from({ length: 300 }, (_, i) => p(`p${String(i).padStart(3, '0')}`, `c${i % 4}`, Float32Array.from({ length: dim }, () => rng.normal())));
    const c = new InMemoryProductCatalog(dim, products);
    for (let t = 0; t < 20; t++) {
      const q = Float32Array.from({ length: dim }, () => rng.normal());
      const cat = t % 2 ? `c${t % 4}` : null;
      const cos = (e: Float32Array) => { let d = 0, a = 0, b = 0; for (let j = 0; j < dim; j++) { d += q[j] * e[j]; a += q[j] ** 2; b += e[j] ** 2; } return d / Math.sqrt(a * b); };
      const want = products.filter((x) => cat === null || x.category === cat).map((x) => ({ id: x.id, s: cos(x.embedding) })).sort((x, y) => y.s - x.s).slice(0, 7);
      const got = c.match(q, { category: cat, k: 7 });
      expect(got.map((m) => m.product.id)).toEqual(want.map((w) => w.id));
      got.forEach((m, i) => expect(m.similarity).toBeCloseTo(want[i].s, 5));
    }
  });

  it('replaces by id, removes, copies, and rejects bad products with the field named', () => {
    const c = new InMemoryProductCatalog(2);
    c.add(p('a', 'cup', v(1, 0)));
    c.add(p('a', 'chair', v(0, 1)));
    expect(c.size).toBe(1);
    expect(c.get('a')?.category).toBe('chair');
    c.get('a')!.embedding[0] = 9;
    expect(c.get('a')!.embedding[0]).toBe(0);
    c.remove('a');
    expect(c.size).toBe(0);
    expect(() => c.remove('a')).toThrow(UnknownIdError);
    expect(() => c.add(p('x', 'cup', v(1, 0, 0)))).toThrow(DimensionMismatchError);
    expect(() => c.add(p('x', 'cup', v(NaN, 0)))).toThrow(/embedding\[0\]/);
    expect(() => c.add(p('x', 'cup', v(0, 0)))).toThrow(/non-zero/);
    expect(() => c.add({ ...p('x', 'cup', v(1, 0)), merchant: '' })).toThrow(/product\.merchant/);
    expect(() => c.match(v(1), {})).toThrow(DimensionMismatchError);
    expect(() => c.match(v(1, 0), { k: 0 })).toThrow(InvalidParameterError);
  });
});

describe('tagProducts', () => {
  const red = { x: 20, y: 20, width: 100, height: 100 };
  const blue = { x: 180, y: 100, width: 120, height: 120 };
  const detector = {
    calls: [] as unknown[],
    async detect(_img: unknown, options?: unknown) {
      this.calls.push(options);
      return { boxes: [{ box: red, score: 0.9, className: 'cup' }, { box: blue, score: 0.8, className: 'chair' }], mode: 'normal' as const, ms: 2 };
    },
  };

  async function fixture(now: { t: number }) {
    const embedder = new GridEmbedder();
    const catalog = new InMemoryProductCatalog(embedder.dim);
    await catalog.addImages(embedder, [
      { id: 'mug-red', name: 'Red mug', category: 'cup', merchant: 'acme', image: await swatch('#e02020') },
      { id: 'mug-blue', name: 'Blue mug', category: 'cup', merchant: 'acme', image: await swatch('#2040e0') },
      { id: 'chair-blue', name: 'Blue chair', category: 'seating', merchant: 'sitwell', image: await swatch('#2040e0') },
      { id: 'chair-red', name: 'Red chair', category: 'seating', merchant: 'gone', image: await swatch('#e02020') },
    ]);
    const upstream = new InMemoryPriceSource([
      { productId: 'mug-red', merchant: 'acme', location: 'default', price: 12.5, currency: 'USD', available: true },
      { productId: 'mug-blue', merchant: 'acme', location: 'default', price: 11, currency: 'USD', available: false },
      { productId: 'chair-blue', merchant: 'sitwell', location: 'default', price: 149, currency: 'EUR', available: true },
    ]);
    const prices = new CachedPriceSource({ upstream, maxStalenessMs: 300_000, now: () => now.t });
    const scene = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#808080' } })
      .composite([{ input: await swatch('#e02020', 100), left: red.x, top: red.y }, { input: await swatch('#2040e0', 120), left: blue.x, top: blue.y }])
      .png().toBuffer();
    return { embedder, catalog, prices, scene };
  }

  it('tags each detected object with its best matches in its category, priced, with the staleness said', async () => {
    const now = { t: 1_000_000 };
    const { embedder, catalog, prices, scene } = await fixture(now);
    const opts = { detector, embedder, catalog, prices, categoryOf: { cup: 'cup', chair: 'seating' }, perObject: 2, detect: { mode: 'light' as const } };
    const r = await tagProducts(scene, opts);
    expect(detector.calls.at(-1)).toEqual({ nms: 'all', mode: 'light' }); // one box per region unless told otherwise
    expect(r.detection).toEqual({ mode: 'normal', ms: 2 });
    expect(r.tags.map((t) => [t.className, t.category, t.box])).toEqual([['cup', 'cup', red], ['chair', 'seating', blue]]);
    const [cup, chair] = r.tags;
    expect(cup.products.map((p) => [p.productId, p.price, p.currency, p.available, p.priceSource, p.stalenessMs, p.stale])).toEqual([
      ['mug-red', 12.5, 'USD', true, 'upstream', 0, false],
      ['mug-blue', 11, 'USD', false, 'upstream', 0, false],
    ]);
    expect(cup.products[0].similarity).toBeGreaterThan(cup.products[1].similarity);
    // the chair: blue first; the red chair's merchant has no price → kept, unpriced, with the reason
    expect(chair.products.map((p) => [p.productId, p.merchant, p.price, p.priceError])).toEqual([['chair-blue', 'sitwell', 149, undefined], ['chair-red', 'gone', null, 'not-found']]);
    // a minute later: from the cache, 60 s stale, within the bound
    now.t += 60_000;
    const again = await tagProducts(scene, { ...opts, availableOnly: true });
    expect(again.tags[0].products.map((p) => [p.productId, p.priceSource, p.stalenessMs, p.stale])).toEqual([['mug-red', 'cache', 60_000, false]]);
    expect(prices.stats().upstreamCalls).toBe(5); // 4 the first time (one failed), 1 retry of the missing one
  });

  it('tags the objects an ingest record holds, without detecting again', async () => {
    const now = { t: 0 };
    const { embedder, catalog, prices, scene } = await fixture(now);
    const records = new InMemoryPinRecords();
    const asIngest: ObjectDetector = { detect: async () => ({ boxes: [{ box: red, score: 0.9, classId: 41, className: 'cup' }], mode: 'normal', ms: 1 }) };
    const ing = new Ingestor({ store: new MemoryStore(), records, embedder, detector: asIngest });
    const { record } = await ing.ingest(scene, { id: 'pin1' });
    const before = detector.calls.length;
    const r = await tagProducts(scene, { objects: record.objects, embedder, catalog, prices, perObject: 1 });
    expect(detector.calls.length).toBe(before);
    expect(r.detection).toBeNull();
    expect(r.tags.map((t) => [t.objectId, t.products[0].productId])).toEqual([['pin1#0', 'mug-red']]);
  });

  it('rejects bad options and boxes with the parameter named', async () => {
    const { embedder, catalog, prices, scene } = await fixture({ t: 0 });
    await expect(tagProducts(scene, { embedder, catalog, prices })).rejects.toThrow(/detector/);
    await expect(tagProducts(scene, { objects: [{ box: { x: 300, y: 0, width: 50, height: 10 }, className: 'cup' }], embedder, catalog, prices })).rejects.toThrow(/objects\[0\]\.box/);
    await expect(tagProducts(scene, { detector, embedder, catalog: new InMemoryProductCatalog(3), prices })).rejects.toThrow(/catalog\.dim/);
    await expect(tagProducts(scene, { detector, embedder, catalog, prices, perObject: 0 })).rejects.toThrow(/perObject/);
    await expect(tagProducts(Buffer.from('not an image'), { detector, embedder, catalog, prices })).rejects.toThrow(/image|format/);
  });
});
