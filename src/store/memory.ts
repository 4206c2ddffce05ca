/**
 * The in-process feed store, and what it shares with the Redis one: the options, the event validation, the
 * id order and the trending arithmetic. Both stores call the same helpers here, so for the same events they
 * return exactly the same seen sets, recent lists and trending scores (bit for bit).
 *
 * Orders used throughout:
 * - Ids (pins) compare by Unicode code point, which is the byte order of their UTF-8 form and so the order
 *   Redis uses for sorted-set members with equal scores ({@link compareCodePoints}).
 * - A user's seen pins and recent engagements are ranked by (latest event time, pin id): a pin's time is the
 *   latest time of its events (Redis `ZADD GT`), and at equal times the larger id ranks higher. The stores keep
 *   the top `maxSeen` / `maxRecent` of that order. The result depends only on which events were applied, not
 *   on the order they arrived in, so retries, replays and concurrent writers all end in the same state.
 */
import { ClosedError, InvalidParameterError } from '../core/errors.js';
import { resolveOptions } from '../core/options.js';
import { checkInt, checkNumber, checkOneOf } from '../core/validate.js';
import { checkFactorArgs } from './factors.js';
import { FEED_EVENT_TYPES } from './types.js';
import type { ApplyResult, FeedEvent, FeedEventType, FeedStore, TrendingPin, UserFactorCache } from './types.js';

/**
 * Options shared by {@link MemoryFeedStore} and `RedisFeedStore`. Two stores agree exactly only when their
 * options are the same.
 *
 * @example
 * const store = new MemoryFeedStore({ maxSeen: 500, halfLifeMs: 30 * 60_000, weights: { view: 0.1 } });
 */
export interface FeedStoreOptions {
  /** Saved (seen) pins kept per user, the most recent ones. Integer in [1, 1e6]. @default 1000 */
  maxSeen?: number;
  /** Recent engagements (distinct pins) kept per user. Integer in [1, 1e5]. @default 50 */
  maxRecent?: number;
  /** Half-life of the trending counts, ms. In [1, 1e15]. @default 3_600_000 (1 h) */
  halfLifeMs?: number;
  /** Width of a trending time bucket, ms. Integer in [1, 3.1536e10]. @default 300_000 (5 min) */
  bucketMs?: number;
  /** Buckets in the trending window (the current one included). Integer in [1, 10_000]. @default 24 (2 h) */
  windowBuckets?: number;
  /**
   * Trending weight of each event type; types not given keep the default. Each finite, in [0, 1e9]; weight 0
   * means the type never touches trending.
   * @default { create: 1, repin: 1, closeup: 0.5, click: 0.5, view: 0 }
   */
  weights?: Partial<Readonly<Record<FeedEventType, number>>>;
  /** How long an applied event id is remembered (offering it again within this time is a no-op), ms. Integer in [1, 3.1536e11]. @default 86_400_000 (24 h) */
  dedupeTtlMs?: number;
  /**
   * Pins taken from each trending bucket: `trending()` keeps only the top `perBucket` pins of each bucket of
   * the window (by that bucket's count, ties by pin id ascending in code-point order) before summing the
   * decayed counts. This bounds the work of a call (Redis reads at most `perBucket` pins per bucket) at the
   * price of an approximation: a pin outside every bucket's top is missed, and a pin's score counts only the
   * buckets whose top it is in. Given, it is used as is for every call (a value below `n` can return fewer
   * than `n` pins); absent, each call uses `max(200, 4·n)`. Integer in [1, 1e6].
   * @default max(200, 4 · n), computed per trending call from its `n`
   */
  perBucket?: number;
}

/** Options of {@link MemoryFeedStore}. */
export interface MemoryFeedStoreOptions extends FeedStoreOptions {
  /** Event ids remembered at most; past it the oldest are forgotten first. Integer in [1, 1e8]. @default 1_000_000 */
  maxRememberedIds?: number;
}

