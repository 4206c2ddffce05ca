/**
 * The live-catalogue side of the SVD recommender: order-aware scoring, updates without refitting, new pins,
 * the background refit and swap, the popularity penalty, similarUsers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { SvdRecommender, gram, interactionsFromColumns, syntheticInteractions } from '../../src/cf/index.js';
import { compactState } from '../../src/cf/updates.js';
import type { FittedState } from '../../src/cf/state.js';

const stateOf = (m: SvdRecommender): FittedState => (m as unknown as { state: FittedState }).state;

/** Users walk chains p0 → p1 → p2 → ... of their cluster: order carries a strong next-pin signal. */
function chainLog(users = 600, seed = 1) {
  const rng = new Rng(seed);
  const us: string[] = [], its: string[] = [];
  for (let u = 0; u < users; u++) {
    const c = rng.int(6);
    let at = rng.int(20);
    const len = 4 + rng.int(6);
    for (let t = 0; t < len; t++) {
      us.push(`u${u}`);
      its.push(`c${c}-${at % 20}`);
      at += 1;
    }
  }
  return interactionsFromColumns({ users: us, items: its });
}

const dirs: string[] = [];
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

describe('order-aware scoring', () => {
  const log = chainLog();
  const X = log.toMatrix();

  it('puts the pin that follows the latest pin first, and plain scoring does not know it', () => {
    const ordered = new SvdRecommender({ factors: 8, order: { decay: 0.5, transitions: 4 } }).fit(X);
    const plain = new SvdRecommender({ factors: 8, order: 'off' }).fit(X);
    const user = { items: ['c2-5', 'c2-6', 'c2-7'] };
    expect(ordered.recommend(user, { n: 1 }).ids).toEqual(['c2-8']);
    // the same pins in another order: the next pin follows the new latest one
    expect(ordered.recommend({ items: ['c2-7', 'c2-6', 'c2-5'] }, { n: 1 }).ids[0]).not.toEqual('c2-8');
    expect(plain.recommend(user, { n: 3 }).ids).toEqual(plain.recommend({ items: ['c2-7', 'c2-6', 'c2-5'] }, { n: 3 }).ids);
    expect(ordered.order).toEqual({ decay: 0.5, halfLife: null, transitions: 4 });
  });

  it("'auto' finds the order signal where there is one", () => {
    const model = new SvdRecommender({ factors: 8 }).fit(X);
    expect(model.orderChoice!.users).toBeGreaterThanOrEqual(200);
    expect(model.order.transitions).toBeGreaterThan(0);
    expect(model.orderChoice!.gain).toBeGreaterThan(2 * model.orderChoice!.stderr);
  });

  it('keeps plain scoring on matrices without event order, and on too few users', () => {
    const bare = new SvdRecommender({ factors: 4 }).fit(new (X.constructor as typeof import('../../src/cf/index.js').InteractionMatrix)(X.users, X.items, X.csr));
    expect(bare.order).toEqual({ decay: 1, halfLife: null, transitions: 0 });
    const small = new SvdRecommender({ factors: 4 }).fit(chainLog(60).toMatrix());
    expect(small.order.decay).toBe(1);
    expect(small.order.transitions).toBe(0);
  });

  it('scores a known user, the same user folded in, and the two-stage path alike', () => {
    const model = new SvdRecommender({ factors: 8, order: { decay: 0.7, transitions: 2 } }).fit(X);
    const u = 17;
    const { indptr, indices, data } = X.csr;
    const items = Array.from(indices.subarray(indptr[u], indptr[u + 1]), (j) => X.items.id(j));
    const weights = Array.from(data.subarray(indptr[u], indptr[u + 1]));
    const timestamps = Array.from(X.lastEvent!.subarray(indptr[u], indptr[u + 1]));
    const known = model.recommend(X.users.id(u), { n: 10 });
    const folded = model.recommend({ items, weights, timestamps }, { n: 10 });
    expect(folded.ids).toEqual(known.ids);
    const all = X.items.ids();
    const two = model.recommend(X.users.id(u), { n: 10, candidates: all });
    expect(two.ids).toEqual(known.ids);
    expect(Array.from(two.scores)).toEqual(Array.from(known.scores));
  });

  it('saves and loads the order-aware state', async () => {
    const model = new SvdRecommender({ factors: 8, order: { decay: 0.6, transitions: 3 } }).fit(X);
    const dir = await mkdtemp(path.join(tmpdir(), 'pinrec-live-'));
    dirs.push(dir);
    await model.save(path.join(dir, 'm.pinrec'));
    const again = await SvdRecommender.load(path.join(dir, 'm.pinrec'));
    expect(again.order).toEqual(model.order);
    expect(again.recommend('u3', { n: 10 })).toEqual(model.recommend('u3', { n: 10 }));
  });

  it('rejects bad order settings by name', () => {
    expect(() => new SvdRecommender({ order: { decay: 0 } })).toThrow(/order\.decay/);
    expect(() => new SvdRecommender({ order: { decay: 0.5, halfLife: 3 } })).toThrow(/order\.halfLife/);
    expect(() => new SvdRecommender({ order: { transitions: -1 } })).toThrow(/order\.transitions/);
    expect(() => new SvdRecommender({ order: 'sometimes' as never })).toThrow(InvalidParameterError);
    expect(() => new SvdRecommender({ order: { decay: 0.5, speed: 2 } as never })).toThrow(/order\.speed/);
  });

  it('time decay at fit weighs old events down by their half-life', () => {
    const l = interactionsFromColumns({ users: ['a', 'a', 'b'], items: ['p', 'q', 'p'], timestamps: [0, 10, 10] });
    const m = l.toMatrix({ halfLife: 10 });
    expect(Array.from(m.csr.data)).toEqual([0.5, 1, 1]);
    expect(() => interactionsFromColumns({ users: ['a'], items: ['p'] }).toMatrix({ halfLife: 5 })).toThrow(/halfLife/);
    expect(() => l.toMatrix({ halfLife: 0 })).toThrow(/halfLife/);
  });
});

