import { describe, expect, it } from 'vitest';
import { InvalidParameterError, Rng } from '../src/core/index.js';
import { checkCaps } from '../src/diversity/index.js';
import {
  ManualClock, type PinMetadataSource, BruteForceSearcher, CfCandidateSource, FeedGenerator, InMemoryPinMetadata, PopularSource, VisualNeighborsSource,
  type Candidate, type CandidateSource, type PinMetadata, type PopularPin,
} from '../src/ranking/index.js';

const N = 2000;
const F = 8;
const rng = new Rng(2026);
const ids = Array.from({ length: N }, (_, i) => i);
const itemFactors = rng.fillNormal(new Float32Array(N * F));
const embeddings = rng.fillNormal(new Float32Array(N * 16));
const meta: PinMetadata<number>[] = ids.map((id) => {
  const imp = 50 + rng.int(20000);
  return { id, category: `c${Math.floor(Math.pow(rng.next(), 2) * 12)}`, creator: `u${Math.floor(Math.pow(rng.next(), 2) * 60)}`, engagements: rng.int(imp / 20), impressions: imp, quality: rng.int(101) / 100 };
});
const metadata = new InMemoryPinMetadata<number>(meta);
const userFactors = new Map<string, Float32Array>([['alice', rng.fillNormal(new Float32Array(F))], ['bob', rng.fillNormal(new Float32Array(F))]]);
const recent = new Map<string, number[]>([['alice', [3, 99, 1500]]]);
const cfIndex = new BruteForceSearcher(ids, itemFactors, F, 'ip');
const visIndex = new BruteForceSearcher(ids, embeddings, 16, 'cosine');

const cf = new CfCandidateSource<string, number>({ userVector: (u) => userFactors.get(u), index: cfIndex, k: 400 });
const visual = new VisualNeighborsSource<string, number>({ recent: (u) => recent.get(u) ?? [], vectorOf: (id) => embeddings.slice(id * 16, id * 16 + 16), index: visIndex, perSeed: 60 });
const popular: PopularPin<number>[] = meta.map((m) => ({ id: m.id, category: m.category as string, creator: m.creator, engagements: m.engagements!, impressions: m.impressions!, quality: m.quality }));
const trending = new PopularSource<string, number>({ pins: popular, perCategory: 15 });

const fake = (name: string, fetch: CandidateSource<string, number>['fetch'], timeoutMs?: number): CandidateSource<string, number> => ({ name, fetch, timeoutMs });
const never = fake('hang', () => new Promise<Candidate<number>[]>(() => undefined), 30);
const throws = fake('boom', () => { throw new Error('backend down'); });
const rejects = fake('reject', async () => { throw new Error('503'); });
// time in these tests is a ManualClock's: nothing depends on how fast the machine is
const clock = new ManualClock();
const late = fake('late', () => new Promise((r) => clock.setTimeout(() => r([{ id: 1, similarity: 1 }]), 200)), 20);
const garbage = fake('nan', () => [{ id: 5, similarity: Number.NaN }]);
const notArray = fake('obj', () => ({ id: 1 }) as never);

