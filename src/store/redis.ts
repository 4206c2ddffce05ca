/**
 * The feed store in Redis (6.2 or later: `ZADD GT`, `ZRANGE ... REV`), so several service processes share
 * one state, on a single server or on Redis Cluster. The library does not depend on a Redis client: pass any
 * object with ioredis's `call(command, ...args)` ({@link RedisClientLike}; ioredis's `Redis` and `Cluster`
 * both fit).
 *
 * Key layout (`p` = prefix; `enc` = {@link encodeKeyPart}: `encodeURIComponent` that also escapes
 * `! ' ( ) * ~`, so a `}` or `:` in a user id cannot end the hash tag or fake a separator, and no category
 * encodes to `*`):
 *
 *   p:{u:enc(user)}:seen                    ZSET pin → latest time of its create/repin (top maxSeen kept)
 *   p:{u:enc(user)}:recent                  ZSET pin → latest time of its non-view events (top maxRecent kept)
 *   p:{u:enc(user)}:ev:enc(id)              dedupe marker of an applied event, PX dedupeTtlMs
 *   p:{u:enc(user)}:factors                 cached user factors (binary, see factors.ts), PX ttlMs
 *   p:{t}:trend:*:bucket                    ZSET pin → summed weight (global) in bucket floor(time/bucketMs); PEXPIRE (windowBuckets+1)·bucketMs
 *   p:{t}:trend:enc(category):bucket        the same per category (shardTrending false, the default)
 *   p:{t:enc(category)}:trend:bucket        the same per category (shardTrending true: opt-in, for Cluster)
 *   p:{t}:applied                           counter of applied events
 *
 * Every command the store sends touches keys of one hash tag only, so one slot: one user's keys share
 * `{u:…}`; the global trending and the counter share `{t}`; with `shardTrending` each category has its own
 * `{t:<category>}`.
 */
import { createHash } from 'node:crypto';
import { ClosedError, InvalidParameterError } from '../core/errors.js';
import { resolveOptions } from '../core/options.js';
import {
  bucketOf, checkCategory, checkCount, checkEvents, checkText, checkTime, perBucketFor, resolveStoreOptions,
  type CheckedEvent, type FeedStoreOptions, type ResolvedStoreOptions,
} from './memory.js';
import { checkBool } from '../core/validate.js';
import { checkFactorArgs, decodeFactors, encodeFactors } from './factors.js';
import { keySlot } from './slot.js';
import { StoreUnavailableError } from './types.js';
import type { ApplyResult, FeedEvent, FeedStore, TrendingPin, UserFactorCache } from './types.js';

/**
 * The part of a Redis client the store uses: ioredis's generic `call` (and `quit`/`disconnect` when the
 * store owns the client). ioredis's `Redis` and `Cluster` fit as they are.
 *
 * @example
 * import { Redis } from 'ioredis';
 * const client: RedisClientLike = new Redis('redis://127.0.0.1:6379');
 */
export interface RedisClientLike {
  call(command: string, ...args: (string | number | Buffer)[]): Promise<unknown>;
  /** Like `call`, with bulk replies as Buffers (ioredis): needed by `getUserFactors` unless `call` already returns Buffers. */
  callBuffer?(command: string, ...args: (string | number | Buffer)[]): Promise<unknown>;
  quit?(): Promise<unknown>;
  disconnect?(): void;
  /** `true` for a Redis Cluster client (ioredis `Cluster`): the default of the store's `cluster` option. */
  isCluster?: boolean;
  /** Cluster clients (ioredis `Cluster`): slot → node keys `host:port`, the master first. Used by `waitReplicas`. */
  slots?: readonly (readonly string[] | undefined)[];
  /** Cluster clients (ioredis `Cluster`): the connection to each master. Used by `waitReplicas`. */
  nodes?(role: 'master'): readonly RedisNodeLike[];
}

