/**
 * Approximate nearest-neighbour search with HNSW graphs, over the native hnswlib (via `hnswlib-node`).
 * Adds what the binding lacks: the caller's ids, automatic capacity, upserts, validated input, filters that
 * still return k results, a versioned checksummed file format, and multi-core batch search.
 */
import { tmpdir } from 'node:os';
import { defaultThreads } from '../core/threads.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import hnswlib from 'hnswlib-node';
import { FileFormatError, InvalidParameterError, UnknownIdError } from '../core/errors.js';
import { IdMap } from '../core/ids.js';
import type { Id, Metric, ProgressCallback } from '../core/types.js';
import { checkInt, checkOneOf } from '../core/validate.js';
import { readContainer, requireSection, writeContainer } from '../core/container.js';
import { resolveFilter, type LabelFilter } from './filter.js';
import { TopK } from './heap.js';
import { SearchPool } from './pool.js';
import { checkGraphBytes, withCapacityOfCount } from './graphfile.js';
import type { BatchSearchOptions, SearchOptions, SearchResult, VectorIndex } from './types.js';
import { resolveOptions } from '../core/options.js';
import { inverseNorm, normalizeRows } from '../core/vectors.js';
import { checkItems, checkK, checkQuery, checkQueryBatch, dot, normalized, sqL2, toSearchResult } from './vectors.js';
import { resolveMaxMemoryBytes } from './exact.js';

const { HierarchicalNSW } = hnswlib;
type Native = InstanceType<typeof HierarchicalNSW>;

const KIND = 'pinrec.ann.hnsw';
const VERSION = 1;

/** The option rules of {@link HnswIndex}, shared by its constructor and {@link HnswIndex.load}. */
const HNSW_RULES = {
  metric: { oneOf: ['cosine', 'ip', 'l2'] as const },
  dim: { int: [1, 65536] },
  M: { int: [2, 1024], default: 16 },
  efConstruction: { int: [1, 1 << 20], default: 200 },
  ef: { int: [1, 1 << 20], default: 50 },
  seed: { int: [0, 0xffffffff], default: 100 },
  capacity: { int: [1, 0xffffffff], default: 1024 },
} as const;

/** Options of {@link HnswIndex}. */
export interface HnswIndexOptions {
  /** `'cosine'` (vectors normalised), `'ip'` (inner product, for MIPS over factors) or `'l2'` (squared Euclidean). */
  metric: Metric;
  /** Vector dimension (1 .. 65536). */
  dim: number;
  /** Graph degree: links per node on upper layers (2·M on the base layer). @default 16 */
  M?: number;
  /** Candidate list size while building; higher builds slower and gives better recall. @default 200 */
  efConstruction?: number;
  /** Candidate list size while searching (changeable later; a search always uses at least k). @default 50 */
  ef?: number;
  /** Seed of hnswlib's level generator (an integer in [0, 2^32-1]). @default 100 */
  seed?: number;
  /** Initial capacity in vectors; doubles automatically when exceeded. @default 1024 */
  capacity?: number;
  /**
   * Most bytes the native index may allocate ({@link hnswNativeBytes}); a capacity, or an automatic growth, above
   * it is refused with an {@link InvalidParameterError} before hnswlib is called (hnswlib aborts the process, or
   * throws an untyped `std::bad_alloc`, when an allocation fails). @default 0.75 × os.totalmem()
   */
  maxMemoryBytes?: number;
}

/**
 * Bytes of native memory an hnswlib index of `capacity` vectors needs (an estimate, close to hnswlib's own
 * allocation): per slot the vector (`dim·4`), the base-layer links (`2M·4 + 4`), the label (8), the level (4),
 * the upper-layer list pointer (8), a lock (40), the visited-list mark (2), plus the expected upper-layer links
 * (`(M·4 + 4) / (M − 1)`: a fraction 1/M of the vectors reach level 1, 1/M² level 2, …). Fixed costs (a few MB of
 * locks) are not counted.
 */
