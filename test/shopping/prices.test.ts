/**
 * The price path against a merchant API started on 127.0.0.1 by the test: it can be slow, answer 429 with
 * Retry-After, fail with 500, or return a bad body. Time is a manual clock for the cache, real for timeouts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CachedPriceSource, InMemoryPriceSource, PriceUnavailableError, httpPriceUpstream } from '../../src/shopping/index.js';
import { InvalidParameterError } from '../../src/core/errors.js';

type Mode = 'ok' | 'slow' | '429' | '500' | 'bad' | 'nan';
const merchant = { mode: 'ok' as Mode, calls: 0, delayMs: 0, price: 10 };
let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    merchant.calls++;
    const u = new URL(req.url ?? '/', 'http://x');
    const send = () => {
      if (merchant.mode === '429') { res.writeHead(429, { 'retry-after': '2' }); res.end(); return; }
      if (merchant.mode === '500') { res.writeHead(500); res.end('boom'); return; }
      if (merchant.mode === 'bad') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"price": "cheap"'); return; }
      if (merchant.mode === 'nan') { res.writeHead(200); res.end(JSON.stringify({ price: -1, currency: 'USD', available: true })); return; }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ price: merchant.price + (u.searchParams.get('product')?.length ?? 0) / 100, currency: 'USD', available: true }));
    };
    if (merchant.mode === 'slow' || merchant.delayMs > 0) setTimeout(send, merchant.mode === 'slow' ? 1000 : merchant.delayMs);
    else send();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => { server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); });
beforeEach(() => { merchant.mode = 'ok'; merchant.calls = 0; merchant.delayMs = 0; merchant.price = 10; });

function source(o: Partial<ConstructorParameters<typeof CachedPriceSource>[0]> = {}) {
  const clock = { t: 1_000_000 };
  const s = new CachedPriceSource({ upstream: httpPriceUpstream({ baseUrl: base }), now: () => clock.t, upstreamTimeoutMs: 150, ...o });
  return { s, clock };
}
const req = (p = 'p1') => ({ productId: p, merchant: 'acme' });

describe('CachedPriceSource over a local merchant API', () => {
  it('answers from the upstream, then from the cache, saying how old each price is', async () => {
    const { s, clock } = source();
    const a = await s.get(req());
    expect(a).toMatchObject({ price: 10.02, currency: 'USD', available: true, source: 'upstream', stalenessMs: 0, stale: false });
    clock.t += 60_000;
    const b = await s.get(req());
    expect(b).toMatchObject({ price: 10.02, source: 'cache', stalenessMs: 60_000, stale: false });
    expect(merchant.calls).toBe(1);
  });
  it('coalesces: 100 concurrent asks for one product make one upstream call', async () => {
    const { s } = source();
    merchant.delayMs = 30;
    const all = await Promise.all(Array.from({ length: 100 }, () => s.get(req())));
    expect(merchant.calls).toBe(1);
    expect(all.every((a) => a.price === 10.02)).toBe(true);
    expect(s.stats().coalesced).toBe(99);
  });
  it('stale-while-revalidate: past refreshAfterMs the cached price is served at once and refreshed behind', async () => {
    const { s, clock } = source({ maxStalenessMs: 300_000 });
    await s.get(req());
    merchant.price = 12;
    clock.t += 200_000; // past the default refresh point (150 s), within the bound
    const a = await s.get(req());
    expect(a).toMatchObject({ price: 10.02, source: 'cache', stalenessMs: 200_000, stale: false });
    await new Promise((r) => setTimeout(r, 100)); // the background refresh lands
    expect(merchant.calls).toBe(2);
    expect(await s.get(req())).toMatchObject({ price: 12.02, source: 'cache', stalenessMs: 0 });
  });
  it('never serves a price older than the bound without saying so: a slow merchant times out and the old price is marked stale', async () => {
    const { s, clock } = source({ maxStalenessMs: 300_000 });
    await s.get(req());
    clock.t += 400_000;
    merchant.mode = 'slow';
    const t0 = performance.now();
    const a = await s.get(req());
    expect(performance.now() - t0).toBeLessThan(900); // the 150 ms timeout, not the merchant's second
    expect(a).toMatchObject({ price: 10.02, source: 'fallback', stale: true, stalenessMs: 400_000, reason: 'timeout' });
    // nothing cached: a typed error naming the reason
    await expect(s.get(req('p2'))).rejects.toMatchObject({ name: 'PriceUnavailableError', reason: 'timeout', merchant: 'acme', productId: 'p2' });
  });
  it('a 429 pauses the merchant for its Retry-After: no calls until then', async () => {
    const { s, clock } = source();
    merchant.mode = '429';
    await expect(s.get(req('a'))).rejects.toMatchObject({ reason: 'rate-limited', retryAfterMs: 2000 });
    const before = merchant.calls;
    for (const p of ['b', 'c', 'd']) await expect(s.get(req(p))).rejects.toMatchObject({ reason: 'rate-limited' });
    expect(merchant.calls).toBe(before);
    merchant.mode = 'ok';
    clock.t += 2_001;
    expect((await s.get(req('e'))).source).toBe('upstream');
  });
  it('the circuit opens after consecutive failures, then lets one trial through after openMs', async () => {
    const { s, clock } = source({ breaker: { failures: 3, openMs: 5_000 } });
    merchant.mode = '500';
    for (let i = 0; i < 3; i++) await expect(s.get(req(`f${i}`))).rejects.toMatchObject({ reason: 'upstream-error' });
    const calls = merchant.calls;
    await expect(s.get(req('g'))).rejects.toMatchObject({ reason: 'circuit-open' });
    expect(merchant.calls).toBe(calls);
    clock.t += 5_001;
    merchant.mode = 'ok';
    expect((await s.get(req('h'))).source).toBe('upstream'); // the trial succeeds: closed again
    expect((await s.get(req('i'))).source).toBe('upstream');
  });
  it('a burst of distinct products: upstream calls bounded by the token bucket', async () => {
    const { s, clock } = source({ rateLimit: { perSecond: 10, burst: 10 } });
    const res = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => s.get(req(`q${i}`))));
    expect(merchant.calls).toBe(10);
    expect(res.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    const rejected = res.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected.every((r) => r.reason instanceof PriceUnavailableError && r.reason.reason === 'rate-limited')).toBe(true);
    clock.t += 500; // half a second refills 5 tokens
    const more = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => s.get(req(`r${i}`))));
    expect(more.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(merchant.calls).toBe(15);
  });
  it('bad upstream bodies are typed errors, never a NaN or negative price', async () => {
    const { s } = source();
    merchant.mode = 'bad';
    await expect(s.get(req('x'))).rejects.toMatchObject({ reason: 'bad-response' });
    merchant.mode = 'nan';
    await expect(s.get(req('y'))).rejects.toThrow(/price must be a finite number in \[0, 1e12\] \(got -1\)/);
  });
  it('refuses bad requests and options by name', async () => {
    const { s } = source();
    await expect(s.get({ productId: '', merchant: 'm' })).rejects.toThrow(InvalidParameterError);
    await expect(s.get({ productId: 'p', merchant: 7 as never })).rejects.toThrow(/merchant/);
    expect(() => new CachedPriceSource({ upstream: {} as never })).toThrow(/upstream/);
    expect(() => new CachedPriceSource({ upstream: new InMemoryPriceSource(), rateLimit: { perSecond: 0 } })).toThrow(/rateLimit.perSecond/);
    expect(() => httpPriceUpstream({ baseUrl: 'ftp://x' })).toThrow(/baseUrl/);
  });
});

describe('InMemoryPriceSource', () => {
  it('answers what it holds, and not-found otherwise', async () => {
    const m = new InMemoryPriceSource([{ productId: 'p', merchant: 'm', location: 'default', price: 5, currency: 'EUR', available: false }]);
    expect(await m.getPrice({ productId: 'p', merchant: 'm' })).toMatchObject({ price: 5, available: false });
    await expect(m.getPrice({ productId: 'q', merchant: 'm' })).rejects.toMatchObject({ reason: 'not-found' });
    expect(() => m.set({ productId: 'z', merchant: 'm', location: 'default', price: NaN, currency: 'EUR', available: true })).toThrow(/price/);
  });
});

describe('CachedPriceSource staleness is an upper bound', () => {
  it('dates a quote when it was asked for, so a slow answer is not reported fresher than it may be', async () => {
    let t = 1_000;
    const slow = { getPrice: async (req: { productId: string; merchant: string }) => { t += 150; return { productId: req.productId, merchant: req.merchant, location: 'default', price: 3, currency: 'USD', available: true }; } };
    const prices = new CachedPriceSource({ upstream: slow, maxStalenessMs: 1_000, upstreamTimeoutMs: 10_000, now: () => t });
    const first = await prices.get({ productId: 'p', merchant: 'm' });
    expect(first.fetchedAt).toBe(1_000);
    expect(first.stalenessMs).toBe(150); // the merchant's price may be from the start of the call
    t = 1_000 + 1_000; // exactly the bound after the ask: stale, though only 850 ms after the answer arrived
    const later = await prices.get({ productId: 'p', merchant: 'm' });
    expect(later.source).toBe('upstream'); // past the bound: asked again
    expect(later.fetchedAt).toBe(2_000);
  });
});
