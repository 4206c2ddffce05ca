/**
 * Vector search beyond one machine: {@link ShardedIndex} spreads pins over N shards (any {@link VectorIndex}, or
 * any {@link AsyncVectorIndex} such as `PgVectorIndex` or another `ShardedIndex`), searches them all
 * (scatter-gather) and merges their top-k exactly.
 *
 * Two ways to search, by what the shards are:
 * - {@link ShardedIndex.search} (synchronous, the {@link VectorIndex} contract): every shard must be local and
 *   synchronous (`ExactIndex`, `HnswIndex`, `UsearchIndex`). There are no time budgets (a synchronous call cannot be
 *   cut off), but a shard that throws is still left out and reported.
 * - {@link ShardedIndex.searchAsync} / {@link ShardedIndex.searchBatch}: any shards, local or remote. Each shard has
 *   a time budget (`timeoutMs`); a shard that does not answer in time, throws, or is down is left out, and the
 *   result says so (`partial`, `shards`).
 *
 * Writes are routed to one shard per pin: by a stable hash of the pin id ({@link routeHash}), by
 * category (`categoryShards`: a surging category gets its own shards), or by a custom `route`. Every replica of
 * the target shard receives the write; a search reads one healthy replica per shard and fails over to the next.
 */
import { ClosedError, FileFormatError, InvalidParameterError, PinrecError, UnknownIdError } from '../core/errors.js';
import { checkIdType, compareIds } from '../core/ids.js';
import type { Id, Metric } from '../core/types.js';
import { readContainer, writeContainer } from '../core/container.js';
import { checkInt } from '../core/validate.js';
import { badFilter, idSetFilter } from './filter.js';
import { ExactIndex } from './exact.js';
import { HnswIndex } from './hnsw.js';
import { UsearchIndex } from './usearch.js';
import type { BatchSearchOptions, Filter, SearchOptions, SearchResult, VectorIndex } from './types.js';
import { checkItems, checkQuery, checkQueryBatch } from './vectors.js';

// ---------------------------------------------------------------------------------------------------------
// The asynchronous index contract (remote shards)

/** Options of an asynchronous search ({@link AsyncVectorIndex.searchAsync}, {@link ShardedIndex.searchAsync}). */
export interface AsyncSearchOptions<I extends Id = Id> extends SearchOptions<I> {
  /** Aborted when the caller no longer wants the answer (a shard's budget ran out): stop work if you can. */
  signal?: AbortSignal;
  /**
   * Only pins of these categories (pushed into SQL by `PgVectorIndex`). Only for indexes that store categories
   * ({@link AsyncVectorIndex.storesCategories}); others refuse it with an {@link InvalidParameterError}.
   * @default undefined (every category)
   */
  category?: string | readonly string[];
}

/** Options of an asynchronous batch search. */
export interface AsyncBatchSearchOptions<I extends Id = Id> extends AsyncSearchOptions<I>, BatchSearchOptions<I> {}

/** Options of {@link AsyncVectorIndex.addItemsAsync} and {@link ShardedIndex.addItems}. */
export interface AddItemsOptions {
  /** The category of each pin (one for all, or one per id; `null`/`undefined`: none). @default undefined */
  categories?: string | null | readonly (string | null | undefined)[];
}

/**
 * A vector index whose operations are asynchronous (a database, a remote service, a {@link ShardedIndex} of
 * remote shards). Same semantics and result conventions as {@link VectorIndex}, with `…Async` methods where
 * the {@link VectorIndex} method is synchronous.
 *
 * @example
 * async function nearest(index: AsyncVectorIndex<string>, q: Float32Array) {
 *   return (await index.searchAsync(q, 10, { filter: { deny: ['seen'] } })).ids;
 * }
 */
export interface AsyncVectorIndex<I extends Id = Id> {
  readonly metric: Metric;
  readonly dim: number;
  /** Live items, as this client knows them (see the implementation for how it is kept). */
  readonly size: number;
  /** Whether {@link AsyncSearchOptions.category} is supported. */
  readonly storesCategories?: boolean;
  addItemsAsync(ids: I | readonly I[], vectors: Float32Array | readonly number[], options?: AddItemsOptions): Promise<void>;
  hasAsync(id: I): Promise<boolean>;
  /** Throws {@link UnknownIdError} when absent. */
  markDeletedAsync(id: I): Promise<void>;
  getVectorAsync(id: I): Promise<Float32Array>;
  tryGetVectorAsync(id: I): Promise<Float32Array | undefined>;
  searchAsync(query: Float32Array | readonly number[], k: number, options?: AsyncSearchOptions<I>): Promise<SearchResult<I>>;
  searchBatch(queries: Float32Array, k: number, options?: AsyncBatchSearchOptions<I>): Promise<SearchResult<I>[]>;
  close(): Promise<void>;
}

/** A shard: a local {@link VectorIndex} or an {@link AsyncVectorIndex}. */
export type Shard<I extends Id = Id> = VectorIndex<I> | AsyncVectorIndex<I>;

/** Whether `shard` has the synchronous {@link VectorIndex} methods. @example isSyncIndex(new ExactIndex({ metric: 'l2', dim: 2 })) // true */
export function isSyncIndex<I extends Id>(shard: Shard<I>): shard is VectorIndex<I> {
  const s = shard as Partial<VectorIndex<I>>;
  return typeof s.search === 'function' && typeof s.addItems === 'function' && typeof s.markDeleted === 'function';
}

function isAsyncIndex<I extends Id>(shard: Shard<I>): shard is AsyncVectorIndex<I> {
  return typeof (shard as Partial<AsyncVectorIndex<I>>).searchAsync === 'function';
}

// ---------------------------------------------------------------------------------------------------------
// Stable id hashing

