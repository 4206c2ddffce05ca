import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageDecodeError, InvalidParameterError } from '../../src/core/errors.js';
import { sniffImageFormat } from '../../src/core/input.js';
import { medianInPlace } from '../../src/images/analysis.js';
import {
  FileSystemStore, HashIndex, IMMUTABLE_CACHE_CONTROL, MemoryStore, RENDITION_PRESETS, analyzeImage, contentKey, hammingDistance,
  hashFromHex, labToSrgb, makeRenditions, openImage, perceptualHash, qualityScore, resolveRenditionSpecs, srgbToLab,
} from '../../src/images/index.js';
import * as fx from './fixtures.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'pinrec-images-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function thrown(p: Promise<unknown>): Promise<unknown> {
  try { await p; } catch (e) { return e; }
  throw new Error('expected a rejection');
}

async function decodeError(p: Promise<unknown>): Promise<ImageDecodeError> {
  const e = await thrown(p);
  expect(e).toBeInstanceOf(ImageDecodeError);
  return e as ImageDecodeError;
}

describe('renditions', () => {
  it('fit every default rendition inside its box, keep the aspect ratio and never enlarge', async () => {
    const src = await fx.jpeg(2000, 1500);
    const { original, renditions } = await makeRenditions(src);
    expect(original).toMatchObject({ name: 'original', width: 2000, height: 1500, format: 'jpeg', byteSize: src.length });
    expect(original.bytes).toBe(src);
    const want = { thumbnail: [236, 177, 'webp'], feed: [474, 356, 'webp'], detail: [736, 552, 'webp'], zoom: [1200, 900, 'jpeg'] } as const;
    expect(renditions.map((r) => r.name)).toEqual(Object.keys(want));
    for (const r of renditions) {
      const [w, h, f] = want[r.name as keyof typeof want];
      expect([r.width, r.height, r.format]).toEqual([w, h, f]);
      expect(sniffImageFormat(r.bytes)).toBe(f);
      expect(r.byteSize).toBe(r.bytes.length);
      const m = await sharp(r.bytes).metadata();
      expect([m.width, m.height]).toEqual([w, h]);
      expect(m.exif).toBeUndefined();
    }
    const small = await makeRenditions(await fx.jpeg(300, 200));
    expect(small.renditions.map((r) => [r.width, r.height])).toEqual([[236, 157], [300, 200], [300, 200], [300, 200]]);
    expect(RENDITION_PRESETS.pinterest2020.map((r) => [r.width, r.height, r.format, r.quality])).toEqual([
      [236, 236, 'webp', 80], [474, 632, 'webp', 85], [736, 980, 'webp', 90], [1200, 1600, 'jpeg', 95],
    ]);
  });

  it('have the 2012 preset, smart crops to the exact box, and AVIF as an option', async () => {
    const src = await fx.jpeg(1600, 900);
    const old = await makeRenditions(src, { preset: 'pinterest2012' });
    expect(old.renditions.map((r) => [r.name, r.width, r.height, r.format])).toEqual([
      ['150x150', 150, 84, 'jpeg'], ['236x', 236, 133, 'jpeg'], ['736x', 736, 414, 'jpeg'],
    ]);
    for (const strategy of ['attention', 'entropy', 'centre'] as const) {
      const cropped = await makeRenditions(src, { crop: strategy, preset: [{ name: 'sq', width: 300, height: 300, format: 'webp', quality: 80 }] });
      expect([cropped.renditions[0].width, cropped.renditions[0].height]).toEqual([300, 300]);
    }
    const avif = await makeRenditions(src, { format: 'avif', preset: [{ name: 't', width: 236, height: 236, format: 'webp', quality: 60 }] });
    expect(sniffImageFormat(avif.renditions[0].bytes)).toBe('avif');
    expect(avif.renditions[0].contentType).toBe('image/avif');
  });

  it('apply EXIF orientation, convert CMYK, greyscale and 16-bit to 8-bit sRGB, flatten alpha only for JPEG', async () => {
    const rot = await makeRenditions(await fx.rotatedJpeg());
    expect([rot.original.width, rot.original.height]).toEqual([40, 80]);
    expect([rot.renditions[0].width, rot.renditions[0].height]).toEqual([40, 80]);
    for (const src of [await fx.cmykJpeg(), await fx.png16(), await sharp(await fx.png(50, 40)).greyscale().png().toBuffer()]) {
      for (const r of (await makeRenditions(src)).renditions) {
        const m = await sharp(r.bytes).metadata();
        expect(m.space).toBe('srgb');
        expect(m.depth).toBe('uchar');
        expect(m.channels).toBe(3);
      }
    }
    const alpha = await makeRenditions(await fx.alphaPng());
    const webp = await sharp(alpha.renditions[0].bytes).metadata();
    const jpg = await sharp(alpha.renditions[3].bytes).metadata();
    expect(webp.hasAlpha).toBe(true);
    expect(jpg.hasAlpha).toBe(false);
    const px = await sharp(alpha.renditions[3].bytes).raw().toBuffer();
    expect(px[(48 / 2 * 64 + 60) * 3]).toBeGreaterThan(240); // the transparent half became white
  });

  it('take the first frame of an animation unless asked for every frame', async () => {
    const gif = await fx.animatedGif();
    const still = await makeRenditions(gif);
    expect((await sharp(still.renditions[0].bytes).metadata()).pages ?? 1).toBe(1);
    const moving = await makeRenditions(gif, { animated: true });
    expect((await sharp(moving.renditions[0].bytes, { pages: -1 }).metadata()).pages).toBe(3);
    expect([moving.renditions[0].width, moving.renditions[0].height]).toEqual([40, 30]);
    expect((await sharp(moving.renditions[3].bytes).metadata()).format).toBe('jpeg');
  });

  it('reject bad specs with the field named', async () => {
    expect(() => resolveRenditionSpecs('nope' as never)).toThrow(/preset/);
    expect(() => resolveRenditionSpecs([{ name: 'a', width: 0, format: 'webp', quality: 80 }])).toThrow(/preset\[0\]\.width/);
    expect(() => resolveRenditionSpecs([{ name: 'original', width: 10, format: 'webp', quality: 80 }])).toThrow(/preset\[0\]\.name/);
    expect(() => resolveRenditionSpecs([{ name: 'a', width: 10, format: 'bmp' as never, quality: 80 }])).toThrow(/preset\[0\]\.format/);
    expect(() => resolveRenditionSpecs([{ name: 'a', width: 10, format: 'webp', quality: 101 }])).toThrow(/preset\[0\]\.quality/);
    expect(() => resolveRenditionSpecs([{ name: 'a', width: 10, format: 'webp', quality: 80 }, { name: 'a', width: 10, format: 'webp', quality: 80 }])).toThrow(/preset\[1\]\.name/);
    expect(() => resolveRenditionSpecs([{ name: 'a', width: 10, format: 'webp', quality: 80, crop: 'attention' }])).toThrow(/height/);
    expect(thrownSync(() => resolveRenditionSpecs('pinterest2020', 'smart' as never))).toBeInstanceOf(InvalidParameterError);
  });
});

