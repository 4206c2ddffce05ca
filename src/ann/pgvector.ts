/**
 * A vector index in PostgreSQL with the pgvector extension, through node-postgres (`pg`, an optional peer
 * dependency loaded on first use). One table per index (`id text primary key, category text, embedding
 * vector(dim)`), an HNSW index over it, and searches as `ORDER BY embedding <op> $1 LIMIT k` inside a short
 * transaction that sets `hnsw.ef_search`, `hnsw.iterative_scan` and `statement_timeout` for that query only.
 *
 * Every method talks to the database, so they are asynchronous: this is an {@link AsyncVectorIndex} (the
 * `…Async` twins of {@link VectorIndex}'s synchronous methods, plus `searchBatch`, `close`), usable alone or as a
 * shard of {@link ShardedIndex}.
 */
import { DimensionMismatchError, InvalidParameterError, MissingDependencyError, UnknownIdError } from '../core/errors.js';
import { checkIdType } from '../core/ids.js';
import type { Id, Metric } from '../core/types.js';
import { resolveOptions, type ResolvedOptions } from '../core/options.js';
import type { SearchResult } from './types.js';
import { checkItems, checkQuery, checkQueryBatch, normalized } from './vectors.js';
import { fromIdKey, idKey, type AddItemsOptions, type AsyncBatchSearchOptions, type AsyncSearchOptions, type AsyncVectorIndex } from './sharded.js';

// ---------------------------------------------------------------------------------------------------------
// The part of `pg` used here (structural, so pinrec's types do not need @types/pg)


/** A result row as `pg` returns it. */
type PgRow = Record<string, unknown>;
/** A query result as `pg` returns it. */
export interface PgQueryResult { rows: Record<string, unknown>[]; rowCount: number | null }
/** A pooled connection as `pg.PoolClient` provides it. */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<PgQueryResult>;
  release(err?: Error | boolean): void;
  on?(event: 'error', listener: (err: Error) => void): unknown;
  off?(event: 'error', listener: (err: Error) => void): unknown;
}
/** A connection pool as `pg.Pool` provides it. */
export interface PgPoolLike {
  connect(): Promise<PgClientLike>;
  end(): Promise<void>;
  on?(event: 'error', listener: (err: Error) => void): unknown;
}

type PgModule = { Pool: new (config: Record<string, unknown>) => PgPoolLike };

/**
 * Load `pg` (an optional peer dependency) through a variable specifier, so bundlers and pinrec's own import do
 * not need it. @internal
 * @throws MissingDependencyError naming 'pg' when it is not installed
 */
export async function loadPg(importer: (specifier: string) => Promise<unknown> = (s) => import(s)): Promise<PgModule> {
  const specifier = 'pg';
  let mod: unknown;
  try {
    mod = await importer(specifier);
  } catch (e) {
    throw new MissingDependencyError('PgVectorIndex (PostgreSQL + pgvector)', ['pg'], undefined, { cause: e });
  }
  const m = mod as { default?: PgModule; Pool?: PgModule['Pool'] };
  const Pool = m.Pool ?? m.default?.Pool;
  if (typeof Pool !== 'function') throw new MissingDependencyError('PgVectorIndex (PostgreSQL + pgvector)', ['pg'], 'the installed pg has no Pool');
  return { Pool };
}

// ---------------------------------------------------------------------------------------------------------
// Options

const PG_RULES = {
  metric: { oneOf: ['cosine', 'ip', 'l2'] as const },
  // pgvector's `vector` type holds up to 16000 dims; its HNSW index up to 2000
  dim: { int: [1, 2000] },
  m: { int: [2, 100], default: 16 },
  efConstruction: { int: [4, 1000], default: 64 },
  efSearch: { int: [1, 1000], default: 40 },
  statementTimeoutMs: { int: [0, 2 ** 31 - 1], default: 30_000 },
  poolMax: { int: [1, 1000], default: 4 },
  batchSize: { int: [1, 10_000], default: 500 },
  index: { oneOf: ['hnsw', 'deferred', 'none'] as const, default: 'hnsw' },
  iterativeScan: { oneOf: ['strict_order', 'relaxed_order', 'off'] as const, default: 'strict_order' },
  createExtension: { bool: true, default: true },
} as const;

