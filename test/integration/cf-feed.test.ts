/**
 * The CF path end to end with the real classes: interactions → SvdRecommender → inner-product HnswIndex →
 * CfCandidateSource → FeedGenerator (with the trending fallback), on MovieLens latest-small when present
 * ($PINREC_DATA/ml-latest-small) and on a seeded synthetic catalogue always.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HnswIndex } from '../../src/ann/index.js';
import { SvdRecommender, interactionsFromColumns, readRatingsCsv, syntheticInteractions, type InteractionLog, type SvdRecommenderOptions } from '../../src/cf/index.js';
import { CfCandidateSource, FeedGenerator, PopularSource, type PopularPin } from '../../src/ranking/index.js';

const DATA = process.env.PINREC_DATA ?? path.resolve(__dirname, '../../../shared/datasets');
const ML = path.join(DATA, 'ml-latest-small', 'ratings.csv');

const cases: { name: string; log: () => Promise<InteractionLog>; order?: SvdRecommenderOptions['order'] }[] = [
  { name: 'synthetic power-law catalogue', log: async () => syntheticInteractions({ users: 400, items: 300, events: 5000, seed: 3 }) },
  // order-aware scoring (recency + next-pin term) must reach the feed the same way
  { name: 'synthetic catalogue with order-aware scoring on', log: async () => syntheticInteractions({ users: 400, items: 300, events: 5000, seed: 4 }), order: { decay: 0.7, transitions: 2 } },
];
if (existsSync(ML)) cases.push({ name: 'MovieLens latest-small (ratings >= 4)', log: () => readRatingsCsv(ML, { minRating: 4 }) });
else it.skip(`MovieLens path skipped: ${ML} is missing (set PINREC_DATA)`, () => undefined);

const opened: HnswIndex[] = [];
afterAll(async () => { for (const i of opened) await i.close(); });

async function buildFeed(log: InteractionLog, factors: number, order?: SvdRecommenderOptions['order']) {
  const model = new SvdRecommender({ factors, seed: 1, order }).fit(log.toMatrix());
  const f = model.scoringFactors();
  const index = new HnswIndex({ metric: 'ip', dim: f.dim, capacity: f.ids.length, seed: 1 });
  opened.push(index);
  index.addItems(f.ids, f.factors);
  const pop = model.recommend({ items: [] }, { n: 200, fallback: 'popular' });
  const trendingPins: PopularPin[] = pop.ids.map((id, r) => ({ id, category: `c${r % 4}`, engagements: 200 - r, impressions: 1000 }));
  const cf = new CfCandidateSource({ model, index, k: 100, candidates: 400 });
  const trending = new PopularSource({ pins: trendingPins, perCategory: 10 });
  const feed = new FeedGenerator({ sources: [cf, trending], diversity: false, timeoutMs: 10_000, limit: 50 });
  return { model, index, cf, feed, trendingPins };
}

for (const c of cases) {
  describe(`CF → HNSW(ip) → CfCandidateSource → FeedGenerator on ${c.name}`, () => {
    it('warm users: the feed ranks CF pins as recommend() does; cold and fully excluded users get empty sources, not failures', async () => {
      const log = await c.log();
      const { model, cf, feed, trendingPins } = await buildFeed(log, 24, c.order);
      const users = model.userIds().slice(0, 40);
      const ctx = { signal: new AbortController().signal, limit: 1000, exclude: new Set<never>() };
      let overlap = 0;
      for (const u of users) {
        const fromSource = await cf.fetch(u, ctx);
        const full = model.recommend(u, { n: 20 });
        // the source's scores are the model's own scores for those pins
        const again = model.recommend(u, { n: 20, allowItems: fromSource.map((x) => x.id), candidates: fromSource.map((x) => x.id) });
        expect(fromSource.slice(0, again.ids.length).map((x) => x.id)).toEqual(again.ids);
        expect(Float32Array.from(fromSource.slice(0, again.ids.length), (x) => x.similarity!)).toEqual(again.scores);
        const top = new Set(fromSource.slice(0, 20).map((x) => x.id));
        overlap += full.ids.filter((id) => top.has(id)).length / full.ids.length;
      }
      expect(overlap / users.length).toBeGreaterThan(0.97); // two-stage ≈ full ranking

      const warm = await feed.generate(users[0]);
      expect(warm.sources.map((s) => s.status)).toEqual(['ok', 'ok']);
      expect(warm.items.length).toBe(50);

      const cold = await feed.generate('nobody-ever-seen');
      expect(cold.sources.map((s) => [s.name, s.status])).toEqual([['cf', 'empty'], ['trending', 'ok']]);
      expect(cold.items.length).toBeGreaterThan(0);
      expect(cold.items.every((i) => i.sources.includes('trending'))).toBe(true);

      const everything = new Set([...model.itemIds(), ...trendingPins.map((p) => p.id)]);
      const none = await feed.generate(users[1], { exclude: everything });
      expect(none.sources.map((s) => s.status)).toEqual(['empty', 'empty']);
      expect(none.items).toEqual([]);

      // excluding the user's top CF pins brings up the next ones (exclusion before truncation)
      const top10 = model.recommend(users[2], { n: 10 }).ids;
      const rest = await cf.fetch(users[2], { ...ctx, limit: 10, exclude: new Set(top10) });
      expect(rest.map((x) => x.id)).toEqual(model.recommend(users[2], { n: 10, filterItems: top10 }).ids);
    });
  });
}

describe('CF source on a catalogue smaller than its over-fetch', () => {
  it('k + excluded larger than the index returns what exists', async () => {
    const users: string[] = [], items: string[] = [];
    for (let u = 0; u < 30; u++) for (let p = 0; p < 60; p++) if ((u * 7 + p * 3) % 5 < 2) { users.push(`u${u}`); items.push(`p${p}`); }
    const log = interactionsFromColumns({ users, items });
    const { cf, feed } = await buildFeed(log, 8);
    const out = await cf.fetch('u1', { signal: new AbortController().signal, limit: 1000, exclude: new Set(['p0', 'p1']) });
    expect(out.length).toBeGreaterThan(0);
    expect(out.length).toBeLessThanOrEqual(60);
    expect(out.some((x) => x.id === 'p0' || x.id === 'p1')).toBe(false);
    const res = await feed.generate('u1');
    expect(res.sources[0].status).toBe('ok');
  });
});

describe('CfCandidateSource with cooccurring: false', () => {
  it("scores only the index's candidates, each with the model's exact score; rejects a non-boolean", async () => {
    const log = syntheticInteractions({ users: 600, items: 2000, events: 9000, seed: 12 });
    const { model, index } = await buildFeed(log, 16);
    const narrow = new CfCandidateSource({ model, index, k: 50, candidates: 80, cooccurring: false });
    const ctx = { signal: new AbortController().signal, limit: 1000, exclude: new Set<never>() };
    let checked = 0;
    for (const u of model.userIds().filter((x) => model.hasUser(x)).slice(0, 20)) {
      const q = model.tryUserFactors(u)!;
      const hits = new Set(index.search(q, 80).ids);
      const got = await narrow.fetch(u, ctx);
      const full = model.recommend(u, { n: 2000 });
      const exact = new Map(full.ids.map((id, i) => [id, full.scores[i]]));
      for (const c of got) {
        expect(hits.has(c.id)).toBe(true);
        expect(c.similarity).toBe(exact.get(c.id));
        checked++;
      }
      // the top of the narrow list is the model's order among those hits
      const ranked = [...hits].filter((id) => exact.has(id)).sort((a, b) => exact.get(b)! - exact.get(a)! || (a as number) - (b as number)).slice(0, got.length);
      expect(got.map((c) => c.id)).toEqual(ranked);
    }
    expect(checked).toBeGreaterThan(200);
    expect(() => new CfCandidateSource({ model, index, cooccurring: 'no' as never })).toThrow(/cooccurring/);
  });
});