describe('updates without refitting', () => {
  const log = syntheticInteractions({ users: 400, items: 150, events: 6000, seed: 5 });
  const fresh = () => new SvdRecommender({ factors: 8, order: { decay: 0.8, transitions: 1 } }).fit(log.toMatrix());

  it("changes a known user's recommendations at once", () => {
    const model = fresh();
    const before = model.recommend(3, { n: 5 });
    const pick = before.ids[0];
    const r = model.update([{ user: 3, item: pick, weight: 5 }]);
    expect(r).toEqual({ events: 1, newUsers: 0, newPins: 0 });
    expect(model.recommend(3, { n: 5 }).ids).not.toContain(pick); // now seen
    expect(model.updates).toBe(1);
  });

  it('keeps XᵀX and the next-pin counts exact', () => {
    const model = fresh();
    const rng = new Rng(2);
    const events = Array.from({ length: 300 }, () => ({ user: rng.int(450), item: rng.int(170), weight: 1 + rng.int(3) }));
    model.update(events);
    const st = compactState(stateOf(model));
    const g = gram(st.x);
    expect(st.g!.indptr).toEqual(g.indptr);
    expect(st.g!.indices).toEqual(g.indices);
    for (let e = 0; e < g.data.length; e++) expect(st.g!.data[e]).toBeCloseTo(g.data[e], 3);
    let total = 0;
    for (const v of st.trans!.counts.data) total += v;
    let sum = 0;
    for (const v of st.trans!.rowSum) sum += v;
    expect(total).toBe(sum);
  });

  it('folds in a new pin: recommendable at once, and next to its co-engaged pins', () => {
    const model = fresh();
    // 40 new users engage with two rarely seen pins and with the new pin
    const fans = Array.from({ length: 40 }, (_, u) => `fan${u}` as unknown as number);
    const [p, q] = [120, 121];
    model.update(fans.flatMap((u) => [{ user: u, item: p, weight: 1 }, { user: u, item: q, weight: 1 }, { user: u, item: 'new-pin' as unknown as number, weight: 3 }]));
    expect(model.hasItem('new-pin' as unknown as number)).toBe(true);
    expect(model.similarItems(p, { n: 5 }).ids).toContain('new-pin');
    expect(model.similarItems('new-pin' as unknown as number, { n: 5 }).ids).toContain(p);
    // a user who saw both pins (but not the new one) gets it
    expect(model.recommend({ items: [p, q] }, { n: 5 }).ids).toContain('new-pin');
    // a new user
    model.update([{ user: 'newcomer' as unknown as number, item: 0, weight: 1 }]);
    expect(model.hasUser('newcomer' as unknown as number)).toBe(true);
    expect(model.recommend('newcomer' as unknown as number, { n: 3 }).ids).toHaveLength(3);
  });

  it('checks a batch before applying any of it', () => {
    const model = fresh();
    expect(() => model.update([{ user: 1, item: 2, weight: 1 }, { user: 1, item: 3, weight: -1 }])).toThrow(/events\[1\]\.weight/);
    expect(model.updates).toBe(0);
    expect(() => model.update([{ user: 1, item: 2, type: 'toString' }])).toThrow(/events\[0\]\.type/);
    expect(() => model.update([{ user: 1, item: 2, timestamp: NaN }])).toThrow(/events\[0\]\.timestamp/);
  });

  it('saves the updated model as a plain fitted one', async () => {
    const model = fresh();
    model.update([{ user: 7, item: 'fresh' as unknown as number, weight: 2 }, { user: 8, item: 'fresh' as unknown as number, weight: 2 }]);
    const dir = await mkdtemp(path.join(tmpdir(), 'pinrec-live-'));
    dirs.push(dir);
    await model.save(path.join(dir, 'm.pinrec'));
    const again = await SvdRecommender.load(path.join(dir, 'm.pinrec'));
    expect(again.recommend(7, { n: 10 })).toEqual(model.recommend(7, { n: 10 }));
    expect(again.shape.items).toBe(151);
  });
});

