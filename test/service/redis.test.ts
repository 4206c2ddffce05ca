/**
 * The feed service on a real redis-server (started here on a free port on 127.0.0.1, stopped by PID): events
 * reach Redis and change the feed; Redis killed mid-run degrades the feed instead of failing it, events sent
 * meanwhile wait in the service and reach Redis exactly once when it is back, and the feed recovers.
 * Skipped, saying so, when redis-server is not installed (`.ci/run` installs it).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisFeedStore } from '../../src/store/index.js';
import { buildSyntheticBundle, type Bundle } from '../../examples/feed-service/src/bundle.js';
import { createFeedService, type FeedService } from '../../examples/feed-service/src/service.js';
import { hasRedisServer, startRedis, type TestRedis } from '../helpers/redis.js';

const available = hasRedisServer();
if (!available) console.warn('test/service/redis.test.ts: redis-server not found, skipping the Redis-backed service tests');

describe.skipIf(!available)('feed service on Redis', () => {
  let redis: TestRedis;
  let client: Redis;
  let bundle: Bundle;
  let s: FeedService;
  let seq = 0;
  const ev = (type: string, user: string, pin: string) => ({ id: `r${++seq}`, type, user, pin, time: Date.now() });
  const get = async (url: string) => { const r = await s.app.inject({ method: 'GET', url }); return { status: r.statusCode, body: r.json() }; };
  const post = async (events: unknown[]) => { const r = await s.app.inject({ method: 'POST', url: '/events', payload: { events } }); return { status: r.statusCode, body: r.json() }; };

  beforeAll(async () => {
    redis = (await startRedis())!;
    client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    client.on('error', () => {});
    await new Promise<void>((r) => (client.status === 'ready' ? r() : client.once('ready', () => r())));
    bundle = buildSyntheticBundle({ pins: 2000, seed: 8 });
    s = await createFeedService({ bundle, store: new RedisFeedStore(client, { timeoutMs: 50 }), trendingRefreshMs: 500, storeTimeoutMs: 100, overload: { cheapLagMs: 1e9, shedLagMs: 1e9 } });
  });
  afterAll(async () => {
    await s?.close();
    client?.disconnect();
    await redis?.stop();
  });

  it('events reach Redis and change the feed', async () => {
    const f = await get('/feed/u11');
    expect(f.body.kind, JSON.stringify([f.body.degraded, (await get('/health')).body])).toBe('full');
    const shown = f.body.items[0].id;
    expect((await post([ev('repin', 'u11', shown)])).body).toMatchObject({ accepted: 1, pending: false });
    expect(Number(await client.call('GET', 'pinrec:{t}:applied'))).toBe(1);
    expect((await get('/feed/u11')).body.items.map((x: any) => x.id)).not.toContain(shown);
  });

  it('Redis killed: the feed degrades, events wait; Redis back: they are applied once and the feed recovers', async () => {
    redis.kill();
    await new Promise((r) => setTimeout(r, 700)); // a trending refresh fails
    const f = await get('/feed/u12');
    expect(f.status).toBe(200);
    expect(f.body.kind).toBe('degraded');
    expect(f.body.degraded).toContain('store');
    expect(f.body.items.length).toBeGreaterThan(0);
    const during = Array.from({ length: 25 }, (_, i) => ev('click', `u${i}`, bundle.pins.ids[i]));
    const r = await post(during);
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: 25, pending: true });
    expect((await post(during.slice(0, 5))).body).toMatchObject({ accepted: 0, duplicates: 5 }); // a client retry
    await redis.restart(); // an empty server: what the killed one held (1 event, no persistence) is gone
    for (let i = 0; i < 100 && s.stats().pendingEvents > 0; i++) {
      await s.flushPending();
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(s.stats().pendingEvents).toBe(0);
    expect(Number(await client.call('GET', 'pinrec:{t}:applied'))).toBe(25); // each waiting event once
    await new Promise((res) => setTimeout(res, 700)); // a trending refresh reaches the store again
    expect((await get('/feed/u12')).body.kind).toBe('full');
    expect(s.stats().failedRequests).toBe(0);
  });
});
