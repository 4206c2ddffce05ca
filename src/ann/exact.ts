/**
 * Exact (brute-force) nearest-neighbour search over a growable row-major `Float32Array`. For small sets,
 * and as the ground truth that {@link HnswIndex} is tested and benchmarked against.
 */
import { constants as bufferConstants } from 'node:buffer';
import { totalmem } from 'node:os';
import { FileFormatError, InvalidParameterError, UnknownIdError } from '../core/errors.js';
import { IdMap } from '../core/ids.js';
import type { Id, Metric } from '../core/types.js';
import { checkInt, checkOneOf } from '../core/validate.js';
import { resolveOptions } from '../core/options.js';
import { readContainer, requireSection, writeContainer } from '../core/container.js';
import { resolveFilter, type LabelFilter } from './filter.js';
import { TopK } from './heap.js';
import type { BatchSearchOptions, SearchOptions, SearchResult, VectorIndex } from './types.js';
import { checkRows, checkItems, checkK, checkQuery, checkQueryBatch, dot, normalized, sqL2, toSearchResult } from './vectors.js';

const KIND = 'pinrec.ann.exact';
const VERSION = 1;

/** The option rules of {@link ExactIndex}, shared by its constructor and {@link ExactIndex.load}. */
const EXACT_RULES = {
  metric: { oneOf: ['cosine', 'ip', 'l2'] as const },
  dim: { int: [1, 65536] },
  capacity: { int: [1, 2 ** 31 - 1], default: 1024 },
} as const;

/** Options of {@link ExactIndex}. */
export interface ExactIndexOptions {
  /** Distance metric. */
  metric: Metric;
  /** Vector dimension (1 .. 65536). */
  dim: number;
  /** Initial capacity in vectors; grows by doubling. @default 1024 */
  capacity?: number;
  /**
   * Most bytes the vector storage may take (`capacity × (dim·4 + 1)`); a capacity or a growth above it is refused
   * with an {@link InvalidParameterError} before anything is allocated. @default {@link defaultMaxMemoryBytes}()
   */
  maxMemoryBytes?: number;
}

/** Share of the machine's memory ({@link totalmem}) that one index may take by default. */
export const DEFAULT_MAX_MEMORY_FRACTION = 0.75;

/** The default `maxMemoryBytes` of {@link ExactIndex} and `HnswIndex`: {@link DEFAULT_MAX_MEMORY_FRACTION} of `os.totalmem()`. */
export function defaultMaxMemoryBytes(): number {
  return Math.floor(totalmem() * DEFAULT_MAX_MEMORY_FRACTION);
}

/** Check a `maxMemoryBytes` option (undefined: the default). @internal */
export function resolveMaxMemoryBytes(value: unknown): number {
  if (value === undefined) return defaultMaxMemoryBytes();
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidParameterError('maxMemoryBytes', 'a safe integer >= 1 (bytes)', value);
  }
  return value;
}

/** Bytes an {@link ExactIndex} of `capacity` vectors of `dim` floats holds (vectors + deleted flags). */
export function exactIndexBytes(capacity: number, dim: number): number {
  return capacity * (dim * 4 + 1);
}

/**
 * The largest capacity an {@link ExactIndex} of `dim` may have under `maxMemoryBytes` (and under the longest
 * typed array this runtime can allocate).
 */
function exactMaxCapacity(dim: number, maxMemoryBytes: number): number {
  return Math.min(Math.floor(maxMemoryBytes / (dim * 4 + 1)), Math.floor(bufferConstants.MAX_LENGTH / dim), 2 ** 31 - 1);
}

function exactCapacityError(capacity: number, dim: number, maxMemoryBytes: number): InvalidParameterError {
  const max = exactMaxCapacity(dim, maxMemoryBytes);
  return new InvalidParameterError('capacity', `at most ${max} vectors for dim ${dim}: ${capacity} vectors need ${exactIndexBytes(capacity, dim)} bytes ` +
    `(limit: maxMemoryBytes = ${maxMemoryBytes} bytes, and ${bufferConstants.MAX_LENGTH} floats per array)`, capacity);
}

interface ExactMeta { metric: Metric; dim: number; labels: number; live: number }

/**
 * Brute-force index with the {@link VectorIndex} interface. Distances and similarities follow the same
 * conventions as {@link HnswIndex}: cosine `1 - cos` / `cos`, ip `1 - dot` / `dot`, l2 squared Euclidean /
 * its negation. Ties break towards the id added first.
 *
 * @example
 * const exact = new ExactIndex({ metric: 'cosine', dim: 3 });
 * exact.addItems(['a', 'b'], new Float32Array([1, 0, 0, 0, 1, 0]));
 * exact.search([1, 0.1, 0], 1).ids; // ['a']
 */
export class ExactIndex<I extends Id = Id> implements VectorIndex<I> {
  readonly metric: Metric;
  readonly dim: number;
  private readonly ids = new IdMap<I>();
  private data: Float32Array;
  private deleted: Uint8Array;
  private live = 0;
  private readonly maxMemoryBytes: number;