/** Options of {@link PgVectorIndex.open}. */
export interface PgVectorIndexOptions {
  /** A `pg.Pool` (or anything with its `connect`/`end`); the caller owns it: {@link PgVectorIndex.close} does not end it. */
  pool?: PgPoolLike;
  /** Or a connection string (`postgres://user:pass@host:port/db`): the index creates (and closes) its own pool. */
  connectionString?: string;
  /** Connections of the pool it creates (1 for a PGlite server: PGlite runs one query at a time). @default 4 */
  poolMax?: number;
  /** Table name: a lowercase SQL identifier `[a-z_][a-z0-9_]*` of at most 50 characters (never quoted from input). */
  table: string;
  /** Schema, same rule as `table`. @default 'public' */
  schema?: string;
  /** `'cosine'` (`vector_cosine_ops`, `<=>`), `'ip'` (`vector_ip_ops`, `<#>`) or `'l2'` (`vector_l2_ops`, `<->`). */
  metric: Metric;
  /** Vector dimension (1 .. 2000, pgvector's HNSW limit). */
  dim: number;
  /** HNSW `m` (links per node). @default 16 */
  m?: number;
  /** HNSW `ef_construction` (at least 2·m). @default 64 */
  efConstruction?: number;
  /** Default `hnsw.ef_search` of a search (per search: the `ef` option; always at least k). @default 40 */
  efSearch?: number;
  /** `statement_timeout` of every statement in ms (`SET LOCAL`, so it never leaks to a shared pool); 0 disables. @default 30000 */
  statementTimeoutMs?: number;
  /** Rows per multi-row `INSERT … ON CONFLICT DO UPDATE`. @default 500 */
  batchSize?: number;
  /**
   * `'hnsw'`: create the HNSW index with the table; `'deferred'`: not yet (bulk-load, then {@link PgVectorIndex.createIndex},
   * which builds faster than inserting into an index); `'none'`: exact scans only. @default 'hnsw'
   */
  index?: 'hnsw' | 'deferred' | 'none';
  /**
   * `hnsw.iterative_scan` (pgvector 0.8+): with a filter, keep scanning the graph until k rows pass it.
   * `'strict_order'` keeps exact distance order. @default 'strict_order'
   */
  iterativeScan?: 'strict_order' | 'relaxed_order' | 'off';
  /** Run `CREATE EXTENSION IF NOT EXISTS vector` (needs the privilege). @default true */
  createExtension?: boolean;
}

/** Options of {@link PgVectorIndex.searchAsync}. */
export interface PgSearchOptions<I extends Id = Id> extends AsyncSearchOptions<I> {
  /** `hnsw.ef_search` for this search (1 .. 1000; raised to k). @default the index's `efSearch` */
  ef?: number;
  /** Exact answer: a sequential scan (`enable_indexscan = off`) instead of the HNSW index. @default false */
  exact?: boolean;
}

/** Options of {@link PgVectorIndex.searchBatch}. */
export interface PgBatchSearchOptions<I extends Id = Id> extends PgSearchOptions<I>, AsyncBatchSearchOptions<I> {}

const IDENT = /^[a-z_][a-z0-9_]*$/;

/**
 * Validate a SQL identifier (table, schema): lowercase letters, digits and `_`, not starting with a digit,
 * 1 .. `max` characters. Nothing else reaches the SQL text: values always travel as parameters.
 * @throws InvalidParameterError naming `name`
 * @example checkIdentifier('table', 'pins_v2'); // 'pins_v2'
 */
export function checkIdentifier(name: string, value: unknown, max = 50): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || !IDENT.test(value)) {
    throw new InvalidParameterError(name, `a lowercase SQL identifier matching [a-z_][a-z0-9_]* of 1 to ${max} characters`, value);
  }
  return value;
}

/** A float32 vector in pgvector's text form; `String` of a float32 value round-trips exactly through float4. */
function vectorText(v: Float32Array, off = 0, dim = v.length): string {
  let s = '[';
  for (let j = 0; j < dim; j++) s += (j ? ',' : '') + String(v[off + j]);
  return s + ']';
}

