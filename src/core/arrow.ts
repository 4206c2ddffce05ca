/**
 * Null handling for Apache Arrow columns. Arrow keeps nulls in a validity bitmap beside the values, and
 * `toArray()` on a numeric column returns the value buffer as it is: a null reads as `0` (`0n` for int64).
 * Every column pinrec reads goes through one of these helpers first, so a null is either an error naming the
 * column and row ({@link assertNoNulls}) or a documented "missing" value ({@link validityMask}).
 *
 * The helpers are structural ({@link ArrowColumnLike}): they work with any apache-arrow version, and this
 * module does not import apache-arrow.
 */
import { InvalidParameterError } from './errors.js';

/** The part of an Arrow `Vector` (or a single `Data` chunk) the null helpers read. */
export interface ArrowColumnLike {
  /** Number of rows. */
  readonly length: number;
  /** Number of null rows. */
  readonly nullCount: number;
  /** Whether row `index` holds a value (is not null). */
  isValid(index: number): boolean;
}

/** Record-batch chunks of an Arrow `Vector` (`vector.data`), used only to skip chunks without nulls. */
interface Chunked {
  readonly data?: readonly { readonly length: number; readonly nullCount: number }[];
}

/**
 * The first null row of an Arrow column, or -1 when it has none. O(1) for a column without nulls; otherwise
 * record-batch chunks without nulls are skipped whole and rows are tested only in the first chunk with nulls.
 *
 * @example
 * import { vectorFromArray, Int32 } from 'apache-arrow';
 * firstNullRow(vectorFromArray([1, null, 3], new Int32())); // 1
 * firstNullRow(vectorFromArray([1, 2, 3], new Int32()));    // -1
 */
export function firstNullRow(column: ArrowColumnLike): number {
  if (!(column.nullCount > 0)) return -1;
  const chunks = (column as Chunked).data;
  let start = 0;
  if (Array.isArray(chunks)) {
    for (const c of chunks) {
      if (typeof c?.length !== 'number' || typeof c.nullCount !== 'number') { start = 0; break; }
      if (c.nullCount > 0) break;
      start += c.length;
    }
  }
  for (let r = start; r < column.length; r++) if (!column.isValid(r)) return r;
  // nullCount said there are nulls but the skipped chunks misreported: scan everything
  for (let r = 0; r < Math.min(start, column.length); r++) if (!column.isValid(r)) return r;
  return -1;
}

/**
 * Throw when an Arrow column holds a null: an {@link InvalidParameterError} whose parameter names the column
 * and its first null row (`column "weight" row 17`), optionally followed by where the table came from.
 * Use it on every column whose nulls would otherwise silently read as `0` or an empty key.
 *
 * @param column the Arrow vector (any object with `length`, `nullCount` and `isValid`)
 * @param name the column's name in the table, as the caller spelled it
 * @param source where the table came from (a file path...), appended as `of <source>`
 * @throws {InvalidParameterError} `column "weight" row 17 must be a non-null value (got null)`
 * @example
 * import { tableFromJSON } from 'apache-arrow';
 * const t = tableFromJSON([{ weight: 1 }, { weight: null }]);
 * assertNoNulls(t.getChild('weight')!, 'weight'); // throws: column "weight" row 1 must be a non-null value (got null)
 */
export function assertNoNulls(column: ArrowColumnLike, name: string, source?: string): void {
  const r = firstNullRow(column);
  if (r < 0) return;
  const where = source === undefined ? '' : ` of ${source}`;
  throw new InvalidParameterError(`column "${name}" row ${r}${where}`, 'a non-null value', null);
}

/**
 * The validity of each row of an Arrow column (1 = value, 0 = null), or `null` when the column has no nulls
 * (every row valid, so callers can skip the check). For columns where a null legitimately means "missing".
 *
 * @example
 * import { vectorFromArray, Float64 } from 'apache-arrow';
 * validityMask(vectorFromArray([0.5, null], new Float64())); // Uint8Array [1, 0]
 * validityMask(vectorFromArray([0.5, 0.7], new Float64()));  // null
 */
export function validityMask(column: ArrowColumnLike): Uint8Array | null {
  const first = firstNullRow(column);
  if (first < 0) return null;
  const n = column.length;
  const mask = new Uint8Array(n);
  mask.fill(1, 0, first);
  for (let r = first; r < n; r++) mask[r] = column.isValid(r) ? 1 : 0;
  return mask;
}
