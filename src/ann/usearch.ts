/**
 * Approximate nearest-neighbour search with HNSW graphs over the native usearch library (npm `usearch`), with
 * the same contract as {@link HnswIndex}: the caller's ids, upserts, validated input, filters that still return
 * k results, a versioned checksummed file whose graph bytes are checked before native code sees them, and
 * multi-threaded build and batch search (native threads, sized by the library's one thread budget,
 * {@link defaultThreads}).
 */
import { cpus, tmpdir } from 'node:os';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { constants as bufferConstants } from 'node:buffer';
import type UsearchModule from 'usearch';
import { FileFormatError, InvalidParameterError, UnknownIdError } from '../core/errors.js';
import { IdMap } from '../core/ids.js';
import type { Id, Metric } from '../core/types.js';
import { checkInt } from '../core/validate.js';
import { readContainer, requireSection, writeContainer } from '../core/container.js';
import { resolveOptions } from '../core/options.js';
import { defaultThreads } from '../core/threads.js';
import { normalizeRowInto, normalizeRows } from '../core/vectors.js';
import { resolveFilter, type LabelFilter } from './filter.js';
import { TopK } from './heap.js';
import type { AddOptions } from './hnsw.js';
import type { BatchSearchOptions, SearchOptions, SearchResult, VectorIndex } from './types.js';
import { checkItems, checkK, checkQuery, checkQueryBatch, dot, normalized, sqL2, toSearchResult } from './vectors.js';
import { resolveMaxMemoryBytes } from './exact.js';
import { checkUsearchBytes } from './usearchfile.js';

type Native = InstanceType<typeof UsearchModule.Index>;

let usearchModule: typeof UsearchModule | undefined;
/** usearch, loaded on first use: importing pinrec never loads its native binary (nor fails where it has none). */
function usearchLib(): typeof UsearchModule {
  usearchModule ??= createRequire(import.meta.url)('usearch') as typeof UsearchModule;
  return usearchModule;
}

const KIND = 'pinrec.ann.usearch';
const VERSION = 1;
const MAX_THREADS = 256;

/** The option rules of {@link UsearchIndex}, shared by its constructor and {@link UsearchIndex.load}. */
const USEARCH_RULES = {
  metric: { oneOf: ['cosine', 'ip', 'l2'] as const },
  dim: { int: [1, 65536] },
  M: { int: [2, 1024], default: 16 },
  efConstruction: { int: [1, 1 << 20], default: 200 },
  ef: { int: [1, 1 << 20], default: 50 },
  capacity: { int: [1, 2 ** 31 - 1], default: 1024 },
  quantization: { oneOf: ['f32', 'f16'] as const, default: 'f32' },
} as const;

/** The largest magnitude a half-precision component holds (a larger one would become ∞). */
const F16_MAX = 65504;

/** Options of {@link UsearchIndex}. */
export interface UsearchIndexOptions {
  /** `'cosine'` (vectors normalised), `'ip'` (inner product, for MIPS over factors) or `'l2'` (squared Euclidean). */
  metric: Metric;
  /** Vector dimension (1 .. 65536). */
  dim: number;
  /** usearch's `connectivity`: links per node on upper layers (2·M on the base layer). @default 16 */
  M?: number;
  /** usearch's `expansion_add`: candidate list size while building. @default 200 */
  efConstruction?: number;
  /** Candidate list size while searching (changeable later and per search; a search uses at least k). @default 50 */
  ef?: number;
  /**
   * Initial slots of the JS-side vector copy (it doubles when exceeded). The native index grows by itself, to
   * the next power of two (the binding has no reserve call). @default 1024
   */
  capacity?: number;
  /**
   * Most bytes the index may take ({@link usearchIndexBytes}: native graph and vectors, the JS-side vector copy);
   * a capacity, or a growth, above it is refused with an {@link InvalidParameterError} before anything is
   * allocated. @default 0.75 × os.totalmem()
   */
  maxMemoryBytes?: number;
  /**
   * Native threads for `addItems` and `searchBatch`, and the most either may use (usearch's per-thread search
   * contexts are reserved for this many). @default {@link defaultThreads}() (`PINREC_THREADS`, else the cores, at most 8)
   */
  threads?: number;
  /**
   * How usearch stores the vectors it searches: `'f32'`, or `'f16'` (half precision: half the bytes a distance
   * reads, so about twice the QPS on large vectors at nearly the same recall — on 20k × 1280-d cosine, ef 40:
   * recall@10 0.983 instead of 0.985 and 2.1× the QPS). Components must then be within ±65,504. Distances are
   * computed from the rounded vectors; the JS-side copy (`getVector`, exact scoring of small filtered sets)
   * keeps float32, except after `load`, where it holds the stored (rounded) values. @default 'f32'
   */
  quantization?: 'f32' | 'f16';
}

/** Options of {@link UsearchIndex.addItems}. */
export interface UsearchAddOptions extends AddOptions {
  /** Native threads for this batch (at most the index's `threads`). @default the index's `threads` */
  threads?: number;
}