function parseVector(text: unknown, dim: number): Float32Array {
  const s = String(text);
  const parts = s.slice(1, -1).split(',');
  if (parts.length !== dim) throw new DimensionMismatchError('stored vector', dim, parts.length);
  const out = new Float32Array(dim);
  for (let j = 0; j < dim; j++) out[j] = Number(parts[j]);
  return out;
}

/**
 * A vector index in PostgreSQL + pgvector. Scores follow {@link ExactIndex}: distance `1 - cos` / similarity
 * `cos` (cosine; vectors are stored normalised), `1 - dot` / `dot` (ip), squared Euclidean / its negation (l2),
 * so an exact search here (`exact: true`, or HNSW with a high `ef`) equals `ExactIndex`'s answer.
 *
 * - Ids of any pinrec type live in the `id text` column as {@link idKey} strings (`s:…`, `n:…`, `b:…`).
 * - Filters go into SQL: `{ allow }` → `id = ANY($n)`, `{ deny }` → `NOT (id = ANY($n))`, `category` →
 *   `category = ANY($n)`; a predicate cannot, so it over-fetches (4k, 16k, … rows) and filters here.
 * - `size` is the live count as this client knows it: read at open, then updated by its own writes (call
 *   {@link PgVectorIndex.count} when others write the table).
 * - No `save`/`load`: the data lives in Postgres (back it up with `pg_dump`).
 *
 * @example
 * const index = await PgVectorIndex.open<string>({ connectionString: 'postgres://localhost/pins', table: 'pins', metric: 'cosine', dim: 3 });
 * await index.addItemsAsync(['a', 'b'], new Float32Array([1, 0, 0, 0, 1, 0]), { categories: ['food', 'travel'] });
 * const r = await index.searchAsync([0.9, 0.1, 0], 1, { ef: 100, category: 'food' }); // r.ids ['a']
 * await index.close();
 */
export class PgVectorIndex<I extends Id = Id> implements AsyncVectorIndex<I> {
  readonly metric: Metric;
  readonly dim: number;
  readonly table: string;
  readonly schema: string;
  readonly m: number;
  readonly efConstruction: number;
  /** Default `hnsw.ef_search`. */
  efSearch: number;
  readonly statementTimeoutMs: number;
  readonly storesCategories = true;
  private readonly pool: PgPoolLike;
  private readonly ownsPool: boolean;
  private readonly batchSize: number;
  private readonly iterativeScan: 'strict_order' | 'relaxed_order' | 'off';
  private readonly poolMax: number;
  private readonly q: string;
  private live = 0;
  private closed = false;

  private constructor(o: ResolvedOptions<typeof PG_RULES>, table: string, schema: string, pool: PgPoolLike, ownsPool: boolean) {
    this.metric = o.metric;
    this.dim = o.dim;
    this.m = o.m;
    this.efConstruction = o.efConstruction;
    this.efSearch = o.efSearch;
    this.statementTimeoutMs = o.statementTimeoutMs;
    this.batchSize = o.batchSize;
    this.iterativeScan = o.iterativeScan;
    this.poolMax = o.poolMax;
    this.table = table;
    this.schema = schema;
    this.pool = pool;
    this.ownsPool = ownsPool;
    this.q = `"${schema}"."${table}"`;
  }

