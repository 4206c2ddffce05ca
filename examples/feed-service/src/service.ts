/**
 * The feed service: Fastify over pinrec. One process holds a {@link Bundle} (CF model, CF and visual
 * indexes, pin table) and a {@link FeedStore} (seen pins, recent engagements, trending counters), and serves
 *
 *   GET  /feed/:user      the home feed: CF (two-stage), visual neighbours of recent engagements, trending
 *                         per category; re-ranked by the blend, diversity caps; degraded feeds say why
 *   GET  /similar/:pin    visual neighbours of a pin (CF neighbours when it has no embedding)
 *   POST /search          an image upload (image/jpeg|png|webp|gif|avif) or JSON { pin } → visual search
 *   POST /pins            an image upload → ingest (renditions, analysis, embedding, index), needs an ingestor
 *   POST /events          { events: [{ id, type, user, pin, category?, time? }] } → store + model, exactly once
 *   GET  /health          model version, store state, pending events, loop lag
 *   GET  /metrics         Prometheus text
 *   POST /admin/swap      { dir } load a bundle and swap it in (a bad bundle is rejected; the old one serves)
 *   POST /admin/refit     refit the model in a worker thread on everything seen so far, rebuild the CF index, swap
 *   GET  /admin/stats     counters, events applied by the store, memory
 *   POST /admin/fault     { hang: 'cf' | 'visual' | 'trending' | null } make a source hang (fault tests)
 *
 * Nothing a client sends reaches the library unchecked: ids match {@link ID_PATTERN}, sizes are bounded, images
 * are probed against byte and pixel limits before decoding; every refusal is a 4xx with `{ error, field }`.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { fitInWorker, type SvdRecommenderOptions } from '../../../src/cf/index.js';
import { ImageDecodeError, InvalidParameterError, PinrecError, UnknownIdError } from '../../../src/core/errors.js';
import type { Candidate, CandidateSource, Embedder, PinMetadata, SourceContext } from '../../../src/core/interfaces.js';
import { openImage, type ImageLimits } from '../../../src/images/index.js';
import type { Ingestor } from '../../../src/ingest/index.js';
import { CfCandidateSource, FeedGenerator, VisualNeighborsSource, VisualSearch, type FeedResult } from '../../../src/ranking/index.js';
import { tagProducts, type TagOptions } from '../../../src/shopping/index.js';
import { FEED_EVENT_TYPES, MAX_EVENT_TIME, MemoryFeedStore, StoreUnavailableError, type FeedEvent, type FeedStore, type TrendingPin } from '../../../src/store/index.js';
import { type Bundle, buildCfIndexAsync, loadBundle } from './bundle.js';
import { Counter, Gauge, Histogram, Registry } from './metrics.js';
import { Admission, Semaphore, type AdmissionOptions } from './overload.js';

/** Ids the service accepts for users, pins, events and categories. */
export const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/** Options of {@link createFeedService}. */
export interface FeedServiceOptions {
  bundle: Bundle;
  /** @default a new MemoryFeedStore */
  store?: FeedStore;
  /** Turns uploaded bytes into an embedding in the visual index's space; without it, image search answers 503. */
  embedder?: Embedder<Buffer>;
  /** The upload → pin pipeline for POST /pins; without it, POST /pins answers 503. */
  ingestor?: Ingestor;
  /**
   * Shop the look for POST /shop (needs `embedder`): the detector (`loadDetector()` of `pinrec/shopping`), the
   * product catalogue, the price source (a `CachedPriceSource`) and how detector classes map to catalogue
   * categories. Over budget — this request would wait behind `lightWhenQueued` image jobs (default 1: every slot
   * busy) or the event loop
   * lagging past the cheap-feed threshold — the detector runs in its light mode, and the answer says so.
   * Without it, POST /shop answers 503.
   */
  shop?: Pick<TagOptions, 'detector' | 'catalog' | 'prices' | 'categoryOf' | 'perObject' | 'minSimilarity' | 'availableOnly'> & { lightWhenQueued?: number; minScore?: number; maxBoxes?: number };
  /** Feed length when the request does not say. @default 50 */
  feedLimit?: number;
  /** Per-source budget, ms. @default 30 */
  sourceTimeoutMs?: number;
  /** Budget of the store reads of one feed (seen, recent), ms. @default 15 */
  storeTimeoutMs?: number;
  /** Candidates the CF index proposes for exact scoring. @default 300 */
  cfCandidates?: number;
  /**
   * Which pins co-occurring with the user's history the CF source scores besides the index's candidates:
   * `true` every one (the CF list then equals `recommend()`'s), a number m the m strongest, `false` none. At
   * 1M synthetic pins (benchmarks/service.ts' catalogue) a user's pins co-occur with ~57,000 pins: `true` costs
   * 30 ms a user and agrees 98.4% with full ranking on the top 50, 300 costs 5.2 ms and agrees 98.2%, `false`
   * costs 2.6 ms and agrees 0.7%. @default 300
   */
  cfCooccurring?: boolean | number;
  /**
   * The CF source scores from at most this many of a user's most recent pins. A heavy user's co-occurrence
   * term costs the rows of all their pins: 2.2 s for 5,562 pins on the 1M synthetic catalogue, against 19 ms
   * for 31. The median user there has 6 pins and the 99th percentile 63, so 100 touches under 1% of users.
   * @default 100
   */
  cfHistory?: number;
  /** Overload control. */
  overload?: AdmissionOptions;
  /** Image limits of uploads. @default { maxBytes: 8 MiB, maxPixels: 40M } */
  imageLimits?: ImageLimits;
  /** Image searches and uploads (they run the CNN) at once, and waiting; past both, 503. @default { concurrent: 2, queue: 16 } */
  imageWork?: { concurrent?: number; queue?: number };
  /** Most events per POST /events. @default 1000 */
  maxEventsPerRequest?: number;
  /** Events kept for retry while the store is away; past it, POST /events answers 503 (nothing accepted). @default 200_000 */
  maxPendingEvents?: number;
  /** Trending refresh period, ms. @default 1000 */
  trendingRefreshMs?: number;
  /** Model options of a refit. @default { factors: the model's factors, order: 'off' } */
  refitModel?: SvdRecommenderOptions;
  /** Refit every this many ms (0: only on POST /admin/refit). @default 0 */
  refitEveryMs?: number;
  /** Enable /admin routes. @default true */
  admin?: boolean;
  /** Fastify logger. @default false */
  logger?: boolean;
  /** Time source for events without a time, ms since epoch. @default Date.now */
  now?: () => number;
}