/** One node's connection of a cluster client (an ioredis `Redis` from `Cluster.nodes()`). */
export interface RedisNodeLike {
  options: { host?: string; port?: number };
  call(command: string, ...args: (string | number | Buffer)[]): Promise<unknown>;
}

/** Options of {@link RedisFeedStore}: the shared {@link FeedStoreOptions} and the Redis ones. */
export interface RedisFeedStoreOptions extends FeedStoreOptions {
  /** First part of every key: 1–64 of `A-Z a-z 0-9 _ . : -` (no braces, which would change the hash slot). @default 'pinrec' */
  prefix?: string;
  /**
   * Longest wait for Redis's next reply, ms: a call (or a batch, where each reply restarts the clock) that
   * waits longer rejects with a {@link StoreUnavailableError}. Integer in [1, 600_000]. @default 50
   */
  timeoutMs?: number;
  /** Whether {@link RedisFeedStore.close} quits the client. @default false */
  ownsClient?: boolean;
  /**
   * Whether the server is a Redis Cluster. Then each event's writes are split by slot: one script on the
   * user's slot (dedupe marker, seen, recent), and, for the events that were new, one script per trending slot
   * for the whole batch (its bucket increments and the counter). A failure between the two loses those
   * events' trending weight and count (a retry sees duplicates), never doubles them. `false`: one atomic script
   * per event touching the user's and the trending slots, which only a single server accepts.
   * @default `client.isCluster === true` (ioredis `Cluster`)
   */
  cluster?: boolean;
  /**
   * Whether each category's trending keys get their own hash tag `{t:<category>}` (so categories spread over
   * the masters) instead of sharing `{t}` with the global trending and the counter (one slot, one master, for
   * every trending write and read). The global trending and the counter stay on `{t}` either way. Off by
   * default: on small batches with many categories it costs write throughput (docs/store.md, "Redis Cluster").
   * @default false
   */
  shardTrending?: boolean;
  /**
   * After each `applyEvents`, wait (`WAIT`) until this many replicas of every master the batch wrote to have
   * acknowledged its writes, at most `waitTimeoutMs`; the result's `replicas` says how many did. Bounds what a
   * failover can lose (Redis replicates asynchronously) at the price of a replication round trip per batch.
   * Needs replicas (a server without them makes every batch wait the full `waitTimeoutMs`); on a cluster the
   * client must expose `slots` and `nodes()` (ioredis `Cluster` does). Integer in [0, 16]; 0 turns it off.
   * @default 0
   */
  waitReplicas?: number;
  /** Longest `WAIT` of `waitReplicas`, ms. Integer in [1, 60_000]. @default 100 */
  waitTimeoutMs?: number;
}

/**
 * Encode a user id, category or event id for use inside a key: `encodeURIComponent`, plus `! ' ( ) * ~`
 * as `%XX`. The result holds no `{`, `}`, `:` or `*`, and different inputs give different results.
 *
 * @example
 * encodeKeyPart('a:b}'); // 'a%3Ab%7D'
 */
export function encodeKeyPart(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Applies one event, exactly once. KEYS: 1 dedupe marker, 2 seen, 3 recent, 4 applied counter, 5.. trending
 * buckets (global, then the category's). ARGV: 1 dedupe ttl, 2 pin, 3 time, 4 '1' when seen, 5 '1' when
 * recent, 6 -(maxSeen+1), 7 -(maxRecent+1), 8 trending weight ('0': none), 9 bucket ttl. Returns 1 when
 * applied, 0 for a duplicate.
 *
 * The user part (keys 1–3) and the trending part (4..) are in different cluster slots: a single server only.
 * On Redis Cluster (`cluster: true`) the store runs {@link USER_SCRIPT} per event, then
 * {@link TREND_SCRIPT} per trending slot for the events that were new.
 */
const APPLY_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, ARGV[6])
end
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[3], 'GT', ARGV[3], ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, ARGV[7])
end
if ARGV[8] ~= '0' then
  for i = 5, #KEYS do
    redis.call('ZINCRBY', KEYS[i], ARGV[8], ARGV[2])
    redis.call('PEXPIRE', KEYS[i], ARGV[9])
  end