describe('FeedGenerator budgets are the time a stage itself takes', () => {
  it('a source that answered in time is not marked late because another source blocked the loop', async () => {
    const c = new ManualClock();
    const quick = fake('quick', async () => [{ id: 1, similarity: 0.9 }], 50);
    const hog = fake('hog', () => { c.spend(120); return [{ id: 2, similarity: 0.5 }]; }, 50); // blocks for 120 ms
    const res = await new FeedGenerator<string, number>({ sources: [quick, hog], clock: c, diversity: false }).generate('u');
    expect(res.sources.map((r) => [r.name, r.status])).toEqual([['quick', 'ok'], ['hog', 'timeout']]);
    expect(res.items.map((i) => i.id)).toEqual([1]);
  });

  it('1,000 concurrent feeds with a synchronous source: none comes back empty', async () => {
    const sync = fake('sync', () => Array.from({ length: 50 }, (_, i) => ({ id: i, similarity: 1 - i / 50 })), 50);
    const feed = new FeedGenerator<string, number>({ sources: [sync], limit: 20 });
    const all = await Promise.all(Array.from({ length: 1000 }, (_, u) => feed.generate(`u${u}`)));
    expect(all.filter((r) => r.items.length === 0).length).toBe(0);
  });

  it('a budget beyond what Node timers support is capped, not turned into 1 ms', async () => {
    const slowish = fake('slowish', () => new Promise((r) => setTimeout(() => r([{ id: 1, similarity: 1 }]), 20)));
    const res = await new FeedGenerator<string, number>({ sources: [slowish], timeoutMs: 2 ** 32 }).generate('u');
    expect(res.sources[0].status).toBe('ok');
  });

  it('metadata that throws, hangs, returns garbage or out-of-range values never fails the feed', async () => {
    const c = new ManualClock();
    const src = fake('s', () => [{ id: 1, similarity: 0.9 }, { id: 2, similarity: 0.8 }]);
    const cases: [string, PinMetadataSource<number>, string][] = [
      ['throws', { get: () => { throw new Error('metadata down'); } }, 'failed'],
      ['rejects', { get: async () => { throw new Error('503'); } }, 'failed'],
      ['undefined', { get: () => undefined as never }, 'failed'],
      ['short', { get: () => [undefined] }, 'failed'],
      ['hangs', { get: () => new Promise(() => undefined) }, 'timeout'],
      ['quality 5', { get: (ids) => ids.map((id) => ({ id, quality: 5, engagements: 9, impressions: 3, category: 'x' })) }, 'ok'],
    ];
    for (const [what, md, status] of cases) {
      const pending = new FeedGenerator<string, number>({ sources: [src], metadata: md, clock: c, diversity: false }).generate('u');
      await c.advance(60);
      const res = await pending;
      expect([what, res.metadata.status]).toEqual([what, status]);
      expect(res.items.map((i) => i.id)).toEqual([1, 2]);
      if (what === 'quality 5') {
        expect(res.metadata.ignored).toBe(4); // quality and the impossible counts, for both pins
        expect(res.items[0].category).toBe('x');
      }
    }
  });
});

