/**
 * The suite every `Recommender` runs (like the `VectorIndex` one in test/ann/shared.test.ts): fold-in,
 * filters, batch = single, save/load, cold users, similar items, bad input. Each implementation is one
 * `recommenderSuite(...)` call at the bottom.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Recommender } from '../../src/core/interfaces.js';
import { InvalidParameterError, NotFittedError, UnknownIdError } from '../../src/core/errors.js';
import { InteractionMatrix, SvdRecommender, interactionsFromColumns, leaveLastOut } from '../../src/cf/index.js';
import { Rng } from '../../src/core/rng.js';

type Model = Recommender<string, string, InteractionMatrix<string, string>>;

/** 60 users × 40 pins in 4 taste groups, seeded; user u likes pins of group u % 4 (and a few others). */
function fixture(seed = 7, extra: { users: string[]; items: string[] } = { users: [], items: [] }) {
  const rng = new Rng(seed);
  const users: string[] = [], items: string[] = [], weights: number[] = [];
  for (let u = 0; u < 60; u++) {
    for (let p = 0; p < 40; p++) {
      const inGroup = p % 4 === u % 4;
      if (rng.next() < (inGroup ? 0.5 : 0.05)) { users.push(`u${u}`); items.push(`p${p}`); weights.push(1 + (p % 3)); }
    }
  }
  users.push(...extra.users); items.push(...extra.items); weights.push(...extra.items.map(() => 1));
  return interactionsFromColumns({ users, items, weights });
}

