/**
 * Candidate records in the three shapes pinrec accepts — arrays of objects, columns of typed arrays, and
 * Apache Arrow tables — and their conversion to one validated columnar batch.
 *
 * Missing values: a field that is `undefined`/`null` (objects), a column that is absent (columns), or a
 * null slot (Arrow) is *missing*, and the normalisation rules in `signals.ts` decide what it becomes.
 * NaN or an infinite value is never "missing": it is an {@link InvalidParameterError} naming the field and row.
 */
import type { Id } from '../core/types.js';
import { InvalidParameterError } from '../core/errors.js';
import { checkIdType } from '../core/ids.js';
import { type ArrowTableLike, columnsFromArrow, isArrowTable } from './candidates-arrow.js';
import { SIGNAL_FIELDS, type Candidate, type CandidateBatch, type GroupKey, type SignalField } from '../core/interfaces.js';

export { SIGNAL_FIELDS };
export { columnsFromArrow, isArrowTable } from './candidates-arrow.js';
export type { ArrowTableLike, ArrowVectorLike, ArrowColumnNames } from './candidates-arrow.js';
export type { Candidate, CandidateBatch, GroupKey, SignalField };




/**
 * Candidates as columns: every present column has one entry per candidate. Use typed arrays
 * (`Float32Array`, `Float64Array`, `Uint32Array`...) for speed. A column that is absent is missing for every
 * row; `present[field]` (1 = present, 0 = missing) marks single missing rows, as Arrow's null bitmap does.
 *
 * @example
 * const cols: CandidateColumns = {
 *   ids: [1, 2, 3],
 *   similarity: new Float32Array([0.9, 0.8, 0.4]),
 *   engagements: new Uint32Array([5, 900, 0]), impressions: new Uint32Array([10, 10000, 0]),
 *   category: ['a', 'a', 'b'],
 * };
 */
export interface CandidateColumns<I extends Id = Id> {
  ids: ArrayLike<I>;
  similarity?: ArrayLike<number>;
  distance?: ArrayLike<number>;
  engagements?: ArrayLike<number>;
  impressions?: ArrayLike<number>;
  engagementRate?: ArrayLike<number>;
  quality?: ArrayLike<number>;
  category?: ArrayLike<GroupKey | null | undefined>;
  creator?: ArrayLike<GroupKey | null | undefined>;
  /** Extra numeric feature columns for a custom {@link Scorer}. */
  features?: Record<string, ArrayLike<number>>;
  /** Per-row presence masks (1 = present) for signal columns with some missing rows. */
  present?: Partial<Record<SignalField, Uint8Array>>;
}

/** Any accepted candidate input. */
export type CandidateInput<I extends Id = Id> = readonly Candidate<I>[] | CandidateColumns<I> | ArrowTableLike;

/**
 * Convert candidates in any accepted shape to a validated {@link CandidateBatch}.
 *
 * Validation (each failure an {@link InvalidParameterError} naming field and row): ids are strings, finite
 * numbers or bigints; present signals are finite; counts (`engagements`, `impressions`) are >= 0 and
 * `engagements <= impressions`; `quality` and `engagementRate` are in [0, 1];
 * column lengths equal `ids.length`. Range checks on `similarity` depend on the metric (see `normalizeSignals`).
 * Duplicate ids are *not* rejected here: ranking keeps the best-ranked copy and reports the others.
 *
 * @example
 * const batch = toBatch([{ id: 'a', similarity: 0.5 }, { id: 'b', quality: 0.7 }]);
 * batch.n; // 2
 */
export function toBatch<I extends Id = Id>(input: CandidateInput<I>): CandidateBatch<I> {
  if (Array.isArray(input)) return batchFromObjects(input as readonly Candidate<I>[]);
  if (isArrowTable(input)) return batchFromColumns(columnsFromArrow(input) as CandidateColumns<I>);
  if (typeof input === 'object' && input !== null && 'ids' in input) return batchFromColumns(input as CandidateColumns<I>);
  throw new InvalidParameterError('candidates', 'an array of candidates, candidate columns or an Arrow table', input);
}

