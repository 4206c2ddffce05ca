/**
 * RedisFeedStore specifics: the key layout and TTLs, script-cache loss, the client it owns (or not), errors of
 * a failing or silent client, and a seeded property test that Memory and Redis agree on random event streams.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Redis, type Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClosedError, InvalidParameterError } from '../../src/core/errors.js';
import {
  encodeKeyPart, FEED_EVENT_TYPES, MemoryFeedStore, RedisFeedStore, StoreUnavailableError,
  type FeedEvent, type FeedStoreOptions, type RedisClientLike,
} from '../../src/store/index.js';
import { startRedis } from '../helpers/redis.js';
import { rejection } from '../helpers/thrown.js';

const redis = await startRedis();
afterAll(async () => { await redis?.stop(); });
const SKIP = redis ? '' : ' (skipped: redis-server is not on PATH)';


const ev = (id: string, type: FeedEvent['type'], user: string, pin: string, time: number, category?: string | null): FeedEvent =>
  (category === undefined ? { id, type, user, pin, time } : { id, type, user, pin, time, category });

describe('RedisFeedStore without a server', () => {
  it('rejects bad options and clients, naming them', () => {
    const client: RedisClientLike = { call: async () => null };
    for (const [o, name] of [
      [{ prefix: 'a{b}' }, 'prefix'], [{ prefix: '' }, 'prefix'], [{ timeoutMs: 0 }, 'timeoutMs'], [{ ownsClient: 1 }, 'ownsClient'],
      [{ maxSeen: 0 }, 'maxSeen'], [{ weights: { click: -1 } }, 'weights.click'], [{ perBucket: 0 }, 'perBucket'], [{ perBucket: 1.5 }, 'perBucket'],
    ] as const) {
      let err: unknown;
      try { new RedisFeedStore(client, o as never); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InvalidParameterError);
      expect((err as InvalidParameterError).parameter).toBe(name);
    }
    expect(() => new RedisFeedStore({} as RedisClientLike)).toThrow(/client/);
  });

  it('a failing client: StoreUnavailableError with the cause', async () => {
    const cause = new Error('ECONNREFUSED');
    const store = new RedisFeedStore({ call: () => Promise.reject(cause) });
    for (const p of [store.applyEvents([ev('a', 'repin', 'u', 'p', 1)]), store.seen('u'), store.recent('u', 3), store.trending(null, 3, 0), store.appliedCount()]) {
      const err = await rejection(p);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
      expect((err as Error).cause).toBe(cause);
    }
    const sync = new RedisFeedStore({ call: () => { throw cause; } });
    expect(await rejection(sync.seen('u'))).toBeInstanceOf(StoreUnavailableError);
  });

  it('a client that never answers: rejects after timeoutMs, does not hang', async () => {
    const store = new RedisFeedStore({ call: () => new Promise(() => {}) }, { timeoutMs: 30 });
    for (const p of [store.applyEvents([ev('a', 'repin', 'u', 'p', 1), ev('b', 'click', 'u', 'q', 2)]), store.seen('u'), store.trending('c', 3, 0)]) {
      const t0 = performance.now();
      const err = await rejection(p);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toMatch(/did not answer within 30 ms/);
      expect(performance.now() - t0).toBeLessThan(500);
    }
  });

  it('a batch is limited by the wait for the next reply, not by its total time', async () => {
    let i = 0;
    // each reply 10 ms after the previous one: 10 replies take 100 ms, more than timeoutMs 60, and succeed
    const client: RedisClientLike = { call: () => new Promise((r) => setTimeout(() => r(1), 10 * ++i)) };
    const store = new RedisFeedStore(client, { timeoutMs: 60 });
    const evs = Array.from({ length: 10 }, (_, j) => ev(`e${j}`, 'repin', 'u', `p${j}`, j));
    expect(await store.applyEvents(evs)).toEqual({ applied: 10, duplicates: 0 });
  });

  it("ioredis's Redis and Cluster fit RedisClientLike (checked by tsc)", () => {
    const fits = (c: Redis | Cluster): RedisClientLike => c;
    expect(typeof fits).toBe('function');
  });

  it('library code never imports ioredis (a devDependency only)', () => {
    const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
    const offenders = readdirSync(src, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .filter((f) => /(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"]ioredis['"]/.test(readFileSync(path.join(src, f), 'utf8').replace(/^\s*\*.*$/gm, '')));
    expect(offenders).toEqual([]);
  });

  it('encodeKeyPart leaves no tag braces, separators or *', () => {
    for (const s of ['}', '{', 'a:b', '*', "!'()~", '😀', '%']) expect(encodeKeyPart(s)).toMatch(/^[A-Za-z0-9%._-]*$/);
    expect(encodeKeyPart('a:b}')).toBe('a%3Ab%7D');
    expect(encodeKeyPart('*')).toBe('%2A');
  });
});

describe.skipIf(!redis)(`RedisFeedStore on redis-server${SKIP}`, () => {
  let client: Redis;
  beforeAll(async () => {
    client = new Redis(redis!.url, { maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    await client.ping();
  });
  afterAll(() => client?.disconnect());

  it('uses the documented key layout, with hash tags and TTLs', async () => {
    const store = new RedisFeedStore(client, { prefix: 'kl', bucketMs: 1000, windowBuckets: 4, dedupeTtlMs: 60_000 });
    await store.applyEvents([ev('id:1}', 'repin', 'a:b}', 'p', 5500, 'c*'), ev('id2', 'view', 'a:b}', 'q', 5600)]);
    expect((await client.keys('kl:*')).sort()).toEqual([
      'kl:{t}:applied', 'kl:{t}:trend:*:5', 'kl:{t}:trend:c%2A:5',
      'kl:{u:a%3Ab%7D}:ev:id%3A1%7D', 'kl:{u:a%3Ab%7D}:ev:id2', 'kl:{u:a%3Ab%7D}:recent', 'kl:{u:a%3Ab%7D}:seen',
    ].sort());
    expect(await client.zrange('kl:{u:a%3Ab%7D}:seen', 0, -1, 'WITHSCORES')).toEqual(['p', '5500']);
    expect(await client.get('kl:{t}:applied')).toBe('2');
    const evTtl = await client.pttl('kl:{u:a%3Ab%7D}:ev:id2');
    expect(evTtl).toBeGreaterThan(55_000);
    expect(evTtl).toBeLessThanOrEqual(60_000);
    const trendTtl = await client.pttl('kl:{t}:trend:*:5');
    expect(trendTtl).toBeGreaterThan(4000);
    expect(trendTtl).toBeLessThanOrEqual(5000); // (windowBuckets + 1) · bucketMs: old buckets are dropped by Redis
    // Redis Cluster hashes the text between the first '{' and the next '}': one tag per user, one for trending
    const tag = (key: string) => { const a = key.indexOf('{'); const b = key.indexOf('}', a + 1); return a >= 0 && b > a + 1 ? key.slice(a + 1, b) : key; };
    expect(new Set((await client.keys('kl:*')).map(tag))).toEqual(new Set(['t', 'u:a%3Ab%7D']));
  });

  it("category '*' is its own category, not the global counter", async () => {
    const store = new RedisFeedStore(client, { prefix: 'star' });
    await store.applyEvents([ev('1', 'repin', 'u', 'p', 1000, '*'), ev('2', 'repin', 'u', 'q', 1000, 'x')]);
    expect((await store.trending('*', 5, 1000)).map((t) => t.id)).toEqual(['p']);
    expect((await store.trending(null, 5, 1000)).map((t) => t.id)).toEqual(['p', 'q']);
  });

  it('an expired dedupe marker lets the id apply again (dedupeTtlMs)', async () => {
    const store = new RedisFeedStore(client, { prefix: 'ttl', dedupeTtlMs: 60, timeoutMs: 2000 });
    const e = ev('once', 'click', 'u', 'p', 1);
    expect(await store.applyEvents([e])).toEqual({ applied: 1, duplicates: 0 });
    expect(await store.applyEvents([e])).toEqual({ applied: 0, duplicates: 1 });
    await new Promise((r) => setTimeout(r, 120));
    expect(await store.applyEvents([e])).toEqual({ applied: 1, duplicates: 0 });
  });

  it('keeps working after the server lost its script cache (NOSCRIPT → EVAL)', async () => {
    const store = new RedisFeedStore(client, { prefix: 'ns', timeoutMs: 2000 });
    expect(await store.applyEvents([ev('1', 'repin', 'u', 'p', 1)])).toEqual({ applied: 1, duplicates: 0 });
    await client.script('FLUSH');
    expect(await store.applyEvents([ev('2', 'repin', 'u', 'q', 2), ev('1', 'repin', 'u', 'p', 1)])).toEqual({ applied: 1, duplicates: 1 });
    expect(await store.seen('u')).toEqual(new Set(['p', 'q']));
  });

  it('trending is one command per call (one script), returning only n pins, NOSCRIPT falling back to EVAL', async () => {
    const commands: string[] = [];
    const replyLengths: number[] = [];
    const counted: RedisClientLike = {
      call: async (command, ...args) => {
        commands.push(command);
        const reply = await client.call(command, ...args);
        if (Array.isArray(reply)) replyLengths.push(reply.length);
        return reply;
      },
    };
    const opts = { prefix: 'one', bucketMs: 1000, timeoutMs: 5000 };
    const writer = new RedisFeedStore(client, opts);
    // 24 buckets (the default window), 300 pins in each of the last 5
    const evs: FeedEvent[] = [];
    for (let b = 0; b < 5; b++) for (let p = 0; p < 300; p++) evs.push(ev(`${b}-${p}`, p % 3 ? 'click' : 'repin', 'u', `p${p}`, 100_000 - b * 1000, p % 2 ? 'c' : null));
    await writer.applyEvents(evs);
    const mem = new MemoryFeedStore({ bucketMs: 1000 });
    await mem.applyEvents(evs);
    const store = new RedisFeedStore(counted, opts);
    await client.script('FLUSH');
    expect(await store.trending(null, 10, 100_500)).toEqual(await mem.trending(null, 10, 100_500));
    expect(commands).toEqual(['EVALSHA', 'EVAL']); // the script cache was empty: sent once by text
    for (const [cat, n] of [[null, 10], ['c', 10], [null, 1], ['c', 100], ['none', 5], [null, 400]] as const) {
      commands.length = 0;
      replyLengths.length = 0;
      const got = await store.trending(cat, n, 100_500);
      expect(commands).toEqual(['EVALSHA']);
      expect(replyLengths).toEqual([2 * got.length]);
      expect(got.length).toBeLessThanOrEqual(n);
      expect(got).toEqual(await mem.trending(cat, n, 100_500));
    }
    expect((await store.trending(null, 10, 100_500)).length).toBe(10);
  });

  it('close() quits the client only when it owns it', async () => {
    const shared = new RedisFeedStore(client, { prefix: 'own' });
    await shared.close();
    expect(await client.ping()).toBe('PONG');
    const own = new Redis(redis!.url, { maxRetriesPerRequest: 0 });
    own.on('error', () => {});
    const owner = new RedisFeedStore(own, { prefix: 'own', ownsClient: true, timeoutMs: 2000 });
    expect(await owner.appliedCount()).toBe(0);
    await owner.close();
    await new Promise((r) => (own.status === 'end' ? r(null) : own.once('end', r)));
    expect(await rejection(owner.seen('u'))).toBeInstanceOf(ClosedError);
  });

  // -------------------------------------------------------------------------------------------------------
  // Memory and Redis agree on random event streams

  const USERS = ['u1', 'u2', '}', 'a:b', '__proto__', '😀'];
  const PINS = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'é', '😀', '\uFFFD', 'toString'];
  const CATS = [undefined, null, 'x', 'y', '*', 'x:y}'];
  const OPTS: FeedStoreOptions = { maxSeen: 3, maxRecent: 4, bucketMs: 1000, windowBuckets: 4, halfLifeMs: 1700, weights: { closeup: 0.3, click: 0.7, view: 0.1 } };
  const eventArb = fc.record({
    id: fc.integer({ min: 0, max: 40 }).map((i) => `e${i}`),
    type: fc.constantFrom(...FEED_EVENT_TYPES),
    user: fc.constantFrom(...USERS),
    pin: fc.constantFrom(...PINS),
    category: fc.constantFrom(...CATS),
    time: fc.integer({ min: 0, max: 40 }).map((t) => t * 250),
  }).map((e): FeedEvent => {
    const { category, ...rest } = e;
    return category === undefined ? rest : { ...rest, category };
  });
  let run = 0;
  let truncated = 0;

  it('Memory and Redis return the same seen, recent, trending and counts, with and without a small perBucket (fast-check, seeded)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.array(eventArb, { maxLength: 25, size: 'medium' }), { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 0, max: 6000 }),
      fc.integer({ min: 1, max: 3 }),
      async (batches, after, perBucket) => {
        const mem = new MemoryFeedStore(OPTS);
        const red = new RedisFeedStore(client, { ...OPTS, prefix: `prop${run++}`, timeoutMs: 5000 });
        const memCut = new MemoryFeedStore({ ...OPTS, perBucket });
        const redCut = new RedisFeedStore(client, { ...OPTS, perBucket, prefix: `prop${run++}`, timeoutMs: 5000 });
        for (const b of batches) {
          expect(await red.applyEvents(b)).toEqual(await mem.applyEvents(b));
          expect(await redCut.applyEvents(b)).toEqual(await memCut.applyEvents(b));
        }
        expect(await red.appliedCount()).toBe(await mem.appliedCount());
        for (const u of USERS) {
          expect(await red.seen(u)).toEqual(await mem.seen(u));
          expect(await red.recent(u, 10)).toEqual(await mem.recent(u, 10));
          expect(await red.recent(u, 2)).toEqual(await mem.recent(u, 2));
        }
        const newest = Math.max(0, ...batches.flat().map((e) => e.time));
        for (const now of [newest, newest + after]) {
          for (const c of [null, 'x', 'y', '*', 'x:y}', 'none']) {
            expect(await red.trending(c, 20, now)).toEqual(await mem.trending(c, 20, now));
            expect(await red.trending(c, 2, now)).toEqual(await mem.trending(c, 2, now));
            const cut = await memCut.trending(c, 20, now);
            expect(await redCut.trending(c, 20, now)).toEqual(cut);
            expect(await redCut.trending(c, 2, now)).toEqual(await memCut.trending(c, 2, now));
            if (JSON.stringify(cut) !== JSON.stringify(await mem.trending(c, 20, now))) truncated++;
          }
        }
      },
    ), { seed: 20240601, numRuns: 20 });
    expect(truncated).toBeGreaterThan(10); // the small perBucket did cut buckets
  });

  it('Memory and Redis agree on crowded buckets with many ties at the cut (fast-check, seeded)', async () => {
    const pins = [...Array.from({ length: 30 }, (_, i) => `q${i}`), 'é', '😀', '\uFFFD', '\u{10000}', '\uE000', 'q', 'Q'];
    const crowdedArb = fc.array(fc.record({
      type: fc.constantFrom<FeedEvent['type']>('repin', 'click', 'create'),
      pin: fc.constantFrom(...pins),
      bucket: fc.integer({ min: 0, max: 3 }),
    }), { minLength: 1, maxLength: 150, size: 'max' });
    let cutRuns = 0;
    await fc.assert(fc.asyncProperty(crowdedArb, fc.integer({ min: 1, max: 12 }), fc.constantFrom(1, 5, 50), async (raw, perBucket, n) => {
      const opts: FeedStoreOptions = { bucketMs: 1000, windowBuckets: 4, halfLifeMs: 2300, perBucket };
      const events = raw.map((e, i): FeedEvent => ({ id: `c${i}`, type: e.type, user: 'u', pin: e.pin, category: 'k', time: e.bucket * 1000 + (i % 1000) }));
      const mem = new MemoryFeedStore(opts);
      const red = new RedisFeedStore(client, { ...opts, prefix: `crowd${run++}`, timeoutMs: 5000 });
      await mem.applyEvents(events);
      await red.applyEvents(events);
      for (const now of [3000, 3999, 5500]) {
        const want = await mem.trending('k', n, now);
        expect(await red.trending('k', n, now)).toEqual(want);
        expect(await red.trending(null, n, now)).toEqual(await mem.trending(null, n, now));
      }
      const full = new MemoryFeedStore({ ...opts, perBucket: 1000 });
      await full.applyEvents(events);
      if (JSON.stringify(await full.trending('k', 50, 3000)) !== JSON.stringify(await mem.trending('k', 50, 3000))) cutRuns++;
    }), { seed: 424242, numRuns: 30 });
    expect(cutRuns).toBeGreaterThan(15); // most runs cut some bucket
  });

  it('the state does not depend on the order events arrive in (seen, recent)', async () => {
    await fc.assert(fc.asyncProperty(fc.array(eventArb, { maxLength: 30 }), fc.integer(), async (events, seed) => {
      const shuffled = [...events];
      let s = seed | 0;
      for (let i = shuffled.length - 1; i > 0; i--) {
        s = (Math.imul(s, 1103515245) + 12345) | 0;
        const j = (s >>> 8) % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
      }
      // distinct ids, so dedupe keeps the same events whatever the order
      const uniq = (es: FeedEvent[]) => es.map((e, i) => ({ ...e, id: `${e.user}|${e.pin}|${e.type}|${e.time}|${i}` }));
      const base = uniq(events);
      const order = new Map(base.map((e, i) => [events[i], e]));
      const a = new MemoryFeedStore(OPTS);
      const b = new RedisFeedStore(client, { ...OPTS, prefix: `ord${run++}`, timeoutMs: 5000 });
      await a.applyEvents(base);
      await b.applyEvents(shuffled.map((e) => order.get(e)!));
      for (const u of USERS) {
        expect(await b.seen(u)).toEqual(await a.seen(u));
        expect(await b.recent(u, 10)).toEqual(await a.recent(u, 10));
      }
    }), { seed: 7, numRuns: 15 });
  });
});