  constructor(options: ExactIndexOptions) {
    const o = resolveOptions(EXACT_RULES, options);
    this.metric = o.metric;
    this.dim = o.dim;
    this.maxMemoryBytes = resolveMaxMemoryBytes(options.maxMemoryBytes);
    const cap = o.capacity;
    if (cap > exactMaxCapacity(this.dim, this.maxMemoryBytes)) throw exactCapacityError(cap, this.dim, this.maxMemoryBytes);
    this.data = new Float32Array(cap * this.dim);
    this.deleted = new Uint8Array(cap);
  }

  /** Number of live items. */
  get size(): number {
    return this.live;
  }

  /**
   * Add or replace vectors. `vectors` is one vector or a row-major batch of `ids.length` rows.
   * Under cosine the stored copy is normalised.
   * @throws DimensionMismatchError, InvalidParameterError (NaN/Inf, zero vector under cosine, bad id)
   * @example
   * index.addItems(7, [0.1, 0.2, 0.3]);
   */
  addItems(ids: I | readonly I[], vectors: Float32Array | readonly number[]): void {
    const { ids: list, data } = checkItems(ids, vectors, this.dim, this.metric);
    const dim = this.dim;
    // Grow once, before anything is added, so a refused growth leaves the index as it was.
    let fresh = 0;
    const seen = new Set<I>();
    for (const id of list) if (!this.ids.has(id) && !seen.has(id)) { seen.add(id); fresh++; }
    if (this.ids.size + fresh > this.deleted.length) this.grow(this.ids.size + fresh);
    for (let r = 0; r < list.length; r++) {
      const before = this.ids.size;
      const label = this.ids.add(list[r]);
      if (label >= this.deleted.length) this.grow(label + 1);
      let row = data.subarray(r * dim, (r + 1) * dim);
      if (this.metric === 'cosine') row = normalized(row);
      this.data.set(row, label * dim);
      if (label >= before) this.live++;
      else if (this.deleted[label] === 1) { this.deleted[label] = 0; this.live++; }
    }
  }

  /** Grow to at least `min` slots: doubling, or less when doubling would pass `maxMemoryBytes`. @throws InvalidParameterError */
  private grow(min: number): void {
    const most = exactMaxCapacity(this.dim, this.maxMemoryBytes);
    if (min > most) throw exactCapacityError(min, this.dim, this.maxMemoryBytes);
    const cap = Math.min(Math.max(min, this.deleted.length * 2), most);
    const d = new Float32Array(cap * this.dim);
    d.set(this.data);
    this.data = d;
    const del = new Uint8Array(cap);
    del.set(this.deleted);
    this.deleted = del;
  }

  /** Whether `id` is present and not deleted. @example index.has('a') */
  has(id: I): boolean {
    const l = this.ids.get(id);
    return l >= 0 && this.deleted[l] === 0;
  }

  /**
   * Mark `id` deleted; re-adding it later revives it with the new vector.
   * @throws UnknownIdError when `id` is absent or already deleted
   * @example index.markDeleted('a')
   */
  markDeleted(id: I): void {
    const l = this.ids.get(id);
    if (l < 0 || this.deleted[l] === 1) throw new UnknownIdError('id', id);
    this.deleted[l] = 1;
    this.live--;
  }

  /** Alias of {@link ExactIndex.markDeleted}. @example index.remove('a') */
  remove(id: I): void {
    this.markDeleted(id);
  }

  /** The stored vector of `id` (normalised under cosine). @throws UnknownIdError @example index.getVector('a') */
  getVector(id: I): Float32Array {
    const l = this.ids.get(id);
    if (l < 0 || this.deleted[l] === 1) throw new UnknownIdError('id', id);
    return this.data.slice(l * this.dim, (l + 1) * this.dim);
  }

  /** All live ids, in the order they were first added. @example index.liveIds() */
  liveIds(): I[] {
    const out: I[] = [];
    for (let l = 0; l < this.ids.size; l++) if (this.deleted[l] === 0) out.push(this.ids.id(l));
    return out;
  }

  /**
   * Exact k nearest live items, best first. With a filter, returns min(k, allowed items) results.
   * @throws InvalidParameterError (k, query, filter), DimensionMismatchError
   * @example
   * const { ids, similarities } = index.search(q, 10, { filter: { deny: ['seen'] } });
   */
  search(query: Float32Array | readonly number[], k: number, options: SearchOptions<I> = {}): SearchResult<I> {
    const want = checkK(k, this.live);
    let q = checkQuery('query', query, this.dim, this.metric);
    if (this.metric === 'cosine') q = normalized(q);
    const f = resolveFilter(options.filter, this.ids, (l) => this.deleted[l] === 0, this.live);
    const res = this.scan(q, want, f);
    res.requested = k;
    return res;
  }

  /** The stored vector of `id`, or `undefined` when it is absent or deleted. @example index.tryGetVector('a') */
  tryGetVector(id: I): Float32Array | undefined {
    return this.has(id) ? this.getVector(id) : undefined;
  }

