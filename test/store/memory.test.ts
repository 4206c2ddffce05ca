/**
 * MemoryFeedStore specifics: option validation, bounded and expiring event ids, old trending buckets dropped,
 * prototype safety of user-supplied strings, and the code-point order shared with Redis.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidParameterError } from '../../src/core/errors.js';
import { compareCodePoints, DEFAULT_TRENDING_WEIGHTS, MemoryFeedStore, type FeedEvent } from '../../src/store/index.js';
import { topOfBucket } from '../../src/store/memory.js';

const ev = (id: string, type: FeedEvent['type'], user: string, pin: string, time: number, category?: string): FeedEvent =>
  (category === undefined ? { id, type, user, pin, time } : { id, type, user, pin, time, category });

afterEach(() => { vi.useRealTimers(); });

describe('MemoryFeedStore options', () => {
  it('rejects bad options, naming them', () => {
    const cases: [unknown, string][] = [
      [{ maxSeen: 0 }, 'maxSeen'], [{ maxSeen: 1.5 }, 'maxSeen'], [{ maxRecent: -1 }, 'maxRecent'], [{ halfLifeMs: 0 }, 'halfLifeMs'],
      [{ halfLifeMs: Infinity }, 'halfLifeMs'], [{ bucketMs: 0 }, 'bucketMs'], [{ windowBuckets: 0 }, 'windowBuckets'], [{ windowBuckets: 10_001 }, 'windowBuckets'],
      [{ dedupeTtlMs: 0 }, 'dedupeTtlMs'], [{ maxRememberedIds: 0 }, 'maxRememberedIds'],
      [{ weights: { click: -1 } }, 'weights.click'], [{ weights: { repin: NaN } }, 'weights.repin'], [{ weights: { like: 1 } }, 'weights.like'],
      [{ weights: JSON.parse('{"__proto__": 1}') }, 'weights.__proto__'], [{ weights: JSON.parse('{"toString": 1}') }, 'weights.toString'],
      [{ weights: 3 }, 'weights'], [{ weights: null }, 'weights'], [null, 'options'],
      [{ perBucket: 0 }, 'perBucket'], [{ perBucket: 2.5 }, 'perBucket'], [{ perBucket: 1_000_001 }, 'perBucket'],
      [{ perBucket: '10' }, 'perBucket'], [{ perBucket: null }, 'perBucket'], [{ perBucket: NaN }, 'perBucket'],
    ];
    for (const [o, name] of cases) {
      let err: unknown;
      try { new MemoryFeedStore(o as never); } catch (e) { err = e; }
      expect(err, JSON.stringify(o)).toBeInstanceOf(InvalidParameterError);
      expect((err as InvalidParameterError).parameter).toBe(name);
    }
    expect(Object.isFrozen(DEFAULT_TRENDING_WEIGHTS)).toBe(true);
    expect(() => new MemoryFeedStore({ weights: new Map([['__proto__', 1]]) as never })).toThrow(/weights\.__proto__/);
    expect(() => new MemoryFeedStore({ perBucket: 0 })).toThrow(/perBucket/);
    for (const perBucket of [undefined, 1, 1_000_000]) expect(() => new MemoryFeedStore({ perBucket })).not.toThrow();
  });

  it('a partial weights table keeps the other defaults', async () => {
    const s = new MemoryFeedStore({ weights: { create: 2 }, bucketMs: 1000 });
    await s.applyEvents([ev('1', 'create', 'u', 'a', 0), ev('2', 'repin', 'u', 'b', 0), ev('3', 'click', 'u', 'c', 0), ev('4', 'view', 'u', 'd', 0)]);
    expect(await s.trending(null, 10, 0)).toEqual([{ id: 'a', score: 2 }, { id: 'b', score: 1 }, { id: 'c', score: 0.5 }]);
    const m = new MemoryFeedStore({ weights: new Map([['click', 4]]) as never });
    await m.applyEvents([ev('1', 'click', 'u', 'a', 0), ev('2', 'repin', 'u', 'b', 0)]);
    expect(await m.trending(null, 10, 0)).toEqual([{ id: 'a', score: 4 }, { id: 'b', score: 1 }]);
  });
});

describe('MemoryFeedStore bounds', () => {
  it('remembers at most maxRememberedIds ids, forgetting the oldest first', async () => {
    const s = new MemoryFeedStore({ maxRememberedIds: 2 });
    await s.applyEvents([ev('a', 'click', 'u', 'p', 1), ev('b', 'click', 'u', 'p', 2), ev('c', 'click', 'u', 'p', 3)]);
    expect(s.stats().rememberedIds).toBe(2);
    expect(await s.applyEvents([ev('c', 'click', 'u', 'p', 3), ev('b', 'click', 'u', 'p', 2)])).toEqual({ applied: 0, duplicates: 2 });
    expect(await s.applyEvents([ev('a', 'click', 'u', 'p', 1)])).toEqual({ applied: 1, duplicates: 0 }); // forgotten
  });

  it('forgets ids after dedupeTtlMs of wall-clock time', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    const s = new MemoryFeedStore({ dedupeTtlMs: 1000 });
    const e = ev('once', 'repin', 'u', 'p', 5);
    expect(await s.applyEvents([e])).toEqual({ applied: 1, duplicates: 0 });
    vi.setSystemTime(1_000_999);
    expect(await s.applyEvents([e])).toEqual({ applied: 0, duplicates: 1 });
    vi.setSystemTime(1_001_000);
    expect(await s.applyEvents([ev('other', 'repin', 'u', 'q', 5)])).toEqual({ applied: 1, duplicates: 0 });
    expect(s.stats().rememberedIds).toBe(1); // 'once' expired and was dropped
    expect(await s.applyEvents([e])).toEqual({ applied: 1, duplicates: 0 });
    expect(await s.appliedCount()).toBe(3);
  });

  it('drops trending buckets more than windowBuckets behind the newest event', async () => {
    const s = new MemoryFeedStore({ bucketMs: 1000, windowBuckets: 3 });
    await s.applyEvents([ev('1', 'repin', 'u', 'p', 0, 'x'), ev('2', 'repin', 'u', 'p', 1000, 'x'), ev('3', 'repin', 'u', 'p', 2000, 'y')]);
    expect(s.stats().trendBuckets).toBe(3 + 2 + 1); // global 0,1,2; x 0,1; y 2
    await s.applyEvents([ev('4', 'repin', 'u', 'q', 4000)]); // newest bucket 4: keep 1..4
    expect(s.stats().trendBuckets).toBe(3 + 1 + 1); // global 1,2,4; x 1; y 2
    await s.applyEvents([ev('5', 'repin', 'u', 'q', 9000)]);
    expect(s.stats().trendBuckets).toBe(1);
    await s.applyEvents([ev('6', 'repin', 'u', 'r', 1000, 'x')]); // too old to ever be in a window again
    expect(s.stats().trendBuckets).toBe(1);
    expect(await s.trending('x', 5, 9000)).toEqual([]);
    expect(await s.seen('u')).toEqual(new Set(['p', 'q', 'r']));
    expect(s.stats().users).toBe(1);
  });
});

describe('MemoryFeedStore prototype safety', () => {
  it('users, pins, categories and ids named after Object.prototype members are plain strings', async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort().join();
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
    const s = new MemoryFeedStore({ bucketMs: 1000 });
    await s.applyEvents(names.map((n, i) => ev(n, 'repin', n, n, i, n)));
    for (const n of names) {
      expect(await s.seen(n)).toEqual(new Set([n]));
      expect((await s.trending(n, 5, 0)).map((t) => t.id)).toEqual([n]);
    }
    expect(await s.seen('nobody')).toEqual(new Set());
    expect(Object.getOwnPropertyNames(Object.prototype).sort().join()).toBe(before);
    expect(({} as Record<string, unknown>).p).toBeUndefined();
  });

  it('an event object with a polluted prototype or getters is read once (validated copy)', async () => {
    const s = new MemoryFeedStore();
    let reads = 0;
    const e = { id: 'g', type: 'repin', user: 'u', pin: 'p', time: 1, get category() { reads++; return reads === 1 ? 'ok' : 5; } };
    await s.applyEvents([e as unknown as FeedEvent]);
    expect(reads).toBe(1);
    expect((await s.trending('ok', 5, 1)).map((t) => t.id)).toEqual(['p']);
  });
});

describe('topOfBucket (the per-bucket cut)', () => {
  it('keeps the top k by count descending, ties by id ascending (code points), as a full sort would', () => {
    const ids = ['a', 'b', 'ab', '\uFFFD', '😀', '\uE000', 'é', 'z', '\u{10000}', 'aa', 'ba', 'c', 'd', 'e', 'f', 'g'];
    let seed = 12345;
    const rand = (m: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % m; };
    for (let run = 0; run < 300; run++) {
      const bucket = new Map<string, number>();
      for (const id of ids) if (rand(4) > 0) bucket.set(id, [0.5, 1, 1, 1.5, 2, 3][rand(6)]);
      const k = 1 + rand(ids.length + 2);
      const want = [...bucket].sort((x, y) => y[1] - x[1] || compareCodePoints(x[0], y[0])).slice(0, k);
      const got = [...topOfBucket(bucket, k)].sort((x, y) => y[1] - x[1] || compareCodePoints(x[0], y[0]));
      expect(got).toEqual(want);
    }
  });
});

describe('compareCodePoints', () => {
  it('orders by code point (the UTF-8 byte order Redis uses)', () => {
    const words = ['b', 'a', '', 'ab', '\uFFFD', '😀', '\uE000', 'é', 'z', '\u{10000}'];
    const byBytes = [...words].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...words].sort(compareCodePoints)).toEqual(byBytes);
    expect(compareCodePoints('😀', '\uFFFD')).toBeGreaterThan(0);
    expect(compareCodePoints('a', 'a')).toBe(0);
  });
});
