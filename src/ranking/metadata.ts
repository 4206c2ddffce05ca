/**
 * Pin-metadata sources: an in-memory map and an Apache Arrow table.
 */
import type { Id } from '../core/types.js';
import { DimensionMismatchError, InvalidParameterError } from '../core/errors.js';
import { assertNoNulls, firstNullRow, validityMask } from '../core/arrow.js';
import { checkIdType } from '../core/ids.js';
import type { ArrowTableLike, ArrowVectorLike, GroupKey } from './candidates.js';
import type { PinMetadata, PinMetadataSource } from './interfaces.js';

/**
 * Pin metadata held in a `Map`, optionally with embeddings.
 *
 * @example
 * const meta = new InMemoryPinMetadata([
 *   { id: 'p1', category: 'decor', creator: 'ann', engagements: 90, impressions: 1000, quality: 0.8 },
 * ]);
 * meta.get(['p1', 'nope']); // [{...}, undefined]
 */
export class InMemoryPinMetadata<I extends Id = Id> implements PinMetadataSource<I> {
  private readonly pins = new Map<I, PinMetadata<I>>();
  private readonly vectors = new Map<I, Float32Array>();

  /**
   * @param pins pin records; an `embedding` field is kept for {@link InMemoryPinMetadata.embedding}
   * @throws {InvalidParameterError} on a bad or duplicate id
   */
  constructor(pins: Iterable<PinMetadata<I> & { embedding?: Float32Array }> = []) {
    for (const p of pins) this.set(p);
  }

  /** Number of pins. */
  get size(): number {
    return this.pins.size;
  }

  /** Add a pin (a duplicate id is an error; use {@link InMemoryPinMetadata.replace} to overwrite). */
  set(pin: PinMetadata<I> & { embedding?: Float32Array }): void {
    checkIdType('pin.id', pin?.id);
    if (this.pins.has(pin.id)) throw new InvalidParameterError('pin.id', 'an id not already present', pin.id);
    this.replace(pin);
  }

  /** Add or overwrite a pin. */
  replace(pin: PinMetadata<I> & { embedding?: Float32Array }): void {
    checkIdType('pin.id', pin?.id);
    const { embedding, ...meta } = pin;
    this.pins.set(pin.id, meta as PinMetadata<I>);
    if (embedding) this.vectors.set(pin.id, embedding);
  }

  get(ids: readonly I[]): (PinMetadata<I> | undefined)[] {
    return ids.map((id) => this.pins.get(id));
  }

  embedding(id: I): Float32Array | undefined {
    return this.vectors.get(id);
  }
}

/** Column names of an {@link ArrowPinMetadata} table. */
export interface ArrowMetadataColumns {
  /** @default 'id' */ id?: string;
  /** @default 'category' */ category?: string;
  /** @default 'creator' */ creator?: string;
  /** @default 'engagements' */ engagements?: string;
  /** @default 'impressions' */ impressions?: string;
  /** @default 'engagementRate' */ engagementRate?: string;
  /** @default 'quality' */ quality?: string;
  /** A FixedSizeList<Float32> column of embeddings, if any. @default 'embedding' */
  embedding?: string;
}

type NumField = 'engagements' | 'impressions' | 'engagementRate' | 'quality';

/**
 * Pin metadata backed by an Apache Arrow table (one row per pin). Columns are read once at construction
 * (numbers into typed arrays, keys into arrays) and an id → row map is built, so `get` is O(ids).
 *
 * Arrow nulls in the optional columns are missing values: a null number is left out of the row's
 * {@link PinMetadata}, a null category or creator is `null` ("none"), a null embedding row has no embedding
 * (`embedding()` returns `undefined`). The id column must have no nulls, and a null *inside* a non-null
 * embedding is an error (it would otherwise read as 0). The embedding dimension is the length of the first
 * non-null embedding row.
 *
 * @throws {InvalidParameterError} when the id column is missing, has nulls (`column "id" row 3 must be a
 * non-null value (got null)`) or duplicates
 * @example
 * import { tableFromArrays } from 'apache-arrow';
 * const meta = new ArrowPinMetadata(tableFromArrays({ id: ['a', 'b'], category: ['x', 'y'], quality: Float32Array.of(0.9, 0.4) }));
 */
export class ArrowPinMetadata<I extends Id = Id> implements PinMetadataSource<I> {
  private readonly rowOf = new Map<I, number>();
  private readonly ids: I[];
  private readonly nums: Partial<Record<NumField, { values: Float64Array; valid: Uint8Array | null }>> = {};
  private readonly keys: { category?: (GroupKey | null)[]; creator?: (GroupKey | null)[] } = {};
  private readonly embeddingVec: ArrowVectorLike | null;
  private readonly embeddingName: string;
  /** Embedding dimension, or 0 without an embedding column. */
  readonly dim: number;