  /**
   * Connect, create the extension, the table and its HNSW index when absent, and check an existing table's
   * dimension and metric.
   * @throws InvalidParameterError (options, identifiers), MissingDependencyError ('pg' absent, for a
   *   connection string), DimensionMismatchError (the table exists with another dimension)
   * @example
   * const index = await PgVectorIndex.open<number>({ pool, table: 'pins', metric: 'ip', dim: 64, m: 16, efConstruction: 128 });
   */
  static async open<I extends Id = Id>(options: PgVectorIndexOptions): Promise<PgVectorIndex<I>> {
    const o = resolveOptions(PG_RULES, options);
    const table = checkIdentifier('table', options.table);
    const schema = checkIdentifier('schema', options.schema ?? 'public');
    if (o.efConstruction < 2 * o.m) throw new InvalidParameterError('efConstruction', `at least 2 * m = ${2 * o.m} (pgvector's rule)`, o.efConstruction);
    let pool: PgPoolLike, owns = false;
    if (options.pool !== undefined) {
      if (options.pool === null || typeof options.pool !== 'object' || typeof options.pool.connect !== 'function') throw new InvalidParameterError('pool', 'a pg.Pool', options.pool);
      pool = options.pool;
    } else {
      if (typeof options.connectionString !== 'string' || options.connectionString === '') {
        throw new InvalidParameterError('connectionString', 'a postgres:// connection string (or give `pool`)', options.connectionString);
      }
      const pg = await loadPg();
      pool = new pg.Pool({ connectionString: options.connectionString, max: o.poolMax });
      // an idle client that loses its server emits 'error' on the pool; the next query reports it instead
      pool.on?.('error', () => {});
      owns = true;
    }
    const index = new PgVectorIndex<I>(o, table, schema, pool, owns);
    try {
      await index.setup(o.createExtension, o.index);
    } catch (e) {
      if (owns) await pool.end().catch(() => {});
      throw e;
    }
    return index;
  }

  private async setup(createExtension: boolean, mode: 'hnsw' | 'deferred' | 'none'): Promise<void> {
    await this.withClient(async (c) => {
      if (createExtension) await c.query('CREATE EXTENSION IF NOT EXISTS vector');
      const reg = `${this.schema}.${this.table}`;
      const existing = await c.query(
        "SELECT format_type(a.atttypid, a.atttypmod) AS t, obj_description(a.attrelid, 'pg_class') AS note FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = 'embedding'",
        [reg]);
      const note = `pinrec metric=${this.metric} dim=${this.dim}`;
      if (existing.rows.length > 0) {
        const t = String(existing.rows[0].t), m = /^vector\((\d+)\)$/.exec(t);
        if (!m) throw new InvalidParameterError('table', `a pinrec vector table (column embedding is ${t})`, this.table);
        if (Number(m[1]) !== this.dim) throw new DimensionMismatchError('dim', Number(m[1]), this.dim);
        const saved = /metric=(\w+)/.exec(String(existing.rows[0].note ?? ''));
        if (saved && saved[1] !== this.metric) throw new InvalidParameterError('metric', `'${saved[1]}' like the existing table ${reg}`, this.metric);
      } else {
        await c.query(`CREATE TABLE IF NOT EXISTS ${this.q} (id text PRIMARY KEY, category text, embedding vector(${this.dim}) NOT NULL)`);
        await c.query(`COMMENT ON TABLE ${this.q} IS '${note}'`);
        await c.query(`CREATE INDEX IF NOT EXISTS "${this.table}_category" ON ${this.q} (category)`);
      }
      if (mode === 'hnsw') await this.createIndexOn(c);
      this.live = Number((await c.query(`SELECT count(*)::int8 AS n FROM ${this.q}`)).rows[0].n);
    });
  }

  private get opclass(): string {
    return this.metric === 'cosine' ? 'vector_cosine_ops' : this.metric === 'ip' ? 'vector_ip_ops' : 'vector_l2_ops';
  }

  private get operator(): string {
    return this.metric === 'cosine' ? '<=>' : this.metric === 'ip' ? '<#>' : '<->';
  }

  /** SQL of the reported distance in pinrec's convention, over a vector expression `v`. */
  private distanceSql(v: string): string {
    if (this.metric === 'cosine') return `(embedding <=> ${v})`;
    if (this.metric === 'ip') return `(1 + (embedding <#> ${v}))`;
    return `vector_l2_squared_distance(embedding, ${v})`;
  }

  private async createIndexOn(c: PgClientLike): Promise<void> {
    await c.query(`CREATE INDEX IF NOT EXISTS "${this.table}_hnsw" ON ${this.q} USING hnsw (embedding ${this.opclass}) WITH (m = ${this.m}, ef_construction = ${this.efConstruction})`);
  }

