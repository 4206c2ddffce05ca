/**
 * Turns a caller's {@link Filter} (over ids) into a predicate over dense labels, shared by every index.
 */
import { InvalidParameterError } from '../core/errors.js';
import type { IdMap } from '../core/ids.js';
import type { Id } from '../core/types.js';
import type { Filter } from './types.js';

/** A filter resolved against an index's labels. */
export interface LabelFilter {
  /** Whether a (live) label may be returned. */
  accept: (label: number) => boolean;
  /** Live labels that pass, when the filter is an allow-set (else null). */
  allowLabels: Int32Array | null;
  /** Number of live items that pass, or -1 when unknown (predicate filters). */
  allowedCount: number;
  /** First error a caller predicate threw (rethrown after the search). */
  error: { value: unknown } | null;
}

/**
 * Resolve `filter` for an index with `labels` ids, of which `live` pass `isLive`.
 * Returns null when there is no filter.
 */
export function resolveFilter<I extends Id>(
  filter: Filter<I> | undefined,
  ids: IdMap<I>,
  isLive: (label: number) => boolean,
  live: number,
): LabelFilter | null {
  if (filter === undefined) return null;
  if (typeof filter === 'function') {
    const out: LabelFilter = { accept: () => false, allowLabels: null, allowedCount: -1, error: null };
    out.accept = (label: number) => {
      if (out.error) return false;
      try {
        return filter(ids.id(label)) === true;
      } catch (e) {
        out.error = { value: e };
        return false;
      }
    };
    return out;
  }
  const idSet = idSetFilter<I>(filter);
  if (!idSet) throw badFilter(filter);
  const bits = new Uint8Array(ids.size);
  if (idSet.kind === 'allow') {
    const labels: number[] = [];
    for (const id of idSet.ids) {
      const l = ids.get(id);
      if (l >= 0 && bits[l] === 0 && isLive(l)) { bits[l] = 1; labels.push(l); }
    }
    return { accept: (l) => bits[l] === 1, allowLabels: Int32Array.from(labels), allowedCount: labels.length, error: null };
  }
  let denied = 0;
  for (const id of idSet.ids) {
    const l = ids.get(id);
    if (l >= 0 && bits[l] === 0 && isLive(l)) { bits[l] = 1; denied++; }
  }
  return { accept: (l) => bits[l] === 0, allowLabels: null, allowedCount: live - denied, error: null };
}

/**
 * The id-set form of a filter, checked: `{ allow: ids }` or `{ deny: ids }` (exactly one key, an iterable of ids)
 * → its kind and ids; `null` for anything that is not an object. Shared by the local indexes and `ShardedIndex`.
 *
 * @throws {InvalidParameterError} naming `filter.allow` / `filter.deny` for a non-iterable set, or `filter` for an object with both keys or neither
 * @example
 * idSetFilter({ deny: ['a', 'b'] }); // { kind: 'deny', ids: ['a', 'b'] }
 */
export function idSetFilter<I extends Id>(filter: unknown): { kind: 'allow' | 'deny'; ids: Iterable<I> } | null {
  if (filter === null || typeof filter !== 'object') return null;
  const f = filter as { allow?: Iterable<I>; deny?: Iterable<I> };
  const hasAllow = 'allow' in f, hasDeny = 'deny' in f;
  if (hasAllow === hasDeny) throw badFilter(filter);
  const set = hasAllow ? f.allow : f.deny;
  if (set === null || typeof set !== 'object' || typeof (set as Iterable<I>)[Symbol.iterator] !== 'function') {
    throw new InvalidParameterError(hasAllow ? 'filter.allow' : 'filter.deny', 'an iterable of ids (array or Set)', set);
  }
  return { kind: hasAllow ? 'allow' : 'deny', ids: set as Iterable<I> };
}

/** The error for a filter of no accepted form. */
export function badFilter(filter: unknown): InvalidParameterError {
  return new InvalidParameterError('filter', 'a predicate (id) => boolean, { allow: ids } or { deny: ids }', filter);
}