export function hnswNativeBytes(capacity: number, dim: number, M: number): number {
  return capacity * hnswBytesPerSlot(dim, M);
}

function hnswBytesPerSlot(dim: number, M: number): number {
  const upper = Math.ceil((M * 4 + 4) / Math.max(1, M - 1));
  return dim * 4 + (2 * M * 4 + 4) + 8 + 4 + 8 + 40 + 2 + upper;
}

/** The largest capacity that fits in `maxMemoryBytes` (and hnswlib's 32-bit labels). */
function hnswMaxCapacity(dim: number, M: number, maxMemoryBytes: number): number {
  return Math.min(0xffffffff, Math.floor(maxMemoryBytes / hnswBytesPerSlot(dim, M)));
}

function hnswCapacityError(capacity: number, dim: number, M: number, maxMemoryBytes: number): InvalidParameterError {
  return new InvalidParameterError('capacity', `at most ${hnswMaxCapacity(dim, M, maxMemoryBytes)} vectors for dim ${dim}, M ${M}: ` +
    `${capacity} vectors need about ${hnswNativeBytes(capacity, dim, M)} bytes of native memory (limit: maxMemoryBytes = ${maxMemoryBytes} bytes)`, capacity);
}

/** Options of {@link HnswIndex.addItems}. */
export interface AddOptions {
  /** Called every 1,000 vectors and at the end. @default undefined */
  onProgress?: ProgressCallback;
}

interface HnswMeta {
  metric: Metric; dim: number; M: number; efConstruction: number; ef: number; seed: number; count: number; labels: number;
}

/** One batch-search worker pool of an index: built for one snapshot (`version`) and thread count. */
interface PoolEntry {
  version: number;
  threads: number;
  promise: Promise<SearchPool>;
  /** searchBatch calls using this pool right now. */
  users: number;
  /** Replaced (or the index closed): close as soon as `users` drops to 0. */
  retired: boolean;
  closing?: Promise<void>;
}

/**
 * Safety net for indexes dropped without close(): when an index is garbage-collected, its workers are
 * terminated. The held value is the SearchPool (which holds no reference back to the index).
 */
const poolFinalizer = new FinalizationRegistry<SearchPool>((p) => { void p.close(); });

/**
 * An HNSW index over the caller's ids.
 *
 * Distances are hnswlib's: `1 - cos` (cosine), `1 - dot` (ip), squared Euclidean (l2). Similarities are
 * `cos`, `dot` and the negated squared Euclidean distance, so larger is always better.
 *
 * Thread safety: every method runs on the calling thread except {@link HnswIndex.searchBatch} (worker
 * threads, each with a read-only copy of the graph). Do not mutate the index (addItems, markDeleted) while
 * a `searchBatch` or `save` promise is pending.
 *
 * @example
 * const index = new HnswIndex<string>({ metric: 'cosine', dim: 3 });
 * index.addItems(['a', 'b', 'c'], new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]));
 * const { ids, similarities } = index.search([0.9, 0.1, 0], 2); // ids ['a', 'b']
 * await index.save('pins.hnsw');
 * const again = await HnswIndex.load<string>('pins.hnsw');
 */
export class HnswIndex<I extends Id = Id> implements VectorIndex<I> {
  readonly metric: Metric;
  readonly dim: number;
  /** Graph degree. */
  readonly M: number;
  /** Build-time candidate list size. */
  readonly efConstruction: number;
  /** Level-generator seed. */
  readonly seed: number;
  private readonly native: Native;
  private readonly ids = new IdMap<I>();
  private deleted = new Uint8Array(0);
  private live = 0;
  private efValue: number;
  private nativeEf = -1;
  private version = 0;
  private readonly scratch: number[];
  /** The pool for the current version and thread count; retired pools close once their last run ends. */
  private pool: PoolEntry | null = null;
  /** Every pool not yet closed (current and retired), so close() can settle every pending run. */
  private readonly pools = new Set<PoolEntry>();
  /** Ceiling of the native allocation (constructor and growth). */
  private readonly maxMemoryBytes: number;

