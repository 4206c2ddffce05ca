/**
 * The feed service of examples/feed-service, wired to the real library classes (SvdRecommender, HnswIndex,
 * FeedGenerator, VisualSearch, Ingestor, MemoryFeedStore) and driven through Fastify's inject: the feed and
 * what events change in it, validation of every route, degradation when the store is away, a hanging
 * source, hot swaps under concurrent requests, a corrupt bundle, a refit with events arriving meanwhile.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/images/index.js';
import { Ingestor } from '../../src/ingest/index.js';
import { MemoryFeedStore, StoreUnavailableError, type FeedEvent, type FeedStore } from '../../src/store/index.js';
import { buildSyntheticBundle, loadBundle, saveBundle, type Bundle } from '../../examples/feed-service/src/bundle.js';
import { createFeedService, type FeedService } from '../../examples/feed-service/src/service.js';
import { Admission, Semaphore } from '../../examples/feed-service/src/overload.js';

/** Functional tests do not depend on the machine's speed: the lag-based overload modes are off (tested below). */
const CALM = { cheapLagMs: 1e9, shedLagMs: 1e9 };

/** A store that can be switched off: every call rejects with StoreUnavailableError while `down`. */
class SwitchableStore implements FeedStore {
  down = false;
  constructor(private readonly inner: FeedStore) {}
  private gate<T>(f: () => Promise<T>): Promise<T> {
    return this.down ? Promise.reject(new StoreUnavailableError('switched off')) : f();
  }
  applyEvents(e: readonly FeedEvent[]) { return this.gate(() => this.inner.applyEvents(e)); }
  seen(u: string) { return this.gate(() => this.inner.seen(u)); }
  recent(u: string, n: number) { return this.gate(() => this.inner.recent(u, n)); }
  trending(c: string | null, n: number, now?: number) { return this.gate(() => this.inner.trending(c, n, now)); }
  appliedCount() { return this.inner.appliedCount(); }
  close() { return this.inner.close(); }
}