  /**
   * Build the HNSW index (after a bulk load with `index: 'deferred'`); a no-op when it exists.
   * @example await index.createIndex();
   */
  async createIndex(): Promise<void> {
    await this.withClient((c) => this.createIndexOn(c), false);
  }

  /** Live items as this client knows them (see the class notes). */
  get size(): number {
    return this.live;
  }

  /** Count the table's rows (and refresh {@link PgVectorIndex.size}). @example await index.count() */
  async count(): Promise<number> {
    this.live = await this.withClient(async (c) => Number((await c.query(`SELECT count(*)::int8 AS n FROM ${this.q}`)).rows[0].n));
    return this.live;
  }

  /**
   * Check a client out of the pool. While it is out, a connection that drops emits 'error' on the client (pg does not
   * route it to the pool): caught here, so the pending query rejects instead of the process crashing.
   */
  private async checkout(): Promise<{ c: PgClientLike; done: (err?: Error) => void }> {
    const c = await this.pool.connect();
    const onError = () => {};
    c.on?.('error', onError);
    return { c, done: (err?: Error) => { c.off?.('error', onError); c.release(err); } };
  }

  private async withClient<T>(fn: (c: PgClientLike) => Promise<T>, timeout = true): Promise<T> {
    if (this.closed) throw new InvalidParameterError('index', 'open (close() was called)', 'closed');
    const { c, done } = await this.checkout();
    let broken: Error | undefined;
    try {
      if (timeout && this.statementTimeoutMs > 0) {
        // one session setting per checkout would leak to a caller's pool: keep it per transaction instead
        await c.query(`BEGIN; SET LOCAL statement_timeout = ${this.statementTimeoutMs}`);
        try {
          const out = await fn(c);
          await c.query('COMMIT');
          return out;
        } catch (e) {
          await c.query('ROLLBACK').catch((err: Error) => { broken = err; });
          throw e;
        }
      }
      return await fn(c);
    } catch (e) {
      if (!broken && !(e instanceof InvalidParameterError || e instanceof UnknownIdError || e instanceof DimensionMismatchError)) broken = e as Error;
      throw e;
    } finally {
      // a connection that failed is dropped from the pool rather than reused
      done(broken);
    }
  }

  /**
   * Add or replace vectors (and, when given, categories), in one transaction of multi-row
   * `INSERT … ON CONFLICT (id) DO UPDATE` statements of `batchSize` rows. Under cosine the stored copy is
   * normalised. A repeated id in one call: the last row wins. Without `categories`, an existing pin keeps its category.
   * @throws DimensionMismatchError, InvalidParameterError (before anything is written)
   * @example await index.addItemsAsync([1, 2], new Float32Array([0, 1, 1, 0]), { categories: 'food' });
   */
  async addItemsAsync(ids: I | readonly I[], vectors: Float32Array | readonly number[], options: AddItemsOptions = {}): Promise<void> {
    const { ids: list, data } = checkItems(ids, vectors, this.dim, this.metric);
    const cats = options.categories;
    const withCats = cats !== undefined;
    if (Array.isArray(cats) && cats.length !== list.length) throw new InvalidParameterError('categories', `one category per id (${list.length})`, cats);
    const catOf = (i: number): string | null => {
      const c = Array.isArray(cats) ? cats[i] : (cats as string | null | undefined);
      if (c != null && (typeof c !== 'string' || c.includes('\u0000'))) throw new InvalidParameterError(Array.isArray(cats) ? `categories[${i}]` : 'categories', 'a string without NUL, null or undefined', c);
      return c ?? null;
    };
    // last row of each id wins (one statement may not update a row twice)
    const lastRow = new Map<string, number>();
    const keys = list.map((id) => idKey(id));
    const catList = list.map((_, i) => catOf(i));
    keys.forEach((k, i) => lastRow.set(k, i));
    const rows = [...lastRow.values()].sort((a, b) => a - b);
    const dim = this.dim;
    await this.withClient(async (c) => {
      let inserted = 0;
      for (let b = 0; b < rows.length; b += this.batchSize) {
        const chunk = rows.slice(b, b + this.batchSize);
        const values: unknown[] = [];
        const tuples = chunk.map((r) => {
          let v = data.subarray(r * dim, (r + 1) * dim);
          if (this.metric === 'cosine') v = normalized(v);
          values.push(keys[r], vectorText(v));
          if (withCats) values.push(catList[r]);
          const n = values.length;
          return withCats ? `($${n - 2}, $${n - 1}::vector, $${n})` : `($${n - 1}, $${n}::vector)`;
        });
        const sql = withCats
          ? `INSERT INTO ${this.q} (id, embedding, category) VALUES ${tuples.join(',')} ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, category = EXCLUDED.category RETURNING (xmax = 0) AS inserted`
          : `INSERT INTO ${this.q} (id, embedding) VALUES ${tuples.join(',')} ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding RETURNING (xmax = 0) AS inserted`;
        const res = await c.query(sql, values);
        for (const row of res.rows) if (row.inserted === true) inserted++;
      }
      return inserted;
    }).then((n) => { this.live += n; });
  }