function thrownSync(f: () => unknown): unknown {
  try { f(); } catch (e) { return e; }
  return undefined;
}

describe('hostile and broken input', () => {
  it('is refused with a typed error, before decoding, quickly', async () => {
    const good = await fx.jpeg(600, 400);
    const cases: [string, Buffer, string][] = [
      ['truncated JPEG', good.subarray(0, good.length >> 1), 'decode'],
      ['PNG claiming 100,000 x 100,000', fx.lyingPng(), 'too-large'],
      ['random bytes', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 255)), 'decode'],
      ['SVG with an external entity', fx.SVG_ENTITY, 'unsupported'],
      ['SVG with a huge viewBox', fx.SVG_HUGE, 'unsupported'],
      ['zero bytes', Buffer.alloc(0), 'decode'],
      ['PDF', Buffer.from('%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\n'), 'unsupported'],
    ];
    for (const [what, bytes, kind] of cases) {
      const t = performance.now();
      const e = await decodeError(makeRenditions(bytes));
      expect(e.kind, what).toBe(kind);
      expect(e.message).toContain('Buffer(');
      expect(performance.now() - t, what).toBeLessThan(5000); // a hang guard, not a benchmark
    }
    expect((await decodeError(makeRenditions(good, { limits: { maxPixels: 1000 } }))).kind).toBe('too-large');
    expect((await decodeError(makeRenditions(good, { limits: { maxBytes: 1000 } }))).kind).toBe('too-large');
    expect((await decodeError(makeRenditions(good, { limits: { formats: ['png'] } }))).kind).toBe('unsupported');
    expect((await decodeError(openImage(path.join(tmp, 'missing.jpg')))).kind).toBe('read');
    expect((await decodeError(openImage('ftp://example.com/x.jpg'))).kind).toBe('input');
    await expect(openImage(good, { maxPixels: 0 })).rejects.toThrow(/limits\.maxPixels/);
  });

  it('a time budget stops slow work with kind timeout', async () => {
    const big = await fx.jpeg(3000, 2000);
    const e = await decodeError(makeRenditions(big, { limits: { timeoutMs: 1 } }));
    expect(e.kind).toBe('timeout');
  });
});