  constructor(options: HnswIndexOptions) {
    const o = resolveOptions(HNSW_RULES, options);
    this.metric = o.metric;
    this.dim = o.dim;
    this.M = o.M;
    this.efConstruction = o.efConstruction;
    this.efValue = o.ef;
    this.seed = o.seed;
    const capacity = o.capacity;
    this.maxMemoryBytes = resolveMaxMemoryBytes(options.maxMemoryBytes);
    if (capacity > hnswMaxCapacity(this.dim, this.M, this.maxMemoryBytes)) throw hnswCapacityError(capacity, this.dim, this.M, this.maxMemoryBytes);
    this.native = new HierarchicalNSW(this.metric, this.dim);
    this.native.initIndex({ maxElements: capacity, m: this.M, efConstruction: this.efConstruction, randomSeed: this.seed });
    this.scratch = new Array<number>(this.dim).fill(0);
  }

  /**
   * Copy row `off` of `src` into the native scratch array; under cosine, normalised in float64 first, so any
   * magnitude float32 holds (1e-38 … 3e38) gives hnswlib a unit vector rather than a zero or unscaled one.
   */
  private fillScratch(src: ArrayLike<number>, off: number): void {
    const arr = this.scratch, dim = this.dim;
    if (this.metric !== 'cosine') { for (let j = 0; j < dim; j++) arr[j] = src[off + j]; return; }
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += src[off + j] * src[off + j];
    const inv = inverseNorm(ss);
    for (let j = 0; j < dim; j++) arr[j] = Math.fround(src[off + j] * inv);
  }

  /** Number of live (not deleted) items. */
  get size(): number {
    return this.live;
  }

  /** Slots allocated in the native index (grows by doubling). */
  get capacity(): number {
    return this.native.getMaxElements();
  }

  /** Default search candidate list size; each search uses `max(ef, k)`. @default 50 */
  get ef(): number {
    return this.efValue;
  }

  set ef(value: number) {
    this.efValue = checkInt('ef', value, 1, 1 << 20);
  }

  /**
   * Add one vector or a row-major batch (`ids.length * dim` floats). An id already present gets its vector
   * replaced (its graph links are repaired); a deleted id is revived. The whole batch is validated before
   * anything is added.
   * @throws DimensionMismatchError, InvalidParameterError (NaN/Inf, zero vector under cosine, bad id)
   * @example
   * index.addItems([1n, 2n], new Float32Array(2 * index.dim));
   * index.addItems('pin:9', embedding);
   */
  addItems(ids: I | readonly I[], vectors: Float32Array | readonly number[], options: AddOptions = {}): void {
    const { ids: list, data } = checkItems(ids, vectors, this.dim, this.metric);
    const onProgress = options.onProgress;
    let fresh = 0;
    const seen = new Set<I>();
    for (const id of list) if (!this.ids.has(id) && !seen.has(id)) { seen.add(id); fresh++; }
    const need = this.ids.size + fresh;
    const cap = this.native.getMaxElements();
    if (need > cap) {
      // Doubling, or less when doubling would pass maxMemoryBytes; refused (index unchanged) when even `need` does.
      const most = hnswMaxCapacity(this.dim, this.M, this.maxMemoryBytes);
      if (need > most) throw hnswCapacityError(need, this.dim, this.M, this.maxMemoryBytes);
      const next = Math.min(most, Math.max(need, cap * 2));
      this.native.resizeIndex(next);
    }
    if (need > this.deleted.length) {
      const d = new Uint8Array(Math.max(need, this.deleted.length * 2, 16));
      d.set(this.deleted);
      this.deleted = d;
    }
    this.version++;
    const dim = this.dim, arr = this.scratch;
    for (let r = 0; r < list.length; r++) {
      const before = this.ids.size;
      const label = this.ids.add(list[r]);
      const off = r * dim;
      this.fillScratch(data, off);
      this.native.addPoint(arr, label);
      if (label >= before) this.live++;
      else if (this.deleted[label] === 1) { this.deleted[label] = 0; this.live++; }
      if (onProgress && (r + 1) % 1000 === 0) onProgress({ stage: 'hnsw:add', done: r + 1, total: list.length });
    }
    onProgress?.({ stage: 'hnsw:add', done: list.length, total: list.length });
  }

