import { describe, expect, it } from 'vitest';
import { tableFromArrays, vectorFromArray, Table, Utf8, Float64 } from 'apache-arrow';
import { InvalidParameterError, NumericalError, Rng } from '../src/core/index.js';
import { checkCaps } from '../src/diversity/index.js';
import {
  BlendScorer, DEFAULT_WEIGHTS, RankHeap, compareIds, normalizeSignals, normalizeWeights, rerank, scoreCandidates,
  smoothedRate, toBatch, topK, type Candidate, type CandidateColumns, type Scorer,
} from '../src/ranking/index.js';

const sig = (cands: Candidate[], opts = {}) => normalizeSignals(toBatch(cands), opts);

describe('compareIds and top-k', () => {
  it('orders numbers numerically, strings by code unit, numbers before strings', () => {
    expect(compareIds(2, 10)).toBeLessThan(0);
    expect(compareIds(10n, 2)).toBeGreaterThan(0);
    expect(compareIds('b', 'a')).toBeGreaterThan(0);
    expect(compareIds('10', '2')).toBeLessThan(0);
    expect(compareIds(5, 'a')).toBeLessThan(0);
    expect(compareIds('a', 5n)).toBeGreaterThan(0);
    expect(compareIds(3, 3n)).toBe(0);
  });

  it('breaks score ties by id, then row', () => {
    expect(Array.from(topK(new Float64Array([0.1, 0.7, 0.7, 0.3]), 2, ['w', 'y', 'x', 'z']))).toEqual([2, 1]);
    expect(Array.from(topK(new Float64Array([0.5, 0.5, 0.5]), 3))).toEqual([0, 1, 2]);
    expect(Array.from(topK(new Float64Array([1, 2]), 10))).toEqual([1, 0]);
  });

  it('equals a full sort on seeded random scores with many ties (property)', () => {
    const rng = new Rng(5);
    for (let t = 0; t < 100; t++) {
      const n = 1 + rng.int(2000);
      const scores = Float64Array.from({ length: n }, () => rng.int(50) / 50);
      const ids = Array.from({ length: n }, (_, i) => (rng.next() < 0.5 ? `p${(i * 7919) % 10007}` : (i * 104729) % 1000003));
      const k = 1 + rng.int(200);
      const full = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || compareIds(ids[a], ids[b]) || a - b);
      expect(Array.from(topK(scores, k, ids))).toEqual(full.slice(0, k));
    }
  });

  it('RankHeap yields every index once, best first', () => {
    const h = new RankHeap(new Float64Array([0.2, 0.9, 0.5]), ['a', 'b', 'c']);
    expect([...h]).toEqual([1, 2, 0]);
    expect(h.next()).toBe(-1);
  });

  it('rejects bad k and NaN scores', () => {
    expect(() => topK([1], 0)).toThrow(InvalidParameterError);
    expect(() => topK([1, Number.NaN], 1)).toThrow(/scores\[1\]/);
    expect(() => topK([1, 2], 1, ['a'])).toThrow(InvalidParameterError);
  });
});