describe('analysis', () => {
  it('finds the palette of a two-colour image and the brightness of black and white', async () => {
    const w = 60, h = 40;
    const raw = Buffer.alloc(w * h * 3);
    for (let i = 0; i < w * h; i++) {
      const left = i % w < 20; // a third red, two thirds blue
      raw.set(left ? [220, 20, 20] : [20, 40, 200], i * 3);
    }
    const a = await analyzeImage(await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer(), { paletteSize: 4 });
    expect(a.palette.length).toBe(2);
    expect(a.palette[0].share).toBeCloseTo(2 / 3, 1);
    expect(a.dominant).toBe(a.palette[0].hex);
    const [r, g, b] = a.palette[0].rgb;
    expect(b).toBeGreaterThan(150);
    expect(r).toBeLessThan(60);
    expect(g).toBeLessThan(80);
    const white = await analyzeImage(await sharp({ create: { width: 32, height: 32, channels: 3, background: '#fff' } }).png().toBuffer());
    const black = await analyzeImage(await sharp({ create: { width: 32, height: 32, channels: 3, background: '#000' } }).png().toBuffer());
    expect(white.brightness).toBeCloseTo(1, 5);
    expect(black.brightness).toBeCloseTo(0, 5);
    for (const x of [white, black, a]) {
      for (const v of [x.quality, x.sharpness, x.noise, x.contrast, x.colourfulness, x.tonalRange, x.blockiness]) expect(Number.isFinite(v)).toBe(true);
      expect(x.quality).toBeGreaterThanOrEqual(0);
      expect(x.quality).toBeLessThanOrEqual(1);
    }
    expect(white.colourfulness).toBe(0);
  });

  it('scores a photo above its blurred, noisy, over-compressed, darkened and blown-out copies', async () => {
    const w = 256, h = 192;
    const base = fx.texturedRaw(w, h, 9);
    const rawOpt = { raw: { width: w, height: h, channels: 3 as const } };
    const q = async (b: Buffer) => (await analyzeImage(b)).quality;
    const original = await q(await sharp(base, rawOpt).png().toBuffer());
    const noisy = Buffer.from(base.map((v, i) => Math.max(0, Math.min(255, v + (((i * 2654435761) >>> 0) % 61) - 30))));
    const dark = Buffer.from(base.map((v) => Math.round(v * 0.45)));
    const bright = Buffer.from(base.map((v) => Math.min(255, Math.round(v * 1.8))));
    const worse = {
      blur: await q(await sharp(base, rawOpt).blur(3).png().toBuffer()),
      noise: await q(await sharp(noisy, rawOpt).png().toBuffer()),
      jpeg: await q(await sharp(base, rawOpt).jpeg({ quality: 5 }).toBuffer()),
      dark: await q(await sharp(dark, rawOpt).png().toBuffer()),
      bright: await q(await sharp(bright, rawOpt).png().toBuffer()),
    };
    for (const [kind, score] of Object.entries(worse)) expect(score, kind).toBeLessThan(original);
    // the analysis is deterministic for a seed
    const b = await sharp(base, rawOpt).png().toBuffer();
    expect(await analyzeImage(b, { seed: 3 })).toEqual(await analyzeImage(b, { seed: 3 }));
  });

  it('qualityScore falls with each degradation measure, whatever the others (property)', () => {
    const m = fc.record({
      sharpness: fc.double({ min: 0, max: 1e5, noNaN: true }), contrast: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
      noise: fc.double({ min: 0, max: 50, noNaN: true }), blockiness: fc.double({ min: 0.5, max: 5, noNaN: true }),
      tonalRange: fc.double({ min: 0, max: 8, noNaN: true }),
    });
    fc.assert(fc.property(m, fc.double({ min: 0.01, max: 10, noNaN: true }), (x, d) => {
      const q = qualityScore(x).quality;
      expect(q).toBeGreaterThanOrEqual(0);
      expect(q).toBeLessThanOrEqual(1);
      expect(qualityScore({ ...x, noise: x.noise + d }).quality).toBeLessThanOrEqual(q);
      expect(qualityScore({ ...x, sharpness: x.sharpness * 1.5 + d }).quality).toBeGreaterThanOrEqual(q);
      expect(qualityScore({ ...x, blockiness: x.blockiness + d }).quality).toBeLessThanOrEqual(q);
      expect(qualityScore({ ...x, tonalRange: Math.max(0, x.tonalRange - d) }).quality).toBeLessThanOrEqual(q);
    }), { seed: 7, numRuns: 300 });
  });

  it('medianInPlace agrees with sorting (property)', () => {
    fc.assert(fc.property(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), { maxLength: 60 }), (xs) => {
      const a = Float32Array.from(xs);
      const sorted = Float32Array.from(xs).sort();
      const n = sorted.length;
      const want = n === 0 ? 0 : n % 2 ? sorted[(n - 1) >> 1] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
      expect(medianInPlace(a)).toBe(want);
    }), { seed: 5, numRuns: 500 });
  });

  it('converts between sRGB and CIELAB', () => {
    expect(srgbToLab(255, 255, 255)[0]).toBeCloseTo(100, 1);
    expect(srgbToLab(0, 0, 0)[0]).toBeCloseTo(0, 5);
    const [L, a, b] = srgbToLab(255, 0, 0);
    expect([L, a, b].map((v) => Math.round(v))).toEqual([53, 80, 67]);
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (r, g, bb) => {
      const back = labToSrgb(...srgbToLab(r, g, bb));
      expect(Math.max(Math.abs(back[0] - r), Math.abs(back[1] - g), Math.abs(back[2] - bb))).toBeLessThanOrEqual(1);
    }), { seed: 1, numRuns: 200 });
  });
});