describe('FeedGenerator', () => {
  it('merges CF, visual and trending candidates, scores, diversifies and says who contributed', async () => {
    const feed = new FeedGenerator<string, number>({ sources: [cf, visual, trending], metadata });
    const res = await feed.generate('alice');
    expect(res.items).toHaveLength(100);
    expect(res.sources.map((s) => [s.name, s.status])).toEqual([['cf', 'ok'], ['visual', 'ok'], ['trending', 'ok']]);
    expect(res.contributors.length).toBeGreaterThanOrEqual(2);
    for (const s of res.sources) expect(s.contributed).toBe(res.items.filter((i) => i.sources.includes(s.name)).length);
    expect(new Set(res.items.map((i) => i.id)).size).toBe(100);
    expect(checkCaps(res.items)).toBeNull();
    for (let i = 1; i < res.items.length; i++) expect(res.items[i - 1].score).toBeGreaterThanOrEqual(res.items[i].score);
    // metadata filled in the blanks: every item has a category and creator
    for (const it of res.items) expect(it.category).not.toBeNull();
    // recent engagements (visual seeds) are not recommended back by the visual source
    for (const it of res.items) if (it.sources.length === 1 && it.sources[0] === 'visual') expect([3, 99, 1500]).not.toContain(it.id);
  });

  it('an item found by several sources is one item, with the highest similarity', async () => {
    const a = fake('a', () => [{ id: 7, similarity: 0.2 }, { id: 8, similarity: 0.9 }]);
    const b = fake('b', () => [{ id: 7, similarity: 0.8, quality: 1 }]);
    const res = await new FeedGenerator<string, number>({ sources: [a, b], diversity: false, calibration: 'none' }).generate('x');
    const item = res.items.find((i) => i.id === 7)!;
    expect(item.sources).toEqual(['a', 'b']);
    expect(item.similarity).toBe(0.8);
    expect(item.quality).toBe(1);
    expect(res.candidates).toBe(2);
    // by default each source is calibrated by rank first: 7 is b's best (1) and a's second of two (0.5)
    const ranked = await new FeedGenerator<string, number>({ sources: [a, b], diversity: false }).generate('x');
    expect(ranked.items.find((i) => i.id === 7)!.similarity).toBe(1);
    expect(ranked.items.find((i) => i.id === 8)!.similarity).toBe(1);
  });

  it('calibrates sources whose raw scales differ by orders of magnitude to one scale before merging', async () => {
    // CF-like raw scores around 1e6, visual-like scores around 1e-3: without calibration the big scale wins
    // every merge and every blend; by rank, the two sources' lists interleave.
    const big = fake('big', () => [1, 2, 3, 4].map((id, r) => ({ id, similarity: 4e6 - r * 1e6 })));
    const tiny = fake('tiny', () => [11, 12, 13, 14].map((id, r) => ({ id, similarity: 4e-3 - r * 1e-3 })));
    const feed = new FeedGenerator<string, number>({ sources: [big, tiny], diversity: false, weights: { similarity: 1, engagement: 0, quality: 0 } });
    const res = await feed.generate('x');
    expect(res.items.map((i) => i.id)).toEqual([1, 11, 2, 12, 3, 13, 4, 14]);
    expect(res.items.map((i) => i.similarity)).toEqual([1, 1, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25]);
    // a source may opt out, but then its similarities must be cosines: raw 1e6 values fail that source only
    const raw = { ...big, name: 'raw', calibration: 'none' as const };
    const res2 = await new FeedGenerator<string, number>({ sources: [raw, tiny], diversity: false }).generate('x');
    expect(res2.sources.map((r) => r.status)).toEqual(['failed', 'ok']);
    expect(res2.sources[0].error).toMatch(/similarity must be a cosine/);
    expect(res2.items.map((i) => i.id)).toEqual([11, 12, 13, 14]);
    expect(() => new FeedGenerator({ sources: [big], calibration: 'minmax' as never })).toThrow(/calibration must be one of/);
  });

  it('merge: other fields come from the first source that has them; metadata fills the rest', async () => {
    const a = fake('a', () => [{ id: 7, quality: 0.3 }, { id: 8, similarity: 0.5, features: { f: 1 } }]);
    const b = fake('b', () => [{ id: 7, quality: 0.9, engagements: 50, impressions: 100, category: 'x' }, { id: 8, features: { f: 2, g: 3 } }]);
    const md = new InMemoryPinMetadata<number>([{ id: 7, category: 'meta', creator: 'm' }, { id: 8, category: 'meta8', quality: 0.1, engagements: 1, impressions: 2 }]);
    let seen: Record<string, ArrayLike<number>> = {};
    const spy = { name: 'spy', score: (bt: { n: number; features: Record<string, ArrayLike<number>> }, sg: { quality: Float64Array }, out: Float64Array) => { seen = bt.features; out.set(sg.quality); } };
    const res = await new FeedGenerator<string, number>({ sources: [a, b], metadata: md, diversity: false, scorer: spy, calibration: 'none' }).generate('x');
    const i7 = res.items.find((i) => i.id === 7)!;
    const i8 = res.items.find((i) => i.id === 8)!;
    expect([i7.quality, i7.category, i7.creator]).toEqual([0.3, 'x', 'm']);
    expect([i8.quality, i8.category, i8.similarity]).toEqual([0.1, 'meta8', 0.5]);
    // engagement of 7 came from source b (50 of 100), of 8 from metadata (1 of 2)
    expect(i7.engagement).toBeGreaterThan(i8.engagement);
    const row8 = i8.index;
    expect(seen.f[row8]).toBe(1);
    expect(seen.g[row8]).toBe(3);
    expect(Number.isNaN(seen.f[i7.index])).toBe(true); // 7 has no features: NaN for the scorer
  });

  it('failing, hanging, late and invalid sources do not fail the feed', async () => {
    const feed = new FeedGenerator<string, number>({ sources: [never, throws, rejects, late, garbage, notArray, trending], metadata, timeoutMs: 50, clock });
    const pending = feed.generate('alice');
    await clock.advance(50); // every budget (30, 20, 50 ms) has run out; 'late' would answer at 200
    const res = await pending;
    const status = Object.fromEntries(res.sources.map((s) => [s.name, s.status]));
    expect(status).toEqual({ hang: 'timeout', boom: 'failed', reject: 'failed', late: 'timeout', nan: 'failed', obj: 'failed', trending: 'ok' });
    expect(res.sources.find((s) => s.name === 'boom')!.error).toBe('backend down');
    expect(res.sources.find((s) => s.name === 'nan')!.error).toMatch(/similarity must be a finite number/);
    expect(res.contributors).toEqual(['trending']);
    expect(res.items.length).toBeGreaterThan(0);
    expect(checkCaps(res.items)).toBeNull();
  });

  it('a sync source that overruns its budget is dropped as late', async () => {
    const slow = fake('slow', () => { clock.spend(30); return [{ id: 1, similarity: 1 }]; }, 5); // 30 ms of its own work
    const res = await new FeedGenerator<string, number>({ sources: [slow, trending], metadata, clock }).generate('alice');
    expect(res.sources[0].status).toBe('timeout');
    expect(res.items.some((i) => i.sources.includes('slow'))).toBe(false);
  });

  it('aborts the signal of a source that runs out of time', async () => {
    let aborted = false;
    const polite = fake('polite', (_u, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => { aborted = true; resolve([]); })), 10);
    const pending = new FeedGenerator<string, number>({ sources: [polite, trending], clock }).generate('alice');
    await clock.advance(9);
    expect(aborted).toBe(false);
    await clock.advance(1);
    expect(aborted).toBe(true);
    expect((await pending).sources[0].status).toBe('timeout');
  });

  it('every source failing gives an empty feed with reasons, not an exception', async () => {
    const pending = new FeedGenerator<string, number>({ sources: [throws, never], clock }).generate('alice');
    await clock.advance(30);
    const res = await pending;
    expect(res.items).toEqual([]);
    expect(res.contributors).toEqual([]);
    expect(res.sources.map((s) => s.status)).toEqual(['failed', 'timeout']);
  });

  it('a cold user gets trending only; excluded pins never appear', async () => {
    const feed = new FeedGenerator<string, number>({ sources: [cf, visual, trending], metadata });
    const cold = await feed.generate('nobody');
    expect(cold.sources.map((s) => s.status)).toEqual(['empty', 'empty', 'ok']);
    expect(cold.contributors).toEqual(['trending']);
    const first = await feed.generate('alice', { limit: 30 });
    expect(first.items).toHaveLength(30);
    const exclude = first.items.slice(0, 10).map((i) => i.id);
    const again = await feed.generate('alice', { limit: 30, exclude });
    for (const id of exclude) expect(again.items.map((i) => i.id)).not.toContain(id);
  });

  it('CF source returns the exact top inner products (raw: the feed calibrates)', async () => {
    const u = userFactors.get('bob')!;
    const out = await cf.fetch('bob', { signal: new AbortController().signal, limit: 50, exclude: new Set([0]) });
    expect(out).toHaveLength(50);
    const dots = ids.map((i) => { let s = 0; for (let f = 0; f < F; f++) s += u[f] * itemFactors[i * F + f]; return s; });
    const best = ids.filter((i) => i !== 0).sort((a, b) => dots[b] - dots[a]).slice(0, 50);
    expect(out.map((c) => c.id)).toEqual(best);
    expect(out[0].similarity).toBeCloseTo(dots[best[0]], 4);
    expect(out[49].similarity).toBeCloseTo(dots[best[49]], 4);
  });

  it('rejects bad configuration', () => {
    expect(() => new FeedGenerator({ sources: [] })).toThrow(InvalidParameterError);
    expect(() => new FeedGenerator({ sources: [trending, trending] })).toThrow(/unique source name/);
    expect(() => new FeedGenerator({ sources: [{ name: 'x' } as never] })).toThrow(InvalidParameterError);
    expect(() => new FeedGenerator({ sources: [trending], limit: 0 })).toThrow(InvalidParameterError);
    expect(() => new FeedGenerator({ sources: [trending], timeoutMs: -1 })).toThrow(InvalidParameterError);
    expect(() => new FeedGenerator({ sources: [trending], weights: { similarity: -1, engagement: 0, quality: 0 } })).toThrow(InvalidParameterError);
    expect(() => new FeedGenerator({ sources: [trending], diversity: { categoryCap: 2 } })).toThrow(InvalidParameterError);
    expect(() => new PopularSource({ pins: [{ id: 1, category: 'a', engagements: 5, impressions: 2 }] })).toThrow(InvalidParameterError);
    expect(() => new CfCandidateSource({ userVector: undefined as never, index: cfIndex })).toThrow(InvalidParameterError);
  });

  it('seeded property: for random users the feed is sorted, distinct, capped, at most the limit', async () => {
    const r = new Rng(8);
    const feed = new FeedGenerator<string, number>({ sources: [cf, visual, trending], metadata });
    for (let t = 0; t < 15; t++) {
      const name = `user${t}`;
      userFactors.set(name, r.fillNormal(new Float32Array(F)));
      recent.set(name, [r.int(N), r.int(N)]);
      const limit = 1 + r.int(120);
      const res = await feed.generate(name, { limit });
      expect(res.items.length).toBeLessThanOrEqual(limit);
      expect(new Set(res.items.map((i) => i.id)).size).toBe(res.items.length);
      expect(checkCaps(res.items, { limit })).toBeNull();
      for (let i = 1; i < res.items.length; i++) expect(res.items[i - 1].score).toBeGreaterThanOrEqual(res.items[i].score);
    }
  });
});
