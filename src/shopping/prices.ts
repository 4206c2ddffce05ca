/**
 * Prices that survive a surge. The seed's Black Friday lesson: third-party price APIs rate-limited the platform
 * at 50× traffic, and what kept it up was a price cache with bounded staleness, fallbacks, and saying how old
 * each price is. {@link CachedPriceSource} puts in front of any upstream:
 *
 * - a cache with a staleness bound (`maxStalenessMs`, 5 minutes by default): an answer older than the bound
 *   is only ever served marked `stale: true`;
 * - stale-while-revalidate: past `refreshAfterMs` the cached price is served at once and refreshed in the
 *   background;
 * - request coalescing: one upstream call per (merchant, product, location) at a time, however many callers;
 * - a token-bucket rate limit per merchant, and a `Retry-After` from the merchant pauses its calls;
 * - a circuit breaker per merchant (open after consecutive failures, one trial call after `openMs`);
 * - an upstream timeout, so a slow merchant costs at most that.
 *
 * Every answer carries `stalenessMs`, `stale` and `source` (`'upstream'`, `'cache'`, or `'fallback'` when
 * the upstream could not be asked or failed and an older price was served).
 */
import { InvalidParameterError, PinrecError, describeValue } from '../core/errors.js';
import { checkInt } from '../core/validate.js';

/** A price for one product at one merchant and location, as the upstream reports it. */
export interface PriceQuote {
  productId: string;
  merchant: string;
  location: string;
  /** In the currency's units (e.g. 19.99), finite and ≥ 0. */
  price: number;
  currency: string;
  available: boolean;
}

/** A price as {@link CachedPriceSource} answers it: the quote plus how old it is and where it came from. */
export interface PriceAnswer extends PriceQuote {
  /** When the upstream was asked for this quote (ms, the source's clock): its age is at most `now − fetchedAt`. */
  fetchedAt: number;
  /** Age of the quote when answered, ms. */
  stalenessMs: number;
  /** Whether the quote is older than `maxStalenessMs` (served only because nothing fresher could be had). */
  stale: boolean;
  source: 'upstream' | 'cache' | 'fallback';
  /** Why the upstream was not asked or failed, for `'fallback'` answers. */
  reason?: string;
}

/** What to price. */
export interface PriceRequest {
  productId: string;
  merchant: string;
  /** @default 'default' */
  location?: string;
}

/** Any source of quotes: an HTTP merchant API ({@link httpPriceUpstream}), a database, an in-memory table. */
export interface PriceSource {
  getPrice(req: PriceRequest, options?: { signal?: AbortSignal }): Promise<PriceQuote>;
}

