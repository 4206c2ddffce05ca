/**
 * UsearchIndex-specific behaviour: recall against exact search per metric, the same answers as HnswIndex's
 * conventions, ef (changeable, >= k), filters that return k, upserts and deletes, multi-threaded build,
 * thread-context fallback, memory limits, options, close(), and the file format (round trip, truncated /
 * altered / foreign files). Crafted usearch graphs are in crafted-usearch.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FileFormatError, InvalidParameterError } from '../../src/core/errors.js';
import { readContainer, writeContainer } from '../../src/core/container.js';
import { Rng } from '../../src/core/rng.js';
import type { Metric } from '../../src/core/types.js';
import { ExactIndex, HnswIndex, UsearchIndex, recallAtK, usearchIndexBytes, type UsearchIndexOptions } from '../../src/ann/index.js';
import { clustered, row } from './helpers.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'pinrec-usearch-test-'));
const ROOT = path.resolve(__dirname, '../..');

function build(metric: Metric, n: number, dim: number, seed: number, opts: Partial<UsearchIndexOptions> = {}) {
  const data = clustered(n, dim, seed, 20);
  const ids = Array.from({ length: n }, (_, i) => i);
  const index = new UsearchIndex<number>({ metric, dim, M: 12, efConstruction: 100, ef: 64, ...opts });
  index.addItems(ids, data);
  const exact = new ExactIndex<number>({ metric, dim });
  exact.addItems(ids, data);
  return { data, ids, index, exact };
}

describe('UsearchIndex recall against exact search (seeded)', () => {
  it.each([['l2', 128], ['cosine', 128], ['ip', 256]] as [Metric, number][])('recall@10 >= 0.95 on 3,000 clustered 24-d vectors (%s, ef %i)', async (metric, ef) => {
    const { index, exact } = build(metric, 3000, 24, 11, { M: 16, efConstruction: 200 });
    const queries = clustered(100, 24, 12, 20);
    const approx = await index.searchBatch(queries, 10, { threads: 1, ef });
    const truth = await exact.searchBatch(queries, 10);
    expect(recallAtK(approx, truth, 10)).toBeGreaterThanOrEqual(0.95);
    // single searches agree with the batch
    for (let q = 0; q < 10; q++) expect(index.search(row(queries, 24, q), 10, { ef }).ids).toEqual(approx[q].ids);
  });

  it('scores follow HnswIndex\'s conventions exactly (same distances and similarities per metric)', () => {
    for (const metric of ['l2', 'cosine', 'ip'] as Metric[]) {
      const data = clustered(500, 8, 3, 5);
      const ids = Array.from({ length: 500 }, (_, i) => i);
      const u = new UsearchIndex<number>({ metric, dim: 8 });
      const h = new HnswIndex<number>({ metric, dim: 8 });
      u.addItems(ids, data); h.addItems(ids, data);
      const q = row(clustered(1, 8, 4, 5), 8, 0);
      const a = u.search(q, 10, { ef: 400 }), b = h.search(q, 10, { ef: 400 });
      expect(a.ids).toEqual(b.ids);
      for (let i = 0; i < 10; i++) {
        expect(a.distances[i]).toBeCloseTo(b.distances[i], 4);
        expect(a.similarities[i]).toBeCloseTo(b.similarities[i], 4);
      }
    }
  });

  it('10% allow-set filter: k results, all allowed, recall@10 >= 0.95 against exact filtered search', async () => {
    const { index, exact, ids } = build('l2', 3000, 24, 13, { ef: 10 });
    const allow = new Rng(5).shuffle(ids.slice()).slice(0, 300);
    const allowSet = new Set(allow);
    const queries = clustered(60, 24, 14, 20);
    const approx = await index.searchBatch(queries, 10, { filter: { allow } });
    const truth = await exact.searchBatch(queries, 10, { filter: { allow } });
    for (const r of approx) { expect(r.ids).toHaveLength(10); expect(r.ids.every((id) => allowSet.has(id))).toBe(true); }
    expect(recallAtK(approx, truth, 10)).toBeGreaterThanOrEqual(0.95);
    for (let q = 0; q < 5; q++) expect(index.search(row(queries, 24, q), 10, { filter: { allow } }).ids).toEqual(approx[q].ids);
  });

  it('a 2% predicate and a very selective deny filter still return k (or every allowed item)', async () => {
    const { index, exact, ids } = build('l2', 2000, 16, 15, { ef: 10 });
    const q = row(clustered(1, 16, 16, 20), 16, 0);
    const p = index.search(q, 10, { filter: (id) => id % 50 === 0 });
    expect(p.ids).toHaveLength(10);
    expect(p.ids.every((id) => id % 50 === 0)).toBe(true);
    expect(p.ids).toEqual(exact.search(q, 10, { filter: (id) => id % 50 === 0 }).ids);
    const keep = new Set([3, 77, 500, 1999, 1200, 800]);
    const deny = ids.filter((i) => !keep.has(i));
    const r = index.search(q, 10, { filter: { deny } });
    expect(new Set(r.ids)).toEqual(keep);
    expect(r.ids).toEqual(exact.search(q, 10, { filter: { deny } }).ids);
    const batch = await index.searchBatch(clustered(8, 16, 17, 20), 10, { filter: (id) => id % 50 === 0, threads: 2 });
    for (const b of batch) expect(b.ids).toHaveLength(10);
  });

  it('ef: a search uses max(ef, k); ef is settable and per search; larger ef does not lower recall', async () => {
    const { index, exact, data } = build('l2', 2000, 16, 19, { ef: 5 });
    const q = row(data, 16, 42);
    const r = index.search(q, 100);
    expect(r.ids).toHaveLength(100);
    expect(recallAtK([r], [exact.search(q, 100)], 100)).toBeGreaterThanOrEqual(0.9);
    const queries = clustered(50, 16, 20, 20);
    const truth = await exact.searchBatch(queries, 10);
    const low = recallAtK(await index.searchBatch(queries, 10, { ef: 10 }), truth, 10);
    index.ef = 200;
    expect(index.ef).toBe(200);
    const high = recallAtK(await index.searchBatch(queries, 10), truth, 10);
    expect(high).toBeGreaterThanOrEqual(low);
    expect(high).toBeGreaterThanOrEqual(0.98);
    expect(() => { index.ef = 0; }).toThrow(InvalidParameterError);
    expect(() => index.search(q, 1, { ef: 2.5 })).toThrow(/ef must be an integer/);
  });
});

describe('UsearchIndex updates', () => {
  it('upserts replace vectors (graph repaired, recall kept); the last row of a repeated id wins', async () => {
    const { index, exact, ids } = build('l2', 2000, 16, 21);
    const moved = clustered(2000, 16, 22, 20);
    const half = ids.slice(0, 1000);
    index.addItems(half, moved.subarray(0, 1000 * 16));
    exact.addItems(half, moved.subarray(0, 1000 * 16));
    expect(index.size).toBe(2000);
    expect(Array.from(index.getVector(7))).toEqual(Array.from(row(moved, 16, 7)));
    const queries = clustered(50, 16, 23, 20);
    expect(recallAtK(await index.searchBatch(queries, 10, { threads: 1 }), await exact.searchBatch(queries, 10), 10)).toBeGreaterThanOrEqual(0.95);
    index.addItems([5000, 5000, 7], new Float32Array([...new Array(16).fill(1), ...new Array(16).fill(2), ...new Array(16).fill(3)]));
    expect(Array.from(index.getVector(5000))).toEqual(new Array(16).fill(2));
    expect(Array.from(index.getVector(7))).toEqual(new Array(16).fill(3));
    expect(index.size).toBe(2001);
    expect(index.search(new Float32Array(16).fill(2), 1).ids).toEqual([5000]);
  });

  it('deletes: never returned, slots reused by later insertions, revived by re-adding', () => {
    const { index, data } = build('cosine', 1000, 8, 25);
    const cap = index.capacity;
    for (let i = 0; i < 500; i++) index.markDeleted(i);
    expect(index.size).toBe(500);
    for (let t = 0; t < 20; t++) {
      const r = index.search(row(data, 8, t), 20);
      expect(r.ids).toHaveLength(20);
      expect(r.ids.every((id) => id >= 500)).toBe(true);
    }
    index.addItems(Array.from({ length: 500 }, (_, i) => 10_000 + i), data.subarray(0, 500 * 8));
    expect(index.capacity).toBe(cap); // removed slots were reused
    index.addItems(3, row(data, 8, 3));
    expect(index.has(3)).toBe(true);
    expect(index.search(row(data, 8, 3), 2).ids.sort((a, b) => a - b)).toEqual([3, 10_003]);
  });

  it('multi-threaded build: the same set of ids, all searchable, recall like a 1-thread build', async () => {
    const data = clustered(3000, 16, 27, 20);
    const ids = Array.from({ length: 3000 }, (_, i) => `p${i}`);
    const one = new UsearchIndex<string>({ metric: 'l2', dim: 16, threads: 1 });
    const two = new UsearchIndex<string>({ metric: 'l2', dim: 16, threads: 2 });
    one.addItems(ids, data);
    two.addItems(ids, data, { threads: 2 });
    expect(two.size).toBe(3000);
    expect(ids.every((id) => two.has(id) && one.has(id))).toBe(true);
    const exact = new ExactIndex<string>({ metric: 'l2', dim: 16 });
    exact.addItems(ids, data);
    const queries = clustered(50, 16, 28, 20);
    const truth = await exact.searchBatch(queries, 10);
    expect(recallAtK(await two.searchBatch(queries, 10, { ef: 64 }), truth, 10)).toBeGreaterThanOrEqual(0.95);
    // every id is the nearest neighbour of its own vector
    const self = await two.searchBatch(data.subarray(0, 200 * 16), 1);
    expect(self.map((r) => r.ids[0])).toEqual(ids.slice(0, 200));
  });

  it('a build with threads: 1 is reproducible (same file bytes)', async () => {
    const data = clustered(1500, 12, 29, 10);
    const ids = Array.from({ length: 1500 }, (_, i) => i);
    const graphs: string[] = [];
    const dir = tmp();
    for (let t = 0; t < 2; t++) {
      const index = new UsearchIndex<number>({ metric: 'cosine', dim: 12 });
      index.addItems(ids, data, { threads: 1 });
      await index.save(path.join(dir, `${t}.usearch`));
      const c = await readContainer(path.join(dir, `${t}.usearch`));
      graphs.push(Buffer.from(c.sections.get('graph') as Uint8Array).toString('base64'));
    }
    expect(graphs[0]).toBe(graphs[1]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('when usearch has fewer thread contexts than asked, adds and batch searches fall back to one thread with the same outcome', async () => {
    const { index, data } = build('l2', 1500, 8, 31, { threads: 2 });
    const queries = data.subarray(0, 50 * 8);
    const before = await index.searchBatch(queries, 5, { threads: 1 });
    // pretend the index believes in more contexts than usearch reserved (as after a load on a smaller machine)
    (index as unknown as { contexts: number }).contexts = 64;
    (index as unknown as { threads: number }).threads = 64;
    expect((await index.searchBatch(queries, 5, { threads: 64 })).map((r) => r.ids)).toEqual(before.map((r) => r.ids));
    (index as unknown as { contexts: number }).contexts = 64;
    const extra = clustered(100, 8, 32, 20);
    index.addItems(Array.from({ length: 100 }, (_, i) => 9000 + i), extra, { threads: 64 });
    expect(index.size).toBe(1600);
    for (let i = 0; i < 100; i += 9) expect(index.search(row(extra, 8, i), 1).ids).toEqual([9000 + i]);
  });

  it('reports progress every 1,000 vectors and at the end', () => {
    const seen: number[] = [];
    const index = new UsearchIndex<number>({ metric: 'l2', dim: 4 });
    index.addItems(Array.from({ length: 2500 }, (_, i) => i), clustered(2500, 4, 1), { onProgress: (p) => seen.push(p.done) });
    expect(seen).toEqual([1000, 2000, 2500]);
  });
});

describe('UsearchIndex options, limits, backend, close', () => {
  it('validates options with InvalidParameterError naming the parameter', () => {
    const bad: [Partial<UsearchIndexOptions>, string][] = [
      [{ M: 1 }, 'M'], [{ M: 2.5 }, 'M'], [{ efConstruction: 0 }, 'efConstruction'], [{ ef: 0 }, 'ef'], [{ capacity: 0 }, 'capacity'],
      [{ threads: 0 }, 'threads'], [{ threads: 1.5 }, 'threads'], [{ maxMemoryBytes: 0 }, 'maxMemoryBytes'], [{ dim: 0 }, 'dim'],
      [{ metric: 'hamming' as Metric }, 'metric'],
    ];
    for (const [o, name] of bad) {
      let err: unknown;
      try { new UsearchIndex({ metric: 'l2', dim: 4, ...o }); } catch (e) { err = e; }
      expect(err, name).toBeInstanceOf(InvalidParameterError);
      expect((err as InvalidParameterError).parameter).toBe(name);
    }
    expect(() => new UsearchIndex({ metric: 'l2', dim: 4, M: 1 })).toThrow('M must be an integer in [2, 1024] (got 1)');
    expect(() => new UsearchIndex(undefined as never)).toThrow(InvalidParameterError);
    const index = new UsearchIndex({ metric: 'l2', dim: 4 });
    index.addItems(1, [1, 2, 3, 4]);
    expect(() => index.addItems(2, [1, 2, 3, 4], { threads: 0 })).toThrow(/threads must be/);
    expect(index.has(2)).toBe(false);
    return expect(index.searchBatch(new Float32Array([1, 2, 3, 4]), 1, { threads: 0 })).rejects.toThrow(/threads must be/);
  });

  it('refuses a capacity or a growth above maxMemoryBytes before allocating, leaving the index unchanged', () => {
    const err = (() => { try { new UsearchIndex({ metric: 'l2', dim: 128, capacity: 10_000, maxMemoryBytes: 1_000_000 }); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect((err as InvalidParameterError).parameter).toBe('capacity');
    expect((err as Error).message).toMatch(/maxMemoryBytes = 1000000 bytes/);
    const dim = 32;
    const limit = Math.floor(usearchIndexBytes(300, dim, 16) * 1.2);
    const index = new UsearchIndex<number>({ metric: 'l2', dim, capacity: 100, maxMemoryBytes: limit });
    const vecs = (n: number, from: number) => Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i + from * dim));
    index.addItems(Array.from({ length: 250 }, (_, i) => i), vecs(250, 0));
    expect(() => index.addItems(Array.from({ length: 200 }, (_, i) => 1000 + i), vecs(200, 1000))).toThrow(/capacity/);
    expect(index.size).toBe(250);
    expect(index.has(1000)).toBe(false);
    expect(index.search(vecs(1, 5), 1).ids).toEqual([5]);
    // upserts of existing ids need no new memory
    index.addItems([1, 2], vecs(2, 9));
    expect(index.size).toBe(250);
  });

  it('numeric domain: cosine from 1e-30 to 1e30 as unit vectors; l2/ip components that would overflow are refused', async () => {
    const base = [[1, 0, 0], [0.8, 0.6, 0], [0, 0, 1], [0.6, 0, 0.8]];
    for (const scale of [1e-30, 1e-20, 1, 1e20, 1e30]) {
      const u = new UsearchIndex<number>({ metric: 'cosine', dim: 3 });
      u.addItems([0, 1, 2, 3], Float32Array.from(base.flat(), (x) => x * scale));
      const q = Float32Array.from([0.9 * scale, 0.1 * scale, 0.05 * scale]);
      expect(u.search(q, 4, { ef: 1 }).ids).toEqual([0, 1, 3, 2]);
      expect(Array.from(u.getVector(2))).toEqual([0, 0, 1]);
      expect((await u.searchBatch(Float32Array.from([...q, ...q]), 2, { threads: 2 })).map((r) => r.ids)).toEqual([[0, 1], [0, 1]]);
    }
    for (const metric of ['l2', 'ip'] as const) {
      const u = new UsearchIndex({ metric, dim: 4 });
      expect(() => u.addItems('a', [1e20, 0, 0, 0])).toThrow(/vectors\[0\] must be at most/);
      expect(() => u.search([0, 0, -1e20, 0], 1)).toThrow(/query\[2\]/);
      u.addItems('a', [1e17, 0, 0, 0]);
      expect(Number.isFinite(u.search([-1e17, 0, 0, 0], 1).distances[0])).toBe(true);
    }
    // sizes no process could hold: a typed error before anything is allocated
    expect(() => new UsearchIndex({ metric: 'l2', dim: 65536, capacity: 1e6 })).toThrow(/capacity must be at most/);
  });

  it('reports its backend: usearch, its version and the SIMD targets', () => {
    const b = new UsearchIndex({ metric: 'l2', dim: 2 }).backend;
    expect(b.library).toBe('usearch');
    expect(b.version).toMatch(/^2\.\d+\.\d+$/);
    expect(b.hardwareAcceleration === null || typeof b.hardwareAcceleration === 'string').toBe(true);
  });

  it('close() resolves, is idempotent, and leaves the index usable', async () => {
    const { index, data } = build('l2', 300, 4, 33);
    await index.searchBatch(data.subarray(0, 40), 3, { threads: 2 });
    await index.close();
    await index.close();
    expect(index.search(row(data, 4, 1), 1).ids).toEqual([1]);
    index.addItems(9999, row(data, 4, 2));
    expect((await index.searchBatch(data.subarray(0, 8), 1, { threads: 2 }))[0].ids).toEqual([0]);
  });

  it('a script that builds on 2 threads, searches in batch and awaits close() exits 0 with all its output', () => {
    const dir = tmp();
    try {
      const script = path.join(dir, 'main.mts');
      writeFileSync(script, `
        import { UsearchIndex } from ${JSON.stringify(path.join(ROOT, 'src/ann/index.ts'))};
        const dim = 16, n = 2000;
        const v = Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i));
        const index = new UsearchIndex({ metric: 'cosine', dim, threads: 2 });
        index.addItems(Array.from({ length: n }, (_, i) => i), v);
        const r = await index.searchBatch(v.subarray(0, 100 * dim), 10, { threads: 2 });
        await index.close();
        console.log('closed', r.length);
      `);
      const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe('closed 100');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('UsearchIndex files', () => {
  async function saved() {
    const { index, data } = build('cosine', 400, 8, 41);
    index.markDeleted(7);
    index.addItems(3, row(data, 8, 9)); // an upsert: a removed slot reused
    index.ef = 33;
    const file = path.join(tmp(), 'pins.usearch');
    await index.save(file);
    return { index, data, file };
  }

  it('round-trips settings, deletions and answers (identical results), and stays updatable', async () => {
    const { index, data, file } = await saved();
    const back = await UsearchIndex.load<number>(file);
    expect([back.metric, back.dim, back.M, back.efConstruction, back.ef, back.size]).toEqual(['cosine', 8, 12, 100, 33, 399]);
    expect(back.has(7)).toBe(false);
    expect(Array.from(back.getVector(3))).toEqual(Array.from(index.getVector(3)));
    const queries = clustered(30, 8, 42, 20);
    expect(await back.searchBatch(queries, 10, { ef: 16 })).toEqual(await index.searchBatch(queries, 10, { ef: 16 }));
    for (let q = 0; q < 30; q++) expect(back.search(row(queries, 8, q), 10, { filter: (id) => id % 2 === 0 })).toEqual(index.search(row(queries, 8, q), 10, { filter: (id) => id % 2 === 0 }));
    back.addItems(1000, row(data, 8, 5));
    back.addItems(7, row(data, 8, 6));
    expect(back.size).toBe(401);
    expect(back.search(row(data, 8, 6), 2).ids.sort((a, b) => a - b)).toEqual([6, 7]);
  });

  it('rejects a truncated file', async () => {
    const { file } = await saved();
    const buf = readFileSync(file);
    for (const len of [0, 10, 100, buf.length >> 1, buf.length - 1]) {
      writeFileSync(file, buf.subarray(0, len));
      await expect(UsearchIndex.load(file)).rejects.toThrow(FileFormatError);
    }
  });

  it('rejects an altered file (one flipped byte anywhere)', async () => {
    const { file } = await saved();
    const buf = readFileSync(file);
    const rng = new Rng(3);
    for (let t = 0; t < 12; t++) {
      const b = Buffer.from(buf);
      b[rng.int(b.length)] ^= 0x40;
      writeFileSync(file, b);
      await expect(UsearchIndex.load(file)).rejects.toThrow(FileFormatError);
    }
  });

  it('rejects foreign files: random bytes, an HnswIndex file, a wrong version, malformed meta, a graph for another header', async () => {
    const dir = tmp();
    const junk = path.join(dir, 'junk.bin');
    writeFileSync(junk, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) & 255)));
    await expect(UsearchIndex.load(junk)).rejects.toThrow(/not a pinrec file/);
    const h = new HnswIndex<number>({ metric: 'l2', dim: 2 });
    h.addItems(1, [1, 2]);
    const hf = path.join(dir, 'h.bin');
    await h.save(hf);
    await expect(UsearchIndex.load(hf)).rejects.toThrow(/holds a 'pinrec.ann.hnsw', expected a 'pinrec.ann.usearch'/);
    const bad = path.join(dir, 'bad.bin');
    await writeContainer(bad, 'pinrec.ann.usearch', 2, {}, {});
    await expect(UsearchIndex.load(bad)).rejects.toThrow(/unsupported pinrec.ann.usearch version 2/);
    await writeContainer(bad, 'pinrec.ann.usearch', 1, { metric: 'l1', dim: 2 }, {});
    await expect(UsearchIndex.load(bad)).rejects.toThrow(/header meta is malformed \(metric must be/);
    const { file } = await saved();
    const c = await readContainer<Record<string, unknown>>(file, 'pinrec.ann.usearch');
    const sections = Object.fromEntries(c.sections) as Record<string, Uint8Array>;
    for (const [meta, re] of [
      [{ dim: 4 }, /rows are 32 bytes, expected 16/],
      [{ M: 16 }, /connectivity 12\/24 does not match M 16/],
      [{ metric: 'l2' }, /metric kind 105 does not match/],
      [{ count: 400 }, /id table disagrees with the header/],
    ] as const) {
      await writeContainer(bad, c.kind, c.version, { ...c.meta, ...meta }, sections);
      await expect(UsearchIndex.load(bad)).rejects.toThrow(re);
    }
    await writeContainer(bad, c.kind, c.version, c.meta, { ...sections, deleted: new Uint32Array([8]) });
    await expect(UsearchIndex.load(bad)).rejects.toThrow(FileFormatError);
    await writeContainer(bad, c.kind, c.version, c.meta, { ...sections, graph: new Uint8Array(64) });
    await expect(UsearchIndex.load(bad)).rejects.toThrow(/usearch/);
  });
});

describe("UsearchIndex with quantization: 'f16'", () => {
  it('recall@10 >= 0.95 against exact float32 search (cosine and l2), and file round trips give the same answers', async () => {
    for (const metric of ['cosine', 'l2'] as Metric[]) {
      const { index, exact } = build(metric, 3000, 24, 21, { M: 16, efConstruction: 200, quantization: 'f16' });
      expect(index.quantization).toBe('f16');
      const queries = clustered(100, 24, 22, 20);
      const approx = await index.searchBatch(queries, 10, { threads: 1, ef: 128 });
      expect(recallAtK(approx, await exact.searchBatch(queries, 10), 10)).toBeGreaterThanOrEqual(0.95);
      const dir = tmp();
      try {
        const file = path.join(dir, 'f16.usearch');
        await index.save(file);
        const again = await UsearchIndex.load<number>(file);
        expect(again.quantization).toBe('f16');
        const back = await again.searchBatch(queries, 10, { threads: 1, ef: 128 });
        for (let q = 0; q < queries.length / 24; q++) expect(back[q].ids).toEqual(approx[q].ids);
        // the usearch bytes hold f16 vectors: read as f32 they are refused, never handed to usearch
        const c = await readContainer<Record<string, unknown>>(file, 'pinrec.ann.usearch');
        const other = path.join(dir, 'as-f32.usearch');
        await writeContainer(other, 'pinrec.ann.usearch', c.version, { ...c.meta, quantization: 'f32' }, Object.fromEntries(c.sections));
        await expect(UsearchIndex.load(other)).rejects.toThrow(FileFormatError);
        await expect(UsearchIndex.load(other)).rejects.toThrow(/vector rows are 48 bytes, expected 96 \(dim 24, f32\)/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
  it('refuses an l2/ip component beyond half precision, naming it, and an unknown quantization', () => {
    const index = new UsearchIndex<number>({ metric: 'l2', dim: 2, quantization: 'f16' });
    expect(() => index.addItems([1], Float32Array.from([1, 70000]))).toThrow(InvalidParameterError);
    expect(() => index.addItems([1], Float32Array.from([1, 70000]))).toThrow(/vectors\[1\]/);
    expect(index.size).toBe(0);
    expect(() => new UsearchIndex({ metric: 'l2', dim: 2, quantization: 'i8' as never })).toThrow(/quantization/);
  });
});
