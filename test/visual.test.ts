import { describe, expect, it } from 'vitest';
import { tableFromArrays, makeVector, FixedSizeList, Field, Float32, Float64, Table, Utf8, vectorFromArray } from 'apache-arrow';
import { DimensionMismatchError, InvalidParameterError, Rng, UnknownIdError } from '../src/core/index.js';
import {
  ArrowPinMetadata, BruteForceSearcher, InMemoryPinMetadata, VisualSearch, styleClusters, type EmbedderLike, type PinMetadata,
} from '../src/ranking/index.js';

const DIM = 8;

/** A fake embedder: the "image" is already its embedding (or a seed that makes one). */
class FakeEmbedder implements EmbedderLike<Float32Array | number> {
  readonly dim = DIM;
  calls = 0;
  embed(input: Float32Array | number): Promise<Float32Array> {
    this.calls++;
    if (typeof input === 'number') {
      const rng = new Rng(input);
      return Promise.resolve(rng.fillNormal(new Float32Array(DIM)));
    }
    return Promise.resolve(input);
  }
}

function catalogue(n = 300, seed = 1) {
  const rng = new Rng(seed);
  const vectors = new Float32Array(n * DIM);
  const pins: (PinMetadata<string> & { embedding: Float32Array })[] = [];
  for (let i = 0; i < n; i++) {
    const v = rng.fillNormal(new Float32Array(DIM));
    vectors.set(v, i * DIM);
    const imp = 100 + rng.int(10000);
    pins.push({ id: `p${i}`, category: `c${i % 7}`, creator: `u${i % 23}`, engagements: rng.int(imp / 10), impressions: imp, quality: rng.int(11) / 10, embedding: v });
  }
  const ids = pins.map((p) => p.id);
  return { ids, vectors, pins, index: new BruteForceSearcher(ids, vectors, DIM, 'cosine') };
}

describe('VisualSearch', () => {
  const { ids, vectors, pins, index } = catalogue();
  const metadata = new InMemoryPinMetadata(pins);
  const vs = new VisualSearch({ embedder: new FakeEmbedder(), index, metadata });

  it('returns k results with similarity, blended score and a reason, best first', async () => {
    const q = new Rng(77).fillNormal(new Float32Array(DIM));
    const res = await vs.search(q, { k: 50 });
    expect(res).toHaveLength(50);
    for (let i = 1; i < res.length; i++) expect(res[i - 1].score).toBeGreaterThanOrEqual(res[i].score);
    for (const r of res) {
      const c = r.contributions;
      expect(c.similarity + c.engagement + c.quality).toBeCloseTo(r.score, 12);
      expect(['similarity', 'engagement', 'quality']).toContain(r.reason);
      expect(r.explanation).toMatch(/visually similar \(-?\d\.\d{3}\)/);
      // similarity is the exact cosine to the query
      const row = ids.indexOf(r.id as string);
      const v = vectors.subarray(row * DIM, row * DIM + DIM);
      let dot = 0, nq = 0, nv = 0;
      for (let d = 0; d < DIM; d++) { dot += q[d] * v[d]; nq += q[d] * q[d]; nv += v[d] * v[d]; }
      expect(r.similarity).toBeCloseTo(dot / Math.sqrt(nq * nv), 5);
      // the blend: 0.6·max(0, cos) + ...
      expect(c.similarity).toBeCloseTo(0.6 * Math.max(0, r.similarity), 5);
    }
  });

  it('with all weight on similarity it is plain nearest-neighbour order', async () => {
    const pure = new VisualSearch({ embedder: new FakeEmbedder(), index, metadata, weights: { similarity: 1, engagement: 0, quality: 0 } });
    const q = new Rng(78).fillNormal(new Float32Array(DIM));
    const res = await pure.search(q, { k: 10 });
    expect(res.map((r) => r.id)).toEqual(index.search(q, 10).ids);
  });

  it('searchByPin excludes the pin itself and finds a near-duplicate first', async () => {
    const dupe = new Float32Array(vectors.subarray(5 * DIM, 6 * DIM));
    dupe[0] += 1e-3;
    const all = new InMemoryPinMetadata([...pins, { id: 'twin', quality: 1, engagements: 500, impressions: 1000, embedding: dupe }]);
    const vecs = new Float32Array([...vectors, ...dupe]);
    const idx = new BruteForceSearcher([...ids, 'twin'], vecs, DIM, 'cosine');
    const s = new VisualSearch({ embedder: new FakeEmbedder(), index: idx, metadata: all });
    const res = await s.searchByPin('p5', { k: 20 });
    expect(res.map((r) => r.id)).not.toContain('p5');
    expect(res[0].id).toBe('twin');
    await expect(s.searchByPin('nope')).rejects.toThrow(UnknownIdError);
    await expect(s.searchByPin(Number.NaN as never)).rejects.toThrow(InvalidParameterError);
  });

  it('uses the index vector when metadata has no embeddings; honours a filter', async () => {
    const bare = new InMemoryPinMetadata(pins.map(({ embedding: _e, ...p }) => p));
    const s = new VisualSearch({ embedder: new FakeEmbedder(), index, metadata: bare });
    const res = await s.searchByPin('p9', { k: 5, filter: (id) => id !== 'p10' });
    expect(res).toHaveLength(5);
    expect(res.map((r) => r.id)).not.toContain('p10');
  });

  it('Arrow-backed metadata gives the same results as in-memory', async () => {
    const n = pins.length;
    const embType = new FixedSizeList(DIM, new Field('x', new Float32()));
    const emb = makeVector({ type: embType, length: n, nullCount: 0, child: makeVector(vectors).data[0] });
    const t = new Table({
      id: vectorFromArray(pins.map((p) => p.id), new Utf8()),
      category: vectorFromArray(pins.map((p) => p.category as string), new Utf8()),
      creator: vectorFromArray(pins.map((p) => p.creator as string), new Utf8()),
      engagements: makeVector(Float64Array.from(pins, (p) => p.engagements!)),
      impressions: makeVector(Float64Array.from(pins, (p) => p.impressions!)),
      quality: makeVector(Float32Array.from(pins, (p) => p.quality!)),
      embedding: emb,
    });
    const arrow = new ArrowPinMetadata(t);
    expect(arrow.size).toBe(n);
    expect(arrow.dim).toBe(DIM);
    expect(Array.from(arrow.embedding('p3')!)).toEqual(Array.from(vectors.subarray(3 * DIM, 4 * DIM)));
    const s = new VisualSearch({ embedder: new FakeEmbedder(), index, metadata: arrow });
    const q = new Rng(79).fillNormal(new Float32Array(DIM));
    const a = await s.search(q, { k: 30 });
    const b = await vs.search(q, { k: 30 });
    for (let i = 0; i < a.length; i++) {
      expect(a[i].id).toBe(b[i].id);
      expect(a[i].score).toBeCloseTo(b[i].score, 6); // quality stored as float32 in Arrow
    }
    expect(await s.searchByPin('p3', { k: 3 })).toHaveLength(3);
  });

  it('Arrow metadata: nulls are missing, duplicates and missing id column rejected', () => {
    const t = new Table({ id: vectorFromArray(['a', 'b'], new Utf8()), quality: vectorFromArray([0.5, null], new Float64()) });
    const m = new ArrowPinMetadata(t);
    expect(m.get(['a', 'b', 'zz'])).toEqual([{ id: 'a', quality: 0.5 }, { id: 'b' }, undefined]);
    expect(() => new ArrowPinMetadata(tableFromArrays({ id: ['a', 'a'] }))).toThrow(InvalidParameterError);
    expect(() => new ArrowPinMetadata(tableFromArrays({ key: ['a'] }))).toThrow(/'id' column/);
    expect(() => new InMemoryPinMetadata([{ id: 'a' }, { id: 'a' }])).toThrow(InvalidParameterError);
  });

  it('rejects bad parts and bad queries', async () => {
    expect(() => new VisualSearch({ embedder: new FakeEmbedder(), index: new BruteForceSearcher(['a'], new Float32Array(4), 4), metadata })).toThrow(DimensionMismatchError);
    expect(() => new VisualSearch({ embedder: {} as never, index, metadata })).toThrow(InvalidParameterError);
    await expect(vs.search(new Float32Array(3))).rejects.toThrow(DimensionMismatchError);
    await expect(vs.search(new Float32Array(DIM).fill(Number.NaN))).rejects.toThrow(InvalidParameterError);
    await expect(vs.search(new Float32Array(DIM), { k: 0 })).rejects.toThrow(InvalidParameterError);
  });
});