describe('signal normalisation', () => {
  it('engagement: 1 save in 1 view does not beat 900 in 10,000', () => {
    expect(smoothedRate(1, 1)).toBeCloseTo(3 / 101, 12);
    expect(smoothedRate(900, 10000)).toBeCloseTo(902 / 10100, 12);
    expect(smoothedRate(0, 0)).toBeCloseTo(0.02, 12);
    const s = sig([{ id: 'lucky', engagements: 1, impressions: 1 }, { id: 'solid', engagements: 900, impressions: 10000 }]);
    expect(s.engagement[1]).toBe(1); // scaled by the batch max
    expect(s.engagement[0]).toBeCloseTo((3 / 101) / (902 / 10100), 12);
    const r = rerank([{ id: 'lucky', engagements: 1, impressions: 1, similarity: 0.5, quality: 0.5 }, { id: 'solid', engagements: 900, impressions: 10000, similarity: 0.5, quality: 0.5 }], { diversity: false });
    expect(r.items.map((x) => x.id)).toEqual(['solid', 'lucky']);
  });

  it('engagement: rate used as given; no evidence means the prior; scale none keeps rates', () => {
    const s = sig([{ id: 1, engagementRate: 0.04 }, { id: 2 }, { id: 3, engagements: 0, impressions: 0 }], { engagementScale: 'none' });
    expect(Array.from(s.engagement)).toEqual([0.04, 0.02, 0.02]);
    const p = sig([{ id: 1, engagements: 5, impressions: 10 }], { engagementScale: 'none', engagementPrior: { rate: 0.5, strength: 10 } });
    expect(p.engagement[0]).toBeCloseTo(10 / 20, 12);
  });

  it('cosine: similarity clamped to [0, 1], distance becomes 1 - d', () => {
    const s = sig([{ id: 1, similarity: 0.8 }, { id: 2, similarity: -0.4 }, { id: 3, distance: 0.25 }, { id: 4, distance: 1.7 }, { id: 5, similarity: 1 + 1e-7 }]);
    expect(Array.from(s.similarity)).toEqual([0.8, 0, 0.75, 0, 1]);
  });

  it('ip: min-max over the batch; l2: 1 / (1 + d)', () => {
    const ip = sig([{ id: 1, similarity: 4 }, { id: 2, similarity: -2 }, { id: 3, distance: 0 }], { metric: 'ip' });
    expect(Array.from(ip.similarity)).toEqual([1, 0, 3 / 6]);
    expect(Array.from(sig([{ id: 1, similarity: 7 }], { metric: 'ip' }).similarity)).toEqual([1]);
    const l2 = sig([{ id: 1, distance: 0 }, { id: 2, distance: 3 }, { id: 3, similarity: 0.4 }], { metric: 'l2' });
    expect(Array.from(l2.similarity)).toEqual([1, 0.25, 0.4]);
  });

  it('missing signals: similarity 0 and quality 0.5 by default, configurable', () => {
    const s = sig([{ id: 1 }]);
    expect([s.similarity[0], s.quality[0]]).toEqual([0, 0.5]);
    const t = sig([{ id: 1 }, { id: 2, similarity: 0.3, quality: 0.9 }], { missing: { similarity: 0.2, quality: 0 } });
    expect([t.similarity[0], t.quality[0], t.similarity[1], t.quality[1]]).toEqual([0.2, 0, 0.3, 0.9]);
  });

  it('rejects NaN, infinite and out-of-range signals naming field and row', () => {
    expect(() => toBatch([{ id: 1 }, { id: 2, quality: Number.NaN }])).toThrow(/candidates\[1\]\.quality must be a finite number \(got NaN\)/);
    expect(() => toBatch([{ id: 1, quality: 1.2 }])).toThrow(/quality must be in \[0, 1\]/);
    expect(() => toBatch([{ id: 1, similarity: Infinity }])).toThrow(InvalidParameterError);
    expect(() => toBatch([{ id: 1, engagements: -1, impressions: 3 }])).toThrow(InvalidParameterError);
    expect(() => toBatch([{ id: 1, engagements: 5, impressions: 3 }])).toThrow(/engagements must be <= impressions/);
    expect(() => toBatch([{ id: 1, engagements: 5 }])).toThrow(/both engagements and impressions/);
    expect(() => toBatch([{ id: 1, engagementRate: 2 }])).toThrow(InvalidParameterError);
    expect(() => toBatch([{ id: Number.NaN } as Candidate])).toThrow(/candidates\[0\]\.id/);
    expect(() => toBatch([{ id: 1, quality: '0.5' as never }])).toThrow(InvalidParameterError);
    expect(() => sig([{ id: 1, similarity: 1.5 }])).toThrow(/similarity must be a cosine in \[-1, 1\]/);
    expect(() => sig([{ id: 1, distance: 2.5 }])).toThrow(InvalidParameterError);
    expect(() => sig([{ id: 1, distance: -1 }], { metric: 'l2' })).toThrow(InvalidParameterError);
    expect(() => sig([{ id: 1, similarity: 3 }], { metric: 'l2' })).toThrow(InvalidParameterError);
    expect(() => toBatch({ ids: [1, 2], quality: new Float64Array([0.5, Number.NaN]) })).toThrow(/candidates\[1\]\.quality/);
    expect(() => toBatch({ ids: [1, 2], quality: new Float64Array([0.5]) })).toThrow(/quality.length/);
    expect(() => toBatch(42 as never)).toThrow(InvalidParameterError);
  });

  it('rejects bad options', () => {
    expect(() => sig([{ id: 1 }], { metric: 'hamming' as never })).toThrow(InvalidParameterError);
    expect(() => sig([{ id: 1 }], { engagementPrior: { rate: 0 } })).toThrow(/engagementPrior.rate/);
    expect(() => sig([{ id: 1 }], { engagementPrior: { strength: -1 } })).toThrow(InvalidParameterError);
    expect(() => sig([{ id: 1 }], { missing: { quality: 2 } })).toThrow(InvalidParameterError);
  });
});

