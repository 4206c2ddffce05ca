/**
 * Traffic scenarios: rate multipliers over simulated time and category, the incident shapes the load tests
 * replay. Four are built in (`normal`, `fashion-week`, `black-friday`, `wedding-season`); any object with a
 * `multiplier(t, category)` is a scenario too.
 */
import { InvalidParameterError } from '../core/errors.js';
import { checkInt, checkNumber, checkPositive } from '../core/validate.js';

/** The names of the built-in scenarios. */
export type ScenarioName = 'normal' | 'fashion-week' | 'black-friday' | 'wedding-season';

/** The built-in scenario names, in a fixed order. */
export const SCENARIO_NAMES: readonly ScenarioName[] = Object.freeze(['normal', 'fashion-week', 'black-friday', 'wedding-season'] as const);

/**
 * Rate multipliers at one instant for one category (each finite and ≥ 0; 1 is the base rate).
 *
 * - `pins`: pin creation in the category;
 * - `search`: visual searches by users interested in the category;
 * - `feed`: home-feed requests by users interested in the category (and so the views, close-ups and clicks
 *   they lead to);
 * - `engagement`: the repin cascades of the category's pins (see {@link PinTrafficGenerator} for how a
 *   change of level rescales cascades already under way).
 */
export interface ScenarioMultipliers {
  pins: number;
  search: number;
  feed: number;
  engagement: number;
}

/**
 * A traffic shape: rate multipliers as a function of simulated time and category index.
 *
 * @example
 * // a custom scenario: every category's feeds double after the first hour
 * const lunchRush: Scenario = {
 *   name: 'lunch-rush', description: 'feeds ×2 after 1 h',
 *   multiplier: (t) => ({ pins: 1, search: 1, feed: t >= 3_600_000 ? 2 : 1, engagement: 1 }),
 *   breakpoints: [3_600_000],
 * };
 */
export interface Scenario {
  /** A name for reports. */
  name: string;
  /** One line on what it models. */
  description: string;
  /**
   * The multipliers at simulated time `t` (ms; negative for the catalogue's past) for category index
   * `category`. The generator evaluates it once per category per step (at the step's midpoint), so it should
   * be cheap and pure.
   */
  multiplier(t: number, category: number): ScenarioMultipliers;
  /**
   * Times (ms) where the multipliers jump. The generator ends a step at each, so a jump is honoured to the
   * millisecond whatever the step length. @default none
   */
  breakpoints?: readonly number[];
}

/** Where and when a built-in scenario surges. */
export interface ScenarioOptions {
  /** Category index that surges in `fashion-week` and `wedding-season`. @default 0 */
  surgeCategory?: number;
  /** Start of the surge (ms of simulated time). @default 0 */
  surgeStartMs?: number;
  /**
   * Length of the surge (ms): `fashion-week` 1 h, `black-friday` 24 h; for `wedding-season` the length of the
   * ramp from 1× to 10×, after which the level stays at 10×. @default 3_600_000 / 86_400_000 / 3_628_800_000 (6 weeks)
   */
  surgeDurationMs?: number;
}

const HOUR = 3_600_000;
/** Default surge lengths of the built-in scenarios (ms). */
export const DEFAULT_SURGE_MS: Readonly<Record<ScenarioName, number>> = Object.freeze({
  'normal': 0,
  'fashion-week': HOUR,
  'black-friday': 24 * HOUR,
  'wedding-season': 6 * 7 * 24 * HOUR,
});

const ONE: ScenarioMultipliers = Object.freeze({ pins: 1, search: 1, feed: 1, engagement: 1 });
const FASHION: ScenarioMultipliers = Object.freeze({ pins: 25, search: 100, feed: 1, engagement: 1 });
const BLACK_FRIDAY: ScenarioMultipliers = Object.freeze({ pins: 50, search: 50, feed: 50, engagement: 50 });

/** Whether `name` is one of {@link SCENARIO_NAMES} (safe for any value: no object lookup). */
export function isScenarioName(name: unknown): name is ScenarioName {
  return typeof name === 'string' && (SCENARIO_NAMES as readonly string[]).includes(name);
}

