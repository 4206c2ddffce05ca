import { describe, expect, it } from 'vitest';
import { InvalidParameterError, Rng } from '../src/core/index.js';
import {
  applyCaps, applySlidingWindow, checkCaps, diversityMetrics, intraListSimilarity, mmr, selectWithCaps, selectWithWindow,
} from '../src/diversity/index.js';

type Item = { id: number; category: string | null; creator: string | null };

/** The seed's rule written the slow, obvious way (O(n²)): the reference the O(n) version must equal. */
function naiveCaps(list: Item[], free = 20, catCap = 0.3, creCap = 0.2, limit = 100): Item[] {
  const out: Item[] = [];
  for (const c of list) {
    if (out.length >= limit) break;
    if (out.length >= free && out.length > 0) {
      const catShare = out.filter((x) => c.category !== null && x.category === c.category).length / out.length;
      const creShare = out.filter((x) => c.creator !== null && x.creator === c.creator).length / out.length;
      if (catShare > catCap || creShare > creCap) continue;
    }
    out.push(c);
  }
  return out;
}

const mk = (spec: [string | null, string | null][]): Item[] => spec.map(([category, creator], id) => ({ id, category, creator }));
/** n items whose categories cycle through `cats` and creators are all distinct. */
const cycle = (n: number, cats: string[], start = 0): [string, string][] =>
  Array.from({ length: n }, (_, i) => [cats[i % cats.length], `u${start + i}`]);

