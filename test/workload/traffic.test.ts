import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { SvdRecommender, interactionsFromRecords } from '../../src/cf/index.js';
import {
  DEFAULT_TRAFFIC_WEIGHTS, PinTrafficGenerator, SCENARIOS, SCENARIO_NAMES, TRAFFIC_KINDS, interactionsFromTraffic, isScenarioName,
  samplePoisson, sampleRepinCount, scenario, zipfWeights, type PinTrafficOptions, type Scenario, type TrafficEvent, type TrafficKind,
} from '../../src/workload/index.js';

const count = (events: readonly TrafficEvent[], f: (e: TrafficEvent) => boolean): number => {
  let n = 0;
  for (const e of events) if (f(e)) n++;
  return n;
};
const inWindow = (e: TrafficEvent, a: number, b: number) => e.time >= a && e.time < b;
/** |observed − expected| within z standard deviations of a Poisson count. */
const expectPoisson = (observed: number, expected: number, z = 4.5) => {
  expect(Math.abs(observed - expected), `observed ${observed}, expected ${expected.toFixed(1)}`).toBeLessThan(z * Math.sqrt(expected) + 1);
};
const expectInvalid = (f: () => unknown, parameter: RegExp) => {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(err, `expected an InvalidParameterError naming ${parameter}`).toBeInstanceOf(InvalidParameterError);
  expect((err as InvalidParameterError).parameter).toMatch(parameter);
};

const LIGHT: PinTrafficOptions = { users: 20_000, feedsPerSecond: 5, searchesPerSecond: 2, initialPins: 2000 };
const C0_SHARE = zipfWeights(32, 1)[0];

