/**
 * Arrow nulls in interaction input: a null must never become user 0, weight 0 or time 0. Each column the
 * reader uses is checked, and the error names the column and the first null row.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Float32, Float64, Int32, Int64, Table, Utf8, tableFromArrays, tableToIPC, vectorFromArray } from 'apache-arrow';
import { InvalidParameterError } from '../../src/core/errors.js';
import { interactionsFromArrow, readArrowFile } from '../../src/cf/io.js';
import { thrown } from '../helpers/thrown.js';


function expectNullError(f: () => unknown, column: string, row: number): void {
  const e = thrown(f);
  expect(e).toBeInstanceOf(InvalidParameterError);
  expect((e as Error).message).toContain(`column "${column}" row ${row}`);
  expect((e as InvalidParameterError).value).toBeNull();
}

const base = () => ({
  user: vectorFromArray([1, 2, 3, 4], new Int32()),
  item: vectorFromArray(['a', 'b', 'c', 'd'], new Utf8()),
  weight: vectorFromArray([1, 2, 3, 4], new Float32()),
  timestamp: vectorFromArray([10, 20, 30, 40], new Float64()),
});

describe('interactionsFromArrow rejects nulls in every column it reads', () => {
  it('accepts a table without nulls', () => {
    const log = interactionsFromArrow(new Table(base()));
    expect(log.length).toBe(4);
    expect(Array.from(log.weight)).toEqual([1, 2, 3, 4]);
  });

  it('null user id (int32) is not user 0', () => {
    const t = new Table({ ...base(), user: vectorFromArray([0, 1, null, 3], new Int32()) });
    expectNullError(() => interactionsFromArrow(t), 'user', 2);
  });

  it('null user id (int64) is not user 0n', () => {
    const t = new Table({ ...base(), user: vectorFromArray([5n, null, 6n, 7n], new Int64()) });
    expectNullError(() => interactionsFromArrow(t), 'user', 1);
  });

  it('null item id (string or number)', () => {
    expectNullError(() => interactionsFromArrow(new Table({ ...base(), item: vectorFromArray(['a', 'b', 'c', null], new Utf8()) })), 'item', 3);
    expectNullError(() => interactionsFromArrow(new Table({ ...base(), item: vectorFromArray([null, 1, 2, 3], new Float64()) })), 'item', 0);
  });

  it('null weight is not weight 0', () => {
    const t = new Table({ ...base(), weight: vectorFromArray([1, null, 3, 4], new Float32()) });
    expectNullError(() => interactionsFromArrow(t), 'weight', 1);
  });

  it('null timestamp is not time 0', () => {
    const t = new Table({ ...base(), timestamp: vectorFromArray([10, 20, 30, null], new Float64()) });
    expectNullError(() => interactionsFromArrow(t), 'timestamp', 3);
  });

  it('null interaction type names the column and row', () => {
    const { weight: _w, ...rest } = base();
    const t = new Table({ ...rest, type: vectorFromArray(['save', 'click', null, 'click'], new Utf8()) });
    expectNullError(() => interactionsFromArrow(t), 'type', 2);
  });

  it('uses the caller column names and global row numbers across record batches', () => {
    const a = new Table({ uid: vectorFromArray([1, 2, 3], new Int32()), pid: vectorFromArray([1, 1, 1], new Int32()), w: vectorFromArray([1, 1, 1], new Float64()) });
    const b = new Table({ uid: vectorFromArray([4, 5], new Int32()), pid: vectorFromArray([1, 1], new Int32()), w: vectorFromArray([1, null], new Float64()) });
    const t = a.concat(b);
    expect(t.getChild('w')!.data.length).toBe(2);
    expectNullError(() => interactionsFromArrow(t, { user: 'uid', item: 'pid', weight: 'w' }), 'w', 4);
  });

  it('ignores nulls in a column it does not read (weights when types are given)', () => {
    const t = new Table({ ...base(), weight: vectorFromArray([null, null, 1, 1], new Float32()), type: vectorFromArray(['save', 'click', 'save', 'click'], new Utf8()) });
    expect(Array.from(interactionsFromArrow(t).weight)).toEqual([3, 1, 3, 1]);
  });

  it('readArrowFile rejects nulls too, naming the file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-arrow-nulls-'));
    const f = path.join(dir, 'nulls.arrow');
    writeFileSync(f, tableToIPC(new Table({ ...base(), weight: vectorFromArray([1, 2, null, 4], new Float32()) }), 'file'));
    const err = await readArrowFile(f).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect((err as Error).message).toContain('column "weight" row 2');
    expect((err as Error).message).toContain(f);
    // and a clean file still reads
    writeFileSync(f, tableToIPC(tableFromArrays({ user: Int32Array.of(1, 2), item: Int32Array.of(3, 3) }), 'file'));
    expect((await readArrowFile(f)).length).toBe(2);
  });
});

describe('core/arrow helpers', () => {
  it('firstNullRow / assertNoNulls / validityMask', async () => {
    const { firstNullRow, assertNoNulls, validityMask } = await import('../../src/core/arrow.js');
    const clean = vectorFromArray([1, 2, 3], new Int32());
    expect(firstNullRow(clean)).toBe(-1);
    expect(validityMask(clean)).toBeNull();
    expect(() => assertNoNulls(clean, 'x')).not.toThrow();
    const t = new Table({ x: vectorFromArray([1, 2], new Int32()) }).concat(new Table({ x: vectorFromArray([3, null, null], new Int32()) }));
    const x = t.getChild('x')!;
    expect(firstNullRow(x)).toBe(3);
    expect(Array.from(validityMask(x)!)).toEqual([1, 1, 1, 0, 0]);
    expectNullError(() => assertNoNulls(x, 'x'), 'x', 3);
    expect(() => assertNoNulls(x, 'x', 'data.arrow')).toThrow(/column "x" row 3 of data\.arrow/);
    // structural: any object with length, nullCount and isValid
    const fake = { length: 3, nullCount: 1, isValid: (i: number) => i !== 1 };
    expect(firstNullRow(fake)).toBe(1);
  });
});
