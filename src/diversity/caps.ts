/**
 * The seed's diversity caps, exactly, in O(n) with counters.
 *
 * Rule (every number an option): walk the candidates best-first. While fewer than `freePrefix` (20) are
 * placed, place every candidate. After that, measure the list placed so far — *before* adding the
 * candidate — and skip the candidate when its category's share of that list is **strictly greater** than
 * `categoryCap` (0.30) or its creator's share is strictly greater than `creatorCap` (0.20). Stop at `limit`
 * (100) placed. A share exactly equal to the cap passes, so a list can end slightly above the cap
 * (6 of 20 = 0.30 passes, giving 7 of 21 ≈ 0.333; the next one of that category is then skipped).
 * Candidates with no category (or no creator) are never held back by that cap.
 *
 * The share is `count / placed` in floating point; for caps written as decimals (0.3) an exact ratio
 * (6/20) compares equal to the cap, as it would in the seed.
 */
import { InvalidParameterError } from '../core/errors.js';
import { checkInt, checkNumber, checkOneOf } from '../core/validate.js';

/** A category or creator key; `null`/`undefined` means none. */
export type Key = string | number | bigint;

/** What to do when candidates run out before `limit` is reached. */
export type OnExhausted = 'stop' | 'relax';

/**
 * Options of {@link selectWithCaps} and {@link applyCaps}.
 *
 * @example
 * const opts: CapsOptions = { freePrefix: 20, categoryCap: 0.3, creatorCap: 0.2, limit: 100, onExhausted: 'stop' };
 */
export interface CapsOptions {
  /** How many results are placed before any cap applies. @default 20 */
  freePrefix?: number;
  /** Largest category share (of the list placed so far) that still lets a candidate in, in [0, 1]. @default 0.3 */
  categoryCap?: number;
  /** Largest creator share that still lets a candidate in, in [0, 1]. @default 0.2 */
  creatorCap?: number;
  /** Most results. @default 100 */
  limit?: number;
  /**
   * When the candidates run out below `limit`: `'stop'` returns the shorter list (the seed's behaviour);
   * `'relax'` then fills up to `limit` with skipped candidates in their original order, ignoring the caps
   * (marked `relaxed`).
   * @default 'stop'
   */
  onExhausted?: OnExhausted;
}

/** Resolved caps options. */
export interface ResolvedCapsOptions {
  freePrefix: number;
  categoryCap: number;
  creatorCap: number;
  limit: number;
  onExhausted: OnExhausted;
}

/** Defaults: the seed's numbers. */
export const DEFAULT_CAPS: Readonly<ResolvedCapsOptions> = Object.freeze({
  freePrefix: 20, categoryCap: 0.3, creatorCap: 0.2, limit: 100, onExhausted: 'stop' as OnExhausted,
});

/** Why a candidate was skipped. */
export type CapReason = 'category' | 'creator' | 'category+creator';

/** A place where a list breaks the caps: see {@link checkCaps}, and {@link CapSkip} for a skipped candidate. */
export interface CapViolation {
  /** How many results were placed when it was considered (the share's denominator). */
  position: number;
  reason: CapReason;
  /** Its category's share of the placed list when it was considered (0 without a category). */
  categoryShare: number;
  /** Its creator's share of the placed list when it was considered (0 without a creator). */
  creatorShare: number;
}

/** One skipped candidate. */
export interface CapSkip extends CapViolation {
  /** The candidate's index in the input. */
  index: number;
}

/**
 * The caps rule for one candidate: with `placed` results before it, of which `cc` share its category and
 * `rc` its creator, the violation it would cause, or null when it passes (inside the free prefix it always does).
 */
function overCaps(o: ResolvedCapsOptions, placed: number, cc: number, rc: number): CapViolation | null {
  if (placed < o.freePrefix || placed === 0) return null;
  const cs = cc / placed;
  const rs = rc / placed;
  const overCat = cs > o.categoryCap;
  const overCre = rs > o.creatorCap;
  if (!overCat && !overCre) return null;
  return { position: placed, reason: overCat ? (overCre ? 'category+creator' : 'category') : 'creator', categoryShare: cs, creatorShare: rs };
}

/** Result of {@link selectWithCaps}. */
export interface CapsSelection {
  /** Input indices in output order. */
  selected: number[];
  /** Candidates skipped by a cap, in the order they were considered (relaxed ones included). */
  skipped: CapSkip[];
  /** How many of `selected` (at the end) were placed by `'relax'` fill, ignoring the caps. */
  relaxed: number;
  /** How many candidates were looked at (placed or skipped). */
  considered: number;
  /** Whether the candidates ran out before `limit` was reached under the caps. */
  exhausted: boolean;
}