/** Which native library answers, as reported by {@link UsearchIndex.backend}. */
export interface UsearchBackendInfo {
  library: 'usearch';
  /** usearch's version, as compiled into the native binding (e.g. `'2.26.2'`). */
  version: string;
  /**
   * The SIMD targets usearch's kernels can use on this CPU (its `hardwareAccelerationAvailable()`, e.g.
   * `'serial, haswell, skylake, icelake'`), or `null` when the binding does not say.
   */
  hardwareAcceleration: string | null;
}

let backendInfo: UsearchBackendInfo | undefined;

/** Read version and SIMD capabilities from usearch's native addon (the JS wrapper does not re-export them). */
function nativeBackend(): UsearchBackendInfo {
  if (backendInfo) return backendInfo;
  let version = 'unknown';
  let hardwareAcceleration: string | null = null;
  try {
    const main = createRequire(import.meta.url).resolve('usearch');
    const root = path.resolve(path.dirname(main), '..', '..', '..');
    try {
      version = String((JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version);
    } catch { /* keep 'unknown' */ }
    const addon = (createRequire(main)('node-gyp-build') as (dir: string) => Record<string, unknown>)(root);
    if (typeof addon.version === 'function') version = String((addon.version as () => string)());
    if (typeof addon.hardwareAccelerationAvailable === 'function') hardwareAcceleration = String((addon.hardwareAccelerationAvailable as () => string)());
  } catch { /* the wrapper loaded, so search works; only the report is partial */ }
  backendInfo = Object.freeze({ library: 'usearch' as const, version, hardwareAcceleration });
  return backendInfo;
}

/** Native bytes of one node beyond its vector: usearch's node tape (key, level, 2M base links; 64-byte aligned) plus expected upper levels. */
function nodeBytes(M: number): number {
  return Math.ceil((10 + 4 + 8 * M) / 64) * 64 + Math.ceil((4 + 4 * M) / Math.max(1, M - 1));
}

/** Native bytes per reserved slot: node and vector pointers, the key→slot hash entry (with load-factor slack). */
const NATIVE_SLOT_BYTES = 8 + 8 + 32;

/**
 * Bytes a {@link UsearchIndex} of `count` vectors takes (an estimate, close to usearch's own allocation): per
 * vector the native copy (`dim·4`, 8-byte aligned), the node (`⌈(14 + 8M) / 64⌉·64` plus expected upper-level
 * links `(4M + 4)/(M − 1)`), the JS-side copy (`dim·4 + 1` per slot of `jsCapacity`), and per slot of the
 * native capacity (a power of two) 48 bytes of pointers and hash table. Fixed costs (thread contexts, a few MB
 * of arena headroom, the id map) are not counted.
 *
 * @example usearchIndexBytes(100_000, 128, 16); // ≈ 127 MB
 */
export function usearchIndexBytes(count: number, dim: number, M: number, nativeCapacity = ceil2(count + 1), jsCapacity = count): number {
  return count * (Math.ceil((dim * 4) / 8) * 8 + nodeBytes(M)) + nativeCapacity * NATIVE_SLOT_BYTES + jsCapacity * (dim * 4 + 1);
}

function ceil2(n: number): number {
  let c = 1;
  while (c < n) c *= 2;
  return c;
}

/** The largest count whose {@link usearchIndexBytes} (native capacity doubled, JS copy at the count) fits, and the longest Float32Array. */
function usearchMaxCount(dim: number, M: number, maxMemoryBytes: number): number {
  const per = Math.ceil((dim * 4) / 8) * 8 + nodeBytes(M) + 2 * NATIVE_SLOT_BYTES + dim * 4 + 1;
  return Math.min(Math.floor(maxMemoryBytes / per), Math.floor(bufferConstants.MAX_LENGTH / dim), 0xfffffffe);
}

function capacityError(count: number, dim: number, M: number, maxMemoryBytes: number): InvalidParameterError {
  return new InvalidParameterError('capacity', `at most ${usearchMaxCount(dim, M, maxMemoryBytes)} vectors for dim ${dim}, M ${M}: ` +
    `${count} vectors need about ${usearchIndexBytes(count, dim, M)} bytes (limit: maxMemoryBytes = ${maxMemoryBytes} bytes)`, count);
}

interface UsearchMeta {
  metric: Metric; dim: number; M: number; efConstruction: number; ef: number; count: number; labels: number; usearch: string;
  /** Absent in files written before the option existed (f32). */
  quantization?: 'f32' | 'f16';
}

/** A native search result, one row per query: `counts[r]` hits at `keys[r·stride ..]`. */
interface RawHits { keys: BigUint64Array; distances: Float32Array; counts: ArrayLike<number | bigint>; stride: number }

/** The message usearch gives when more threads run than it has search/insert contexts. */
const NO_CONTEXT = /Reserve capacity ahead of/;

/**
 * An HNSW index over the caller's ids, backed by usearch. Interchangeable with {@link HnswIndex}: same
 * methods, same option names where the libraries share them, same distances and similarities — `1 - cos`
 * (cosine: vectors are normalised in float64 in JS and searched with usearch's inner-product metric), `1 - dot`
 * (ip), squared Euclidean (l2); similarities `cos`, `dot` and the negated squared distance.
 *
 * What differs from {@link HnswIndex}, because of what the usearch binding offers:
 * - **Vectors are kept twice**: the binding cannot return a stored vector, so a JS-side `Float32Array` copy
 *   (`dim·4` bytes per vector) serves `getVector` and exact scoring of small filtered sets.
 * - **`ef`** is free to change: the binding fixes usearch's `expansion_search` at construction, so the native
 *   index is built with 1 and every search asks for `max(ef, k)` results — usearch's candidate list is
 *   `max(expansion_search, wanted)` — and keeps the first k: the same candidate-list size, hence recall, as
 *   hnswlib's `ef`.
 * - **Filters** run in JS on an over-fetched candidate list (the binding has no predicate search), grown 4×
 *   until k allowed items are found; small allow-sets are scored exactly.
 * - **Deletion** is usearch's removal: the node stays in the graph as a tombstone (searches pass through it)
 *   and its slot is reused by the next insertion.
 * - **Threads** are native: `addItems` builds on `threads` threads and `searchBatch` searches on them, on the
 *   calling thread's behalf (both block the event loop while they run). No worker threads, no graph copies.
 * - No `seed`: usearch draws levels from per-thread generators with a fixed default seed, so a build with
 *   `threads: 1` is reproducible; a multi-threaded one is not.
 *
 * Thread safety: every method runs synchronously on the calling thread (native threads inside `addItems` and
 * `searchBatch` are joined before they return); `save` takes its snapshot synchronously.
 *
 * @example
 * const index = new UsearchIndex<string>({ metric: 'cosine', dim: 3 });
 * index.addItems(['a', 'b', 'c'], new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]));
 * const { ids, similarities } = index.search([0.9, 0.1, 0], 2); // ids ['a', 'b']
 * await index.save('pins.usearch');
 * const again = await UsearchIndex.load<string>('pins.usearch');
 */
export class UsearchIndex<I extends Id = Id> implements VectorIndex<I> {
  readonly metric: Metric;
  readonly dim: number;
  /** Graph degree (usearch's connectivity). */
  readonly M: number;
  /** Build-time candidate list size (usearch's expansion_add). */
  readonly efConstruction: number;
  /** How usearch stores the vectors: `'f32'` or `'f16'`. */
  readonly quantization: 'f32' | 'f16';
  /** Native threads for addItems and searchBatch, and the most either uses. */
  readonly threads: number;
  private readonly native: Native;
  private readonly ids = new IdMap<I>();
  /** JS-side copy of every label's vector (normalised under cosine), `jsCapacity × dim`. */
  private vectors: Float32Array;
  private deleted: Uint8Array;
  private live = 0;
  private efValue: number;
  /** Native thread contexts known to exist (usearch fails a call that runs more threads than it has contexts). */
  private contexts = 1;
  private readonly maxMemoryBytes: number;

  /**
   * An empty index. Options are checked against one rule table (shared with {@link UsearchIndex.load}); the
   * native index reserves nothing until the first `addItems`.
   * @param options `metric` and `dim` (required); `M` 16, `efConstruction` 200, `ef` 50, `capacity` 1024,
   *   `maxMemoryBytes` 0.75 × os.totalmem(), `threads` {@link defaultThreads}() by default
   * @throws InvalidParameterError naming the option (or `capacity` above `maxMemoryBytes`)
   * @example const index = new UsearchIndex<string>({ metric: 'ip', dim: 64, M: 32, threads: 2 });
   */
  constructor(options: UsearchIndexOptions) {
    const o = resolveOptions(USEARCH_RULES, options);
    this.metric = o.metric;
    this.dim = o.dim;
    this.M = o.M;
    this.efConstruction = o.efConstruction;
    this.efValue = o.ef;
    this.quantization = o.quantization;
    this.threads = options.threads === undefined ? defaultThreads() : checkInt('threads', options.threads, 1, MAX_THREADS);
    this.maxMemoryBytes = resolveMaxMemoryBytes(options.maxMemoryBytes);
    const capacity = o.capacity;
    if (capacity > usearchMaxCount(this.dim, this.M, this.maxMemoryBytes)) throw capacityError(capacity, this.dim, this.M, this.maxMemoryBytes);
    this.native = new (usearchLib().Index)({
      dimensions: this.dim,
      metric: this.metric === 'l2' ? usearchLib().MetricKind.L2sq : usearchLib().MetricKind.IP,
      quantization: this.quantization === 'f16' ? usearchLib().ScalarKind.F16 : usearchLib().ScalarKind.F32,
      connectivity: this.M,
      expansion_add: this.efConstruction,
      expansion_search: 1,
      multi: false,
    });
    this.vectors = new Float32Array(capacity * this.dim);
    this.deleted = new Uint8Array(capacity);
  }

  /** Number of live (not deleted) items. @example index.size // 0 for a new index */
  get size(): number {
    return this.live;
  }

  /** Slots reserved in the native index (grows by doubling, to powers of two). @example index.capacity // 4096 after 3,000 adds */
  get capacity(): number {
    return this.native.capacity();
  }

  /** Default search candidate list size; each search uses `max(ef, k)`. @default 50 @example index.ef = 128; */
  get ef(): number {
    return this.efValue;
  }

  set ef(value: number) {
    this.efValue = checkInt('ef', value, 1, 1 << 20);
  }

  /**
   * The native library behind this index: usearch's version and the SIMD targets its distance kernels can use
   * on this CPU.
   * @example index.backend; // { library: 'usearch', version: '2.26.2', hardwareAcceleration: 'serial, haswell, …' }
   */
  get backend(): UsearchBackendInfo {
    return nativeBackend();
  }

  /**
   * Add one vector or a row-major batch (`ids.length * dim` floats), on `threads` native threads. An id already
   * present gets its vector replaced (removed from the graph and inserted again); a deleted id is revived; an id
   * repeated within the batch keeps its last vector. The whole batch is validated, and the memory it needs
   * checked against `maxMemoryBytes`, before anything is added.
   * @param options `threads` (default: the index's `threads`) and `onProgress` (about every 1,000 vectors and at the end)
   * @throws DimensionMismatchError, InvalidParameterError (NaN/Inf, zero vector under cosine, bad id, threads, capacity)
   * @example
   * index.addItems([1n, 2n], new Float32Array(2 * index.dim));
   * index.addItems(ids, rows, { threads: 1 }); // reproducible graph
   */
  addItems(ids: I | readonly I[], vectors: Float32Array | readonly number[], options: UsearchAddOptions = {}): void {
    const { ids: list, data } = checkItems(ids, vectors, this.dim, this.metric);
    if (this.quantization === 'f16' && this.metric !== 'cosine') {
      for (let t = 0; t < data.length; t++) {
        if (!(Math.abs(data[t]) <= F16_MAX)) throw new InvalidParameterError(`vectors[${t}]`, `a component within ±${F16_MAX} (quantization 'f16')`, data[t]);
      }
    }
    const threads = options.threads === undefined ? this.threads : checkInt('threads', options.threads, 1, MAX_THREADS);
    const onProgress = options.onProgress;
    const dim = this.dim;
    // The last row of each id wins (as adding them one by one would); labels are assigned in first-seen order.
    const rowOf = new Map<I, number>();
    for (let r = 0; r < list.length; r++) rowOf.set(list[r], r);
    let fresh = 0;
    for (const id of rowOf.keys()) if (!this.ids.has(id)) fresh++;
    const need = this.ids.size + fresh;
    if (need > usearchMaxCount(dim, this.M, this.maxMemoryBytes)) throw capacityError(need, dim, this.M, this.maxMemoryBytes);
    if (need > this.deleted.length) this.growJs(need);

    const n = rowOf.size;
    const first = this.ids.size;
    const labels = new Array<number>(n);
    const wasLive = new Uint8Array(n);
    const upserts: number[] = [];
    let i = 0;
    for (const id of rowOf.keys()) {
      const before = this.ids.size;
      const l = this.ids.add(id);
      if (l >= before) this.deleted[l] = 1; // not live until inserted below
      else if (this.deleted[l] === 0) { wasLive[i] = 1; upserts.push(l); }
      labels[i++] = l;
    }
    // The rows usearch reads, in batch order (normalised under cosine). A batch of new ids has consecutive labels:
    // its rows are written straight into the JS-side copy; l2/ip rows without repeated ids are the caller's own.
    const inPlace = this.ids.size - first === n;
    let rows: Float32Array;
    if (inPlace) rows = this.vectors.subarray(first * dim, (first + n) * dim);
    else if (this.metric !== 'cosine' && n === list.length) rows = data;
    else rows = new Float32Array(n * dim);
    if (rows !== data) {
      i = 0;
      for (const r of rowOf.values()) {
        if (this.metric === 'cosine') normalizeRowInto(data, r * dim, dim, rows, i * dim);
        else rows.set(data.subarray(r * dim, (r + 1) * dim), i * dim);
        i++;
      }
    }
    const keys = BigUint64Array.from(labels, (l) => BigInt(l));
    try {
      if (upserts.length > 0) this.native.remove(BigUint64Array.from(upserts, (l) => BigInt(l)));
      this.insert(keys, rows, threads, onProgress ? (done) => {
        if (done % 1000 === 0 || done === n) onProgress({ stage: 'usearch:add', done, total: n });
      } : undefined);
    } catch (e) {
      this.reconcile(labels, rows, wasLive);
      throw e;
    }
    for (let j = 0; j < n; j++) {
      const l = labels[j];
      if (!inPlace) this.vectors.set(rows.subarray(j * dim, (j + 1) * dim), l * dim);
      if (this.deleted[l] === 1) { this.deleted[l] = 0; this.live++; }
    }
  }

  /** Grow the JS-side copy to at least `min` slots: doubling, or just `min` when doubling would pass maxMemoryBytes. */
  private growJs(min: number): void {
    let cap = Math.max(min, this.deleted.length * 2);
    if (usearchIndexBytes(min, this.dim, this.M, ceil2(min + 1), cap) > this.maxMemoryBytes || cap * this.dim > bufferConstants.MAX_LENGTH) cap = min;
    const v = new Float32Array(cap * this.dim);
    v.set(this.vectors);
    this.vectors = v;
    const d = new Uint8Array(cap);
    d.set(this.deleted);
    this.deleted = d;
  }

  /**
   * Insert `keys` (none present in the native index). The binding reserves memory only inside `add`, when the
   * batch would fill the index, and then sizes usearch's per-thread contexts to that call's thread count; a later
   * call with more threads than contexts fails part-way. So every reserving call here is a single vector on
   * `this.threads` threads (one vector runs on one thread), and the vectors before it go in while the index has
   * room: the index always holds `this.threads` contexts after a growth, and no call runs more threads than that.
   */
  private insert(keys: BigUint64Array, rows: Float32Array, threads: number, progress?: (done: number) => void): void {
    const dim = this.dim, n = keys.length;
    let off = 0;
    while (off < n) {
      const s = this.native.size(), c = this.native.capacity();
      // with a progress callback, calls end at multiples of 1,000 vectors
      const end = progress ? Math.min(n, (Math.floor(off / 1000) + 1) * 1000) : n;
      let to: number, reserves = false;
      if (s + (end - off) < c) to = end;
      else if (c - 1 - s > 0) to = off + (c - 1 - s); // fill to one below capacity: no reserve
      else { to = off + 1; reserves = true; } // one vector: the binding reserves ceil2(s + 1) slots, this.threads contexts
      this.addNative(keys.subarray(off, to), rows.subarray(off * dim, to * dim), reserves ? this.threads : threads, reserves);
      off = to;
      progress?.(off);
    }
  }

  /** One native add on `min(threads, contexts)` threads; when usearch still lacks a context, the vectors it skipped go in on one thread. */
  private addNative(keys: BigUint64Array, rows: Float32Array, threads: number, reserves: boolean): void {
    const t = reserves ? threads : Math.min(threads, this.contexts);
    try {
      this.native.add(keys, rows, t);
      if (reserves) this.contexts = threads;
    } catch (e) {
      if (t === 1 || !NO_CONTEXT.test((e as Error).message)) throw e;
      this.contexts = 1;
      const present = this.native.contains(keys) as boolean[];
      const missing: number[] = [];
      for (let i = 0; i < keys.length; i++) if (!present[i]) missing.push(i);
      if (missing.length === 0) return;
      const mk = BigUint64Array.from(missing, (i) => keys[i]);
      const mv = new Float32Array(missing.length * this.dim);
      missing.forEach((i, j) => mv.set(rows.subarray(i * this.dim, (i + 1) * this.dim), j * this.dim));
      this.native.add(mk, mv, 1);
    }
  }

  /**
   * After a native failure part-way through a batch: every label of the batch the native index holds is live
   * with its new vector; an upserted label it lost gets its previous vector back (from the JS-side copy), and
   * stays deleted only if even that fails.
   */
  private reconcile(labels: number[], rows: Float32Array, wasLive: Uint8Array): void {
    const dim = this.dim;
    const present = this.native.contains(BigUint64Array.from(labels, (l) => BigInt(l))) as boolean[];
    for (let j = 0; j < labels.length; j++) {
      const l = labels[j];
      if (present[j]) {
        this.vectors.set(rows.subarray(j * dim, (j + 1) * dim), l * dim);
        if (this.deleted[l] === 1) { this.deleted[l] = 0; this.live++; }
        continue;
      }
      if (wasLive[j] === 1) {
        try {
          this.native.add(BigUint64Array.of(BigInt(l)), this.vectors.slice(l * dim, (l + 1) * dim), 1);
        } catch {
          this.deleted[l] = 1;
          this.live--;
        }
      }
    }
  }

  /** Whether `id` is present and not deleted. @example index.has('pin:9') */
  has(id: I): boolean {
    const l = this.ids.get(id);
    return l >= 0 && this.deleted[l] === 0;
  }

  /**
   * Mark `id` deleted: it is removed from the native index (its node stays in the graph as a tombstone, and
   * its slot is reused by a later insertion). Adding the id again revives it with the new vector.
   * @throws UnknownIdError when `id` is absent or already deleted
   * @example index.markDeleted('pin:9');
   */
  markDeleted(id: I): void {
    const l = this.ids.get(id);
    if (l < 0 || this.deleted[l] === 1) throw new UnknownIdError('id', id);
    this.native.remove(BigUint64Array.of(BigInt(l)));
    this.deleted[l] = 1;
    this.live--;
  }

  /** Alias of {@link UsearchIndex.markDeleted}. @example index.remove('pin:9'); */
  remove(id: I): void {
    this.markDeleted(id);
  }

  /** The stored vector of `id` (normalised under cosine), from the JS-side copy. @throws UnknownIdError @example index.getVector('pin:9') */
  getVector(id: I): Float32Array {
    const l = this.ids.get(id);
    if (l < 0 || this.deleted[l] === 1) throw new UnknownIdError('id', id);
    return this.vectors.slice(l * this.dim, (l + 1) * this.dim);
  }

  /** The stored vector of `id`, or `undefined` when it is absent or deleted. @example index.tryGetVector('pin:9') */
  tryGetVector(id: I): Float32Array | undefined {
    return this.has(id) ? this.getVector(id) : undefined;
  }

  /**
   * The k nearest live items to `query`, best first, searched on the calling thread. With a filter, returns
   * `min(k, allowed items)` results: usearch is asked for a candidate list scaled by the allowed share
   * (`max(ef, 2k) · size / allowed` for allow/deny sets, `max(2·ef, 4k)` for predicates), the filter is
   * applied in JS, and the list grows 4× until k allowed items are found (at the index size, or when the
   * graph comes back short, every allowed item is scored exactly). Allow-sets of at most `max(2·ef, 4 ×` that
   * list) items are scored exactly straight away (from the JS-side copy of the vectors).
   * @param query  a vector of length `dim`
   * @param k      number of neighbours, an integer >= 1 (fewer come back when fewer items exist; `requested` keeps k)
   * @param options `filter` and a per-search `ef` (default: the index's `ef`)
   * @throws InvalidParameterError (k, query, filter, ef), DimensionMismatchError
   * @example
   * const { ids, similarities } = index.search(userFactors, 20, { filter: { deny: seenPins }, ef: 100 });
   */
  search(query: Float32Array | readonly number[], k: number, options: SearchOptions<I> = {}): SearchResult<I> {
    const want = checkK(k, this.live);
    const q = checkQuery('query', query, this.dim, this.metric);
    const ef = options.ef === undefined ? this.efValue : checkInt('ef', options.ef, 1, 1 << 20);
    const f = resolveFilter(options.filter, this.ids, (l) => this.deleted[l] === 0, this.live);
    const res = want === 0 ? this.toResult([], []) : this.searchChecked(this.metric === 'cosine' ? normalized(q) : q, want, Math.max(ef, want), f);
    res.requested = k;
    return res;
  }

  /**
   * The first candidate list a search asks usearch for: `max(ef, k)` unfiltered; filtered, enough for about
   * `max(ef, 2k)` allowed items when the allowed share is known (`max(ef, 2k) · size / allowed`), else
   * `max(2·ef, 4k)` — so one native search usually suffices (a short one is retried 4× larger).
   */
  private firstFetch(k: number, ef: number, f: LabelFilter | null): number {
    if (!f) return Math.max(ef, k);
    if (f.allowedCount < 0) return Math.max(2 * ef, 4 * k);
    return Math.ceil((Math.max(ef, 2 * k) * this.live) / Math.max(1, f.allowedCount));
  }

  /** Whether to score exactly rather than walk the graph: a small allow-set, or a candidate list as large as the index. */
  private exactFirst(ef: number, fetch: number, f: LabelFilter | null): boolean {
    if (f?.allowLabels && f.allowLabels.length <= Math.max(2 * ef, 4 * fetch)) return true;
    // A candidate list as large as the index visits every node anyway (and a small graph may not reach all of them).
    return fetch >= this.live;
  }

  /** Search `q` (already normalised under cosine) for `k` results with candidate list `ef` (>= k). */
  private searchChecked(q: Float32Array, k: number, ef: number, f: LabelFilter | null): SearchResult<I> {
    const want = f && f.allowedCount >= 0 ? Math.min(k, f.allowedCount) : k;
    if (want === 0) return this.toResult([], []);
    let fetch = this.firstFetch(want, ef, f);
    if (this.exactFirst(ef, fetch, f)) return this.exact(q, want, f);
    for (;;) {
      const hits = this.nativeSearch(q, 1, fetch, 1);
      const r = this.collect(hits, 0, want, f);
      if (f?.error) throw f.error.value;
      if (r) return r;
      // Short: too few allowed among the candidates, or a graph that does not reach `fetch` live nodes.
      if (Number(hits.counts[0]) < fetch || fetch * 4 >= this.live) break;
      fetch *= 4;
    }
    return this.exact(q, want, f);
  }

  /** The first `want` accepted hits of row `r`, or null when there are fewer. */
  private collect(hits: RawHits, r: number, want: number, f: LabelFilter | null): SearchResult<I> | null {
    const n = Number(hits.counts[r]), base = r * hits.stride;
    const labels = new Int32Array(want), dists = new Float32Array(want);
    let got = 0;
    for (let i = 0; i < n && got < want; i++) {
      const l = Number(hits.keys[base + i]);
      if (f && !f.accept(l)) continue;
      labels[got] = l;
      dists[got++] = hits.distances[base + i];
    }
    return got < want ? null : this.toResult(labels, dists);
  }

  /** usearch's search for `rows` queries, `wanted` results each, on `threads` native threads (fewer when it lacks contexts). */
  private nativeSearch(queries: Float32Array, rows: number, wanted: number, threads: number): RawHits {
    const t = Math.min(threads, this.contexts);
    let m: InstanceType<typeof UsearchModule.Matches> | InstanceType<typeof UsearchModule.BatchMatches>;
    try {
      m = this.native.search(queries, wanted, t);
    } catch (e) {
      if (t === 1 || !NO_CONTEXT.test((e as Error).message)) throw e;
      this.contexts = 1;
      m = this.native.search(queries, wanted, 1);
    }
    if (m instanceof usearchLib().BatchMatches) return { keys: m.keys, distances: m.distances, counts: m.counts, stride: wanted };
    return { keys: m.keys, distances: m.distances, counts: [m.keys.length], stride: wanted };
  }

  /** Exact top-k over the live items passing `f` (or its allow-list), from the JS-side copy. */
  private exact(q: Float32Array, k: number, f: LabelFilter | null): SearchResult<I> {
    const heap = new TopK(k);
    const { vectors, dim, deleted } = this;
    const ip = this.metric !== 'l2';
    const visit = (l: number) => heap.push(ip ? 1 - dot(q, 0, vectors, l * dim, dim) : sqL2(q, 0, vectors, l * dim, dim), l);
    if (f?.allowLabels) for (const l of f.allowLabels) visit(l);
    else {
      for (let l = 0; l < this.ids.size; l++) if (deleted[l] === 0 && (!f || f.accept(l))) visit(l);
      if (f?.error) throw f.error.value;
    }
    const s = heap.sorted();
    return this.toResult(s.labels, s.distances);
  }

  private toResult(labels: ArrayLike<number>, distances: ArrayLike<number>): SearchResult<I> {
    return toSearchResult(this.ids, this.metric, labels, distances);
  }

  /**
   * {@link UsearchIndex.search} for every row of a row-major query batch, with usearch's own batch search on
   * `threads` native threads (filtered batches too: each row's over-fetched list is filtered in JS, and rows
   * that come back short are retried alone). The result equals searching row by row. Runs synchronously: the
   * event loop waits for the batch.
   * @param options `filter`, `ef`, and `threads` (default: the index's `threads`; more than that is capped to it)
   * @throws as {@link UsearchIndex.search}; InvalidParameterError for a bad `threads`
   * @example
   * const results = await index.searchBatch(queries, 10, { threads: 2, ef: 80 });
   */
  async searchBatch(queries: Float32Array, kAsked: number, options: BatchSearchOptions<I> = {}): Promise<SearchResult<I>[]> {
    const k = checkK(kAsked, this.live);
    const { data, rows } = checkQueryBatch('queries', queries, this.dim, this.metric);
    const efAsked = options.ef === undefined ? this.efValue : checkInt('ef', options.ef, 1, 1 << 20);
    const threads = options.threads === undefined ? this.threads : Math.min(this.threads, checkInt('threads', options.threads, 1, MAX_THREADS));
    const f = resolveFilter(options.filter, this.ids, (l) => this.deleted[l] === 0, this.live);
    const out: SearchResult<I>[] = new Array(rows);
    if (k > 0) {
      const dim = this.dim, ef = Math.max(efAsked, k);
      const qs = this.metric === 'cosine' ? normalizeRows(data, dim) : data;
      const want = f && f.allowedCount >= 0 ? Math.min(k, f.allowedCount) : k;
      const fetch = this.firstFetch(want, ef, f);
      if (want === 0 || this.exactFirst(ef, fetch, f)) {
        for (let r = 0; r < rows; r++) out[r] = this.searchChecked(qs.subarray(r * dim, (r + 1) * dim), k, ef, f);
      } else {
        const hits = this.nativeSearch(qs, rows, fetch, threads);
        for (let r = 0; r < rows; r++) {
          const got = this.collect(hits, r, want, f);
          if (f?.error) throw f.error.value;
          out[r] = got ?? this.searchChecked(qs.subarray(r * dim, (r + 1) * dim), k, ef, f);
        }
      }
    } else {
      for (let r = 0; r < rows; r++) out[r] = this.toResult([], []);
    }
    for (const r of out) r.requested = kAsked;
    return out;
  }

  /**
   * Nothing to release: usearch's threads live only for the duration of each call, and there are no workers
   * or temp files. Present for {@link VectorIndex} symmetry; the index stays usable.
   * @example await index.close();
   */
  async close(): Promise<void> {}

  /**
   * Save atomically to `file`: a pinrec container holding a header (metric, dim, M, efConstruction, ef, count,
   * labels, usearch version), usearch's own serialised index (graph and vectors), the id table and the deleted
   * labels, with a SHA-256 checksum. Written to a temp file and renamed, so a crash leaves the previous file
   * intact. The snapshot is taken synchronously, when `save` is called.
   * @example await index.save('pins.usearch');
   */
  async save(file: string): Promise<void> {
    const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-usearch-save-'));
    let graph: Buffer;
    try {
      const tmp = path.join(dir, 'index.usearch');
      this.native.save(tmp);
      graph = readFileSync(tmp);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const deleted: number[] = [];
    for (let l = 0; l < this.ids.size; l++) if (this.deleted[l] === 1) deleted.push(l);
    const meta: UsearchMeta = {
      metric: this.metric, dim: this.dim, M: this.M, efConstruction: this.efConstruction, ef: this.efValue,
      count: this.live, labels: this.ids.size, usearch: nativeBackend().version, quantization: this.quantization,
    };
    await writeContainer(file, KIND, VERSION, meta, {
      graph: new Uint8Array(graph.buffer, graph.byteOffset, graph.byteLength),
      ids: new Uint8Array(this.ids.encode()),
      deleted: Uint32Array.from(deleted),
    });
  }

  /**
   * Load an index written by {@link UsearchIndex.save}. usearch's index bytes are checked completely
   * (`src/ann/usearchfile.ts`: sizes, kinds, every node's level and links, keys against the id table, vectors
   * finite) before the native loader reads them, so a crafted file is a `FileFormatError`, never a crash.
   * @param options `threads` and `maxMemoryBytes` of the loaded index (as in the constructor)
   * @throws FileFormatError for a missing, truncated, altered, foreign or malformed file, one of another version,
   *   or one larger than `maxMemoryBytes`
   * @example const index = await UsearchIndex.load<string>('pins.usearch', { threads: 2 });
   */
  static async load<I extends Id = Id>(file: string, options: { threads?: number; maxMemoryBytes?: number } = {}): Promise<UsearchIndex<I>> {
    const c = await readContainer<UsearchMeta>(file, KIND);
    if (c.version !== VERSION) throw new FileFormatError(file, `unsupported ${KIND} version ${c.version} (this build reads ${VERSION})`);
    const m = c.meta;
    try {
      resolveOptions(USEARCH_RULES, m); // the constructor's own rules
    } catch (e) {
      throw new FileFormatError(file, `header meta is malformed (${(e as Error).message})`);
    }
    const okInt = (x: unknown, lo: number, hi: number) => typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
    if (!okInt(m.labels, 0, 0xfffffffe) || !okInt(m.count, 0, m.labels)) throw new FileFormatError(file, 'header meta is malformed (labels, count)');
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
    for (const l of deleted) if (l >= m.labels) throw new FileFormatError(file, 'deleted list is malformed');
    const quantization = m.quantization ?? 'f32';
    const layout = checkUsearchBytes(graph, { metric: m.metric, dim: m.dim, M: m.M, labels: m.labels, deleted: deletedSet, quantization });
    if (typeof layout === 'string') throw new FileFormatError(file, layout);
    let index: UsearchIndex<I>;
    try {
      index = new UsearchIndex<I>({
        metric: m.metric, dim: m.dim, M: m.M, efConstruction: m.efConstruction, ef: m.ef, capacity: Math.max(1, m.labels),
        threads: options.threads, maxMemoryBytes: options.maxMemoryBytes, quantization,
      });
    } catch (e) {
      if ((e as InvalidParameterError).parameter === 'capacity') throw new FileFormatError(file, `holds more than this process may load (${(e as Error).message})`);
      throw e;
    }
    if (layout.size > 0) {
      const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-usearch-load-'));
      try {
        const tmp = path.join(dir, 'index.usearch');
        writeFileSync(tmp, graph);
        index.native.load(tmp);
      } catch (e) {
        throw new FileFormatError(file, `usearch could not read the index (${(e as Error).message})`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      if (index.native.size() !== m.count) throw new FileFormatError(file, 'usearch index size disagrees with the header');
      // usearch's loader sizes its thread contexts by std::thread::hardware_concurrency(); a call that needs more
      // falls back to one thread (see nativeSearch / addNative) and the next growth restores `threads`.
      index.contexts = Math.max(1, Math.min(index.threads, cpus().length));
    }
    for (let l = 0; l < m.labels; l++) index.ids.add(ids.id(l));
    index.deleted.fill(1, 0, m.labels);
    const dim = m.dim;
    for (let s = 0; s < layout.size; s++) {
      const l = layout.slotLabel[s];
      if (l < 0) continue;
      index.vectors.set(layout.vectors.subarray(s * dim, (s + 1) * dim), l * dim);
      index.deleted[l] = 0;
    }
    index.live = m.count;
    return index;
  }
}