  /** Whether `id` is present and not deleted. @example index.has('pin:9') */
  has(id: I): boolean {
    const l = this.ids.get(id);
    return l >= 0 && this.deleted[l] === 0;
  }

  /**
   * Mark `id` deleted: searches never return it; its slot stays allocated until the index is rebuilt.
   * Adding the id again revives it with the new vector.
   * @throws UnknownIdError when `id` is absent or already deleted
   * @example index.markDeleted('pin:9');
   */
  markDeleted(id: I): void {
    const l = this.ids.get(id);
    if (l < 0 || this.deleted[l] === 1) throw new UnknownIdError('id', id);
    this.native.markDelete(l);
    this.deleted[l] = 1;
    this.live--;
    this.version++;
  }

  /** Alias of {@link HnswIndex.markDeleted}. @example index.remove('pin:9'); */
  remove(id: I): void {
    this.markDeleted(id);
  }

  /** The stored vector of `id` (normalised under cosine). @throws UnknownIdError @example index.getVector('pin:9') */
  getVector(id: I): Float32Array {
    const l = this.ids.get(id);
    if (l < 0 || this.deleted[l] === 1) throw new UnknownIdError('id', id);
    return Float32Array.from(this.native.getPoint(l));
  }

  /**
   * The k nearest live items to `query`, best first. With a filter, returns `min(k, allowed items)`
   * results: when the graph search comes back short it is retried with a 4× larger `ef` (and, as a last
   * resort, scored exactly), and allow-sets smaller than `2·ef` and `4·size/dim` are scored exactly.
   * @param query  a vector of length `dim`
   * @param k      number of neighbours, an integer >= 1 (fewer come back when fewer items exist; `requested` keeps k)
   * @param options `filter` and a per-search `ef`
   * @throws InvalidParameterError (k, query, filter, ef), DimensionMismatchError
   * @example
   * const { ids, similarities } = index.search(userFactors, 20, { filter: { deny: seenPins } });
   */
  search(query: Float32Array | readonly number[], k: number, options: SearchOptions<I> = {}): SearchResult<I> {
    const want = checkK(k, this.live);
    const q = checkQuery('query', query, this.dim, this.metric);
    const ef = options.ef === undefined ? this.efValue : checkInt('ef', options.ef, 1, 1 << 20);
    const f = resolveFilter(options.filter, this.ids, (l) => this.deleted[l] === 0, this.live);
    const res = want === 0 ? this.toResult([], []) : this.searchChecked(q, want, Math.max(ef, want), f);
    res.requested = k;
    return res;
  }

  /** The stored vector of `id`, or `undefined` when it is absent or deleted. @example index.tryGetVector('pin:9') */
  tryGetVector(id: I): Float32Array | undefined {
    return this.has(id) ? this.getVector(id) : undefined;
  }