function batchFromObjects<I extends Id>(list: readonly Candidate<I>[]): CandidateBatch<I> {
  const n = list.length;
  const ids: I[] = new Array(n);
  // One value column and one presence mask per signal, in fixed slots (SIGNAL_FIELDS order), so the hot
  // loop below touches only locals; unused slots are dropped afterwards.
  const vals = SIGNAL_FIELDS.map(() => new Float64Array(n));
  const masks = SIGNAL_FIELDS.map(() => new Uint8Array(n));
  const counts = new Int32Array(SIGNAL_FIELDS.length);
  const [vSim, vDist, vEng, vImp, vRate, vQ] = vals;
  const [mSim, mDist, mEng, mImp, mRate, mQ] = masks;
  let category: (GroupKey | null)[] | undefined;
  let creator: (GroupKey | null)[] | undefined;
  let features: Record<string, Float64Array> | undefined;
  const bad = (i: number, slot: number, v: unknown): never => {
    throw new InvalidParameterError(`candidates[${i}].${SIGNAL_FIELDS[slot]}`, 'a finite number', v);
  };
  for (let i = 0; i < n; i++) {
    const c = list[i];
    if (typeof c !== 'object' || c === null) throw new InvalidParameterError(`candidates[${i}]`, 'a candidate object', c);
    const id = c.id;
    if (typeof id !== 'string' && typeof id !== 'bigint') checkIdType(`candidates[${i}].id`, id);
    ids[i] = id;
    // explicit field reads keep this loop monomorphic and fast
    const sim = c.similarity, dist = c.distance, e = c.engagements, imp = c.impressions, rate = c.engagementRate, q = c.quality;
    if (sim != null) { if (typeof sim !== 'number') bad(i, 0, sim); vSim[i] = sim; mSim[i] = 1; counts[0]++; }
    if (dist != null) { if (typeof dist !== 'number') bad(i, 1, dist); vDist[i] = dist; mDist[i] = 1; counts[1]++; }
    if (e != null) { if (typeof e !== 'number') bad(i, 2, e); vEng[i] = e; mEng[i] = 1; counts[2]++; }
    if (imp != null) { if (typeof imp !== 'number') bad(i, 3, imp); vImp[i] = imp; mImp[i] = 1; counts[3]++; }
    if (rate != null) { if (typeof rate !== 'number') bad(i, 4, rate); vRate[i] = rate; mRate[i] = 1; counts[4]++; }
    if (q != null) { if (typeof q !== 'number') bad(i, 5, q); vQ[i] = q; mQ[i] = 1; counts[5]++; }
    const cat = c.category;
    if (cat != null) (category ??= new Array(n).fill(null))[i] = cat;
    const cre = c.creator;
    if (cre != null) (creator ??= new Array(n).fill(null))[i] = cre;
    if (c.features) {
      for (const [k, v] of Object.entries(c.features)) {
        if (typeof v !== 'number') throw new InvalidParameterError(`candidates[${i}].features.${k}`, 'a number', v);
        features ??= nullProto();
        const col = (features[k] ??= new Float64Array(n).fill(Number.NaN));
        col[i] = v;
      }
    }
  }
  const columns: Partial<Record<SignalField, Float64Array>> = {};
  const present: Partial<Record<SignalField, Uint8Array | null>> = {};
  SIGNAL_FIELDS.forEach((f, slot) => {
    if (counts[slot] === 0) return;
    columns[f] = vals[slot];
    present[f] = counts[slot] === n ? null : masks[slot];
  });
  const batch: CandidateBatch<I> = { n, ids, columns, present, category, creator, features: features ?? {} };
  validateBatch(batch);
  return batch;
}

function batchFromColumns<I extends Id>(cols: CandidateColumns<I>): CandidateBatch<I> {
  const ids = cols.ids;
  if (!ids || typeof ids.length !== 'number') throw new InvalidParameterError('candidates.ids', 'an array of ids', ids);
  const n = ids.length;
  for (let i = 0; i < n; i++) checkIdType(`candidates.ids[${i}]`, ids[i]);
  const columns: Partial<Record<SignalField, ArrayLike<number>>> = {};
  const present: Partial<Record<SignalField, Uint8Array | null>> = {};
  for (const f of SIGNAL_FIELDS) {
    const src = cols[f];
    if (src === undefined || src === null) continue;
    if (src.length !== n) throw new InvalidParameterError(`candidates.${f}.length`, `equal to ids.length (${n})`, src.length);
    // typed arrays are used in place; plain arrays are copied so that non-numbers are caught below
    const col = ArrayBuffer.isView(src) ? src : new Float64Array(checkNumbers(f, src));
    const mask = cols.present?.[f];
    if (mask !== undefined && mask.length !== n) {
      throw new InvalidParameterError(`candidates.present.${f}.length`, `equal to ids.length (${n})`, mask.length);
    }
    columns[f] = col;
    present[f] = mask ?? null;
  }
  for (const g of ['category', 'creator'] as const) {
    const src = cols[g];
    if (src !== undefined && src.length !== n) throw new InvalidParameterError(`candidates.${g}.length`, `equal to ids.length (${n})`, src.length);
  }
  const features: Record<string, ArrayLike<number>> = nullProto();
  for (const [k, v] of Object.entries(cols.features ?? {})) {
    if (v.length !== n) throw new InvalidParameterError(`candidates.features.${k}.length`, `equal to ids.length (${n})`, v.length);
    features[k] = v;
  }
  const batch: CandidateBatch<I> = { n, ids, columns, present, category: cols.category, creator: cols.creator, features };
  validateBatch(batch);
  return batch;
}