end
redis.call('INCR', KEYS[4])
return 1
`;
const APPLY_SHA = createHash('sha1').update(APPLY_SCRIPT).digest('hex');

/**
 * The user part of one event (Redis Cluster): keys of the user's slot only. KEYS: 1 dedupe marker, 2 seen,
 * 3 recent. ARGV: 1 dedupe ttl, 2 pin, 3 time, 4 '1' when seen, 5 '1' when recent, 6 -(maxSeen+1),
 * 7 -(maxRecent+1). Returns 1 when applied, 0 for a duplicate.
 */
const USER_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, ARGV[6])
end
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[3], 'GT', ARGV[3], ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, ARGV[7])
end
return 1
`;
const USER_SHA = createHash('sha1').update(USER_SCRIPT).digest('hex');

/**
 * The trending part of a batch's new events on one trending slot (Redis Cluster). KEYS: the slot's bucket
 * keys, then the counter when ARGV[1] is not '0'. ARGV: 1 events to add to the counter, 2 bucket ttl, then
 * triples (key index, pin, weight) in event order, so every (bucket, pin) sums its weights in the order the
 * memory store does.
 */
const TREND_SCRIPT = `
local nk = #KEYS
if ARGV[1] ~= '0' then
  redis.call('INCRBY', KEYS[nk], ARGV[1])
  nk = nk - 1
end
for i = 3, #ARGV, 3 do
  redis.call('ZINCRBY', KEYS[tonumber(ARGV[i])], ARGV[i + 2], ARGV[i + 1])
end
for k = 1, nk do redis.call('PEXPIRE', KEYS[k], ARGV[2]) end
return 1
`;
const TREND_SHA = createHash('sha1').update(TREND_SCRIPT).digest('hex');

/**
 * One trending read. KEYS: the window's buckets, oldest first. ARGV: 1 perBucket, 2 n, 3.. each bucket's
 * weight `2^(-age·bucketMs/halfLifeMs)` (same order, JavaScript `String(number)`, which `tonumber` parses to
 * the same double). Returns the top n as a flat array `[pin, score, ...]`, scores formatted `%.17g` (JavaScript
 * parses them back to the exact double).
 *
 * Each bucket contributes its top perBucket pins by (count descending, id ascending): `ZRANGE ... REV` gives
 * the top perBucket by count, but orders equal counts by id descending, so when it comes back full the pins
 * tied with its last one are re-read in id order (`ZRANGE <c> <c> BYSCORE LIMIT`) and cut there, exactly as
 * `topOfBucket` cuts in the memory store. Scores are summed oldest bucket first as `s + count·weight`, the
 * memory store's order, so they are bit-identical. The ranking (score descending, id ascending) compares ids
 * byte by byte: Lua's `<` on strings uses strcoll, which follows the server's locale, while UTF-8 byte order
 * is the code-point order the memory store uses. The comparator is a total order (ids are distinct), as the
 * unstable `table.sort` needs. Server work: O(buckets · (log N + perBucket)) reads and a sort of at most
 * buckets · perBucket pins.
 */
