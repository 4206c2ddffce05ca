/**
 * The seeded traffic generator: a time-ordered stream of pin creations, repin cascades, views, close-ups,
 * clicks, home-feed requests and visual searches, with power-law users and categories and named incident
 * scenarios. It drives the load tests (replay the stream against a feed service) and the CF scale benchmarks
 * (turn its engagement into interactions).
 *
 * The model, in order of the stream's sources:
 *
 * - **Users.** `users` users `u0..`; user `ui`'s activity is ∝ 1/(i+1)^`userSkew` (Zipf: `u0` is the most
 *   active). Each user has one favourite category, drawn once from the category law. Whenever a source needs
 *   "a user interested in category c" it draws among the users whose favourite is c, by activity.
 * - **Categories.** `categories` categories `c0..` (or `categoryNames`); category c's share of pin creation
 *   is ∝ 1/(c+1)^`categorySkew` (Zipf: `c0` is the most popular).
 * - **Arrivals** (pin creation, feed requests, visual searches) are non-homogeneous Poisson processes. Time is
 *   cut into steps of `stepMs` (also ended at the scenario's breakpoints); within a step the rates are
 *   constant (the scenario's multipliers at the step's midpoint), so arrivals are exact exponential
 *   inter-arrival times of the superposed process, each arrival's kind and category drawn in proportion to
 *   its rate. Pin creation in category c runs at `pinsPerSecond` × share(c) × `pins` multiplier; feeds and
 *   searches in category c at `feedsPerSecond` / `searchesPerSecond` × (activity share of the users
 *   interested in c) × the `feed` / `search` multiplier. A created pin's creator is a user interested in
 *   its category.
 * - **Repin cascades.** At creation each pin draws its repin count K from the heavy-tailed Poisson–lognormal
 *   law ({@link sampleRepinCount}: mean `repinsPerPin`, σ `repinSigma`), and its K repins happen after
 *   independent exponential delays of half-life `repinHalfLifeMs`. The generator never stores the K times:
 *   with k repins still to come, the next one is Exp(k·ln2/half-life) away (the order statistics of
 *   exponentials), so the agenda (a binary heap) holds one entry per pin with repins to come. The repinner is,
 *   with probability `categoryAffinity`, a user interested in the pin's category, otherwise any user (by
 *   activity). Repins do not create new pins; K models the whole tree.
 * - **The catalogue** of `initialPins` pins `p0..` exists at the start (`startMs`, default 0): they were
 *   created at times spread uniformly over the `initialAgeMs` before it (default: the time the base creation
 *   rate needs to make them, so the stream continues their history), each with its K drawn and the repins
 *   still to come (Binomial(K, 2^(−age/half-life)); by memorylessness their delays start afresh at the
 *   start), so repins flow from the first moment.
 * - **Engagement multiplier.** A cascade's step fires 1 repin at the level its pin was created at; at another
 *   level it fires m = engagement(t) / engagement(created) repins in expectation (1 + Poisson(m − 1) when
 *   m > 1, the extra ones after Exp(`engagementDelayMs`); one with probability m when m < 1). So when the
 *   pins and engagement multipliers move together (black-friday, wedding-season) the repin rate is exactly
 *   the multiplier times the normal one, with no compounding, and pins made during a surge are not repinned
 *   at the surge's level after it ends. (A pin created at level 0 fires at the current level.)
 * - **Feeds and views.** A feed request shows `viewsPerFeed` pins (one `view` each): with probability
 *   `categoryAffinity` from the user's category, otherwise from all categories; half the time a popular pin
 *   (uniform over the last repins: ∝ recent repin activity), half the time a recent one (uniform over the
 *   last pins created), falling back to whichever exists. Each view leads to a `closeup` with probability
 *   `closeupRate` and a `click` with probability `clickThrough`, each after an Exp(`engagementDelayMs`)
 *   delay. A visual search carries a query pin chosen the same way.
 *
 * Memory: pins live in typed arrays (~36 bytes a pin), users in typed arrays (~12 bytes a user), the agenda
 * holds ~25 bytes per pin with repins to come, and only the current step's events are buffered.
 */
