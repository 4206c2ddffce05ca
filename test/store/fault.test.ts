/**
 * RedisFeedStore under faults: the server killed and restarted, a frozen server (SIGSTOP) mid-batch, a TCP
 * peer that never answers, nothing listening. Calls reject with StoreUnavailableError within about timeoutMs,
 * never hang, and the same store works again once Redis is back; retried batches apply each event once.
 */
import net from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisFeedStore, StoreUnavailableError, type FeedEvent, type FeedStore } from '../../src/store/index.js';
import { freePort, hasRedisServer, startRedis } from '../helpers/redis.js';
import { rejection } from '../helpers/thrown.js';

const redis = await startRedis();
afterAll(async () => { await redis?.stop(); });
const SKIP = redis ? '' : ' (skipped: redis-server is not on PATH)';
const TIMEOUT = 100;
const SLACK = 400;


/** Every method rejects with StoreUnavailableError, each within timeoutMs + slack. */
async function expectUnavailable(store: FeedStore): Promise<void> {
  const calls: [string, () => Promise<unknown>][] = [
    ['applyEvents', () => store.applyEvents([{ id: 'x', type: 'repin', user: 'u', pin: 'p', time: 1 }])],
    ['seen', () => store.seen('u')], ['recent', () => store.recent('u', 5)],
    ['trending', () => store.trending('c', 5, 1)], ['appliedCount', () => store.appliedCount()],
  ];
  for (const [name, call] of calls) {
    const t0 = performance.now();
    const err = await rejection(call());
    const ms = performance.now() - t0;
    expect(err, name).toBeInstanceOf(StoreUnavailableError);
    expect(ms, `${name} took ${ms.toFixed(0)} ms`).toBeLessThan(TIMEOUT + SLACK);
  }
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const batch = (n: number, tag: string): FeedEvent[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, type: 'repin', user: `u${i % 3}`, pin: `p${i % 5}`, category: 'c', time: 10_000 + i }));

describe('RedisFeedStore: nothing listening, a peer that never answers', () => {
  it('nothing listening: rejects at once (no offline queue) or after timeoutMs (offline queue)', async () => {
    const port = await freePort();
    for (const enableOfflineQueue of [false, true]) {
      const client = new Redis(port, '127.0.0.1', { enableOfflineQueue, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
      client.on('error', () => {});
      try {
        await expectUnavailable(new RedisFeedStore(client, { timeoutMs: TIMEOUT }));
      } finally {
        client.disconnect();
      }
    }
  });

  it('a TCP peer that accepts and never answers: rejects after timeoutMs', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => { sockets.push(s); s.on('error', () => {}); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    try {
      const store = new RedisFeedStore(client, { timeoutMs: TIMEOUT });
      await expectUnavailable(store);
      const err = await rejection(store.applyEvents(batch(20, 'bh')));
      expect((err as Error).message).toMatch(/did not answer within 100 ms/);
    } finally {
      client.disconnect();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});

describe.skipIf(!redis)(`RedisFeedStore: redis-server killed, frozen, restarted${SKIP}`, () => {
  const configs: [string, RedisOptions][] = [
    ['offline queue off', { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 }],
    ['offline queue on', { maxRetriesPerRequest: 0, retryStrategy: () => 50 }],
  ];
  for (const [name, options] of configs) {
    it(`killed: unavailable within timeoutMs, then the same store works after restart (${name})`, async () => {
      const client = new Redis(redis!.url, options);
      client.on('error', () => {});
      try {
        const store = new RedisFeedStore(client, { timeoutMs: TIMEOUT, prefix: 'kill' });
        await until(() => client.status === 'ready');
        const b = batch(12, `kill-${name}`);
        expect(await store.applyEvents(b)).toEqual({ applied: 12, duplicates: 0 });
        redis!.kill();
        await expectUnavailable(store);
        await redis!.restart();
        await until(() => client.status === 'ready');
        // no persistence: the killed server's data is gone, so re-offering the batch applies it again
        expect(await store.applyEvents(b)).toEqual({ applied: 12, duplicates: 0 });
        expect(await store.applyEvents(b)).toEqual({ applied: 0, duplicates: 12 });
        expect(await store.appliedCount()).toBe(12);
        expect(await store.seen('u0')).toEqual(new Set(['p0', 'p3', 'p1', 'p4']));
      } finally {
        client.disconnect();
      }
    });
  }

  it('frozen mid-batch (SIGSTOP): the batch times out; retried after SIGCONT, every event counts once', async () => {
    const client = new Redis(redis!.url, { maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    const pid = redis!.pid;
    try {
      const store = new RedisFeedStore(client, { timeoutMs: TIMEOUT, prefix: 'stop' });
      await client.ping();
      const b = batch(60, 'stop');
      process.kill(pid, 'SIGSTOP');
      let err: unknown;
      try {
        const t0 = performance.now();
        err = await rejection(store.applyEvents(b));
        expect(performance.now() - t0).toBeLessThan(TIMEOUT + SLACK);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      expect(err).toBeInstanceOf(StoreUnavailableError);
      // the first attempt's scripts still run once Redis wakes up; the retry must not count them again
      let total = 0;
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          const r = await store.applyEvents(b);
          total = r.applied + r.duplicates;
          break;
        } catch (e) {
          expect(e).toBeInstanceOf(StoreUnavailableError);
        }
      }
      expect(total).toBe(60);
      expect(await store.appliedCount()).toBe(60);
      // pins p0..p4 got 12 repins each, all in bucket 0 (weight 1)
      expect(await store.trending('c', 10, 10_100)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4'].map((id) => ({ id, score: 12 })));
    } finally {
      client.disconnect();
    }
  });
});

describe('test helper', () => {
  it('startRedis() resolves to undefined when redis-server is not on PATH', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent-dir-for-pinrec-tests';
    try {
      expect(hasRedisServer()).toBe(false);
      expect(await startRedis()).toBeUndefined();
    } finally {
      process.env.PATH = path;
    }
  });
});
