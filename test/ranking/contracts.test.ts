/** Regression tests for the joins between ranking and the other modules (issue: one set of contracts). */
import { describe, expect, it } from 'vitest';
import { ExactIndex, HnswIndex } from '../../src/ann/index.js';
import { Rng } from '../../src/core/rng.js';
import type { Embedder, VectorSearcher } from '../../src/core/interfaces.js';
import { InvalidParameterError } from '../../src/core/errors.js';
import { FeedGenerator, InMemoryPinMetadata, PopularSource, VisualNeighborsSource, VisualSearch, type PopularPin } from '../../src/ranking/index.js';

const ctx = (exclude: Iterable<string> = [], limit = 1000) => ({ signal: new AbortController().signal, limit, exclude: new Set(exclude) });

function vectors(n: number, dim: number, seed = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * dim }, () => rng.normal());
}

describe('PopularSource', () => {
  it('applies exclusions before cutting each category to perCategory', () => {
    const pins: PopularPin<string>[] = Array.from({ length: 100 }, (_, i) => ({ id: `p${i}`, category: 'wedding', engagements: 1000 - i, impressions: 2000 }));
    const src = new PopularSource<string, string>({ pins, perCategory: 20 });
    const top20 = src.fetch('u', ctx()).map((c) => c.id);
    expect(top20).toHaveLength(20);
    const next = src.fetch('u', ctx(top20)).map((c) => c.id);
    expect(next).toHaveLength(20);
    expect(next).toEqual(pins.slice(20, 40).map((p) => p.id));
  });
});

describe('VisualSearch over an index smaller than k × overfetch', () => {
  const ids = Array.from({ length: 60 }, (_, i) => `pin${i}`);
  const dim = 8;
  const data = vectors(60, dim);
  const embedder: Embedder<number> = { dim, embed: (i) => data.slice(i * dim, (i + 1) * dim) };
  const metadata = new InMemoryPinMetadata(ids.map((id) => ({ id, quality: 0.5 })));

  it('HnswIndex: the default k (50, over-fetch 2) on 60 pins returns 50, not an error', async () => {
    const index = new HnswIndex<string>({ metric: 'cosine', dim, seed: 1 });
    index.addItems(ids, data);
    const vs = new VisualSearch({ embedder, index, metadata });
    expect((await vs.search(3)).length).toBe(50);
    expect((await vs.search(3, { k: 500 })).length).toBe(60);
    expect((await vs.searchByPin('pin3', { k: 500 })).length).toBe(59);
    await index.close();
  });

  it('a strict third-party searcher that rejects k > size is never asked for more than it holds', async () => {
    const exact = new ExactIndex<string>({ metric: 'cosine', dim });
    exact.addItems(ids, data);
    const strict: VectorSearcher<string> = {
      metric: 'cosine', dim, size: 60,
      search: (q, k, o) => { if (k > 60) throw new InvalidParameterError('k', '<= 60', k); return exact.search(q, k, o); },
    };
    const vs = new VisualSearch({ embedder, index: strict, metadata });
    expect((await vs.search(3)).length).toBe(50);
  });

  it('an empty index gives an empty answer', async () => {
    const vs = new VisualSearch({ embedder, index: new ExactIndex<string>({ metric: 'cosine', dim }), metadata });
    expect(await vs.search(1)).toEqual([]);
  });
});

describe('VisualNeighborsSource with the README wiring', () => {
  it('seeds without a vector (cold, unknown to the index) make the source empty, not failed', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const index = new ExactIndex<string>({ metric: 'cosine', dim: 4 });
    index.addItems(ids, vectors(4, 4));
    const recent = (u: string) => (u === 'cold' ? ['never-indexed'] : ['a']);
    const viaDefault = new VisualNeighborsSource<string, string>({ recent, index });
    const viaGetVector = new VisualNeighborsSource<string, string>({ name: 'v2', recent, vectorOf: (id) => index.getVector(id), index });
    const feed = new FeedGenerator<string, string>({ sources: [viaDefault, viaGetVector], diversity: false });
    const cold = await feed.generate('cold');
    expect(cold.sources.map((s) => s.status)).toEqual(['empty', 'empty']);
    const warm = await feed.generate('warm');
    expect(warm.sources.map((s) => s.status)).toEqual(['ok', 'ok']);
    expect(warm.items.map((i) => i.id)).not.toContain('a');
  });
});