/** The default trending weights per event type (frozen). */
export const DEFAULT_TRENDING_WEIGHTS: Readonly<Record<FeedEventType, number>> = Object.freeze({ create: 1, repin: 1, closeup: 0.5, click: 0.5, view: 0 });

/** Largest |time| accepted (ms since the epoch): the range of a JavaScript `Date`. */
export const MAX_EVENT_TIME = 8.64e15;

const STORE_RULES = {
  maxSeen: { int: [1, 1_000_000], default: 1000 },
  maxRecent: { int: [1, 100_000], default: 50 },
  halfLifeMs: { number: [1, 1e15], default: 3_600_000 },
  bucketMs: { int: [1, 31_536_000_000], default: 300_000 },
  windowBuckets: { int: [1, 10_000], default: 24 },
  dedupeTtlMs: { int: [1, 315_360_000_000], default: 86_400_000 },
} as const;

/** Largest `perBucket` option accepted. */
const MAX_PER_BUCKET = 1_000_000;
/** Smallest per-bucket depth when `perBucket` is not given. */
const DEFAULT_PER_BUCKET = 200;

/** @internal Options with defaults filled in and checked. */
export interface ResolvedStoreOptions {
  maxSeen: number;
  maxRecent: number;
  halfLifeMs: number;
  bucketMs: number;
  windowBuckets: number;
  dedupeTtlMs: number;
  /** The `perBucket` option as given (`undefined`: `max(200, 4·n)` per call, see {@link perBucketFor}). */
  perBucket: number | undefined;
  /** Trending weight per event type. */
  weights: ReadonlyMap<FeedEventType, number>;
  /** `decay[i]`: the weight of the bucket `i` buckets before the current one, `2^(-i·bucketMs/halfLifeMs)`. */
  decay: readonly number[];
}

/** @internal Resolve and check the shared options (typed errors naming the option). */
export function resolveStoreOptions(options: FeedStoreOptions | undefined): ResolvedStoreOptions {
  const o = options ?? {};
  const r = resolveOptions(STORE_RULES, o);
  const weights = new Map<FeedEventType, number>();
  let given: unknown = (o as { weights?: unknown }).weights;
  if (given instanceof Map) given = Object.fromEntries(given); // own data properties, even for '__proto__'
  if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) {
    throw new InvalidParameterError('weights', 'an object of event type → weight', given);
  }
  if (given !== undefined) {
    for (const k of Object.keys(given)) checkOneOf(`weights.${k}`, k, FEED_EVENT_TYPES);
  }
  for (const t of FEED_EVENT_TYPES) {
    const v = given !== undefined && Object.hasOwn(given, t) ? (given as Record<FeedEventType, unknown>)[t] : DEFAULT_TRENDING_WEIGHTS[t];
    weights.set(t, checkNumber(`weights.${t}`, v, 0, 1e9));
  }
  const givenPerBucket: unknown = Object.hasOwn(o, 'perBucket') ? (o as { perBucket?: unknown }).perBucket : undefined;
  const perBucket = givenPerBucket === undefined ? undefined : checkInt('perBucket', givenPerBucket, 1, MAX_PER_BUCKET);
  const decay: number[] = [];
  for (let i = 0; i < r.windowBuckets; i++) decay.push(2 ** (-(i * r.bucketMs) / r.halfLifeMs));
  return { ...r, perBucket, weights, decay };
}

/** @internal The per-bucket depth of a trending call for `n` pins: the option, else `max(200, 4·n)`. */
export function perBucketFor(opts: ResolvedStoreOptions, n: number): number {
  return opts.perBucket ?? Math.max(DEFAULT_PER_BUCKET, 4 * n);
}

// ---------------------------------------------------------------------------------------------------------
// Validation

