/** POST /shop of the feed service: tags from the real tagProducts, catalogue and cached prices; light detection when over budget. */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSyntheticBundle } from '../../examples/feed-service/src/bundle.js';
import { createFeedService, type FeedService } from '../../examples/feed-service/src/service.js';
import { CachedPriceSource, InMemoryPriceSource, InMemoryProductCatalog } from '../../src/shopping/index.js';

/** Mean colour of a 4×4 grid, padded to the synthetic bundle's visual dimension (64). */
const embedder = {
  dim: 64,
  async embed(b: Buffer) {
    const v = new Float32Array(64).fill(0.01);
    (await sharp(b).resize(4, 4, { fit: 'fill' }).removeAlpha().raw().toBuffer()).forEach((x, i) => { v[i] = x / 255 + 0.01; });
    return v;
  },
};
const swatch = (colour: string, size = 64) => sharp({ create: { width: size, height: size, channels: 3, background: colour } }).png().toBuffer();
const box = { x: 20, y: 20, width: 100, height: 100 };

/** A detector that finds one cup where the red square is, after `delayMs`; records the modes asked. */
const detector = {
  modes: [] as string[],
  delayMs: 0,
  async detect(_img: unknown, o: { mode?: 'normal' | 'light' } = {}) {
    this.modes.push(o.mode ?? 'normal');
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    return { boxes: [{ box, score: 0.9, className: 'cup' }], mode: o.mode ?? 'normal' as const, ms: 1 };
  },
};

let s: FeedService;
let scene: Buffer;
beforeAll(async () => {
  const catalog = new InMemoryProductCatalog(64);
  await catalog.addImages(embedder, [
    { id: 'mug-red', name: 'Red mug', category: 'cup', merchant: 'acme', image: await swatch('#e02020') },
    { id: 'mug-blue', name: 'Blue mug', category: 'cup', merchant: 'acme', image: await swatch('#2040e0') },
  ]);
  const prices = new CachedPriceSource({ upstream: new InMemoryPriceSource([{ productId: 'mug-red', merchant: 'acme', location: 'paris', price: 9.5, currency: 'EUR', available: true }]) });
  const bundle = buildSyntheticBundle({ pins: 500, seed: 2 });
  s = await createFeedService({ bundle, overload: { cheapLagMs: 1e9, shedLagMs: 1e9 }, embedder: embedder as never, shop: { detector, catalog, prices, perObject: 2 }, imageWork: { concurrent: 1, queue: 8 } });
  scene = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#808080' } }).composite([{ input: await swatch('#e02020', 100), left: 20, top: 20 }]).png().toBuffer();
});
afterAll(() => s?.close());

const post = (url: string, body: Buffer | string, type = 'image/png') => s.app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': type } });

describe('POST /shop', () => {
  it('tags the products in an uploaded image with prices for the location', async () => {
    const r = await post('/shop?location=paris', scene);
    expect(r.statusCode).toBe(200);
    const b = r.json();
    expect(b.mode).toBe('normal');
    expect(b.overBudget).toBeNull();
    expect(b.tags).toHaveLength(1);
    expect(b.tags[0].box).toEqual(box);
    expect(b.tags[0].products.map((p: any) => [p.productId, p.price, p.currency, p.stale, p.priceError ?? null])).toEqual([
      ['mug-red', 9.5, 'EUR', false, null], ['mug-blue', null, null, false, 'not-found'],
    ]);
  });

  it('switches the detector to light mode while image work is queued, and says so', async () => {
    detector.delayMs = 150;
    detector.modes.length = 0;
    const answers = await Promise.all([post('/shop', scene), post('/shop', scene), post('/shop', scene)]);
    detector.delayMs = 0;
    const bodies = answers.map((a) => a.json());
    expect(bodies.map((b) => b.mode).sort()).toEqual(['light', 'light', 'normal']);
    expect(bodies.filter((b) => b.mode === 'light').every((b) => b.overBudget === 'image work queued')).toBe(true);
    expect(detector.modes.sort()).toEqual(['light', 'light', 'normal']);
    const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/pinrec_shop_requests_total\{mode="light"\} 2/);
  });

  it('refuses what is not an image, or a bad location, with the field named', async () => {
    expect((await post('/shop', Buffer.from('nope'))).statusCode).toBe(400);
    const bad = await post('/shop?location=a%20b', scene);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('location');
    expect((await post('/shop', '{"pin":"x"}', 'application/json')).statusCode).toBe(415);
  });

  it('answers 503 when shop the look is not configured', async () => {
    const plain = await createFeedService({ bundle: buildSyntheticBundle({ pins: 200, seed: 1 }), overload: { cheapLagMs: 1e9, shedLagMs: 1e9 } });
    try {
      const r = await plain.app.inject({ method: 'POST', url: '/shop', payload: scene, headers: { 'content-type': 'image/png' } });
      expect(r.statusCode).toBe(503);
    } finally { await plain.close(); }
  });
});