/**
 * A built-in scenario:
 *
 * | name | multipliers |
 * |---|---|
 * | `normal` | 1 everywhere |
 * | `fashion-week` | surge category, inside [start, start + duration): pins ×25, search ×100 (feed, engagement ×1) |
 * | `black-friday` | every category, inside [start, start + duration): pins, search, feed, engagement ×50 |
 * | `wedding-season` | surge category: all four ×(1 + 9·clamp((t − start) / duration, 0, 1)), a linear ramp to 10× that stays |
 *
 * Outside its window (and at negative times, the catalogue's past) a scenario is 1 everywhere, except that
 * `wedding-season` stays at 10× after its ramp.
 *
 * @throws {InvalidParameterError} for an unknown name or a bad option
 * @example
 * const s = scenario('fashion-week', { surgeCategory: 3, surgeStartMs: 600_000 });
 * s.multiplier(700_000, 3).search; // 100
 */
export function scenario(name: ScenarioName, options: ScenarioOptions = {}): Scenario {
  if (!isScenarioName(name)) {
    throw new InvalidParameterError('scenario', `one of ${SCENARIO_NAMES.map((n) => `'${n}'`).join(', ')} or a Scenario object`, name);
  }
  const o = options ?? {};
  const surge = checkInt('surgeCategory', o.surgeCategory ?? 0, 0);
  const start = checkNumber('surgeStartMs', o.surgeStartMs ?? 0);
  const duration = checkPositive('surgeDurationMs', o.surgeDurationMs ?? (DEFAULT_SURGE_MS[name] || HOUR));
  const end = start + duration;
  const span = (ms: number) => (ms % HOUR === 0 ? `${ms / HOUR} h` : `${ms / 60_000} min`);
  switch (name) {
    case 'normal':
      return Object.freeze({ name, description: 'base rates everywhere', multiplier: () => ONE, breakpoints: Object.freeze([]) });
    case 'fashion-week':
      return Object.freeze({
        name,
        description: `category ${surge} surges for ${span(duration)} from t = ${start} ms: pins ×25, visual search ×100`,
        multiplier: (t: number, c: number) => (c === surge && t >= start && t < end ? FASHION : ONE),
        breakpoints: Object.freeze([start, end]),
      });
    case 'black-friday':
      return Object.freeze({
        name,
        description: `everything ×50 for ${span(duration)} from t = ${start} ms`,
        multiplier: (t: number) => (t >= start && t < end ? BLACK_FRIDAY : ONE),
        breakpoints: Object.freeze([start, end]),
      });
    case 'wedding-season': {
      return Object.freeze({
        name,
        description: `category ${surge} grows linearly from 1× to 10× over ${span(duration)} from t = ${start} ms, then stays at 10×`,
        multiplier: (t: number, c: number) => {
          if (c !== surge || t <= start) return ONE;
          const f = 1 + 9 * Math.min(1, (t - start) / duration);
          return { pins: f, search: f, feed: f, engagement: f };
        },
        breakpoints: Object.freeze([start, end]),
      });
    }
  }
}

/**
 * The built-in scenarios with their default options (surge category 0, start 0), keyed by name. A frozen
 * object without a prototype: `SCENARIOS['toString']` is `undefined`, but check names with
 * {@link isScenarioName} before looking one up.
 *
 * @example
 * SCENARIOS['black-friday'].multiplier(1000, 5).feed; // 50
 */
export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = (() => {
  const table = Object.create(null) as Record<ScenarioName, Scenario>;
  for (const n of SCENARIO_NAMES) Object.defineProperty(table, n, { value: scenario(n), enumerable: true });
  return Object.freeze(table);
})();

/**
 * Resolve the `scenario` option: a built-in name (with the surge options) or a {@link Scenario} object,
 * checked for shape.
 */
export function resolveScenario(value: unknown, options: ScenarioOptions): Scenario {
  if (typeof value === 'string') return scenario(value as ScenarioName, options);
  if (value && typeof value === 'object' && typeof (value as Scenario).multiplier === 'function') {
    const s = value as Scenario;
    if (s.breakpoints !== undefined) {
      if (!Array.isArray(s.breakpoints)) throw new InvalidParameterError('scenario.breakpoints', 'an array of times (ms)', s.breakpoints);
      s.breakpoints.forEach((b, i) => checkNumber(`scenario.breakpoints[${i}]`, b));
    }
    return s;
  }
  throw new InvalidParameterError('scenario', `one of ${SCENARIO_NAMES.map((n) => `'${n}'`).join(', ')} or a Scenario object with a multiplier(t, category) function`, value);
}