/**
 * Checks the candidate indices of a selection as they are consumed: each must be an integer in `[0, bound)`
 * (`bound` = the length of the key arrays; `Infinity` when there are none) and not repeated. The error names
 * the position in `order` and the value. Internal (shared with window.ts).
 */
export class IndexChecker {
  private readonly seenSmall: Uint8Array | null;
  private readonly seenSet: Set<number> | null;
  private position = 0;
  constructor(private readonly bound: number) {
    this.seenSmall = Number.isFinite(bound) ? new Uint8Array(bound) : null;
    this.seenSet = this.seenSmall ? null : new Set<number>();
  }
  /** Check the next index; returns it. @throws {InvalidParameterError} naming `order[position]` */
  next(i: unknown): number {
    const p = this.position++;
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= this.bound) {
      const rule = Number.isFinite(this.bound) ? `an integer index in [0, ${this.bound})` : 'an integer index >= 0';
      throw new InvalidParameterError(`order[${p}]`, rule, i);
    }
    if (this.seenSmall ? this.seenSmall[i] === 1 : this.seenSet!.has(i)) {
      throw new InvalidParameterError(`order[${p}]`, 'an index not given before (each candidate once)', i);
    }
    if (this.seenSmall) this.seenSmall[i] = 1;
    else this.seenSet!.add(i);
    return i;
  }
}

/** Throws unless `order` is iterable. Internal. */
export function checkOrder(order: unknown): asserts order is Iterable<unknown> {
  if (order === null || order === undefined || typeof (order as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== 'function') {
    throw new InvalidParameterError('order', 'an iterable of candidate indices', order);
  }
}

/** Throws unless `keys` is absent (`undefined`/`null`) or array-like. Returns its length (`Infinity` when absent). Internal. */
export function keyArrayLength(parameter: string, keys: unknown, optional: boolean): number {
  if (optional && (keys === undefined || keys === null)) return Infinity;
  const len = (keys as { length?: unknown } | null | undefined)?.length;
  if (typeof keys !== 'object' || keys === null || typeof len !== 'number' || !Number.isInteger(len) || len < 0) {
    throw new InvalidParameterError(parameter, optional ? 'an array of keys, or undefined' : 'an array of keys', keys);
  }
  return len;
}

/** Validate and fill in defaults. @throws {InvalidParameterError} naming the bad option */
export function resolveCapsOptions(options: CapsOptions = {}): ResolvedCapsOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidParameterError('options', 'an object', options);
  const limit = checkInt('limit', options.limit ?? DEFAULT_CAPS.limit, 1);
  return {
    freePrefix: checkInt('freePrefix', options.freePrefix ?? DEFAULT_CAPS.freePrefix, 0),
    categoryCap: checkNumber('categoryCap', options.categoryCap ?? DEFAULT_CAPS.categoryCap, 0, 1),
    creatorCap: checkNumber('creatorCap', options.creatorCap ?? DEFAULT_CAPS.creatorCap, 0, 1),
    limit,
    onExhausted: checkOneOf('onExhausted', options.onExhausted ?? DEFAULT_CAPS.onExhausted, ['stop', 'relax'] as const),
  };
}

/**
 * The caps over candidates given by index: `order` yields input indices best-first (it is consumed lazily,
 * so a {@link RankHeap} from `pinrec/ranking` avoids sorting everything), `categories[i]` and `creators[i]`
 * are candidate `i`'s keys. O(considered) time with two hash counters.
 *
 * @throws {InvalidParameterError} for bad options, or (naming `order[position]` and the value) an index that is
 *   not an integer in `[0, length of categories/creators)` or is repeated
 * @example
 * const sel = selectWithCaps([0, 1, 2, 3], ['a', 'a', 'a', 'b'], ['x', 'y', 'z', 'w'],
 *                            { freePrefix: 2, categoryCap: 0.5, creatorCap: 1 });
 * sel.selected; // [0, 1, 3]   (candidate 2: category 'a' had 2 of 2 = 1.0 > 0.5)
 */