const TRENDING_SCRIPT = `
local per = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local score = {}
local pins = {}
local function add(pin, c, w)
  local s = score[pin]
  if s == nil then
    pins[#pins + 1] = pin
    s = 0
  end
  score[pin] = s + c * w
end
for i = 1, #KEYS do
  local w = tonumber(ARGV[i + 2])
  local top = redis.call('ZRANGE', KEYS[i], 0, per - 1, 'REV', 'WITHSCORES')
  local m = #top
  if m < 2 * per then
    for j = 1, m, 2 do add(top[j], tonumber(top[j + 1]), w) end
  else
    local cut = tonumber(top[m])
    local j = 1
    while tonumber(top[j + 1]) > cut do
      add(top[j], tonumber(top[j + 1]), w)
      j = j + 2
    end
    local ties = redis.call('ZRANGE', KEYS[i], top[m], top[m], 'BYSCORE', 'LIMIT', 0, per - (j - 1) / 2)
    for t = 1, #ties do add(ties[t], cut, w) end
  end
end
local function bytesBefore(a, b)
  local la, lb = #a, #b
  for k = 1, (la < lb and la or lb) do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x < y end
  end
  return la < lb
end
local list = {}
for k = 1, #pins do
  if score[pins[k]] > 0 then list[#list + 1] = pins[k] end
end
table.sort(list, function(a, b)
  local x, y = score[a], score[b]
  if x ~= y then return x > y end
  return bytesBefore(a, b)
end)
local out = {}
for k = 1, math.min(n, #list) do
  out[#out + 1] = list[k]
  out[#out + 1] = string.format('%.17g', score[list[k]])
end
return out
`;
const TRENDING_SHA = createHash('sha1').update(TRENDING_SCRIPT).digest('hex');

const REDIS_RULES = {
  timeoutMs: { int: [1, 600_000], default: 50 },
  ownsClient: { bool: true, default: false },
  waitReplicas: { int: [0, 16], default: 0 },
  waitTimeoutMs: { int: [1, 60_000], default: 100 },
} as const;

/** A batch's writes to one trending slot (Redis Cluster). */
interface TrendGroup {
  keys: string[];
  index: Map<string, number>;
  args: string[];
}
const PREFIX = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Feed state in Redis, shared by every process that uses the same server and prefix. Same semantics, and for
 * the same events exactly the same results, as `MemoryFeedStore` (see there for the trending formula).
 *
 * Exactly once: each event runs one Lua script (EVALSHA, EVAL when the server lost its script cache) that
 * sets the event's dedupe marker with `SET NX PX` and changes the state only when the marker was new. A batch
 * sends its scripts together (pipelined); when any fails or Redis stops answering for `timeoutMs`, the call
 * rejects with a {@link StoreUnavailableError} and some events may have been applied: offer the whole batch
 * again later, the markers skip those already applied (for `dedupeTtlMs`).
 *
 * Trending is one Lua script per call (EVALSHA, EVAL on NOSCRIPT): it reads the top `perBucket` pins of each
 * bucket of the window, sums their decayed counts in the memory store's order and returns only the top `n`,
 * so the scores are identical to the memory store's; the server's work is O(windowBuckets · perBucket),
 * whatever the number of pins in the window.
 *
 * Without persistence a restarted Redis has lost its data (and markers): the store keeps working once the
 * client has reconnected, from empty state.
 *
 * Redis Cluster (`cluster`, the default with an ioredis `Cluster`): every command's keys are in one slot (see
 * the key layout), the writes of an event are split by slot (see the `cluster` option), and each command is
 * routed on its own (no transaction or pipeline spans slots). The client's redirections (`MOVED`, `ASK`) and
 * retries (`TRYAGAIN`, `CLUSTERDOWN`, a failover) happen inside the call; when they are exhausted, or take more
 * than `timeoutMs`, the call rejects with a {@link StoreUnavailableError}. See docs/store.md, "Redis Cluster".
 *
 * @example
 * import { Redis } from 'ioredis';
 * const store = new RedisFeedStore(new Redis('redis://127.0.0.1:6379'), { prefix: 'feed', ownsClient: true });
 * await store.applyEvents([{ id: 'e1', type: 'repin', user: 'u1', pin: 'p9', category: 'decor', time: Date.now() }]);
 * await store.trending(null, 10);          // [{ id: 'p9', score: 1 }] (in the same 5-minute bucket)
 * await store.close();                     // quits the client (ownsClient)
 */