/**
 * The canonical string of an id, used for routing (and by `PgVectorIndex` as its key column): `s:<string>`,
 * `n:<number>` (JavaScript's shortest decimal, `-0` as `0`), `b:<bigint decimal>`, so `1`, `1n` and `'1'` are
 * three different ids as everywhere in pinrec. A string holding a NUL or a lone surrogate (which UTF-8 text
 * columns cannot store) is `u:` + its UTF-16 code units in hex.
 *
 * @example
 * idKey('pin:7'); // 's:pin:7'
 * idKey(7);       // 'n:7'
 * idKey(7n);      // 'b:7'
 */
export function idKey(id: Id): string {
  if (typeof id === 'string') {
    if (/\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(id)) {
      let hex = 'u:';
      for (let i = 0; i < id.length; i++) hex += id.charCodeAt(i).toString(16).padStart(4, '0');
      return hex;
    }
    return `s:${id}`;
  }
  if (typeof id === 'number') return `n:${Object.is(id, -0) ? 0 : id}`;
  return `b:${id}`;
}

/**
 * The id that {@link idKey} encoded.
 * @throws InvalidParameterError for a string {@link idKey} cannot have produced
 * @example fromIdKey('b:7'); // 7n
 */
export function fromIdKey(key: string): Id {
  const tag = key.slice(0, 2), body = key.slice(2);
  if (tag === 's:') return body;
  if (tag === 'n:') { const n = Number(body); if (body !== '' && Number.isFinite(n)) return n; }
  if (tag === 'b:' && /^-?\d+$/.test(body)) return BigInt(body);
  if (tag === 'u:' && body.length % 4 === 0 && /^[0-9a-f]*$/.test(body)) {
    let s = '';
    for (let i = 0; i < body.length; i += 4) s += String.fromCharCode(parseInt(body.slice(i, i + 4), 16));
    return s;
  }
  throw new InvalidParameterError('key', "an id key ('s:…', 'n:…', 'b:…' or 'u:…')", key);
}

/**
 * The routing hash of a pin id: 32-bit FNV-1a (offset basis 2166136261, prime 16777619) over the UTF-8 bytes
 * of {@link idKey}`(id)`. {@link ShardedIndex} sends a pin to shard `routeHash(id) % shards` by default.
 * Stable across processes, platforms and pinrec versions.
 *
 * @example routeHash('pin:7') % 4; // the shard of 'pin:7' among 4
 */
export function routeHash(id: Id): number {
  return fnv1a32Utf8(idKey(id));
}