describe('seed caps: boundary semantics', () => {
  it('places the first 20 whatever their category or creator', () => {
    const items = mk(Array.from({ length: 25 }, () => ['A', 'same'] as [string, string]));
    const r = applyCaps(items);
    expect(r.items.map((x) => x.id)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // the 21st: category share 20/20 = 1 > 0.3 and creator share 1 > 0.2
    expect(r.skipped[0]).toMatchObject({ index: 20, position: 20, reason: 'category+creator', categoryShare: 1, creatorShare: 1 });
    expect(r.skipped).toHaveLength(5);
  });

  it('a share exactly at the cap passes; measured before adding the candidate', () => {
    // 20 placed: 6 of category A (share 0.30 exactly), others spread over 14 categories
    const head: [string, string][] = [
      ...Array.from({ length: 6 }, (_, i) => ['A', `a${i}`] as [string, string]),
      ...Array.from({ length: 14 }, (_, i) => [`c${i}`, `b${i}`] as [string, string]),
    ];
    const items = mk([...head, ['A', 'x1'], ['A', 'x2'], ['B', 'x3'], ['A', 'x4']]);
    const r = applyCaps(items);
    const ids = r.items.map((x) => x.id);
    // #20 (A): 6/20 = 0.30, not > 0.30 -> placed (a rule that measured after adding, 7/21, would skip it)
    expect(ids).toContain(20);
    // #21 (A): 7/21 = 0.333 > 0.30 -> skipped
    expect(ids).not.toContain(21);
    expect(r.skipped[0]).toMatchObject({ index: 21, position: 21, reason: 'category' });
    expect(r.skipped[0].categoryShare).toBeCloseTo(7 / 21, 12);
    // #22 (B) placed, then #23 (A): 7/22 = 0.318 > 0.30 -> skipped
    expect(ids).toContain(22);
    expect(r.skipped[1]).toMatchObject({ index: 23, position: 22, reason: 'category' });
    expect(r.items).toEqual(naiveCaps(items));
  });

  it('creator share exactly 0.20 passes, above it is skipped', () => {
    const head: [string, string][] = [
      ...Array.from({ length: 4 }, (_, i) => [`k${i}`, 'Z'] as [string, string]),
      ...Array.from({ length: 16 }, (_, i) => [`c${i}`, `b${i}`] as [string, string]),
    ];
    const items = mk([...head, ['n1', 'Z'], ['n2', 'Z']]);
    const r = applyCaps(items);
    expect(r.items.map((x) => x.id)).toContain(20); // 4/20 = 0.2 -> placed
    expect(r.skipped).toEqual([expect.objectContaining({ index: 21, reason: 'creator', position: 21 })]); // 5/21 > 0.2
  });

  it('stops at the limit and reports only what it considered', () => {
    const items = mk(cycle(300, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']));
    const r = applyCaps(items);
    expect(r.items).toHaveLength(100);
    expect(r.items.map((x) => x.id)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(r.skipped).toEqual([]);
    expect(r.exhausted).toBe(false);
  });

  it('null category or creator is never capped', () => {
    const items = mk(Array.from({ length: 40 }, () => [null, null] as [null, null]));
    expect(applyCaps(items).items).toHaveLength(40);
  });

  it("'stop' returns a short list; 'relax' fills with skipped ones in order, marked", () => {
    const items = mk([...cycle(20, ['a', 'b', 'c', 'd', 'e']), ['a', 'q1'], ['a', 'q2'], ['b', 'q3']]);
    const stop = applyCaps(items, { limit: 23 });
    expect(stop.items).toHaveLength(23); // #20 a: 4/20 = 0.2 ok; #21 a: 5/21 = 0.238 ok; #22 b: 4/22 ok
    expect(stop.exhausted).toBe(false);
    const tight = applyCaps(items, { limit: 23, categoryCap: 0.2 });
    // #20 a: 4/20 = 0.2 placed; #21 a: 5/21 > 0.2 skipped; #22 b: 4/21 placed
    expect(tight.items.map((x) => x.id)).toEqual([...Array(21).keys(), 22]);
    expect(tight.exhausted).toBe(true);
    const relax = applyCaps(items, { limit: 23, categoryCap: 0.2, onExhausted: 'relax' });
    expect(relax.items.map((x) => x.id)).toEqual([...Array(21).keys(), 22, 21]);
    expect(relax.relaxed).toBe(1);
  });

  it('every number is an option', () => {
    const items = mk([['a', 'x'], ['a', 'y'], ['a', 'z'], ['b', 'w']]);
    const sel = selectWithCaps([0, 1, 2, 3], items.map((i) => i.category), items.map((i) => i.creator), { freePrefix: 2, categoryCap: 0.5, creatorCap: 1 });
    expect(sel.selected).toEqual([0, 1, 3]);
    expect(applyCaps(items, { freePrefix: 0, categoryCap: 0.5, creatorCap: 1, limit: 2 }).items.map((x) => x.id)).toEqual([0, 3]);
  });

  it('rejects bad options with typed errors', () => {
    const items = mk([['a', 'x']]);
    for (const bad of [{ limit: 0 }, { limit: -3 }, { limit: 2.5 }, { categoryCap: 1.5 }, { creatorCap: Number.NaN }, { freePrefix: -1 }, { onExhausted: 'fill' as never }]) {
      expect(() => applyCaps(items, bad)).toThrow(InvalidParameterError);
    }
    expect(() => applyCaps(items, { limit: 0 })).toThrow(/limit must be an integer >= 1 \(got 0\)/);
    expect(() => applyCaps('nope' as never)).toThrow(InvalidParameterError);
  });

  it('empty input gives an empty list', () => {
    expect(applyCaps([])).toEqual({ items: [], skipped: [], relaxed: 0, exhausted: true });
  });

  it('equals the O(n²) seed rule on seeded random lists (property)', () => {
    const rng = new Rng(7);
    for (let t = 0; t < 200; t++) {
      const n = rng.int(400);
      const nc = 1 + rng.int(8);
      const nr = 1 + rng.int(12);
      const items: Item[] = Array.from({ length: n }, (_, id) => ({
        id,
        category: rng.next() < 0.05 ? null : `c${Math.floor(Math.pow(rng.next(), 2) * nc)}`,
        creator: rng.next() < 0.05 ? null : `r${Math.floor(Math.pow(rng.next(), 2) * nr)}`,
      }));
      const opts = { freePrefix: rng.int(30), categoryCap: rng.next(), creatorCap: rng.next(), limit: 1 + rng.int(150) };
      const r = applyCaps(items, opts);
      expect(r.items).toEqual(naiveCaps(items, opts.freePrefix, opts.categoryCap, opts.creatorCap, opts.limit));
      expect(checkCaps(r.items, opts)).toBeNull();
      expect(r.items.length).toBeLessThanOrEqual(opts.limit);
      // output keeps input order
      for (let i = 1; i < r.items.length; i++) expect(r.items[i].id).toBeGreaterThan(r.items[i - 1].id);
    }
  });
});

describe('checkCaps', () => {
  it('finds the first violation after the free prefix', () => {
    const list = mk([...cycle(20, ['a', 'b', 'c', 'd']), ['a', 'z1'], ['a', 'z2']]);
    // #20 a: 5/20 = 0.25 fine; #21 a: 6/21 = 0.286 fine with cap 0.3; with cap 0.25: 6/21 > 0.25
    expect(checkCaps(list)).toBeNull();
    expect(checkCaps(list, { categoryCap: 0.25 })).toMatchObject({ position: 21, reason: 'category' });
    expect(() => checkCaps(list, { limit: 5 })).toThrow(InvalidParameterError);
  });
});

describe('sliding window', () => {
  it('defers candidates that would repeat a key inside the window', () => {
    const r = selectWithWindow([0, 1, 2, 3], [['a', 'a', 'b', 'b']], { window: 2, maxPerWindow: 1 });
    expect(r.selected).toEqual([0, 2, 1, 3]);
    expect(r.deferred).toEqual([1]); // 3 (b) follows 1 (a), so it never waits
  });

  it("'stop' ends when nothing fits; 'relax' places the best deferred one", () => {
    const keys = [['a', 'a', 'a', 'b']];
    expect(selectWithWindow([0, 1, 2, 3], keys, { window: 3, maxPerWindow: 1 }).selected).toEqual([0, 3]);
    const r = selectWithWindow([0, 1, 2, 3], keys, { window: 3, maxPerWindow: 1, onExhausted: 'relax' });
    expect(r.selected).toEqual([0, 3, 1, 2]);
    expect(r.relaxed).toBe(2);
  });

  it('holds in every window on seeded random lists (property)', () => {
    const rng = new Rng(11);
    for (let t = 0; t < 100; t++) {
      const n = 1 + rng.int(300);
      const items = Array.from({ length: n }, (_, id) => ({ id, category: `c${rng.int(1 + rng.int(6))}`, creator: `r${rng.int(20)}` }));
      const w = 1 + rng.int(6);
      const m = 1 + rng.int(3);
      const r = applySlidingWindow(items, { window: w, maxPerWindow: m, limit: 100 }, ['category', 'creator']);
      expect(r.items.length).toBeLessThanOrEqual(100);
      expect(new Set(r.items.map((x) => x.id)).size).toBe(r.items.length);
      for (let s = 0; s + w <= r.items.length; s++) {
        for (const key of ['category', 'creator'] as const) {
          const counts = new Map<string, number>();
          for (const x of r.items.slice(s, s + w)) counts.set(x[key], (counts.get(x[key]) ?? 0) + 1);
          expect(Math.max(...counts.values())).toBeLessThanOrEqual(m);
        }
      }
    }
  });

  it('rejects bad options', () => {
    expect(() => selectWithWindow([0], [['a']], { window: 0 })).toThrow(InvalidParameterError);
    expect(() => selectWithWindow([0], [['a']], { maxPerWindow: 0 })).toThrow(InvalidParameterError);
    expect(() => applySlidingWindow([{ category: 'a' }], {}, ['colour' as never])).toThrow(InvalidParameterError);
  });
});

describe('mmr', () => {
  it('λ = 1 is relevance order; λ = 0.5 skips a near-duplicate', () => {
    const rel = new Float64Array([1, 0.99, 0.5]);
    const vecs = new Float32Array([1, 0, 1, 0, 0, 1]);
    expect(mmr(rel, vecs, 2, { lambda: 1, limit: 3 }).selected).toEqual([0, 1, 2]);
    expect(mmr(rel, vecs, 2, { lambda: 0.5, limit: 2 }).selected).toEqual([0, 2]);
  });

  it('gains follow the formula', () => {
    const rel = new Float64Array([0.9, 0.8, 0.1]);
    const vecs = new Float32Array([1, 0, 0.6, 0.8, 0, 1]);
    const r = mmr(rel, vecs, 2, { lambda: 0.7, limit: 3 });
    expect(r.selected).toEqual([0, 1, 2]);
    expect(r.gains[0]).toBeCloseTo(0.63, 12);
    expect(r.gains[1]).toBeCloseTo(0.7 * 0.8 - 0.3 * 0.6, 6);
    expect(r.gains[2]).toBeCloseTo(0.7 * 0.1 - 0.3 * 0.8, 6);
  });

  it('lowers intra-list similarity on clustered data', () => {
    const rng = new Rng(3);
    const n = 200;
    const dim = 8;
    const vecs = new Float32Array(n * dim);
    const rel = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % 4;
      for (let d = 0; d < dim; d++) vecs[i * dim + d] = (d === c ? 3 : 0) + 0.3 * rng.normal();
      rel[i] = c === 0 ? 0.9 + 0.1 * rng.next() : 0.5 + 0.3 * rng.next();
    }
    const rows = (sel: number[]) => sel.map((i) => vecs.subarray(i * dim, (i + 1) * dim));
    const byRel = Array.from(rel.keys()).sort((a, b) => rel[b] - rel[a]).slice(0, 20);
    const div = mmr(rel, vecs, dim, { lambda: 0.5, limit: 20 }).selected;
    expect(intraListSimilarity(rows(div))).toBeLessThan(intraListSimilarity(rows(byRel)) - 0.3);
  });

  it('rejects bad input', () => {
    expect(() => mmr([1], new Float32Array(3), 2)).toThrow(/vectors.length must have dimension 2/);
    expect(() => mmr([Number.NaN], new Float32Array(2), 2)).toThrow(InvalidParameterError);
    expect(() => mmr([1], new Float32Array(2), 2, { lambda: 2 })).toThrow(InvalidParameterError);
  });
});

describe('diversity metrics', () => {
  it('computes shares, distinct counts and intra-list similarity at cut-offs', () => {
    const list = mk([['a', 'x'], ['a', 'y'], ['b', 'x'], ['c', null]]);
    const [m2, m4] = diversityMetrics(list, { cutoffs: [2, 4], vectorOf: (it) => (it.category === 'a' ? [1, 0] : [0, 1]) });
    expect(m2).toMatchObject({ n: 2, maxCategoryShare: 1, topCategory: 'a', maxCreatorShare: 0.5, distinctCategories: 1, distinctCreators: 2, intraListSimilarity: 1 });
    expect(m4).toMatchObject({ n: 4, maxCategoryShare: 0.5, maxCreatorShare: 0.5, topCreator: 'x', distinctCategories: 3, distinctCreators: 2 });
    // pairs: (a,a)=1, four a-vs-other pairs = 0, (b,c)=1 -> 2/6
    expect(m4.intraListSimilarity).toBeCloseTo(2 / 6, 12);
    expect(diversityMetrics(list).map((m) => m.cutoff)).toEqual([20, 50, 100]);
    expect(() => diversityMetrics(list, { cutoffs: [0] })).toThrow(InvalidParameterError);
    expect(() => intraListSimilarity([[1, 0]])).toThrow(InvalidParameterError);
  });
});