import { InvalidParameterError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { checkInt, checkNumber, checkPositive } from '../core/validate.js';
import { EventHeap } from './heap.js';
import { sampleBinomial, sampleExponential, samplePoisson, sampleRepinCount, searchCdf, zipfWeights } from './random.js';
import { resolveScenario, type Scenario, type ScenarioMultipliers, type ScenarioName } from './scenarios.js';

/** What a traffic event is. */
export type TrafficKind = 'create' | 'repin' | 'closeup' | 'click' | 'view' | 'feed' | 'search';

/** Every {@link TrafficKind}, in a fixed order. */
export const TRAFFIC_KINDS: readonly TrafficKind[] = Object.freeze(['create', 'repin', 'closeup', 'click', 'view', 'feed', 'search'] as const);

const CREATE = 0, REPIN = 1, CLOSEUP = 2, CLICK = 3, VIEW = 4, FEED = 5, SEARCH = 6;
/** Kinds of agenda entries. */
const H_CASCADE = 0, H_REPIN = 1, H_CLOSEUP = 2, H_CLICK = 3;

/**
 * One event of the stream.
 *
 * @example
 * { time: 1520.4, kind: 'view', id: '1-42', user: 'u17', pin: 'p9031', category: 'c0' }
 */
export interface TrafficEvent {
  /** ms of simulated time (from 0, or from `startMs`), non-decreasing along the stream. */
  time: number;
  kind: TrafficKind;
  /** Unique, deterministic event id `${seed}-${sequence number}`. */
  id: string;
  /** The acting user, `'u<index>'` (`u0` the most active). */
  user: string;
  /** The pin, `'p<index>'`: absent for `'feed'`; for `'search'` the query pin (absent while no pin exists). */
  pin?: string;
  /** The pin's category; for `'feed'` and `'search'` the user's category of interest. */
  category: string;
}

/**
 * Options of {@link PinTrafficGenerator}. Rates are per second of simulated time; times in ms.
 *
 * @example
 * const options: PinTrafficOptions = { seed: 7, users: 20_000, scenario: 'black-friday', surgeStartMs: 600_000 };
 */
export interface PinTrafficOptions {
  /** Seed of every random choice: the same options give the same stream. @default 1 */
  seed?: number;
  /** Number of users (1..10,000,000). @default 100_000 */
  users?: number;
  /** Zipf exponent of user activity (0: uniform). @default 1 */
  userSkew?: number;
  /** Number of categories (1..10,000); names `'c0'..`, `c0` the most popular. @default 32, or `categoryNames.length` */
  categories?: number;
  /** Zipf exponent of category popularity (0: uniform). @default 1 */
  categorySkew?: number;
  /** Category names, most popular first (distinct, non-empty). @default 'c0'..'c{n−1}' */
  categoryNames?: readonly string[];
  /** Pins that exist at t = 0, ids `'p0'..` (new pins continue the numbering). @default 10_000 */
  initialPins?: number;
  /**
   * The catalogue's pins were created uniformly over this span before `startMs` (ms).
   * @default initialPins / pinsPerSecond seconds (4 half-lives when pinsPerSecond is 0)
   */
  initialAgeMs?: number;
  /** Base pin-creation rate (pins/s). @default 10 */
  pinsPerSecond?: number;
  /** Mean repins per pin (Poisson–lognormal law, see {@link sampleRepinCount}). @default 15 */
  repinsPerPin?: number;
  /** σ of the log of a pin's repin appeal: the heaviness of the tail (0: Poisson). @default 1.5 */
  repinSigma?: number;
  /** Half-life of a pin's repin delays after its creation (ms). @default 21_600_000 (6 h) */
  repinHalfLifeMs?: number;
  /** Base home-feed request rate (requests/s). @default 50 */
  feedsPerSecond?: number;
  /** Base visual-search rate (searches/s). @default 2 */
  searchesPerSecond?: number;
  /** Pins shown (one `view` each) per feed request (0..1000). @default 10 */
  viewsPerFeed?: number;
  /** Probability that a view leads to a click. @default 0.05 */
  clickThrough?: number;
  /** Probability that a view leads to a close-up. @default 0.02 */
  closeupRate?: number;
  /** Mean delay (exponential) from a view to its close-up/click, and of a surge's extra repins (ms). @default 3000 */
  engagementDelayMs?: number;
  /** Probability that a repinner, or a shown pin, comes from the pin's / user's own category. @default 0.8 */
  categoryAffinity?: number;
  /** The traffic shape: a built-in name or a {@link Scenario}. @default 'normal' */
  scenario?: ScenarioName | Scenario;
  /** Category index that surges in `fashion-week` / `wedding-season`. @default 0 */
  surgeCategory?: number;
  /** Start of the surge (ms). @default 0 */
  surgeStartMs?: number;
  /** Length of the surge (ms). @default fashion-week 1 h, black-friday 24 h, wedding-season ramp 6 weeks */
  surgeDurationMs?: number;
  /** Step of the rate clock (ms, 1..86,400,000): rates are held constant within a step. @default 1000 */
  stepMs?: number;
  /**
   * Simulated time at which the stream starts (ms): the catalogue's history ends here and the first event
   * is at or after it. Use it to begin inside a scenario (e.g. weeks into `wedding-season`'s ramp) without
   * generating what came before. @default 0
   */
  startMs?: number;
}

/** Counts of a generator so far (over the events returned, not those buffered ahead). */
export interface TrafficStats {
  /** Simulated time reached (ms). */
  now: number;
  /** Events returned so far. */
  events: number;
  /** Events returned so far, by kind. */
  byKind: Record<TrafficKind, number>;
  /** Pins that exist: the catalogue plus the pins created so far. */
  pins: number;
  /** Pins of the initial catalogue. */
  initialPins: number;
  /** Pins created since t = 0. */
  pinsCreated: number;
  /** Pins with repins still to come. */
  activeCascades: number;
  /** Entries on the agenda (future repins, close-ups, clicks). */
  scheduled: number;
}

/** A pin that exists, for building a catalogue. */
export interface TrafficPin {
  /** `'p<index>'`. */
  id: string;
  category: string;
  /** The user who created it. */
  creator: string;
  /** Creation time (ms; before `startMs`, i.e. negative by default, for the catalogue's pins). */
  createdAt: number;
  /** Repins returned so far. */
  repins: number;
  /** The size K of its cascade, drawn at creation (the catalogue's: including repins before t = 0). */
  plannedRepins: number;
}

const KNOWN_OPTIONS = new Set([
  'seed', 'users', 'userSkew', 'categories', 'categorySkew', 'categoryNames', 'initialPins', 'initialAgeMs', 'pinsPerSecond',
  'repinsPerPin', 'repinSigma', 'repinHalfLifeMs', 'feedsPerSecond', 'searchesPerSecond', 'viewsPerFeed', 'clickThrough',
  'closeupRate', 'engagementDelayMs', 'categoryAffinity', 'scenario', 'surgeCategory', 'surgeStartMs', 'surgeDurationMs', 'stepMs', 'startMs',
]);

const RECENT_RING = 256;
const POPULAR_RING = 1024;
const GLOBAL_RING = 4096;
/** `take()` and the iterator stop after this much simulated time without an event (a scenario stuck at 0). */
const IDLE_LIMIT_MS = 365 * 24 * 3_600_000;

/** The last `capacity` values pushed; a uniform draw among them. */
class Ring {
  private readonly buf: Int32Array;
  private count = 0;
  private head = 0;
  constructor(capacity: number) {
    this.buf = new Int32Array(capacity);
  }
  get size(): number {
    return this.count;
  }
  push(x: number): void {
    this.buf[this.head] = x;
    this.head = (this.head + 1) % this.buf.length;
    if (this.count < this.buf.length) this.count++;
  }
  sample(rng: Rng): number {
    return this.buf[rng.int(this.count)];
  }
}

/**
 * A seeded, lazy, time-ordered stream of Pinterest-style traffic (see the module comment for the model).
 * Generation is incremental: {@link PinTrafficGenerator.eventsUntil}, {@link PinTrafficGenerator.take} and
 * the iterator all continue the same stream, and how it is cut into calls never changes it.
 *
 * @throws {InvalidParameterError} for an unknown option or a bad value (naming the option and the value)
 * @example
 * const gen = new PinTrafficGenerator({ seed: 7, scenario: 'fashion-week' });
 * for (const e of gen.eventsUntil(60_000)) if (e.kind === 'search') send(e);  // the first simulated minute
 * gen.take(1000);                                                             // and the next 1000 events
 */
export class PinTrafficGenerator implements Iterable<TrafficEvent> {
  private readonly seed: number;
  private readonly rng: Rng;
  private readonly nCat: number;
  private readonly catNames: readonly string[];
  private readonly catShare: Float64Array;
  private readonly nUsers: number;
  private readonly groupOff: Int32Array;
  private readonly groupMembers: Int32Array;
  private readonly groupCum: Float64Array;
  private readonly groupMass: Float64Array;
  private readonly scenario: Scenario;
  private readonly breakpoints: number[];
  private bpIdx = 0;

  private readonly pinsPerMs: number;
  private readonly feedsPerMs: number;
  private readonly searchesPerMs: number;
  private readonly repinMean: number;
  private readonly repinSigma: number;
  private readonly repinRatePerMs: number;
  private readonly viewsPerFeed: number;
  private readonly ctr: number;
  private readonly closeupRate: number;
  private readonly delayMs: number;
  private readonly affinity: number;
  private readonly stepMs: number;
  private readonly nInitial: number;

  // pins (growable typed arrays)
  private nPins = 0;
  private pinCat: Int32Array;
  private pinCreator: Int32Array;
  private pinCreated: Float64Array;
  private pinRemaining: Int32Array;
  private pinPlanned: Int32Array;
  private pinEng: Float64Array;
  private pinRepins: Int32Array;
  private activePins = 0;

  private readonly recent: (Ring | undefined)[];
  private readonly popular: (Ring | undefined)[];
  private readonly recentAll = new Ring(GLOBAL_RING);
  private readonly popularAll = new Ring(GLOBAL_RING);

  private readonly heap = new EventHeap();
  // the current step's rates
  private readonly pinCdf: Float64Array;
  private readonly feedCdf: Float64Array;
  private readonly searchCdf: Float64Array;
  private readonly engNow: Float64Array;

  private genTime = 0;
  private seq = 0;
  private buf: TrafficEvent[] = [];
  private bufCode: number[] = [];
  private bufPin: number[] = [];
  private bufPos = 0;

  private readonly delivered = new Float64Array(7);
  private deliveredCreates = 0;
  private lastEventTime = 0;
  private nowMs = 0;

  constructor(options: PinTrafficOptions = {}) {
    const o = options ?? {};
    if (typeof o !== 'object' || Array.isArray(o)) throw new InvalidParameterError('options', 'an object of PinTrafficOptions', o);
    for (const k of Object.keys(o)) if (!KNOWN_OPTIONS.has(k)) throw new InvalidParameterError(`options.${k}`, 'a known option of PinTrafficGenerator', k);

    this.seed = checkNumber('seed', o.seed ?? 1);
    this.nUsers = checkInt('users', o.users ?? 100_000, 1, 10_000_000);
    const userSkew = checkNumber('userSkew', o.userSkew ?? 1, 0, 10);
    let names: string[];
    if (o.categoryNames !== undefined) {
      if (!Array.isArray(o.categoryNames) || o.categoryNames.length < 1 || o.categoryNames.length > 10_000) {
        throw new InvalidParameterError('categoryNames', 'an array of 1..10000 category names', o.categoryNames);
      }
      const seen = new Set<string>();
      o.categoryNames.forEach((n, i) => {
        if (typeof n !== 'string' || n.length === 0 || seen.has(n)) throw new InvalidParameterError(`categoryNames[${i}]`, 'a distinct non-empty string', n);
        seen.add(n);
      });
      names = [...o.categoryNames];
      if (o.categories !== undefined && o.categories !== names.length) {
        throw new InvalidParameterError('categories', `equal to categoryNames.length (${names.length})`, o.categories);
      }
    } else {
      const n = checkInt('categories', o.categories ?? 32, 1, 10_000);
      names = Array.from({ length: n }, (_, i) => `c${i}`);
    }
    this.catNames = Object.freeze(names);
    this.nCat = names.length;
    const categorySkew = checkNumber('categorySkew', o.categorySkew ?? 1, 0, 10);
    this.nInitial = checkInt('initialPins', o.initialPins ?? 10_000, 0, 50_000_000);
    const pinsPerSecond = checkNumber('pinsPerSecond', o.pinsPerSecond ?? 10, 0, 1e7);
    this.repinMean = checkNumber('repinsPerPin', o.repinsPerPin ?? 15, 0, 1e6);
    this.repinSigma = checkNumber('repinSigma', o.repinSigma ?? 1.5, 0, 5);
    const halfLife = checkPositive('repinHalfLifeMs', o.repinHalfLifeMs ?? 6 * 3_600_000);
    const feedsPerSecond = checkNumber('feedsPerSecond', o.feedsPerSecond ?? 50, 0, 1e7);
    const searchesPerSecond = checkNumber('searchesPerSecond', o.searchesPerSecond ?? 2, 0, 1e7);
    this.viewsPerFeed = checkInt('viewsPerFeed', o.viewsPerFeed ?? 10, 0, 1000);
    this.ctr = checkNumber('clickThrough', o.clickThrough ?? 0.05, 0, 1);
    this.closeupRate = checkNumber('closeupRate', o.closeupRate ?? 0.02, 0, 1);
    this.delayMs = checkNumber('engagementDelayMs', o.engagementDelayMs ?? 3000, 0, 1e12);
    this.affinity = checkNumber('categoryAffinity', o.categoryAffinity ?? 0.8, 0, 1);
    this.stepMs = checkNumber('stepMs', o.stepMs ?? 1000, 1, 86_400_000);
    const startMs = checkNumber('startMs', o.startMs ?? 0, -1e15, 1e15);
    const initialAge = checkNumber('initialAgeMs', o.initialAgeMs ?? (pinsPerSecond > 0 ? (this.nInitial / pinsPerSecond) * 1000 : 4 * halfLife), 0, 1e15);
    if (o.surgeCategory !== undefined) checkInt('surgeCategory', o.surgeCategory, 0, this.nCat - 1);
    this.scenario = resolveScenario(o.scenario ?? 'normal', { surgeCategory: o.surgeCategory, surgeStartMs: o.surgeStartMs, surgeDurationMs: o.surgeDurationMs });
    this.breakpoints = [...(this.scenario.breakpoints ?? [])].sort((a, b) => a - b);

    this.pinsPerMs = pinsPerSecond / 1000;
    this.feedsPerMs = feedsPerSecond / 1000;
    this.searchesPerMs = searchesPerSecond / 1000;
    this.repinRatePerMs = Math.LN2 / halfLife;

    const master = new Rng(this.seed);
    const setup = master.fork();
    this.rng = master.fork();

    // categories
    this.catShare = zipfWeights(this.nCat, categorySkew);
    const catCdf = cumulative(this.catShare);
    // users: favourite category by the category law; grouped by it (counting sort, stable) with cumulative activity
    const activity = zipfWeights(this.nUsers, userSkew);
    const fav = new Int32Array(this.nUsers);
    this.groupOff = new Int32Array(this.nCat + 1);
    for (let u = 0; u < this.nUsers; u++) {
      fav[u] = searchCdf(catCdf, setup.next() * catCdf[this.nCat - 1]);
      this.groupOff[fav[u] + 1]++;
    }
    for (let c = 0; c < this.nCat; c++) this.groupOff[c + 1] += this.groupOff[c];
    this.groupMembers = new Int32Array(this.nUsers);
    const fill = this.groupOff.slice(0, this.nCat);
    for (let u = 0; u < this.nUsers; u++) this.groupMembers[fill[fav[u]]++] = u;
    this.groupCum = new Float64Array(this.nUsers);
    this.groupMass = new Float64Array(this.nCat);
    let acc = 0;
    for (let c = 0; c < this.nCat; c++) {
      const before = acc;
      for (let j = this.groupOff[c]; j < this.groupOff[c + 1]; j++) {
        acc += activity[this.groupMembers[j]];
        this.groupCum[j] = acc;
      }
      this.groupMass[c] = acc - before;
    }

    this.pinCdf = new Float64Array(this.nCat);
    this.feedCdf = new Float64Array(this.nCat);
    this.searchCdf = new Float64Array(this.nCat);
    this.engNow = new Float64Array(this.nCat);
    this.recent = new Array(this.nCat).fill(undefined);
    this.popular = new Array(this.nCat).fill(undefined);

    const cap = Math.max(1024, this.nInitial + 1024);
    this.pinCat = new Int32Array(cap);
    this.pinCreator = new Int32Array(cap);
    this.pinCreated = new Float64Array(cap);
    this.pinRemaining = new Int32Array(cap);
    this.pinPlanned = new Int32Array(cap);
    this.pinEng = new Float64Array(cap);
    this.pinRepins = new Int32Array(cap);

    // the catalogue: created over [start − initialAge, start), in index order, with what remains of their cascades
    for (let i = 0; i < this.nInitial; i++) {
      const c = searchCdf(catCdf, setup.next() * catCdf[this.nCat - 1]);
      const age = initialAge * (1 - (i + setup.next()) / this.nInitial);
      const created = startMs - age;
      const creator = this.userIn(c, setup);
      const k = sampleRepinCount(setup, this.repinMean, this.repinSigma);
      const remaining = sampleBinomial(setup, k, Math.pow(2, -age / halfLife));
      const m = this.multipliers(created, c);
      const p = this.addPin(c, creator, created, k, remaining, m.engagement);
      // its past repins seed the category's popularity (only the last POPULAR_RING matter)
      const pop = this.popularRing(c);
      for (let r = Math.min(k - remaining, POPULAR_RING); r > 0; r--) { pop.push(p); this.popularAll.push(p); }
    }
    this.genTime = this.nowMs = this.lastEventTime = startMs;
    for (let p = 0; p < this.nInitial; p++) {
      if (this.pinRemaining[p] > 0) this.heap.push(startMs + sampleExponential(this.rng, 1 / (this.pinRemaining[p] * this.repinRatePerMs)), H_CASCADE, p, 0);
    }
  }

  /** Simulated time reached (ms): the `untilMs` of the last {@link eventsUntil}, or the last event returned. */
  get now(): number {
    return this.nowMs;
  }

  /**
   * The events in time order up to simulated time `untilMs` (exclusive), continuing from where the last call
   * stopped. A time before {@link now} gives `[]`.
   *
   * @throws {InvalidParameterError} when `untilMs` is not a finite number
   * @example
   * const firstMinute = gen.eventsUntil(60_000);
   * const secondMinute = gen.eventsUntil(120_000);
   */
  eventsUntil(untilMs: number): TrafficEvent[] {
    checkNumber('untilMs', untilMs);
    const out: TrafficEvent[] = [];
    for (;;) {
      while (this.bufPos < this.buf.length && this.buf[this.bufPos].time < untilMs) out.push(this.deliver());
      if (this.bufPos < this.buf.length || this.genTime >= untilMs) break;
      this.generateStep();
    }
    if (untilMs > this.nowMs) this.nowMs = untilMs;
    return out;
  }

  /**
   * The next `n` events (fewer only when the stream has ended: no rates and nothing scheduled, or a
   * simulated year without an event).
   *
   * @throws {InvalidParameterError} when `n` is not an integer ≥ 0
   * @example
   * const batch = gen.take(10_000);
   */
  take(n: number): TrafficEvent[] {
    checkInt('n', n, 0);
    const out: TrafficEvent[] = [];
    while (out.length < n) {
      const e = this.next();
      if (!e) break;
      out.push(e);
    }
    return out;
  }

  /**
   * The stream without bound (lazy): each step of the iteration is the next event. It shares the
   * generator's position with {@link take} and {@link eventsUntil}.
   *
   * @example
   * for (const e of gen) { if (e.time > 3_600_000) break; replay(e); }
   */
  *[Symbol.iterator](): IterableIterator<TrafficEvent> {
    for (;;) {
      const e = this.next();
      if (!e) return;
      yield e;
    }
  }

  /**
   * Counts so far (over the events returned).
   *
   * @example
   * gen.eventsUntil(60_000);
   * gen.stats().byKind.feed; // ≈ 3000 with the defaults
   */
  stats(): TrafficStats {
    const d = this.delivered;
    const byKind: Record<TrafficKind, number> = {
      create: d[CREATE], repin: d[REPIN], closeup: d[CLOSEUP], click: d[CLICK], view: d[VIEW], feed: d[FEED], search: d[SEARCH],
    };
    let events = 0;
    for (let i = 0; i < 7; i++) events += this.delivered[i];
    return {
      now: this.nowMs,
      events,
      byKind,
      pins: this.nInitial + this.deliveredCreates,
      initialPins: this.nInitial,
      pinsCreated: this.deliveredCreates,
      activeCascades: this.activePins,
      scheduled: this.heap.size,
    };
  }

  /**
   * The pins that exist: the catalogue and every pin whose `create` event has been returned, in id order.
   *
   * @example
   * const catalogue = gen.pins().map((p) => ({ id: p.id, category: p.category }));
   */
  pins(): TrafficPin[] {
    const n = this.nInitial + this.deliveredCreates;
    const out: TrafficPin[] = new Array(n);
    for (let p = 0; p < n; p++) {
      out[p] = {
        id: `p${p}`,
        category: this.catNames[this.pinCat[p]],
        creator: `u${this.pinCreator[p]}`,
        createdAt: this.pinCreated[p],
        repins: this.pinRepins[p],
        plannedRepins: this.pinPlanned[p],
      };
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------------------

  private next(): TrafficEvent | undefined {
    while (this.bufPos >= this.buf.length) {
      if (this.heap.size === 0 && this.pinsPerMs === 0 && this.feedsPerMs === 0 && this.searchesPerMs === 0) return undefined;
      if (this.genTime - this.lastEventTime > IDLE_LIMIT_MS) return undefined;
      this.generateStep();
    }
    const e = this.deliver();
    if (e.time > this.nowMs) this.nowMs = e.time;
    return e;
  }

  private deliver(): TrafficEvent {
    const i = this.bufPos++;
    const code = this.bufCode[i];
    this.delivered[code]++;
    if (code === CREATE) this.deliveredCreates++;
    else if (code === REPIN) this.pinRepins[this.bufPin[i]]++;
    const e = this.buf[i];
    this.lastEventTime = e.time;
    return e;
  }

  private multipliers(t: number, c: number): ScenarioMultipliers {
    const m = this.scenario.multiplier(t, c);
    if (!m || typeof m !== 'object') throw new InvalidParameterError(`scenario.multiplier(${t}, ${c})`, 'an object {pins, search, feed, engagement}', m);
    checkMultiplier(m.pins, 'pins', t, c);
    checkMultiplier(m.search, 'search', t, c);
    checkMultiplier(m.feed, 'feed', t, c);
    checkMultiplier(m.engagement, 'engagement', t, c);
    return m;
  }

  /** Generate the next step [genTime, end) into the buffer. */
  private generateStep(): void {
    this.buf = [];
    this.bufCode = [];
    this.bufPin = [];
    this.bufPos = 0;
    const s = this.genTime;
    const k = Math.floor(s / this.stepMs) + 1;
    let e = k * this.stepMs;
    if (e <= s) e = (k + 1) * this.stepMs;
    while (this.bpIdx < this.breakpoints.length && this.breakpoints[this.bpIdx] <= s) this.bpIdx++;
    if (this.bpIdx < this.breakpoints.length && this.breakpoints[this.bpIdx] < e) e = this.breakpoints[this.bpIdx];
    const mid = (s + e) / 2;
    let P = 0, F = 0, S = 0;
    for (let c = 0; c < this.nCat; c++) {
      const m = this.multipliers(mid, c);
      P += this.catShare[c] * m.pins; this.pinCdf[c] = P;
      F += this.groupMass[c] * m.feed; this.feedCdf[c] = F;
      S += this.groupMass[c] * m.search; this.searchCdf[c] = S;
      this.engNow[c] = m.engagement;
    }
    const ratePins = this.pinsPerMs * P;
    const rateFeeds = this.feedsPerMs * F;
    const rateSearch = this.searchesPerMs * S;
    const total = ratePins + rateFeeds + rateSearch;
    const rng = this.rng;
    let t = s;
    for (;;) {
      const ta = total > 0 ? t + sampleExponential(rng, 1 / total) : Infinity;
      const limit = ta < e ? ta : e;
      while (this.heap.peekTime() < limit) {
        this.heap.pop();
        this.runScheduled(this.heap.time, this.heap.kind, this.heap.a, this.heap.b);
      }
      if (ta >= e) break;
      t = ta;
      const u = rng.next() * total;
      if (u < ratePins) this.createPin(t, searchCdf(this.pinCdf, rng.next() * P));
      else if (u < ratePins + rateFeeds) this.feed(t, searchCdf(this.feedCdf, rng.next() * F));
      else this.search(t, searchCdf(this.searchCdf, rng.next() * S));
    }
    this.genTime = e;
  }

  private runScheduled(t: number, kind: number, a: number, b: number): void {
    switch (kind) {
      case H_CASCADE: {
        const p = a;
        const left = --this.pinRemaining[p];
        const c = this.pinCat[p];
        const e0 = this.pinEng[p];
        const m = e0 > 0 ? this.engNow[c] / e0 : this.engNow[c];
        let count = 1;
        if (m < 1) count = this.rng.next() < m ? 1 : 0;
        else if (m > 1) count = 1 + samplePoisson(this.rng, m - 1);
        if (count > 0) this.repin(t, p);
        for (let j = 1; j < count; j++) {
          if (this.delayMs > 0) this.heap.push(t + sampleExponential(this.rng, this.delayMs), H_REPIN, p, 0);
          else this.repin(t, p);
        }
        if (left > 0) this.heap.push(t + sampleExponential(this.rng, 1 / (left * this.repinRatePerMs)), H_CASCADE, p, 0);
        else this.activePins--;
        break;
      }
      case H_REPIN:
        this.repin(t, a);
        break;
      case H_CLOSEUP:
        this.emit(t, CLOSEUP, b, a, this.pinCat[a]);
        break;
      default:
        this.emit(t, CLICK, b, a, this.pinCat[a]);
    }
  }

  private createPin(t: number, c: number): void {
    const creator = this.userIn(c, this.rng);
    const k = sampleRepinCount(this.rng, this.repinMean, this.repinSigma);
    const p = this.addPin(c, creator, t, k, k, this.engNow[c]);
    if (k > 0) this.heap.push(t + sampleExponential(this.rng, 1 / (k * this.repinRatePerMs)), H_CASCADE, p, 0);
    this.emit(t, CREATE, creator, p, c);
  }

  private feed(t: number, c: number): void {
    const user = this.userIn(c, this.rng);
    this.emit(t, FEED, user, -1, c);
    const rng = this.rng;
    for (let v = 0; v < this.viewsPerFeed; v++) {
      const p = this.choosePin(c);
      if (p < 0) break;
      this.emit(t, VIEW, user, p, this.pinCat[p]);
      if (this.closeupRate > 0 && rng.next() < this.closeupRate) this.heap.push(t + sampleExponential(rng, this.delayMs), H_CLOSEUP, p, user);
      if (this.ctr > 0 && rng.next() < this.ctr) this.heap.push(t + sampleExponential(rng, this.delayMs), H_CLICK, p, user);
    }
  }

  private search(t: number, c: number): void {
    const user = this.userIn(c, this.rng);
    this.emit(t, SEARCH, user, this.choosePin(c), c);
  }

  private repin(t: number, p: number): void {
    const c = this.pinCat[p];
    const user = this.rng.next() < this.affinity ? this.userIn(c, this.rng) : this.anyUser(this.rng);
    this.popularRing(c).push(p);
    this.popularAll.push(p);
    this.emit(t, REPIN, user, p, c);
  }

  private emit(t: number, code: number, user: number, pin: number, c: number): void {
    const id = `${this.seed}-${this.seq++}`;
    const kind = TRAFFIC_KINDS[code];
    const e: TrafficEvent = pin >= 0
      ? { time: t, kind, id, user: `u${user}`, pin: `p${pin}`, category: this.catNames[c] }
      : { time: t, kind, id, user: `u${user}`, category: this.catNames[c] };
    this.buf.push(e);
    this.bufCode.push(code);
    this.bufPin.push(pin);
  }

  /** A pin to show a user interested in `c` (or a search's query pin); −1 when no pin exists yet. */
  private choosePin(c: number): number {
    const rng = this.rng;
    let pop: Ring | undefined = this.popularAll;
    let rec: Ring | undefined = this.recentAll;
    if (rng.next() < this.affinity) {
      pop = this.popular[c];
      rec = this.recent[c];
      if (!pop?.size && !rec?.size) { pop = this.popularAll; rec = this.recentAll; }
    }
    const first = rng.next() < 0.5 ? pop : rec;
    const second = first === pop ? rec : pop;
    if (first && first.size > 0) return first.sample(rng);
    if (second && second.size > 0) return second.sample(rng);
    return -1;
  }

  /** A user interested in category c, by activity (any user when none is). */
  private userIn(c: number, rng: Rng): number {
    const lo = this.groupOff[c];
    const hi = this.groupOff[c + 1];
    if (lo === hi) return this.anyUser(rng);
    const base = lo > 0 ? this.groupCum[lo - 1] : 0;
    return this.groupMembers[searchCdf(this.groupCum, base + rng.next() * (this.groupCum[hi - 1] - base), lo, hi)];
  }

  /** Any user, by activity. */
  private anyUser(rng: Rng): number {
    return this.groupMembers[searchCdf(this.groupCum, rng.next() * this.groupCum[this.nUsers - 1])];
  }

  private popularRing(c: number): Ring {
    let r = this.popular[c];
    if (!r) this.popular[c] = r = new Ring(POPULAR_RING);
    return r;
  }

  private addPin(c: number, creator: number, created: number, planned: number, remaining: number, eng: number): number {
    if (this.nPins === this.pinCat.length) this.growPins();
    const p = this.nPins++;
    this.pinCat[p] = c;
    this.pinCreator[p] = creator;
    this.pinCreated[p] = created;
    this.pinPlanned[p] = planned;
    this.pinRemaining[p] = remaining;
    this.pinEng[p] = eng;
    if (remaining > 0) this.activePins++;
    let r = this.recent[c];
    if (!r) this.recent[c] = r = new Ring(RECENT_RING);
    r.push(p);
    this.recentAll.push(p);
    return p;
  }

  private growPins(): void {
    const cap = this.pinCat.length * 2;
    const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => { const b = make(cap); b.set(a); return b; };
    this.pinCat = grow(this.pinCat, (n) => new Int32Array(n));
    this.pinCreator = grow(this.pinCreator, (n) => new Int32Array(n));
    this.pinCreated = grow(this.pinCreated, (n) => new Float64Array(n));
    this.pinRemaining = grow(this.pinRemaining, (n) => new Int32Array(n));
    this.pinPlanned = grow(this.pinPlanned, (n) => new Int32Array(n));
    this.pinEng = grow(this.pinEng, (n) => new Float64Array(n));
    this.pinRepins = grow(this.pinRepins, (n) => new Int32Array(n));
  }
}

function checkMultiplier(v: unknown, field: string, t: number, c: number): void {
  if (typeof v !== 'number' || !(v >= 0) || v === Infinity) {
    throw new InvalidParameterError(`scenario.multiplier(${t}, ${c}).${field}`, 'a finite number >= 0', v);
  }
}

function cumulative(w: Float64Array): Float64Array {
  const out = new Float64Array(w.length);
  let acc = 0;
  for (let i = 0; i < w.length; i++) out[i] = acc += w[i];
  return out;
}