describe('background refit and swap', () => {
  it('fits in a worker, replays what came meanwhile, and bumps the version', async () => {
    const log = syntheticInteractions({ users: 300, items: 120, events: 5000, seed: 8 });
    const model = new SvdRecommender({ factors: 8, order: 'off' }).fit(log.toMatrix());
    const v0 = model.version;
    model.update([{ user: 1, item: 'late' as unknown as number, weight: 1 }, { user: 2, item: 'late' as unknown as number, weight: 1 }]);
    const running = model.refit();
    // arrives while the worker fits: applied now, and replayed onto the new model
    model.update([{ user: 3, item: 'later' as unknown as number, weight: 1 }]);
    expect(model.version).toBe(v0);
    expect(model.hasItem('later' as unknown as number)).toBe(true);
    await expect(model.refit()).rejects.toThrow(/one refit at a time/);
    const r = await running;
    expect(r).toEqual({ version: v0 + 1, replayed: 1 });
    expect(model.version).toBe(v0 + 1);
    expect(model.updates).toBe(1);
    expect(model.hasItem('late' as unknown as number)).toBe(true);
    expect(model.hasItem('later' as unknown as number)).toBe(true);
    // the refit model knows 'late' from its fit: a factor vector of its own
    expect(model.similarItems('late' as unknown as number, { n: 3 }).ids.length).toBeGreaterThan(0);
    // the same fit in this thread gives the same model
    const inline = new SvdRecommender({ factors: 8, order: 'off' }).fit(log.toMatrix());
    inline.update([{ user: 1, item: 'late' as unknown as number, weight: 1 }, { user: 2, item: 'late' as unknown as number, weight: 1 }]);
    await inline.refit({ worker: false });
    inline.update([{ user: 3, item: 'later' as unknown as number, weight: 1 }]);
    expect(inline.recommend(5, { n: 10 })).toEqual(model.recommend(5, { n: 10 }));
  }, 60_000);
});