/** An event after validation: a copy of its fields (later changes to the caller's object do not matter). */
export interface CheckedEvent {
  id: string;
  type: FeedEventType;
  user: string;
  pin: string;
  category: string | null;
  time: number;
}

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** @internal A non-empty, well-formed (no lone surrogate) string of at most `max` UTF-16 units. */
export function checkText(name: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || LONE_SURROGATE.test(value)) {
    throw new InvalidParameterError(name, `a non-empty string of at most ${max} characters (well-formed Unicode)`, value);
  }
  return value;
}

/** @internal A category argument: a non-empty string of at most 256 characters, or null (global). */
export function checkCategory(name: string, value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > 256 || LONE_SURROGATE.test(value)) {
    throw new InvalidParameterError(name, 'a non-empty string of at most 256 characters (well-formed Unicode), or null', value);
  }
  return value;
}

/** @internal A time in ms since the epoch: finite, |t| <= {@link MAX_EVENT_TIME}. */
export function checkTime(name: string, value: unknown): number {
  return checkNumber(name, value, -MAX_EVENT_TIME, MAX_EVENT_TIME);
}

/** @internal A result count: an integer in [0, 1e6]. */
export function checkCount(name: string, value: unknown): number {
  return checkInt(name, value, 0, 1_000_000);
}

/**
 * @internal Check a whole batch before any of it is applied; the error names the field (`events[3].type`).
 * Returns copies of the events.
 */
