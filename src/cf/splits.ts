/**
 * Holdout splits for offline evaluation: leave-last-out, leave-k-out (by timestamp or input order) and a seeded
 * random holdout, each a train matrix plus the held-out pins of every evaluated user.
 */
import { InvalidParameterError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { Id } from '../core/types.js';
import { checkInt, checkNumber, checkOneOf } from '../core/validate.js';
import type { CombineRule, InteractionLog, InteractionMatrix } from './interactions.js';

/**
 * A train matrix and the held-out pins of each evaluated user (dense indices). With `testIndptr`, user `q`'s
 * held-out pins are `testItems[testIndptr[q] .. testIndptr[q + 1])` (distinct columns, at least one);
 * without it, `testItems[q]` is user `q`'s one held-out pin.
 */
export interface HoldoutSplit<U extends Id = Id, I extends Id = Id> {
  train: InteractionMatrix<U, I>;
  /** Row index of each evaluated user. */
  testUsers: Int32Array;
  /** The held-out pins (column indices): one per user, or grouped by `testIndptr`. */
  testItems: Int32Array;
  /** Offsets of each user's held-out pins in `testItems` (length `testUsers.length + 1`). @default one pin per user */
  testIndptr?: Int32Array;
}

/** A split with one held-out pin per evaluated user, as {@link leaveLastOut} makes it. */
export type LeaveLastOutSplit<U extends Id = Id, I extends Id = Id> = HoldoutSplit<U, I>;

/** Options of {@link leaveLastOut}. */
export interface SplitOptions {
  /**
   * `'timestamp'`: each user's latest event by timestamp (ties: later in input) is held out;
   * `'order'`: the last event in input order (sequence data). @default 'timestamp' when the log has timestamps, else 'order'
   */
  by?: 'timestamp' | 'order';
  /** Users with fewer events than this are kept whole in train and not evaluated (integer >= 2). @default 2 */
  minEvents?: number;
  /** How duplicates combine in the train matrix. @default 'sum' */
  combine?: CombineRule;
}

/** Options of {@link leaveKOut}. */
export interface LeaveKOutOptions extends SplitOptions {
  /** Events held out per user (integer >= 1); users with fewer than `max(minEvents, k + 1)` events are not evaluated. @default 1 */
  k?: number;
}

/** Options of {@link randomHoldout}. */
export interface RandomHoldoutOptions {
  /** Probability that each event of an evaluated user is held out, in (0, 1). @default 0.2 */
  fraction?: number;
  /** Seed of the draws. @default 0 */
  seed?: number;
  /** Users with fewer events than this are kept whole in train and not evaluated (integer >= 2). @default 2 */
  minEvents?: number;
  /** How duplicates combine in the train matrix. @default 'sum' */
  combine?: CombineRule;
}

/**
 * Hold out each user's last interaction. Other events of the same pin stay in train (as in the usual
 * protocol), so a re-interaction is filtered as seen and counts as a miss. The same split as
 * `leaveKOut(log, { k: 1 })`, in the one-pin-per-user shape (no `testIndptr`).
 *
 * Defaults: `by` `'timestamp'` when the log has timestamps, else `'order'`; `minEvents` 2; `combine` `'sum'`.
 * @throws InvalidParameterError for a bad `by` (or `'timestamp'` without timestamps), `minEvents` or `combine`
 * @example
 * import { interactionsFromColumns, leaveLastOut } from 'pinrec/cf';
 * const log = interactionsFromColumns({ users: ['a', 'a', 'b', 'b'], items: ['x', 'y', 'x', 'z'] });
 * const split = leaveLastOut(log, { by: 'order', combine: 'max' });
 * split.testItems.length; // 2: y for a, z for b
 */
export function leaveLastOut<U extends Id, I extends Id>(log: InteractionLog<U, I>, options: SplitOptions = {}): LeaveLastOutSplit<U, I> {
  const { train, testUsers, testItems } = holdLast(log, options ?? {}, 1);
  return { train, testUsers, testItems };
}

/**
 * Hold out each user's last `k` events (by timestamp, ties by input order, or by input order, exactly as
 * {@link leaveLastOut} decides `by`). A user's held-out pins are the distinct pins of those events (in the input
 * order of the events); other events of the same pins stay in train (such a pin counts as relevant but is
 * never hit). Users with fewer than `max(minEvents, k + 1)` events stay whole in train and are not evaluated.
 * The result always has `testIndptr`; with `k = 1` it is otherwise the split of {@link leaveLastOut}.
 *
 * Defaults: `k` 1; `by` `'timestamp'` when the log has timestamps, else `'order'`; `minEvents` 2; `combine` `'sum'`.
 * @throws InvalidParameterError for a bad `k`, `by`, `minEvents` or `combine`
 * @example
 * import { evaluate, leaveKOut, syntheticInteractions, SvdRecommender } from 'pinrec/cf';
 * const split = leaveKOut(syntheticInteractions({ users: 300, items: 100, events: 6000, seed: 1 }), { k: 3 });
 * const model = new SvdRecommender({ factors: 8 }).fit(split.train);
 * const { recall, precision, map } = evaluate(model, split, { k: 10 });
 */
export function leaveKOut<U extends Id, I extends Id>(log: InteractionLog<U, I>, options: LeaveKOutOptions = {}): Required<HoldoutSplit<U, I>> {
  const o = options ?? {};
  const k = checkInt('k', o.k ?? 1, 1, 2 ** 31 - 2);
  return holdLast(log, o, k);
}

function holdLast<U extends Id, I extends Id>(log: InteractionLog<U, I>, options: SplitOptions, k: number): Required<HoldoutSplit<U, I>> {
  checkLog(log);
  const by = checkOneOf('by', options.by ?? (log.time ? 'timestamp' : 'order'), ['timestamp', 'order'] as const);
  if (by === 'timestamp' && !log.time) throw new InvalidParameterError('by', "'order' for a log without timestamps", by);
  const minEvents = checkInt('minEvents', options.minEvents ?? 2, 2);
  const need = Math.max(minEvents, k + 1);
  const { start, events } = byUser(log);
  const t = log.time;
  const keep = new Uint8Array(log.length).fill(1);
  const held: number[] = [];
  for (let u = 0; u < log.users.size; u++) {
    const n = start[u + 1] - start[u];
    if (n < need) continue;
    let mine = events.subarray(start[u], start[u + 1]); // input order
    if (by === 'timestamp') mine = Int32Array.from(mine).sort((a, b) => t![a] - t![b] || a - b);
    for (let p = n - k; p < n; p++) keep[mine[p]] = 0;
    held.push(u);
  }
  return finishSplit(log, keep, held, options.combine);
}

/**
 * Hold out each event of every evaluated user independently with probability `fraction` (seeded), keeping at
 * least one of the user's events in train and holding out at least one. A user's held-out pins are the
 * distinct pins of their held-out events, in input order; other events of the same pins stay in train (such a
 * pin counts as relevant but is never hit). Users with fewer than `minEvents` events stay whole in train.
 *
 * Defaults: `fraction` 0.2, `seed` 0, `minEvents` 2, `combine` `'sum'`.
 * @throws InvalidParameterError for a bad `fraction`, `seed`, `minEvents` or `combine`
 * @example
 * import { randomHoldout, syntheticInteractions } from 'pinrec/cf';
 * const split = randomHoldout(syntheticInteractions({ users: 300, items: 100, events: 6000, seed: 1 }), { fraction: 0.3, seed: 7 });
 * split.testIndptr[split.testUsers.length] === split.testItems.length; // true
 */
export function randomHoldout<U extends Id, I extends Id>(log: InteractionLog<U, I>, options: RandomHoldoutOptions = {}): Required<HoldoutSplit<U, I>> {
  checkLog(log);
  const o = options ?? {};
  const fraction = checkNumber('fraction', o.fraction ?? 0.2, 0, 1);
  if (fraction === 0 || fraction === 1) throw new InvalidParameterError('fraction', 'a finite number in (0, 1)', fraction);
  const seed = checkNumber('seed', o.seed ?? 0);
  const minEvents = checkInt('minEvents', o.minEvents ?? 2, 2);
  const rng = new Rng(seed);
  const { start, events } = byUser(log);
  const keep = new Uint8Array(log.length).fill(1);
  const held: number[] = [];
  for (let u = 0; u < log.users.size; u++) {
    const s = start[u];
    const n = start[u + 1] - s;
    if (n < minEvents) continue;
    let out = 0;
    for (let p = s; p < s + n; p++) if (rng.next() < fraction) { keep[events[p]] = 0; out++; }
    if (out === 0) keep[events[s + rng.int(n)]] = 0; // hold out at least one
    else if (out === n) keep[events[s + rng.int(n)]] = 1; // keep at least one in train
    held.push(u);
  }
  return finishSplit(log, keep, held, o.combine);
}

function checkLog(log: unknown): asserts log is InteractionLog {
  const l = log as InteractionLog | null;
  if (!l || !(l.user instanceof Int32Array) || !(l.item instanceof Int32Array) || typeof l.toMatrix !== 'function') {
    throw new InvalidParameterError('log', 'an InteractionLog', log);
  }
}

/** Event indices grouped by user row (stable: input order within a user). */
function byUser(log: InteractionLog): { start: Int32Array; events: Int32Array } {
  const nU = log.users.size;
  const start = new Int32Array(nU + 1);
  for (let e = 0; e < log.length; e++) start[log.user[e] + 1]++;
  for (let u = 0; u < nU; u++) start[u + 1] += start[u];
  const fill = start.slice(0, nU);
  const events = new Int32Array(log.length);
  for (let e = 0; e < log.length; e++) events[fill[log.user[e]]++] = e;
  return { start, events };
}

/** The train matrix of the kept events, and each held user's distinct dropped pins (in input order of the events). */
function finishSplit<U extends Id, I extends Id>(log: InteractionLog<U, I>, keep: Uint8Array, held: number[], combine: CombineRule | undefined): Required<HoldoutSplit<U, I>> {
  const train = log.toMatrix({ combine, keep });
  const heldRow = new Int32Array(log.users.size).fill(-1);
  held.forEach((u, q) => { heldRow[u] = q; });
  // dropped events of each held user, in input order (events are visited in input order)
  const count = new Int32Array(held.length + 1);
  for (let e = 0; e < log.length; e++) if (!keep[e]) count[heldRow[log.user[e]] + 1]++;
  for (let q = 0; q < held.length; q++) count[q + 1] += count[q];
  const fill = count.slice(0, held.length);
  const dropped = new Int32Array(count[held.length]);
  for (let e = 0; e < log.length; e++) if (!keep[e]) dropped[fill[heldRow[log.user[e]]]++] = log.item[e];
  // distinct pins per user, first occurrence first
  const stamp = new Int32Array(log.items.size);
  const indptr = new Int32Array(held.length + 1);
  const items = new Int32Array(dropped.length);
  let nz = 0;
  for (let q = 0; q < held.length; q++) {
    for (let p = count[q]; p < count[q + 1]; p++) {
      const j = dropped[p];
      if (stamp[j] === q + 1) continue;
      stamp[j] = q + 1;
      items[nz++] = j;
    }
    indptr[q + 1] = nz;
  }
  return { train, testUsers: Int32Array.from(held), testItems: items.slice(0, nz), testIndptr: indptr };
}