/** A deterministic stand-in for the CNN: the image's mean colour per 8×8 block, in the visual index's dimension. */
function colourEmbedder(dim: number) {
  return {
    dim,
    async embed(bytes: Buffer): Promise<Float32Array> {
      const { data } = await sharp(bytes).resize(8, 8, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const v = new Float32Array(dim);
      for (let i = 0; i < data.length; i++) v[i % dim] += data[i] / 255 - 0.5;
      return v;
    },
  };
}

let bundle: Bundle;
let dir: string;
beforeAll(() => {
  bundle = buildSyntheticBundle({ pins: 3000, seed: 3 });
  dir = mkdtempSync(path.join(tmpdir(), 'pinrec-service-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function json(s: FeedService, method: 'GET' | 'POST', url: string, payload?: unknown, headers?: Record<string, string>) {
  const res = await s.app.inject({ method, url, payload: payload as never, headers });
  let body: any;
  try { body = res.json(); } catch { body = res.body; }
  return { status: res.statusCode, body, headers: res.headers };
}

let seq = 0;
const ev = (type: FeedEvent['type'], user: string, pin: string, extra: Partial<FeedEvent> = {}) => ({ id: `t${++seq}`, type, user, pin, time: Date.now(), ...extra });

describe('feed service: the feed and what events change', () => {
  let s: FeedService;
  beforeAll(async () => { s = await createFeedService({ overload: CALM, bundle, trendingRefreshMs: 30 }); });
  afterAll(() => s.close());

  it('serves a known user a full feed from CF, trending and the caps', async () => {
    const r = await json(s, 'GET', '/feed/u5?limit=30');
    expect(r.status).toBe(200);
    expect(r.body.kind).toBe('full');
    expect(r.body.items.length).toBe(30);
    const cf = r.body.sources.find((x: any) => x.name === 'cf');
    expect(cf.status).toBe('ok');
    expect(r.body.items.some((it: any) => it.sources.includes('cf'))).toBe(true);
    expect(new Set(r.body.items.map((it: any) => it.id)).size).toBe(30);
  });

  it('a cold user gets trending (CF empty, not failed), then CF by fold-in after a few events', async () => {
    const cold = await json(s, 'GET', '/feed/newcomer1');
    expect(cold.status).toBe(200);
    expect(cold.body.items.length).toBeGreaterThan(0);
    expect(cold.body.sources.find((x: any) => x.name === 'cf').status).toBe('empty');
    const pins = bundle.pins.ids.slice(0, 3);
    const post = await json(s, 'POST', '/events', { events: pins.map((p) => ev('repin', 'newcomer1', p)) });
    expect(post.status).toBe(202);
    const warm = await json(s, 'GET', '/feed/newcomer1');
    expect(warm.body.sources.find((x: any) => x.name === 'cf').status).toBe('ok');
    expect(warm.body.sources.find((x: any) => x.name === 'visual').status).toBe('ok'); // recent engagements seed it
    for (const p of pins) expect(warm.body.items.map((it: any) => it.id)).not.toContain(p); // saved: not shown again
  });

  it('a repinned pin is not shown again; trending counters move', async () => {
    const before = await json(s, 'GET', '/feed/u7');
    const shown = before.body.items[0].id as string;
    await json(s, 'POST', '/events', { events: [ev('repin', 'u7', shown)] });
    const after = await json(s, 'GET', '/feed/u7');
    expect(after.body.items.map((it: any) => it.id)).not.toContain(shown);
    // many users repin one pin: it becomes the global trending top and reaches a cold user's feed
    const hot = bundle.pins.ids[2500];
    await json(s, 'POST', '/events', { events: Array.from({ length: 40 }, (_, i) => ev('repin', `fan${i}`, hot)) });
    await new Promise((r) => setTimeout(r, 120)); // a trending refresh
    const cold = await json(s, 'GET', '/feed/stranger9');
    expect(cold.body.items.map((it: any) => it.id)).toContain(hot);
  });

  it('applies each event id once, however often it is sent', async () => {
    const a = await s.store.appliedCount();
    const batch = [ev('click', 'u9', bundle.pins.ids[10]), ev('closeup', 'u9', bundle.pins.ids[11])];
    const r1 = await json(s, 'POST', '/events', { events: batch });
    const r2 = await json(s, 'POST', '/events', { events: batch });
    expect(r1.body).toMatchObject({ accepted: 2, duplicates: 0 });
    expect(r2.body).toMatchObject({ accepted: 0, duplicates: 2 });
    expect(await s.store.appliedCount()).toBe(a + 2);
  });

  it('similar and search by pin', async () => {
    const pin = bundle.pins.ids[42];
    const sim = await json(s, 'GET', `/similar/${pin}?k=5`);
    expect(sim.status).toBe(200);
    expect(sim.body.items.length).toBe(5);
    expect(sim.body.items.map((x: any) => x.id)).not.toContain(pin);
    const cat = bundle.pins.one(pin)!.category;
    expect(sim.body.items.filter((x: any) => x.category === cat).length).toBeGreaterThanOrEqual(3); // embeddings cluster by category
    const search = await json(s, 'POST', '/search?k=5', { pin });
    expect(search.status).toBe(200);
    expect(search.body.items.map((x: any) => x.id)).toEqual(sim.body.items.map((x: any) => x.id));
  });

  it('health and Prometheus metrics', async () => {
    const h = await json(s, 'GET', '/health');
    expect(h.body).toMatchObject({ status: 'ok', model: { version: 1 } });
    const m = await s.app.inject({ method: 'GET', url: '/metrics' });
    expect(m.headers['content-type']).toMatch(/text\/plain/);
    for (const name of ['pinrec_http_requests_total', 'pinrec_http_request_duration_seconds_bucket', 'pinrec_feed_answers_total{kind="full"}',
      'pinrec_feed_source_outcomes_total{source="cf",status="ok"}', 'pinrec_queue_depth{queue="feed_waiting"}', 'pinrec_model_version 1', 'pinrec_events_total{outcome="accepted"}']) {
      expect(m.body).toContain(name);
    }
  });
});

describe('feed service: every bad request is a 4xx naming the field', () => {
  let s: FeedService;
  beforeAll(async () => { s = await createFeedService({ overload: CALM, bundle, imageLimits: { maxBytes: 200_000, maxPixels: 1_000_000 } }); });
  afterAll(() => s.close());

  const cases: [string, 'GET' | 'POST', string, unknown, Record<string, string> | undefined, number, string][] = [
    ['bad user id', 'GET', '/feed/a%20b', undefined, undefined, 400, 'user'],
    ['user id too long', 'GET', `/feed/${'x'.repeat(150)}`, undefined, undefined, 400, 'user'],
    ['limit 0', 'GET', '/feed/u1?limit=0', undefined, undefined, 400, 'limit'],
    ['limit not a number', 'GET', '/feed/u1?limit=ten', undefined, undefined, 400, 'limit'],
    ['limit too large', 'GET', '/feed/u1?limit=100000', undefined, undefined, 400, 'limit'],
    ['unknown pin', 'GET', '/similar/nope-pin', undefined, undefined, 404, 'pin'],
    ['events not an array', 'POST', '/events', { events: 'x' }, undefined, 400, 'events'],
    ['no events', 'POST', '/events', { events: [] }, undefined, 400, 'events'],
    ['event type unknown', 'POST', '/events', { events: [{ id: 'e1', type: 'like', user: 'u1', pin: 'p1' }] }, undefined, 400, 'events[0].type'],
    ['event without user', 'POST', '/events', { events: [{ id: 'e1', type: 'repin', pin: 'p1' }] }, undefined, 400, 'events[0].user'],
    ['event with a bad time', 'POST', '/events', { events: [{ id: 'e1', type: 'repin', user: 'u', pin: 'p1', time: 'now' }] }, undefined, 400, 'events[0].time'],
    ['event from the far future', 'POST', '/events', { events: [{ id: 'e1', type: 'repin', user: 'u', pin: 'p1', time: 1e17 }] }, undefined, 400, 'events[0].time'],
    ['event __proto__ body', 'POST', '/events', '{"events":[{"__proto__":{"x":1},"id":"e","type":"repin","user":"u","pin":"p1"}]}', { 'content-type': 'application/json' }, 400, 'body'],
    ['broken JSON', 'POST', '/events', '{"events": [', { 'content-type': 'application/json' }, 400, 'body'],
    ['wrong content type', 'POST', '/events', 'hello', { 'content-type': 'text/plain' }, 415, 'content-type'],
    ['too many events', 'POST', '/events', { events: Array.from({ length: 1001 }, (_, i) => ({ id: `e${i}`, type: 'view', user: 'u', pin: 'p' })) }, undefined, 400, 'events'],
    ['search without pin or image', 'POST', '/search', { q: 1 }, undefined, 400, 'pin'],
    ['search by a pin without embedding', 'POST', '/search', { pin: 'zzz' }, undefined, 404, 'pin'],
    ['image search without an embedder', 'POST', '/search', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]), { 'content-type': 'image/jpeg' }, 503, 'image'],
    ['ingest without an ingestor', 'POST', '/pins', Buffer.from([0x89, 0x50]), { 'content-type': 'image/png' }, 503, 'image'],
    ['upload over the byte limit', 'POST', '/pins', Buffer.alloc(300_000, 1), { 'content-type': 'image/png' }, 413, 'body'],
    ['unknown route', 'GET', '/nope', undefined, undefined, 404, 'url'],
    ['swap to a missing bundle', 'POST', '/admin/swap', { dir: '/nonexistent/bundle' }, undefined, 422, 'dir'],
    ['fault with an unknown source', 'POST', '/admin/fault', { hang: 'ads' }, undefined, 400, 'hang'],
  ];
  for (const [name, method, url, payload, headers, status, field] of cases) {
    it(name, async () => {
      const r = await json(s, method, url, payload, headers);
      expect(r.status, JSON.stringify(r.body)).toBe(status);
      expect(r.body.field).toBe(field);
      expect(typeof r.body.error).toBe('string');
    });
  }
  it('nothing above was a 500, and the service still serves', async () => {
    expect(s.stats().failedRequests).toBe(0);
    expect((await json(s, 'GET', '/feed/u1')).status).toBe(200);
  });
});

describe('feed service: uploads through the real ingest path', () => {
  let s: FeedService;
  beforeAll(async () => {
    const embedder = colourEmbedder(bundle.visualIndex.dim);
    const ingestor = new Ingestor({ store: new MemoryStore(), embedder, index: bundle.visualIndex, concurrency: 1 });
    s = await createFeedService({ overload: CALM, bundle, embedder, ingestor, imageLimits: { maxBytes: 2_000_000, maxPixels: 4_000_000 } });
  });
  afterAll(() => s.close());

  it('POST /pins ingests an image; it is searchable at once; a repeat upload is the same pin', async () => {
    const img = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 40, b: 90 } } }).jpeg().toBuffer();
    const r = await json(s, 'POST', '/pins?category=c1&user=u3', img, { 'content-type': 'image/jpeg' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.indexed).toBe(true);
    const again = await json(s, 'POST', '/pins?category=c1', img, { 'content-type': 'image/jpeg' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(r.body.id);
    const found = await json(s, 'POST', '/search?k=3', img, { 'content-type': 'image/jpeg' });
    expect(found.status).toBe(200);
    expect(found.body.items[0].id).toBe(r.body.id);
    const sim = await json(s, 'GET', `/similar/${r.body.id}`);
    expect(sim.status).toBe(200);
  });

  it('a header claiming too many pixels is refused before decoding', async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#fff' } }).png().toBuffer();
    png.writeUInt32BE(30_000, 16); // IHDR width
    png.writeUInt32BE(30_000, 20); // IHDR height
    const r = await json(s, 'POST', '/search', png, { 'content-type': 'image/png' });
    expect(r.status).toBe(413);
    expect(r.body.field).toBe('image');
  });

  it('bytes that are not an image are a 4xx', async () => {
    const r = await json(s, 'POST', '/search', Buffer.from('definitely not a jpeg'), { 'content-type': 'image/jpeg' });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.body.field).toBe('image');
  });
});