describe('perceptual hashes', () => {
  it('are near for resized, recompressed and brightened copies and far for different images', async () => {
    const a = await fx.jpeg(400, 300, 1);
    const copies = [
      await sharp(a).resize(200).jpeg({ quality: 90 }).toBuffer(),
      await sharp(a).jpeg({ quality: 50 }).toBuffer(),
      await sharp(a).modulate({ brightness: 1.2 }).jpeg().toBuffer(),
      await sharp(a).extract({ left: 10, top: 8, width: 380, height: 284 }).jpeg().toBuffer(),
    ];
    for (const kind of ['phash', 'dhash'] as const) {
      const ha = await perceptualHash(a, { kind });
      expect(ha.bits).toBe(64);
      expect(ha.hex).toMatch(/^[0-9a-f]{16}$/);
      expect(hammingDistance(ha, ha)).toBe(0);
      for (const c of copies) expect(hammingDistance(ha, await perceptualHash(c, { kind }))).toBeLessThanOrEqual(16);
      const other = await perceptualHash(await sharp(fx.texturedRaw(400, 300, 1), { raw: { width: 400, height: 300, channels: 3 } }).flop().rotate(90).jpeg().toBuffer(), { kind });
      expect(hammingDistance(ha, other)).toBeGreaterThan(16);
      expect(hashFromHex(kind, ha.hex)).toEqual(ha);
    }
    const h256 = await perceptualHash(a, { bits: 256 });
    expect(h256.hex).toHaveLength(64);
    expect(() => hammingDistance(h256, hashFromHex('phash', '0'.repeat(16)))).toThrow(InvalidParameterError);
    expect(() => hashFromHex('phash', 'xyz')).toThrow(/hex/);
  });

  it('HashIndex finds the nearest within a distance, replaces and deletes', () => {
    const h = (hex: string) => hashFromHex('phash', hex);
    const idx = new HashIndex<string>();
    idx.add('a', h('ffffffffffffffff'));
    idx.add('b', h('0000000000000000'));
    idx.add('c', h('00000000000000ff'));
    expect(idx.nearest(h('0000000000000001'), 4)).toEqual({ id: 'b', distance: 1 });
    expect(idx.nearest(h('0000000000000001'), 4, 'b')).toBeUndefined();
    expect(idx.nearest(h('0f0f0f0f0f0f0f0f'), 10)).toBeUndefined();
    idx.delete('b');
    expect(idx.size).toBe(2);
    expect(idx.nearest(h('0000000000000001'), 8)).toEqual({ id: 'c', distance: 7 });
    idx.add('c', h('fffffffffffffffe'));
    expect(idx.nearest(h('fffffffffffffffe'), 0)).toEqual({ id: 'c', distance: 0 });
  });
});

