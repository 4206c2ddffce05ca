/**
 * One suite every VectorIndex must pass (HnswIndex, UsearchIndex, ExactIndex, and ShardedIndex over local shards):
 * exact answers on tiny sets, upserts, deletes, filters, typed errors on bad input, seeded property tests,
 * batch == single, save/load round trip. The same cases, awaited, run on every AsyncVectorIndex (PgVectorIndex on
 * a real Postgres + pgvector, ShardedIndex over PgVectorIndex shards) — minus save/load, which Postgres owns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  DimensionMismatchError, InvalidParameterError, UnknownIdError, FileFormatError,
} from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import type { Id, Metric } from '../../src/core/types.js';
import { ExactIndex, HnswIndex, UsearchIndex, ShardedIndex, PgVectorIndex, type VectorIndex, type AsyncVectorIndex } from '../../src/ann/index.js';
import { startPgServer, type PgServer } from './fixtures/pg-server.js';
import { clustered, row } from './helpers.js';

type Factory = <I extends Id>(metric: Metric, dim: number) => VectorIndex<I>;
type Loader = <I extends Id>(file: string) => Promise<VectorIndex<I>>;

const impls: [string, Factory, Loader][] = [
  ['HnswIndex', (metric, dim) => new HnswIndex({ metric, dim, capacity: 4, efConstruction: 100, ef: 64 }), (f) => HnswIndex.load(f)],
  ['UsearchIndex', (metric, dim) => new UsearchIndex({ metric, dim, capacity: 4, efConstruction: 100, ef: 64 }), (f) => UsearchIndex.load(f)],
  ['ExactIndex', (metric, dim) => new ExactIndex({ metric, dim, capacity: 4 }), (f) => ExactIndex.load(f)],
  ['ShardedIndex(3 x ExactIndex)', (metric, dim) => new ShardedIndex({ shards: [0, 1, 2].map(() => new ExactIndex({ metric, dim, capacity: 4 })) }), (f) => ShardedIndex.load(f)],
  ['ShardedIndex(3 x HnswIndex)', (metric, dim) => new ShardedIndex({ shards: [0, 1, 2].map(() => new HnswIndex({ metric, dim, capacity: 4, efConstruction: 100, ef: 64 })) }), (f) => ShardedIndex.load(f)],
];

const tmp = () => mkdtempSync(path.join(tmpdir(), 'pinrec-ann-test-'));

describe.each(impls)('%s (shared VectorIndex suite)', (_name, make, load) => {
  it('finds exact neighbours with the right distances and similarities on a tiny l2 set', () => {
    const index = make<string>('l2', 2);
    index.addItems(['o', 'x', 'y', 'far'], new Float32Array([0, 0, 1, 0, 0, 2, 10, 10]));
    const r = index.search([0.9, 0.1], 3);
    expect(r.ids).toEqual(['x', 'o', 'y']);
    expect(r.distances[0]).toBeCloseTo(0.01 + 0.01, 5);
    expect(r.distances[1]).toBeCloseTo(0.81 + 0.01, 5);
    expect(r.distances[2]).toBeCloseTo(0.81 + 3.61, 5);
    expect(r.similarities[0]).toBeCloseTo(-r.distances[0], 6);
  });

  it('reports cosine similarity and 1 - cosine distance, independent of vector length', () => {
    const index = make<number>('cosine', 2);
    index.addItems([1, 2, 3], new Float32Array([5, 0, 0, 3, 1, 1]));
    const r = index.search([2, 2], 3);
    expect(r.ids[0]).toBe(3);
    expect(r.similarities[0]).toBeCloseTo(1, 5);
    expect(r.similarities[1]).toBeCloseTo(Math.SQRT1_2, 5);
    expect(r.distances[1]).toBeCloseTo(1 - Math.SQRT1_2, 5);
    expect(Array.from(index.getVector(1))).toEqual([1, 0]);
  });

  it('ranks by dot product under ip (MIPS), reporting the dot product', () => {
    const index = make<bigint>('ip', 3);
    index.addItems([10n, 20n, 30n], new Float32Array([1, 0, 0, 3, 3, 0, 0, 0, -1]));
    const r = index.search([1, 1, 0], 3);
    expect(r.ids).toEqual([20n, 10n, 30n]);
    expect(Array.from(r.similarities)).toEqual([6, 1, 0]);
    expect(r.distances[0]).toBeCloseTo(-5, 5);
  });

  it('upserts: adding an existing id replaces its vector and keeps the size', () => {
    const index = make<string>('l2', 2);
    index.addItems(['a', 'b'], new Float32Array([0, 0, 5, 5]));
    index.addItems('a', [9, 9]);
    expect(index.size).toBe(2);
    expect(Array.from(index.getVector('a'))).toEqual([9, 9]);
    expect(index.search([9, 9], 1).ids).toEqual(['a']);
    expect(index.search([0, 0], 1).ids).toEqual(['b']);
  });

  it('deletes and revives ids; unknown ids on delete are typed errors', () => {
    const index = make<string>('l2', 2);
    index.addItems(['a', 'b', 'c'], new Float32Array([0, 0, 1, 1, 2, 2]));
    index.markDeleted('a');
    expect(index.has('a')).toBe(false);
    expect(index.size).toBe(2);
    expect(index.search([0, 0], 2).ids).toEqual(['b', 'c']);
    expect(() => index.markDeleted('a')).toThrow(UnknownIdError);
    expect(() => index.remove('zzz')).toThrow(/id: unknown id "zzz"/);
    expect(() => index.getVector('a')).toThrow(UnknownIdError);
    index.addItems('a', [0.1, 0.1]);
    expect(index.size).toBe(3);
    expect(index.search([0, 0], 1).ids).toEqual(['a']);
  });

  it('grows past its initial capacity', () => {
    const index = make<number>('l2', 4);
    const data = clustered(300, 4, 1);
    for (let i = 0; i < 300; i += 50) index.addItems(Array.from({ length: 50 }, (_, j) => i + j), data.subarray(i * 4, (i + 50) * 4));
    expect(index.size).toBe(300);
    expect(index.search(row(data, 4, 123), 1).ids).toEqual([123]);
  });

  it('applies allow, deny and predicate filters and still returns k results', () => {
    const dim = 8, n = 400;
    const index = make<number>('l2', dim);
    const data = clustered(n, dim, 2);
    index.addItems(Array.from({ length: n }, (_, i) => i), data);
    const allow = new Set(Array.from({ length: 40 }, (_, i) => i * 10));
    const q = row(data, dim, 5);
    const a = index.search(q, 10, { filter: { allow } });
    expect(a.ids).toHaveLength(10);
    expect(a.ids.every((id) => allow.has(id))).toBe(true);
    const d = index.search(q, 10, { filter: { deny: [5, 6, 7] } });
    expect(d.ids).toHaveLength(10);
    expect(d.ids.some((id) => [5, 6, 7].includes(id))).toBe(false);
    const p = index.search(q, 10, { filter: (id) => id % 3 === 0 });
    expect(p.ids).toHaveLength(10);
    expect(p.ids.every((id) => id % 3 === 0)).toBe(true);
    // Fewer allowed than k: all of them, no error.
    expect(index.search(q, 10, { filter: { allow: [1, 2, 999] } }).ids.sort()).toEqual([1, 2]);
    expect(index.search(q, 10, { filter: { allow: [] } }).ids).toEqual([]);
  });

  it('rethrows an error thrown by a predicate filter', () => {
    const index = make<number>('l2', 2);
    index.addItems([1, 2], new Float32Array([0, 0, 1, 1]));
    expect(() => index.search([0, 0], 1, { filter: () => { throw new RangeError('boom'); } })).toThrow('boom');
  });

  it('a search for more neighbours than the index holds returns what exists and says so', async () => {
    const index = make<string>('cosine', 2);
    index.addItems(['a', 'b', 'c'], new Float32Array([1, 0, 0.8, 0.2, 0, 1]));
    index.markDeleted('c');
    const r = index.search([1, 0], 100);
    expect(r.ids).toEqual(['a', 'b']);
    expect(r.requested).toBe(100);
    expect(r.scores).toBe(r.similarities);
    const batch = await index.searchBatch(new Float32Array([1, 0, 0, 1]), 50);
    expect(batch.map((x) => x.ids.length)).toEqual([2, 2]);
    expect(batch.every((x) => x.requested === 50)).toBe(true);
    expect(index.tryGetVector('c')).toBeUndefined();
    expect(index.tryGetVector('zz')).toBeUndefined();
    expect(index.tryGetVector('a')).toEqual(index.getVector('a'));
  });

  it('rejects bad input with typed errors naming the parameter and value', () => {
    const index = make<string>('cosine', 3);
    // an empty index answers with nothing (and says what was asked for), never an error
    const empty = index.search([1, 0, 0], 1);
    expect(empty.ids).toEqual([]);
    expect(empty.requested).toBe(1);
    expect(() => index.addItems('a', [1, 0])).toThrow(DimensionMismatchError);
    expect(() => index.addItems('a', [1, 0])).toThrow('vectors must have dimension 3 (got 2)');
    expect(() => index.addItems(['a', 'b'], [1, 0, 0])).toThrow(InvalidParameterError);
    expect(() => index.addItems('a', [1, NaN, 0])).toThrow('vectors[1] must be a finite number (got NaN)');
    expect(() => index.addItems(['a', 'b'], [1, 0, 0, 0, Infinity, 0])).toThrow('vectors[row 1][1] must be a finite number (got Infinity)');
    expect(() => index.addItems('a', [0, 0, 0])).toThrow(/non-zero vector under the cosine metric/);
    expect(() => index.addItems(null as unknown as string, [1, 0, 0])).toThrow(InvalidParameterError);
    expect(index.size).toBe(0); // nothing was added by the failed calls
    index.addItems(['a', 'b'], new Float32Array([1, 0, 0, 0, 1, 0]));
    expect(() => index.search([1, 0, 0], 0)).toThrow('k must be an integer >= 1 (got 0)');
    expect(() => index.search([1, 0, 0], -1)).toThrow(InvalidParameterError);
    expect(() => index.search([1, 0, 0], 1.5)).toThrow(/got 1.5/);
    expect(index.search([1, 0, 0], 3).ids.length).toBe(2); // more than the index holds: what exists
    expect(() => index.search([1, 0], 1)).toThrow(DimensionMismatchError);
    expect(() => index.search([0, 0, 0], 1)).toThrow(/query must be a non-zero vector/);
    expect(() => index.search([NaN, 0, 0], 1)).toThrow('query[0] must be a finite number (got NaN)');
    expect(() => index.search('x' as unknown as number[], 1)).toThrow(InvalidParameterError);
    expect(() => index.search([1, 0, 0], 1, { filter: 5 as unknown as () => boolean })).toThrow(/filter must be/);
    expect(() => index.search([1, 0, 0], 1, { filter: { allow: 5 as unknown as number[] } as never })).toThrow(/filter.allow/);
    expect(() => make('hamming' as Metric, 3)).toThrow("metric must be one of 'cosine', 'ip', 'l2' (got \"hamming\")");
    expect(() => make('l2', 0)).toThrow(/dim must be an integer/);
  });

  it('property: never returns deleted or filtered-out ids, results sorted, no duplicates (seeded)', () => {
    for (const metric of ['l2', 'ip', 'cosine'] as Metric[]) {
      const rng = new Rng(42);
      const dim = 6, n = 250;
      const index = make<number>(metric, dim);
      const data = clustered(n, dim, 7);
      index.addItems(Array.from({ length: n }, (_, i) => i), data);
      const deleted = new Set<number>();
      for (let t = 0; t < 60; t++) {
        const victim = rng.int(n);
        if (!deleted.has(victim)) { index.markDeleted(victim); deleted.add(victim); }
        const banned = new Set(Array.from({ length: 20 }, () => rng.int(n)));
        const q = rng.fillNormal(new Float32Array(dim));
        const k = 1 + rng.int(15);
        const r = index.search(q, k, { filter: { deny: banned } });
        expect(r.ids.length).toBe(k);
        expect(new Set(r.ids).size).toBe(r.ids.length);
        for (const id of r.ids) { expect(deleted.has(id)).toBe(false); expect(banned.has(id)).toBe(false); }
        for (let i = 1; i < r.distances.length; i++) expect(r.distances[i]).toBeGreaterThanOrEqual(r.distances[i - 1]);
        for (let i = 1; i < r.similarities.length; i++) expect(r.similarities[i]).toBeLessThanOrEqual(r.similarities[i - 1]);
      }
      expect(index.size).toBe(n - deleted.size);
    }
  });

  it('searchBatch equals search row by row', async () => {
    const dim = 8, n = 300;
    const index = make<number>('cosine', dim);
    const data = clustered(n, dim, 5);
    index.addItems(Array.from({ length: n }, (_, i) => i), data);
    const queries = clustered(40, dim, 6);
    const batch = await index.searchBatch(queries, 7, { threads: 2 });
    const one = await index.searchBatch(queries, 7, { threads: 1 });
    for (let i = 0; i < 40; i++) {
      const single = index.search(row(queries, dim, i), 7);
      expect(batch[i].ids).toEqual(single.ids);
      expect(one[i].ids).toEqual(single.ids);
      expect(Array.from(batch[i].distances)).toEqual(Array.from(single.distances));
    }
    await index.close();
  });

  it('saves and loads: same ids (with their types), deletions and answers', async () => {
    const dim = 5, n = 200;
    const index = make<Id>('ip', dim);
    const data = clustered(n, dim, 9);
    const ids: Id[] = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? `s${i}` : i % 3 === 1 ? i : BigInt(i)));
    index.addItems(ids, data);
    index.markDeleted(ids[4]);
    const file = path.join(tmp(), 'index.bin');
    await index.save(file);
    const back = await load<Id>(file);
    expect(back.size).toBe(n - 1);
    expect(back.has(ids[4])).toBe(false);
    expect(back.has(ids[3])).toBe(true);
    const q = row(data, dim, 10);
    expect(back.search(q, 10)).toEqual(index.search(q, 10));
    expect(typeof back.search(q, 10).ids.find((x) => typeof x === 'bigint')).toBe('bigint');
  });

  it('load rejects a missing file with FileFormatError', async () => {
    await expect(load(path.join(tmp(), 'nope.bin'))).rejects.toThrow(FileFormatError);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The same suite, awaited, for asynchronous indexes (remote shards)

type AsyncFactory = <I extends Id>(metric: Metric, dim: number) => Promise<AsyncVectorIndex<I>>;

const servers: PgServer[] = [];
let tableNo = 0;
const nextTable = () => `shared_${process.pid}_${tableNo++}`;
const pools = new Map<number, ReturnType<PgServer['pool']>>();
/** One pool (max 1 connection: PGlite runs one statement at a time) per server, shared by every index on it. */
const pg = (i: number) => { if (!pools.has(i)) pools.set(i, servers[i].pool(1)); return pools.get(i)!; };

