/**
 * Visual search by region: a box checked against its image, the crop, and VisualSearch wired to a real
 * (tiny, colour-mean) embedder and ExactIndex — the left half of a red|blue scene finds the red pin.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { checkBox, cropImage } from '../../src/images/index.js';
import { ExactIndex } from '../../src/ann/index.js';
import { InMemoryPinMetadata, VisualSearch } from '../../src/ranking/index.js';
import { ImageDecodeError, InvalidParameterError, UnknownIdError } from '../../src/core/errors.js';

async function scene(): Promise<Buffer> {
  // 200 × 100: red on the left, blue on the right
  const left = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#e01010' } }).png().toBuffer();
  return sharp({ create: { width: 200, height: 100, channels: 3, background: '#1010e0' } }).composite([{ input: left, left: 0, top: 0 }]).png().toBuffer();
}

/** Mean RGB of an image, L2-normalised: a real embedder of colour. */
const colourEmbedder = {
  dim: 3,
  async embed(input: Buffer | string): Promise<Float32Array> {
    const { channels } = await sharp(input).stats();
    const v = Float32Array.from(channels.slice(0, 3).map((c) => c.mean));
    const n = Math.hypot(...v) || 1;
    return v.map((x) => x / n);
  },
};

describe('checkBox and cropImage', () => {
  it('accepts a box inside the image and rounds it out to whole pixels', () => {
    expect(checkBox({ x: 10, y: 20, width: 30, height: 40 }, 200, 100)).toEqual({ x: 10, y: 20, width: 30, height: 40 });
    expect(checkBox({ x: 10.5, y: 0.2, width: 10, height: 9.5 }, 200, 100)).toEqual({ x: 10, y: 0, width: 11, height: 10 });
  });
  it('refuses an empty box, one outside the image, and non-numbers, by name', () => {
    expect(() => checkBox({ x: 0, y: 0, width: 0, height: 10 }, 200, 100)).toThrow(/box must be a non-empty region/);
    expect(() => checkBox({ x: 150, y: 0, width: 60, height: 10 }, 200, 100)).toThrow(/box must be a region inside the 200×100 image \(got "x 150, y 0, 60×10"\)/);
    expect(() => checkBox({ x: -1, y: 0, width: 5, height: 5 }, 200, 100)).toThrow(InvalidParameterError);
    expect(() => checkBox({ x: NaN, y: 0, width: 5, height: 5 }, 200, 100)).toThrow(/box\.x must be a finite number/);
    expect(() => checkBox(null as never, 200, 100)).toThrow(/box must be an object/);
  });
  it('crops the region as PNG; bad input is an ImageDecodeError', async () => {
    const crop = await cropImage(await scene(), { x: 0, y: 0, width: 100, height: 100 });
    const meta = await sharp(crop).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 100, 100]);
    const { channels } = await sharp(crop).stats();
    expect(channels[0].mean).toBeGreaterThan(200); // red
    await expect(cropImage(Buffer.from('not an image'), { x: 0, y: 0, width: 1, height: 1 })).rejects.toThrow(ImageDecodeError);
  });
});

describe('VisualSearch by region', () => {
  const index = new ExactIndex<string>({ metric: 'cosine', dim: 3 });
  index.addItems(['red', 'blue', 'green'], Float32Array.of(1, 0.07, 0.07, 0.07, 0.07, 1, 0.07, 1, 0.07));
  it('a box of the query image finds the pins that look like that region', async () => {
    const img = await scene();
    const vs = new VisualSearch({ embedder: colourEmbedder, index, metadata: new InMemoryPinMetadata<string>([]) });
    expect((await vs.search(img, { k: 1, box: { x: 0, y: 0, width: 100, height: 100 } }))[0].id).toBe('red');
    expect((await vs.search(img, { k: 1, box: { x: 100, y: 0, width: 100, height: 100 } }))[0].id).toBe('blue');
    await expect(vs.search(img, { k: 1, box: { x: 150, y: 0, width: 100, height: 100 } })).rejects.toThrow(/box must be a region inside the 200×100 image/);
  });
  it('by a pin plus a box, through imageOf', async () => {
    const img = await scene();
    const pins = new ExactIndex<string>({ metric: 'cosine', dim: 3 });
    pins.addItems(['scene', 'red', 'blue'], Float32Array.of(0.7, 0.1, 0.7, 1, 0.07, 0.07, 0.07, 0.07, 1));
    const vs = new VisualSearch<Buffer, string>({ embedder: colourEmbedder, index: pins, metadata: new InMemoryPinMetadata<string>([]), imageOf: (id) => (id === 'scene' ? img : undefined) });
    const hits = await vs.searchByPin('scene', { k: 2, box: { x: 100, y: 0, width: 100, height: 100 } });
    expect(hits[0].id).toBe('blue');
    expect(hits.map((h) => h.id)).not.toContain('scene');
    await expect(vs.searchByPin('red', { box: { x: 0, y: 0, width: 1, height: 1 } })).rejects.toThrow(UnknownIdError);
    const noImages = new VisualSearch({ embedder: colourEmbedder, index: pins, metadata: new InMemoryPinMetadata<string>([]) });
    await expect(noImages.searchByPin('scene', { box: { x: 0, y: 0, width: 1, height: 1 } })).rejects.toThrow(/imageOf/);
  });
});

describe('VisualSearch with a scorer in place of the blend', () => {
  it('ranks by the scorer (constructor or per query), and names it in the explanation', async () => {
    const index = new ExactIndex<string>({ metric: 'cosine', dim: 3 });
    index.addItems(['a', 'b', 'c'], Float32Array.of(1, 0, 0, 0.9, 0.1, 0, 0.8, 0.2, 0));
    const metadata = new InMemoryPinMetadata<string>([{ id: 'a', quality: 0.1 }, { id: 'b', quality: 0.5 }, { id: 'c', quality: 0.9 }]);
    const embedder = { dim: 3, embed: (v: Float32Array) => v };
    // a scorer that prefers quality alone: the reverse of the similarity order
    const byQuality = { name: 'quality-only', score: (_b: unknown, s: { quality: Float64Array }, out: Float64Array) => { for (let i = 0; i < out.length; i++) out[i] = s.quality[i]; } };
    const vs = new VisualSearch({ embedder, index, metadata, scorer: byQuality as never });
    const q = Float32Array.of(1, 0, 0);
    const r = await vs.search(q, { k: 3 });
    expect(r.map((x) => x.id)).toEqual(['c', 'b', 'a']);
    expect(r[0].explanation).toMatch(/^ranked by quality-only; /);
    const blend = new VisualSearch({ embedder, index, metadata });
    expect((await blend.search(q, { k: 3, scorer: byQuality as never })).map((x) => x.id)).toEqual(['c', 'b', 'a']);
    expect(() => new VisualSearch({ embedder, index, metadata, scorer: {} as never })).toThrow(/scorer/);
  });
});