export class RedisFeedStore implements FeedStore, UserFactorCache {
  private readonly client: RedisClientLike;
  private readonly opts: ResolvedStoreOptions;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly ownsClient: boolean;
  /** Split each event's writes by slot (Redis Cluster). */
  private readonly cluster: boolean;
  /** Categories' trending keys under their own hash tag `{t:<category>}`. */
  private readonly shardTrending: boolean;
  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;
  private readonly bucketTtl: string;
  /** The buckets' trending weights as script arguments, oldest bucket first. */
  private readonly decayArgs: readonly string[];
  private closed = false;

  /** @throws {InvalidParameterError} naming a bad option, or when `client` has no `call` method */
  constructor(client: RedisClientLike, options: RedisFeedStoreOptions = {}) {
    if (client === null || typeof client !== 'object' || typeof client.call !== 'function') {
      throw new InvalidParameterError('client', 'a Redis client with a call(command, ...args) method (ioredis Redis or Cluster)', client);
    }
    this.client = client;
    this.opts = resolveStoreOptions(options);
    const r = resolveOptions(REDIS_RULES, options);
    this.timeoutMs = r.timeoutMs;
    this.ownsClient = r.ownsClient;
    this.waitReplicas = r.waitReplicas;
    this.waitTimeoutMs = r.waitTimeoutMs;
    this.cluster = options.cluster === undefined ? client.isCluster === true : checkBool('cluster', options.cluster);
    this.shardTrending = options.shardTrending === undefined ? false : checkBool('shardTrending', options.shardTrending);
    if (this.waitReplicas > 0 && this.cluster && (typeof client.nodes !== 'function' || !Array.isArray(client.slots))) {
      throw new InvalidParameterError('waitReplicas', '0 unless the cluster client exposes slots and nodes() (ioredis Cluster), as WAIT must go to each master written to', this.waitReplicas);
    }
    const prefix: unknown = options.prefix ?? 'pinrec';
    if (typeof prefix !== 'string' || !PREFIX.test(prefix)) throw new InvalidParameterError('prefix', '1–64 characters of A-Z a-z 0-9 _ . : -', prefix);
    this.prefix = prefix;
    this.bucketTtl = String((this.opts.windowBuckets + 1) * this.opts.bucketMs);
    const { decay, windowBuckets: W } = this.opts;
    this.decayArgs = Array.from({ length: W }, (_, j) => String(decay[W - 1 - j]));
  }

  /** Apply events, each (user, id) once; the whole batch is validated first, so a bad event rejects all of it. */
  async applyEvents(events: readonly FeedEvent[]): Promise<ApplyResult> {
    this.checkOpen();
    const checked = checkEvents(events);
    if (checked.length === 0) return { applied: 0, duplicates: 0 };
    let applied = 0;
    let trendKeys: string[] = []; // a key of each trending slot written (Redis Cluster, for WAIT)
    if (!this.cluster) {
      const replies = await this.send('applyEvents', checked.map((e) => () => this.applyOne(e)));
      for (const r of replies) if (Number(r) === 1) applied++;
    } else {
      const replies = await this.send('applyEvents', checked.map((e) => () => this.applyUserPart(e)));
      const fresh = checked.filter((_, i) => Number(replies[i]) === 1);
      applied = fresh.length;
      const groups = this.trendGroups(fresh);
      trendKeys = [...groups.values()].map((g) => g.keys[0]);
      await this.send('applyEvents (trending)', [...groups.values()].map((g) => () => this.script(TREND_SHA, TREND_SCRIPT, g.keys, g.args)));
    }
    const result: ApplyResult = { applied, duplicates: checked.length - applied };
    if (this.waitReplicas > 0) result.replicas = await this.waitForReplicas([...checked.map((e) => this.userKey(e.user, 'seen')), ...trendKeys]);
    return result;
  }