describe('popularity penalty and similar users', () => {
  const log = syntheticInteractions({ users: 500, items: 200, events: 8000, seed: 11 });
  const X = log.toMatrix();

  it('spreads recommendations over more of the catalogue as α grows', () => {
    const model = new SvdRecommender({ factors: 8, order: 'off' }).fit(X);
    const users = Array.from({ length: 300 }, (_, u) => u);
    const covered = (alpha: number) => new Set(model.recommendBatch(users, { n: 10, popularityPenalty: alpha }).flatMap((r) => r.ids)).size;
    const c0 = covered(0), c1 = covered(0.5), c2 = covered(1);
    expect(c1).toBeGreaterThan(c0);
    expect(c2).toBeGreaterThan(c1);
    const penal = new SvdRecommender({ factors: 8, order: 'off', popularityPenalty: 0.5 }).fit(X);
    expect(penal.recommend(4, { n: 10 })).toEqual(model.recommend(4, { n: 10, popularityPenalty: 0.5 }));
    expect(() => model.recommend(4, { popularityPenalty: -1 })).toThrow(/popularityPenalty/);
  });

  it('finds a user with the same pins as the most similar', () => {
    const { indptr, indices } = X.csr;
    const u = 9;
    const items = Array.from(indices.subarray(indptr[u], indptr[u + 1]), (j) => X.items.id(j));
    const l2 = interactionsFromColumns({ users: [...Array.from(log.user, (x) => `u${x}`), ...items.map(() => 'twin')], items: [...Array.from(log.item, (x) => x), ...items] });
    const model = new SvdRecommender({ factors: 8, order: 'off' }).fit(l2.toMatrix({ combine: 'binary' }));
    const r = model.similarUsers('u9', { n: 3 });
    expect(r.ids[0]).toBe('twin');
    expect(r.scores[0]).toBeCloseTo(1, 5);
    expect(r.ids).not.toContain('u9');
  });
});

describe('candidate scoring keeps its row-major weights in step with updates', () => {
  it('scores of a small candidate set equal full ranking, before and after new pins and a capacity growth', () => {
    const log = syntheticInteractions({ users: 2000, items: 20_000, events: 16_000, seed: 9 }); // sparse: few co-occurring pins
    const model = new SvdRecommender<number, number>({ factors: 12, order: 'off' }).fit(log.toMatrix());
    const check = (u: number) => {
      const full = model.recommend(u, { n: 30_000 });
      const want = new Map(full.ids.map((id, i) => [id, full.scores[i]]));
      const few = full.ids.slice(0, 40).concat(full.ids.slice(-40)); // a small set: the row-major path
      const two = model.recommend(u, { n: 80, candidates: few });
      expect(two.ids.length).toBeGreaterThan(0);
      for (let i = 0; i < two.ids.length; i++) expect(two.scores[i]).toBe(want.get(two.ids[i]));
    };
    check(3);
    expect(stateOf(model as unknown as SvdRecommender).wtRows).toBeDefined(); // made by the candidate call
    // new pins (folded in: their weights are written to both layouts), then enough to grow the arrays
    model.update([{ user: 3, item: 90_001, weight: 2 }, { user: 5, item: 90_001, weight: 1 }, { user: 3, item: 90_002, weight: 1 }]);
    check(3);
    check(5);
    model.update(Array.from({ length: 400 }, (_, i) => ({ user: i % 50, item: 100_000 + i, weight: 1 })));
    check(3);
    check(7);
  });
});

