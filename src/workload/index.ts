/**
 * pinrec/workload: seeded Pinterest-style traffic for load tests and benchmarks. {@link PinTrafficGenerator}
 * streams pin creations at a rate, heavy-tailed repin cascades (each pin repinned ~15× on average), feed
 * requests with their views, close-ups and clicks (5% click-through), and visual searches, from power-law
 * users and categories, under a named scenario (`normal`, `fashion-week`, `black-friday`, `wedding-season`)
 * or a custom one. The same options always give the same stream; memory stays bounded by the pins, not the
 * events. {@link interactionsFromTraffic} turns the engagement into CF interactions. See docs/workload.md.
 *
 * @example
 * import { PinTrafficGenerator, interactionsFromTraffic } from 'pinrec/workload';
 * import { interactionsFromRecords, SvdRecommender } from 'pinrec/cf';
 *
 * const gen = new PinTrafficGenerator({ seed: 7, users: 20_000, scenario: 'fashion-week' });
 * const hour = gen.eventsUntil(3_600_000);            // time-ordered events of the first simulated hour
 * const counts = gen.stats().byKind;                   // { create, repin, closeup, click, view, feed, search }
 * const model = new SvdRecommender({ factors: 8 }).fit(interactionsFromRecords(interactionsFromTraffic(hour)).toMatrix());
 */
export { PinTrafficGenerator, TRAFFIC_KINDS } from './traffic.js';
export type { TrafficKind, TrafficEvent, PinTrafficOptions, TrafficStats, TrafficPin } from './traffic.js';
export { SCENARIOS, SCENARIO_NAMES, DEFAULT_SURGE_MS, scenario, isScenarioName } from './scenarios.js';
export type { Scenario, ScenarioName, ScenarioMultipliers, ScenarioOptions } from './scenarios.js';
export { interactionsFromTraffic, DEFAULT_TRAFFIC_WEIGHTS } from './interactions.js';
export type { TrafficWeights, TrafficInteraction, EngagementKind } from './interactions.js';
export { sampleRepinCount, samplePoisson, zipfWeights } from './random.js';