  /** Cache a user's factors for `ttlMs` (`SET … PX`, binary, under the user's hash tag; see {@link UserFactorCache}). */
  async putUserFactors(user: string, factors: Float32Array, ttlMs: number): Promise<void> {
    this.checkOpen();
    const key = this.userKey(checkText('user', user, 256), 'factors');
    const c = checkFactorArgs(factors, ttlMs);
    const value = encodeFactors(c.factors);
    await this.send('putUserFactors', [() => this.client.call('SET', key, value, 'PX', c.ttlMs)]);
  }

  /**
   * The user's cached factors, `undefined` when none is cached, it expired, or the value is not one this store
   * wrote. Reads the value as bytes (`callBuffer` when the client has it).
   * @throws {InvalidParameterError} `client` when the client returned the value as a string (give it `callBuffer`)
   */
  async getUserFactors(user: string): Promise<Float32Array | undefined> {
    this.checkOpen();
    const key = this.userKey(checkText('user', user, 256), 'factors');
    const c = this.client;
    const [v] = await this.send('getUserFactors', [() => (typeof c.callBuffer === 'function' ? c.callBuffer('GET', key) : c.call('GET', key))]);
    if (v === null || v === undefined) return undefined;
    if (v instanceof Uint8Array) return decodeFactors(v);
    throw new InvalidParameterError('client', 'a client that returns binary replies as Buffers (ioredis: callBuffer)', v);
  }

  async seen(user: string): Promise<Set<string>> {
    this.checkOpen();
    const key = this.userKey(checkText('user', user, 256), 'seen');
    const [pins] = await this.send('seen', [() => this.client.call('ZRANGE', key, 0, this.opts.maxSeen - 1, 'REV')]);
    return new Set(strings(pins));
  }

  async recent(user: string, n: number): Promise<string[]> {
    this.checkOpen();
    const key = this.userKey(checkText('user', user, 256), 'recent');
    const k = Math.min(checkCount('n', n), this.opts.maxRecent);
    if (k === 0) return [];
    const [pins] = await this.send('recent', [() => this.client.call('ZRANGE', key, 0, k - 1, 'REV')]);
    return strings(pins);
  }

  async trending(category: string | null, n: number, now?: number): Promise<TrendingPin[]> {
    this.checkOpen();
    const cat = checkCategory('category', category);
    const k = checkCount('n', n);
    const at = now === undefined ? Date.now() : checkTime('now', now);
    if (k === 0) return [];
    const B = bucketOf(at, this.opts.bucketMs);
    const W = this.opts.windowBuckets;
    // oldest bucket first: W-1 … 0 buckets before the current one
    const keys = Array.from({ length: W }, (_, j) => this.trendKey(cat, B - (W - 1 - j)));
    const args = [String(perBucketFor(this.opts, k)), String(k), ...this.decayArgs];
    const [reply] = await this.send('trending', [() => this.script(TRENDING_SHA, TRENDING_SCRIPT, keys, args)]);
    const flat = strings(reply);
    const out: TrendingPin[] = [];
    for (let x = 0; x + 1 < flat.length; x += 2) out.push({ id: flat[x], score: parseScore(flat[x + 1]) });
    return out;
  }

  async appliedCount(): Promise<number> {
    this.checkOpen();
    const [v] = await this.send('appliedCount', [() => this.client.call('GET', `${this.prefix}:{t}:applied`)]);
    return v === null || v === undefined ? 0 : Number(v);
  }