describe('feed service: faults', () => {
  it('a store outage degrades the feed (no seen filter, global trending), keeps events, and loses none', async () => {
    const store = new SwitchableStore(new MemoryFeedStore());
    const s = await createFeedService({ overload: CALM, bundle, store, trendingRefreshMs: 20 });
    try {
      await json(s, 'POST', '/events', { events: [ev('repin', 'u3', bundle.pins.ids[0])] });
      store.down = true;
      await new Promise((r) => setTimeout(r, 60));
      const f = await json(s, 'GET', '/feed/u3');
      expect(f.status).toBe(200);
      expect(f.body.kind).toBe('degraded');
      expect(f.body.degraded).toEqual(expect.arrayContaining(['store', 'trending-stale']));
      expect(f.body.items.length).toBeGreaterThan(0);
      const during = Array.from({ length: 30 }, (_, i) => ev('click', `u${i}`, bundle.pins.ids[100 + i]));
      const r = await json(s, 'POST', '/events', { events: during });
      expect(r.status).toBe(202);
      expect(r.body).toMatchObject({ accepted: 30, pending: true });
      expect(s.stats().pendingEvents).toBe(30);
      expect((await json(s, 'GET', '/health')).body.status).toBe('degraded');
      store.down = false;
      await s.flushPending();
      expect(s.stats().pendingEvents).toBe(0);
      expect(await store.appliedCount()).toBe(s.stats().eventsAccepted); // every accepted event, once
      await new Promise((r) => setTimeout(r, 60));
      expect((await json(s, 'GET', '/feed/u3')).body.kind).toBe('full');
    } finally {
      await s.close();
    }
  });

  it('a hanging source is cut off by its budget; the feed is served from the others', async () => {
    const s = await createFeedService({ overload: CALM, bundle, sourceTimeoutMs: 25 });
    try {
      expect((await json(s, 'POST', '/admin/fault', { hang: 'cf' })).status).toBe(200);
      const t0 = performance.now();
      const f = await json(s, 'GET', '/feed/u4');
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(f.status).toBe(200);
      expect(f.body.sources.find((x: any) => x.name === 'cf').status).toBe('timeout');
      expect(f.body.degraded).toContain('source:cf:timeout');
      expect(f.body.items.length).toBeGreaterThan(0);
      await json(s, 'POST', '/admin/fault', { hang: null });
      expect((await json(s, 'GET', '/feed/u4')).body.kind).toBe('full');
    } finally {
      await s.close();
    }
  });

  it('hot swap under concurrent requests: none fails; a corrupt bundle is rejected and the old one serves', async () => {
    const good = path.join(dir, 'good');
    await saveBundle(buildSyntheticBundle({ pins: 3000, seed: 4 }), good);
    const s = await createFeedService({ overload: CALM, bundle });
    try {
      const reqs = Array.from({ length: 120 }, (_, i) => json(s, 'GET', `/feed/u${i % 50}`));
      const swapped = json(s, 'POST', '/admin/swap', { dir: good });
      const more = Array.from({ length: 120 }, (_, i) => json(s, 'GET', `/feed/u${i % 50}`));
      const all = await Promise.all([...reqs, swapped, ...more]);
      expect(all.filter((r) => r.status !== 200)).toEqual([]);
      expect((await json(s, 'GET', '/health')).body.model.version).toBe(2);

      const bad = path.join(dir, 'bad');
      await saveBundle(bundle, bad);
      const f = path.join(bad, 'model.pinrec');
      const bytes = readFileSync(f);
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      writeFileSync(f, bytes);
      await expect(loadBundle(bad)).rejects.toThrow();
      const r = await json(s, 'POST', '/admin/swap', { dir: bad });
      expect(r.status).toBe(422);
      expect(r.body.field).toBe('dir');
      expect((await json(s, 'GET', '/health')).body.model.version).toBe(2);
      expect((await json(s, 'GET', '/feed/u1')).status).toBe(200);
      expect(s.stats().failedRequests).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('refit in a worker: events that arrive meanwhile are replayed onto the new model', async () => {
    const small = buildSyntheticBundle({ pins: 1500, seed: 5 });
    const s = await createFeedService({ overload: CALM, bundle: small, refitModel: { factors: 16, order: 'off' } });
    try {
      const running = s.refit();
      const during = Array.from({ length: 20 }, (_, i) => ev('repin', `late${i}`, small.pins.ids[i]));
      expect((await json(s, 'POST', '/events', { events: during })).status).toBe(202);
      const feedsDuring = await Promise.all(Array.from({ length: 20 }, (_, i) => json(s, 'GET', `/feed/u${i}`)));
      expect(feedsDuring.every((r) => r.status === 200)).toBe(true);
      const r = await running;
      expect(r.version).toBe(2);
      expect(r.replayed).toBe(20);
      const f = await json(s, 'GET', '/feed/late3');
      expect(f.body.sources.find((x: any) => x.name === 'cf').status).toBe('ok'); // the new model knows the late user
    } finally {
      await s.close();
    }
  });
});

describe('overload control', () => {
  it('past the concurrency limit requests queue; past the queue they get the cheap feed; a late one too', async () => {
    const a = new Admission({ maxConcurrent: 1, maxQueue: 1, maxWaitMs: 20, cheapLagMs: 1e9, shedLagMs: 1e9 });
    try {
      expect(a.acquire()).toBe('full');
      const queued = a.acquire() as Promise<string>;
      expect(a.acquire()).toBe('cheap');
      a.release();
      expect(await queued).toBe('full');
      const late = a.acquire() as Promise<string>;
      await new Promise((r) => setTimeout(r, 40));
      a.release();
      expect(await late).toBe('cheap');
    } finally {
      a.close();
    }
  });

  it('a late event loop turns new requests to the cheap feed, then sheds them', async () => {
    const a = new Admission({ cheapLagMs: 30, shedLagMs: 200, sampleMs: 5 });
    try {
      await new Promise((r) => setTimeout(r, 20));
      expect(a.acquire()).toBe('full');
      a.release();
      const until = performance.now() + 300;
      while (performance.now() < until) { /* hold the loop */ }
      expect(a.enter()).toBe(false);
      expect(a.acquire()).toBe('cheap');
    } finally {
      a.close();
    }
  });

  it('the image-work semaphore holds `limit`, queues `queue`, and refuses the rest at once', async () => {
    const sem = new Semaphore(1, 1);
    expect(sem.acquire()).toBe(true);
    const waiting = sem.acquire() as Promise<boolean>;
    expect(sem.acquire()).toBe(false);
    sem.release();
    expect(await waiting).toBe(true);
    expect(sem.active).toBe(1);
    sem.release();
    expect(sem.active).toBe(0);
  });
});