function checkNumbers(f: string, src: ArrayLike<unknown>): ArrayLike<number> {
  for (let i = 0; i < src.length; i++) {
    if (typeof src[i] !== 'number') throw new InvalidParameterError(`candidates[${i}].${f}`, 'a finite number', src[i]);
  }
  return src as ArrayLike<number>;
}

/**
 * Check a list of candidate objects without building a batch (the checks of {@link toBatch}); used to
 * validate each feed source's output on its own, so one bad source is dropped rather than failing the feed.
 *
 * @throws {InvalidParameterError} naming the field and row of the first bad value
 * @example
 * validateCandidates([{ id: 1, quality: 0.4 }]); // ok
 */
export function validateCandidates(list: readonly Candidate[]): void {
  if (!Array.isArray(list)) throw new InvalidParameterError('candidates', 'an array of candidates', list);
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (typeof c !== 'object' || c === null) throw new InvalidParameterError(`candidates[${i}]`, 'a candidate object', c);
    const id = c.id;
    if (typeof id !== 'string' && typeof id !== 'bigint') checkIdType(`candidates[${i}].id`, id);
    checkField(c.similarity, i, 'similarity', -Infinity, Infinity);
    if (c.features !== undefined && c.features !== null) {
      if (typeof c.features !== 'object') throw new InvalidParameterError(`candidates[${i}].features`, 'an object of name → number', c.features);
      for (const [k, v] of Object.entries(c.features)) if (typeof v !== 'number') throw new InvalidParameterError(`candidates[${i}].features.${k}`, 'a number', v);
    }
    checkField(c.distance, i, 'distance', -Infinity, Infinity);
    checkField(c.quality, i, 'quality', 0, 1);
    checkField(c.engagementRate, i, 'engagementRate', 0, 1);
    const he = checkField(c.engagements, i, 'engagements', 0, Infinity);
    const hi = checkField(c.impressions, i, 'impressions', 0, Infinity);
    if (he !== hi) throw new InvalidParameterError(`candidates[${i}]`, 'a candidate with both engagements and impressions or neither', he ? 'engagements only' : 'impressions only');
    if (he && c.engagements! > c.impressions!) throw new InvalidParameterError(where('engagements', i), `<= impressions (${c.impressions})`, c.engagements);
  }
}

function checkField(v: unknown, i: number, f: SignalField, lo: number, hi: number): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidParameterError(where(f, i), 'a finite number', v);
  if (v < lo || v > hi) throw new InvalidParameterError(where(f, i), hi === 1 ? 'in [0, 1]' : 'a number >= 0', v);
  return true;
}

/** Whether row `i` of signal `f` is present. */
export function isPresent(batch: CandidateBatch, f: SignalField, i: number): boolean {
  if (!batch.columns[f]) return false;
  const m = batch.present[f];
  return !m || m[i] === 1;
}

function where(f: SignalField, i: number): string {
  return `candidates[${i}].${f}`;
}

function validateBatch(b: CandidateBatch): void {
  const n = b.n;
  for (const f of SIGNAL_FIELDS) {
    const col = b.columns[f];
    if (!col) continue;
    const m = b.present[f];
    // similarity and distance ranges depend on the metric and are checked by normalizeSignals.
    const lo = f === 'similarity' || f === 'distance' ? -Infinity : 0;
    const hi = f === 'quality' || f === 'engagementRate' ? 1 : Infinity;
    for (let i = 0; i < n; i++) {
      const v = col[i];
      // one comparison pair rejects NaN, ±Infinity and out-of-range values together
      if (v >= lo && v <= hi && v !== Infinity && v !== -Infinity) continue;
      if (m && m[i] === 0) continue;
      if (!Number.isFinite(v)) throw new InvalidParameterError(where(f, i), 'a finite number', v);
      throw new InvalidParameterError(where(f, i), hi === 1 ? 'in [0, 1]' : 'a number >= 0', v);
    }
  }
  const e = b.columns.engagements;
  const imp = b.columns.impressions;
  if (e || imp) {
    const me = e ? b.present.engagements ?? null : null;
    const mi = imp ? b.present.impressions ?? null : null;
    for (let i = 0; i < n; i++) {
      const pe = e !== undefined && (me === null || me[i] === 1);
      const pi = imp !== undefined && (mi === null || mi[i] === 1);
      if (pe !== pi) {
        throw new InvalidParameterError(`candidates[${i}]`, 'a candidate with both engagements and impressions or neither', pe ? 'engagements only' : 'impressions only');
      }
      if (pe && e![i] > imp![i]) throw new InvalidParameterError(where('engagements', i), `<= impressions (${imp![i]})`, e![i]);
    }
  }
}

/** A record for user-named keys (feature names): no prototype, so `'__proto__'` or `'toString'` is just a key. */
export function nullProto<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}
