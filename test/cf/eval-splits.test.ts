import { describe, expect, it } from 'vitest';
import {
  InteractionMatrix, SvdRecommender, evaluate, interactionsFromColumns, leaveKOut, leaveLastOut, randomHoldout, syntheticInteractions,
  type HoldoutSplit, type InteractionLog, type RowScorer,
} from '../../src/cf/index.js';
import { InvalidParameterError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';

/** The pins (column indices) of each user's row in `m`. */
const rowPins = (m: InteractionMatrix, u: number) => Array.from(m.csr.indices.subarray(m.csr.indptr[u], m.csr.indptr[u + 1]));
const rowSum = (m: InteractionMatrix, u: number) => m.csr.data.subarray(m.csr.indptr[u], m.csr.indptr[u + 1]).reduce((s, w) => s + w, 0);
const heldOut = (s: HoldoutSplit, q: number) => (s.testIndptr ? Array.from(s.testItems.subarray(s.testIndptr[q], s.testIndptr[q + 1])) : [s.testItems[q]]);

/** A copy of a synthetic log with unit weights and seeded timestamps with many ties. */
function unitLog(seed: number, users = 300, items = 80, events = 6000): InteractionLog<number, number> {
  const base = syntheticInteractions({ users, items, events, seed });
  const rng = new Rng(seed + 100);
  return interactionsFromColumns({
    users: Array.from(base.user, (u) => base.users.id(u)), items: Array.from(base.item, (i) => base.items.id(i)),
    timestamps: Array.from(base.user, () => rng.int(20)),
  });
}

describe('evaluate with several held-out pins per user: exact, hand-checked values', () => {
  // by input order with k = 2: a holds out p3 p4; b p1 p7; c p3 p2 (p2 is also in c's train row: relevant, never
  // hit); d p5 p6; e has too few events (3 needed) and is not evaluated
  const log = interactionsFromColumns({
    users: ['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'c', 'c', 'c', 'c', 'd', 'd', 'd', 'e', 'e'],
    items: ['p0', 'p1', 'p2', 'p3', 'p4', 'p0', 'p5', 'p1', 'p7', 'p2', 'p6', 'p3', 'p2', 'p4', 'p5', 'p6', 'p1', 'p2'],
  });
  const split = leaveKOut(log, { k: 2, by: 'order' });
  const name = (j: number) => split.train.items.id(j);
  // a fixed scorer: p0 highest, p7 lowest
  const fixed = Float32Array.from({ length: split.train.nItems }, (_, j) => 100 - Number(name(j).slice(1)));
  const scorer: RowScorer = { scoreRow: (_idx, _val, out) => out.set(fixed) };
  const g = 1 + 1 / Math.log2(3); // ideal DCG of two hits

  it('the split', () => {
    expect(Array.from(split.testUsers, (u) => split.train.users.id(u))).toEqual(['a', 'b', 'c', 'd']);
    expect([0, 1, 2, 3].map((q) => heldOut(split, q).map(name))).toEqual([['p3', 'p4'], ['p1', 'p7'], ['p3', 'p2'], ['p5', 'p6']]);
    expect(rowPins(split.train, split.train.users.get('c')).map(name).sort()).toEqual(['p2', 'p6']);
    expect(rowPins(split.train, split.train.users.get('e')).map(name).sort()).toEqual(['p1', 'p2']);
  });

  it('K = 2', () => {
    // positions: a 0,1; b 0,5; c p3 at 2 (p2 in train); d 4,5
    const m = evaluate(scorer, split, { k: 2, perUser: true });
    expect(m.users).toBe(4);
    expect(Array.from(m.perUser!.rank)).toEqual([0, 0, 2, 4]);
    expect(Array.from(m.perUser!.hits!)).toEqual([2, 1, 0, 0]);
    expect(m.hr).toBe(0.5);
    expect(m.recall).toBeCloseTo((1 + 0.5) / 4, 12);
    expect(m.precision).toBeCloseTo((2 + 1) / 2 / 4, 12);
    expect(m.ndcg).toBeCloseTo((1 + 1 / g) / 4, 12);
    expect(m.map).toBeCloseTo((1 + 0.5) / 4, 12);
    expect(m.mrr).toBeCloseTo((1 + 1 + 1 / 3 + 1 / 5) / 4, 12);
    // AUC over held-out pins not in train: a 1,1; b 1, 0 (4 of 4 others above p7); c 1 − 2/5; d 1 − 4/5 twice
    expect(m.auc).toBeCloseTo((1 + 0.5 + 0.6 + 0.2) / 4, 12);
    expect(m.coverage).toBeCloseTo(5 / 8, 12); // p0..p4
  });

  it('K = 6', () => {
    const m = evaluate(scorer, split, { k: 6 });
    expect(m.hr).toBe(1);
    expect(m.recall).toBeCloseTo((1 + 1 + 0.5 + 1) / 4, 12);
    expect(m.precision).toBeCloseTo((2 + 2 + 1 + 2) / 6 / 4, 12);
    expect(m.ndcg).toBeCloseTo((1 + (1 + 1 / Math.log2(7)) / g + 0.5 / g + (1 / Math.log2(6) + 1 / Math.log2(7)) / g) / 4, 12);
    expect(m.map).toBeCloseTo((1 + (1 + 2 / 6) / 2 + 1 / 3 / 2 + (1 / 5 + 2 / 6) / 2) / 4, 12);
  });

  it('equal scores: held-out pins take consecutive positions (no metric above 1), nothing is above them for AUC', () => {
    const flat: RowScorer = { scoreRow: (_idx, _val, out) => out.fill(0) };
    const m = evaluate(flat, split, { k: 2, perUser: true });
    expect(Array.from(m.perUser!.hits!)).toEqual([2, 2, 1, 2]);
    expect(m.precision).toBeCloseTo(7 / 2 / 4, 12);
    expect(m.ndcg).toBeCloseTo((3 + 1 / g) / 4, 12);
    expect(m.map).toBeCloseTo((3 + 0.5) / 4, 12);
    expect(m.auc).toBe(1);
    const one = evaluate(flat, split, { k: 1 });
    expect(one.precision).toBe(1);
    expect(one.map).toBe(1); // every user's first position is 0, over min(K, |T|) = 1
  });

  it('sampled: negatives are neither in the train row nor held out', () => {
    // train pins score 2 and the held-out pins 1.x: a drawn train pin or held-out pin would push a held-out pin down
    const users = new Map([...split.testUsers].map((u, q) => [rowPins(split.train, u).join(','), q]));
    const tricky: RowScorer = {
      scoreRow(idx, _val, out) {
        out.fill(0);
        for (const j of idx) out[j] = 2;
        heldOut(split, users.get(Array.from(idx).join(','))!).forEach((j, r) => { if (!idx.includes(j)) out[j] = 1.5 - r / 10; });
      },
    };
    for (const protocol of ['sampled', 'full'] as const) {
      const m = evaluate(tricky, split, { k: 2, protocol, negatives: 99, seed: 5 });
      expect(m.hr, protocol).toBe(1);
      expect(m.recall, protocol).toBeCloseTo((3 + 0.5) / 4, 12);
      expect(m.map, protocol).toBeCloseTo((3 + 0.5) / 4, 12);
      expect(m.ndcg, protocol).toBeCloseTo((3 + 1 / g) / 4, 12);
      expect(m.auc, protocol).toBe(1);
    }
  });

  it('bootstrap intervals of every metric (recall included) hold the point estimates', () => {
    const s = leaveKOut(unitLog(3), { k: 3 });
    const model = new SvdRecommender({ factors: 8 }).fit(s.train);
    const m = evaluate(model, s, { k: 10, confidence: { resamples: 300, seed: 2 } });
    for (const key of ['hr', 'ndcg', 'recall', 'mrr', 'precision', 'map', 'auc'] as const) {
      const iv = m.intervals![key];
      expect(iv.low, key).toBeLessThanOrEqual(m[key] + 1e-12);
      expect(iv.high, key).toBeGreaterThanOrEqual(m[key] - 1e-12);
      expect(m[key], key).toBeGreaterThanOrEqual(0);
      expect(m[key], key).toBeLessThanOrEqual(1);
    }
    expect(m.recall).toBeLessThan(m.hr);
  });
});

describe('leaveKOut', () => {
  it('with k = 1 is leaveLastOut (by timestamp with ties, and by order)', () => {
    const log = unitLog(1);
    for (const by of ['timestamp', 'order'] as const) {
      for (const minEvents of [2, 5]) {
        const a = leaveLastOut(log, { by, minEvents, combine: 'max' });
        const b = leaveKOut(log, { k: 1, by, minEvents, combine: 'max' });
        expect(b.testUsers).toEqual(a.testUsers);
        expect(b.testItems).toEqual(a.testItems);
        expect(b.testIndptr).toEqual(Int32Array.from({ length: a.testUsers.length + 1 }, (_, q) => q));
        expect(b.train.csr).toEqual(a.train.csr);
        expect(b.train.lastEvent).toEqual(a.train.lastEvent);
        const scorer: RowScorer = { scoreRow: (_i, _v, out) => out.set(a.train.csr.colSums()) };
        const ma = evaluate(scorer, a, { k: 5, perUser: true, confidence: { resamples: 50 } });
        const mb = evaluate(scorer, b, { k: 5, perUser: true, confidence: { resamples: 50 } });
        delete mb.perUser!.hits;
        expect(mb).toEqual(ma);
      }
    }
  });

  it('holds out the distinct pins of each user\'s last k events; train + test events are all events', () => {
    const log = unitLog(2);
    for (const by of ['timestamp', 'order'] as const) {
      const k = 4;
      const s = leaveKOut(log, { k, by, minEvents: 3 });
      const t = log.time!;
      const eventsOf = new Map<number, number[]>();
      for (let e = 0; e < log.length; e++) eventsOf.set(log.user[e], [...(eventsOf.get(log.user[e]) ?? []), e]);
      const evaluated = new Set(s.testUsers);
      for (const [u, evs] of eventsOf) {
        const trainEvents = rowSum(s.train, u); // unit weights, combine 'sum': one per kept event
        if (evs.length < k + 1) {
          expect(evaluated.has(u)).toBe(false);
          expect(trainEvents).toBe(evs.length);
          continue;
        }
        expect(evaluated.has(u)).toBe(true);
        const sorted = by === 'order' ? evs : [...evs].sort((a, b) => t[a] - t[b] || a - b);
        const last = sorted.slice(-k);
        const q = s.testUsers.indexOf(u);
        expect(new Set(heldOut(s, q))).toEqual(new Set(last.map((e) => log.item[e])));
        expect(heldOut(s, q).length).toBe(new Set(heldOut(s, q)).size);
        expect(trainEvents).toBe(evs.length - k);
        // every pin of the user is in train or held out; train keeps the pins of the earlier events
        expect(new Set([...rowPins(s.train, u), ...heldOut(s, q)])).toEqual(new Set(evs.map((e) => log.item[e])));
        expect(new Set(rowPins(s.train, u))).toEqual(new Set(sorted.slice(0, -k).map((e) => log.item[e])));
      }
    }
  });

  it('minEvents and k decide who is evaluated', () => {
    const log = interactionsFromColumns({ users: ['a', 'a', 'a', 'b', 'b', 'b', 'b', 'b'], items: ['x', 'y', 'z', 'x', 'y', 'z', 'w', 'v'] });
    expect(leaveKOut(log, { k: 2 }).testUsers.length).toBe(2);
    expect(leaveKOut(log, { k: 3 }).testUsers.length).toBe(1);
    expect(leaveKOut(log, { k: 2, minEvents: 4 }).testUsers.length).toBe(1);
    expect(leaveKOut(log, { k: 5 }).testUsers.length).toBe(0);
  });
});

describe('randomHoldout', () => {
  const log = unitLog(4, 500, 120, 12000);

  it('is seeded: the same seed gives the same split, another seed another', () => {
    const a = randomHoldout(log, { fraction: 0.3, seed: 11 });
    const b = randomHoldout(log, { fraction: 0.3, seed: 11 });
    expect(b.testItems).toEqual(a.testItems);
    expect(b.testIndptr).toEqual(a.testIndptr);
    expect(b.train.csr).toEqual(a.train.csr);
    expect(randomHoldout(log, { fraction: 0.3, seed: 12 }).testItems).not.toEqual(a.testItems);
  });

  it('holds out about `fraction` of the events, at least one per user and never all of them', () => {
    const count = new Int32Array(log.users.size);
    for (let e = 0; e < log.length; e++) count[log.user[e]]++;
    for (const fraction of [0.05, 0.2, 0.5, 0.95]) {
      const s = randomHoldout(log, { fraction, seed: 3, minEvents: 3 });
      let held = 0, eligible = 0;
      const evaluated = new Set(s.testUsers);
      for (let u = 0; u < log.users.size; u++) {
        const kept = rowSum(s.train, u);
        if (count[u] < 3) { expect(evaluated.has(u)).toBe(false); expect(kept).toBe(count[u]); continue; }
        expect(evaluated.has(u)).toBe(true);
        expect(kept).toBeGreaterThanOrEqual(1);
        expect(kept).toBeLessThan(count[u]);
        held += count[u] - kept;
        eligible += count[u];
      }
      for (let q = 0; q < s.testUsers.length; q++) expect(s.testIndptr[q + 1]).toBeGreaterThan(s.testIndptr[q]);
      expect(held / eligible, `fraction ${fraction}`).toBeGreaterThan(fraction - 0.04);
      expect(held / eligible, `fraction ${fraction}`).toBeLessThan(fraction + 0.04);
    }
  });

  it('held-out pins are the distinct pins of the held-out events and evaluate runs on it', () => {
    const s = randomHoldout(log, { seed: 1 });
    const model = new SvdRecommender({ factors: 8 }).fit(s.train);
    const m = evaluate(model, s, { k: 10, perUser: true });
    expect(m.users).toBe(s.testUsers.length);
    expect(m.perUser!.hits!.length).toBe(m.users);
    expect(m.recall).toBeGreaterThan(0);
    expect(m.hr).toBeGreaterThan(m.recall);
  });
});

describe('parameters and split shapes', () => {
  const log = unitLog(5, 50, 30, 600);
  const split = leaveKOut(log, { k: 2 });
  const scorer: RowScorer = { scoreRow: (_i, _v, out) => out.fill(0) };
  const bad = (f: () => unknown, name: RegExp) => {
    expect(f).toThrow(InvalidParameterError);
    expect(f).toThrow(name);
  };

  it('bad split parameters name the parameter', () => {
    bad(() => leaveKOut(log, { k: 0 }), /\bk\b/);
    bad(() => leaveKOut(log, { k: 1.5 }), /\bk\b/);
    bad(() => leaveKOut(log, { k: '2' as never }), /\bk\b/);
    bad(() => leaveKOut(log, { by: 'time' as never }), /\bby\b/);
    bad(() => leaveKOut(interactionsFromColumns({ users: ['a', 'a'], items: ['x', 'y'] }), { by: 'timestamp' }), /\bby\b/);
    bad(() => leaveKOut(log, { minEvents: 1 }), /minEvents/);
    bad(() => leaveKOut(log, { combine: 'mean' as never }), /combine/);
    bad(() => leaveKOut(null as never), /log/);
    for (const fraction of [0, 1, -0.1, 1.5, NaN, '0.2']) bad(() => randomHoldout(log, { fraction: fraction as never }), /fraction/);
    bad(() => randomHoldout(log, { seed: Infinity }), /seed/);
    bad(() => randomHoldout(log, { minEvents: 0 }), /minEvents/);
    bad(() => randomHoldout(log, { combine: 'avg' as never }), /combine/);
  });

  it('malformed splits are typed errors naming the field', () => {
    const n = split.testUsers.length;
    bad(() => evaluate(scorer, { ...split, testIndptr: split.testIndptr.subarray(0, n) }), /split\.testIndptr/);
    const gap = split.testIndptr.slice(); gap[1] = gap[0];
    bad(() => evaluate(scorer, { ...split, testIndptr: gap }), /split\.testIndptr\[1\]/);
    const dup = split.testItems.slice(); dup[1] = dup[0];
    bad(() => evaluate(scorer, { ...split, testItems: dup }), /split\.testItems\[1\]/);
    const out = split.testItems.slice(); out[0] = split.train.nItems;
    bad(() => evaluate(scorer, { ...split, testItems: out }), /split\.testItems\[0\]/);
    bad(() => evaluate(scorer, { ...split, testIndptr: undefined }), /split\.testItems\.length/);
    bad(() => evaluate(scorer, split, { k: 0 }), /\bk\b/);
    bad(() => evaluate(scorer, split, { protocol: 'both' as never }), /protocol/);
  });
});

describe('rows given to scoreRows', () => {
  it('carry `key` (InteractionMatrix.lastEvent of the row) when the train matrix has it, and none otherwise', () => {
    const split = leaveKOut(unitLog(6, 60, 30, 900), { k: 2 });
    const train = split.train;
    expect(train.lastEvent).toBeInstanceOf(Float64Array);
    const seen: { idx: Int32Array; val: Float32Array; key?: Float64Array }[] = [];
    const spy: RowScorer = {
      scoreRow: () => { throw new Error('scoreRows is used when present'); },
      scoreRows(rows, out) { seen.push(...rows); out.fill(0); },
    };
    evaluate(spy, split, { k: 5 });
    expect(seen.length).toBe(split.testUsers.length);
    seen.forEach((r, q) => {
      const u = split.testUsers[q];
      const s = train.csr.indptr[u], e = train.csr.indptr[u + 1];
      expect(r.idx).toEqual(train.csr.indices.subarray(s, e));
      expect(r.key).toEqual(train.lastEvent!.subarray(s, e));
    });
    seen.length = 0;
    const bare = new InteractionMatrix(train.users, train.items, train.csr);
    evaluate(spy, { ...split, train: bare }, { k: 5 });
    expect(seen.length).toBe(split.testUsers.length);
    for (const r of seen) expect('key' in r).toBe(false);
  });
});