describe('blend weights', () => {
  it('are normalised to sum to 1 (documented choice: normalise, never reject for the sum)', () => {
    expect(normalizeWeights({ similarity: 3, engagement: 1, quality: 1 })).toEqual({ similarity: 0.6, engagement: 0.2, quality: 0.2 });
    const a = scoreCandidates([{ id: 1, similarity: 0.9, quality: 0.3, engagements: 3, impressions: 50 }, { id: 2, similarity: 0.1, quality: 1 }], { weights: { similarity: 3, engagement: 1, quality: 1 } });
    const b = scoreCandidates([{ id: 1, similarity: 0.9, quality: 0.3, engagements: 3, impressions: 50 }, { id: 2, similarity: 0.1, quality: 1 }]);
    expect(Array.from(a.scores)).toEqual(Array.from(b.scores));
  });

  it('rejects negative, non-finite, missing or all-zero weights', () => {
    for (const w of [
      { similarity: -0.1, engagement: 0.6, quality: 0.5 }, { similarity: Number.NaN, engagement: 0, quality: 1 },
      { similarity: 0, engagement: 0, quality: 0 }, { similarity: 1, engagement: 1 } as never, { similarity: Infinity, engagement: 0, quality: 0 },
    ]) expect(() => new BlendScorer(w)).toThrow(InvalidParameterError);
    expect(() => rerank([{ id: 1 }], { weights: { similarity: 0, engagement: 0, quality: 0 } })).toThrow(/weights must be weights with a positive sum/);
  });

  it('computes 0.6·sim + 0.2·eng + 0.2·quality exactly on a small case', () => {
    const cands: Candidate[] = [
      { id: 'a', similarity: 0.9, engagements: 900, impressions: 10000, quality: 0.5 },
      { id: 'b', distance: 0.5, engagements: 1, impressions: 1, quality: 1 },
      { id: 'c', similarity: 0.2 },
    ];
    const { scores } = scoreCandidates(cands);
    const emax = 902 / 10100;
    expect(scores[0]).toBeCloseTo(0.6 * 0.9 + 0.2 * 1 + 0.2 * 0.5, 12);
    expect(scores[1]).toBeCloseTo(0.6 * 0.5 + 0.2 * ((3 / 101) / emax) + 0.2 * 1, 12);
    expect(scores[2]).toBeCloseTo(0.6 * 0.2 + 0.2 * (0.02 / emax) + 0.2 * 0.5, 12);
    expect(DEFAULT_WEIGHTS).toEqual({ similarity: 0.6, engagement: 0.2, quality: 0.2 });
  });
});

/** Seeded random candidates with skewed categories and creators. */
function randomCandidates(rng: Rng, n: number, nCat = 8, nCre = 30): Candidate<number>[] {
  return Array.from({ length: n }, (_, i) => {
    const imp = rng.int(5000);
    return {
      id: (i * 7919) % 1000003,
      similarity: Math.round(rng.next() * 40) / 40,
      engagements: Math.min(imp, rng.int(200)), impressions: imp,
      quality: Math.round(rng.next() * 10) / 10,
      category: `c${Math.floor(Math.pow(rng.next(), 3) * nCat)}`,
      creator: `u${Math.floor(Math.pow(rng.next(), 3) * nCre)}`,
    };
  });
}

describe('objects, columns and Arrow give the same ranking', () => {
  const rng = new Rng(21);
  const cands = randomCandidates(rng, 500);
  const cols: CandidateColumns<number> = {
    ids: cands.map((c) => c.id),
    similarity: Float32Array.from(cands, (c) => c.similarity!),
    engagements: Uint32Array.from(cands, (c) => c.engagements!),
    impressions: Uint32Array.from(cands, (c) => c.impressions!),
    quality: Float64Array.from(cands, (c) => c.quality!),
    category: cands.map((c) => c.category!),
    creator: cands.map((c) => c.creator!),
  };
  it('columns', () => {
    // Float32 similarity rounds differently from float64; compare with the float32 values in objects
    const f32 = cands.map((c) => ({ ...c, similarity: Math.fround(c.similarity!) }));
    expect(rerank(cols).items).toEqual(rerank(f32).items);
  });
  it('Arrow table, with nulls as missing values', () => {
    const t = tableFromArrays({
      id: Int32Array.from(cols.ids as number[]),
      similarity: Float64Array.from(cands, (c) => c.similarity!),
      engagements: Float64Array.from(cands, (c) => c.engagements!),
      impressions: Float64Array.from(cands, (c) => c.impressions!),
      quality: Float64Array.from(cands, (c) => c.quality!),
      category: cands.map((c) => c.category!),
      creator: cands.map((c) => c.creator!),
    });
    expect(rerank(t).items).toEqual(rerank(cands).items);
    const withNulls = new Table({
      id: vectorFromArray([1, 2, 3], new Float64()),
      quality: vectorFromArray([0.9, null, 0.1], new Float64()),
      category: vectorFromArray(['a', null, 'b'], new Utf8()),
    });
    const s = scoreCandidates(withNulls);
    expect(s.signals.quality[1]).toBe(0.5); // missing rule
    const r = rerank(withNulls, { diversity: false });
    expect(r.items.map((x) => x.id)).toEqual([1, 2, 3]);
    expect(r.items[1].category).toBeNull();
  });
});