/** A request's user as the feed sources see it. */
interface FeedUser {
  id: string;
  /** Recent engagements, most recent first (from the store). */
  recent: string[];
  /** Categories of interest, most engaged first. */
  categories: string[];
}

/** A 4xx with the field it is about. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly field: string, message: string) {
    super(message);
  }
}

/** The pipeline built over one bundle; requests capture it at their start, so a swap never mixes two. */
interface Pipeline {
  bundle: Bundle;
  feed: FeedGenerator<FeedUser, string>;
  cheap: FeedGenerator<FeedUser, string>;
  visual: VisualSearch<Buffer, string>;
  version: number;
}

/** Trending lists per category (and global), refreshed from the store; when the store is away the last lists stay and age. */
class TrendingCache {
  private lists = new Map<string, TrendingPin[]>();
  private global: TrendingPin[] = [];
  refreshedAt = 0;
  up = true;
  lastError: string | null = null;
  private timer?: ReturnType<typeof setInterval>;
  private running = false;

  constructor(private readonly store: FeedStore, private categories: () => string[], private readonly perCategory = 50) {}

  start(everyMs: number): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), everyMs);
    this.timer.unref();
  }

  async refresh(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const cats = this.categories();
      const [g, ...per] = await Promise.all([this.store.trending(null, this.perCategory * 2), ...cats.map((c) => this.store.trending(c, this.perCategory))]);
      const lists = new Map<string, TrendingPin[]>();
      cats.forEach((c, i) => lists.set(c, per[i]));
      this.lists = lists;
      this.global = g;
      this.refreshedAt = Date.now();
      this.up = true;
      this.lastError = null;
    } catch (e) {
      this.up = false;
      this.lastError = e instanceof Error ? e.message : String(e);
    } finally {
      this.running = false;
    }
  }

  of(category: string | null): TrendingPin[] {
    return category === null ? this.global : this.lists.get(category) ?? [];
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/**
 * Trending per category: the store's live counters first, then the catalogue's most engaging pins of the
 * category (so a quiet category, a new deployment, or a store outage still has a trending row).
 * `global: true` (the store is away, or the user has no categories yet) uses every category.
 */
class TrendingSource implements CandidateSource<FeedUser, string> {
  readonly name = 'trending';
  private readonly popular = new Map<string, Candidate<string>[]>();
  private readonly popularAll: Candidate<string>[] = [];

  constructor(private readonly bundle: Bundle, private readonly cache: TrendingCache, private readonly perCategory = 20) {
    for (const p of bundle.pins.popular(perCategory)) {
      const c: Candidate<string> = { id: p.id, category: p.category, creator: p.creator, engagements: p.engagements, impressions: p.impressions, quality: p.quality };
      let l = this.popular.get(p.category);
      if (!l) this.popular.set(p.category, (l = []));
      l.push(c);
    }
    // every category's best first, then every category's second...: a cold feed spans the catalogue
    const lists = [...this.popular.values()];
    for (let r = 0; r < perCategory; r++) for (const l of lists) if (r < l.length) this.popularAll.push(l[r]);
  }

  fetch(user: FeedUser, ctx: SourceContext<string>): Candidate<string>[] {
    const out: Candidate<string>[] = [];
    const seen = new Set<string>();
    const push = (c: Candidate<string>) => {
      if (out.length >= ctx.limit || seen.has(c.id) || ctx.exclude.has(c.id)) return;
      seen.add(c.id);
      out.push(c);
    };
    const live = (t: TrendingPin): Candidate<string> => {
      const m = this.bundle.pins.one(t.id);
      return { id: t.id, similarity: undefined, category: m?.category ?? null, creator: m?.creator ?? null, engagements: m?.engagements ?? null, impressions: m?.impressions ?? null, quality: m?.quality ?? null };
    };
    const cats = user.categories.slice(0, 3);
    if (cats.length === 0) {
      const cap = Math.min(ctx.limit, 150);
      for (const t of this.cache.of(null)) { if (out.length >= cap) break; push(live(t)); }
      for (const c of this.popularAll) { if (out.length >= cap) break; push(c); }
      return ranked(out);
    }
    for (const cat of cats) {
      let n = 0;
      for (const t of this.cache.of(cat)) { if (n >= this.perCategory) break; const before = out.length; push(live(t)); n += out.length - before; }
      for (const c of this.popular.get(cat) ?? []) { if (n >= this.perCategory) break; const before = out.length; push(c); n += out.length - before; }
    }
    for (const t of this.cache.of(null)) push(live(t)); // and what everyone is engaging with
    return ranked(out);
  }
}

/** The trending list's own order as its similarity (the feed calibrates by rank): live counters first. */
function ranked(list: Candidate<string>[]): Candidate<string>[] {
  return list.map((c, i) => ({ ...c, similarity: 1 / (1 + i) }));
}

/** A source that can be made to hang (fault injection): the feed's budget must cut it off. */
class Hangable<U> implements CandidateSource<U, string> {
  hang = false;
  readonly name: string;
  readonly timeoutMs?: number;
  constructor(private readonly inner: CandidateSource<U, string>) {
    this.name = inner.name;
    this.timeoutMs = inner.timeoutMs;
  }
  fetch(user: U, ctx: SourceContext<string>) {
    if (this.hang) return new Promise<Candidate<string>[]>(() => {});
    return this.inner.fetch(user, ctx);
  }
}

/** Running service: the Fastify app and its controls. */
export interface FeedService {
  app: FastifyInstance;
  /** Swap in a new bundle (a new pipeline over it, warmed first); requests already running finish on the old one. */
  swap(bundle: Bundle): Promise<void>;
  /** Refit on a snapshot in a worker, rebuild the CF index without blocking, replay the events that came meanwhile, swap. */
  refit(): Promise<{ version: number; replayed: number; seconds: number }>;
  /** Retry the events kept while the store was away; resolves when none is left or the store is still away. */
  flushPending(): Promise<number>;
  /** Counters for tests and reports. */
  stats(): ServiceStats;
  /** The bundle serving now (e.g. for an ingestor that must write into the current visual index). */
  current(): Bundle;
  readonly store: FeedStore;
  close(): Promise<void>;
}

export interface ServiceStats {
  version: number;
  label: string;
  eventsAccepted: number;
  eventsDuplicate: number;
  pendingEvents: number;
  feeds: { full: number; degraded: number; cheap: number; shed: number };
  failedRequests: number;
  swaps: number;
}

const TRAINING_TYPES = new Set(['create', 'repin', 'closeup', 'click']);

/**
 * Build the service (not yet listening: call `service.app.listen({ host: '127.0.0.1', port })`).
 *
 * @example
 * const service = await createFeedService({ bundle: buildSyntheticBundle({ pins: 5000 }) });
 * const res = await service.app.inject({ method: 'GET', url: '/feed/u1' });
 */
export async function createFeedService(options: FeedServiceOptions): Promise<FeedService> {
  const store = options.store ?? new MemoryFeedStore();
  const now = options.now ?? Date.now;
  const feedLimit = options.feedLimit ?? 50;
  const sourceTimeoutMs = options.sourceTimeoutMs ?? 30;
  const storeTimeoutMs = options.storeTimeoutMs ?? 15;
  const cfCandidates = options.cfCandidates ?? 300;
  const maxEvents = options.maxEventsPerRequest ?? 1000;
  const maxPending = options.maxPendingEvents ?? 200_000;
  const imageLimits: ImageLimits = { maxBytes: 8 * 1024 * 1024, maxPixels: 40_000_000, ...options.imageLimits };
  const admission = new Admission(options.overload);
  const imageWork = new Semaphore(options.imageWork?.concurrent ?? 2, options.imageWork?.queue ?? 16);
  const shed = (reply: FastifyReply, what: string) => reply.code(503).header('retry-after', '1').send({ error: `overloaded: ${what} shed, retry later`, field: null, kind: 'shed' });
  /** Run `f` holding an image-work slot, or shed. */
  async function withImageSlot<T>(reply: FastifyReply, what: string, f: () => Promise<T>): Promise<T | FastifyReply> {
    if (!(await imageWork.acquire())) return shed(reply, what);
    try { return await f(); } finally { imageWork.release(); }
  }
  let bundle = options.bundle;
  const trending = new TrendingCache(store, () => bundle.pins.categories);
  trending.start(options.trendingRefreshMs ?? 1000);
  const hangables = new Map<string, Hangable<FeedUser>>();

  // ---------------------------------------------------------------- metrics
  const reg = new Registry();
  const httpRequests = reg.add(new Counter('pinrec_http_requests_total', 'HTTP requests by route and status'));
  const httpSeconds = reg.add(new Histogram('pinrec_http_request_duration_seconds', 'HTTP request latency by route'));
  const feedKinds = reg.add(new Counter('pinrec_feed_answers_total', 'Feeds by kind: full, degraded (full pipeline, something missing), cheap (fallback under load), shed (refused)'));
  const sourceOutcomes = reg.add(new Counter('pinrec_feed_source_outcomes_total', 'Feed sources by outcome'));
  const eventsTotal = reg.add(new Counter('pinrec_events_total', 'Events by outcome: accepted, duplicate, refused'));

  let version = 1;
  let swaps = 0;
  let failedRequests = 0;
  const feeds = { full: 0, degraded: 0, cheap: 0, shed: 0 };
  const counted = { accepted: 0, duplicate: 0 };
  let pending: FeedEvent[] = [];
  let flushing: Promise<number> | null = null;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let journal: { user: string; item: string; type: string; timestamp: number }[] | null = null;
  let refitting: Promise<{ version: number; replayed: number; seconds: number }> | null = null;
  // the model's own exactly-once guard: event ids applied to the model, bounded (oldest forgotten)
  const modelIds = new Set<string>();
  const MODEL_ID_MEMORY = 500_000;

  // users the model does not know yet are folded in from their recent engagements (set for the request's duration)
  const foldIns = new Map<string, { items: string[] }>();

  function makePipeline(b: Bundle): Pipeline {
    const model = b.model;
    const cfModel = {
      tryUserFactors: (u: string) => {
        if (model.hasUser(u)) return model.tryUserFactors(u);
        const f = foldIns.get(u);
        return f ? model.tryUserFactors(f) : undefined;
      },
      recommend: (u: string, o: Parameters<typeof model.recommend>[1]) => (model.hasUser(u) ? model.recommend(u, o) : model.recommend(foldIns.get(u) ?? { items: [] }, o)),
    };
    const wrap = (s: CandidateSource<FeedUser, string>) => {
      const h = new Hangable(s);
      const prev = hangables.get(s.name);
      if (prev) h.hang = prev.hang;
      hangables.set(s.name, h);
      return h;
    };
    const cfById = new CfCandidateSource<string, string>({ model: cfModel, index: b.cfIndex, k: 200, candidates: cfCandidates, cooccurring: options.cfCooccurring ?? 300, history: options.cfHistory ?? 100 });
    const cf = wrap({ name: cfById.name, fetch: (u: FeedUser, ctx: SourceContext<string>) => cfById.fetch(u.id, ctx) });
    const visual = wrap(new VisualNeighborsSource<FeedUser, string>({ recent: (u) => u.recent, index: b.visualIndex, seeds: 5, perSeed: 30 }));
    const trend = new TrendingSource(b, trending);
    const hTrend = wrap(trend);
    return {
      bundle: b,
      feed: new FeedGenerator<FeedUser, string>({ sources: [cf, visual, hTrend], metadata: b.pins, timeoutMs: sourceTimeoutMs, limit: feedLimit, perSourceLimit: 300 }),
      cheap: new FeedGenerator<FeedUser, string>({ sources: [trend], timeoutMs: sourceTimeoutMs, limit: feedLimit }),
      visual: new VisualSearch<Buffer, string>({ embedder: options.embedder ?? { dim: b.visualIndex.dim, embed: () => { throw new HttpError(503, 'image', 'no image embedder is loaded; search by { pin } instead'); } }, index: b.visualIndex, metadata: b.pins }),
      version,
    };
  }
  /**
   * Run a few full feeds on a pipeline before it serves: the first candidate scoring of a model builds its
   * row-major weights (seconds at 1M pins), and that must not land on a user's request.
   */
  async function warm(p: Pipeline): Promise<void> {
    const users = p.bundle.model.userIds().slice(0, 400).filter((u) => p.bundle.model.hasUser(u)).slice(0, 20);
    for (const u of users) await p.feed.generate({ id: u, recent: [], categories: [] }, { limit: feedLimit });
  }

  let pipeline = makePipeline(bundle);
  await warm(pipeline);

  async function swap(b: Bundle, beforeSwitch?: () => void): Promise<void> {
    const old = pipeline.bundle;
    const next = makePipeline(b);
    await warm(next);
    beforeSwitch?.(); // in the same turn as the switch: no request runs in between
    bundle = b;
    version++;
    next.version = version;
    pipeline = next;
    swaps++;
    // indexes of the old bundle are left to in-flight requests, then released
    if (old.cfIndex !== b.cfIndex) setTimeout(() => void old.cfIndex.close(), 5000).unref();
    if (old.visualIndex !== b.visualIndex) setTimeout(() => void old.visualIndex.close(), 5000).unref();
  }

  // ---------------------------------------------------------------- events
  function validateEvents(body: unknown): FeedEvent[] {
    const list = (body as { events?: unknown })?.events;
    if (!Array.isArray(list)) throw new HttpError(400, 'events', 'body must be { "events": [ ... ] }');
    if (list.length === 0 || list.length > maxEvents) throw new HttpError(400, 'events', `between 1 and ${maxEvents} events per request (got ${list.length})`);
    const t = now();
    return list.map((e: Record<string, unknown>, i: number) => {
      if (e === null || typeof e !== 'object' || Array.isArray(e)) throw new HttpError(400, `events[${i}]`, 'an event must be an object');
      for (const f of ['id', 'user', 'pin'] as const) {
        if (typeof e[f] !== 'string' || !ID_PATTERN.test(e[f] as string)) throw new HttpError(400, `events[${i}].${f}`, `must match ${ID_PATTERN} (got ${JSON.stringify(e[f])?.slice(0, 60)})`);
      }
      if (typeof e.type !== 'string' || !(FEED_EVENT_TYPES as readonly string[]).includes(e.type)) throw new HttpError(400, `events[${i}].type`, `must be one of ${FEED_EVENT_TYPES.join(', ')} (got ${JSON.stringify(e.type)?.slice(0, 60)})`);
      if (e.category !== undefined && e.category !== null && (typeof e.category !== 'string' || !ID_PATTERN.test(e.category))) throw new HttpError(400, `events[${i}].category`, `must match ${ID_PATTERN}`);
      if (e.time !== undefined && (typeof e.time !== 'number' || !Number.isFinite(e.time) || e.time < 0 || e.time > MAX_EVENT_TIME)) throw new HttpError(400, `events[${i}].time`, `must be ms since the epoch, at most ${MAX_EVENT_TIME}`);
      const pin = e.pin as string;
      const category = (e.category as string | undefined) ?? (bundle.pins.one(pin)?.category as string | undefined) ?? null;
      return { id: e.id as string, type: e.type as FeedEvent['type'], user: e.user as string, pin, category, time: (e.time as number | undefined) ?? t };
    });
  }

  async function acceptEvents(events: FeedEvent[]): Promise<{ accepted: number; duplicates: number; pending: boolean }> {
    if (pending.length + events.length > maxPending) {
      eventsTotal.inc({ outcome: 'refused' }, events.length);
      throw new HttpError(503, 'events', `the store is unavailable and ${pending.length} events already wait; retry later`);
    }
    // the model: each id once; new users and pins are folded in (no refit)
    const records = [];
    let duplicates = 0;
    const fresh: FeedEvent[] = [];
    const inBatch = new Set<string>();
    for (const e of events) {
      if (modelIds.has(e.id) || inBatch.has(e.id)) { duplicates++; continue; }
      inBatch.add(e.id);
      fresh.push(e);
      if (TRAINING_TYPES.has(e.type)) records.push({ user: e.user, item: e.pin, type: e.type, timestamp: e.time });
      if (e.type === 'create') bundle.pins.addPin({ id: e.pin, category: e.category ?? null, creator: e.user, engagements: 0, impressions: 0 });
    }
    if (records.length > 0) {
      pipeline.bundle.model.update(records);
      if (journal) for (const r of records) journal.push(r);
    }
    for (const e of fresh) {
      modelIds.add(e.id);
      if (modelIds.size > MODEL_ID_MEMORY) modelIds.delete(modelIds.values().next().value as string);
    }
    counted.accepted += fresh.length;
    counted.duplicate += duplicates;
    eventsTotal.inc({ outcome: 'accepted' }, fresh.length);
    if (duplicates) eventsTotal.inc({ outcome: 'duplicate' }, duplicates);
    // the store: all of them (its own guard drops repeats), or kept for retry when it is away
    let kept = false;
    if (pending.length > 0) { pending.push(...events); kept = true; scheduleFlush(); }
    else {
      try {
        await store.applyEvents(events);
      } catch (e) {
        if (!(e instanceof StoreUnavailableError)) throw e;
        pending.push(...events);
        kept = true;
        scheduleFlush();
      }
    }
    return { accepted: fresh.length, duplicates, pending: kept };
  }

  function scheduleFlush(): void {
    if (flushTimer) return;
    flushTimer = setTimeout(() => { flushTimer = undefined; void flushPending(); }, 200);
    flushTimer.unref();
  }

  function flushPending(): Promise<number> {
    if (flushing) return flushing;
    flushing = (async () => {
      let done = 0;
      try {
        while (pending.length > 0) {
          const batch = pending.slice(0, 500);
          try {
            await store.applyEvents(batch);
          } catch (e) {
            if (e instanceof StoreUnavailableError) { scheduleFlush(); break; }
            throw e;
          }
          pending = pending.slice(batch.length);
          done += batch.length;
        }
      } finally {
        flushing = null;
      }
      return done;
    })();
    return flushing;
  }

  // ---------------------------------------------------------------- feed
  async function userState(user: string): Promise<{ seen: Set<string>; recent: string[]; ok: boolean }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const r = await Promise.race([
        Promise.all([store.seen(user), store.recent(user, 20)]),
        // decided after one I/O pass: replies that came while this process was busy still count
        new Promise<never>((_, reject) => { timer = setTimeout(() => setImmediate(() => reject(new StoreUnavailableError(`store reads took over ${storeTimeoutMs} ms`))), storeTimeoutMs); }),
      ]);
      return { seen: r[0], recent: r[1], ok: true };
    } catch {
      return { seen: new Set(), recent: [], ok: false };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  function categoriesOf(p: Pipeline, recent: readonly string[]): string[] {
    const count = new Map<string, number>();
    recent.forEach((id, r) => {
      const c = p.bundle.pins.one(id)?.category;
      if (typeof c === 'string') count.set(c, (count.get(c) ?? 0) + 1 / (1 + r));
    });
    return [...count.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map((e) => e[0]);
  }

  function render(user: string, r: FeedResult<string>, kind: string, degraded: string[], p: Pipeline) {
    for (const s of r.sources) {
      sourceOutcomes.inc({ source: s.name, status: s.status });
      if (s.status === 'failed' || s.status === 'timeout') degraded.push(`source:${s.name}:${s.status}`);
    }
    return {
      user,
      kind,
      degraded,
      modelVersion: p.version,
      items: r.items.map((it) => ({ id: it.id, score: Math.round(it.score * 1e6) / 1e6, sources: it.sources, category: it.category, creator: it.creator })),
      sources: r.sources.map((s) => ({ name: s.name, status: s.status, candidates: s.candidates, contributed: s.contributed, ms: Math.round(s.ms * 100) / 100 })),
    };
  }

  async function fullFeed(user: string, limit: number) {
    const p = pipeline;
    const st = await userState(user);
    const degraded: string[] = [];
    if (!st.ok) degraded.push('store');
    if (!trending.up) degraded.push('trending-stale');
    const fu: FeedUser = { id: user, recent: st.recent, categories: st.ok ? categoriesOf(p, st.recent) : [] };
    const known = p.bundle.model.hasUser(user);
    const items = known ? [] : st.recent.filter((id) => p.bundle.model.hasItem(id)).reverse(); // oldest first
    if (items.length > 0) foldIns.set(user, { items });
    let r: FeedResult<string>;
    try {
      r = await p.feed.generate(fu, { limit, exclude: st.seen });
    } finally {
      if (items.length > 0) foldIns.delete(user);
    }
    const body = render(user, r, degraded.length > 0 ? 'degraded' : 'full', degraded, p);
    if (degraded.length > 0) feeds.degraded++;
    else feeds.full++;
    feedKinds.inc({ kind: body.kind });
    return body;
  }

  // The cheap feed is the same for everyone (trending and the catalogue's popular pins, caps applied): built
  // once per trending refresh and per length, kept serialised, so serving it costs a string copy.
  let cheapCache = new Map<number, { at: number; version: number; json: string }>();
  async function cheapFeed(user: string, limit: number, reply: FastifyReply) {
    const p = pipeline;
    let c = cheapCache.get(limit);
    if (!c || c.at !== trending.refreshedAt || c.version !== p.version) {
      const r = await p.cheap.generate({ id: '', recent: [], categories: [] }, { limit });
      const body = render('', r, 'cheap', ['overload'], p);
      const { user: _u, ...rest } = body;
      c = { at: trending.refreshedAt, version: p.version, json: JSON.stringify(rest).slice(1) };
      if (cheapCache.size > 16) cheapCache = new Map();
      cheapCache.set(limit, c);
    }
    feeds.cheap++;
    feedKinds.inc({ kind: 'cheap' });
    return reply.type('application/json; charset=utf-8').send(`{"user":${JSON.stringify(user)},${c.json}`);
  }

  // ---------------------------------------------------------------- http
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 1024 * 1024, routerOptions: { maxParamLength: 200 }, return503OnClosing: true });
  app.removeContentTypeParser('text/plain'); // JSON and images only: anything else is a 415
  app.addContentTypeParser(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif'], { parseAs: 'buffer', bodyLimit: imageLimits.maxBytes }, (_req, body, done) => done(null, body));

  const started = new WeakMap<FastifyRequest, number>();
  app.addHook('onRequest', async (req) => { started.set(req, performance.now()); });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions?.url ?? 'unknown';
    httpRequests.inc({ route, status: String(reply.statusCode) });
    const t = started.get(req);
    if (t !== undefined) httpSeconds.observe({ route }, (performance.now() - t) / 1000);
    if (reply.statusCode >= 500 && reply.statusCode !== 503) failedRequests++;
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof HttpError) return reply.code(err.status).send({ error: err.message, field: err.field });
    if (err instanceof InvalidParameterError) return reply.code(400).send({ error: err.message, field: err.parameter });
    if (err instanceof UnknownIdError) return reply.code(404).send({ error: err.message, field: err.parameter });
    if (err instanceof ImageDecodeError) {
      const status = err.kind === 'too-large' ? 413 : err.kind === 'unsupported' ? 415 : 400;
      return reply.code(status).send({ error: err.message, field: 'image', kind: err.kind });
    }
    if (err instanceof StoreUnavailableError) return reply.code(503).header('retry-after', '1').send({ error: err.message, field: 'store' });
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: err.message, field: 'body' });
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: err.message, field: 'content-type' });
    if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return reply.code(400).send({ error: err.message, field: 'body' });
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message, field: 'body' });
    if (err instanceof PinrecError) return reply.code(400).send({ error: err.message, field: 'request' });
    reply.log.error(err);
    return reply.code(500).send({ error: 'internal error', field: null });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}`, field: 'url' }));

  const idParam = (req: FastifyRequest, name: string): string => {
    const v = (req.params as Record<string, unknown>)[name];
    if (typeof v !== 'string' || !ID_PATTERN.test(v)) throw new HttpError(400, name, `must match ${ID_PATTERN}`);
    return v;
  };
  const intQuery = (req: FastifyRequest, name: string, def: number, max: number): number => {
    const raw = (req.query as Record<string, unknown>)[name];
    if (raw === undefined) return def;
    const v = Number(raw);
    if (typeof raw !== 'string' || !/^\d+$/.test(raw) || v < 1 || v > max) throw new HttpError(400, name, `must be an integer in [1, ${max}] (got ${JSON.stringify(raw)})`);
    return v;
  };

  app.get('/health', async () => ({
    status: trending.up && pending.length === 0 ? 'ok' : 'degraded',
    model: { label: pipeline.bundle.label, version: pipeline.version, updates: pipeline.bundle.model.updates },
    pins: pipeline.bundle.pins.size,
    store: { up: trending.up, pendingEvents: pending.length, error: trending.lastError },
    lagMs: Math.round(admission.lagMs * 100) / 100,
    refitting: refitting !== null,
  }));

  reg.add(new Gauge('pinrec_model_version', 'Serving pipeline version (1 at start, +1 per swap)', () => pipeline.version));
  reg.add(new Gauge('pinrec_model_updates', 'Events applied to the serving model since its fit', () => pipeline.bundle.model.updates));
  reg.add(new Gauge('pinrec_queue_depth', 'Queues: full feeds waiting, full feeds running, requests in process, events pending for the store', () => [
    { labels: { queue: 'feed_waiting' }, value: admission.queued },
    { labels: { queue: 'feed_running' }, value: admission.active },
    { labels: { queue: 'in_process' }, value: admission.inProcess },
    { labels: { queue: 'events_pending' }, value: pending.length },
    { labels: { queue: 'image_running' }, value: imageWork.active },
    { labels: { queue: 'image_waiting' }, value: imageWork.queued },
  ]));
  reg.add(new Gauge('pinrec_event_loop_lag_ms', 'How late the event loop runs (smoothed)', () => admission.lagMs));
  reg.add(new Gauge('pinrec_store_up', '1 when the last trending refresh reached the store', () => (trending.up ? 1 : 0)));
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(reg.render()));

  app.get('/feed/:user', async (req, reply) => {
    const user = idParam(req, 'user');
    const limit = intQuery(req, 'limit', feedLimit, 200);
    if (!admission.enter()) {
      feeds.shed++;
      feedKinds.inc({ kind: 'shed' });
      return shed(reply, 'feed');
    }
    try {
      const d = await admission.acquire();
      if (d !== 'full') return await cheapFeed(user, limit, reply);
      try {
        return await fullFeed(user, limit);
      } finally {
        admission.release();
      }
    } finally {
      admission.leave();
    }
  });

  app.get('/similar/:pin', async (req) => {
    const pin = idParam(req, 'pin');
    const k = intQuery(req, 'k', 20, 200);
    const p = pipeline;
    const v = p.bundle.visualIndex.tryGetVector(pin);
    if (v) {
      const results = await p.visual.searchVector(v, { k: k + 1, filter: (id) => id !== pin });
      return { pin, by: 'visual', items: results.slice(0, k).map((r) => ({ id: r.id, score: r.score, similarity: r.similarity, reason: r.reason, category: r.category })) };
    }
    if (!p.bundle.model.hasItem(pin)) throw new HttpError(404, 'pin', `unknown pin ${JSON.stringify(pin)}`);
    const r = p.bundle.model.similarItems(pin, { n: k });
    return { pin, by: 'cf', items: r.ids.map((id, i) => ({ id, score: r.scores[i] })) };
  });

  app.post('/search', async (req, reply) => {
    const p = pipeline;
    const k = intQuery(req, 'k', 20, 200);
    if (Buffer.isBuffer(req.body)) {
      if (!options.embedder) throw new HttpError(503, 'image', 'no image embedder is loaded; search by { "pin": id } instead');
      const bytes = req.body;
      await openImage(bytes, imageLimits, 'upload'); // byte, pixel and format limits before any decode
      return withImageSlot(reply, 'image search', async () => {
        const results = await p.visual.search(bytes, { k });
        return { by: 'image', items: results.map((r) => ({ id: r.id, score: r.score, similarity: r.similarity, reason: r.reason, category: r.category })) };
      });
    }
    const body = req.body as { pin?: unknown } | undefined;
    if (body === null || typeof body !== 'object' || typeof body.pin !== 'string' || !ID_PATTERN.test(body.pin)) {
      throw new HttpError(400, 'pin', 'send an image (image/jpeg, png, webp, gif, avif) or JSON { "pin": id }');
    }
    const v = p.bundle.visualIndex.tryGetVector(body.pin);
    if (!v) throw new HttpError(404, 'pin', `no embedding for pin ${JSON.stringify(body.pin)}`);
    const pin = body.pin;
    const results = await p.visual.searchVector(v, { k: k + 1, filter: (id) => id !== pin });
    return { by: 'pin', items: results.slice(0, k).map((r) => ({ id: r.id, score: r.score, similarity: r.similarity, reason: r.reason, category: r.category })) };
  });

  const shopRequests = reg.add(new Counter('pinrec_shop_requests_total', 'POST /shop answers by detector mode'));
  app.post('/shop', async (req, reply) => {
    const shop = options.shop;
    if (!shop || !options.embedder) throw new HttpError(503, 'image', 'shop the look is not configured (start the service with an embedder and shop: { detector, catalog, prices })');
    if (!Buffer.isBuffer(req.body)) throw new HttpError(415, 'content-type', 'upload the image bytes as image/jpeg, png, webp, gif or avif');
    const location = (req.query as Record<string, unknown>).location;
    if (location !== undefined && (typeof location !== 'string' || !ID_PATTERN.test(location))) throw new HttpError(400, 'location', `must match ${ID_PATTERN}`);
    const img = await openImage(req.body, imageLimits, 'upload'); // byte, pixel and format limits before any decode
    // over budget: image work already waiting, or the loop lagging → the light detector
    const lightWhenQueued = shop.lightWhenQueued ?? 1;
    const waitsBehind = imageWork.active >= imageWork.limit ? imageWork.queued + 1 : 0; // this request included
    const overBudget = waitsBehind >= lightWhenQueued ? 'image work queued' : admission.lagMs > admission.cheapLagMs ? 'event loop lag' : null;
    const mode = overBudget ? 'light' : 'normal';
    const embedder = options.embedder;
    return withImageSlot(reply, 'shop', async () => {
      const r = await tagProducts(img, {
        ...shop, embedder, location: (location as string | undefined) ?? 'default',
        detect: { mode, ...(shop.minScore !== undefined ? { minScore: shop.minScore } : {}), ...(shop.maxBoxes !== undefined ? { maxBoxes: shop.maxBoxes } : {}) },
      });
      shopRequests.inc({ mode: r.detection?.mode ?? mode });
      return { mode: r.detection?.mode ?? mode, overBudget, detectMs: r.detection?.ms ?? null, ms: r.ms, tags: r.tags };
    });
  });

  app.post('/pins', async (req, reply) => {
    if (!Buffer.isBuffer(req.body)) throw new HttpError(415, 'content-type', 'upload the image bytes as image/jpeg, png, webp, gif or avif');
    if (!options.ingestor) throw new HttpError(503, 'image', 'ingest is not configured (start the service with an embedder)');
    const q = req.query as Record<string, unknown>;
    for (const f of ['category', 'user'] as const) {
      if (q[f] !== undefined && (typeof q[f] !== 'string' || !ID_PATTERN.test(q[f] as string))) throw new HttpError(400, f, `must match ${ID_PATTERN}`);
    }
    const category = q.category as string | undefined;
    const creator = q.user as string | undefined;
    const bytes = req.body;
    const ingestor = options.ingestor;
    const res = await withImageSlot(reply, 'upload', () => ingestor.ingest(bytes, { category, creator }));
    if (!('id' in res)) return res;
    bundle.pins.addPin({ id: res.id, category: category ?? null, creator: creator ?? null, quality: res.record.quality ?? null, engagements: 0, impressions: 0 });
    return reply.code(res.outcome === 'created' ? 201 : 200).send({
      id: res.id, outcome: res.outcome, status: res.record.status, indexed: res.record.indexed, failed: res.failed,
      quality: res.record.quality ?? null, duplicateOf: res.record.duplicateOf ?? null,
    });
  });

  app.post('/events', async (req, reply) => {
    const events = validateEvents(req.body);
    if (!admission.enter()) { eventsTotal.inc({ outcome: 'refused' }, events.length); return shed(reply, 'events (none accepted)'); }
    try {
      const r = await acceptEvents(events);
      return reply.code(202).send(r);
    } finally {
      admission.leave();
    }
  });

  if (options.admin ?? true) {
    app.post('/admin/swap', async (req) => {
      const dir = (req.body as { dir?: unknown } | undefined)?.dir;
      if (typeof dir !== 'string' || dir.length === 0) throw new HttpError(400, 'dir', 'a bundle directory');
      let b: Bundle;
      try {
        b = await loadBundle(dir);
      } catch (e) {
        throw new HttpError(422, 'dir', `bundle rejected, the current one keeps serving: ${(e as Error).message}`);
      }
      await swap(b);
      return { version: pipeline.version, label: b.label };
    });
    app.get('/admin/stats', async () => {
      let applied: number | null = null;
      try { applied = await store.appliedCount(); } catch { /* the store is away */ }
      return { ...stats(), appliedEvents: applied, rssMb: Math.round(process.memoryUsage().rss / 1048576) };
    });
    app.post('/admin/refit', async (_req, reply) => {
      if (refitting) throw new HttpError(409, 'refit', 'a refit is already running');
      const r = await refit();
      return reply.send(r);
    });
    app.post('/admin/fault', async (req) => {
      const hang = (req.body as { hang?: unknown } | undefined)?.hang;
      if (hang !== null && (typeof hang !== 'string' || !hangables.has(hang))) throw new HttpError(400, 'hang', `null or one of ${[...hangables.keys()].join(', ')}`);
      for (const [name, h] of hangables) h.hang = name === hang;
      return { hang };
    });
  }

  function refit(): Promise<{ version: number; replayed: number; seconds: number }> {
    if (refitting) return refitting;
    refitting = (async () => {
      const t0 = performance.now();
      const b = pipeline.bundle;
      journal = [];
      try {
        const snap = b.model.snapshot();
        const fresh = await fitInWorker<string, string>(snap, options.refitModel ?? { factors: b.model.factors, order: 'off' });
        const cfIndex = await buildCfIndexAsync(fresh);
        const next = { ...b, model: fresh, cfIndex, label: `${b.label}+refit` };
        const replay = journal;
        const first = replay.length;
        if (first > 0) fresh.update(replay.slice(0, first));
        // events that arrive while the new pipeline warms reach the old model and the journal; they are
        // replayed onto the new model in the same turn as the switch
        await swap(next, () => { const late = replay.slice(first); if (late.length > 0) fresh.update(late); });
        return { version: pipeline.version, replayed: replay.length, seconds: (performance.now() - t0) / 1000 };
      } finally {
        journal = null;
        refitting = null;
      }
    })();
    return refitting;
  }

  function stats(): ServiceStats {
    return {
      version: pipeline.version, label: pipeline.bundle.label, eventsAccepted: counted.accepted, eventsDuplicate: counted.duplicate,
      pendingEvents: pending.length, feeds: { ...feeds }, failedRequests, swaps,
    };
  }

  let refitTimer: ReturnType<typeof setInterval> | undefined;
  if ((options.refitEveryMs ?? 0) > 0) {
    refitTimer = setInterval(() => { if (!refitting) refit().catch(() => {}); }, options.refitEveryMs);
    refitTimer.unref();
  }

  return {
    app,
    swap,
    refit,
    flushPending,
    store,
    stats,
    current: () => pipeline.bundle,
    async close() {
      if (refitTimer) clearInterval(refitTimer);
      if (flushTimer) clearTimeout(flushTimer);
      trending.stop();
      admission.close();
      await app.close();
      if (refitting) await refitting.catch(() => {});
    },
  };
}