  /** Later calls reject with a `ClosedError`; with `ownsClient`, quits the client (disconnects when quit fails or hangs). Never rejects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.ownsClient) return;
    const c = this.client;
    try {
      if (typeof c.quit === 'function') await this.send('close', [() => c.quit!()]);
      else c.disconnect?.();
    } catch {
      c.disconnect?.();
    }
  }

  /** The user part of an event (Redis Cluster): its marker, seen and recent, in the user's slot. */
  private applyUserPart(e: CheckedEvent): Promise<unknown> {
    const o = this.opts;
    const keys = [this.userKey(e.user, `ev:${encodeKeyPart(e.id)}`), this.userKey(e.user, 'seen'), this.userKey(e.user, 'recent')];
    const args = [
      String(o.dedupeTtlMs), e.pin, String(e.time), e.type === 'create' || e.type === 'repin' ? '1' : '0', e.type === 'view' ? '0' : '1',
      String(-1 - o.maxSeen), String(-1 - o.maxRecent),
    ];
    return this.script(USER_SHA, USER_SCRIPT, keys, args);
  }

  /**
   * The trending writes of a batch's new events, one {@link TREND_SCRIPT} call per trending slot: the `{t}`
   * group (global buckets, unsharded categories, the counter by the number of new events) first, then one per
   * sharded category. Each group's first key names its slot.
   */
  private trendGroups(fresh: readonly CheckedEvent[]): Map<string | null, TrendGroup> {
    const groups = new Map<string | null, TrendGroup>();
    if (fresh.length === 0) return groups;
    const group = (g: string | null): TrendGroup => {
      let x = groups.get(g);
      if (!x) groups.set(g, (x = { keys: [], index: new Map(), args: [] }));
      return x;
    };
    const add = (g: TrendGroup, key: string, pin: string, w: string): void => {
      let i = g.index.get(key);
      if (i === undefined) {
        g.keys.push(key);
        g.index.set(key, (i = g.keys.length));
      }
      g.args.push(String(i), pin, w);
    };
    const global = group(null);
    const o = this.opts;
    for (const e of fresh) {
      const w = o.weights.get(e.type) ?? 0;
      if (w <= 0) continue;
      const b = bucketOf(e.time, o.bucketMs);
      add(global, this.trendKey(null, b), e.pin, String(w));
      if (e.category !== null) add(this.shardTrending ? group(e.category) : global, this.trendKey(e.category, b), e.pin, String(w));
    }
    global.keys.push(`${this.prefix}:{t}:applied`);
    global.args.unshift(String(fresh.length), this.bucketTtl);
    for (const [g, x] of groups) if (g !== null) x.args.unshift('0', this.bucketTtl);
    return groups;
  }

  /**
   * `WAIT waitReplicas waitTimeoutMs` on the connection of each master holding one of `keys` (all of them on a
   * single server: the one connection); the fewest replicas that acknowledged. A master the client does not
   * know (mid-failover) counts as 0.
   */
  private async waitForReplicas(keys: readonly string[]): Promise<number> {
    const c = this.client;
    const wait = (node: Pick<RedisClientLike, 'call'>) => () => node.call('WAIT', this.waitReplicas, this.waitTimeoutMs);
    const timeout = this.timeoutMs + this.waitTimeoutMs;
    if (!this.cluster) {
      const [n] = await this.send('applyEvents (WAIT)', [wait(c)], timeout);
      return Number(n);
    }
    const byAddress = new Map<string, RedisNodeLike>();
    for (const n of c.nodes!('master')) byAddress.set(`${n.options.host}:${n.options.port}`, n);
    const masters = new Set<RedisNodeLike>();
    let unknown = false;
    for (const slot of new Set(keys.map(keySlot))) {
      const node = byAddress.get(c.slots![slot]?.[0] ?? '');
      if (node) masters.add(node);
      else unknown = true;
    }
    const acks = await this.send('applyEvents (WAIT)', [...masters].map(wait), timeout);
    return unknown ? 0 : Math.min(...acks.map(Number));
  }