function fnv1a32Utf8(s: string): number {
  const bytes = Buffer.from(s, 'utf8');
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------------------
// Results

/** Why a shard was left out of an answer. */
export interface ShardFailure {
  /** Shard number (position in `shards`). */
  shard: number;
  /** The last error's message (every replica was tried). */
  reason: string;
  /** The last error itself. */
  error?: unknown;
}

/** Which shards contributed to an answer. */
export interface ShardReport {
  /** Shards that answered (ascending). */
  answered: number[];
  /** Shards whose every replica threw or was down. */
  failed: ShardFailure[];
  /** Shards that did not answer within their budget. */
  timedOut: number[];
}

/** A {@link SearchResult} merged from shards, saying which answered. */
export interface ShardedSearchResult<I extends Id = Id> extends SearchResult<I> {
  /** Whether some shard was left out (failed or timed out): the answer is the best of the shards that answered. */
  partial: boolean;
  shards: ShardReport;
}

/**
 * Merge shard answers into one exact top-k: best similarity first, ties broken by id (numbers and bigints numerically, before strings); an id
 * that several shards return (a replica or a re-categorised pin) appears once, with its best score.
 *
 * @example
 * const merged = mergeResults([a.search(q, 10), b.search(q, 10)], 10);
 */
export function mergeResults<I extends Id>(parts: readonly SearchResult<I>[], k: number): SearchResult<I> {
  const best = new Map<I, { id: I; d: number; s: number }>();
  for (const p of parts) {
    for (let i = 0; i < p.ids.length; i++) {
      const id = p.ids[i], s = p.similarities[i], d = p.distances[i];
      const cur = best.get(id);
      if (cur === undefined || s > cur.s) best.set(id, { id, d, s });
    }
  }
  const all = [...best.values()];
  all.sort((x, y) => (y.s - x.s) || compareIds(x.id, y.id));
  const n = Math.min(k, all.length);
  const ids = new Array<I>(n), distances = new Float32Array(n), similarities = new Float32Array(n);
  for (let i = 0; i < n; i++) { ids[i] = all[i].id; distances[i] = all[i].d; similarities[i] = all[i].s; }
  return { ids, distances, similarities, scores: similarities, requested: k };
}

/** A write reached some replicas but not all (or none). Upserts are idempotent: retrying the call is safe. */
export class ShardWriteError extends PinrecError {
  /** The replicas that refused the write. */
  readonly failures: { shard: number; replica: number; reason: string; error: unknown }[];
  constructor(failures: { shard: number; replica: number; reason: string; error: unknown }[]) {
    super('SHARD_WRITE', `write failed on ${failures.length} replica(s): ${failures.map((f) => `shard ${f.shard} replica ${f.replica}: ${f.reason}`).join('; ')}`);
    this.failures = failures;
  }
}

/** Every shard failed or timed out, or `allowPartial` is false and some did. */
export class ShardSearchError extends PinrecError {
  readonly shards: ShardReport;
  constructor(shards: ShardReport, why: string) {
    super('SHARD_SEARCH', `${why}: failed ${JSON.stringify(shards.failed.map((f) => ({ shard: f.shard, reason: f.reason })))}, timed out ${JSON.stringify(shards.timedOut)}`);
    this.shards = shards;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Options

/** Options of {@link ShardedIndex}. */
export interface ShardedIndexOptions<I extends Id = Id> {
  /**
   * The shards, in order (shard number = position). Each is one index, or an array of replicas holding the
   * same pins. All must share one metric and dimension.
   */
  shards: readonly (Shard<I> | readonly Shard<I>[])[];
  /**
   * Time budget of one shard's answer in ms, one for all or one per shard (async searches only). A shard
   * that has not answered when it runs out is left out (`timedOut`). @default 1000
   */
  timeoutMs?: number | readonly number[];
  /** Return partial answers; `false` throws {@link ShardSearchError} when any shard is left out. @default true */
  allowPartial?: boolean;
  /**
   * Dedicated shards per category, e.g. `{ fashion: [2, 3] }`: pins of that category hash among those shards,
   * every other pin among the shards no category owns (at least one must remain). @default undefined
   */
  categoryShards?: Readonly<Record<string, readonly number[]>>;
  /**
   * The category of a pin, for routing reads and deletes when `categoryShards` is set (without it, a lookup of
   * a pin asks every shard). @default undefined
   */
  categoryOf?: (id: I) => string | null | undefined;
  /**
   * Custom write routing: the shard number of a pin (an integer in [0, shards)); replaces the hash / category
   * routing. Must be deterministic. @default hash routing ({@link routeHash} modulo the shards)
   */
  route?: (id: I, category: string | undefined, shards: number) => number;
  /** How long a replica that failed is tried only after the healthy ones, in ms. @default 5000 */
  retryAfterMs?: number;
}

/** Options of {@link ShardedIndex.searchAsync}. */
export interface ShardedSearchOptions<I extends Id = Id> extends AsyncSearchOptions<I> {
  /** Per-search budget per shard in ms (overrides the index's `timeoutMs`). */
  timeoutMs?: number;
  /** Ask only these shards (e.g. {@link ShardedIndex.shardsFor} a category). @default every shard */
  shards?: readonly number[];
}

/** Options of {@link ShardedIndex.searchBatch}. */
export interface ShardedBatchSearchOptions<I extends Id = Id> extends ShardedSearchOptions<I>, BatchSearchOptions<I> {}

/** Options of {@link ShardedIndex.load}. */
export interface ShardedLoadOptions<I extends Id = Id> extends Omit<ShardedIndexOptions<I>, 'shards'> {
  /** Supplies the remote replicas the manifest lists (they hold their own data). */
  remote?: (shard: number, replica: number, description: string) => Shard<I> | Promise<Shard<I>>;
}

interface Replica<I extends Id> {
  index: Shard<I>;
  /** Time (ms since epoch) until which it is tried last. */
  downUntil: number;
}

interface ManifestReplica { type: 'ExactIndex' | 'HnswIndex' | 'UsearchIndex' | 'remote'; file?: string; description?: string }
interface ShardedMeta {
  metric: Metric; dim: number; routing: 'hash' | 'category' | 'custom';
  timeoutMs: number[]; allowPartial: boolean; categoryShards: Record<string, number[]> | null; retryAfterMs: number;
  shards: { replicas: ManifestReplica[] }[];
}

const KIND = 'pinrec.ann.sharded';
const VERSION = 1;
const DEFAULT_TIMEOUT_MS = 1000;
const TIMEOUT = Symbol('timeout');

/** Caller predicate errors are the caller's: caught inside shards, rethrown after the search. */
interface WrappedFilter<I extends Id> { filter: Filter<I> | undefined; error: { value: unknown } | null }

function wrapFilter<I extends Id>(filter: Filter<I> | undefined): WrappedFilter<I> {
  const out: WrappedFilter<I> = { filter: undefined, error: null };
  if (filter === undefined) return out;
  if (typeof filter === 'function') {
    out.filter = (id: I) => {
      if (out.error) return false;
      try { return filter(id) === true; } catch (e) { out.error = { value: e }; return false; }
    };
    return out;
  }
  const idSet = idSetFilter<I>(filter);
  if (!idSet) throw badFilter(filter);
  // materialised once: every shard reads it (a one-shot iterator would be used up by the first)
  const list = Array.from(idSet.ids);
  out.filter = idSet.kind === 'allow' ? { allow: list } : { deny: list };
  return out;
}

function checkK(k: unknown): number {
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) throw new InvalidParameterError('k', 'an integer >= 1', k);
  return k;
}

function reasonOf(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * A {@link VectorIndex} (and an {@link AsyncVectorIndex}) over N shards: writes routed to one shard (all of its
 * replicas), searches scattered to every shard and merged exactly (best similarity first, ties by id), with per-shard time budgets and partial answers.
 *
 * - Sync API ({@link ShardedIndex.search}, `addItems`, `markDeleted`, `has`, `getVector`): local synchronous
 *   shards only; a remote shard makes them throw {@link InvalidParameterError} naming `shards`.
 * - Async API ({@link ShardedIndex.searchAsync}, {@link ShardedIndex.searchBatch}, `addItemsAsync`, …): any shards.
 * - Filters are pushed down: every shard gets the caller's filter (a predicate, an allow- or a deny-list).
 * - Consistency: a write goes to every replica of its shard; when one refuses it, {@link ShardWriteError} lists
 *   which (retry: upserts are idempotent). Reads use one replica per shard, so a replica that missed a write
 *   can answer with its older state until the write is retried.
 *
 * @example
 * const shards = [0, 1, 2].map(() => new ExactIndex<string>({ metric: 'cosine', dim: 2 }));
 * const index = new ShardedIndex<string>({ shards });
 * index.addItems(['a', 'b', 'c'], new Float32Array([1, 0, 0, 1, 1, 1]));
 * index.search([1, 0.1], 2).ids; // ['a', 'c']
 * const r = await index.searchAsync([1, 0.1], 2, { timeoutMs: 50 });
 * r.partial; // false; r.shards.answered: [0, 1, 2]
 */
export class ShardedIndex<I extends Id = Id> implements VectorIndex<I>, AsyncVectorIndex<I> {
  readonly metric: Metric;
  readonly dim: number;
  /** Number of shards. */
  readonly shardCount: number;
  /** Default per-shard budgets in ms. */
  readonly timeoutMs: readonly number[];
  readonly allowPartial: boolean;
  private readonly replicas: Replica<I>[][];
  private readonly categoryShards: Map<string, number[]> | null;
  private readonly generalShards: number[];
  private readonly categoryOf?: (id: I) => string | null | undefined;
  private readonly customRoute?: (id: I, category: string | undefined, shards: number) => number;
  private readonly retryAfterMs: number;
  private readonly rr: number[];
  private closed = false;

  constructor(options: ShardedIndexOptions<I>) {
    if (options === null || typeof options !== 'object') throw new InvalidParameterError('options', 'an object', options);
    const { shards } = options;
    if (!Array.isArray(shards) || shards.length === 0) throw new InvalidParameterError('shards', 'a non-empty array of indexes (or arrays of replicas)', shards);
    this.replicas = shards.map((s, i) => {
      const list = (Array.isArray(s) ? s : [s]) as Shard<I>[];
      if (list.length === 0) throw new InvalidParameterError(`shards[${i}]`, 'an index or a non-empty array of replicas', s);
      return list.map((index, r) => {
        const where = Array.isArray(s) ? `shards[${i}][${r}]` : `shards[${i}]`;
        if (index === null || typeof index !== 'object' || (!isSyncIndex(index) && !isAsyncIndex(index))) {
          throw new InvalidParameterError(where, 'a VectorIndex or an AsyncVectorIndex', index);
        }
        return { index, downUntil: 0 };
      });
    });
    const first = this.replicas[0][0].index;
    this.metric = first.metric;
    this.dim = first.dim;
    this.replicas.forEach((list, i) => list.forEach(({ index }, r) => {
      if (index.metric !== this.metric) throw new InvalidParameterError(`shards[${i}][${r}].metric`, `'${this.metric}' like shard 0`, index.metric);
      if (index.dim !== this.dim) throw new InvalidParameterError(`shards[${i}][${r}].dim`, `${this.dim} like shard 0`, index.dim);
    }));
    const n = this.shardCount = this.replicas.length;
    const t = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (Array.isArray(t)) {
      if (t.length !== n) throw new InvalidParameterError('timeoutMs', `one budget per shard (${n})`, t);
      this.timeoutMs = t.map((x, i) => checkBudget(`timeoutMs[${i}]`, x));
    } else this.timeoutMs = new Array<number>(n).fill(checkBudget('timeoutMs', t));
    this.allowPartial = options.allowPartial ?? true;
    if (typeof this.allowPartial !== 'boolean') throw new InvalidParameterError('allowPartial', 'a boolean', this.allowPartial);
    this.retryAfterMs = checkInt('retryAfterMs', options.retryAfterMs ?? 5000, 0);
    if (options.route !== undefined && typeof options.route !== 'function') throw new InvalidParameterError('route', 'a function (id, category, shards) => shard', options.route);
    if (options.categoryOf !== undefined && typeof options.categoryOf !== 'function') throw new InvalidParameterError('categoryOf', 'a function (id) => category', options.categoryOf);
    this.customRoute = options.route;
    this.categoryOf = options.categoryOf;
    this.rr = new Array<number>(n).fill(0);
    const owned = new Set<number>();
    if (options.categoryShards !== undefined) {
      const cs = options.categoryShards;
      if (cs === null || typeof cs !== 'object' || Array.isArray(cs)) throw new InvalidParameterError('categoryShards', 'an object of category → shard numbers', cs);
      this.categoryShards = new Map();
      for (const [cat, list] of Object.entries(cs)) {
        if (!Array.isArray(list) || list.length === 0) throw new InvalidParameterError(`categoryShards.${cat}`, 'a non-empty array of shard numbers', list);
        const nums = list.map((x, j) => checkInt(`categoryShards.${cat}[${j}]`, x, 0, n - 1));
        nums.forEach((x) => owned.add(x));
        this.categoryShards.set(cat, nums);
      }
    } else this.categoryShards = null;
    this.generalShards = Array.from({ length: n }, (_, i) => i).filter((i) => !owned.has(i));
    if (this.generalShards.length === 0) throw new InvalidParameterError('categoryShards', 'to leave at least one shard for pins of other categories', options.categoryShards);
  }

  // -------------------------------------------------------------------------------------------------------
  // Routing

  /**
   * The shard a pin is written to: `route(id, category)` when given; else, for a category with dedicated
   * shards, one of them; else one of the other shards — each time by `routeHash(id) % count`.
   * @example index.shardOf('pin:7'); // e.g. 2
   */
  shardOf(id: I, category?: string | null): number {
    checkIdType('id', id);
    const cat = category ?? undefined;
    if (this.customRoute) {
      const s = this.customRoute(id, cat, this.shardCount);
      if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s >= this.shardCount) {
        throw new InvalidParameterError(`route(${typeof id === 'string' ? JSON.stringify(id) : String(id)})`, `an integer in [0, ${this.shardCount - 1}]`, s);
      }
      return s;
    }
    const list = (cat !== undefined && this.categoryShards?.get(cat)) || this.generalShards;
    return list[routeHash(id) % list.length];
  }

  /**
   * The shards that hold `category`'s pins (its dedicated shards, or the shared ones): pass them as
   * `searchAsync(q, k, { shards })` to search only there.
   * @example index.shardsFor('fashion'); // [2, 3]
   */
  shardsFor(category: string | null | undefined): number[] {
    if (this.customRoute) return Array.from({ length: this.shardCount }, (_, i) => i);
    return [...((category != null && this.categoryShards?.get(category)) || this.generalShards)];
  }

  /** Shards that may hold `id`: its routed shard, or every shard when its category is unknown. */
  private locate(id: I): number[] {
    checkIdType('id', id);
    if (this.categoryShards && !this.customRoute && !this.categoryOf) return Array.from({ length: this.shardCount }, (_, i) => i);
    return [this.shardOf(id, this.categoryOf?.(id) ?? undefined)];
  }

  /** Live pins per shard (its first replica's `size`), for capacity planning. @example index.shardSizes(); // [334, 331, 335] */
  shardSizes(): number[] {
    return this.replicas.map((r) => r[0].index.size);
  }

  /** The replicas of shard `s` (read-only view). @example index.replicasOf(0).length */
  replicasOf(s: number): readonly Shard<I>[] {
    checkInt('shard', s, 0, this.shardCount - 1);
    return this.replicas[s].map((r) => r.index);
  }

  /** Live pins over all shards (sum of each shard's first replica). */
  get size(): number {
    let n = 0;
    for (const r of this.replicas) n += r[0].index.size;
    return n;
  }

  /** Every shard and replica is a local synchronous index. */
  get isLocal(): boolean {
    return this.replicas.every((list) => list.every((r) => isSyncIndex(r.index)));
  }

  private syncReplica(s: number, r: number): VectorIndex<I> {
    const index = this.replicas[s][r].index;
    if (!isSyncIndex(index)) {
      throw new InvalidParameterError(`shards[${s}]`, 'a local (synchronous) VectorIndex for the synchronous methods: use the …Async methods with remote shards', index.constructor?.name ?? index);
    }
    return index;
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('ShardedIndex was closed');
  }

  /** Split a validated batch by shard: per shard the ids, their rows and categories (order kept). */
  private split(ids: I | readonly I[], vectors: Float32Array | readonly number[], options: AddItemsOptions | undefined) {
    const { ids: list, data } = checkItems(ids, vectors, this.dim, this.metric);
    const cats = options?.categories;
    if (Array.isArray(cats) && cats.length !== list.length) throw new InvalidParameterError('categories', `one category per id (${list.length})`, cats);
    const catOf = (i: number): string | undefined => {
      const c = Array.isArray(cats) ? cats[i] : (cats as string | null | undefined);
      if (c != null && typeof c !== 'string') throw new InvalidParameterError(Array.isArray(cats) ? `categories[${i}]` : 'categories', 'a string, null or undefined', c);
      return c ?? this.categoryOf?.(list[i]) ?? undefined;
    };
    const groups = new Map<number, { rows: number[]; cats: (string | undefined)[] }>();
    for (let i = 0; i < list.length; i++) {
      const c = catOf(i);
      const s = this.shardOf(list[i], c);
      let g = groups.get(s);
      if (!g) groups.set(s, (g = { rows: [], cats: [] }));
      g.rows.push(i);
      g.cats.push(c);
    }
    const dim = this.dim;
    return [...groups.entries()].map(([shard, g]) => {
      const gids = g.rows.map((i) => list[i]);
      const gdata = new Float32Array(g.rows.length * dim);
      g.rows.forEach((i, j) => gdata.set(data.subarray(i * dim, (i + 1) * dim), j * dim));
      return { shard, ids: gids, data: gdata, cats: g.cats };
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Synchronous API (local shards)

  /**
   * Add or replace pins, each on its routed shard (every replica). Validated as a whole first, so a bad batch
   * adds nothing. Local shards only (else use {@link ShardedIndex.addItemsAsync}).
   * @throws DimensionMismatchError, InvalidParameterError
   * @example index.addItems(['a', 'b'], new Float32Array([1, 0, 0, 1]), { categories: ['food', 'travel'] });
   */
  addItems(ids: I | readonly I[], vectors: Float32Array | readonly number[], options?: AddItemsOptions): void {
    this.checkOpen();
    const groups = this.split(ids, vectors, options);
    for (const g of groups) for (let r = 0; r < this.replicas[g.shard].length; r++) this.syncReplica(g.shard, r);
    for (const g of groups) for (let r = 0; r < this.replicas[g.shard].length; r++) this.syncReplica(g.shard, r).addItems(g.ids, g.data);
  }

  /** Whether `id` is live on its shard. @example index.has('a') */
  has(id: I): boolean {
    return this.locate(id).some((s) => this.syncReplica(s, 0).has(id));
  }

  /**
   * Delete `id` from its shard (every replica).
   * @throws UnknownIdError when absent
   * @example index.markDeleted('a')
   */
  markDeleted(id: I): void {
    this.checkOpen();
    let found = false;
    for (const s of this.locate(id)) {
      for (let r = 0; r < this.replicas[s].length; r++) {
        const rep = this.syncReplica(s, r);
        if (rep.has(id)) { rep.markDeleted(id); found = true; }
      }
    }
    if (!found) throw new UnknownIdError('id', id);
  }

  /** Alias of {@link ShardedIndex.markDeleted}. @example index.remove('a') */
  remove(id: I): void {
    this.markDeleted(id);
  }

  /** The stored vector of `id`. @throws UnknownIdError @example index.getVector('a') */
  getVector(id: I): Float32Array {
    const v = this.tryGetVector(id);
    if (v === undefined) throw new UnknownIdError('id', id);
    return v;
  }

  /** The stored vector of `id`, or `undefined`. @example index.tryGetVector('a') */
  tryGetVector(id: I): Float32Array | undefined {
    for (const s of this.locate(id)) {
      const v = this.syncReplica(s, 0).tryGetVector(id);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /**
   * Exact merge of every shard's top-k (local synchronous shards; no time budgets). A shard that throws is
   * left out and reported in `shards.failed` (`partial: true`); an error thrown by the caller's predicate
   * filter is rethrown.
   * @throws InvalidParameterError (k, query, filter, a remote shard), DimensionMismatchError,
   *   ShardSearchError (every shard failed, or `allowPartial: false` and one did)
   * @example
   * const r = index.search(q, 10, { filter: { deny: ['seen'] } });
   * if (r.partial) console.warn(r.shards.failed);
   */
  search(query: Float32Array | readonly number[], k: number, options: ShardedSearchOptions<I> = {}): ShardedSearchResult<I> {
    this.checkOpen();
    const want = checkK(k);
    const q = checkQuery('query', query, this.dim, this.metric);
    const wf = wrapFilter(options.filter);
    const targets = this.targets(options.shards);
    const locals = targets.map((s) => this.replicas[s].map((_, r) => this.syncReplica(s, r)));
    this.checkCategory(options, targets);
    const parts: SearchResult<I>[] = [];
    const report: ShardReport = { answered: [], failed: [], timedOut: [] };
    targets.forEach((s, j) => {
      let last: unknown;
      for (const r of this.order(s)) {
        try {
          const opts: AsyncSearchOptions<I> = { ...shardOptions(options), filter: wf.filter };
          parts.push(locals[j][r].search(q, want, opts));
          report.answered.push(s);
          this.replicas[s][r].downUntil = 0;
          return;
        } catch (e) {
          if (wf.error) throw wf.error.value;
          last = e;
          this.replicas[s][r].downUntil = Date.now() + this.retryAfterMs;
        }
      }
      report.failed.push({ shard: s, reason: reasonOf(last), error: last });
    });
    if (wf.error) throw wf.error.value;
    return this.finish(parts, want, report);
  }

  // -------------------------------------------------------------------------------------------------------
  // Asynchronous API (any shards)

  /**
   * {@link ShardedIndex.addItems} for any shards: each shard's rows go to all its replicas at once.
   * @throws ShardWriteError when a replica refuses its part (the others keep theirs; retrying is safe)
   * @example await index.addItemsAsync(ids, vectors, { categories: 'fashion' });
   */
  async addItemsAsync(ids: I | readonly I[], vectors: Float32Array | readonly number[], options?: AddItemsOptions): Promise<void> {
    this.checkOpen();
    const groups = this.split(ids, vectors, options);
    const jobs: { shard: number; replica: number; p: Promise<void> }[] = [];
    for (const g of groups) {
      this.replicas[g.shard].forEach(({ index }, r) => {
        const p = isAsyncIndex(index)
          ? index.addItemsAsync(g.ids, g.data, { categories: g.cats.map((c) => c ?? null) })
          : Promise.resolve().then(() => (index as VectorIndex<I>).addItems(g.ids, g.data));
        jobs.push({ shard: g.shard, replica: r, p });
      });
    }
    await this.settleWrites(jobs);
  }

  private async settleWrites(jobs: { shard: number; replica: number; p: Promise<unknown> }[]): Promise<void> {
    const settled = await Promise.allSettled(jobs.map((j) => j.p));
    const failures = settled.flatMap((s, i) => s.status === 'rejected'
      ? [{ shard: jobs[i].shard, replica: jobs[i].replica, reason: reasonOf(s.reason), error: s.reason as unknown }] : []);
    if (failures.length === 0) return;
    // a caller error (bad id, unknown id) is the same on every replica: rethrow it as it is
    if (failures.length === jobs.length && failures.every((f) => f.error instanceof UnknownIdError || f.error instanceof InvalidParameterError)) throw failures[0].error;
    throw new ShardWriteError(failures);
  }

  /** Whether `id` is live (asks one healthy replica of its shard). @example await index.hasAsync('a') */
  async hasAsync(id: I): Promise<boolean> {
    for (const s of this.locate(id)) if (await this.readOne(s, (x) => isAsyncIndex(x) ? x.hasAsync(id) : x.has(id))) return true;
    return false;
  }

  /**
   * Delete `id` on every replica of its shard.
   * @throws UnknownIdError when no replica holds it, ShardWriteError when a replica failed
   * @example await index.markDeletedAsync('a');
   */
  async markDeletedAsync(id: I): Promise<void> {
    this.checkOpen();
    const jobs: { shard: number; replica: number; p: Promise<boolean> }[] = [];
    for (const s of this.locate(id)) {
      this.replicas[s].forEach(({ index }, r) => {
        const p = (async () => {
          if (isAsyncIndex(index)) {
            try { await index.markDeletedAsync(id); return true; } catch (e) { if (e instanceof UnknownIdError) return false; throw e; }
          }
          if (!index.has(id)) return false;
          index.markDeleted(id);
          return true;
        })();
        jobs.push({ shard: s, replica: r, p });
      });
    }
    const found = await Promise.allSettled(jobs.map((j) => j.p));
    await this.settleWrites(jobs);
    if (!found.some((f) => f.status === 'fulfilled' && f.value)) throw new UnknownIdError('id', id);
  }

  /** Alias of {@link ShardedIndex.markDeletedAsync}. @example await index.removeAsync('a'); */
  async removeAsync(id: I): Promise<void> {
    await this.markDeletedAsync(id);
  }

  /** The stored vector of `id`. @throws UnknownIdError @example await index.getVectorAsync('a') */
  async getVectorAsync(id: I): Promise<Float32Array> {
    const v = await this.tryGetVectorAsync(id);
    if (v === undefined) throw new UnknownIdError('id', id);
    return v;
  }

  /** The stored vector of `id`, or `undefined`. @example await index.tryGetVectorAsync('a') */
  async tryGetVectorAsync(id: I): Promise<Float32Array | undefined> {
    for (const s of this.locate(id)) {
      const v = await this.readOne(s, (x) => isAsyncIndex(x) ? x.tryGetVectorAsync(id) : x.tryGetVector(id));
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** Run a read on one replica of shard `s`, failing over to the next. */
  private async readOne<T>(s: number, fn: (x: Shard<I>) => T | Promise<T>): Promise<T> {
    let last: unknown;
    for (const r of this.order(s)) {
      try {
        const v = await fn(this.replicas[s][r].index);
        this.replicas[s][r].downUntil = 0;
        return v;
      } catch (e) {
        if (e instanceof InvalidParameterError || e instanceof UnknownIdError) throw e;
        last = e;
        this.replicas[s][r].downUntil = Date.now() + this.retryAfterMs;
      }
    }
    throw last;
  }

  /**
   * Scatter-gather search over any shards. Every asked shard gets the query, k and the filter; each has its
   * budget (`timeoutMs`, per search or per shard) counted from the call, during which it fails over from a
   * replica that throws to the next healthy one. The answer is the exact merge of the shards that answered;
   * `partial` and `shards` say which did not.
   * @throws InvalidParameterError, DimensionMismatchError, ShardSearchError (no shard answered, or
   *   `allowPartial: false` and one did not)
   * @example
   * const r = await index.searchAsync(q, 10, { timeoutMs: 30 });
   * // r.shards → { answered: [0, 2], failed: [{ shard: 1, reason: 'Error: connect ECONNREFUSED …' }], timedOut: [3] }
   */
  async searchAsync(query: Float32Array | readonly number[], k: number, options: ShardedSearchOptions<I> = {}): Promise<ShardedSearchResult<I>> {
    this.checkOpen();
    const want = checkK(k);
    const q = checkQuery('query', query, this.dim, this.metric);
    const [res] = await this.scatter(q, 1, want, options, (shard, opts) => isAsyncIndex(shard)
      ? shard.searchAsync(q, want, opts).then((r) => [r])
      : [shard.search(q, want, opts)]);
    return res;
  }

  /**
   * {@link ShardedIndex.searchAsync} for each row of a row-major batch: one `searchBatch` call per shard (so a
   * remote shard gets the whole batch at once), merged row by row; each row's result carries the same shard
   * report. `threads` is passed to local HNSW shards.
   * @example const results = await index.searchBatch(queries, 10, { timeoutMs: 200 });
   */
  async searchBatch(queries: Float32Array, k: number, options: ShardedBatchSearchOptions<I> = {}): Promise<ShardedSearchResult<I>[]> {
    this.checkOpen();
    const want = checkK(k);
    const { data, rows } = checkQueryBatch('queries', queries, this.dim, this.metric);
    return this.scatter(data, rows, want, options, (shard, opts) => shard.searchBatch(data, want, opts));
  }

  private async scatter(
    _data: Float32Array, rows: number, k: number, options: ShardedBatchSearchOptions<I>,
    run: (shard: Shard<I>, opts: AsyncBatchSearchOptions<I>) => SearchResult<I>[] | Promise<SearchResult<I>[]>,
  ): Promise<ShardedSearchResult<I>[]> {
    const wf = wrapFilter(options.filter);
    const targets = this.targets(options.shards);
    this.checkCategory(options, targets);
    const budgetOf = (s: number) => options.timeoutMs === undefined ? this.timeoutMs[s] : checkBudget('timeoutMs', options.timeoutMs);
    const t0 = Date.now();
    const report: ShardReport = { answered: [], failed: [], timedOut: [] };
    const answers = new Map<number, SearchResult<I>[]>();
    await Promise.all(targets.map(async (s) => {
      const deadline = t0 + budgetOf(s);
      let last: unknown = undefined;
      for (const r of this.order(s)) {
        const left = deadline - Date.now();
        if (left <= 0) { report.timedOut.push(s); return; }
        const ac = new AbortController();
        const onAbort = () => ac.abort(options.signal?.reason);
        options.signal?.addEventListener('abort', onAbort, { once: true });
        let timer: NodeJS.Timeout | undefined;
        try {
          const opts: AsyncBatchSearchOptions<I> = { ...shardOptions(options), filter: wf.filter, signal: ac.signal };
          const work = Promise.resolve().then(() => run(this.replicas[s][r].index, opts));
          work.catch(() => {}); // a late rejection after the budget is not unhandled
          const timeout = new Promise<typeof TIMEOUT>((resolve) => { timer = setTimeout(() => resolve(TIMEOUT), left); });
          const got = await Promise.race([work, timeout]);
          if (got === TIMEOUT) { ac.abort(new Error(`shard ${s} budget of ${budgetOf(s)} ms ran out`)); report.timedOut.push(s); return; }
          if (!Array.isArray(got) || got.length !== rows) throw new Error(`shard ${s} returned ${Array.isArray(got) ? got.length : typeof got} results for ${rows} queries`);
          answers.set(s, got);
          report.answered.push(s);
          this.replicas[s][r].downUntil = 0;
          return;
        } catch (e) {
          if (wf.error) return;
          last = e;
          this.replicas[s][r].downUntil = Date.now() + this.retryAfterMs;
        } finally {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
        }
      }
      report.failed.push({ shard: s, reason: reasonOf(last), error: last });
    }));
    if (wf.error) throw wf.error.value;
    report.answered.sort((a, b) => a - b);
    report.timedOut.sort((a, b) => a - b);
    report.failed.sort((a, b) => a.shard - b.shard);
    const order = [...answers.keys()].sort((a, b) => a - b);
    const out: ShardedSearchResult<I>[] = [];
    for (let row = 0; row < rows; row++) out.push(this.finish(order.map((s) => answers.get(s)![row]), k, report, row > 0));
    return out;
  }

  private finish(parts: SearchResult<I>[], k: number, report: ShardReport, copy = false): ShardedSearchResult<I> {
    const partial = report.failed.length > 0 || report.timedOut.length > 0;
    if (partial && (report.answered.length === 0 || !this.allowPartial)) {
      throw new ShardSearchError(report, report.answered.length === 0 ? 'no shard answered' : 'some shards did not answer (allowPartial is false)');
    }
    const merged = mergeResults(parts, k);
    const shards = copy ? { answered: [...report.answered], failed: [...report.failed], timedOut: [...report.timedOut] } : report;
    return { ...merged, partial, shards };
  }

  private targets(list: readonly number[] | undefined): number[] {
    if (list === undefined) return Array.from({ length: this.shardCount }, (_, i) => i);
    if (!Array.isArray(list) || list.length === 0) throw new InvalidParameterError('shards', 'a non-empty array of shard numbers', list);
    return [...new Set(list.map((s, i) => checkInt(`shards[${i}]`, s, 0, this.shardCount - 1)))].sort((a, b) => a - b);
  }

  private checkCategory(options: AsyncSearchOptions<I>, targets: number[]): void {
    if (options.category === undefined) return;
    for (const s of targets) for (const { index } of this.replicas[s]) {
      if (!(index as AsyncVectorIndex<I>).storesCategories) {
        throw new InvalidParameterError('category', `used only with shards that store categories (shard ${s} does not)`, options.category);
      }
    }
  }

  /** Replica order for shard `s`: healthy ones first, starting round-robin, then those that failed recently. */
  private order(s: number): number[] {
    const list = this.replicas[s];
    const n = list.length;
    if (n === 1) return [0];
    const start = this.rr[s]++ % n;
    const now = Date.now();
    const rot = Array.from({ length: n }, (_, i) => (start + i) % n);
    return [...rot.filter((r) => list[r].downUntil <= now), ...rot.filter((r) => list[r].downUntil > now)];
  }

  // -------------------------------------------------------------------------------------------------------
  // Persistence

  /**
   * Save every local replica to `<file>.shard<s>.r<r>` (its own format), then a manifest at `file` (pinrec
   * container: metric, dim, routing, budgets, and per replica its type and file). Remote replicas hold their
   * own data: the manifest only lists them, and {@link ShardedIndex.load} asks `options.remote` for them.
   * A custom `route` / `categoryOf` function is not saved: pass it again to `load`.
   * @example await index.save('pins.sharded');
   */
  async save(file: string): Promise<void> {
    this.checkOpen();
    const base = file.split(/[\\/]/).pop()!;
    const shards: ShardedMeta['shards'] = [];
    for (let s = 0; s < this.shardCount; s++) {
      const replicas: ManifestReplica[] = [];
      for (let r = 0; r < this.replicas[s].length; r++) {
        const index = this.replicas[s][r].index;
        const type = index instanceof ExactIndex ? 'ExactIndex' : index instanceof HnswIndex ? 'HnswIndex' : index instanceof UsearchIndex ? 'UsearchIndex' : 'remote';
        if (type === 'remote') { replicas.push({ type, description: String(index.constructor?.name ?? 'remote') }); continue; }
        const name = `${base}.shard${s}.r${r}`;
        await (index as VectorIndex<I>).save(`${file}.shard${s}.r${r}`);
        replicas.push({ type, file: name });
      }
      shards.push({ replicas });
    }
    const meta: ShardedMeta = {
      metric: this.metric, dim: this.dim, routing: this.customRoute ? 'custom' : this.categoryShards ? 'category' : 'hash',
      timeoutMs: [...this.timeoutMs], allowPartial: this.allowPartial, retryAfterMs: this.retryAfterMs,
      categoryShards: this.categoryShards ? Object.fromEntries(this.categoryShards) : null, shards,
    };
    await writeContainer(file, KIND, VERSION, meta, {});
  }

  /**
   * Load an index written by {@link ShardedIndex.save}: each local replica from its file beside the
   * manifest, each remote one from `options.remote`. Options given here override the saved ones.
   * @throws FileFormatError (manifest or shard file), InvalidParameterError (a remote replica and no
   *   `options.remote`; a custom route saved and none given)
   * @example const index = await ShardedIndex.load<string>('pins.sharded');
   */
  static async load<I extends Id = Id>(file: string, options: ShardedLoadOptions<I> = {}): Promise<ShardedIndex<I>> {
    const c = await readContainer<ShardedMeta>(file, KIND);
    if (c.version !== VERSION) throw new FileFormatError(file, `unsupported ${KIND} version ${c.version}`);
    const m = c.meta;
    if (!m || !Array.isArray(m.shards) || m.shards.length === 0 || !m.shards.every((s) => s && Array.isArray(s.replicas) && s.replicas.length > 0)) {
      throw new FileFormatError(file, 'header meta is malformed (shards)');
    }
    if (m.routing === 'custom' && !options.route) throw new InvalidParameterError('options.route', 'given: the index was saved with a custom route function', undefined);
    const dir = file.slice(0, file.length - (file.split(/[\\/]/).pop()!.length));
    const loaded: Shard<I>[][] = [];
    for (let s = 0; s < m.shards.length; s++) {
      const list: Shard<I>[] = [];
      for (let r = 0; r < m.shards[s].replicas.length; r++) {
        const rep = m.shards[s].replicas[r];
        if (rep.type === 'remote') {
          if (!options.remote) throw new InvalidParameterError('options.remote', `given: shard ${s} replica ${r} is remote (${rep.description ?? 'remote'})`, undefined);
          list.push(await options.remote(s, r, rep.description ?? 'remote'));
          continue;
        }
        if (typeof rep.file !== 'string' || rep.file.includes('/') || rep.file.includes('\\') || rep.file.startsWith('.')) {
          throw new FileFormatError(file, `header meta is malformed (shard ${s} replica ${r} file)`);
        }
        const f = dir + rep.file;
        if (rep.type === 'ExactIndex') list.push(await ExactIndex.load<I>(f));
        else if (rep.type === 'HnswIndex') list.push(await HnswIndex.load<I>(f));
        else if (rep.type === 'UsearchIndex') list.push(await UsearchIndex.load<I>(f));
        else throw new FileFormatError(file, `unknown replica type ${JSON.stringify(rep.type)}`);
      }
      loaded.push(list);
    }
    const index = new ShardedIndex<I>({
      timeoutMs: m.timeoutMs, allowPartial: m.allowPartial, retryAfterMs: m.retryAfterMs,
      categoryShards: m.categoryShards ?? undefined, ...options,
      shards: loaded.map((l) => (l.length === 1 ? l[0] : l)),
    });
    if (index.metric !== m.metric || index.dim !== m.dim) throw new FileFormatError(file, 'shards disagree with the manifest (metric or dim)');
    return index;
  }

  /** Close every shard (worker threads, connection pools). The shards are not usable afterwards if they close for good. @example await index.close(); */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.replicas.flat().map((r) => r.index.close()));
  }
}

function checkBudget(name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v > 0) || v > 2 ** 31 - 1) throw new InvalidParameterError(name, 'a number of ms in (0, 2^31 - 1]', v);
  return v;
}

/** The search options a shard sees (without the router's own). */
function shardOptions<I extends Id>(o: ShardedBatchSearchOptions<I>): AsyncBatchSearchOptions<I> {
  const { timeoutMs: _t, shards: _s, signal: _sig, ...rest } = o;
  return rest;
}