  private searchChecked(q: Float32Array, k: number, ef: number, f: LabelFilter | null): SearchResult<I> {
    const want = f && f.allowedCount >= 0 ? Math.min(k, f.allowedCount) : k;
    if (want === 0) return this.toResult([], []);
    // A graph search whose ef exceeds the allowed items walks the whole graph; when reading the allowed
    // vectors back (about dim / 4 times the cost of visiting one node) is cheaper, score them exactly.
    if (f?.allowLabels && f.allowLabels.length <= 2 * ef && f.allowLabels.length * this.dim <= 4 * this.ids.size) {
      return this.exactOver(q, want, f.allowLabels, null);
    }
    // A candidate list as large as the index visits every node anyway: scan exactly (the graph of a small
    // index built with a small M may not reach every node, and then its top-1 would not be the true one).
    if (ef >= this.ids.size) return this.exactOver(q, want, null, f);
    const arr = this.scratch;
    this.fillScratch(q, 0);
    const total = this.ids.size;
    let e = ef;
    for (;;) {
      if (this.nativeEf !== e) { this.native.setEf(e); this.nativeEf = e; }
      const r = this.native.searchKnn(arr, want, f ? f.accept : undefined);
      if (f?.error) throw f.error.value;
      if (r.neighbors.length >= want) return this.toResult(r.neighbors, r.distances);
      if (e >= total) {
        // The search was exhaustive over the reachable graph, and still short: a predicate may match fewer
        // items, or part of the graph is unreachable (many duplicate vectors, small M). Scan exactly.
        break;
      }
      e = Math.min(e * 4, total);
    }
    return this.exactOver(q, want, null, f);
  }

  /** Exact top-k over `labels`, or over every live label passing `f`, reading vectors from the graph. */
  private exactOver(q: Float32Array, k: number, labels: Int32Array | null, f: LabelFilter | null): SearchResult<I> {
    const qq = this.metric === 'cosine' ? normalized(q) : q;
    const heap = new TopK(k);
    const v = new Float32Array(this.dim);
    const visit = (l: number) => {
      const p = this.native.getPoint(l);
      for (let j = 0; j < this.dim; j++) v[j] = p[j];
      heap.push(this.metric === 'l2' ? sqL2(qq, 0, v, 0, this.dim) : 1 - dot(qq, 0, v, 0, this.dim), l);
    };
    if (labels) for (const l of labels) visit(l);
    else {
      for (let l = 0; l < this.ids.size; l++) if (this.deleted[l] === 0 && (!f || f.accept(l))) visit(l);
      if (f?.error) throw f.error.value;
    }
    const s = heap.sorted();
    return this.toResult(s.labels, s.distances);
  }

  private toResult(labels: ArrayLike<number>, distances: ArrayLike<number>): SearchResult<I> {
    return toSearchResult(this.ids, this.metric, labels, distances);
  }

  /**
   * {@link HnswIndex.search} for every row of a row-major query batch. Unfiltered batches of at least
   * `2·threads` queries run on `threads` worker threads, each holding its own read-only copy of the graph
   * (made on first use and after any change to the index, so memory grows by one graph per thread);
   * filtered batches and `threads: 1` run on the calling thread.
   * @throws as {@link HnswIndex.search}
   * @example
   * const results = await index.searchBatch(queries, 10, { threads: 2 });
   */
  async searchBatch(queries: Float32Array, kAsked: number, options: BatchSearchOptions<I> = {}): Promise<SearchResult<I>[]> {
    const k = checkK(kAsked, this.live);
    const { data, rows } = checkQueryBatch('queries', queries, this.dim, this.metric);
    if (k === 0) return Array.from({ length: rows }, () => ({ ...this.toResult([], []), requested: kAsked }));
    const out = await this.searchBatchChecked(data, rows, k, options);
    for (const r of out) r.requested = kAsked;
    return out;
  }