export function selectWithCaps(
  order: Iterable<number>,
  categories: ArrayLike<Key | null | undefined> | undefined,
  creators: ArrayLike<Key | null | undefined> | undefined,
  options: CapsOptions = {},
): CapsSelection {
  const o = resolveCapsOptions(options);
  checkOrder(order);
  const indexes = new IndexChecker(Math.min(keyArrayLength('categories', categories, true), keyArrayLength('creators', creators, true)));
  const catCount = new Map<Key, number>();
  const creCount = new Map<Key, number>();
  const selected: number[] = [];
  const skipped: CapSkip[] = [];
  let considered = 0;
  let exhausted = true;
  for (const given of order) {
    if (selected.length >= o.limit) {
      exhausted = false;
      break;
    }
    const i = indexes.next(given);
    considered++;
    const cat = categories ? categories[i] : undefined;
    const cre = creators ? creators[i] : undefined;
    const placed = selected.length;
    const cc = cat === undefined || cat === null ? 0 : (catCount.get(cat) ?? 0);
    const rc = cre === undefined || cre === null ? 0 : (creCount.get(cre) ?? 0);
    const over = overCaps(o, placed, cc, rc);
    if (over !== null) {
      skipped.push({ index: i, position: over.position, reason: over.reason, categoryShare: over.categoryShare, creatorShare: over.creatorShare });
      continue;
    }
    selected.push(i);
    if (cat !== undefined && cat !== null) catCount.set(cat, cc + 1);
    if (cre !== undefined && cre !== null) creCount.set(cre, rc + 1);
  }
  if (selected.length >= o.limit) exhausted = false;
  let relaxed = 0;
  if (exhausted && o.onExhausted === 'relax') {
    for (let s = 0; s < skipped.length && selected.length < o.limit; s++) {
      selected.push(skipped[s].index);
      relaxed++;
    }
  }
  return { selected, skipped, relaxed, considered, exhausted };
}

/** An item that may carry a category and a creator. */
export interface Groupable {
  category?: Key | null;
  creator?: Key | null;
}

/** Result of {@link applyCaps}. */
export interface CapsResult<T> {
  /** Items kept, in output order (relaxed fill, if any, at the end). */
  items: T[];
  /** Skipped items with the reason and the shares measured when each was considered. */
  skipped: (CapSkip & { item: T })[];
  /** How many items at the end of `items` were placed by `'relax'` fill. */
  relaxed: number;
  /** Whether the input ran out before `limit` under the caps. */
  exhausted: boolean;
}

/**
 * The seed's caps over items already in ranked order (best first).
 *
 * @param ranked items best-first, each with optional `category` and `creator`
 * @throws {InvalidParameterError} for bad options
 * @example
 * const { items, skipped } = applyCaps(rankedPins, { limit: 100 }); // seed defaults: 20 free, 0.30, 0.20
 */
export function applyCaps<T extends Groupable>(ranked: readonly T[], options: CapsOptions = {}): CapsResult<T> {
  if (!Array.isArray(ranked)) throw new InvalidParameterError('ranked', 'an array', ranked);
  const n = ranked.length;
  const cats = new Array<Key | null | undefined>(n);
  const cres = new Array<Key | null | undefined>(n);
  for (let i = 0; i < n; i++) {
    cats[i] = ranked[i]?.category;
    cres[i] = ranked[i]?.creator;
  }
  const sel = selectWithCaps(indices(n), cats, cres, options);
  return {
    items: sel.selected.map((i) => ranked[i]),
    skipped: sel.skipped.map((s) => ({ ...s, item: ranked[s.index] })),
    relaxed: sel.relaxed,
    exhausted: sel.exhausted,
  };
}

function* indices(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

/**
 * Check that a finished list obeys the caps: every item at position `p >= freePrefix` must have had a
 * category share and a creator share (over items `0..p-1`) not above the caps, and the list is no longer
 * than `limit`. `onExhausted` is ignored; relaxed fill shows up as violations. Use it in tests and evaluations.
 *
 * @returns the first violation, or `null` when the list obeys the caps
 * @throws {InvalidParameterError} for bad options, or when the list is longer than `limit`
 * @example
 * checkCaps(feed.items, {}); // null when the seed's caps hold
 */
export function checkCaps(list: readonly Groupable[], options: CapsOptions = {}): CapViolation | null {
  const o = resolveCapsOptions(options);
  if (!Array.isArray(list)) throw new InvalidParameterError('list', 'an array of items', list);
  if (list.length > o.limit) throw new InvalidParameterError('list.length', `<= limit (${o.limit})`, list.length);
  const catCount = new Map<Key, number>();
  const creCount = new Map<Key, number>();
  for (let p = 0; p < list.length; p++) {
    const cat = list[p]?.category;
    const cre = list[p]?.creator;
    const cc = cat === undefined || cat === null ? 0 : (catCount.get(cat) ?? 0);
    const rc = cre === undefined || cre === null ? 0 : (creCount.get(cre) ?? 0);
    const over = overCaps(o, p, cc, rc);
    if (over !== null) return over;
    if (cat !== undefined && cat !== null) catCount.set(cat, cc + 1);
    if (cre !== undefined && cre !== null) creCount.set(cre, rc + 1);
  }
  return null;
}
