import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import {
  DEFAULT_WEIGHTS, interactionsFromColumns, interactionsFromRecords, interactionsFromArrow, readArrowFile,
  readSequenceFile, readRatingsCsv, syntheticInteractions,
} from '../../src/cf/index.js';
import { InvalidParameterError, FileFormatError } from '../../src/core/index.js';

function dense(m: ReturnType<ReturnType<typeof interactionsFromColumns>['toMatrix']>): number[][] {
  const out = Array.from({ length: m.nUsers }, () => new Array(m.nItems).fill(0));
  const { indptr, indices, data } = m.csr;
  for (let r = 0; r < m.nUsers; r++) for (let p = indptr[r]; p < indptr[r + 1]; p++) out[r][indices[p]] = data[p];
  return out;
}

describe('interactions', () => {
  it('weighs types by the seed defaults and sums duplicates', () => {
    expect(DEFAULT_WEIGHTS).toMatchObject({ create: 5, repin: 3, save: 3, closeup: 2, click: 1 });
    const log = interactionsFromColumns({
      users: ['a', 'a', 'b', 'a', 'b'],
      items: ['p1', 'p2', 'p1', 'p1', 'p3'],
      types: ['click', 'repin', 'create', 'closeup', 'save'],
    });
    const m = log.toMatrix();
    expect(m.users.ids()).toEqual(['a', 'b']);
    expect(m.items.ids()).toEqual(['p1', 'p2', 'p3']);
    expect(dense(m)).toEqual([[3, 3, 0], [5, 0, 3]]);
  });

  it('combines duplicates by max, last (by timestamp) and binary', () => {
    const cols = { users: [1, 1, 1], items: [9, 9, 9], weights: [2, 5, 1], timestamps: [10, 5, 20] };
    const log = interactionsFromColumns(cols);
    expect(dense(log.toMatrix({ combine: 'max' }))).toEqual([[5]]);
    expect(dense(log.toMatrix({ combine: 'last' }))).toEqual([[1]]);
    expect(dense(log.toMatrix({ combine: 'binary' }))).toEqual([[1]]);
    expect(dense(log.toMatrix({ combine: 'sum' }))).toEqual([[8]]);
    expect(() => log.toMatrix({ combine: 'avg' as never })).toThrow(/combine/);
  });

  it('keeps CSR columns sorted and matches a naive build on random input', () => {
    const log = syntheticInteractions({ users: 50, items: 40, events: 2000, seed: 3 });
    const m = log.toMatrix();
    const naive = Array.from({ length: 50 }, () => new Array(40).fill(0));
    for (let e = 0; e < log.length; e++) naive[log.user[e]][log.item[e]] += log.weight[e];
    const d = dense(m);
    for (let r = 0; r < 50; r++) for (let c = 0; c < 40; c++) expect(d[r][c]).toBeCloseTo(naive[r][c], 4);
    for (let r = 0; r < m.nUsers; r++) {
      for (let p = m.csr.indptr[r] + 1; p < m.csr.indptr[r + 1]; p++) expect(m.csr.indices[p]).toBeGreaterThan(m.csr.indices[p - 1]);
    }
  });

  it('accepts typed arrays, records and bigint ids', () => {
    const a = interactionsFromColumns({ users: Int32Array.of(5, 6), items: BigInt64Array.of(10n, 11n) as unknown as bigint[], weights: Float32Array.of(1, 2) });
    expect(a.items.ids()).toEqual([10n, 11n]);
    const b = interactionsFromRecords([{ user: 'u', item: 7n, type: 'click' }, { user: 'u', item: 8n, type: 'repin' }]);
    expect(dense(b.toMatrix())).toEqual([[1, 3]]);
  });

  it('rejects bad input with errors that name the parameter and the value', () => {
    const base = { users: ['a', 'b'], items: ['x', 'y'] };
    const bad = (cols: object, re: RegExp) => {
      let err: unknown;
      try { interactionsFromColumns({ ...base, ...cols } as never); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InvalidParameterError);
      expect(String((err as Error).message)).toMatch(re);
    };
    bad({ weights: [1, NaN] }, /weights\[1\].*got NaN/);
    bad({ weights: [1, Infinity] }, /weights\[1\].*Infinity/);
    bad({ weights: [-1, 1] }, /weights\[0\].*got -1/);
    bad({ types: ['click', 'poke'] }, /types\[1\].*"poke"/);
    bad({ users: [], items: [] }, /users.*non-empty/);
    bad({ items: ['x'] }, /items.length/);
    bad({ users: ['a', NaN] }, /users\[1\]/);
    bad({ types: ['click', 'click'], weights: [1, 1] }, /types/);
    expect(() => interactionsFromColumns({ ...base, types: ['a', 'b'] }, { typeWeights: { a: 1, b: -2 } })).toThrow(/typeWeights.b/);
  });

  it('reads Arrow tables and IPC files, with types or weights', async () => {
    const t = tableFromArrays({ user: ['u1', 'u1', 'u2'], item: ['p1', 'p2', 'p2'], type: ['create', 'click', 'repin'], timestamp: Float64Array.of(1, 2, 3) });
    const log = interactionsFromArrow(t);
    expect(dense(log.toMatrix())).toEqual([[5, 1], [0, 3]]);
    expect(Array.from(log.time!)).toEqual([1, 2, 3]);
    const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-arrow-'));
    const f = path.join(dir, 'x.arrow');
    writeFileSync(f, tableToIPC(tableFromArrays({ uid: Int32Array.of(1, 2), pid: Int32Array.of(3, 3), w: Float32Array.of(0.5, 2) }), 'file'));
    const log2 = await readArrowFile(f, { user: 'uid', item: 'pid', weight: 'w' });
    expect(dense(log2.toMatrix())).toEqual([[0.5], [2]]);
    await expect(readArrowFile(f, { user: 'nope' })).rejects.toThrow(/columns.user/);
    writeFileSync(f, 'not arrow');
    await expect(readArrowFile(f)).rejects.toThrow(FileFormatError);
  });

  it('reads sequence files and rating CSVs', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-io-'));
    const seq = path.join(dir, 's.txt');
    writeFileSync(seq, '1 10 11 12\n2 11 13\n');
    const log = await readSequenceFile(seq);
    expect(log.length).toBe(5);
    expect(Array.from(log.time!)).toEqual([1, 2, 3, 1, 2]);
    const csv = path.join(dir, 'r.csv');
    writeFileSync(csv, 'userId,movieId,rating,timestamp\n1,5,4.0,100\n1,6,2.0,101\n2,5,5.0,99\n');
    const r = await readRatingsCsv(csv, { minRating: 4 });
    expect(r.length).toBe(2);
    await expect(readSequenceFile(path.join(dir, 'missing.txt'))).rejects.toThrow(FileFormatError);
  });
});

describe('syntheticInteractions', () => {
  it('is deterministic per seed, uses the seed type weights, and validates options', () => {
    const a = syntheticInteractions({ users: 100, items: 50, events: 1000, seed: 3 });
    const b = syntheticInteractions({ users: 100, items: 50, events: 1000, seed: 3 });
    const c = syntheticInteractions({ users: 100, items: 50, events: 1000, seed: 4 });
    expect(Array.from(a.item)).toEqual(Array.from(b.item));
    expect(Array.from(a.item)).not.toEqual(Array.from(c.item));
    expect(new Set(a.weight)).toEqual(new Set([1, 2, 3, 5]));
    expect(() => syntheticInteractions({ users: 1 })).toThrow(/users/);
    expect(() => syntheticInteractions({ typeMix: { poke: 1 } })).toThrow(/typeMix.poke/);
  });
});