  /** Whether `id` is present. @example await index.hasAsync('a') */
  async hasAsync(id: I): Promise<boolean> {
    checkIdType('id', id);
    return this.withClient(async (c) => (await c.query(`SELECT 1 FROM ${this.q} WHERE id = $1`, [idKey(id)])).rows.length > 0);
  }

  /**
   * Delete `id` (its row). @throws UnknownIdError when absent
   * @example await index.markDeletedAsync('a');
   */
  async markDeletedAsync(id: I): Promise<void> {
    checkIdType('id', id);
    const n = await this.withClient(async (c) => (await c.query(`DELETE FROM ${this.q} WHERE id = $1`, [idKey(id)])).rowCount ?? 0);
    if (n === 0) throw new UnknownIdError('id', id);
    this.live -= n;
  }

  /** Alias of {@link PgVectorIndex.markDeletedAsync}. @example await index.removeAsync('a'); */
  async removeAsync(id: I): Promise<void> {
    await this.markDeletedAsync(id);
  }

  /**
   * Delete many ids in one statement; returns how many existed (absent ids are ignored).
   * @example await index.deleteMany(['a', 'b']); // 2
   */
  async deleteMany(ids: readonly I[]): Promise<number> {
    if (!Array.isArray(ids)) throw new InvalidParameterError('ids', 'an array of ids', ids);
    ids.forEach((id, i) => checkIdType(`ids[${i}]`, id));
    const n = await this.withClient(async (c) => (await c.query(`DELETE FROM ${this.q} WHERE id = ANY($1::text[])`, [ids.map((id) => idKey(id))])).rowCount ?? 0);
    this.live -= n;
    return n;
  }

  /** The stored vector (normalised under cosine). @throws UnknownIdError @example await index.getVectorAsync('a') */
  async getVectorAsync(id: I): Promise<Float32Array> {
    const v = await this.tryGetVectorAsync(id);
    if (v === undefined) throw new UnknownIdError('id', id);
    return v;
  }

  /** The stored vector, or `undefined` when absent. @example await index.tryGetVectorAsync('a') */
  async tryGetVectorAsync(id: I): Promise<Float32Array | undefined> {
    checkIdType('id', id);
    const res = await this.withClient((c) => c.query(`SELECT embedding::text AS v FROM ${this.q} WHERE id = $1`, [idKey(id)]));
    return res.rows.length === 0 ? undefined : parseVector(res.rows[0].v, this.dim);
  }

  /** The category stored with `id` (`null`: none; `undefined`: no such pin). @example await index.categoryOf('a') // 'food' */
  async categoryOf(id: I): Promise<string | null | undefined> {
    checkIdType('id', id);
    const res = await this.withClient((c) => c.query(`SELECT category FROM ${this.q} WHERE id = $1`, [idKey(id)]));
    return res.rows.length === 0 ? undefined : (res.rows[0].category as string | null);
  }

