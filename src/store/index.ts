/**
 * `pinrec/store`: the feed's per-user and per-category state behind one contract, {@link FeedStore}: each
 * user's saved (seen) pins, their recent engagements and time-decayed trending counters per category and
 * overall, fed by idempotent events (each id applied once). `MemoryFeedStore` keeps it in the process;
 * `RedisFeedStore` keeps it in Redis (any ioredis-like client, a single server or Redis Cluster) and gives the
 * same results for the same events. Both also cache users' factors ({@link UserFactorCache}). See docs/store.md.
 *
 * @example
 * import { MemoryFeedStore } from 'pinrec/store';
 * const store = new MemoryFeedStore();
 * const time = Date.now();
 * await store.applyEvents([
 *   { id: 'e1', type: 'repin', user: 'u1', pin: 'p1', category: 'decor', time },
 *   { id: 'e2', type: 'click', user: 'u1', pin: 'p2', category: 'decor', time },
 *   { id: 'e1', type: 'repin', user: 'u1', pin: 'p1', category: 'decor', time },   // a retry: left alone
 * ]);                                       // { applied: 2, duplicates: 1 }
 * await store.seen('u1');                   // Set { 'p1' }
 * await store.recent('u1', 10);             // ['p2', 'p1'] (equal times: larger id first)
 * await store.trending('decor', 10, time);  // [{ id: 'p1', score: 1 }, { id: 'p2', score: 0.5 }]
 */
export { FEED_EVENT_TYPES, StoreUnavailableError } from './types.js';
export type { FeedEventType, FeedEvent, ApplyResult, TrendingPin, FeedStore, UserFactorCache } from './types.js';
export { MemoryFeedStore, DEFAULT_TRENDING_WEIGHTS, MAX_EVENT_TIME, compareCodePoints } from './memory.js';
export type { FeedStoreOptions, MemoryFeedStoreOptions } from './memory.js';
export { RedisFeedStore, encodeKeyPart } from './redis.js';
export type { RedisClientLike, RedisNodeLike, RedisFeedStoreOptions } from './redis.js';
export { keySlot, CLUSTER_SLOTS } from './slot.js';
export { MAX_USER_FACTORS } from './factors.js';
