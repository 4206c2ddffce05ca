import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import sharp from 'sharp';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeImage, resolveDecodeOptions, ImageDecodeError, InvalidParameterError } from './imports.js';
import { bombPng, serve, tempDir, type TestServer } from './helpers.js';

const lim = resolveDecodeOptions();
const RED = { r: 255, g: 0, b: 0 };
const BLUE = { r: 0, g: 0, b: 255 };

/** A w×h image whose left half is red and right half blue. */
async function halves(w: number, h: number): Promise<Buffer> {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = (y * w + x) * 3;
    if (x < w / 2) raw[i] = 255; else raw[i + 2] = 255;
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

function px(d: Uint8Array, size: number, x: number, y: number): [number, number, number] {
  const i = (y * size + x) * 3;
  return [d[i], d[i + 1], d[i + 2]];
}

async function expectDecodeError(p: Promise<unknown>, kind: string, sourceIncludes: string) {
  const e = await p.then(() => undefined, (x) => x);
  expect(e).toBeInstanceOf(ImageDecodeError);
  expect((e as ImageDecodeError).kind).toBe(kind);
  expect((e as ImageDecodeError).source).toContain(sourceIncludes);
  expect((e as Error).message).toContain(sourceIncludes);
  return e as ImageDecodeError;
}

describe('decodeImage', () => {
  let dir: string;
  let server: TestServer;
  let jpeg: Buffer;
  beforeAll(async () => {
    dir = await tempDir('decode');
    jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 10, g: 200, b: 30 } } }).jpeg({ quality: 90 }).toBuffer();
    server = await serve(undefined, {
      '/ok.jpg': jpeg,
      '/big.bin': Buffer.alloc(4096, 1),
      '/slow.jpg': (res) => { res.writeHead(200); res.write(jpeg.subarray(0, 10)); /* never ends */ },
    });
  });
  afterAll(async () => {
    await server.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('returns size*size*3 RGB bytes and keeps a solid colour', async () => {
    const d = await decodeImage(jpeg, 16, 'cover', lim);
    expect(d.length).toBe(16 * 16 * 3);
    const [r, g, b] = px(d, 16, 8, 8);
    expect(Math.abs(r - 10)).toBeLessThan(6);
    expect(Math.abs(g - 200)).toBeLessThan(6);
    expect(Math.abs(b - 30)).toBeLessThan(6);
  });

  it("'fill' keeps left/right halves; 'cover' centre-crops a wide image", async () => {
    const img = await halves(32, 8);
    const fill = await decodeImage(img, 8, 'fill', lim);
    expect(px(fill, 8, 0, 4)).toEqual([255, 0, 0]);
    expect(px(fill, 8, 7, 4)).toEqual([0, 0, 255]);
    // cover: 32x8 -> 8 high, 32 wide, crop centre 8 columns = columns 12..19 of the original: left 4 red, right 4 blue.
    const cover = await decodeImage(img, 8, 'cover', lim);
    expect(px(cover, 8, 0, 4)[0]).toBeGreaterThan(200);
    expect(px(cover, 8, 7, 4)[2]).toBeGreaterThan(200);
  });

  it('applies EXIF orientation (6 = rotate 90° clockwise)', async () => {
    const img = await halves(16, 8);
    const rotated = await sharp(img).withMetadata({ orientation: 6 }).jpeg({ quality: 100 }).toBuffer();
    expect((await sharp(rotated).metadata()).orientation).toBe(6);
    const d = await decodeImage(rotated, 8, 'fill', lim);
    // Displayed upright the red (left) half is on top and blue at the bottom.
    const top = px(d, 8, 4, 0), bottom = px(d, 8, 4, 7);
    expect(top[0]).toBeGreaterThan(200); expect(top[2]).toBeLessThan(60);
    expect(bottom[2]).toBeGreaterThan(200); expect(bottom[0]).toBeLessThan(60);
  });

  it('converts greyscale to three equal channels', async () => {
    const g = await sharp(Buffer.alloc(20 * 20, 90), { raw: { width: 20, height: 20, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(g).metadata()).channels).toBe(1);
    const d = await decodeImage(g, 8, 'cover', lim);
    for (let i = 0; i < d.length; i += 3) { expect(d[i]).toBe(d[i + 1]); expect(d[i + 1]).toBe(d[i + 2]); }
    expect(Math.abs(d[0] - 90)).toBeLessThan(3);
  });

  it('converts CMYK JPEG to sRGB', async () => {
    const cmyk = await sharp({ create: { width: 20, height: 20, channels: 3, background: RED } }).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const [r, g, b] = px(await decodeImage(cmyk, 8, 'cover', lim), 8, 4, 4);
    expect(r).toBeGreaterThan(200); expect(g).toBeLessThan(70); expect(b).toBeLessThan(70);
  });

  it('flattens transparency onto white', async () => {
    const raw = Buffer.alloc(8 * 8 * 4);
    for (let i = 0; i < 64; i++) { raw[i * 4] = 0; raw[i * 4 + 1] = 0; raw[i * 4 + 2] = 0; raw[i * 4 + 3] = i < 32 ? 0 : 255; }
    const png = await sharp(raw, { raw: { width: 8, height: 8, channels: 4 } }).png().toBuffer();
    const d = await decodeImage(png, 8, 'fill', lim);
    expect(px(d, 8, 3, 0)).toEqual([255, 255, 255]); // transparent rows -> white
    expect(px(d, 8, 3, 7)).toEqual([0, 0, 0]); // opaque black stays black
  });

  it.each(['gif', 'webp'] as const)('reads only the first frame of an animated %s', async (fmt) => {
    const raw = Buffer.alloc(8 * 16 * 3);
    for (let i = 0; i < 8 * 16; i++) { if (i < 64) raw[i * 3] = 255; else raw[i * 3 + 2] = 255; }
    const anim = await sharp(raw, { raw: { width: 8, height: 16, channels: 3, pageHeight: 8 } })[fmt]({ loop: 0 }).toBuffer();
    expect((await sharp(anim, { pages: -1 }).metadata()).pages).toBe(2);
    const d = await decodeImage(anim, 8, 'fill', lim);
    for (const [x, y] of [[0, 0], [7, 7], [4, 4]]) {
      const [r, , b] = px(d, 8, x, y);
      expect(r).toBeGreaterThan(200); expect(b).toBeLessThan(60);
    }
  });

  it('rejects a truncated JPEG with a decode error naming the source', async () => {
    const big = await sharp({ create: { width: 200, height: 200, channels: 3, background: RED, noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg().toBuffer();
    const f = path.join(dir, 'truncated.jpg');
    await fsp.writeFile(f, big.subarray(0, Math.floor(big.length / 2)));
    await expectDecodeError(decodeImage(f, 8, 'cover', lim), 'decode', f);
  });

  it('rejects a bomb header (100000 x 100000 PNG) quickly, without allocating it', async () => {
    const tiny = await sharp({ create: { width: 1, height: 1, channels: 3, background: RED } }).png().toBuffer();
    const bomb = bombPng(tiny, 100_000, 100_000);
    expect((await sharp(bomb, { limitInputPixels: false }).metadata()).width).toBe(100_000);
    // "without allocating it": 10^10 pixels would be 30 GB; resident memory must stay where it was (no clock involved)
    const rss0 = process.memoryUsage().rss;
    await expectDecodeError(decodeImage(bomb, 8, 'cover', lim), 'too-large', 'Buffer(');
    expect(process.memoryUsage().rss - rss0).toBeLessThan(256 * 2 ** 20);
  });

  it('rejects a real decompression bomb (6000x6000 solid PNG, 100 KB) over maxPixels', async () => {
    const png = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: BLUE } }).png({ compressionLevel: 9 }).toBuffer();
    expect(png.length).toBeLessThan(1_000_000);
    await expectDecodeError(decodeImage(png, 8, 'cover', resolveDecodeOptions({ maxPixels: 1_000_000 })), 'too-large', 'Buffer(');
  });

  it('enforces the byte limit for Buffers, files and downloads', async () => {
    const small = resolveDecodeOptions({ maxBytes: 100 });
    await expectDecodeError(decodeImage(jpeg, 8, 'cover', small), 'too-large', 'Buffer(');
    const f = path.join(dir, 'ok.jpg');
    await fsp.writeFile(f, jpeg);
    await expectDecodeError(decodeImage(f, 8, 'cover', small), 'too-large', f);
    await expectDecodeError(decodeImage(`${server.url}/big.bin`, 8, 'cover', resolveDecodeOptions({ maxBytes: 1000 })), 'too-large', '/big.bin');
  });

  it('reads files, file: URLs, http URLs and sharp instances to the same pixels', async () => {
    const f = path.join(dir, 'same.jpg');
    await fsp.writeFile(f, jpeg);
    const ref = await decodeImage(jpeg, 16, 'cover', lim);
    expect(await decodeImage(f, 16, 'cover', lim)).toEqual(ref);
    expect(await decodeImage(pathToFileURL(f), 16, 'cover', lim)).toEqual(ref);
    expect(await decodeImage(`${server.url}/ok.jpg`, 16, 'cover', lim)).toEqual(ref);
    expect(await decodeImage(new URL(`${server.url}/ok.jpg`), 16, 'cover', lim)).toEqual(ref);
    expect(await decodeImage(sharp(jpeg), 16, 'cover', lim)).toEqual(ref);
  });

  it('gives typed errors for missing files, 404s, timeouts, empty and non-image input', async () => {
    await expectDecodeError(decodeImage('/nonexistent/x.jpg', 8, 'cover', lim), 'read', '/nonexistent/x.jpg');
    await expectDecodeError(decodeImage(`${server.url}/missing.jpg`, 8, 'cover', lim), 'fetch', '/missing.jpg');
    const e = await expectDecodeError(decodeImage(`${server.url}/slow.jpg`, 8, 'cover', resolveDecodeOptions({ fetchTimeoutMs: 300 })), 'timeout', '/slow.jpg');
    expect(e.message).toContain('timed out');
    await expectDecodeError(decodeImage(Buffer.alloc(0), 8, 'cover', lim), 'decode', 'Buffer(0');
    await expectDecodeError(decodeImage(Buffer.from('definitely not an image'), 8, 'cover', lim), 'decode', 'Buffer(');
    await expectDecodeError(decodeImage(sharp(Buffer.from('nope')), 8, 'cover', lim), 'decode', 'sharp instance');
    await expectDecodeError(decodeImage(42 as never, 8, 'cover', lim), 'input', '[object Number]');
    await expectDecodeError(decodeImage(new URL('ftp://x/y.jpg'), 8, 'cover', lim), 'input', 'ftp://');
  });

  it('validates limits', () => {
    expect(() => resolveDecodeOptions({ maxPixels: 0 })).toThrow(InvalidParameterError);
    expect(() => resolveDecodeOptions({ maxBytes: 1.5 })).toThrow(/decode.maxBytes/);
  });
});
