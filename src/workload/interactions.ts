/**
 * From traffic to collaborative filtering: the engagement events of a stream as `(user, item, weight,
 * timestamp)` records, the shape `interactionsFromRecords` (pinrec/cf) takes.
 */
import { InvalidParameterError } from '../core/errors.js';
import type { InteractionRecord } from '../cf/interactions.js';
import type { TrafficEvent, TrafficKind } from './traffic.js';

/** The kinds that can carry an interaction weight (feeds and searches never do). */
export type EngagementKind = 'create' | 'repin' | 'closeup' | 'click' | 'view';

/** Weight of each engagement kind; 0 drops the kind. */
export type TrafficWeights = Partial<Readonly<Record<EngagementKind, number>>>;

/**
 * Default weights, relative to a repin: creating a pin 1, repin 1, close-up 0.5, click 0.25, view 0 (views
 * are dropped). A frozen object without a prototype.
 */
export const DEFAULT_TRAFFIC_WEIGHTS: Readonly<Record<EngagementKind, number>> = (() => {
  const table = Object.create(null) as Record<EngagementKind, number>;
  for (const [k, v] of [['create', 1], ['repin', 1], ['closeup', 0.5], ['click', 0.25], ['view', 0]] as const) {
    Object.defineProperty(table, k, { value: v, enumerable: true });
  }
  return Object.freeze(table);
})();

const ENGAGEMENT_KINDS: readonly EngagementKind[] = Object.freeze(['create', 'repin', 'closeup', 'click', 'view'] as const);

/** One interaction record, ready for `interactionsFromRecords`. */
export interface TrafficInteraction extends InteractionRecord<string, string> {
  user: string;
  item: string;
  weight: number;
  timestamp: number;
}

/**
 * The engagement events of a traffic stream (create, repin, close-up, click and, when weighted, view) as
 * interaction records `{ user, item, weight, timestamp }`, in stream order; feeds, searches and kinds of
 * weight 0 are left out. The records go straight into `interactionsFromRecords` of pinrec/cf. `events` must
 * be finite (an array from `eventsUntil` / `take`, not the unbounded generator itself).
 *
 * @param weights weight per kind, merged over {@link DEFAULT_TRAFFIC_WEIGHTS} (finite, ≥ 0; unknown kinds are
 *   rejected). @default DEFAULT_TRAFFIC_WEIGHTS
 * @throws {InvalidParameterError} for an unknown kind or a bad weight
 * @example
 * import { interactionsFromRecords, SvdRecommender } from 'pinrec/cf';
 * const records = interactionsFromTraffic(gen.eventsUntil(600_000), { click: 0.5 });
 * const model = new SvdRecommender({ factors: 8 }).fit(interactionsFromRecords(records).toMatrix());
 */
export function interactionsFromTraffic(events: Iterable<TrafficEvent>, weights: TrafficWeights = {}): TrafficInteraction[] {
  const table = new Map<string, number>();
  for (const k of ENGAGEMENT_KINDS) table.set(k, DEFAULT_TRAFFIC_WEIGHTS[k]);
  if (weights === null || typeof weights !== 'object' || Array.isArray(weights)) throw new InvalidParameterError('weights', 'an object of kind → weight', weights);
  for (const [k, v] of Object.entries(weights)) {
    if (!table.has(k)) throw new InvalidParameterError(`weights.${k}`, `one of the kinds ${ENGAGEMENT_KINDS.join(', ')}`, k);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 3.4028234663852886e38) throw new InvalidParameterError(`weights.${k}`, 'a finite number >= 0', v);
    table.set(k, v);
  }
  if (events === null || typeof (events as Iterable<TrafficEvent>)?.[Symbol.iterator] !== 'function') {
    throw new InvalidParameterError('events', 'an iterable of traffic events', events);
  }
  const out: TrafficInteraction[] = [];
  let i = 0;
  for (const e of events) {
    const kind: TrafficKind | undefined = e?.kind;
    const w = typeof kind === 'string' ? table.get(kind) : undefined;
    if (w !== undefined && w > 0) {
      if (typeof e.pin !== 'string' || typeof e.user !== 'string' || typeof e.time !== 'number' || !Number.isFinite(e.time)) {
        throw new InvalidParameterError(`events[${i}]`, 'an engagement event with user, pin and a finite time', e);
      }
      out.push({ user: e.user, item: e.pin, weight: w, timestamp: e.time });
    }
    i++;
  }
  return out;
}
