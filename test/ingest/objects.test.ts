/** Ingest with a detector: each pin's objects recorded, each object's crop embedded as a child of the pin, and a crop finds the pin that contains it. */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ExactIndex } from '../../src/ann/index.js';
import type { Embedder } from '../../src/core/interfaces.js';
import { InvalidParameterError } from '../../src/core/errors.js';
import { MemoryStore } from '../../src/images/index.js';
import { InMemoryPinRecords, Ingestor, objectId, parentPin, type ObjectDetector } from '../../src/ingest/index.js';
import { VisualSearch } from '../../src/ranking/index.js';

/** Mean colour of a 4×4 grid (48 dims): a crop of a red square embeds close to any red square. */
class GridEmbedder implements Embedder<Buffer> {
  readonly dim = 48;
  failNext = 0;
  async embed(input: Buffer): Promise<Float32Array> {
    if (this.failNext > 0) { this.failNext--; throw new Error('model server down'); }
    const px = await sharp(input).resize(4, 4, { fit: 'fill' }).removeAlpha().raw().toBuffer();
    return Float32Array.from(px, (v) => v / 255 + 0.01);
  }
}

type Square = { x: number; y: number; size: number; colour: string; cls: string };

/** A 320×240 grey scene with coloured squares at known places. */
async function scene(squares: Square[], background = '#808080'): Promise<Buffer> {
  const layers = await Promise.all(squares.map(async (q) => ({
    input: await sharp({ create: { width: q.size, height: q.size, channels: 3, background: q.colour } }).png().toBuffer(), left: q.x, top: q.y,
  })));
  return sharp({ create: { width: 320, height: 240, channels: 3, background } }).composite(layers).png().toBuffer();
}

/** A detector that "finds" the squares it was told about, by image size → squares; records the modes asked. */
class PlantedDetector implements ObjectDetector {
  modes: string[] = [];
  constructor(private readonly planted: Map<number, Square[]>) {}
  async detect(_image: unknown, options: { mode?: 'normal' | 'light'; minScore?: number; maxBoxes?: number } = {}) {
    this.modes.push(options.mode ?? 'normal');
    const img = _image as { bytes: Buffer };
    const squares = this.planted.get(img.bytes.length) ?? [];
    return {
      boxes: squares.map((q, i) => ({ box: { x: q.x, y: q.y, width: q.size, height: q.size }, score: 0.9 - i * 0.1, classId: 0, className: q.cls })),
      mode: options.mode ?? 'normal', ms: 1,
    };
  }
}