  private applyOne(e: CheckedEvent): Promise<unknown> {
    const o = this.opts;
    const keys = [this.userKey(e.user, `ev:${encodeKeyPart(e.id)}`), this.userKey(e.user, 'seen'), this.userKey(e.user, 'recent'), `${this.prefix}:{t}:applied`];
    const w = o.weights.get(e.type) ?? 0;
    if (w > 0) {
      const b = bucketOf(e.time, o.bucketMs);
      keys.push(this.trendKey(null, b));
      if (e.category !== null) keys.push(this.trendKey(e.category, b));
    }
    const args = [
      String(o.dedupeTtlMs), e.pin, String(e.time), e.type === 'create' || e.type === 'repin' ? '1' : '0', e.type === 'view' ? '0' : '1',
      String(-1 - o.maxSeen), String(-1 - o.maxRecent), w > 0 ? String(w) : '0', this.bucketTtl,
    ];
    return this.script(APPLY_SHA, APPLY_SCRIPT, keys, args);
  }

  /** Run a script by its SHA1 (`EVALSHA`), sending its text (`EVAL`) when the server has lost its script cache. */
  private script(sha: string, text: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.client.call('EVALSHA', sha, keys.length, ...keys, ...args).catch((err: unknown) => {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return this.client.call('EVAL', text, keys.length, ...keys, ...args);
      throw err;
    });
  }

  private userKey(user: string, part: string): string {
    return `${this.prefix}:{u:${encodeKeyPart(user)}}:${part}`;
  }

  private trendKey(category: string | null, bucket: number): string {
    if (category === null) return `${this.prefix}:{t}:trend:*:${bucket}`;
    return this.shardTrending ? `${this.prefix}:{t:${encodeKeyPart(category)}}:trend:${bucket}` : `${this.prefix}:{t}:trend:${encodeKeyPart(category)}:${bucket}`;
  }

  /**
   * Start the calls together and wait for all of them. Rejects with a {@link StoreUnavailableError} when one
   * fails (its error is the `cause`) or when no reply has come for `timeoutMs` (the clock restarts at each reply;
   * replies already received by the process but not yet read when it fires still count).
   */
  private send(what: string, calls: readonly (() => Promise<unknown>)[], timeoutMs = this.timeoutMs): Promise<unknown[]> {
    if (calls.length === 0) return Promise.resolve([]);
    return new Promise<unknown[]>((resolve, reject) => {
      const out = new Array<unknown>(calls.length);
      let left = calls.length;
      let done = false;
      const fail = (err: unknown): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err instanceof StoreUnavailableError) return reject(err);
        const message = err instanceof Error ? err.message : String(err);
        // CROSSSLOT: a Redis Cluster behind a store made for a single server
        const hint = message.startsWith('CROSSSLOT') && !this.cluster ? ' (the server is a Redis Cluster: pass { cluster: true })' : '';
        reject(new StoreUnavailableError(`${what}: Redis call failed: ${message}${hint}`, { cause: err }));
      };
      // When the timer fires, replies that arrived while this process was busy elsewhere may still wait to be
      // read (timers run before I/O in a loop turn): decide after one I/O pass, so a stall of our own is not
      // blamed on Redis.
      const timer = setTimeout(() => setImmediate(() => fail(new StoreUnavailableError(`${what}: Redis did not answer within ${timeoutMs} ms`))), timeoutMs);
      calls.forEach((call, i) => {
        let p: Promise<unknown>;
        try {
          p = Promise.resolve(call());
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then((v) => {
          if (done) return;
          out[i] = v;
          if (--left > 0) {
            timer.refresh();
            return;
          }
          done = true;
          clearTimeout(timer);
          resolve(out);
        }, fail);
      });
    });
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('RedisFeedStore is closed');
  }
}

/** A score from the trending script (`%.17g`; C prints infinity as `inf`). */
function parseScore(s: string): number {
  return s === 'inf' ? Infinity : Number(s);
}

/** A reply that should be an array of strings (ioredis gives strings; Buffers are decoded as UTF-8). */
function strings(reply: unknown): string[] {
  if (!Array.isArray(reply)) throw new StoreUnavailableError(`unexpected Redis reply ${Object.prototype.toString.call(reply)} (an array was expected)`);
  return reply.map((v) => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
}