/** The upstream could not give a price: rate-limited, circuit open, timed out, failed, or a bad answer. */
export class PriceUnavailableError extends PinrecError {
  readonly merchant: string;
  readonly productId: string;
  readonly reason: 'rate-limited' | 'circuit-open' | 'timeout' | 'upstream-error' | 'bad-response' | 'not-found';
  /** Set when the merchant said when to retry (HTTP 429 `Retry-After`), ms. */
  readonly retryAfterMs?: number;
  constructor(req: { merchant: string; productId: string }, reason: PriceUnavailableError['reason'], detail: string, retryAfterMs?: number, options?: { cause?: unknown }) {
    super('PRICE_UNAVAILABLE', `price of ${describeValue(req.productId)} at ${describeValue(req.merchant)}: ${reason} (${detail})`, options);
    this.merchant = req.merchant;
    this.productId = req.productId;
    this.reason = reason;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
}

/** An in-memory price table (tests, demos, a catalogue's list prices). */
export class InMemoryPriceSource implements PriceSource {
  private readonly quotes = new Map<string, PriceQuote>();
  /** @example new InMemoryPriceSource([{ productId: 'p1', merchant: 'm1', location: 'default', price: 20, currency: 'USD', available: true }]) */
  constructor(quotes: Iterable<PriceQuote> = []) {
    for (const q of quotes) this.set(q);
  }
  set(q: PriceQuote): void {
    checkQuote(q, { merchant: q?.merchant, productId: q?.productId });
    this.quotes.set(keyOf(q), { ...q });
  }
  async getPrice(req: PriceRequest): Promise<PriceQuote> {
    const q = this.quotes.get(keyOf(req));
    if (!q) throw new PriceUnavailableError(req, 'not-found', 'no such product at this merchant and location');
    return { ...q };
  }
}

function keyOf(r: { merchant: string; productId: string; location?: string }): string {
  return `${r.merchant.length}:${r.merchant}|${r.productId.length}:${r.productId}|${r.location ?? 'default'}`;
}

/** Validate a quote from an untrusted upstream: a finite price ≥ 0, a short currency code, a boolean. */
function checkQuote(q: unknown, req: { merchant: string; productId: string }): PriceQuote {
  const o = q as Partial<PriceQuote> | null;
  const bad = (what: string) => new PriceUnavailableError(req, 'bad-response', what);
  if (o === null || typeof o !== 'object') throw bad(`not an object (${describeValue(q)})`);
  if (typeof o.price !== 'number' || !Number.isFinite(o.price) || o.price < 0 || o.price > 1e12) throw bad(`price must be a finite number in [0, 1e12] (got ${describeValue(o.price)})`);
  if (typeof o.currency !== 'string' || !/^[A-Z]{3}$/.test(o.currency)) throw bad(`currency must be a 3-letter code (got ${describeValue(o.currency)})`);
  if (typeof o.available !== 'boolean') throw bad(`available must be a boolean (got ${describeValue(o.available)})`);
  return o as PriceQuote;
}

/**
 * A merchant's HTTP price API as a {@link PriceSource}: `GET {baseUrl}/price?product=…&location=…` answering
 * `{ price, currency, available }`. A 429 becomes `'rate-limited'` with its `Retry-After`; other non-200s
 * `'upstream-error'` (404: `'not-found'`); bodies over 64 KiB or malformed ones `'bad-response'`.
 *
 * @example
 * const upstream = httpPriceUpstream({ merchant: 'acme', baseUrl: 'http://127.0.0.1:8081' });
 * const prices = new CachedPriceSource({ upstream });
 */
export function httpPriceUpstream(options: { baseUrl: string; merchant?: string }): PriceSource {
  if (typeof options?.baseUrl !== 'string' || !/^https?:\/\//i.test(options.baseUrl)) throw new InvalidParameterError('baseUrl', 'an http(s) URL', options?.baseUrl);
  const base = options.baseUrl.replace(/\/+$/, '');
  return {
    async getPrice(req, o = {}) {
      const url = `${base}/price?product=${encodeURIComponent(req.productId)}&location=${encodeURIComponent(req.location ?? 'default')}`;
      let res: Response;
      try {
        res = await fetch(url, { signal: o.signal, headers: { accept: 'application/json' } });
      } catch (e) {
        const aborted = (e as Error)?.name === 'AbortError' || (e as Error)?.name === 'TimeoutError';
        throw new PriceUnavailableError(req, aborted ? 'timeout' : 'upstream-error', (e as Error).message, undefined, { cause: e });
      }
      if (res.status === 429) {
        const ra = Number(res.headers.get('retry-after'));
        await res.body?.cancel();
        throw new PriceUnavailableError(req, 'rate-limited', 'the merchant answered 429', Number.isFinite(ra) && ra >= 0 ? Math.min(ra, 3600) * 1000 : undefined);
      }
      if (res.status === 404) { await res.body?.cancel(); throw new PriceUnavailableError(req, 'not-found', 'the merchant answered 404'); }
      if (res.status !== 200) { await res.body?.cancel(); throw new PriceUnavailableError(req, 'upstream-error', `the merchant answered ${res.status}`); }
      const text = await res.text();
      if (text.length > 65_536) throw new PriceUnavailableError(req, 'bad-response', `a ${text.length}-byte body`);
      let body: unknown;
      try { body = JSON.parse(text); } catch { throw new PriceUnavailableError(req, 'bad-response', 'not JSON'); }
      const q = checkQuote(body, req);
      return { productId: req.productId, merchant: req.merchant, location: req.location ?? 'default', price: q.price, currency: q.currency, available: q.available };
    },
  };
}

/** Options of {@link CachedPriceSource}. */
export interface CachedPriceOptions {
  /** Where quotes come from: one source for every merchant, or one per merchant. */
  upstream: PriceSource | ((merchant: string) => PriceSource | undefined);
  /** Oldest quote served without `stale: true`, ms. @default 300_000 (5 minutes) */
  maxStalenessMs?: number;
  /** Age from which a cached quote is refreshed in the background while still served. @default maxStalenessMs / 2 */
  refreshAfterMs?: number;
  /** Longest wait for the upstream, ms. @default 200 */
  upstreamTimeoutMs?: number;
  /** Upstream calls per second per merchant (token bucket), and the bucket's size. @default { perSecond: 20, burst: 20 } */
  rateLimit?: { perSecond: number; burst?: number };
  /** Consecutive failures that open a merchant's circuit, and how long it stays open, ms. @default { failures: 5, openMs: 10_000 } */
  breaker?: { failures?: number; openMs?: number };
  /** Most quotes kept (least recently used dropped first). @default 100_000 */
  maxEntries?: number;
  /** Clock, ms. @default Date.now */
  now?: () => number;
}

interface Entry { quote: PriceQuote; fetchedAt: number }
interface MerchantState { tokens: number; refilledAt: number; pausedUntil: number; failures: number; openUntil: number; halfOpenBusy: boolean }

/** Counters of what the source did (for dashboards and the burst benchmark). */
export interface PriceSourceStats {
  answers: number;
  fromCache: number;
  fromUpstream: number;
  fallbacks: number;
  staleServed: number;
  upstreamCalls: number;
  coalesced: number;
  rateLimited: number;
  circuitOpen: number;
  failures: number;
}

/**
 * The price path for the surge (see the module comment). `get` never waits longer than `upstreamTimeoutMs` and
 * never hides an answer's age.
 *
 * @example
 * import { CachedPriceSource, InMemoryPriceSource } from 'pinrec/shopping';
 * const prices = new CachedPriceSource({ upstream: new InMemoryPriceSource([{ productId: 'p1', merchant: 'm', location: 'default', price: 9.5, currency: 'USD', available: true }]) });
 * const a = await prices.get({ productId: 'p1', merchant: 'm' }); // { price: 9.5, source: 'upstream', stalenessMs: 0, stale: false, … }
 */
export class CachedPriceSource implements PriceSource {
  readonly maxStalenessMs: number;
  readonly refreshAfterMs: number;
  readonly upstreamTimeoutMs: number;
  private readonly perSecond: number;
  private readonly burst: number;
  private readonly breakFailures: number;
  private readonly openMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly upstreamOf: (merchant: string) => PriceSource | undefined;
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  private readonly merchants = new Map<string, MerchantState>();
  private readonly counters: PriceSourceStats = { answers: 0, fromCache: 0, fromUpstream: 0, fallbacks: 0, staleServed: 0, upstreamCalls: 0, coalesced: 0, rateLimited: 0, circuitOpen: 0, failures: 0 };

  constructor(options: CachedPriceOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidParameterError('options', 'an object', options);
    const up = options.upstream;
    if (typeof up === 'function') this.upstreamOf = up;
    else if (up && typeof (up as PriceSource).getPrice === 'function') this.upstreamOf = () => up;
    else throw new InvalidParameterError('upstream', 'a PriceSource or a function from merchant to PriceSource', up);
    this.maxStalenessMs = checkInt('maxStalenessMs', options.maxStalenessMs ?? 300_000, 1, 86_400_000 * 30);
    this.refreshAfterMs = checkInt('refreshAfterMs', options.refreshAfterMs ?? Math.floor(this.maxStalenessMs / 2), 0, this.maxStalenessMs);
    this.upstreamTimeoutMs = checkInt('upstreamTimeoutMs', options.upstreamTimeoutMs ?? 200, 1, 600_000);
    const rl = options.rateLimit ?? { perSecond: 20 };
    if (rl === null || typeof rl !== 'object' || typeof rl.perSecond !== 'number' || !(rl.perSecond > 0) || !Number.isFinite(rl.perSecond)) throw new InvalidParameterError('rateLimit.perSecond', 'a positive number', rl?.perSecond);
    this.perSecond = rl.perSecond;
    this.burst = checkInt('rateLimit.burst', rl.burst ?? Math.max(1, Math.ceil(rl.perSecond)), 1, 1_000_000);
    this.breakFailures = checkInt('breaker.failures', options.breaker?.failures ?? 5, 1, 1_000_000);
    this.openMs = checkInt('breaker.openMs', options.breaker?.openMs ?? 10_000, 1, 86_400_000);
    this.maxEntries = checkInt('maxEntries', options.maxEntries ?? 100_000, 1, 1e9);
    if (options.now !== undefined && typeof options.now !== 'function') throw new InvalidParameterError('now', 'a function returning ms', options.now);
    this.now = options.now ?? Date.now;
  }

  /** What the source has done so far. */
  stats(): PriceSourceStats {
    return { ...this.counters };
  }

  /** {@link CachedPriceSource.get} as a {@link PriceSource} (so caches can be stacked). */
  getPrice(req: PriceRequest): Promise<PriceQuote> {
    return this.get(req);
  }

  /**
   * The price of a product: fresh from the cache, else from the upstream (coalesced, rate-limited, behind the
   * breaker, within the timeout), else the newest cached quote marked as a fallback (and `stale` when older than
   * the bound).
   * @throws {PriceUnavailableError} when the upstream cannot answer and nothing is cached
   * @throws {InvalidParameterError} for a request without string productId and merchant
   */
  async get(req: PriceRequest): Promise<PriceAnswer> {
    if (req === null || typeof req !== 'object') throw new InvalidParameterError('request', 'an object { productId, merchant, location? }', req);
    for (const f of ['productId', 'merchant'] as const) {
      if (typeof req[f] !== 'string' || req[f].length === 0 || req[f].length > 256) throw new InvalidParameterError(f, 'a string of 1–256 characters', req[f]);
    }
    if (req.location !== undefined && (typeof req.location !== 'string' || req.location.length > 256)) throw new InvalidParameterError('location', 'a string of at most 256 characters', req.location);
    const key = keyOf(req);
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit) {
      // LRU: move to the end
      this.cache.delete(key);
      this.cache.set(key, hit);
      const age = now - hit.fetchedAt;
      if (age < this.refreshAfterMs) return this.answer(hit, now, 'cache');
      if (age < this.maxStalenessMs) {
        // stale-while-revalidate: serve now, refresh behind the caller (errors are counted, not thrown)
        this.fetch(req, key).catch(() => {});
        return this.answer(hit, now, 'cache');
      }
    }
    try {
      const e = await this.fetch(req, key);
      return this.answer(e, this.now(), 'upstream');
    } catch (err) {
      if (hit) return this.answer(hit, this.now(), 'fallback', err instanceof PriceUnavailableError ? err.reason : (err as Error).message);
      throw err;
    }
  }

  private answer(e: Entry, now: number, source: PriceAnswer['source'], reason?: string): PriceAnswer {
    const stalenessMs = Math.max(0, now - e.fetchedAt);
    const stale = stalenessMs >= this.maxStalenessMs;
    const c = this.counters;
    c.answers++;
    if (source === 'cache') c.fromCache++;
    else if (source === 'upstream') c.fromUpstream++;
    else c.fallbacks++;
    if (stale) c.staleServed++;
    return { ...e.quote, fetchedAt: e.fetchedAt, stalenessMs, stale, source, ...(reason !== undefined ? { reason } : {}) };
  }

  private merchant(m: string): MerchantState {
    let s = this.merchants.get(m);
    if (!s) { s = { tokens: this.burst, refilledAt: this.now(), pausedUntil: 0, failures: 0, openUntil: 0, halfOpenBusy: false }; this.merchants.set(m, s); }
    return s;
  }

  /** One upstream call per key at a time; the gates (pause, breaker, tokens) are checked before calling. */
  private fetch(req: PriceRequest, key: string): Promise<Entry> {
    const running = this.inflight.get(key);
    if (running) { this.counters.coalesced++; return running; }
    const p = this.call(req).finally(() => { this.inflight.delete(key); });
    this.inflight.set(key, p);
    return p;
  }

  private async call(req: PriceRequest): Promise<Entry> {
    const m = this.merchant(req.merchant);
    const now = this.now();
    if (now < m.pausedUntil) { this.counters.rateLimited++; throw new PriceUnavailableError(req, 'rate-limited', `the merchant asked to wait ${m.pausedUntil - now} ms more`, m.pausedUntil - now); }
    let trial = false;
    if (m.failures >= this.breakFailures) {
      if (now < m.openUntil || m.halfOpenBusy) { this.counters.circuitOpen++; throw new PriceUnavailableError(req, 'circuit-open', `${m.failures} consecutive failures; next trial in ${Math.max(0, m.openUntil - now)} ms`); }
      trial = true; // half-open: this one call decides
      m.halfOpenBusy = true;
    }
    m.tokens = Math.min(this.burst, m.tokens + ((now - m.refilledAt) / 1000) * this.perSecond);
    m.refilledAt = now;
    if (m.tokens < 1) {
      if (trial) m.halfOpenBusy = false;
      this.counters.rateLimited++;
      throw new PriceUnavailableError(req, 'rate-limited', `over ${this.perSecond} calls/s to this merchant`);
    }
    m.tokens -= 1;
    const upstream = this.upstreamOf(req.merchant);
    if (!upstream) { if (trial) m.halfOpenBusy = false; throw new PriceUnavailableError(req, 'not-found', 'no upstream for this merchant'); }
    this.counters.upstreamCalls++;
    // a quote is dated when it was asked for, not when the answer arrived: the merchant's price may be from any
    // moment of the call, so the age said (stalenessMs) is an upper bound, never an understatement
    const askedAt = this.now();
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    try {
      const quote = await Promise.race([
        upstream.getPrice(req, { signal: ac.signal }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => { ac.abort(); reject(new PriceUnavailableError(req, 'timeout', `no answer within ${this.upstreamTimeoutMs} ms`)); }, this.upstreamTimeoutMs);
        }),
      ]);
      const q = checkQuote(quote, req);
      const entry: Entry = { quote: { productId: req.productId, merchant: req.merchant, location: req.location ?? 'default', price: q.price, currency: q.currency, available: q.available }, fetchedAt: askedAt };
      this.cache.set(keyOf(req), entry);
      if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
      m.failures = 0;
      return entry;
    } catch (e) {
      const err = e instanceof PriceUnavailableError ? e : new PriceUnavailableError(req, 'upstream-error', (e as Error)?.message ?? String(e), undefined, { cause: e });
      if (err.reason === 'rate-limited') {
        // the merchant said slow down: pause it (Retry-After, else one second); not a breaker failure
        m.pausedUntil = this.now() + (err.retryAfterMs ?? 1000);
        this.counters.rateLimited++;
      } else if (err.reason !== 'not-found') {
        this.counters.failures++;
        m.failures++;
        if (m.failures >= this.breakFailures) m.openUntil = this.now() + this.openMs;
      }
      throw err;
    } finally {
      clearTimeout(timer);
      if (trial) m.halfOpenBusy = false;
    }
  }
}