  /** Check search options; returns the WHERE clause parts and their values (from `$first`). */
  private where(options: PgSearchOptions<I>, first: number): { sql: string; values: unknown[]; predicate: ((id: I) => boolean) | null } {
    const clauses: string[] = [], values: unknown[] = [];
    let predicate: ((id: I) => boolean) | null = null;
    const f = options.filter;
    if (f !== undefined) {
      if (typeof f === 'function') predicate = f;
      else if (f !== null && typeof f === 'object' && ('allow' in f) !== ('deny' in f)) {
        const set = 'allow' in f ? f.allow : (f as { deny: Iterable<I> }).deny;
        const name = 'allow' in f ? 'filter.allow' : 'filter.deny';
        if (set === null || typeof set !== 'object' || typeof (set as Iterable<I>)[Symbol.iterator] !== 'function') throw new InvalidParameterError(name, 'an iterable of ids (array or Set)', set);
        const keys: string[] = [];
        for (const id of set as Iterable<I>) { checkIdType(name, id); keys.push(idKey(id)); }
        values.push(keys);
        clauses.push('allow' in f ? `id = ANY($${first + values.length - 1}::text[])` : `NOT (id = ANY($${first + values.length - 1}::text[]))`);
      } else throw new InvalidParameterError('filter', 'a predicate (id) => boolean, { allow: ids } or { deny: ids }', f);
    }
    if (options.category !== undefined) {
      const list = typeof options.category === 'string' ? [options.category] : options.category;
      if (!Array.isArray(list) || list.some((c) => typeof c !== 'string')) throw new InvalidParameterError('category', 'a string or an array of strings', options.category);
      values.push([...list]);
      clauses.push(`category = ANY($${first + values.length - 1}::text[])`);
    }
    return { sql: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', values, predicate };
  }

  private checkEf(options: PgSearchOptions<I>, k: number): number {
    const ef = options.ef ?? this.efSearch;
    if (typeof ef !== 'number' || !Number.isInteger(ef) || ef < 1 || ef > 1000) throw new InvalidParameterError('ef', 'an integer in [1, 1000] (pgvector hnsw.ef_search)', ef);
    return Math.min(1000, Math.max(ef, k));
  }

  /** `SET LOCAL` of one search transaction (validated integers and fixed words only). */
  private searchSettings(ef: number, exact: boolean): string {
    let s = `BEGIN; SET LOCAL hnsw.ef_search = ${ef}`;
    if (this.iterativeScan !== 'off') s += `; SET LOCAL hnsw.iterative_scan = ${this.iterativeScan}`;
    if (this.statementTimeoutMs > 0) s += `; SET LOCAL statement_timeout = ${this.statementTimeoutMs}`;
    if (exact) s += '; SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off';
    return s;
  }

  private async inSearchTx<T>(ef: number, exact: boolean, fn: (c: PgClientLike) => Promise<T>): Promise<T> {
    if (this.closed) throw new InvalidParameterError('index', 'open (close() was called)', 'closed');
    const { c, done } = await this.checkout();
    let broken: Error | undefined;
    try {
      await c.query(this.searchSettings(ef, exact));
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch((err: Error) => { broken = err; });
      throw e;
    } finally {
      done(broken);
    }
  }

  private toResult(rows: Record<string, unknown>[], k: number, predicate: ((id: I) => boolean) | null): SearchResult<I> {
    const ids: I[] = [], dist: number[] = [];
    for (const r of rows) {
      const id = fromIdKey(String(r.id)) as I;
      if (predicate && predicate(id) !== true) continue;
      ids.push(id);
      dist.push(Number(r.d));
      if (ids.length === k) break;
    }
    const distances = Float32Array.from(dist);
    const similarities = Float32Array.from(dist, (d) => (this.metric === 'l2' ? -d : 1 - d));
    return { ids, distances, similarities, scores: similarities, requested: k };
  }

  /**
   * The k nearest rows, best first: `ORDER BY embedding <op> $1 LIMIT k` with `hnsw.ef_search = max(ef, k)`
   * (the HNSW index), or a sequential scan with `exact: true`. Filters go into the `WHERE` clause; with
   * `iterativeScan` on, a filtered search still returns k rows when k pass (up to pgvector's
   * `hnsw.max_scan_tuples`). `signal`: checked before the query (PGlite and pg cannot cancel one in flight).
   * @throws InvalidParameterError (k, ef, filter, category), DimensionMismatchError, the driver's error
   * @example const r = await index.searchAsync(q, 10, { ef: 200, filter: { deny: seen } });
   */
  async searchAsync(query: Float32Array | readonly number[], k: number, options: PgSearchOptions<I> = {}): Promise<SearchResult<I>> {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) throw new InvalidParameterError('k', 'an integer >= 1', k);
    let q = checkQuery('query', query, this.dim, this.metric);
    if (this.metric === 'cosine') q = normalized(q);
    const ef = this.checkEf(options, k);
    const w = this.where(options, 2);
    options.signal?.throwIfAborted();
    const qt = vectorText(q);
    return this.inSearchTx(ef, options.exact === true, async (c) => {
      let limit = w.predicate ? Math.max(4 * k, 64) : k;
      for (;;) {
        const res = await c.query(
          `SELECT id, ${this.distanceSql('$1::vector')} AS d FROM ${this.q} ${w.sql} ORDER BY embedding ${this.operator} $1::vector LIMIT ${limit}`,
          [qt, ...w.values]);
        const out = this.toResult(res.rows, k, w.predicate);
        if (!w.predicate || out.ids.length >= k || res.rows.length < limit) return out;
        options.signal?.throwIfAborted();
        limit *= 4;
      }
    });
  }

