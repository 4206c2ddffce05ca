/**
 * The FeedStore contract, run against MemoryFeedStore and (when redis-server is installed) RedisFeedStore on
 * a throwaway server: seen/recent semantics and trimming, trending values by hand, dedupe, validation.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../../src/core/errors.js';
import { ClosedError } from '../../src/core/errors.js';
import {
  MemoryFeedStore, RedisFeedStore, type FeedEvent, type FeedEventType, type FeedStore, type RedisFeedStoreOptions,
} from '../../src/store/index.js';
import { startRedis } from '../helpers/redis.js';
import { rejection } from '../helpers/thrown.js';

const redis = await startRedis();
afterAll(async () => { await redis?.stop(); });

type Make = (o?: RedisFeedStoreOptions) => FeedStore;

let n = 0;
function ev(type: FeedEventType, user: string, pin: string, time: number, category?: string | null, id = `e${n++}`): FeedEvent {
  const e: FeedEvent = { id, type, user, pin, time };
  if (category !== undefined) e.category = category;
  return e;
}


function contract(make: Make): void {
  it('create and repin are seen; every type but view is recent; view only counts for trending weight 0', async () => {
    const s = make();
    const r = await s.applyEvents([
      ev('create', 'u', 'p1', 100), ev('repin', 'u', 'p2', 200), ev('closeup', 'u', 'p3', 300),
      ev('click', 'u', 'p4', 400), ev('view', 'u', 'p5', 500),
    ]);
    expect(r).toEqual({ applied: 5, duplicates: 0 });
    expect([...(await s.seen('u'))].sort()).toEqual(['p1', 'p2']);
    expect(await s.recent('u', 10)).toEqual(['p4', 'p3', 'p2', 'p1']);
    expect(await s.seen('nobody')).toEqual(new Set());
    expect(await s.recent('nobody', 5)).toEqual([]);
    expect(await s.appliedCount()).toBe(5);
    await s.close();
  });

  it('a pin repinned twice is one seen pin and one recent entry, counted twice for trending', async () => {
    const s = make({ bucketMs: 1000, halfLifeMs: 1000 });
    await s.applyEvents([ev('repin', 'u', 'p1', 1000, 'x'), ev('repin', 'u', 'p2', 1100, 'x'), ev('repin', 'u', 'p1', 1200, 'x')]);
    expect(await s.seen('u')).toEqual(new Set(['p1', 'p2']));
    expect(await s.recent('u', 10)).toEqual(['p1', 'p2']);
    expect(await s.trending('x', 10, 1500)).toEqual([{ id: 'p1', score: 2 }, { id: 'p2', score: 1 }]);
    await s.close();
  });

  it('recent: latest event time first, re-engaging moves a pin to the front, an older event does not', async () => {
    const s = make();
    await s.applyEvents([ev('click', 'u', 'a', 10), ev('click', 'u', 'b', 20), ev('closeup', 'u', 'c', 30)]);
    expect(await s.recent('u', 10)).toEqual(['c', 'b', 'a']);
    await s.applyEvents([ev('click', 'u', 'a', 40)]);
    expect(await s.recent('u', 10)).toEqual(['a', 'c', 'b']);
    await s.applyEvents([ev('click', 'u', 'c', 5)]); // late arrival of an old event: c keeps time 30
    expect(await s.recent('u', 10)).toEqual(['a', 'c', 'b']);
    expect(await s.recent('u', 2)).toEqual(['a', 'c']);
    expect(await s.recent('u', 0)).toEqual([]);
    // equal times: the larger id first (sorted-set order)
    await s.applyEvents([ev('click', 'v', 'x', 7), ev('click', 'v', 'z', 7), ev('click', 'v', 'y', 7)]);
    expect(await s.recent('v', 10)).toEqual(['z', 'y', 'x']);
    await s.close();
  });

  it('maxSeen and maxRecent keep the most recent by event time, whatever the arrival order', async () => {
    const s = make({ maxSeen: 3, maxRecent: 2 });
    const times = [50, 10, 40, 30, 20, 60, 5];
    await s.applyEvents(times.map((t) => ev('repin', 'u', `p${t}`, t)));
    expect(await s.seen('u')).toEqual(new Set(['p60', 'p50', 'p40']));
    expect(await s.recent('u', 10)).toEqual(['p60', 'p50']);
    // an evicted pin re-offered with an old time stays out; with a new time it comes back
    await s.applyEvents([ev('repin', 'u', 'p10', 15)]);
    expect(await s.seen('u')).toEqual(new Set(['p60', 'p50', 'p40']));
    await s.applyEvents([ev('repin', 'u', 'p10', 70)]);
    expect(await s.seen('u')).toEqual(new Set(['p10', 'p60', 'p50']));
    expect(await s.recent('u', 10)).toEqual(['p10', 'p60']);
    await s.close();
  });

  it('maxSeen trimming over many events (2·max and more)', async () => {
    const s = make({ maxSeen: 5 });
    const evs = Array.from({ length: 23 }, (_, i) => ev('create', 'u', `p${String(i).padStart(2, '0')}`, (i * 7) % 23));
    await s.applyEvents(evs);
    const want = evs.filter((e) => e.time >= 18).map((e) => e.pin).sort();
    expect([...(await s.seen('u'))].sort()).toEqual(want);
    await s.close();
  });

  describe('trending (bucketMs 1000, halfLifeMs 1000, windowBuckets 3)', () => {
    const opts = { bucketMs: 1000, halfLifeMs: 1000, windowBuckets: 3 };
    const events = [
      ev('repin', 'u1', 'pA', 10_100, 'x'), // bucket 10, weight 1
      ev('click', 'u2', 'pA', 9_000, 'x'), // bucket 9, weight 0.5
      ev('create', 'u3', 'pB', 8_999, 'y'), // bucket 8, weight 1
      ev('closeup', 'u1', 'pC', 10_400), // bucket 10, weight 0.5, no category: global only
      ev('view', 'u2', 'pD', 10_000, 'x'), // weight 0: nowhere
      ev('repin', 'u3', 'pE', 7_999, 'x'), // bucket 7
      ev('repin', 'u3', 'pF', 11_000, 'x'), // bucket 11
    ];

    it('exact decayed scores at a fixed now, global vs category, ties by id', async () => {
      const s = make(opts);
      await s.applyEvents(events);
      // now 10_500: bucket 10 weighs 1, bucket 9 ½, bucket 8 ¼; 7 is out of the window, 11 is in the future
      expect(await s.trending(null, 10, 10_500)).toEqual([
        { id: 'pA', score: 1 + 0.5 * 0.5 }, { id: 'pC', score: 0.5 }, { id: 'pB', score: 0.25 },
      ]);
      expect(await s.trending('x', 10, 10_500)).toEqual([{ id: 'pA', score: 1.25 }]);
      expect(await s.trending('y', 10, 10_500)).toEqual([{ id: 'pB', score: 0.25 }]);
      expect(await s.trending('z', 10, 10_500)).toEqual([]);
      expect(await s.trending(null, 1, 10_500)).toEqual([{ id: 'pA', score: 1.25 }]);
      expect(await s.trending(null, 0, 10_500)).toEqual([]);
      // a bucket later: pF's bucket is current, pB's has left the window
      expect(await s.trending(null, 10, 11_999)).toEqual([
        { id: 'pF', score: 1 }, { id: 'pA', score: 0.5 + 0.5 * 0.25 }, { id: 'pC', score: 0.25 },
      ]);
      // equal scores: ids ascending
      await s.applyEvents([ev('repin', 'u9', 'pB', 10_000, 'y')]);
      expect(await s.trending('y', 10, 10_000)).toEqual([{ id: 'pB', score: 1.25 }]);
      expect(await s.trending(null, 10, 10_000)).toEqual([
        { id: 'pA', score: 1.25 }, { id: 'pB', score: 1.25 }, { id: 'pC', score: 0.5 },
      ]);
      await s.close();
    });

    it('decays by half a half-life per bucket and drops out after the window', async () => {
      const s = make({ bucketMs: 1000, halfLifeMs: 2000, windowBuckets: 3 });
      await s.applyEvents([ev('repin', 'u', 'p', 5000, 'x')]);
      const at = async (now: number) => (await s.trending('x', 5, now)).map((t) => t.score);
      expect(await at(5000)).toEqual([1]);
      expect(await at(5999)).toEqual([1]);
      expect(await at(6000)).toEqual([2 ** -0.5]);
      expect(await at(7500)).toEqual([0.5]);
      expect(await at(8000)).toEqual([]);
      expect(await at(4999)).toEqual([]);
      await s.close();
    });

    it('the default window: half-life 1 h, 5-minute buckets, 24 of them', async () => {
      const s = make();
      const t0 = 1_700_000_000_000 - (1_700_000_000_000 % 300_000);
      await s.applyEvents([ev('repin', 'u', 'p', t0, 'x'), ev('click', 'u', 'q', t0, 'x')]);
      expect(await s.trending('x', 5, t0 + 3_600_000)).toEqual([{ id: 'p', score: 0.5 }, { id: 'q', score: 0.25 }]);
      expect(await s.trending('x', 5, t0 + 23 * 300_000)).toEqual([{ id: 'p', score: 2 ** -(23 / 12) }, { id: 'q', score: 0.5 * 2 ** -(23 / 12) }]);
      expect(await s.trending('x', 5, t0 + 24 * 300_000)).toEqual([]);
      await s.close();
    });

    it('custom weights (view counted, repin heavier)', async () => {
      const s = make({ ...opts, weights: { view: 0.25, repin: 3 } });
      await s.applyEvents([ev('view', 'u', 'a', 10_000, 'x'), ev('repin', 'u', 'b', 10_000, 'x'), ev('click', 'u', 'c', 10_000, 'x')]);
      expect(await s.trending('x', 5, 10_000)).toEqual([{ id: 'b', score: 3 }, { id: 'c', score: 0.5 }, { id: 'a', score: 0.25 }]);
      expect(await s.recent('u', 5)).toEqual(['c', 'b']);
      await s.close();
    });
  });

  describe('trending per-bucket truncation (perBucket)', () => {
    const opts = { bucketMs: 1000, halfLifeMs: 1000, windowBuckets: 3 };
    const repins = (pin: string, count: number, time: number) => Array.from({ length: count }, () => ev('repin', 'u', pin, time, 'x'));
    // bucket 10 (weight 1 at now 10_500): A 3, B 2, X 1. bucket 9 (weight ½): C 3, D 2, X 1.5, B 0.5
    const events = [
      ...repins('A', 3, 10_100), ...repins('B', 2, 10_200), ...repins('X', 1, 10_300),
      ...repins('C', 3, 9_100), ...repins('D', 2, 9_200), ...repins('X', 1, 9_300), ev('click', 'u', 'X', 9_300, 'x'), ev('click', 'u', 'B', 9_400, 'x'),
    ];

    it('a pin outside every bucket\'s top is missed; a pin counts only the buckets whose top it is in', async () => {
      const two = make({ ...opts, perBucket: 2 });
      await two.applyEvents(events);
      // X (1 + 1.5·½ = 1.75 in full) is third in both buckets: missed; B's ½ from bucket 9 (fourth there) is cut
      expect(await two.trending('x', 10, 10_500)).toEqual([
        { id: 'A', score: 3 }, { id: 'B', score: 2 }, { id: 'C', score: 1.5 }, { id: 'D', score: 1 },
      ]);
      const three = make({ ...opts, perBucket: 3 });
      await three.applyEvents(events);
      expect(await three.trending('x', 10, 10_500)).toEqual([
        { id: 'A', score: 3 }, { id: 'B', score: 2 }, { id: 'X', score: 1.75 }, { id: 'C', score: 1.5 }, { id: 'D', score: 1 },
      ]);
      const full = [{ id: 'A', score: 3 }, { id: 'B', score: 2.25 }, { id: 'X', score: 1.75 }, { id: 'C', score: 1.5 }, { id: 'D', score: 1 }];
      for (const s of [make({ ...opts, perBucket: 4 }), make(opts)]) {
        await s.applyEvents(events);
        expect(await s.trending('x', 10, 10_500)).toEqual(full);
        expect(await s.trending(null, 2, 10_500)).toEqual(full.slice(0, 2));
        await s.close();
      }
      // a perBucket below n: fewer than n pins come back
      const one = make({ ...opts, perBucket: 1 });
      await one.applyEvents(events);
      expect(await one.trending('x', 10, 10_500)).toEqual([{ id: 'A', score: 3 }, { id: 'C', score: 1.5 }]);
      await Promise.all([two.close(), three.close(), one.close()]);
    });

    it('ties at the cut: the smallest ids (code points) are kept, whatever order Redis returns them in', async () => {
      const s = make({ ...opts, perBucket: 3 });
      // bucket 10: 'a' 2, then eight pins tied at 1 (ZRANGE … REV would return the largest ids first)
      const tied = ['q', 'b', 'z', '😀', '\uFFFD', 'c', 'bb', 'é'];
      await s.applyEvents([...repins('a', 2, 10_000), ...tied.map((p) => ev('repin', 'u', p, 10_000, 'x'))]);
      expect(await s.trending('x', 10, 10_500)).toEqual([{ id: 'a', score: 2 }, { id: 'b', score: 1 }, { id: 'bb', score: 1 }]);
      // every pin of the bucket tied: no pin above the cut
      await s.applyEvents(['z', '😀', '\uFFFD'].map((p) => ev('repin', 'u', p, 10_000, 'y')));
      expect(await s.trending('y', 10, 10_500)).toEqual([{ id: 'z', score: 1 }, { id: '\uFFFD', score: 1 }, { id: '😀', score: 1 }]);
      const two = make({ ...opts, perBucket: 2 });
      await two.applyEvents(['z', '😀', '\uFFFD'].map((p) => ev('repin', 'u', p, 10_000, 'y')));
      // code points: 'z' < U+FFFD < U+1F600 (UTF-16 `<` would put '😀' before '\uFFFD')
      expect(await two.trending('y', 10, 10_500)).toEqual([{ id: 'z', score: 1 }, { id: '\uFFFD', score: 1 }]);
      await Promise.all([s.close(), two.close()]);
    });

    it('many ties at the cut over several buckets', async () => {
      const s = make({ ...opts, perBucket: 20 });
      const id = (i: number) => `t${String(i).padStart(2, '0')}`;
      const evs: FeedEvent[] = [];
      for (const i of [7, 3, 44, 21, 9]) evs.push(...repins(id(i), 2, 10_000)); // five pins at 2
      for (let i = 49; i >= 0; i--) if (![7, 3, 44, 21, 9].includes(i)) evs.push(ev('repin', 'u', id(i), 10_000, 'x')); // 45 at 1
      for (let i = 0; i < 50; i++) evs.push(ev('repin', 'u', id(i), 9_000, 'x')); // bucket 9: all 50 tied at 1
      await s.applyEvents(evs);
      const got = await s.trending('x', 100, 10_500);
      // bucket 10 keeps the five 2s and the 15 smallest ids at 1; bucket 9 keeps t00..t19 (½ each)
      const kept10 = new Map<string, number>([[3, 2], [7, 2], [9, 2], [21, 2], [44, 2]].map(([i, c]) => [id(i), c]));
      for (let i = 0, k = 0; k < 15; i++) if (!kept10.has(id(i))) { kept10.set(id(i), 1); k++; }
      const want = new Map(kept10);
      for (let i = 0; i < 20; i++) want.set(id(i), (want.get(id(i)) ?? 0) + 0.5);
      const wantList = [...want].map(([pin, score]) => ({ id: pin, score })).sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
      expect(got).toEqual(wantList);
      expect(got.length).toBe(22); // t00..t19, t21, t44 (bucket 10's 15 smallest at 1 are t00..t17 without t03, t07, t09)
      await s.close();
    });

    it('the default depth is max(200, 4·n), per call', async () => {
      const s = make(opts);
      const id = (i: number) => `p${String(i).padStart(3, '0')}`;
      // bucket 10: 250 pins tied at 1; bucket 9: p249 at 1 (weight ½)
      await s.applyEvents([...Array.from({ length: 250 }, (_, i) => ev('repin', 'u', id(i), 10_000, 'x')), ev('repin', 'u', id(249), 9_000, 'x')]);
      // n 1 → depth 200: p249 is outside bucket 10's top (p000..p199) and gets only ½
      expect(await s.trending('x', 1, 10_500)).toEqual([{ id: 'p000', score: 1 }]);
      expect((await s.trending('x', 62, 10_500)).map((t) => t.id)).not.toContain('p249'); // depth 248
      // n 63 → depth 252: the whole bucket
      expect((await s.trending('x', 63, 10_500))[0]).toEqual({ id: 'p249', score: 1.5 });
      await s.close();
    });
  });

  it('an event id is applied once, in one batch and across batches', async () => {
    const s = make({ bucketMs: 1000, halfLifeMs: 1000 });
    const a = ev('repin', 'u', 'p1', 1000, 'x', 'id-a');
    const b = ev('click', 'u', 'p2', 1100, 'x', 'id-b');
    expect(await s.applyEvents([a, b, a, { ...a, pin: 'other' }])).toEqual({ applied: 2, duplicates: 2 });
    expect(await s.applyEvents([b, a])).toEqual({ applied: 0, duplicates: 2 });
    const c = ev('repin', 'u', 'p3', 1200, 'x', 'id-c');
    expect(await s.applyEvents([a, c, b])).toEqual({ applied: 1, duplicates: 2 });
    expect(await s.appliedCount()).toBe(3);
    expect(await s.seen('u')).toEqual(new Set(['p1', 'p3']));
    expect(await s.trending('x', 10, 1500)).toEqual([{ id: 'p1', score: 1 }, { id: 'p3', score: 1 }, { id: 'p2', score: 0.5 }]);
    expect(await s.applyEvents([])).toEqual({ applied: 0, duplicates: 0 });
    // ids are per user: the same id for another user is another event
    expect(await s.applyEvents([{ ...a, user: 'v' }])).toEqual({ applied: 1, duplicates: 0 });
    expect(await s.appliedCount()).toBe(4);
    await s.close();
  });

  it('hostile user ids, pins and categories work and do not collide', async () => {
    const s = make({ bucketMs: 1000, halfLifeMs: 1000 });
    const users = ['}', '{', 'a:b', 'a', 'a}:seen', '{u:a}', '__proto__', 'constructor', 'toString', '😀', 'é', '%7D', 'a b', '*'];
    await s.applyEvents(users.map((u, i) => ev('repin', u, `pin-${i}`, 1000 + i, u, `id:${u}`)));
    for (const [i, u] of users.entries()) {
      expect(await s.seen(u)).toEqual(new Set([`pin-${i}`]));
      expect(await s.recent(u, 5)).toEqual([`pin-${i}`]);
      expect(await s.trending(u, 5, 1500)).toEqual([{ id: `pin-${i}`, score: 1 }]);
    }
    expect((await s.trending(null, 100, 1500)).length).toBe(users.length);
    const weird = ['__proto__', 'toString', '😀', '\uFFFD', 'a:b}', ''.padEnd(256, 'z')];
    await s.applyEvents(weird.map((p, i) => ev('repin', 'w', p, 1000, 'c', `w${i}`)));
    expect(await s.seen('w')).toEqual(new Set(weird));
    // equal scores: by code point, so '😀' (U+1F600) after '\uFFFD', as Redis orders their UTF-8 bytes
    expect((await s.trending('c', 10, 1000)).map((t) => t.id)).toEqual([...weird].sort((x, y) => (x === '😀' ? 1 : y === '😀' ? -1 : x < y ? -1 : 1)));
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'pin-0')).toBe(false);
    await s.close();
  });

  describe('validation', () => {
    const good = (): FeedEvent => ({ id: 'ok', type: 'repin', user: 'u', pin: 'p', category: 'c', time: 1 });
    const cases: [string, Record<string, unknown>][] = [
      ['id', { id: '' }], ['id', { id: 'x'.repeat(129) }], ['id', { id: 7 }], ['id', { id: undefined }],
      ['type', { type: 'like' }], ['type', { type: 'toString' }], ['type', { type: undefined }],
      ['user', { user: '' }], ['user', { user: 'u'.repeat(257) }], ['user', { user: 5 }], ['user', { user: '\uD800' }],
      ['pin', { pin: '' }], ['pin', { pin: null }], ['pin', { pin: 'p'.repeat(257) }],
      ['category', { category: 3 }], ['category', { category: '' }], ['category', { category: {} }],
      ['time', { time: NaN }], ['time', { time: Infinity }], ['time', { time: '1' }], ['time', { time: 1e17 }], ['time', { time: undefined }],
    ];
    for (const [field, patch] of cases) {
      it(`a bad ${field} (${JSON.stringify(patch)}) names events[2].${field} and applies nothing`, async () => {
        const s = make();
        const bad = { ...good(), ...patch, id: 'id' in patch ? patch.id : 'bad' };
        const err = await rejection(s.applyEvents([{ ...good(), id: 'a' }, { ...good(), id: 'b' }, bad as unknown as FeedEvent]));
        expect(err).toBeInstanceOf(InvalidParameterError);
        expect((err as InvalidParameterError).parameter).toBe(`events[2].${field}`);
        expect((err as Error).message).toContain(`events[2].${field}`);
        expect(await s.appliedCount()).toBe(0);
        expect(await s.seen('u')).toEqual(new Set());
        expect(await s.trending('c', 5, 1)).toEqual([]);
        await s.close();
      });
    }
    it('category null or absent is fine; non-array batches and non-object events are rejected', async () => {
      const s = make();
      expect(await s.applyEvents([{ ...good(), category: null }, { id: 'x2', type: 'view', user: 'u', pin: 'p', time: 2 }])).toEqual({ applied: 2, duplicates: 0 });
      for (const [batch, name] of [[null, 'events'], ['x', 'events'], [[null], 'events[0]'], [[good(), 5], 'events[1]']] as const) {
        const err = await rejection(s.applyEvents(batch as unknown as FeedEvent[]));
        expect(err).toBeInstanceOf(InvalidParameterError);
        expect((err as InvalidParameterError).parameter).toBe(name);
      }
      await s.close();
    });
    it('read arguments are checked', async () => {
      const s = make();
      for (const [p, name] of [
        [s.seen(''), 'user'], [s.seen(3 as unknown as string), 'user'], [s.recent('u', -1), 'n'], [s.recent('u', 1.5), 'n'],
        [s.trending('', 3), 'category'], [s.trending(undefined as unknown as null, 3), 'category'], [s.trending(null, NaN), 'n'], [s.trending(null, 3, Infinity), 'now'],
      ] as const) {
        const err = await rejection(p);
        expect(err).toBeInstanceOf(InvalidParameterError);
        expect((err as InvalidParameterError).parameter).toBe(name);
      }
      await s.close();
    });
  });

  it('after close every method rejects with ClosedError', async () => {
    const s = make();
    await s.close();
    for (const p of [s.applyEvents([]), s.seen('u'), s.recent('u', 1), s.trending(null, 1), s.appliedCount()]) {
      expect(await rejection(p)).toBeInstanceOf(ClosedError);
    }
    await s.close(); // twice is fine
  });
}

describe('MemoryFeedStore: the FeedStore contract', () => {
  contract((o) => new MemoryFeedStore(o));
});

describe.skipIf(!redis)(`RedisFeedStore: the FeedStore contract${redis ? '' : ' (skipped: redis-server is not on PATH)'}`, () => {
  let client: Redis;
  let k = 0;
  beforeAll(async () => {
    client = new Redis(redis!.url, { maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    await client.ping();
  });
  afterAll(() => client?.disconnect());
  contract((o) => new RedisFeedStore(client, { prefix: `c${k++}`, timeoutMs: 5000, ...o }));
});