describe('recommend with candidates and a bounded co-occurrence expansion', () => {
  it("cooccurring: m scores the candidates plus the m pins with the largest co-occurrence term, exactly; m ≥ all equals 'all'", () => {
    const log = syntheticInteractions({ users: 800, items: 4000, events: 20_000, seed: 21 });
    const model = new SvdRecommender<number, number>({ factors: 16, order: 'off' }).fit(log.toMatrix());
    const st = stateOf(model as unknown as SvdRecommender);
    for (const u of model.userIds().filter((x) => model.hasUser(x)).slice(0, 15)) {
      const full = model.recommend(u, { n: 4000 });
      const exact = new Map(full.ids.map((id, i) => [id, full.scores[i]]));
      const cands = full.ids.slice(200, 230);
      const all = model.recommend(u, { n: 20, candidates: cands });
      expect(model.recommend(u, { n: 20, candidates: cands, cooccurring: 100_000 })).toEqual(all);
      const some = model.recommend(u, { n: 20, candidates: cands, cooccurring: 40 });
      // the co-occurrence term of every pin, by hand, to know which 40 are the strongest
      const row = st.x.indptr[st.users.get(u)], end = st.x.indptr[st.users.get(u) + 1];
      const term = new Map<number, number>();
      for (let p = row; p < end; p++) {
        const i = st.x.indices[p], w = st.x.data[p];
        for (let e = st.g!.indptr[i]; e < st.g!.indptr[i + 1]; e++) term.set(st.g!.indices[e], (term.get(st.g!.indices[e]) ?? 0) + w * st.g!.data[e]);
      }
      const strongest = new Set([...term.entries()].map(([j, v]) => [j, v * st.itemScale![j]] as const).sort((a, b) => b[1] - a[1]).slice(0, 40).map(([j]) => st.items.id(j)));
      const allowed = new Set([...cands, ...strongest]);
      for (let i = 0; i < some.ids.length; i++) {
        expect(allowed.has(some.ids[i])).toBe(true);
        expect(some.scores[i]).toBe(exact.get(some.ids[i]));
      }
    }
    // after updates (co-occurrences added since the fit live beside G): a bound above every pin is still 'all'
    const u0 = model.userIds().filter((x) => model.hasUser(x))[0];
    model.update([{ user: u0, item: 3999, weight: 2 }, { user: u0, item: 17, weight: 1 }, { user: 5, item: 3999, weight: 1 }]);
    const c0 = model.recommend(u0, { n: 4000 }).ids.slice(100, 130);
    expect(model.recommend(u0, { n: 20, candidates: c0, cooccurring: 100_000 })).toEqual(model.recommend(u0, { n: 20, candidates: c0 }));
    expect(() => model.recommend(model.userIds()[0], { candidates: [0], cooccurring: -1 })).toThrow(/cooccurring/);
  });
});

describe('recommend with a bounded history', () => {
  it('history ≥ the row changes nothing; a smaller one scores from the most recent pins and still filters every seen pin', () => {
    const log = chainLog(300, 5);
    const X = log.toMatrix();
    const model = new SvdRecommender<string, string>({ factors: 8, order: 'off' }).fit(X);
    const st = stateOf(model as unknown as SvdRecommender);
    let cut = 0;
    for (const u of model.userIds().filter((x) => model.hasUser(x)).slice(0, 30)) {
      const ui = st.users.get(u);
      const a = st.x.indptr[ui], b = st.x.indptr[ui + 1];
      expect(model.recommend(u, { n: 20, history: b - a })).toEqual(model.recommend(u, { n: 20 }));
      if (b - a < 4) continue;
      cut++;
      // the 2 most recent pins, by the position of their latest event
      const entries = Array.from({ length: b - a }, (_, p) => ({ item: st.items.id(st.x.indices[a + p]) as string, key: st.xKey![a + p], w: st.x.data[a + p] }));
      entries.sort((p, q) => q.key - p.key);
      const recent = entries.slice(0, 2).sort((p, q) => p.key - q.key);
      const short = model.recommend(u, { n: 20, history: 2 });
      const folded = model.recommend({ items: recent.map((e) => e.item), weights: recent.map((e) => e.w) }, { n: 20 + entries.length, filterItems: entries.map((e) => e.item) });
      expect(short.ids).toEqual(folded.ids.slice(0, short.ids.length));
      for (const e of entries) expect(short.ids).not.toContain(e.item);
      const two = model.recommend(u, { n: 10, history: 2, candidates: short.ids.slice(0, 5), cooccurring: 50 });
      for (const e of entries) expect(two.ids).not.toContain(e.item);
    }
    expect(cut).toBeGreaterThan(5);
    expect(() => model.recommend(model.userIds()[0], { history: 0 })).toThrow(/history/);
  });
});
