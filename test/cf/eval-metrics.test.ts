import { describe, expect, it } from 'vitest';
import { SvdRecommender, evaluate, interactionsFromColumns, leaveLastOut, syntheticInteractions, type RowScorer } from '../../src/cf/index.js';

describe('evaluate: Precision@K, MAP@K, AUC, per-user ranks and bootstrap intervals', () => {
  // 3 users over 6 pins; a scorer that ranks pins by a fixed score, so every rank is known by hand
  const log = interactionsFromColumns({
    users: ['a', 'a', 'b', 'b', 'c', 'c'],
    items: ['p0', 'p5', 'p1', 'p4', 'p2', 'p3'],
  });
  const split = leaveLastOut(log, { by: 'order' });
  const fixed = Float32Array.from({ length: split.train.csr.cols }, (_, j) => 100 - j);
  const scorer: RowScorer = { scoreRow: (_idx, _val, out) => out.set(fixed) };

  it('gives exact values on a hand-checked case', () => {
    const pin = (j: number) => split.train.items.id(j);
    const m = evaluate(scorer, split, { k: 2, perUser: true });
    expect(m.users).toBe(3);
    // each user's held-out pin, its column, and the unseen pins ranked above it (by column order)
    const expectRank = [...split.testUsers].map((_, q) => {
      const target = split.testItems[q];
      const seen = new Set(Array.from(split.train.csr.indices.subarray(split.train.csr.indptr[split.testUsers[q]], split.train.csr.indptr[split.testUsers[q] + 1])));
      let r = 0;
      for (let j = 0; j < split.train.csr.cols; j++) if (!seen.has(j) && j !== target && fixed[j] > fixed[target]) r++;
      return { r, pool: split.train.csr.cols - seen.size - 1, name: pin(target) };
    });
    expect(Array.from(m.perUser!.rank)).toEqual(expectRank.map((e) => e.r));
    const k = 2;
    const hits = expectRank.filter((e) => e.r < k);
    expect(m.hr).toBeCloseTo(hits.length / 3, 12);
    expect(m.precision).toBeCloseTo(hits.length / 3 / k, 12);
    expect(m.map).toBeCloseTo(hits.reduce((s, e) => s + 1 / (e.r + 1), 0) / 3, 12);
    expect(m.mrr).toBeCloseTo(expectRank.reduce((s, e) => s + 1 / (e.r + 1), 0) / 3, 12);
    expect(m.auc).toBeCloseTo(expectRank.reduce((s, e) => s + (1 - e.r / e.pool), 0) / 3, 12);
  });

  it('bootstrap intervals contain the point estimate, narrow with more users, and are seeded', () => {
    const big = leaveLastOut(syntheticInteractions({ users: 600, items: 120, events: 9000, seed: 4 }));
    const model = new SvdRecommender({ factors: 8 }).fit(big.train);
    const m = evaluate(model, big, { confidence: { resamples: 400, level: 0.9, seed: 1 } });
    for (const key of ['hr', 'ndcg', 'mrr', 'precision', 'map', 'auc'] as const) {
      const iv = m.intervals![key];
      expect(iv.low, key).toBeLessThanOrEqual(m[key] + 1e-12);
      expect(iv.high, key).toBeGreaterThanOrEqual(m[key] - 1e-12);
      expect(iv.high).toBeGreaterThan(iv.low);
    }
    expect(m.auc).toBeGreaterThan(0); // (half of these synthetic users repeat a training pin last: 0 for every metric)
    expect(evaluate(model, big, { confidence: { resamples: 400, level: 0.9, seed: 1 } }).intervals).toEqual(m.intervals);
    const few = evaluate(model, big, { maxUsers: 60, confidence: { resamples: 400, level: 0.9, seed: 1 } });
    const width = (x: typeof m) => x.intervals!.hr.high - x.intervals!.hr.low;
    expect(width(few)).toBeGreaterThan(width(m));
    expect(() => evaluate(model, big, { confidence: { level: 1 } })).toThrow(/confidence\.level/);
    expect(() => evaluate(model, big, { confidence: { resamples: 2 } })).toThrow(/confidence\.resamples/);
  });
});
