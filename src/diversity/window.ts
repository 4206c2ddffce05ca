/**
 * Sliding-window constraint: in every run of `window` consecutive results, at most `maxPerWindow` share a
 * key (category, creator, or any key you pass). Greedy and order-preserving: at each position the
 * best-ranked candidate that fits is placed; candidates that do not fit yet are deferred and retried at
 * later positions (so they move down, never out, unless the candidates run out).
 */
import { InvalidParameterError } from '../core/errors.js';
import { checkInt, checkOneOf } from '../core/validate.js';
import { checkOrder, IndexChecker, keyArrayLength, type Key, type OnExhausted } from './caps.js';

/**
 * Options of {@link selectWithWindow} and {@link applySlidingWindow}.
 *
 * @example
 * const opts: WindowOptions = { window: 5, maxPerWindow: 2, limit: 100, onExhausted: 'stop' };
 */
export interface WindowOptions {
  /** Window length in positions, >= 1. @default 5 */
  window?: number;
  /** Most results with the same key in any window, >= 1. @default 1 */
  maxPerWindow?: number;
  /** Most results. @default 100 */
  limit?: number;
  /**
   * When no remaining candidate fits: `'stop'` ends the list; `'relax'` places the best deferred candidate
   * anyway and goes on.
   * @default 'stop'
   */
  onExhausted?: OnExhausted;
}

/** Result of {@link selectWithWindow}. */
export interface WindowSelection {
  /** Input indices in output order. */
  selected: number[];
  /** How many were placed against the constraint by `'relax'`. */
  relaxed: number;
  /** Indices that were deferred at least once (moved down the list or left out). */
  deferred: number[];
}

/**
 * Sliding-window selection over candidates given by index, best-first.
 *
 * @param order input indices best-first
 * @param keyLists one or more key arrays (e.g. `[categories, creators]`); the constraint applies to each
 *   separately; a `null`/`undefined` key is never constrained
 * @throws {InvalidParameterError} for bad options or key lists, or (naming `order[position]` and the value) an
 *   index that is not an integer in `[0, shortest key list length)` or is repeated
 * @example
 * selectWithWindow([0, 1, 2, 3], [['a', 'a', 'b', 'b']], { window: 2, maxPerWindow: 1 }).selected; // [0, 2, 1, 3]
 */
export function selectWithWindow(
  order: Iterable<number>,
  keyLists: readonly ArrayLike<Key | null | undefined>[],
  options: WindowOptions = {},
): WindowSelection {
  if (options === null || typeof options !== 'object') throw new InvalidParameterError('options', 'an object', options);
  const w = checkInt('window', options.window ?? 5, 1);
  const maxPer = checkInt('maxPerWindow', options.maxPerWindow ?? 1, 1);
  const limit = checkInt('limit', options.limit ?? 100, 1);
  const onEx = checkOneOf('onExhausted', options.onExhausted ?? 'stop', ['stop', 'relax'] as const);
  if (!Array.isArray(keyLists)) throw new InvalidParameterError('keyLists', 'an array of key arrays', keyLists);
  checkOrder(order);
  let bound = Infinity;
  for (let k = 0; k < keyLists.length; k++) bound = Math.min(bound, keyArrayLength(`keyLists[${k}]`, keyLists[k], false));
  const indexes = new IndexChecker(bound);
  const counts = keyLists.map(() => new Map<Key, number>());
  const selected: number[] = [];
  const pending: number[] = [];
  const deferredSet = new Set<number>();
  let relaxed = 0;
  const it = (order as Iterable<unknown>)[Symbol.iterator]();
  let streamDone = false;

  const fits = (i: number): boolean => {
    for (let k = 0; k < keyLists.length; k++) {
      const key = keyLists[k][i];
      if (key === undefined || key === null) continue;
      if ((counts[k].get(key) ?? 0) + 1 > maxPer) return false;
    }
    return true;
  };
  const place = (i: number): void => {
    selected.push(i);
    for (let k = 0; k < keyLists.length; k++) {
      const key = keyLists[k][i];
      if (key !== undefined && key !== null) counts[k].set(key, (counts[k].get(key) ?? 0) + 1);
    }
    // keep counts over the last w-1 placed results: the window that the next result will close
    const leaving = selected.length - w;
    if (leaving >= 0) {
      const j = selected[leaving];
      for (let k = 0; k < keyLists.length; k++) {
        const key = keyLists[k][j];
        if (key !== undefined && key !== null) counts[k].set(key, counts[k].get(key)! - 1);
      }
    }
  };

  while (selected.length < limit) {
    let chosen = -1;
    for (let p = 0; p < pending.length; p++) {
      if (fits(pending[p])) {
        chosen = pending[p];
        pending.splice(p, 1);
        break;
      }
    }
    while (chosen < 0 && !streamDone) {
      const r = it.next();
      if (r.done) { streamDone = true; break; }
      const i = indexes.next(r.value);
      if (fits(i)) chosen = i;
      else { pending.push(i); deferredSet.add(i); }
    }
    if (chosen < 0) {
      if (onEx === 'relax' && pending.length > 0) {
        chosen = pending.shift()!;
        relaxed++;
      } else break;
    }
    place(chosen);
  }
  return { selected, relaxed, deferred: [...deferredSet] };
}

/**
 * Sliding-window constraint over items already in ranked order, on their `category` and/or `creator`.
 *
 * @param by which keys to constrain @default ['category']
 * @example
 * applySlidingWindow(ranked, { window: 4, maxPerWindow: 1 }, ['category', 'creator']);
 */
export function applySlidingWindow<T extends { category?: Key | null; creator?: Key | null }>(
  ranked: readonly T[],
  options: WindowOptions = {},
  by: readonly ('category' | 'creator')[] = ['category'],
): { items: T[]; relaxed: number; deferred: T[] } {
  if (!Array.isArray(ranked)) throw new InvalidParameterError('ranked', 'an array', ranked);
  if (options === null || typeof options !== 'object') throw new InvalidParameterError('options', 'an object', options);
  if (!Array.isArray(by)) throw new InvalidParameterError('by', "an array of 'category' / 'creator'", by);
  for (const b of by) checkOneOf('by', b, ['category', 'creator'] as const);
  // Like applyCaps: an item without the key (even a null item) is never held back.
  const keyLists = by.map((b) => ranked.map((r) => r?.[b]));
  const sel = selectWithWindow(ranked.keys(), keyLists, options);
  return { items: sel.selected.map((i) => ranked[i]), relaxed: sel.relaxed, deferred: sel.deferred.map((i) => ranked[i]) };
}
