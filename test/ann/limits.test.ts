/**
 * Native limits (hardening): sizes the native hnswlib index (or the exact index's Float32Array) cannot allocate
 * are refused before the call with an InvalidParameterError naming the parameter and the bytes, instead of
 * aborting the process or throwing an untyped std::bad_alloc / RangeError. Same for automatic growth.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExactIndex, HnswIndex } from '../../src/ann/index.js';
import { hnswNativeBytes } from '../../src/ann/hnsw.js';
import { InvalidParameterError } from '../../src/core/errors.js';

const ROOT = path.resolve(__dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('HnswIndex native limits', () => {
  it('the cases that aborted the process (or gave std::bad_alloc) now give a typed error and exit 0', () => {
    const script = path.join(dir, 'abort.mts');
    writeFileSync(script, `
      import { HnswIndex } from ${JSON.stringify(path.join(ROOT, 'src/ann/index.ts'))};
      const out = [];
      for (const o of [{ metric: 'l2', dim: 65536, capacity: 1e6 }, { metric: 'l2', dim: 1, capacity: 2 ** 32 - 1 }, { metric: 'cosine', dim: 65536, capacity: 2 ** 32 - 1, M: 1024 }]) {
        try { new HnswIndex(o); out.push('built'); }
        catch (e) { out.push({ name: e.name, parameter: e.parameter, message: e.message }); }
      }
      console.log(JSON.stringify(out));
    `);
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { name: string; parameter: string; message: string }[];
    expect(out).toHaveLength(3);
    for (const e of out) {
      expect(e.name).toBe('InvalidParameterError');
      expect(e.parameter).toBe('capacity');
      expect(e.message).toMatch(/bytes/);
      expect(e.message).toMatch(/maxMemoryBytes/);
    }
  });

  it('refuses a construction above maxMemoryBytes and accepts one below', () => {
    const err = (() => { try { new HnswIndex({ metric: 'l2', dim: 128, capacity: 10_000, maxMemoryBytes: 1_000_000 }); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect((err as InvalidParameterError).parameter).toBe('capacity');
    expect((err as Error).message).toMatch(/dim 128/);
    const ok = new HnswIndex({ metric: 'l2', dim: 128, capacity: 100, maxMemoryBytes: 1_000_000 });
    expect(ok.capacity).toBe(100);
    expect(() => new HnswIndex({ metric: 'l2', dim: 4, maxMemoryBytes: 0 })).toThrow(/maxMemoryBytes/);
    expect(() => new HnswIndex({ metric: 'l2', dim: 4, maxMemoryBytes: NaN })).toThrow(InvalidParameterError);
  });

  it('growth (doubling) stays under maxMemoryBytes: falls back to what fits, then refuses without changing the index', () => {
    const dim = 32;
    const limit = hnswNativeBytes(300, dim, 16);
    const index = new HnswIndex<number>({ metric: 'l2', dim, capacity: 100, maxMemoryBytes: limit });
    const vecs = (n: number, from: number) => Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i + from * dim));
    const ids = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);
    index.addItems(ids(200, 0), vecs(200, 0));
    expect(index.capacity).toBe(200); // doubled
    index.addItems(ids(90, 200), vecs(90, 200));
    expect(index.capacity).toBe(300); // doubling to 400 would pass the limit: the most that fits
    let err: unknown;
    try { index.addItems(ids(20, 290), vecs(20, 290)); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect((err as InvalidParameterError).parameter).toBe('capacity');
    expect((err as InvalidParameterError).value).toBe(310);
    expect((err as Error).message).toMatch(/maxMemoryBytes/);
    expect(index.size).toBe(290);
    expect(index.capacity).toBe(300);
    expect(index.has(290)).toBe(false);
    expect(index.search(vecs(1, 3), 1).ids).toEqual([3]);
    index.addItems(ids(10, 290), vecs(10, 290)); // exactly full still works
    expect(index.size).toBe(300);
  });
});

describe('ExactIndex limits', () => {
  it('a capacity whose Float32Array cannot exist gives InvalidParameterError (not a RangeError)', () => {
    const err = (() => { try { new ExactIndex({ metric: 'l2', dim: 65536, capacity: 2 ** 31 - 1 }); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect((err as InvalidParameterError).parameter).toBe('capacity');
    expect((err as Error).message).toMatch(/bytes/);
  });

  it('growth stays under maxMemoryBytes and refuses without changing the index', () => {
    const dim = 16;
    const index = new ExactIndex<number>({ metric: 'l2', dim, capacity: 8, maxMemoryBytes: 100_000 });
    const vecs = (n: number) => Float32Array.from({ length: n * dim }, (_, i) => i % 7);
    index.addItems(Array.from({ length: 1000 }, (_, i) => i), vecs(1000)); // 1000 slots of 65 B fit in 100 kB
    expect(index.size).toBe(1000);
    let err: unknown;
    try { index.addItems(Array.from({ length: 2000 }, (_, i) => 5000 + i), vecs(2000)); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect((err as InvalidParameterError).parameter).toBe('capacity');
    expect(index.size).toBe(1000);
    expect(index.has(5000)).toBe(false);
    expect(() => new ExactIndex({ metric: 'l2', dim: 4, maxMemoryBytes: -1 })).toThrow(/maxMemoryBytes/);
  });
});