  private async searchBatchChecked(data: Float32Array, rows: number, k: number, options: BatchSearchOptions<I>): Promise<SearchResult<I>[]> {
    const ef = Math.max(k, options.ef === undefined ? this.efValue : checkInt('ef', options.ef, 1, 1 << 20));
    const threads = options.threads === undefined ? defaultThreads() : checkInt('threads', options.threads, 1, 256);
    const f = resolveFilter(options.filter, this.ids, (l) => this.deleted[l] === 0, this.live);
    const dim = this.dim;
    if (f || threads <= 1 || rows < 2 * threads) {
      const out: SearchResult<I>[] = new Array(rows);
      for (let r = 0; r < rows; r++) out[r] = this.searchChecked(data.subarray(r * dim, (r + 1) * dim), k, ef, f);
      return out;
    }
    // Under cosine the queries are normalised here in float64, as single searches are (hnswlib's own float32
    // normalisation loses vectors with components near 1e20 or 1e-20).
    const queries = this.metric === 'cosine' ? normalizeRows(data, dim) : data;
    const entry = this.ensurePool(threads);
    const raw = await entry.promise.then((p) => p.run(queries, rows, k, ef)).finally(() => this.releasePool(entry));
    const out: SearchResult<I>[] = new Array(rows);
    for (let r = 0; r < rows; r++) {
      const n = raw.counts[r];
      if (n < k) { out[r] = this.searchChecked(data.subarray(r * dim, (r + 1) * dim), k, ef, null); continue; }
      out[r] = this.toResult(raw.labels.subarray(r * k, r * k + n), raw.dists.subarray(r * k, r * k + n));
    }
    return out;
  }

  /**
   * The pool for the current snapshot and `threads`, counted as in use until {@link HnswIndex.releasePool}.
   * A pool for an older snapshot or another thread count is retired: it closes (terminating its workers)
   * once the runs still using it have finished, so concurrent calls with different `threads` both complete.
   */
  private ensurePool(threads: number): PoolEntry {
    let cur = this.pool;
    if (!cur || cur.version !== this.version || cur.threads !== threads) {
      if (cur) this.retirePool(cur);
      const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-hnsw-pool-'));
      const file = path.join(dir, 'graph.bin');
      try {
        this.native.writeIndexSync(file);
      } catch (e) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
      const promise = SearchPool.create(file, this.metric, this.dim, threads, this.version)
        .finally(() => rmSync(dir, { recursive: true, force: true }));
      const entry: PoolEntry = { version: this.version, threads, promise, users: 0, retired: false };
      cur = entry;
      this.pool = entry;
      this.pools.add(entry);
      const pools = this.pools;
      promise.then((p) => { if (!entry.retired) poolFinalizer.register(this, p, p); }, () => {
        pools.delete(entry);
        entry.retired = true;
        if (this.pool === entry) this.pool = null;
      });
    }
    cur.users++;
    return cur;
  }

  private releasePool(entry: PoolEntry): void {
    entry.users--;
    if (entry.retired && entry.users === 0) void this.closePool(entry);
  }

  private retirePool(entry: PoolEntry): void {
    entry.retired = true;
    if (this.pool === entry) this.pool = null;
    if (entry.users === 0) void this.closePool(entry);
  }

  private closePool(entry: PoolEntry): Promise<void> {
    entry.retired = true;
    if (this.pool === entry) this.pool = null;
    entry.closing ??= entry.promise.then((p) => { poolFinalizer.unregister(p); return p.close(); }, () => undefined)
      .finally(() => { this.pools.delete(entry); });
    return entry.closing;
  }

  /**
   * Stop the batch-search worker threads; resolves once they have exited. A `searchBatch` still pending on
   * them rejects with a `ClosedError`. Workers restart on the next parallel `searchBatch`.
   *
   * Ownership: the workers (one graph copy each) belong to the index until `close()`. Idle workers do not
   * keep the process alive, and an index that is garbage-collected without `close()` has its workers
   * terminated, but call `close()` when done to release their threads and memory promptly.
   * @example await index.close();
   */
  async close(): Promise<void> {
    await Promise.all([...this.pools].map((e) => this.closePool(e)));
  }

