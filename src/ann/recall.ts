/** Recall of approximate results against exact ones. */
import { InvalidParameterError } from '../core/errors.js';
import { checkInt } from '../core/validate.js';
import type { Id } from '../core/types.js';

/**
 * Mean recall@k: for each query, the fraction of the first `k` true neighbours found among the first `k`
 * returned ids, averaged over queries. When a query has fewer than `k` true neighbours, the denominator is
 * that smaller number.
 *
 * @param found   per query, returned ids best first (a `{ ids }` result or a plain list)
 * @param truth   per query, exact ids best first
 * @param k       cut-off
 * @returns recall in [0, 1]
 * @throws InvalidParameterError when the lists differ in length or k is not a positive integer
 * @example
 * recallAtK([[1, 2, 3]], [[1, 3, 4]], 3); // 2/3
 */
export function recallAtK<I extends Id>(
  found: ReadonlyArray<readonly I[] | { ids: readonly I[] } | ArrayLike<number>>,
  truth: ReadonlyArray<readonly I[] | { ids: readonly I[] } | ArrayLike<number>>,
  k: number,
): number {
  checkInt('k', k, 1);
  if (found.length !== truth.length) {
    throw new InvalidParameterError('found', `a list of ${truth.length} results (one per truth row)`, found);
  }
  if (found.length === 0) throw new InvalidParameterError('truth', 'a non-empty list', truth);
  let total = 0;
  for (let q = 0; q < found.length; q++) {
    const f = asList(found[q]), t = asList(truth[q]);
    const want = new Set<unknown>();
    for (let i = 0; i < Math.min(k, t.length); i++) want.add(t[i]);
    if (want.size === 0) { total += 1; continue; }
    let hit = 0;
    for (let i = 0; i < Math.min(k, f.length); i++) if (want.has(f[i])) hit++;
    total += hit / want.size;
  }
  return total / found.length;
}

function asList(x: unknown): ArrayLike<unknown> {
  if (x && typeof x === 'object' && 'ids' in (x as object)) return (x as { ids: unknown[] }).ids;
  return x as ArrayLike<unknown>;
}