describe('styleClusters', () => {
  function blobs(k: number, per: number, seed: number) {
    const rng = new Rng(seed);
    const centres = Array.from({ length: k }, () => rng.fillNormal(new Float32Array(16)));
    const v = new Float32Array(k * per * 16);
    const truth: number[] = [];
    for (let c = 0; c < k; c++) for (let i = 0; i < per; i++) {
      const o = (c * per + i) * 16;
      for (let d = 0; d < 16; d++) v[o + d] = 4 * centres[c][d] + 0.2 * rng.normal();
      truth.push(c);
    }
    return { v, truth };
  }

  it('recovers well-separated styles, and the same seed gives the same clusters', () => {
    const { v, truth } = blobs(6, 20, 3);
    const a = styleClusters(v, 16, { k: 6, seed: 9 });
    const b = styleClusters(v, 16, { k: 6, seed: 9 });
    expect(Array.from(a.assignments)).toEqual(Array.from(b.assignments));
    // each true blob maps to one cluster and the map is one-to-one
    const map = new Map<number, number>();
    truth.forEach((t, i) => { if (!map.has(t)) map.set(t, a.assignments[i]); expect(a.assignments[i]).toBe(map.get(t)); });
    expect(new Set(map.values()).size).toBe(6);
    expect(Array.from(a.sizes)).toEqual(Array(6).fill(20));
  });

  it('default k = min(10, floor(n / 5)), at least 1', () => {
    expect(styleClusters(blobs(1, 3, 1).v, 16).k).toBe(1);
    expect(styleClusters(blobs(2, 10, 1).v, 16).k).toBe(4);
    expect(styleClusters(blobs(4, 30, 1).v, 16).k).toBe(10);
  });

  it('rejects bad input', () => {
    expect(() => styleClusters(new Float32Array(0), 4)).toThrow(InvalidParameterError);
    expect(() => styleClusters(new Float32Array(5), 4)).toThrow(InvalidParameterError);
    expect(() => styleClusters(new Float32Array(8), 4, { k: 3 })).toThrow(InvalidParameterError);
    expect(() => styleClusters(new Float32Array([1, Number.NaN, 0, 0]), 4)).toThrow(/vectors\[1\]/);
  });
});