function recommenderSuite(name: string, make: () => Model, load: (file: string) => Promise<Model>) {
  describe(`${name} (shared Recommender suite)`, () => {
    const log = fixture();
    const model = make().fit(log.toMatrix());
    const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-rec-suite-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('refuses to answer before fit', () => {
      expect(() => make().recommend('u1')).toThrow(NotFittedError);
    });

    it('recommends unseen pins of the user\'s taste, best first, with requested = n', () => {
      const r = model.recommend('u1', { n: 5 });
      expect(r.ids.length).toBe(5);
      expect(r.requested).toBe(5);
      for (let i = 1; i < r.scores.length; i++) expect(r.scores[i]).toBeLessThanOrEqual(r.scores[i - 1]);
      const seen = new Set(log.items.ids().filter((_, j) => log.item.some((x, e) => x === j && log.users.id(log.user[e]) === 'u1')));
      expect(r.ids.some((id) => seen.has(id))).toBe(false);
      expect(r.ids.filter((id) => Number(id.slice(1)) % 4 === 1).length).toBeGreaterThanOrEqual(4);
    });

    it('filters: filterSeen false, filterItems, allowItems (small and large), fewer than n when few pass', () => {
      const all = model.recommend('u2', { n: 40, filterSeen: false });
      expect(all.ids.length).toBe(40);
      const top3 = all.ids.slice(0, 3);
      expect(model.recommend('u2', { n: 3, filterSeen: false, filterItems: top3 }).ids.some((id) => top3.includes(id))).toBe(false);
      const allow = ['p3', 'p7', 'p0', 'nope'];
      const small = model.recommend('u2', { n: 10, filterSeen: false, allowItems: allow });
      expect(small.ids.length).toBe(3);
      expect(small.requested).toBe(10);
      expect([...small.ids].sort()).toEqual(['p0', 'p3', 'p7']);
      // the candidate-restricted path gives the same scores as full ranking
      for (let i = 0; i < small.ids.length; i++) expect(small.scores[i]).toBe(all.scores[all.ids.indexOf(small.ids[i])]);
      const big = all.ids.slice(0, 30);
      const large = model.recommend('u2', { n: 30, filterSeen: false, allowItems: big });
      expect(large.ids).toEqual(big);
    });

    it('batch equals single, for known, folded-in and fallback users', () => {
      const users = ['u0', 'u5', { items: ['p1', 'p5'], types: ['repin', 'click'] }, 'u9', 'ghost'] as const;
      const opts = { n: 7, filterItems: ['p9'], fallback: 'popular' as const };
      const batch = model.recommendBatch([...users], opts);
      users.forEach((u, i) => {
        const one = model.recommend(u, opts);
        expect(batch[i].ids).toEqual(one.ids);
        expect(batch[i].scores).toEqual(one.scores);
      });
    });

    it('folds in a new user the same way as a known one with the same row', () => {
      const row = log.user.reduce<string[]>((acc, u, e) => (log.users.id(u) === 'u3' ? [...acc, log.items.id(log.item[e])] : acc), []);
      const w = log.user.reduce<number[]>((acc, u, e) => (log.users.id(u) === 'u3' ? [...acc, log.weight[e]] : acc), []);
      const known = model.recommend('u3', { n: 8 });
      const folded = model.recommend({ items: row, weights: w }, { n: 8 });
      expect(folded.ids).toEqual(known.ids);
      expect(Array.from(folded.scores)).toEqual(Array.from(known.scores));
      expect(() => model.recommend({ items: ['p1'], types: ['toString'] })).toThrow(InvalidParameterError);
      expect(() => model.recommend({ items: ['p1'], weights: [NaN] })).toThrow(/user.weights\[0\]/);
    });

    it('cold users: typed error, popular fallback, and non-throwing lookups', () => {
      expect(() => model.recommend('ghost')).toThrow(UnknownIdError);
      expect(model.recommend('ghost', { fallback: 'popular', n: 3 }).ids.length).toBe(3);
      expect(model.hasUser('ghost')).toBe(false);
      expect(model.hasUser('u1')).toBe(true);
      expect(model.tryUserFactors('ghost')).toBeUndefined();
      expect(model.tryUserFactors({ items: ['unknown-pin'] })).toBeUndefined();
      expect(model.tryUserFactors('u1')).toBeInstanceOf(Float32Array);
      expect(model.hasItem('p1')).toBe(true);
      expect(model.hasItem('zz')).toBe(false);
    });

    it('similarItems: the pin itself excluded; a pin with no training data gives an empty list, not noise', () => {
      const s = model.similarItems('p4', { n: 5 });
      expect(s.ids.length).toBe(5);
      expect(s.ids).not.toContain('p4');
      expect(s.ids.filter((id) => Number(id.slice(1)) % 4 === 0).length).toBeGreaterThanOrEqual(3);
      expect(() => model.similarItems('zz')).toThrow(UnknownIdError);
      // a pin that appears only in a held-out event is in the catalogue with no training interactions
      const split = leaveLastOut(fixture(7, { users: ['zz', 'zz'], items: ['p1', 'lonely'] }), { by: 'order' });
      const m = make().fit(split.train);
      const lonely = m.similarItems('lonely', { n: 3 });
      expect(lonely.ids).toEqual([]);
      expect(lonely.requested).toBe(3);
    });

    it('save/load gives the same answers', async () => {
      const file = path.join(dir, `${name}.pinrec`);
      await model.save(file);
      const again = await load(file);
      for (const u of ['u0', 'u7', 'u33']) expect(again.recommend(u, { n: 6 })).toEqual(model.recommend(u, { n: 6 }));
      expect(again.similarItems('p2')).toEqual(model.similarItems('p2'));
    });

    it('bad input: typed errors naming the parameter', () => {
      expect(() => model.recommend('u1', { n: 0 })).toThrow(/n must be/);
      expect(() => model.recommend('u1', { filterSeen: 'yes' as never })).toThrow(/filterSeen/);
      expect(() => model.recommend('u1', { filterItems: 5 as never })).toThrow(/filterItems/);
      expect(() => model.recommend('u1', { fallback: 'random' as never })).toThrow(/fallback/);
      expect(() => model.recommendBatch('u1' as never)).toThrow(/users/);
      expect(() => model.recommendBatch(['u1', 'ghost'])).toThrow(/users\[1\]/);
      expect(() => model.fit('matrix' as never)).toThrow(InvalidParameterError);
    });
  });
}

recommenderSuite('SvdRecommender ease', () => new SvdRecommender<string, string>({ factors: 6, seed: 1 }), (f) => SvdRecommender.load<string, string>(f));
recommenderSuite('SvdRecommender puresvd', () => new SvdRecommender<string, string>({ factors: 6, seed: 1, scoring: 'puresvd' }), (f) => SvdRecommender.load<string, string>(f));
