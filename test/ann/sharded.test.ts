/**
 * ShardedIndex over local shards and fake remote shards: exact merge (property-tested against one ExactIndex),
 * deterministic ties, routing (hash, category, custom), budgets, failures, replicas and fail-over, save/load.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { InvalidParameterError, UnknownIdError } from '../../src/core/errors.js';
import type { Id, Metric } from '../../src/core/types.js';
import {
  ExactIndex, HnswIndex, ShardedIndex, ShardSearchError, ShardWriteError, idKey, fromIdKey, routeHash, mergeResults,
  type AsyncVectorIndex, type AsyncSearchOptions, type SearchResult,
} from '../../src/ann/index.js';
import { clustered, row } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A remote-looking shard over an ExactIndex that answers after `delayMs` or throws when `down`. */
class FakeRemote<I extends Id> implements AsyncVectorIndex<I> {
  readonly inner: ExactIndex<I>;
  delayMs = 0;
  down = false;
  searches = 0;
  constructor(metric: Metric, dim: number) { this.inner = new ExactIndex<I>({ metric, dim }); }
  get metric() { return this.inner.metric; }
  get dim() { return this.inner.dim; }
  get size() { return this.inner.size; }
  private async gate() { await sleep(this.delayMs); if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:1'); }
  async addItemsAsync(ids: I | readonly I[], v: Float32Array | readonly number[]) { await this.gate(); this.inner.addItems(ids, v); }
  async hasAsync(id: I) { await this.gate(); return this.inner.has(id); }
  async markDeletedAsync(id: I) { await this.gate(); this.inner.markDeleted(id); }
  async getVectorAsync(id: I) { await this.gate(); return this.inner.getVector(id); }
  async tryGetVectorAsync(id: I) { await this.gate(); return this.inner.tryGetVector(id); }
  async searchAsync(q: Float32Array | readonly number[], k: number, o?: AsyncSearchOptions<I>) { this.searches++; await this.gate(); return this.inner.search(q, k, o); }
  async searchBatch(q: Float32Array, k: number, o?: AsyncSearchOptions<I>) { this.searches++; await this.gate(); return this.inner.searchBatch(q, k, o); }
  async close() {}
}

describe('ShardedIndex', () => {
  it('property: the merged top-k of any sharding equals one ExactIndex over all pins (seeded)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 30 }),
      fc.constantFrom<Metric>('l2', 'ip', 'cosine'), fc.integer({ min: 0, max: 1000 }),
      (shards, n, k, metric, seed) => {
        const dim = 5;
        const data = clustered(n, dim, seed);
        const ids = Array.from({ length: n }, (_, i) => (i % 2 ? `p${i}` : i));
        const one = new ExactIndex<Id>({ metric, dim });
        one.addItems(ids, data);
        const sh = new ShardedIndex<Id>({ shards: Array.from({ length: shards }, () => new ExactIndex<Id>({ metric, dim })) });
        sh.addItems(ids, data);
        expect(sh.size).toBe(n);
        const q = clustered(1, dim, seed + 1);
        const a = one.search(q, k), b = sh.search(q, k);
        expect(b.partial).toBe(false);
        expect(b.ids.length).toBe(a.ids.length);
        // equal as sets of scores (ties may order differently: the merge breaks them by id)
        expect(Array.from(b.similarities)).toEqual(Array.from(a.similarities));
        const kth = a.similarities[a.ids.length - 1];
        const got = new Set(b.ids);
        a.ids.forEach((id, i) => { if (a.similarities[i] > kth) expect(got.has(id)).toBe(true); });
      }), { seed: 7, numRuns: 60 });
  });

  it('breaks ties by score then id, deterministically, and dedupes ids across parts', () => {
    const mk = (ids: Id[], sims: number[]): SearchResult<Id> => {
      const similarities = Float32Array.from(sims);
      return { ids, similarities, scores: similarities, distances: Float32Array.from(sims, (s) => 1 - s), requested: 3 };
    };
    const m = mergeResults([mk(['b', 5, 'a'], [0.5, 0.5, 0.9]), mk([2n, 'a', 'c'], [0.5, 0.4, 0.1])], 4);
    expect(m.ids).toEqual(['a', 2n, 5, 'b']);
    expect(Array.from(m.similarities)).toEqual([Math.fround(0.9), 0.5, 0.5, 0.5]);
    const sh = new ShardedIndex<string>({ shards: [0, 1, 2].map(() => new ExactIndex<string>({ metric: 'l2', dim: 1 })) });
    sh.addItems(['d', 'c', 'b', 'a'], [1, 1, 1, 1]);
    expect(sh.search([1], 3).ids).toEqual(['a', 'b', 'c']);
  });

  it('routes by a stable FNV-1a hash of the id key, and by category to dedicated shards', () => {
    expect(idKey('x')).toBe('s:x');
    expect(idKey(-0)).toBe('n:0');
    expect(idKey(12n)).toBe('b:12');
    for (const id of ['x', 3, 3n, 'a\u0000b', '\uD800']) expect(fromIdKey(idKey(id))).toEqual(id);
    // FNV-1a 32 of the UTF-8 bytes of "s:a" / "n:7": fixed values across runs, platforms and versions
    expect(routeHash('a')).toBe(0xc0b27c6b);
    expect(routeHash(7)).toBe(0x57e4b792);
    const shards = [0, 1, 2, 3].map(() => new ExactIndex<string>({ metric: 'l2', dim: 1 }));
    const sh = new ShardedIndex<string>({ shards, categoryShards: { fashion: [3] }, categoryOf: (id) => (id.startsWith('f') ? 'fashion' : undefined) });
    const ids = Array.from({ length: 200 }, (_, i) => (i % 4 === 0 ? `f${i}` : `p${i}`));
    sh.addItems(ids, Float32Array.from(ids, (_, i) => i));
    expect(shards[3].size).toBe(50);
    expect(shards[3].liveIds().every((id) => id.startsWith('f'))).toBe(true);
    expect(shards.slice(0, 3).every((s) => s.size > 30)).toBe(true); // spread over the general shards
    expect(sh.shardsFor('fashion')).toEqual([3]);
    expect(sh.shardsFor('food')).toEqual([0, 1, 2]);
    sh.markDeleted('f0');
    expect(sh.has('f0')).toBe(false);
    expect(sh.search([0], 1, { shards: [3] }).ids).toEqual(['f4']);
    // explicit categories at add time, no categoryOf: lookups ask every shard
    const s2 = new ShardedIndex<string>({ shards: [0, 1].map(() => new ExactIndex<string>({ metric: 'l2', dim: 1 })), categoryShards: { hot: [1] } });
    s2.addItems(['a', 'b'], [1, 2], { categories: ['hot', null] });
    expect((s2.replicasOf(1)[0] as ExactIndex<string>).has('a')).toBe(true);
    expect(s2.has('a') && s2.has('b')).toBe(true);
    s2.markDeleted('a');
    expect(() => s2.markDeleted('a')).toThrow(UnknownIdError);
    const bad = new ShardedIndex<string>({ shards: [new ExactIndex<string>({ metric: 'l2', dim: 1 })], route: () => 5 });
    expect(() => bad.addItems('x', [1])).toThrow(/route\("x"\) must be an integer in \[0, 0\] \(got 5\)/);
    expect(() => new ShardedIndex({ shards: [new ExactIndex({ metric: 'l2', dim: 1 })], categoryShards: { a: [0] } })).toThrow(InvalidParameterError);
    expect(() => new ShardedIndex({ shards: [new ExactIndex({ metric: 'l2', dim: 1 }), new ExactIndex({ metric: 'l2', dim: 2 })] })).toThrow('shards[1][0].dim must be 1 like shard 0 (got 2)');
    expect(() => new ShardedIndex({ shards: [] })).toThrow(InvalidParameterError);
  });

  it('cuts off a slow shard at its budget and reports it as timed out', async () => {
    const fast = new FakeRemote<string>('l2', 2), slow = new FakeRemote<string>('l2', 2);
    const sh = new ShardedIndex<string>({ shards: [fast, slow], timeoutMs: 50 });
    await sh.addItemsAsync(['a', 'b', 'c', 'd', 'e', 'f'], new Float32Array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]));
    slow.delayMs = 600;
    const t0 = Date.now();
    const r = await sh.searchAsync([0, 0], 3);
    expect(Date.now() - t0).toBeLessThan(400);
    expect(r.partial).toBe(true);
    expect(r.shards).toEqual({ answered: [0], failed: [], timedOut: [1] });
    expect(r.ids).toEqual(fast.inner.search([0, 0], 3).ids);
    // per-search budget overrides
    const full = await sh.searchAsync([0, 0], 3, { timeoutMs: 2000 });
    expect(full.partial).toBe(false);
    expect(full.ids).toEqual(['a', 'b', 'c']);
    const batch = await sh.searchBatch(new Float32Array([0, 0, 5, 5]), 2);
    expect(batch.map((b) => b.shards.timedOut)).toEqual([[1], [1]]);
    await expect(new ShardedIndex<string>({ shards: [fast, slow], timeoutMs: 30, allowPartial: false }).searchAsync([0, 0], 1)).rejects.toThrow(ShardSearchError);
  });

  it('gives a partial answer naming a shard that throws or is down; throws when none answers', async () => {
    const a = new FakeRemote<number>('cosine', 2), b = new FakeRemote<number>('cosine', 2);
    const sh = new ShardedIndex<number>({ shards: [a, b] });
    await sh.addItemsAsync([1, 2, 3, 4, 5, 6], new Float32Array([1, 0, 0, 1, 1, 1, 1, 2, 2, 1, 3, 1]));
    b.down = true;
    const r = await sh.searchAsync([1, 0], 6);
    expect(r.partial).toBe(true);
    expect(r.shards.answered).toEqual([0]);
    expect(r.shards.failed.map((f) => [f.shard, f.reason])).toEqual([[1, 'Error: connect ECONNREFUSED 127.0.0.1:1']]);
    expect(r.ids.length).toBe(a.size);
    a.down = true;
    await expect(sh.searchAsync([1, 0], 2)).rejects.toThrow(/no shard answered/);
    // writes to a down shard: typed error listing the replicas
    await expect(sh.addItemsAsync([10, 11, 12, 13], new Float32Array(8).fill(1))).rejects.toThrow(ShardWriteError);
    // the sync path over local shards: a throwing shard is left out too
    const broken = new ExactIndex<number>({ metric: 'l2', dim: 1 });
    broken.search = () => { throw new Error('disk on fire'); };
    const local = new ShardedIndex<number>({ shards: [new ExactIndex<number>({ metric: 'l2', dim: 1 }), broken] });
    local.addItems([1, 2, 3, 4], [1, 2, 3, 4]);
    const lr = local.search([0], 4);
    expect(lr.partial).toBe(true);
    expect(lr.shards.failed[0]).toMatchObject({ shard: 1, reason: 'Error: disk on fire' });
    // the sync API refuses remote shards, naming them
    expect(() => sh.search([1, 0], 1)).toThrow(/shards\[0\] must be a local \(synchronous\) VectorIndex/);
  });

  it('fails over from a down replica to a healthy one; writes reach every replica', async () => {
    const r0 = new FakeRemote<string>('l2', 1), r1 = new FakeRemote<string>('l2', 1), other = new FakeRemote<string>('l2', 1);
    const sh = new ShardedIndex<string>({ shards: [[r0, r1], other], retryAfterMs: 60_000 });
    await sh.addItemsAsync(['a', 'b', 'c', 'd', 'e'], [1, 2, 3, 4, 5]);
    expect(r0.size).toBe(r1.size);
    expect(r0.size + other.size).toBe(5);
    r0.down = true;
    for (let i = 0; i < 4; i++) {
      const r = await sh.searchAsync([0], 5);
      expect(r.partial).toBe(false);
      expect(r.ids).toEqual(['a', 'b', 'c', 'd', 'e']);
    }
    // after its first failure, r0 is tried last: it was asked at most once more than its share
    expect(r0.searches).toBeLessThanOrEqual(1);
    expect(await sh.hasAsync('a')).toBe(true);
  });

  it('saves every local shard and replica plus a manifest, and loads them back', async () => {
    const dim = 4, n = 150;
    const data = clustered(n, dim, 3);
    const sh = new ShardedIndex<number>({
      shards: [[new HnswIndex<number>({ metric: 'l2', dim }), new ExactIndex<number>({ metric: 'l2', dim })], new ExactIndex<number>({ metric: 'l2', dim })],
      timeoutMs: [100, 200], categoryShards: { hot: [1] },
    });
    sh.addItems(Array.from({ length: n }, (_, i) => i), data, { categories: Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 'hot' : null)) });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'pinrec-sharded-')), 'pins.sharded');
    await sh.save(file);
    const back = await ShardedIndex.load<number>(file);
    expect(back.timeoutMs).toEqual([100, 200]);
    expect(back.replicasOf(0).map((r) => r.constructor.name)).toEqual(['HnswIndex', 'ExactIndex']);
    expect(back.shardSizes()).toEqual(sh.shardSizes());
    expect(back.search(row(data, dim, 7), 10).ids).toEqual(sh.search(row(data, dim, 7), 10).ids);
    expect(back.shardsFor('hot')).toEqual([1]);
    const remote = new ShardedIndex<number>({ shards: [new ExactIndex<number>({ metric: 'l2', dim }), new FakeRemote<number>('l2', dim)] });
    await remote.save(file);
    await expect(ShardedIndex.load(file)).rejects.toThrow(/options.remote must be given: shard 1 replica 0 is remote/);
    const again = await ShardedIndex.load<number>(file, { remote: () => new FakeRemote<number>('l2', dim) });
    expect(again.isLocal).toBe(false);
    await sh.close();
  });
});