describe('Ingestor with a detector', () => {
  it('records the objects, indexes each crop as a child of its pin, and a crop finds the pin that contains the object', async () => {
    const red: Square = { x: 20, y: 30, size: 80, colour: '#e02020', cls: 'cup' };
    const blue: Square = { x: 200, y: 120, size: 90, colour: '#2040e0', cls: 'chair' };
    const tiny: Square = { x: 150, y: 10, size: 12, colour: '#20e020', cls: 'cup' };
    const withObjects = await scene([red, blue, tiny]);
    const plainGrey = await scene([], '#7a7a7a');
    const yellowish = await scene([], '#d0c040');
    const detector = new PlantedDetector(new Map([[withObjects.length, [red, blue, tiny]]]));
    const embedder = new GridEmbedder();
    const index = new ExactIndex<string>({ metric: 'cosine', dim: embedder.dim });
    const records = new InMemoryPinRecords();
    let busy = false;
    const ing = new Ingestor({ store: new MemoryStore(), records, embedder, index, detector, objects: { mode: () => (busy ? 'light' : 'normal') } });
    const a = await ing.ingest(withObjects, { id: 'scene', category: 'kitchen' });
    busy = true;
    await ing.ingest(plainGrey, { id: 'grey', category: 'plain' });
    await ing.ingest(yellowish, { id: 'yellow', category: 'plain' });
    expect(detector.modes).toEqual(['normal', 'light', 'light']);
    expect(a.failed).toEqual([]);
    expect(a.record.steps.objects?.ok).toBe(true);
    // the 12-px square is under minSide (32): dropped; the others by score, ids pin#k
    expect(a.record.objects?.map((o) => [o.id, o.className, o.box, o.indexed])).toEqual([
      ['scene#0', 'cup', { x: 20, y: 30, width: 80, height: 80 }, true],
      ['scene#1', 'chair', { x: 200, y: 120, width: 90, height: 90 }, true],
    ]);
    expect(a.record.detection).toEqual({ mode: 'normal', ms: 1 });
    expect(records.get('grey')?.objects).toEqual([]);
    expect(index.size).toBe(5); // 3 pins + 2 objects
    expect(index.has('scene#0') && index.has('scene#1') && !index.has('scene#2')).toBe(true);

    // a red query: the whole scene is mostly grey, so without grouping by pin the grey pin may rank above it; the
    // object finds the scene, and grouping reports the pin (with the object that matched and the pin's metadata)
    const query = await sharp({ create: { width: 60, height: 60, channels: 3, background: '#d81818' } }).png().toBuffer();
    const vs = new VisualSearch({ embedder, index, metadata: records, parentOf: parentPin });
    const hits = await vs.search(query, { k: 3 });
    expect(hits[0].id).toBe('scene');
    expect(hits[0].object).toBe('scene#0');
    expect(hits[0].category).toBe('kitchen');
    expect(new Set(hits.map((h) => h.id)).size).toBe(hits.length); // one result per pin
    expect(hits.every((h) => parentPin(h.id) === undefined)).toBe(true);
    // without parentOf, the object id itself is a result
    const flat = await new VisualSearch({ embedder, index, metadata: records }).search(query, { k: 5 });
    expect(flat[0].id).toBe('scene#0');
    // by region of the scene itself, with the pin's own objects left out when searching by pin
    const byPin = await vs.searchByPin('scene', { k: 5 });
    expect(byPin.map((h) => h.id).sort()).toEqual(['grey', 'yellow']);
    // a filter sees pin ids
    const noScene = await vs.search(query, { k: 3, filter: (id) => id !== 'scene' });
    expect(noScene.map((h) => h.id)).not.toContain('scene');
  });

  it('retries a failed objects step without duplicating children, and re-ingesting changes nothing', async () => {
    const red: Square = { x: 10, y: 10, size: 100, colour: '#e02020', cls: 'cup' };
    const img = await scene([red]);
    const embedder = new GridEmbedder();
    const index = new ExactIndex<string>({ metric: 'cosine', dim: embedder.dim });
    const ing = new Ingestor({ store: new MemoryStore(), embedder, index, detector: new PlantedDetector(new Map([[img.length, [red]]])) });
    embedder.failNext = 2; // the pin's embedding fails (so its index step fails too), then the object's crop
    const first = await ing.ingest(img, { id: 'p1' });
    expect(first.failed).toEqual(['embedding', 'index', 'objects']);
    expect(index.size).toBe(0);
    expect(first.record.steps.objects?.error?.message).toMatch(/model server down/);
    const again = await ing.retry('p1');
    expect(again.failed).toEqual([]);
    expect(again.record.objects?.map((o) => o.id)).toEqual([objectId('p1', 0)]);
    expect(index.size).toBe(2);
    const third = await ing.ingest(img);
    expect(third.outcome).toBe('existing');
    expect(index.size).toBe(2);
  });

  it('fetches deeper when one pin\'s objects take the first hits, so k pins come back', async () => {
    const index = new ExactIndex<string>({ metric: 'cosine', dim: 2 });
    for (let k = 0; k < 8; k++) index.addItems(`busy#${k}`, Float32Array.of(1, 0.001 * k)); // 8 objects right at the query
    index.addItems('busy', Float32Array.of(0, 1));
    for (let p = 0; p < 5; p++) index.addItems(`pin${p}`, Float32Array.of(1, 0.1 + 0.1 * p));
    const vs = new VisualSearch<Float32Array, string>({ embedder: { dim: 2, embed: async (v: Float32Array) => v }, index, metadata: new InMemoryPinRecords(), parentOf: parentPin });
    const r = await vs.searchVector(Float32Array.of(1, 0), { k: 3, overfetch: 1 });
    expect(r.map((x) => [x.id, x.object ?? null])).toEqual([['busy', 'busy#0'], ['pin0', null], ['pin1', null]]);
  });

  it('rejects bad detector options with the parameter named', () => {
    const store = new MemoryStore();
    expect(() => new Ingestor({ store, detector: {} as ObjectDetector })).toThrow(/detector/);
    expect(() => new Ingestor({ store, objects: { minScore: 2 } })).toThrow(InvalidParameterError);
    expect(() => new Ingestor({ store, objects: { mode: 'heavy' as 'light' } })).toThrow(/objects\.mode/);
    expect(() => objectId('a#b', 0)).toThrow(/pin/);
    expect(parentPin('pin#x')).toBeUndefined();
    expect(parentPin('#3')).toBeUndefined();
    expect(parentPin('pin_1#12')).toBe('pin_1');
  });
});
