/**
 * PgVectorIndex against a real Postgres + pgvector (PGlite served by pglite-socket on 127.0.0.1, started here and
 * stopped in afterAll): exact answers equal ExactIndex (fast-check, seeded), HNW DDL, category pushdown, upsert
 * and delete semantics, identifiers refused, a missing `pg`, and ShardedIndex over PgVectorIndex shards when one
 * server goes down or one shard is slow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DimensionMismatchError, InvalidParameterError, MissingDependencyError } from '../../src/core/errors.js';
import type { Id, Metric } from '../../src/core/types.js';
import { ExactIndex, PgVectorIndex, ShardedIndex, checkIdentifier, type AsyncSearchOptions } from '../../src/ann/index.js';
import { loadPg } from '../../src/ann/pgvector.js';
import { clustered, row } from './helpers.js';
import { startPgServer, type PgServer } from './fixtures/pg-server.js';

let a: PgServer, b: PgServer, c: PgServer;
let t = 0;
const table = () => `pgv_${t++}`;

beforeAll(async () => {
  [a, b, c] = await Promise.all([startPgServer(), startPgServer(), startPgServer()]);
}, 90_000);

afterAll(async () => {
  await Promise.allSettled([a, b, c].map((s) => s?.dispose()));
}, 30_000);

describe('PgVectorIndex', () => {
  it('refuses table and schema names that are not plain identifiers (no SQL injection)', async () => {
    const pool = a.pool(1);
    for (const bad of ['pins; DROP TABLE x', 'Pins', '"pins"', 'a-b', '', '1abc', 'pins--', 'x'.repeat(51), "p' OR '1'='1"]) {
      await expect(PgVectorIndex.open({ pool, table: bad, metric: 'l2', dim: 2 })).rejects.toThrow(InvalidParameterError);
    }
    await expect(PgVectorIndex.open({ pool, table: 'ok', schema: 'public; drop', metric: 'l2', dim: 2 })).rejects.toThrow(/schema must be a lowercase SQL identifier/);
    expect(() => checkIdentifier('table', 'pins_v2')).not.toThrow();
    await expect(PgVectorIndex.open({ pool, table: 'ok', metric: 'l2', dim: 2, m: 16, efConstruction: 8 })).rejects.toThrow(/efConstruction must be at least 2 \* m = 32/);
    await expect(PgVectorIndex.open({ table: 'ok', metric: 'l2', dim: 2 })).rejects.toThrow(/connectionString must be/);
  });

  it('throws MissingDependencyError naming pg when it is not installed', async () => {
    const e = await loadPg(async () => { throw new Error("Cannot find package 'pg'"); }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MissingDependencyError);
    expect((e as MissingDependencyError).packages).toEqual(['pg']);
    expect((await loadPg()).Pool).toBeTypeOf('function');
  });

  it('creates the table and an HNSW index with its parameters and operator class', async () => {
    const pool = a.pool(1);
    const name = table();
    const index = await PgVectorIndex.open({ pool, table: name, metric: 'ip', dim: 3, m: 8, efConstruction: 40 });
    const r = await pool.query('SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexname = $2', [name, `${name}_hnsw`]);
    expect(r.rows[0].indexdef).toMatch(/USING hnsw \(embedding vector_ip_ops\) WITH \(m='?8'?, ef_construction='?40'?\)/);
    await index.addItemsAsync([1, 2], new Float32Array([1, 0, 0, 0, 1, 0]));
    // reopen: the count is read; another dim or metric is refused
    const again = await PgVectorIndex.open({ pool, table: name, metric: 'ip', dim: 3 });
    expect(again.size).toBe(2);
    await expect(PgVectorIndex.open({ pool, table: name, metric: 'ip', dim: 4 })).rejects.toThrow(DimensionMismatchError);
    await expect(PgVectorIndex.open({ pool, table: name, metric: 'l2', dim: 3 })).rejects.toThrow(/metric must be 'ip' like the existing table/);
    await index.drop();
  });

  it('property: exact search and HNSW with a high ef equal ExactIndex on small seeded sets, for every metric', async () => {
    const pool = b.pool(1);
    await fc.assert(fc.asyncProperty(
      fc.constantFrom<Metric>('l2', 'ip', 'cosine'), fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 10_000 }),
      async (metric, n, k, seed) => {
        const dim = 6;
        const data = clustered(n, dim, seed);
        const ids = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? `s${i}` : i % 3 === 1 ? i : BigInt(i)));
        const exact = new ExactIndex<Id>({ metric, dim });
        exact.addItems(ids, data);
        const pg = await PgVectorIndex.open<Id>({ pool, poolMax: 1, table: table(), metric, dim, efSearch: 400 });
        await pg.addItemsAsync(ids, data);
        const q = clustered(1, dim, seed + 1);
        const want = exact.search(q, k);
        for (const opts of [{ exact: true }, { ef: 400 }]) {
          const got = await pg.searchAsync(q, k, opts);
          expect(got.ids.length).toBe(want.ids.length);
          for (let i = 0; i < got.ids.length; i++) expect(got.similarities[i]).toBeCloseTo(want.similarities[i], 4);
          // same ids, except where scores tie
          const kth = want.similarities[want.ids.length - 1];
          want.ids.forEach((id, i) => { if (want.similarities[i] > kth + 1e-5) expect(got.ids).toContain(id); });
        }
        await pg.drop();
      }), { seed: 11, numRuns: 12 });
  });

  it('pushes category and id filters into SQL; upserts keep or replace categories; deleteMany', async () => {
    const pool = a.pool(1);
    const index = await PgVectorIndex.open<string>({ pool, table: table(), metric: 'cosine', dim: 2 });
    await index.addItemsAsync(['a', 'b', 'c', 'd'], new Float32Array([1, 0, 1, 0.1, 1, 0.2, 0, 1]), { categories: ['food', 'travel', 'food', null] });
    expect((await index.searchAsync([1, 0], 4, { category: 'food' })).ids).toEqual(['a', 'c']);
    expect((await index.searchAsync([1, 0], 4, { category: ['travel', 'food'], filter: { deny: ['a'] } })).ids).toEqual(['b', 'c']);
    expect((await index.searchAsync([1, 0], 4, { filter: { allow: ['d', 'b', 'zz'] } })).ids).toEqual(['b', 'd']);
    await index.addItemsAsync('a', [1, 0]); // no categories: kept
    expect(await index.categoryOf('a')).toBe('food');
    await index.addItemsAsync(['a', 'a'], new Float32Array([0, 1, 1, 0.05]), { categories: 'travel' }); // last row wins
    expect(await index.categoryOf('a')).toBe('travel');
    expect(Array.from(await index.getVectorAsync('a'))[1]).toBeCloseTo(0.05 / Math.hypot(1, 0.05), 6);
    expect(index.size).toBe(4);
    expect(await index.deleteMany(['a', 'b', 'nope'])).toBe(2);
    expect(index.size).toBe(2);
    expect(await index.count()).toBe(2);
    // values are parameters: a hostile id or category is just data
    await index.addItemsAsync(["x'); DROP TABLE pins; --"], [1, 1], { categories: "'; DROP TABLE x; --" });
    expect((await index.searchAsync([1, 1], 1, { category: "'; DROP TABLE x; --" })).ids).toEqual(["x'); DROP TABLE pins; --"]);
    await expect(index.searchAsync([1, 0], 1, { ef: 5000 })).rejects.toThrow(/ef must be an integer in \[1, 1000\]/);
    await index.drop();
  });

  it('ShardedIndex over PgVectorIndex shards: exact merge, a server going down, a slow shard cut off', async () => {
    const dim = 8, n = 240;
    const data = clustered(n, dim, 21);
    const ids = Array.from({ length: n }, (_, i) => i);
    const s0 = await PgVectorIndex.open<number>({ pool: a.pool(1), poolMax: 1, table: table(), metric: 'l2', dim, efSearch: 200 });
    const s1 = await PgVectorIndex.open<number>({ pool: c.pool(1), poolMax: 1, table: table(), metric: 'l2', dim, efSearch: 200 });
    const sh = new ShardedIndex<number>({ shards: [s0, s1], timeoutMs: 5000 });
    await sh.addItemsAsync(ids, data);
    expect(s0.size + s1.size).toBe(n);
    expect(s0.size).toBeGreaterThan(60);
    const exact = new ExactIndex<number>({ metric: 'l2', dim });
    exact.addItems(ids, data);
    const q = row(data, dim, 17);
    const full = await sh.searchAsync(q, 10, { filter: { deny: [17] } });
    expect(full.partial).toBe(false);
    expect(full.ids).toEqual(exact.search(q, 10, { filter: { deny: [17] } }).ids);
    const batch = await sh.searchBatch(clustered(5, dim, 3), 5);
    expect(batch.every((r) => r.shards.answered.length === 2)).toBe(true);

    // a slow shard: a wrapper that delays its answers is cut off by its budget
    const slow = Object.assign(Object.create(s1) as PgVectorIndex<number>, {
      searchAsync: async (qq: Float32Array | readonly number[], k: number, o?: AsyncSearchOptions<number>) => {
        await new Promise((r) => setTimeout(r, 800));
        return s1.searchAsync(qq, k, o);
      },
    });
    const withSlow = new ShardedIndex<number>({ shards: [s0, slow], timeoutMs: [5000, 100] });
    const t0 = Date.now();
    const cut = await withSlow.searchAsync(q, 10);
    expect(Date.now() - t0).toBeLessThan(700);
    expect(cut.shards).toEqual({ answered: [0], failed: [], timedOut: [1] });
    expect(cut.ids.every((id) => sh.shardOf(id) === 0)).toBe(true);
    await new Promise((r) => setTimeout(r, 900)); // let the slow call finish before the server goes away

    // server c goes down mid-test: the answer is partial and names shard 1
    await c.stop();
    const down = await sh.searchAsync(q, 10);
    expect(down.partial).toBe(true);
    expect(down.shards.answered).toEqual([0]);
    expect(down.shards.failed.map((f) => f.shard)).toEqual([1]);
    expect(down.shards.failed[0].reason).toMatch(/ECONNREFUSED|terminated|closed|Connection/i);
    expect(down.ids).toEqual(exact.search(q, 10, { filter: (id) => sh.shardOf(id) === 0 }).ids);
    await expect(sh.addItemsAsync([1000, 1001, 1002], new Float32Array(3 * dim).fill(0.5))).rejects.toThrow(/write failed on 1 replica/);
  });
});
