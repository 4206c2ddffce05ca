/**
 * The feed's per-user and per-category state behind one contract: what each user has saved (the seen
 * filter), their recent engagements (seeds of the visual source), and trending counters per category.
 * `MemoryFeedStore` keeps it in the process; `RedisFeedStore` keeps it in Redis so several service
 * processes share it and it survives a restart.
 */
import { PinrecError } from '../core/errors.js';

/** What happened: a user created (uploaded) a pin, repinned (saved) it, opened its close-up, clicked through, or was shown it. */
export const FEED_EVENT_TYPES = ['create', 'repin', 'closeup', 'click', 'view'] as const;

/** One of {@link FEED_EVENT_TYPES}. */
export type FeedEventType = (typeof FEED_EVENT_TYPES)[number];

/**
 * One user action. `id` makes it idempotent: a store applies each id once, however often it is offered
 * (a client retrying after a timeout, a replay after an outage).
 *
 * @example
 * const e: FeedEvent = { id: 'e-1', type: 'repin', user: 'u1', pin: 'p9', category: 'decor', time: Date.now() };
 */
export interface FeedEvent {
  /** Unique event id: 1–128 characters. */
  id: string;
  type: FeedEventType;
  user: string;
  pin: string;
  /** The pin's category, for the trending counters; `null`/absent counts only towards global trending. */
  category?: string | null;
  /** When it happened, ms since the epoch. */
  time: number;
}

/** What {@link FeedStore.applyEvents} did. */
export interface ApplyResult {
  /** Events applied now. */
  applied: number;
  /** Events whose id had already been applied (left alone). */
  duplicates: number;
  /**
   * Only with the Redis store's `waitReplicas` option: the fewest replicas that acknowledged this batch's
   * writes (`WAIT`) on any master they went to. Below `waitReplicas`, a failover before replication catches up
   * can still lose some of the batch (the writes are on the master; nothing is rolled back).
   */
  replicas?: number;
}

/** A trending pin and its decayed count. */
export interface TrendingPin {
  id: string;
  score: number;
}

/**
 * Per-user and per-category feed state. Every method may reject with a {@link StoreUnavailableError} when
 * the backing store cannot be reached; callers degrade (no seen filter, global trending) instead of failing.
 */
export interface FeedStore {
  /**
   * Apply events, each id once: `create` and `repin` add the pin to the user's saved (seen) pins; every
   * type except `view` makes it the user's most recent engagement; the trending weight of the event's type
   * is added to its category's and the global counter, decayed by age.
   */
  applyEvents(events: readonly FeedEvent[]): Promise<ApplyResult>;
  /** The user's saved pins, the most recent `maxSeen` of them. */
  seen(user: string): Promise<Set<string>>;
  /** The user's `n` most recent distinct engagements, most recent first. */
  recent(user: string, n: number): Promise<string[]>;
  /** The `n` top pins of `category` (or of every category for `null`) by decayed count at time `now`, best first. */
  trending(category: string | null, n: number, now?: number): Promise<TrendingPin[]>;
  /** Events applied since the store was created (or its data was last cleared), duplicates not counted. */
  appliedCount(): Promise<number>;
  /** Release connections and timers; the store is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * A cache of users' latent factors (e.g. a CF model's `userFactors` of a user folded in from their recent
 * events), so several service processes fold a user in once. Values expire after their TTL; a value from
 * another model is the caller's concern (use one store prefix per model, or a TTL shorter than a model's life).
 * Both stores implement it; in Redis the value sits under the user's hash tag, beside their other state.
 */
export interface UserFactorCache {
  /**
   * Cache `factors` (copied; 1–65,536 finite values) for `user`, replacing any cached value, for `ttlMs` ms
   * (integer in [1, 3.1536e11]).
   * @throws {InvalidParameterError} naming `user`, `factors` (or `factors[i]`) or `ttlMs`
   */
  putUserFactors(user: string, factors: Float32Array, ttlMs: number): Promise<void>;
  /** The cached factors of `user` (a new array, bit-exact), or `undefined` when none is cached or it expired. */
  getUserFactors(user: string): Promise<Float32Array | undefined>;
}

/** The backing store (Redis...) cannot be reached or did not answer in time. */
export class StoreUnavailableError extends PinrecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', message, options);
  }
}