  constructor(table: ArrowTableLike, columns: ArrowMetadataColumns = {}) {
    const idName = columns.id ?? 'id';
    const idVec = table?.getChild?.(idName);
    if (!idVec) throw new InvalidParameterError('table', `an Arrow table with an '${idName}' column`, table);
    assertNoNulls(idVec, idName);
    const n = table.numRows;
    this.ids = new Array(n);
    for (let r = 0; r < n; r++) {
      const id = idVec.get(r) as I;
      checkIdType(`table.${idName}[${r}]`, id);
      if (this.rowOf.has(id)) throw new InvalidParameterError(`table.${idName}`, 'distinct ids', id);
      this.rowOf.set(id, r);
      this.ids[r] = id;
    }
    for (const f of ['engagements', 'impressions', 'engagementRate', 'quality'] as const) {
      const v = table.getChild(columns[f] ?? f);
      if (!v) continue;
      const arr = v.toArray();
      const values = new Float64Array(n);
      for (let r = 0; r < n; r++) values[r] = Number(arr[r]);
      // nulls read as 0 in `values`; `valid` marks them missing
      this.nums[f] = { values, valid: validityMask(v) };
    }
    for (const g of ['category', 'creator'] as const) {
      const v = table.getChild(columns[g] ?? g);
      if (!v) continue;
      const out: (GroupKey | null)[] = new Array(n);
      for (let r = 0; r < n; r++) out[r] = (v.get(r) as GroupKey | null) ?? null;
      this.keys[g] = out;
    }
    this.embeddingName = columns.embedding ?? 'embedding';
    this.embeddingVec = table.getChild(this.embeddingName);
    let dim = 0;
    if (this.embeddingVec && n > 0) {
      // the first non-null row gives the dimension (row 0 may be a pin without an embedding)
      let r0 = this.embeddingVec.nullCount > 0 ? -1 : 0;
      if (r0 < 0) for (let r = 0; r < n; r++) if (this.embeddingVec.isValid(r)) { r0 = r; break; }
      const first = r0 >= 0 ? (this.embeddingVec.get(r0) as { length: number } | null) : null;
      dim = first ? first.length : 0;
    }
    this.dim = dim;
  }

  /** Number of pins. */
  get size(): number {
    return this.ids.length;
  }

  /** The table row of `id`, or -1. */
  row(id: I): number {
    return this.rowOf.get(id) ?? -1;
  }

  get(ids: readonly I[]): (PinMetadata<I> | undefined)[] {
    const out: (PinMetadata<I> | undefined)[] = new Array(ids.length);
    const { engagements: e, impressions: imp, engagementRate: rate, quality: q } = this.nums;
    const cat = this.keys.category;
    const cre = this.keys.creator;
    for (let k = 0; k < ids.length; k++) {
      const r = this.rowOf.get(ids[k]);
      if (r === undefined) { out[k] = undefined; continue; }
      const m: PinMetadata<I> = { id: this.ids[r] };
      if (cat) m.category = cat[r];
      if (cre) m.creator = cre[r];
      if (e && (!e.valid || e.valid[r] === 1)) m.engagements = e.values[r];
      if (imp && (!imp.valid || imp.valid[r] === 1)) m.impressions = imp.values[r];
      if (rate && (!rate.valid || rate.valid[r] === 1)) m.engagementRate = rate.values[r];
      if (q && (!q.valid || q.valid[r] === 1)) m.quality = q.values[r];
      out[k] = m;
    }
    return out;
  }

  embedding(id: I): Float32Array | undefined {
    const r = this.rowOf.get(id);
    if (r === undefined || !this.embeddingVec || !this.embeddingVec.isValid(r)) return undefined;
    const v = this.embeddingVec.get(r) as { toArray(): ArrayLike<number>; nullCount?: number; length: number; isValid?(i: number): boolean } | null;
    if (!v) return undefined;
    // a null element inside a present embedding would read as 0
    if (typeof v.nullCount === 'number' && v.nullCount > 0 && typeof v.isValid === 'function') {
      const at = firstNullRow(v as { nullCount: number; length: number; isValid(i: number): boolean });
      throw new InvalidParameterError(`column "${this.embeddingName}" row ${r}${at >= 0 ? ` element ${at}` : ''}`, 'an embedding without null elements', null);
    }
    const a = v.toArray();
    const out = a instanceof Float32Array ? a : Float32Array.from(a);
    if (out.length !== this.dim) throw new DimensionMismatchError(`embedding of ${String(id)}`, this.dim, out.length);
    return out;
  }
}