const asyncImpls: [string, AsyncFactory][] = [
  ['ShardedIndex(3 x ExactIndex), async API', async <I extends Id>(metric: Metric, dim: number) => new ShardedIndex<I>({ shards: [0, 1, 2].map(() => new ExactIndex<I>({ metric, dim, capacity: 4 })) })],
  ['PgVectorIndex', (metric, dim) => PgVectorIndex.open({ pool: pg(0), poolMax: 1, table: nextTable(), metric, dim, efSearch: 200 })],
  ['ShardedIndex(2 x PgVectorIndex)', async <I extends Id>(metric: Metric, dim: number) => {
    const shards = await Promise.all([0, 1].map((i) => PgVectorIndex.open<I>({ pool: pg(i), poolMax: 1, table: nextTable(), metric, dim, efSearch: 200 })));
    return new ShardedIndex<I>({ shards, timeoutMs: 20_000 });
  }],
];

describe.each(asyncImpls)('%s (shared VectorIndex suite, async)', (_name, make) => {
  beforeAll(async () => {
    while (servers.length < 2) servers.push(await startPgServer());
  }, 60_000);

  it('finds exact neighbours with the right distances and similarities on a tiny l2 set', async () => {
    const index = await make<string>('l2', 2);
    await index.addItemsAsync(['o', 'x', 'y', 'far'], new Float32Array([0, 0, 1, 0, 0, 2, 10, 10]));
    const r = await index.searchAsync([0.9, 0.1], 3);
    expect(r.ids).toEqual(['x', 'o', 'y']);
    expect(r.distances[0]).toBeCloseTo(0.01 + 0.01, 5);
    expect(r.distances[1]).toBeCloseTo(0.81 + 0.01, 5);
    expect(r.distances[2]).toBeCloseTo(0.81 + 3.61, 5);
    expect(r.similarities[0]).toBeCloseTo(-r.distances[0], 6);
  });

  it('reports cosine similarity and 1 - cosine distance, independent of vector length', async () => {
    const index = await make<number>('cosine', 2);
    await index.addItemsAsync([1, 2, 3], new Float32Array([5, 0, 0, 3, 1, 1]));
    const r = await index.searchAsync([2, 2], 3);
    expect(r.ids[0]).toBe(3);
    expect(r.similarities[0]).toBeCloseTo(1, 5);
    expect(r.similarities[1]).toBeCloseTo(Math.SQRT1_2, 5);
    expect(r.distances[1]).toBeCloseTo(1 - Math.SQRT1_2, 5);
    expect(Array.from(await index.getVectorAsync(1))).toEqual([1, 0]);
  });

  it('ranks by dot product under ip (MIPS), reporting the dot product', async () => {
    const index = await make<bigint>('ip', 3);
    await index.addItemsAsync([10n, 20n, 30n], new Float32Array([1, 0, 0, 3, 3, 0, 0, 0, -1]));
    const r = await index.searchAsync([1, 1, 0], 3);
    expect(r.ids).toEqual([20n, 10n, 30n]);
    expect(Array.from(r.similarities)).toEqual([6, 1, 0]);
    expect(r.distances[0]).toBeCloseTo(-5, 5);
  });

  it('upserts: adding an existing id replaces its vector and keeps the size', async () => {
    const index = await make<string>('l2', 2);
    await index.addItemsAsync(['a', 'b'], new Float32Array([0, 0, 5, 5]));
    await index.addItemsAsync('a', [9, 9]);
    expect(index.size).toBe(2);
    expect(Array.from(await index.getVectorAsync('a'))).toEqual([9, 9]);
    expect((await index.searchAsync([9, 9], 1)).ids).toEqual(['a']);
    expect((await index.searchAsync([0, 0], 1)).ids).toEqual(['b']);
  });

  it('deletes and revives ids; unknown ids on delete are typed errors', async () => {
    const index = await make<string>('l2', 2);
    await index.addItemsAsync(['a', 'b', 'c'], new Float32Array([0, 0, 1, 1, 2, 2]));
    await index.markDeletedAsync('a');
    expect(await index.hasAsync('a')).toBe(false);
    expect(index.size).toBe(2);
    expect((await index.searchAsync([0, 0], 2)).ids).toEqual(['b', 'c']);
    await expect(index.markDeletedAsync('a')).rejects.toThrow(UnknownIdError);
    await expect(index.markDeletedAsync('zzz')).rejects.toThrow(/id: unknown id "zzz"/);
    await expect(index.getVectorAsync('a')).rejects.toThrow(UnknownIdError);
    await index.addItemsAsync('a', [0.1, 0.1]);
    expect(index.size).toBe(3);
    expect((await index.searchAsync([0, 0], 1)).ids).toEqual(['a']);
  });

  it('grows past its initial capacity', async () => {
    const index = await make<number>('l2', 4);
    const data = clustered(300, 4, 1);
    for (let i = 0; i < 300; i += 50) await index.addItemsAsync(Array.from({ length: 50 }, (_, j) => i + j), data.subarray(i * 4, (i + 50) * 4));
    expect(index.size).toBe(300);
    expect((await index.searchAsync(row(data, 4, 123), 1)).ids).toEqual([123]);
  });

  it('applies allow, deny and predicate filters and still returns k results', async () => {
    const dim = 8, n = 400;
    const index = await make<number>('l2', dim);
    const data = clustered(n, dim, 2);
    await index.addItemsAsync(Array.from({ length: n }, (_, i) => i), data);
    const allow = new Set(Array.from({ length: 40 }, (_, i) => i * 10));
    const q = row(data, dim, 5);
    const a = await index.searchAsync(q, 10, { filter: { allow } });
    expect(a.ids).toHaveLength(10);
    expect(a.ids.every((id) => allow.has(id))).toBe(true);
    const d = await index.searchAsync(q, 10, { filter: { deny: [5, 6, 7] } });
    expect(d.ids).toHaveLength(10);
    expect(d.ids.some((id) => [5, 6, 7].includes(id))).toBe(false);
    const p = await index.searchAsync(q, 10, { filter: (id) => id % 3 === 0 });
    expect(p.ids).toHaveLength(10);
    expect(p.ids.every((id) => id % 3 === 0)).toBe(true);
    expect((await index.searchAsync(q, 10, { filter: { allow: [1, 2, 999] } })).ids.sort()).toEqual([1, 2]);
    expect((await index.searchAsync(q, 10, { filter: { allow: [] } })).ids).toEqual([]);
  });

  it('rethrows an error thrown by a predicate filter', async () => {
    const index = await make<number>('l2', 2);
    await index.addItemsAsync([1, 2], new Float32Array([0, 0, 1, 1]));
    await expect(index.searchAsync([0, 0], 1, { filter: () => { throw new RangeError('boom'); } })).rejects.toThrow('boom');
  });

  it('a search for more neighbours than the index holds returns what exists and says so', async () => {
    const index = await make<string>('cosine', 2);
    await index.addItemsAsync(['a', 'b', 'c'], new Float32Array([1, 0, 0.8, 0.2, 0, 1]));
    await index.markDeletedAsync('c');
    const r = await index.searchAsync([1, 0], 100);
    expect(r.ids).toEqual(['a', 'b']);
    expect(r.requested).toBe(100);
    expect(r.scores).toBe(r.similarities);
    const batch = await index.searchBatch(new Float32Array([1, 0, 0, 1]), 50);
    expect(batch.map((x) => x.ids.length)).toEqual([2, 2]);
    expect(batch.every((x) => x.requested === 50)).toBe(true);
    expect(await index.tryGetVectorAsync('c')).toBeUndefined();
    expect(await index.tryGetVectorAsync('zz')).toBeUndefined();
    expect(await index.tryGetVectorAsync('a')).toEqual(await index.getVectorAsync('a'));
  });

  it('rejects bad input with typed errors naming the parameter and value', async () => {
    const index = await make<string>('cosine', 3);
    const empty = await index.searchAsync([1, 0, 0], 1);
    expect(empty.ids).toEqual([]);
    expect(empty.requested).toBe(1);
    await expect(index.addItemsAsync('a', [1, 0])).rejects.toThrow(DimensionMismatchError);
    await expect(index.addItemsAsync('a', [1, 0])).rejects.toThrow('vectors must have dimension 3 (got 2)');
    await expect(index.addItemsAsync(['a', 'b'], [1, 0, 0])).rejects.toThrow(InvalidParameterError);
    await expect(index.addItemsAsync('a', [1, NaN, 0])).rejects.toThrow('vectors[1] must be a finite number (got NaN)');
    await expect(index.addItemsAsync(['a', 'b'], [1, 0, 0, 0, Infinity, 0])).rejects.toThrow('vectors[row 1][1] must be a finite number (got Infinity)');
    await expect(index.addItemsAsync('a', [0, 0, 0])).rejects.toThrow(/non-zero vector under the cosine metric/);
    await expect(index.addItemsAsync(null as unknown as string, [1, 0, 0])).rejects.toThrow(InvalidParameterError);
    expect(index.size).toBe(0);
    await index.addItemsAsync(['a', 'b'], new Float32Array([1, 0, 0, 0, 1, 0]));
    await expect(index.searchAsync([1, 0, 0], 0)).rejects.toThrow('k must be an integer >= 1 (got 0)');
    await expect(index.searchAsync([1, 0, 0], -1)).rejects.toThrow(InvalidParameterError);
    await expect(index.searchAsync([1, 0, 0], 1.5)).rejects.toThrow(/got 1.5/);
    expect((await index.searchAsync([1, 0, 0], 3)).ids.length).toBe(2);
    await expect(index.searchAsync([1, 0], 1)).rejects.toThrow(DimensionMismatchError);
    await expect(index.searchAsync([0, 0, 0], 1)).rejects.toThrow(/query must be a non-zero vector/);
    await expect(index.searchAsync([NaN, 0, 0], 1)).rejects.toThrow('query[0] must be a finite number (got NaN)');
    await expect(index.searchAsync('x' as unknown as number[], 1)).rejects.toThrow(InvalidParameterError);
    await expect(index.searchAsync([1, 0, 0], 1, { filter: 5 as unknown as () => boolean })).rejects.toThrow(/filter must be/);
    await expect(index.searchAsync([1, 0, 0], 1, { filter: { allow: 5 as unknown as number[] } as never })).rejects.toThrow(/filter.allow/);
    await expect(make('hamming' as Metric, 3)).rejects.toThrow("metric must be one of 'cosine', 'ip', 'l2' (got \"hamming\")");
    await expect(make('l2', 0)).rejects.toThrow(/dim must be an integer/);
  });

  it('property: never returns deleted or filtered-out ids, results sorted, no duplicates (seeded)', async () => {
    for (const metric of ['l2', 'ip', 'cosine'] as Metric[]) {
      const rng = new Rng(42);
      const dim = 6, n = 250;
      const index = await make<number>(metric, dim);
      const data = clustered(n, dim, 7);
      await index.addItemsAsync(Array.from({ length: n }, (_, i) => i), data);
      const deleted = new Set<number>();
      for (let t = 0; t < 30; t++) {
        const victim = rng.int(n);
        if (!deleted.has(victim)) { await index.markDeletedAsync(victim); deleted.add(victim); }
        const banned = new Set(Array.from({ length: 20 }, () => rng.int(n)));
        const q = rng.fillNormal(new Float32Array(dim));
        const k = 1 + rng.int(15);
        const r = await index.searchAsync(q, k, { filter: { deny: banned } });
        expect(r.ids.length).toBe(k);
        expect(new Set(r.ids).size).toBe(r.ids.length);
        for (const id of r.ids) { expect(deleted.has(id)).toBe(false); expect(banned.has(id)).toBe(false); }
        for (let i = 1; i < r.distances.length; i++) expect(r.distances[i]).toBeGreaterThanOrEqual(r.distances[i - 1]);
        for (let i = 1; i < r.similarities.length; i++) expect(r.similarities[i]).toBeLessThanOrEqual(r.similarities[i - 1]);
      }
      expect(index.size).toBe(n - deleted.size);
    }
  });

  it('searchBatch equals searchAsync row by row', async () => {
    const dim = 8, n = 300;
    const index = await make<number>('cosine', dim);
    const data = clustered(n, dim, 5);
    await index.addItemsAsync(Array.from({ length: n }, (_, i) => i), data);
    const queries = clustered(40, dim, 6);
    const batch = await index.searchBatch(queries, 7, { threads: 2 });
    for (let i = 0; i < 40; i++) {
      const single = await index.searchAsync(row(queries, dim, i), 7);
      expect(batch[i].ids).toEqual(single.ids);
      for (let j = 0; j < single.distances.length; j++) expect(batch[i].distances[j]).toBeCloseTo(single.distances[j], 6);
    }
    await index.close();
  });
});

afterAll(async () => {
  await Promise.allSettled(servers.map((s) => s.dispose()));
}, 30_000);
