/**
 * The FeedStore contract (test/store/fixtures/contract.ts), run against MemoryFeedStore and (when redis-server
 * is installed) RedisFeedStore on a throwaway server: seen/recent semantics and trimming, trending values by
 * hand, dedupe, validation. test/store/cluster.test.ts runs the same suite on Redis Cluster.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { MemoryFeedStore, RedisFeedStore } from '../../src/store/index.js';
import { startRedis } from '../helpers/redis.js';
import { contract } from './fixtures/contract.js';

const redis = await startRedis();
afterAll(async () => { await redis?.stop(); });

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
