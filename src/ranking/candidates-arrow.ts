/**
 * Candidates from Apache Arrow: the structural table/vector types pinrec reads (any apache-arrow version
 * with `getChild`) and their conversion to {@link CandidateColumns}.
 */
import { InvalidParameterError } from '../core/errors.js';
import { SIGNAL_FIELDS, type GroupKey, type SignalField } from '../core/interfaces.js';
import { assertNoNulls, validityMask } from '../core/arrow.js';
import type { Id } from '../core/types.js';
import { type CandidateColumns, nullProto } from './candidates.js';

/** The structural part of an Apache Arrow `Table` pinrec reads (any apache-arrow version with `getChild`). */
export interface ArrowTableLike {
  readonly numRows: number;
  getChild(name: string): ArrowVectorLike | null;
}
/** The structural part of an Apache Arrow `Vector` pinrec reads. */
export interface ArrowVectorLike {
  readonly length: number;
  readonly nullCount: number;
  get(i: number): unknown;
  isValid(i: number): boolean;
  toArray(): ArrayLike<unknown>;
}

/** Whether `x` looks like an Apache Arrow table. */
export function isArrowTable(x: unknown): x is ArrowTableLike {
  return typeof x === 'object' && x !== null && typeof (x as ArrowTableLike).getChild === 'function' &&
    typeof (x as ArrowTableLike).numRows === 'number';
}


/** Options naming Arrow columns when they differ from the field names. */
export interface ArrowColumnNames {
  /** @default 'id' */
  id?: string;
  /** Column name per field; defaults to the field's own name (`similarity`, `quality`, `category`...). */
  fields?: Partial<Record<SignalField | 'category' | 'creator', string>>;
  /** Names of extra feature columns to pass to a custom scorer. @default [] */
  features?: string[];
}

/**
 * Read an Arrow table into {@link CandidateColumns}: numeric columns are copied to `Float64Array`, nulls
 * become "missing" through `present` masks, dictionary/string columns become arrays of keys.
 *
 * @throws {InvalidParameterError} when the id column is missing or holds nulls
 * @example
 * import { tableFromArrays } from 'apache-arrow';
 * const t = tableFromArrays({ id: Int32Array.from([1, 2]), similarity: Float32Array.from([0.9, 0.2]) });
 * const cols = columnsFromArrow(t);
 */
export function columnsFromArrow(table: ArrowTableLike, names: ArrowColumnNames = {}): CandidateColumns {
  const idName = names.id ?? 'id';
  const idVec = table.getChild(idName);
  if (!idVec) throw new InvalidParameterError('candidates', `an Arrow table with an '${idName}' column`, table);
  assertNoNulls(idVec, idName);
  const n = table.numRows;
  const ids: Id[] = new Array(n);
  for (let i = 0; i < n; i++) ids[i] = idVec.get(i) as Id;
  const out: CandidateColumns = { ids };
  const present: Partial<Record<SignalField, Uint8Array>> = {};
  for (const f of SIGNAL_FIELDS) {
    const v = table.getChild(names.fields?.[f] ?? f);
    if (!v) continue;
    const vals = new Float64Array(n);
    const arr = v.toArray();
    for (let i = 0; i < n; i++) vals[i] = Number(arr[i]);
    const mask = validityMask(v);
    if (mask) present[f] = mask;
    out[f] = vals;
  }
  for (const g of ['category', 'creator'] as const) {
    const v = table.getChild(names.fields?.[g] ?? g);
    if (!v) continue;
    const keys: (GroupKey | null)[] = new Array(n);
    for (let i = 0; i < n; i++) keys[i] = (v.get(i) as GroupKey | null) ?? null;
    out[g] = keys;
  }
  if (names.features && names.features.length > 0) {
    out.features = nullProto();
    for (const name of names.features) {
      const v = table.getChild(name);
      if (!v) throw new InvalidParameterError('names.features', `names of columns in the table`, name);
      assertNoNulls(v, name);
      const vals = new Float64Array(n);
      for (let i = 0; i < n; i++) vals[i] = Number(v.get(i));
      out.features[name] = vals;
    }
  }
  if (Object.keys(present).length > 0) out.present = present;
  return out;
}