export function checkEvents(events: unknown): CheckedEvent[] {
  if (!Array.isArray(events)) throw new InvalidParameterError('events', 'an array of feed events', events);
  const out: CheckedEvent[] = [];
  for (let i = 0; i < events.length; i++) {
    const at = `events[${i}]`;
    const e: unknown = events[i];
    if (e === null || typeof e !== 'object' || Array.isArray(e)) throw new InvalidParameterError(at, 'a feed event object', e);
    const { id, type, user, pin, category, time } = e as Record<keyof FeedEvent, unknown>;
    if (typeof id !== 'string' || id.length === 0 || id.length > 128 || LONE_SURROGATE.test(id)) {
      throw new InvalidParameterError(`${at}.id`, 'a string of 1–128 characters (well-formed Unicode)', id);
    }
    const t = checkOneOf(`${at}.type`, type, FEED_EVENT_TYPES);
    const u = checkText(`${at}.user`, user, 256);
    const p = checkText(`${at}.pin`, pin, 256);
    if (category !== undefined && category !== null && (typeof category !== 'string' || category.length === 0 || category.length > 256 || LONE_SURROGATE.test(category))) {
      throw new InvalidParameterError(`${at}.category`, 'a non-empty string of at most 256 characters (well-formed Unicode), null or absent', category);
    }
    const tm = checkTime(`${at}.time`, time);
    out.push({ id, type: t, user: u, pin: p, category: (category as string | null | undefined) ?? null, time: tm });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Orders and trending arithmetic (shared with the Redis store)

/**
 * Compare strings by Unicode code point (= the byte order of their UTF-8 encoding, which Redis uses for
 * sorted-set members of equal score). Differs from `<` only for characters outside the BMP.
 *
 * @example
 * compareCodePoints('a', 'b');           // < 0
 * compareCodePoints('\u{1F600}', '\uFFFD'); // > 0 (code point 0x1F600 > 0xFFFD; `<` says the opposite)
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        // surrogates (0xD800–0xDFFF) encode code points above 0xFFFF: move them above 0xE000–0xFFFF
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

/** @internal The trending bucket of a time: `floor(time / bucketMs)`. */
export function bucketOf(time: number, bucketMs: number): number {
  return Math.floor(time / bucketMs);
}

/** @internal Add `count · weight` to `pin`'s score (the one summation both stores use, oldest bucket first). */
export function addScore(scores: Map<string, number>, pin: string, count: number, weight: number): void {
  scores.set(pin, (scores.get(pin) ?? 0) + count * weight);
}

/** Whether bucket entry `a` ranks below `b`: smaller count, or the same count and a larger id (code points). */
function ranksBelow(a: readonly [string, number], b: readonly [string, number]): boolean {
  return a[1] < b[1] || (a[1] === b[1] && compareCodePoints(a[0], b[0]) > 0);
}

/**
 * @internal The top `k` entries of a trending bucket (pin → count) by count descending, ties by id ascending
 * (code points), in no particular order: the whole bucket when it has at most `k` pins, else a bounded heap
 * pass (O(pins · log k)). The Redis script picks exactly the same pins.
 */
export function topOfBucket(bucket: ReadonlyMap<string, number>, k: number): Iterable<readonly [string, number]> {
  if (bucket.size <= k) return bucket;
  // min-heap on the kept entries: heap[0] is the one ranked lowest, the first to be replaced
  const heap: (readonly [string, number])[] = [];
  for (const e of bucket) {
    if (heap.length < k) {
      let i = heap.length;
      heap.push(e);
      while (i > 0) {
        const up = (i - 1) >> 1;
        if (!ranksBelow(heap[i], heap[up])) break;
        [heap[i], heap[up]] = [heap[up], heap[i]];
        i = up;
      }
    } else if (ranksBelow(heap[0], e)) {
      heap[0] = e;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let low = i;
        if (l < k && ranksBelow(heap[l], heap[low])) low = l;
        if (r < k && ranksBelow(heap[r], heap[low])) low = r;
        if (low === i) break;
        [heap[i], heap[low]] = [heap[low], heap[i]];
        i = low;
      }
    }
  }
  return heap;
}

/** @internal The top `n` pins by score (> 0), best first, ties by id ascending (code points). */
export function topTrending(scores: ReadonlyMap<string, number>, n: number): TrendingPin[] {
  const out: TrendingPin[] = [];
  for (const [id, score] of scores) if (score > 0) out.push({ id, score });
  out.sort((a, b) => b.score - a.score || compareCodePoints(a.id, b.id));
  return out.length > n ? out.slice(0, n) : out;
}

/** Rank (time, pin) descending: later first; at equal times the larger id first (Redis `ZRANGE ... REV`). */
function byRecency(a: [string, number], b: [string, number]): number {
  return b[1] - a[1] || compareCodePoints(b[0], a[0]);
}

/** A user's pins with their latest times, trimmed to the top `max` lazily (at 2·max, and before reads). */
class RankedPins {
  private readonly times = new Map<string, number>();
  /** The last {@link ranked} result, until the next change. */
  private cache: [string, number][] | undefined;
  constructor(private readonly max: number) {}

  /** `ZADD GT`: add the pin, or raise its time. */
  add(pin: string, time: number): void {
    const old = this.times.get(pin);
    if (old === undefined || time > old) {
      this.times.set(pin, time);
      this.cache = undefined;
    }
    if (this.times.size > 2 * this.max) this.ranked();
  }

  /** The kept pins, best first (trims to `max`). Do not modify the result. */
  ranked(): readonly [string, number][] {
    if (this.cache) return this.cache;
    const all = [...this.times].sort(byRecency);
    this.cache = all;
    if (all.length > this.max) {
      all.length = this.max;
      this.times.clear();
      for (const [p, t] of all) this.times.set(p, t);
    }
    return all;
  }
}

interface UserState {
  seen?: RankedPins;
  recent?: RankedPins;
}

/**
 * Feed state in the process: per-user seen pins and recent engagements, time-bucketed trending counters per
 * category and overall, and the ids of applied events (for exactly-once application). Nothing is shared
 * between processes and nothing survives a restart; use `RedisFeedStore` for that. Old trending buckets and
 * expired event ids are dropped lazily (no timers). Users are never forgotten (memory grows with the users).
 *
 * Trending: an event of weight `w = weights[type] > 0` adds `w` to bucket `floor(time / bucketMs)` of its
 * category and of the global counter. `trending(category, n, now)` with `B = floor(now / bucketMs)` scores
 * each pin `Σ_{i=0}^{windowBuckets-1} count(B - i) · 2^(-i·bucketMs/halfLifeMs)` (summed oldest bucket first),
 * and returns the top `n` with score > 0, ties by id ascending. Only each bucket's top `perBucket` pins
 * (default `max(200, 4·n)`; by the bucket's count, ties by id ascending) take part: `count(b)` of a pin outside
 * bucket `b`'s top is taken as 0, so a pin outside every bucket's top is missed (an approximation that bounds
 * the work; Redis makes the same cut, so both stores still agree exactly). Buckets more than `windowBuckets`
 * behind the newest event's bucket are dropped (a `now` that far behind the newest event sees less than Redis
 * would).
 *
 * Event ids are remembered per user for `dedupeTtlMs` of wall-clock time (`Date.now()`), at most
 * `maxRememberedIds` of them (oldest forgotten first).
 *
 * @example
 * const store = new MemoryFeedStore();                                   // maxSeen 1000, maxRecent 50, half-life 1 h
 * await store.applyEvents([{ id: 'e1', type: 'repin', user: 'u1', pin: 'p9', category: 'decor', time: Date.now() }]);
 * await store.seen('u1');                  // Set { 'p9' }
 * await store.trending('decor', 10);       // [{ id: 'p9', score: 1 }]
 */
export class MemoryFeedStore implements FeedStore, UserFactorCache {
  private readonly opts: ResolvedStoreOptions;
  private readonly maxRememberedIds: number;
  private readonly users = new Map<string, UserState>();
  /** Category (null: global) → bucket → pin → count. */
  private readonly trend = new Map<string | null, Map<number, Map<string, number>>>();
  /** Dedupe key → wall-clock expiry, in insertion order. */
  private readonly ids = new Map<string, number>();
  /** User → cached factors and their wall-clock expiry. */
  private readonly factors = new Map<string, { f: Float32Array; expires: number }>();
  private newestBucket = -Infinity;
  private applied = 0;
  private closed = false;

  /** @throws {InvalidParameterError} naming a bad option */
  constructor(options: MemoryFeedStoreOptions = {}) {
    this.opts = resolveStoreOptions(options);
    this.maxRememberedIds = resolveOptions({ maxRememberedIds: { int: [1, 100_000_000], default: 1_000_000 } } as const, options).maxRememberedIds;
  }

  /** Apply events, each (user, id) once; the whole batch is validated first, so a bad event rejects all of it. */
  async applyEvents(events: readonly FeedEvent[]): Promise<ApplyResult> {
    this.checkOpen();
    const checked = checkEvents(events);
    let applied = 0;
    const now = Date.now();
    this.forgetExpired(now);
    for (const e of checked) {
      const key = `${e.user.length}:${e.user}:${e.id}`;
      const expires = this.ids.get(key);
      if (expires !== undefined && expires > now) continue;
      if (expires !== undefined) this.ids.delete(key);
      this.ids.set(key, now + this.opts.dedupeTtlMs);
      if (this.ids.size > this.maxRememberedIds) this.ids.delete(this.ids.keys().next().value as string);
      this.apply(e);
      applied++;
    }
    this.applied += applied;
    return { applied, duplicates: checked.length - applied };
  }

  async seen(user: string): Promise<Set<string>> {
    this.checkOpen();
    const s = this.users.get(checkText('user', user, 256))?.seen;
    return new Set(s ? s.ranked().map((e) => e[0]) : []);
  }

  async recent(user: string, n: number): Promise<string[]> {
    this.checkOpen();
    const r = this.users.get(checkText('user', user, 256))?.recent;
    const k = checkCount('n', n);
    if (!r || k === 0) return [];
    return r.ranked().slice(0, k).map((e) => e[0]);
  }

  async trending(category: string | null, n: number, now?: number): Promise<TrendingPin[]> {
    this.checkOpen();
    const byBucket = this.trend.get(checkCategory('category', category));
    const k = checkCount('n', n);
    const at = now === undefined ? Date.now() : checkTime('now', now);
    if (!byBucket || k === 0) return [];
    const B = bucketOf(at, this.opts.bucketMs);
    const per = perBucketFor(this.opts, k);
    const scores = new Map<string, number>();
    for (let i = this.opts.windowBuckets - 1; i >= 0; i--) {
      const bucket = byBucket.get(B - i);
      if (bucket) for (const [pin, count] of topOfBucket(bucket, per)) addScore(scores, pin, count, this.opts.decay[i]);
    }
    return topTrending(scores, k);
  }

  async appliedCount(): Promise<number> {
    this.checkOpen();
    return this.applied;
  }

  /** Cache a user's factors for `ttlMs` of wall-clock time (see {@link UserFactorCache}). */
  async putUserFactors(user: string, factors: Float32Array, ttlMs: number): Promise<void> {
    this.checkOpen();
    const u = checkText('user', user, 256);
    const c = checkFactorArgs(factors, ttlMs);
    this.factors.set(u, { f: c.factors, expires: Date.now() + c.ttlMs });
  }

  /** A copy of the user's cached factors, `undefined` when none or expired. */
  async getUserFactors(user: string): Promise<Float32Array | undefined> {
    this.checkOpen();
    const u = checkText('user', user, 256);
    const e = this.factors.get(u);
    if (!e) return undefined;
    if (e.expires <= Date.now()) {
      this.factors.delete(u);
      return undefined;
    }
    return e.f.slice();
  }

  /** Drop all state; later calls reject with a `ClosedError`. */
  async close(): Promise<void> {
    this.closed = true;
    this.factors.clear();
    this.users.clear();
    this.trend.clear();
    this.ids.clear();
  }

  /**
   * How much the store holds: users, trending buckets (over every category and global) and remembered ids.
   *
   * @example
   * store.stats(); // { users: 1, trendBuckets: 2, rememberedIds: 1 }
   */
  stats(): { users: number; trendBuckets: number; rememberedIds: number } {
    let trendBuckets = 0;
    for (const m of this.trend.values()) trendBuckets += m.size;
    return { users: this.users.size, trendBuckets, rememberedIds: this.ids.size };
  }

  private apply(e: CheckedEvent): void {
    const o = this.opts;
    let u = this.users.get(e.user);
    if (!u) this.users.set(e.user, (u = {}));
    if (e.type === 'create' || e.type === 'repin') (u.seen ??= new RankedPins(o.maxSeen)).add(e.pin, e.time);
    if (e.type !== 'view') (u.recent ??= new RankedPins(o.maxRecent)).add(e.pin, e.time);
    const w = o.weights.get(e.type) ?? 0;
    if (w <= 0) return;
    const b = bucketOf(e.time, o.bucketMs);
    if (b > this.newestBucket) {
      this.newestBucket = b;
      this.dropBucketsBefore(b - o.windowBuckets);
    } else if (b < this.newestBucket - o.windowBuckets) {
      return; // older than every bucket kept: it could never be in a window again
    }
    this.count(null, b, e.pin, w);
    if (e.category !== null) this.count(e.category, b, e.pin, w);
  }

  private count(category: string | null, b: number, pin: string, w: number): void {
    let byBucket = this.trend.get(category);
    if (!byBucket) this.trend.set(category, (byBucket = new Map()));
    let bucket = byBucket.get(b);
    if (!bucket) byBucket.set(b, (bucket = new Map()));
    bucket.set(pin, (bucket.get(pin) ?? 0) + w);
  }

  private dropBucketsBefore(oldest: number): void {
    for (const [category, byBucket] of this.trend) {
      for (const b of byBucket.keys()) if (b < oldest) byBucket.delete(b);
      if (byBucket.size === 0) this.trend.delete(category);
    }
  }

  private forgetExpired(now: number): void {
    for (const [key, expires] of this.ids) {
      if (expires > now) break;
      this.ids.delete(key);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('MemoryFeedStore is closed');
  }
}