describe('blob stores', () => {
  it('FileSystemStore writes content-addressed blobs atomically with immutable cache metadata', async () => {
    const store = new FileSystemStore(path.join(tmp, 'media'));
    const bytes = await fx.jpeg(40, 30);
    const key = contentKey(bytes, 'jpg');
    expect(key).toMatch(/^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}\.jpg$/);
    expect(await store.head(key)).toBeUndefined();
    const meta = { contentType: 'image/jpeg', cacheControl: IMMUTABLE_CACHE_CONTROL, byteSize: bytes.length, width: 40, height: 30 };
    await store.put(key, bytes, meta);
    await store.put(key, bytes, meta); // idempotent
    expect(await store.get(key)).toEqual(bytes);
    expect(await store.head(key)).toEqual(meta);
    expect(IMMUTABLE_CACHE_CONTROL).toContain('max-age=31536000');
    const dir = path.dirname(store.pathOf(key));
    expect(readdirSync(dir).sort()).toEqual([path.basename(key), `${path.basename(key)}.meta.json`].sort());
    expect(statSync(store.pathOf(key)).size).toBe(bytes.length);
    await store.delete(key);
    expect(await store.get(key)).toBeUndefined();
  });

  it('an interrupted put (blob without metadata) reads as absent and the next put completes it', async () => {
    const store = new FileSystemStore(path.join(tmp, 'media2'));
    const bytes = Buffer.from('abc');
    const key = contentKey(bytes, 'png');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(path.dirname(store.pathOf(key)), { recursive: true });
    writeFileSync(store.pathOf(key), bytes.subarray(0, 1));
    expect(await store.get(key)).toBeUndefined();
    await store.put(key, bytes, { contentType: 'image/png', cacheControl: IMMUTABLE_CACHE_CONTROL, byteSize: 3 });
    expect(await store.get(key)).toEqual(bytes);
  });

  it('refuse keys that could escape the root, and bad metadata', async () => {
    for (const store of [new FileSystemStore(path.join(tmp, 'media3')), new MemoryStore()]) {
      for (const key of ['../x', 'a/../../x', '/etc/passwd', '.hidden', 'a//b', '', 'a\\b', 'x.meta.json']) {
        expect(await thrown(store.put(key, Buffer.from('x'), { contentType: 'image/png', cacheControl: 'x', byteSize: 1 })), key).toBeInstanceOf(InvalidParameterError);
      }
      expect(await thrown(store.put('ok', Buffer.from('x'), { contentType: 'image/png', cacheControl: 'x', byteSize: 2 }))).toBeInstanceOf(InvalidParameterError);
      expect(await thrown(store.put('ok', Buffer.from('x'), { contentType: 'image/png', cacheControl: 'a\r\nSet-Cookie: x', byteSize: 1 }))).toBeInstanceOf(InvalidParameterError);
    }
  });
});
