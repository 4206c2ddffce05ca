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

const redis = await startRedis();
afterAll(async () => { await redis?.stop(); });
const SKIP = redis ? '' : ' (skipped: redis-server is not on PATH)';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

const ev = (id: string, type: FeedEvent['type'], user: string, pin: string, time: number, category?: string | null): FeedEvent =>
  (category === undefined ? { id, type, user, pin, time } : { id, type, user, pin, time, category });

describe('RedisFeedStore without a server', () => {
  it('rejects bad options and clients, naming them', () => {
    const client: RedisClientLike = { call: async () => null };
    for (const [o, name] of [
      [{ prefix: 'a{b}' }, 'prefix'], [{ prefix: '' }, 'prefix'], [{ timeoutMs: 0 }, 'timeoutMs'], [{ ownsClient: 1 }, 'ownsClient'],
      [{ maxSeen: 0 }, 'maxSeen'], [{ weights: { click: -1 } }, 'weights.click'],
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

  it('Memory and Redis return the same seen, recent, trending and counts (fast-check, seeded)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.array(eventArb, { maxLength: 25 }), { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 0, max: 6000 }),
      async (batches, after) => {
        const mem = new MemoryFeedStore(OPTS);
        const red = new RedisFeedStore(client, { ...OPTS, prefix: `prop${run++}`, timeoutMs: 5000 });
        for (const b of batches) expect(await red.applyEvents(b)).toEqual(await mem.applyEvents(b));
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
          }
        }
      },
    ), { seed: 20240601, numRuns: 20 });
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