  /** Exact scan; `f` null means no filter. */
  private scan(q: Float32Array, k: number, f: LabelFilter | null): SearchResult<I> {
    const heap = new TopK(k);
    const { data, dim, deleted } = this;
    const ip = this.metric !== 'l2';
    const visit = (l: number) => {
      const off = l * dim;
      const d = ip ? 1 - dot(q, 0, data, off, dim) : sqL2(q, 0, data, off, dim);
      heap.push(d, l);
    };
    if (f?.allowLabels) {
      for (const l of f.allowLabels) visit(l);
    } else {
      const n = this.ids.size;
      for (let l = 0; l < n; l++) {
        if (deleted[l] === 1) continue;
        if (f && !f.accept(l)) continue;
        visit(l);
      }
    }
    if (f?.error) throw f.error.value;
    const { labels, distances } = heap.sorted();
    return this.result(labels, distances);
  }

  private result(labels: Int32Array, distances: Float64Array): SearchResult<I> {
    return toSearchResult(this.ids, this.metric, labels, distances);
  }

  /**
   * {@link ExactIndex.search} for every row of a row-major batch (on the calling thread).
   * @example const results = await index.searchBatch(queries, 10);
   */
  async searchBatch(queries: Float32Array, k: number, options: BatchSearchOptions<I> = {}): Promise<SearchResult<I>[]> {
    const want = checkK(k, this.live);
    const { data, rows } = checkQueryBatch('queries', queries, this.dim, this.metric);
    const f = resolveFilter(options.filter, this.ids, (l) => this.deleted[l] === 0, this.live);
    const out: SearchResult<I>[] = [];
    for (let r = 0; r < rows; r++) {
      let q = data.subarray(r * this.dim, (r + 1) * this.dim);
      if (this.metric === 'cosine') q = normalized(q);
      const res = this.scan(q, want, f);
      res.requested = k;
      out.push(res);
    }
    return out;
  }

  /**
   * Save atomically to `file` (pinrec container: metric, dim, id table, deleted flags, vectors).
   * @example await index.save('items.exact');
   */
  async save(file: string): Promise<void> {
    const n = this.ids.size;
    const meta: ExactMeta = { metric: this.metric, dim: this.dim, labels: n, live: this.live };
    await writeContainer(file, KIND, VERSION, meta, {
      ids: new Uint8Array(this.ids.encode()),
      deleted: this.deleted.slice(0, n),
      vectors: this.data.slice(0, n * this.dim),
    });
  }

  /**
   * Load an index written by {@link ExactIndex.save}.
   * @throws FileFormatError for a missing, truncated, altered or foreign file
   * @example const index = await ExactIndex.load<string>('items.exact');
   */
  static async load<I extends Id = Id>(file: string): Promise<ExactIndex<I>> {
    const c = await readContainer<ExactMeta>(file, KIND);
    if (c.version !== VERSION) throw new FileFormatError(file, `unsupported ${KIND} version ${c.version}`);
    const m = c.meta;
    try {
      resolveOptions(EXACT_RULES, m); // the constructor's own rules
    } catch (e) {
      throw new FileFormatError(file, `header meta is malformed (${(e as Error).message})`);
    }
    if (!Number.isInteger(m.labels) || m.labels < 0 || m.labels > 0xffffffff) throw new FileFormatError(file, 'header meta is malformed (labels)');
    let ids: IdMap<I>;
    try {
      ids = IdMap.decode<I>(requireSection(c, 'ids', Uint8Array, file));
    } catch (e) {
      if (e instanceof FileFormatError) throw e;
      throw new FileFormatError(file, `id table is malformed (${(e as Error).message})`);
    }
    const deleted = requireSection(c, 'deleted', Uint8Array, file);
    const vectors = requireSection(c, 'vectors', Float32Array, file);
    if (ids.size !== m.labels || deleted.length !== m.labels || vectors.length !== m.labels * m.dim) {
      throw new FileFormatError(file, 'sections disagree with the header');
    }
    for (let l = 0; l < m.labels; l++) if (deleted[l] > 1) throw new FileFormatError(file, `deleted flag ${deleted[l]} at label ${l}`);
    try {
      for (let l = 0; l < m.labels; l++) if (deleted[l] === 0) checkRows(`vectors[label ${l}]`, vectors.subarray(l * m.dim, (l + 1) * m.dim), 1, m.dim, m.metric);
    } catch (e) {
      throw new FileFormatError(file, `stored vectors are not valid (${(e as Error).message})`);
    }
    const index = new ExactIndex<I>({ metric: m.metric, dim: m.dim, capacity: Math.max(1, m.labels) });
    for (let l = 0; l < m.labels; l++) index.ids.add(ids.id(l));
    index.data.set(vectors);
    index.deleted.set(deleted);
    let live = 0;
    for (let l = 0; l < m.labels; l++) if (deleted[l] === 0) live++;
    index.live = live;
    return index;
  }

  /** Nothing to release; present for interface symmetry. @example await index.close(); */
  async close(): Promise<void> {}
}