describe('rerank', () => {
  it('empty input gives an empty result; limit must be an integer >= 1', () => {
    expect(rerank([])).toMatchObject({ items: [], skipped: [], exhausted: true });
    expect(rerank({ ids: [] }).items).toEqual([]);
    for (const limit of [0, -1, 1.5, Number.NaN]) expect(() => rerank([{ id: 1 }], { limit })).toThrow(InvalidParameterError);
    expect(() => rerank([{ id: 1 }], { diversity: { limit: 0 } })).toThrow(/limit/);
  });

  it('duplicate ids: the best-ranked copy is kept, others reported', () => {
    const r = rerank([{ id: 'x', similarity: 0.2 }, { id: 'y', similarity: 0.5 }, { id: 'x', similarity: 0.9 }], { diversity: false });
    expect(r.items.map((i) => [i.id, i.index])).toEqual([['x', 2], ['y', 1]]);
    expect(r.skipped).toEqual([expect.objectContaining({ id: 'x', index: 0, reason: 'duplicate' })]);
  });

  it('a custom scorer replaces the blend; non-finite scores are an error', () => {
    const byFeature: Scorer = { name: 'feature', score: (b, _s, out) => { const f = b.features.clicks; for (let i = 0; i < b.n; i++) out[i] = f[i]; } };
    const r = rerank([{ id: 1, similarity: 1, features: { clicks: 1 } }, { id: 2, similarity: 0, features: { clicks: 5 } }], { scorer: byFeature, diversity: false });
    expect(r.items.map((x) => x.id)).toEqual([2, 1]);
    expect(r.scorer).toBe('feature');
    const bad: Scorer = { name: 'bad', score: (_b, _s, out) => out.fill(Number.NaN) };
    expect(() => rerank([{ id: 1 }], { scorer: bad })).toThrow(NumericalError);
    expect(() => rerank([{ id: 1 }], { scorer: {} as never })).toThrow(InvalidParameterError);
  });

  it('properties on seeded random inputs: sorted, no duplicates, caps hold, at most limit', () => {
    const rng = new Rng(99);
    for (let t = 0; t < 60; t++) {
      const n = rng.int(3000);
      const cands = randomCandidates(rng, n, 1 + rng.int(10), 1 + rng.int(40));
      // some duplicate ids
      for (let d = 0; d < n / 50; d++) cands[rng.int(n)].id = cands[rng.int(n)].id;
      const caps = { freePrefix: rng.int(25), categoryCap: 0.1 + 0.4 * rng.next(), creatorCap: 0.05 + 0.3 * rng.next() };
      const limit = 1 + rng.int(150);
      const r = rerank(cands, { limit, diversity: caps });
      expect(r.items.length).toBeLessThanOrEqual(limit);
      expect(new Set(r.items.map((x) => x.id)).size).toBe(r.items.length);
      for (let i = 1; i < r.items.length; i++) {
        const a = r.items[i - 1];
        const b = r.items[i];
        expect(a.score > b.score || (a.score === b.score && compareIds(a.id, b.id) <= 0)).toBe(true);
      }
      expect(checkCaps(r.items, { ...caps, limit })).toBeNull();
      // everything above the last placed item that is missing was skipped for a reason
      const placed = new Set(r.items.map((x) => x.index));
      const reasons = new Map(r.skipped.map((s) => [s.index, s.reason]));
      if (r.items.length > 0) {
        const last = r.items[r.items.length - 1];
        const scored = scoreCandidates(cands).scores;
        for (let i = 0; i < n; i++) {
          if (placed.has(i)) continue;
          if (scored[i] > last.score) expect(reasons.has(i)).toBe(true);
        }
      }
      // without caps the result is the plain top-k of distinct ids
      const plain = rerank(cands, { limit, diversity: false });
      expect(plain.items.length).toBe(Math.min(limit, new Set(cands.map((c) => c.id)).size));
    }
  });

  it('relax fills to the limit when caps run dry', () => {
    const cands: Candidate[] = Array.from({ length: 60 }, (_, i) => ({ id: i, similarity: 1 - i / 100, category: i < 50 ? 'a' : 'b', creator: `u${i}` }));
    const stop = rerank(cands, { limit: 40 });
    expect(stop.items.length).toBeLessThan(40);
    expect(stop.exhausted).toBe(true);
    const relax = rerank(cands, { limit: 40, diversity: { onExhausted: 'relax' } });
    expect(relax.items).toHaveLength(40);
    expect(relax.items.filter((x) => x.relaxed)).toHaveLength(relax.relaxed);
    expect(relax.items.slice(0, stop.items.length)).toEqual(stop.items);
  });
});