describe('PinTrafficGenerator: stream properties', () => {
  it('is deterministic: same options → identical stream, however it is cut into calls', () => {
    const a = new PinTrafficGenerator({ ...LIGHT, seed: 42 }).eventsUntil(120_000);
    const g = new PinTrafficGenerator({ ...LIGHT, seed: 42 });
    const b = [...g.eventsUntil(30_000), ...g.take(1000), ...g.eventsUntil(77_777.5)];
    for (const e of g) { if (e.time >= 120_000) break; b.push(e); }
    expect(a.length).toBeGreaterThan(5000);
    expect(b).toEqual(a);
    const c = new PinTrafficGenerator({ ...LIGHT, seed: 43 }).eventsUntil(120_000);
    expect(c.slice(0, 100)).not.toEqual(a.slice(0, 100));
  });

  it('is in time order within [0, until), with unique ids `${seed}-${seq}` and well-formed fields', () => {
    const g = new PinTrafficGenerator({ ...LIGHT, seed: 5 });
    const ev = [...g.eventsUntil(60_000), ...g.eventsUntil(120_000)];
    expect(g.now).toBe(120_000);
    const ids = new Set<string>();
    let last = 0;
    const kinds = new Set<TrafficKind>();
    for (const e of ev) {
      expect(e.time).toBeGreaterThanOrEqual(last);
      last = e.time;
      ids.add(e.id);
      kinds.add(e.kind);
      expect(e.id).toMatch(/^5-\d+$/);
      expect(e.user).toMatch(/^u\d+$/);
      expect(e.category).toMatch(/^c\d+$/);
      if (e.kind === 'feed') expect(e.pin).toBeUndefined();
      else expect(e.pin).toMatch(/^p\d+$/);
    }
    expect(last).toBeLessThan(120_000);
    expect(ids.size).toBe(ev.length);
    expect([...kinds].sort()).toEqual([...TRAFFIC_KINDS].sort());
  });

  it('take, eventsUntil and the iterator share one position; now tracks it', () => {
    const g = new PinTrafficGenerator({ ...LIGHT, seed: 9 });
    const first = g.take(10);
    expect(g.now).toBe(first[9].time);
    const it = g[Symbol.iterator]();
    const eleventh = it.next().value as TrafficEvent;
    expect(Number(eleventh.id.split('-')[1])).toBe(Number(first[9].id.split('-')[1]) + 1);
    expect(g.eventsUntil(0)).toEqual([]);
    expect(g.stats().events).toBe(11);
  });

  it('close-ups and clicks follow a view of the same pin by the same user', () => {
    const ev = new PinTrafficGenerator({ ...LIGHT, seed: 3, feedsPerSecond: 20 }).eventsUntil(60_000);
    const seen = new Set<string>();
    let checked = 0;
    for (const e of ev) {
      if (e.kind === 'view') seen.add(`${e.user}|${e.pin}`);
      if (e.kind === 'click' || e.kind === 'closeup') { expect(seen.has(`${e.user}|${e.pin}`)).toBe(true); checked++; }
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('ends when nothing can happen any more, with every cascade finished', () => {
    expect(new PinTrafficGenerator({ initialPins: 0, pinsPerSecond: 0, feedsPerSecond: 0, searchesPerSecond: 0 }).take(10)).toEqual([]);
    const g = new PinTrafficGenerator({ users: 1000, initialPins: 300, pinsPerSecond: 0, feedsPerSecond: 0, searchesPerSecond: 0, repinHalfLifeMs: 10_000 });
    const all = g.take(1e7);
    expect(all.length).toBeGreaterThan(100);
    expect(all.every((e) => e.kind === 'repin')).toBe(true);
    expect(g.stats().activeCascades).toBe(0);
    expect(g.stats().scheduled).toBe(0);
    const byPin = new Map<string, number>();
    for (const e of all) byPin.set(e.pin!, (byPin.get(e.pin!) ?? 0) + 1);
    for (const p of g.pins()) {
      expect(p.repins).toBe(byPin.get(p.id) ?? 0);
      expect(p.repins).toBeLessThanOrEqual(p.plannedRepins);   // the catalogue's earlier repins happened before t = 0
      expect(p.createdAt).toBeLessThan(0);
    }
  });
});

describe('rates (normal scenario)', () => {
  const T = 600_000;
  const g = new PinTrafficGenerator({ users: 20_000, seed: 11, engagementDelayMs: 0 });
  const ev = g.eventsUntil(T);
  const by = (k: TrafficKind) => count(ev, (e) => e.kind === k);

  it('pins, feeds and searches arrive at the configured rates (Poisson: sd = √mean)', () => {
    expectPoisson(by('create'), 10 * 600);
    expectPoisson(by('feed'), 50 * 600);
    expectPoisson(by('search'), 2 * 600);
    const s = g.stats();
    expect(s.byKind.create).toBe(by('create'));
    expect(s.pins).toBe(10_000 + by('create'));
    expect(g.pins().length).toBe(s.pins);
    expect(g.pins().slice(10_000).map((p) => p.id)).toEqual(ev.filter((e) => e.kind === 'create').map((e) => e.pin));
  });

  it('each feed shows viewsPerFeed pins; click-through ≈ 5% and close-ups ≈ 2% of views', () => {
    const views = by('view');
    expect(views).toBe(10 * by('feed'));
    for (const [kind, p] of [['click', 0.05], ['closeup', 0.02]] as const) {
      const sd = Math.sqrt(views * p * (1 - p));
      expect(Math.abs(by(kind) - views * p)).toBeLessThan(4.5 * sd);
    }
  });

  it('user activity is a power law (top 1% of users make most requests) and c0 is the most popular category', () => {
    const feeds = ev.filter((e) => e.kind === 'feed');
    const top = count(feeds, (e) => Number(e.user.slice(1)) < 200);
    // Zipf(1) over 20,000 users: the top 200 hold H(200)/H(20000) ≈ 0.57 of the activity
    expect(top / feeds.length).toBeGreaterThan(0.5);
    expect(top / feeds.length).toBeLessThan(0.65);
    for (const kind of ['create', 'feed', 'view'] as const) {
      const perCat = new Map<string, number>();
      for (const e of ev) if (e.kind === kind) perCat.set(e.category, (perCat.get(e.category) ?? 0) + 1);
      const ranked = [...perCat].sort((a, b) => b[1] - a[1]);
      if (kind === 'create') expect(ranked[0][0]).toBe('c0');
      expect(ranked[0][1]).toBeGreaterThan(2 * ranked[ranked.length - 1][1]);
    }
    expectPoisson(count(ev, (e) => e.kind === 'create' && e.category === 'c0'), 10 * 600 * C0_SHARE);
  });

  it("a feed's views come mostly from the user's category", () => {
    let same = 0, total = 0, cat = '';
    for (const e of ev) {
      if (e.kind === 'feed') cat = e.category;
      else if (e.kind === 'view') { total++; if (e.category === cat) same++; }
    }
    expect(same / total).toBeGreaterThan(0.78);
  });
});

describe('repin cascades', () => {
  it('the repin-count law has mean ≈ 15 and a heavy tail', () => {
    const rng = new Rng(1);
    const n = 200_000;
    const xs = new Float64Array(n);
    for (let i = 0; i < n; i++) xs[i] = sampleRepinCount(rng);
    let sum = 0, sq = 0, max = 0, low = 0;
    for (const x of xs) { sum += x; sq += x * x; max = Math.max(max, x); if (x <= 1) low++; }
    const mean = sum / n;
    const sd = Math.sqrt(sq / n - mean * mean);
    expect(Math.abs(mean - 15)).toBeLessThan(4 * sd / Math.sqrt(n));
    expect(sd).toBeGreaterThan(2 * mean);             // Poisson would have sd ≈ 3.9
    expect(max / mean).toBeGreaterThan(50);
    expect(low / n).toBeGreaterThan(0.15);
    xs.sort();
    expect(xs[n / 2]).toBeLessThan(mean / 2);         // median well below the mean
    // σ = 0 is plain Poisson(15)
    const p = Array.from({ length: 20_000 }, () => sampleRepinCount(rng, 15, 0));
    expect(Math.max(...p)).toBeLessThan(40);
  });

  it('in the stream, pins whose cascades have finished got exactly their drawn count: mean ≈ 15, median delay = the half-life', () => {
    const halfLife = 1000;
    const g = new PinTrafficGenerator({ users: 5000, initialPins: 0, pinsPerSecond: 20, feedsPerSecond: 0, searchesPerSecond: 0, repinHalfLifeMs: halfLife, seed: 2 });
    const ev = g.eventsUntil(1_000_000);
    const pins = g.pins();
    const done = pins.filter((p) => p.createdAt < 900_000);   // 100 half-lives ago: every cascade has finished
    expect(done.length).toBeGreaterThan(17_000);
    let sum = 0, sq = 0, max = 0, low = 0;
    for (const p of done) {
      expect(p.repins).toBe(p.plannedRepins);
      sum += p.repins; sq += p.repins ** 2; max = Math.max(max, p.repins); if (p.repins <= 1) low++;
    }
    const mean = sum / done.length;
    const sd = Math.sqrt(sq / done.length - mean * mean);
    expect(Math.abs(mean - 15)).toBeLessThan(4 * sd / Math.sqrt(done.length));
    expect(max / mean).toBeGreaterThan(20);
    expect(low / done.length).toBeGreaterThan(0.15);
    // delays since creation are exponential with the half-life: the median is the half-life
    const created = new Map(pins.map((p) => [p.id, p.createdAt]));
    const delays = ev.filter((e) => e.kind === 'repin').map((e) => e.time - created.get(e.pin!)!).sort((a, b) => a - b);
    expect(delays[0]).toBeGreaterThanOrEqual(0);
    expect(Math.abs(delays[delays.length >> 1] / halfLife - 1)).toBeLessThan(0.05);
  });

  it('repinners are mostly interested in the pin\'s category (their feeds are in it)', () => {
    const ev = new PinTrafficGenerator({ ...LIGHT, seed: 4, feedsPerSecond: 40, repinHalfLifeMs: 60_000 }).eventsUntil(300_000);
    const interest = new Map<string, string>();
    for (const e of ev) if (e.kind === 'feed') interest.set(e.user, e.category);
    let same = 0, known = 0;
    for (const e of ev) {
      if (e.kind !== 'repin' || !interest.has(e.user)) continue;
      known++;
      if (interest.get(e.user) === e.category) same++;
    }
    expect(known).toBeGreaterThan(1000);
    expect(same / known).toBeGreaterThan(0.75);
  });

  it('samplePoisson has the right mean and variance for small and large λ', () => {
    const rng = new Rng(8);
    for (const lambda of [0.5, 3, 50, 10_000]) {
      const n = 40_000;
      let s = 0, s2 = 0;
      for (let i = 0; i < n; i++) { const x = samplePoisson(rng, lambda); s += x; s2 += x * x; }
      const mean = s / n, variance = s2 / n - mean * mean;
      expect(Math.abs(mean - lambda)).toBeLessThan(4 * Math.sqrt(lambda / n));
      expect(Math.abs(variance / lambda - 1)).toBeLessThan(0.05);
    }
    expect(samplePoisson(rng, 0)).toBe(0);
    expectInvalid(() => samplePoisson(rng, -1), /lambda/);
    expectInvalid(() => samplePoisson(rng, Infinity), /lambda/);
    expectInvalid(() => sampleRepinCount(rng, -1), /mean/);
    expectInvalid(() => sampleRepinCount(rng, 15, NaN), /sigma/);
    expectInvalid(() => zipfWeights(0, 1), /^n$/);
  });
});

describe('scenarios', () => {
  it('fashion-week: the surge category makes 25× the pins and 100× the searches during the window, then back to normal', () => {
    const start = 120_000, dur = 300_000, end = 540_000;
    const g = new PinTrafficGenerator({ ...LIGHT, pinsPerSecond: 40, searchesPerSecond: 20, scenario: 'fashion-week', surgeStartMs: start, surgeDurationMs: dur, seed: 6 });
    const ev = g.eventsUntil(end);
    const rate = (kind: TrafficKind, cat: (c: string) => boolean, a: number, b: number) =>
      count(ev, (e) => e.kind === kind && cat(e.category) && inWindow(e, a, b)) / ((b - a) / 1000);
    const c0 = (c: string) => c === 'c0';
    const others = (c: string) => c !== 'c0';
    for (const [kind, factor] of [['create', 25], ['search', 100]] as const) {
      const before = rate(kind, c0, 0, start), during = rate(kind, c0, start, start + dur), after = rate(kind, c0, start + dur, end);
      const base = (before * start + after * (end - start - dur)) / (end - dur);
      expect(during / base).toBeGreaterThan(factor * 0.85);
      expect(during / base).toBeLessThan(factor * 1.15);
      expect(after / before).toBeGreaterThan(0.8);
      expect(after / before).toBeLessThan(1.25);
      // the other categories do not move
      const o = rate(kind, others, start, start + dur) / rate(kind, others, 0, start);
      expect(o).toBeGreaterThan(0.85);
      expect(o).toBeLessThan(1.15);
    }
    expectPoisson(count(ev, (e) => e.kind === 'create' && c0(e.category) && inWindow(e, start, start + dur)), 40 * C0_SHARE * 25 * dur / 1000);
    // feeds do not surge
    const f = rate('feed', c0, start, start + dur) / rate('feed', c0, 0, end);
    expect(f).toBeGreaterThan(0.7);
    expect(f).toBeLessThan(1.4);
  });

  it('black-friday: everything ×50 during the window, back to normal after', () => {
    const start = 60_000, dur = 60_000, end = start + dur, until = 180_000, spill = 15_000;   // spill: delayed clicks, close-ups, extra repins
    const base: PinTrafficOptions = { ...LIGHT, feedsPerSecond: 20, initialPins: 4000, repinHalfLifeMs: 600_000, seed: 12 };
    const bf = new PinTrafficGenerator({ ...base, scenario: 'black-friday', surgeStartMs: start, surgeDurationMs: dur }).eventsUntil(until);
    const normal = new PinTrafficGenerator(base).eventsUntil(until);
    const n = (ev: TrafficEvent[], k: TrafficKind, a: number, b: number) => count(ev, (e) => e.kind === k && inWindow(e, a, b));
    // arrivals: exactly 50× the base rate inside, the base rate outside
    for (const [k, perSecond] of [['create', 10], ['feed', 20], ['search', 2]] as const) {
      expectPoisson(n(bf, k, 0, start), perSecond * start / 1000);
      expectPoisson(n(bf, k, start, end), 50 * perSecond * dur / 1000);
      expectPoisson(n(bf, k, end, until), perSecond * (until - end) / 1000);
    }
    // views follow the feeds; click-through and close-up rates per view are unchanged
    const views = n(bf, 'view', start, end);
    expect(views).toBe(10 * n(bf, 'feed', start, end));
    for (const [k, p] of [['click', 0.05], ['closeup', 0.02]] as const) {
      expect(Math.abs(n(bf, k, start, end + spill) - p * views)).toBeLessThan(4.5 * Math.sqrt(views * p) + 0.01 * p * views);
    }
    // repins: 50× the normal scenario's repins of the same window (cascades already under way fire 50×; pins
    // created in the window are 50× as many, with normal cascades: no compounding)
    const repins = n(bf, 'repin', start, end + spill);
    const normalRepins = 50 * n(normal, 'repin', start, end) + n(normal, 'repin', end, end + spill);
    expect(n(normal, 'repin', start, end)).toBeGreaterThan(1000);
    expect(repins / normalRepins).toBeGreaterThan(0.9);
    expect(repins / normalRepins).toBeLessThan(1.1);
    // after the window: back to (about) normal, not 50×
    const after = n(bf, 'repin', end + spill, until) / n(normal, 'repin', end + spill, until);
    expect(after).toBeGreaterThan(0.8);
    expect(after).toBeLessThan(1.6);
  });

  it('wedding-season: the surge category ramps linearly 1× → 10× over the duration, then stays', () => {
    const dur = 3_600_000;
    const g = new PinTrafficGenerator({ users: 5000, initialPins: 0, pinsPerSecond: 20, repinsPerPin: 0, feedsPerSecond: 0, searchesPerSecond: 0, scenario: 'wedding-season', surgeDurationMs: dur, seed: 3 });
    const bucket = 600_000;
    for (let k = 0; k < 7; k++) {
      const ev = g.eventsUntil((k + 1) * bucket);
      const f = k < 6 ? 1 + (9 * (k + 0.5)) / 6 : 10;
      expectPoisson(count(ev, (e) => e.category === 'c0'), 20 * C0_SHARE * f * (bucket / 1000));
      expectPoisson(count(ev, (e) => e.category !== 'c0'), 20 * (1 - C0_SHARE) * (bucket / 1000));
    }
    const s = scenario('wedding-season', { surgeCategory: 2, surgeDurationMs: dur });
    expect(s.multiplier(dur / 2, 2)).toEqual({ pins: 5.5, search: 5.5, feed: 5.5, engagement: 5.5 });
    expect(s.multiplier(dur / 2, 0).pins).toBe(1);
    expect(s.multiplier(10 * dur, 2).feed).toBe(10);
    expect(s.multiplier(-5, 2).feed).toBe(1);
  });

  it('startMs begins the stream inside a scenario without generating what came before', () => {
    const week = 7 * 86_400_000;
    const start = 5 * week;
    const g = new PinTrafficGenerator({ users: 5000, initialPins: 500, pinsPerSecond: 20, feedsPerSecond: 0, searchesPerSecond: 0, scenario: 'wedding-season', startMs: start, seed: 4 });
    expect(g.now).toBe(start);
    expect(g.pins().every((p) => p.createdAt < start && p.createdAt >= start - 25_000)).toBe(true);
    const ev = g.eventsUntil(start + 300_000);
    expect(ev[0].time).toBeGreaterThanOrEqual(start);
    expect(ev.some((e) => e.kind === 'repin' && Number(e.pin!.slice(1)) < 500)).toBe(true);   // the catalogue's cascades run
    const f = 1 + 9 * (5 / 6);
    expectPoisson(count(ev, (e) => e.kind === 'create' && e.category === 'c0'), 20 * C0_SHARE * f * 300);
    expectPoisson(count(ev, (e) => e.kind === 'create' && e.category !== 'c0'), 20 * (1 - C0_SHARE) * 300);
  });

  it('the built-in table: names, defaults, safe lookups', () => {
    expect(SCENARIO_NAMES).toEqual(['normal', 'fashion-week', 'black-friday', 'wedding-season']);
    expect(Object.isFrozen(SCENARIOS)).toBe(true);
    expect((SCENARIOS as unknown as Record<string, unknown>)['toString']).toBeUndefined();
    expect(isScenarioName('toString')).toBe(false);
    expect(isScenarioName('black-friday')).toBe(true);
    expect(SCENARIOS['fashion-week'].multiplier(3_599_999, 0)).toMatchObject({ pins: 25, search: 100, feed: 1 });
    expect(SCENARIOS['fashion-week'].multiplier(3_600_000, 0).search).toBe(1);
    expect(SCENARIOS['fashion-week'].multiplier(0, 1).search).toBe(1);
    expect(SCENARIOS['black-friday'].multiplier(86_399_999, 9)).toEqual({ pins: 50, search: 50, feed: 50, engagement: 50 });
    expect(SCENARIOS['black-friday'].multiplier(86_400_000, 9).pins).toBe(1);
    expect(SCENARIOS['wedding-season'].multiplier(6 * 7 * 86_400_000, 0).pins).toBe(10);
    for (const n of SCENARIO_NAMES) expect(SCENARIOS[n].description.length).toBeGreaterThan(5);
  });

  it('a custom scenario is honoured, its breakpoints to the millisecond', () => {
    const custom: Scenario = {
      name: 'late-start', description: 'no pins before 2500.5 ms',
      multiplier: (t) => ({ pins: t < 2500.5 ? 0 : 1, search: 1, feed: 1, engagement: 1 }),
      breakpoints: [2500.5],
    };
    const ev = new PinTrafficGenerator({ ...LIGHT, pinsPerSecond: 1000, scenario: custom }).eventsUntil(5000);
    const first = ev.find((e) => e.kind === 'create')!;
    expect(first.time).toBeGreaterThanOrEqual(2500.5);
    expect(first.time).toBeLessThan(2520);
    const bad: Scenario = { name: 'bad', description: '', multiplier: () => ({ pins: -1, search: 1, feed: 1, engagement: 1 }) };
    expectInvalid(() => new PinTrafficGenerator({ ...LIGHT, scenario: bad }).eventsUntil(1000), /scenario\.multiplier\(.*\)\.pins/);
  });
});

describe('interactionsFromTraffic', () => {
  it('maps engagement events to weighted records that interactionsFromRecords takes, and an SVD model fits them', () => {
    const g = new PinTrafficGenerator({ users: 800, categories: 8, initialPins: 400, feedsPerSecond: 20, repinHalfLifeMs: 120_000, seed: 21 });
    const ev = g.eventsUntil(300_000);
    const records = interactionsFromTraffic(ev);
    const engaged = ev.filter((e) => e.kind === 'create' || e.kind === 'repin' || e.kind === 'closeup' || e.kind === 'click');
    expect(records.length).toBe(engaged.length);
    expect(records[0]).toEqual({ user: engaged[0].user, item: engaged[0].pin, weight: DEFAULT_TRAFFIC_WEIGHTS[engaged[0].kind as 'repin'], timestamp: engaged[0].time });
    const w = new Map(records.map((r, i) => [engaged[i].kind, r.weight]));
    expect(Object.fromEntries(w)).toEqual({ create: 1, repin: 1, closeup: 0.5, click: 0.25 });
    const log = interactionsFromRecords(records);
    expect(log.length).toBe(records.length);
    expect(log.time).toBeDefined();
    const model = new SvdRecommender<string, string>({ factors: 8, order: 'off', threads: 1 }).fit(log.toMatrix());
    expect(model.factors).toBe(8);
    const user = records[0].user;
    const rec = model.recommend(user, { n: 5 });
    expect(rec.ids.length).toBe(5);
    expect(rec.ids.every((id) => /^p\d+$/.test(id))).toBe(true);
  });

  it('takes custom weights (views included, clicks dropped) and rejects bad ones', () => {
    const ev = new PinTrafficGenerator({ ...LIGHT, seed: 1 }).eventsUntil(20_000);
    const r = interactionsFromTraffic(ev, { view: 0.1, click: 0 });
    expect(r.length).toBe(count(ev, (e) => ['create', 'repin', 'closeup', 'view'].includes(e.kind)));
    expect(r.some((x) => x.weight === 0.1)).toBe(true);
    expectInvalid(() => interactionsFromTraffic(ev, { feed: 1 } as never), /weights\.feed/);
    expectInvalid(() => interactionsFromTraffic(ev, JSON.parse('{"__proto__": 1}')), /weights\.__proto__/);
    expectInvalid(() => interactionsFromTraffic(ev, { repin: -1 }), /weights\.repin/);
    expectInvalid(() => interactionsFromTraffic(ev, { click: NaN }), /weights\.click/);
    expectInvalid(() => interactionsFromTraffic(42 as never), /events/);
  });
});

describe('validation', () => {
  const bad: [PinTrafficOptions | Record<string, unknown>, RegExp][] = [
    [{ users: 0 }, /^users$/], [{ users: 1.5 }, /^users$/], [{ userSkew: -1 }, /userSkew/],
    [{ categories: 0 }, /^categories$/], [{ categorySkew: NaN }, /categorySkew/],
    [{ categoryNames: ['a', 'a'] }, /categoryNames\[1\]/], [{ categoryNames: [] }, /categoryNames/], [{ categoryNames: ['a', 'b'], categories: 3 }, /^categories$/],
    [{ initialPins: -1 }, /initialPins/], [{ initialAgeMs: -5 }, /initialAgeMs/],
    [{ pinsPerSecond: -1 }, /pinsPerSecond/], [{ feedsPerSecond: Infinity }, /feedsPerSecond/], [{ searchesPerSecond: -0.1 }, /searchesPerSecond/],
    [{ repinsPerPin: -2 }, /repinsPerPin/], [{ repinSigma: 9 }, /repinSigma/], [{ repinHalfLifeMs: 0 }, /repinHalfLifeMs/],
    [{ viewsPerFeed: -1 }, /viewsPerFeed/], [{ viewsPerFeed: 2.5 }, /viewsPerFeed/],
    [{ clickThrough: 1.5 }, /clickThrough/], [{ closeupRate: -0.1 }, /closeupRate/], [{ categoryAffinity: 2 }, /categoryAffinity/],
    [{ engagementDelayMs: -1 }, /engagementDelayMs/], [{ stepMs: 0 }, /stepMs/], [{ seed: NaN }, /seed/], [{ startMs: NaN }, /startMs/],
    [{ scenario: 'cyber-monday' as never }, /^scenario$/], [{ scenario: 'toString' as never }, /^scenario$/], [{ scenario: {} as never }, /^scenario$/],
    [{ scenario: 'fashion-week', surgeCategory: 32 }, /surgeCategory/], [{ scenario: 'fashion-week', surgeDurationMs: 0 }, /surgeDurationMs/],
    [{ scenario: 'black-friday', surgeStartMs: NaN }, /surgeStartMs/],
    [{ pinsPerSec: 3 }, /options\.pinsPerSec/],
  ];
  for (const [o, name] of bad) {
    it(`rejects ${JSON.stringify(o)}`, () => expectInvalid(() => new PinTrafficGenerator({ users: 100, initialPins: 10, ...o } as PinTrafficOptions), name));
  }
  it('names the value in the message', () => {
    expect(() => new PinTrafficGenerator({ clickThrough: 1.5 })).toThrow(/clickThrough must be a finite number in \[0, 1\] \(got 1\.5\)/);
    expect(() => scenario('nope' as never)).toThrow(/scenario must be one of 'normal', 'fashion-week'/);
  });
  it('checks the arguments of eventsUntil and take', () => {
    const g = new PinTrafficGenerator({ users: 100, initialPins: 10 });
    expectInvalid(() => g.eventsUntil(NaN), /untilMs/);
    expectInvalid(() => g.eventsUntil(Infinity), /untilMs/);
    expectInvalid(() => g.take(-1), /^n$/);
  });
});