  /**
   * {@link PgVectorIndex.searchAsync} for each row of a batch, 64 queries per statement (a `LATERAL` join over
   * the query list: one round trip per chunk), chunks in parallel over the pool. A predicate filter falls
   * back to one search per row.
   * @example const results = await index.searchBatch(queries, 10, { ef: 100 });
   */
  async searchBatch(queries: Float32Array, k: number, options: PgBatchSearchOptions<I> = {}): Promise<SearchResult<I>[]> {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) throw new InvalidParameterError('k', 'an integer >= 1', k);
    const { data, rows } = checkQueryBatch('queries', queries, this.dim, this.metric);
    const ef = this.checkEf(options, k);
    const w = this.where(options, 2);
    const dim = this.dim;
    const texts: string[] = [];
    for (let r = 0; r < rows; r++) {
      let v = data.subarray(r * dim, (r + 1) * dim);
      if (this.metric === 'cosine') v = normalized(v);
      texts.push(vectorText(v));
    }
    const out = new Array<SearchResult<I>>(rows);
    if (w.predicate) {
      for (let r = 0; r < rows; r++) out[r] = await this.searchAsync(data.subarray(r * dim, (r + 1) * dim), k, options);
      return out;
    }
    const CHUNK = 64;
    const chunks: number[] = [];
    for (let s = 0; s < rows; s += CHUNK) chunks.push(s);
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        options.signal?.throwIfAborted();
        const start = chunks[next++];
        const part = texts.slice(start, start + CHUNK);
        const res = await this.inSearchTx(ef, options.exact === true, (c) => c.query(
          `SELECT qs.i AS i, x.id AS id, x.d AS d FROM unnest($1::text[]) WITH ORDINALITY AS qs(v, i)
           CROSS JOIN LATERAL (SELECT id, ${this.distanceSql('qs.v::vector')} AS d FROM ${this.q} ${w.sql}
             ORDER BY embedding ${this.operator} qs.v::vector LIMIT ${k}) x ORDER BY qs.i, x.d, x.id`, [part, ...w.values]));
        const byRow: PgRow[][] = part.map(() => []);
        for (const row of res.rows) {
          const j = Number(row.i) - 1; // the query's 1-based position in this statement
          if (Number.isInteger(j) && j >= 0 && j < byRow.length) byRow[j].push(row);
        }
        byRow.forEach((rs, j) => { out[start + j] = this.toResult(rs, k, null); });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.poolMax, chunks.length) }, worker));
    return out;
  }

  /** Drop the table (and its indexes). @example await index.drop(); */
  async drop(): Promise<void> {
    await this.withClient((c) => c.query(`DROP TABLE IF EXISTS ${this.q}`), false);
    this.live = 0;
  }

  /** End the pool when this index created it (a caller's pool is left open). @example await index.close(); */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }
}