  /**
   * Save atomically to `file`: a pinrec container holding a header (metric, dim, M, efConstruction, ef,
   * seed, count), hnswlib's own serialised graph, the id table and the deleted labels, with a SHA-256
   * checksum. Written to a temp file and renamed, so a crash leaves the previous file intact.
   * @example await index.save('pins.hnsw');
   */
  async save(file: string): Promise<void> {
    const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-hnsw-save-'));
    let graph: Buffer;
    try {
      const tmp = path.join(dir, 'graph.bin');
      this.native.writeIndexSync(tmp);
      graph = readFileSync(tmp);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const deleted: number[] = [];
    for (let l = 0; l < this.ids.size; l++) if (this.deleted[l] === 1) deleted.push(l);
    const meta: HnswMeta = {
      metric: this.metric, dim: this.dim, M: this.M, efConstruction: this.efConstruction, ef: this.efValue,
      seed: this.seed, count: this.live, labels: this.ids.size,
    };
    await writeContainer(file, KIND, VERSION, meta, {
      graph: new Uint8Array(graph.buffer, graph.byteOffset, graph.byteLength),
      ids: new Uint8Array(this.ids.encode()),
      deleted: Uint32Array.from(deleted),
    });
  }

  /**
   * Load an index written by {@link HnswIndex.save}.
   * @throws FileFormatError for a missing, truncated, altered or foreign file, or one of another version
   * @example const index = await HnswIndex.load<string>('pins.hnsw');
   */
  static async load<I extends Id = Id>(file: string): Promise<HnswIndex<I>> {
    const c = await readContainer<HnswMeta>(file, KIND);
    if (c.version !== VERSION) throw new FileFormatError(file, `unsupported ${KIND} version ${c.version} (this build reads ${VERSION})`);
    const m = c.meta;
    try {
      resolveOptions(HNSW_RULES, m); // the constructor's own rules
    } catch (e) {
      throw new FileFormatError(file, `header meta is malformed (${(e as Error).message})`);
    }
    const okInt = (x: unknown, lo: number, hi: number) => typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
    if (!okInt(m.labels, 0, 0xffffffff) || !okInt(m.count, 0, m.labels)) throw new FileFormatError(file, 'header meta is malformed (labels, count)');
    let ids: IdMap<I>;
    try {
      ids = IdMap.decode<I>(requireSection(c, 'ids', Uint8Array, file));
    } catch (e) {
      if (e instanceof FileFormatError) throw e;
      throw new FileFormatError(file, `id table is malformed (${(e as Error).message})`);
    }
    const graph = requireSection(c, 'graph', Uint8Array, file);
    const deleted = requireSection(c, 'deleted', Uint32Array, file);
    if (ids.size !== m.labels || m.count !== m.labels - deleted.length) throw new FileFormatError(file, 'id table disagrees with the header');
    const deletedSet = new Set(deleted);
    if (deletedSet.size !== deleted.length) throw new FileFormatError(file, 'deleted list is malformed');
    const problem = checkGraphBytes(graph, m.dim, m.M, m.labels, deletedSet);
    if (problem) throw new FileFormatError(file, problem);
    const index = new HnswIndex<I>({ metric: m.metric, dim: m.dim, M: m.M, efConstruction: m.efConstruction, ef: m.ef, seed: m.seed, capacity: 1 });
    const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-hnsw-load-'));
    try {
      const tmp = path.join(dir, 'graph.bin');
      writeFileSync(tmp, withCapacityOfCount(graph));
      index.native.readIndexSync(tmp);
    } catch (e) {
      throw new FileFormatError(file, `hnswlib could not read the graph (${(e as Error).message})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (index.native.getCurrentCount() !== m.labels) throw new FileFormatError(file, 'graph size disagrees with the header');
    for (let l = 0; l < m.labels; l++) index.ids.add(ids.id(l));
    index.deleted = new Uint8Array(Math.max(16, m.labels));
    for (const l of deleted) {
      if (l >= m.labels || index.deleted[l] === 1) throw new FileFormatError(file, 'deleted list is malformed');
      index.deleted[l] = 1;
    }
    index.live = m.count;
    return index;
  }
}
