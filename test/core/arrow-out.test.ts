/**
 * Arrow out (src/core/arrow-out.ts): embeddings and results round trips, record batches streamed to disk one at
 * a time, atomic writes (a failure leaves the target as it was and no temp file), and a reader that refuses bad
 * files naming the file, the column and the row.
 */
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Field, FixedSizeList, Float32, Float64, Int32, List, Schema, Struct, Table, Utf8, RecordBatch, makeData, tableFromIPC, tableToIPC,
  RecordBatchReader, makeVector, vectorFromArray,
} from 'apache-arrow';
import {
  ArrowFileWriter, readArrowTable, readEmbeddingsArrow, readResultsArrow, rankedRows, writeArrowBatches, writeEmbeddingsArrow,
  writeResultsArrow, idColumnType, idColumn, float32Column, int32Column, utf8Column, vectorColumn, type ResultRow,
} from '../../src/core/arrow-out.js';
import { ClosedError, FileFormatError, InvalidParameterError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';

const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-arrow-out-'));
let seq = 0;
const tmpFile = (ext = '.arrow') => path.join(dir, `f${seq++}${ext}`);

function randomVectors(n: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * dim }, () => (rng.next() - 0.5) * 10);
}

/** Temp files left in the test folder. */
const temps = () => readdirSync(dir).filter((n) => n.endsWith('.pinrec-tmp'));

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('embeddings round trip', () => {
  it.each([
    ['string ids', Array.from({ length: 7 }, (_, i) => `pin-${i}-é`), 'Utf8'],
    ['int32 ids', [3, -1, 2_147_483_647, -2_147_483_648, 0, 17, 5], 'Int32'],
    ['float64 ids', [0.5, 2 ** 40, -3, 1e-300, 7, 8, 9], 'Float64'],
    ['bigint ids', [1n, -(2n ** 63n), 2n ** 63n - 1n, 4n, 5n, 6n, 7n], 'Int64'],
  ] as const)('%s, dim 1 and 300', async (_name, ids, typeName) => {
    for (const dim of [1, 300]) {
      const f = tmpFile();
      const vectors = randomVectors(ids.length, dim, dim);
      const summary = await writeEmbeddingsArrow(f, ids, vectors, dim);
      expect(summary).toMatchObject({ path: f, rows: ids.length, batches: 1 });
      expect(statSync(f).size).toBe(summary.bytes);
      const back = await readEmbeddingsArrow(f);
      expect(back.ids).toEqual(ids);
      expect(back.dim).toBe(dim);
      expect(Buffer.from(back.vectors.buffer, back.vectors.byteOffset, back.vectors.byteLength).equals(Buffer.from(vectors.buffer))).toBe(true);
      expect(back.metadata.get('pinrec.kind')).toBe('embeddings');
      expect(back.metadata.get('pinrec.version')).toBe('1');
      expect(back.metadata.get('pinrec.dim')).toBe(String(dim));
      const t = await readArrowTable(f);
      expect(String(t.schema.fields[0].type)).toBe(typeName);
      expect(t.schema.fields[0].nullable).toBe(false);
      expect(String(t.schema.fields[1].type)).toBe(`FixedSizeList[${dim}]<Float32>`);
    }
  });

  it('0 rows: a valid file with the schema and no batches', async () => {
    const f = tmpFile();
    expect(await writeEmbeddingsArrow(f, [], new Float32Array(0), 8)).toMatchObject({ rows: 0, batches: 0 });
    const back = await readEmbeddingsArrow(f);
    expect(back).toMatchObject({ ids: [], dim: 8 });
    expect(back.vectors.length).toBe(0);
  });

  it('more rows than batchRows: several record batches, the same rows back (file and stream formats)', async () => {
    const n = 1003, dim = 5;
    const ids = Array.from({ length: n }, (_, i) => i * 3);
    const vectors = randomVectors(n, dim, 3);
    for (const format of ['file', 'stream'] as const) {
      const f = tmpFile(format === 'file' ? '.arrow' : '.arrows');
      const progress: number[] = [];
      const s = await writeEmbeddingsArrow(f, ids, vectors, dim, { batchRows: 100, format, onProgress: (p) => { expect(p.stage).toBe('arrow:write'); expect(p.total).toBe(n); progress.push(p.done); } });
      expect(s.batches).toBe(11);
      expect(progress).toEqual([...Array.from({ length: 10 }, (_, i) => (i + 1) * 100), n]);
      const t = await readArrowTable(f);
      expect(t.batches.length).toBe(11);
      expect(t.batches.map((b) => b.numRows).slice(-2)).toEqual([100, 3]);
      const back = await readEmbeddingsArrow(f);
      expect(back.ids).toEqual(ids);
      expect(back.vectors).toEqual(vectors);
      const bytes = readFileSync(f);
      if (format === 'file') {
        expect(bytes.subarray(0, 6).toString('latin1')).toBe('ARROW1');
        expect(bytes.subarray(bytes.length - 6).toString('latin1')).toBe('ARROW1');
        // the body after the 8-byte magic is a complete IPC stream, schema message first
        expect(tableFromIPC(bytes.subarray(8)).numRows).toBe(n);
      } else {
        expect(bytes.subarray(bytes.length - 8)).toEqual(Buffer.from([255, 255, 255, 255, 0, 0, 0, 0]));
      }
    }
  });

  it('the footer indexes every batch: random access reads batch i at its offset', async () => {
    const n = 350, dim = 3;
    const ids = Array.from({ length: n }, (_, i) => `id${i}`);
    const vectors = randomVectors(n, dim, 8);
    const f = tmpFile();
    await writeEmbeddingsArrow(f, ids, vectors, dim, { batchRows: 100 });
    const reader = RecordBatchReader.from(readFileSync(f));
    reader.open();
    expect(reader.isFile()).toBe(true);
    const file = reader as unknown as { numRecordBatches: number; readRecordBatch(i: number): RecordBatch | null };
    expect(file.numRecordBatches).toBe(4);
    for (const i of [3, 0, 2, 1]) {
      const b = file.readRecordBatch(i)!;
      expect(b.numRows).toBe(i === 3 ? 50 : 100);
      expect(b.getChild('id')!.get(0)).toBe(`id${i * 100}`);
      expect(b.getChild('embedding')!.get(0)!.toArray()).toEqual(vectors.subarray(i * 100 * dim, (i * 100 + 1) * dim));
    }
  });

  it('property: any ids and finite float32 vectors come back exactly', async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(
        fc.uniqueArray(fc.string({ unit: 'grapheme', maxLength: 12 }), { maxLength: 40 }),
        fc.uniqueArray(fc.integer(), { maxLength: 40 }),
        fc.uniqueArray(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 40, selector: (x) => (Object.is(x, -0) ? 0 : x) }),
      ),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 16 }),
      fc.integer(),
      async (ids, dim, batchRows, seed) => {
        const rng = new Rng(seed);
        const vectors = Float32Array.from({ length: ids.length * dim }, () => Math.fround((rng.next() - 0.5) * 2 ** rng.int(60)));
        const f = tmpFile();
        await writeEmbeddingsArrow(f, ids as (string | number)[], vectors, dim, { batchRows });
        const back = await readEmbeddingsArrow(f);
        expect(back.ids).toEqual(ids.map((x) => (Object.is(x, -0) ? 0 : x)));
        expect(back.vectors).toEqual(vectors);
        expect(back.dim).toBe(dim);
      },
    ), { numRuns: 40, seed: 11 });
  });

  it('custom column names and extra metadata', async () => {
    const f = tmpFile();
    await writeEmbeddingsArrow(f, ['a'], Float32Array.of(1, 2), 2, { idColumn: 'pin_id', vectorColumn: 'vec', metadata: { model: 'resnet50' } });
    const back = await readEmbeddingsArrow(f, { idColumn: 'pin_id', vectorColumn: 'vec' });
    expect(back.ids).toEqual(['a']);
    expect(back.metadata.get('model')).toBe('resnet50');
    const e = await rejection(readEmbeddingsArrow(f));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toContain('has no column "id" (columns: pin_id, vec)');
  });

  it('refuses bad input at the boundary, naming the parameter', async () => {
    const f = tmpFile();
    const bad: [() => Promise<unknown>, RegExp][] = [
      [() => writeEmbeddingsArrow(f, ['a'], Float32Array.of(1, NaN), 2), /vectors\[1\] \(row 0, component 1\) must be a finite number \(got NaN\)/],
      [() => writeEmbeddingsArrow(f, ['a', 'b'], Float32Array.of(1, 2), 2), /vectors.length must be ids.length × dim \(2 × 2 = 4\) \(got 2\)/],
      [() => writeEmbeddingsArrow(f, ['a'], Float32Array.of(1), 0), /dim must be an integer >= 1/],
      [() => writeEmbeddingsArrow(f, ['a', 2], Float32Array.of(1, 2), 1), /ids\[1\] must be a string like ids\[0\] \(got 2\)/],
      [() => writeEmbeddingsArrow(f, [1, 2n] as never, Float32Array.of(1, 2), 1), /ids\[1\] must be a number like ids\[0\]/],
      [() => writeEmbeddingsArrow(f, ['\uD800'], Float32Array.of(1), 1), /ids\[0\] must be a well-formed Unicode string/],
      [() => writeEmbeddingsArrow(f, ['a'], [1] as never, 1), /vectors must be a Float32Array/],
      [() => writeEmbeddingsArrow(f, ['a'], Float32Array.of(1), 1, { batchRows: 0 }), /batchRows must be an integer in \[1, 16777216\] \(got 0\)/],
      [() => writeEmbeddingsArrow(f, ['a'], Float32Array.of(1), 1, { format: 'csv' as never }), /format must be one of 'file', 'stream'/],
      [() => writeEmbeddingsArrow(f, [1], Float32Array.of(1), 1, { idType: 'utf8' }), /ids\[0\] must be a string \(the id column is Utf8\) \(got 1\)/],
    ];
    for (const [call, msg] of bad) {
      const e = await rejection(call());
      expect(e).toBeInstanceOf(InvalidParameterError);
      expect(e.message).toMatch(msg);
    }
    expect(readdirSync(dir)).not.toContain(path.basename(f));
    expect(temps()).toEqual([]);
  });

  it('id column typing: Utf8 for strings, Int32 for int32 integers, Float64 for other numbers, Int64 for bigints', () => {
    expect(idColumnType(['a', 'b'])).toBe('utf8');
    expect(idColumnType([1, 2, -3])).toBe('int32');
    expect(idColumnType([1, 2 ** 31])).toBe('float64');
    expect(idColumnType([1, 0.5])).toBe('float64');
    expect(idColumnType([1n])).toBe('int64');
    expect(idColumnType([])).toBe('utf8');
    expect(() => idColumnType([1, Infinity])).toThrow(/ids\[1\] must be a finite number/);
    expect(() => idColumnType([2n ** 63n])).toThrow(/ids\[0\] must be a bigint in the int64 range/);
    expect(idColumn([10, 20, 30], 'int32', 1).length).toBe(2);
  });
});

describe('results round trip', () => {
  const rowsOf = (withUser: boolean, withReason: boolean): ResultRow[] => {
    const rows: ResultRow[] = [];
    for (let u = 0; u < 4; u++) {
      for (let r = 1; r <= 5; r++) {
        const row: ResultRow = { rank: r, pin: `p${(u * 7 + r) % 11}`, score: 1 / r - u * 0.1 };
        if (withUser) row.user = `user-${u}`;
        if (withReason) row.reason = r % 3 === 0 ? null : r % 2 ? 'cf' : 'visual';
        rows.push(row);
      }
    }
    return rows;
  };

  it.each([[true, true], [true, false], [false, true], [false, false]])('user %s, reason %s (batches of 6)', async (withUser, withReason) => {
    const rows = rowsOf(withUser, withReason);
    const f = tmpFile();
    const s = await writeResultsArrow(f, rows, { batchRows: 6 });
    expect(s).toMatchObject({ rows: 20, batches: 4 });
    const back = await readResultsArrow(f);
    expect(back.metadata.get('pinrec.kind')).toBe('results');
    expect(Array.from(back.rank)).toEqual(rows.map((r) => r.rank));
    expect(back.pin).toEqual(rows.map((r) => r.pin));
    expect(Array.from(back.score)).toEqual(rows.map((r) => Math.fround(r.score)));
    expect(back.reason).toEqual(rows.map((r) => r.reason ?? null));
    if (withUser) expect(back.user).toEqual(rows.map((r) => r.user));
    else expect(back.user).toBeUndefined();
    const t = await readArrowTable(f);
    expect(t.schema.fields.map((x) => `${x.name}: ${x.type}${x.nullable ? '?' : ''}`)).toEqual([
      ...(withUser ? ['user: Utf8'] : []), 'rank: Int32', 'pin: Utf8', 'score: Float32', 'reason: Utf8?',
    ]);
  });

  it('async iterables, numeric ids and rankedRows', async () => {
    async function* rows() {
      for (let u = 0; u < 3; u++) {
        yield* rankedRows(u * 1000, { ids: [u + 1, u + 2, u + 3], scores: Float32Array.of(0.9, 0.5, 0.25) }, ['cf', null, 'popular']);
        await new Promise((r) => setImmediate(r));
      }
    }
    const f = tmpFile();
    await writeResultsArrow(f, rows(), { batchRows: 4 });
    const back = await readResultsArrow(f);
    expect(back.user).toEqual([0, 0, 0, 1000, 1000, 1000, 2000, 2000, 2000]);
    expect(back.pin).toEqual([1, 2, 3, 2, 3, 4, 3, 4, 5]);
    expect(Array.from(back.rank)).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3]);
    expect(back.reason).toEqual(['cf', null, 'popular', 'cf', null, 'popular', 'cf', null, 'popular']);
    expect(String((await readArrowTable(f)).schema.fields[2].type)).toBe('Int32');
    // a search result without a user
    expect([...rankedRows(undefined, { ids: ['a'], scores: Float32Array.of(1) })]).toEqual([{ rank: 1, pin: 'a', score: 1 }]);
  });

  it('names the row that does not fit, and how to widen the id type', async () => {
    const rows: ResultRow[] = [{ user: 'a', rank: 1, pin: 1, score: 1 }, { user: 'a', rank: 2, pin: 2, score: 1 }, { user: 'a', rank: 3, pin: 3e9, score: 1 }];
    let e = await rejection(writeResultsArrow(tmpFile(), rows, { batchRows: 2 }));
    expect(e).toBeInstanceOf(InvalidParameterError);
    expect(e.message).toMatch(/^rows\[2\]\.pin must be an integer number in the int32 range .*pass idType: \{ pin: \.\.\. \}.* \(got 3000000000\)$/);
    const f = tmpFile();
    await writeResultsArrow(f, rows, { batchRows: 2, idType: { pin: 'float64' } });
    expect((await readResultsArrow(f)).pin).toEqual([1, 2, 3e9]);
    const bad: [ResultRow[], RegExp][] = [
      [[{ user: 'a', rank: 0, pin: 'p', score: 1 }], /rows\[0\]\.rank must be an integer in \[1, 2147483647\] \(got 0\)/],
      [[{ user: 'a', rank: 1, pin: 'p', score: NaN }], /rows\[0\]\.score must be a finite number within the float32 range \(got NaN\)/],
      [[{ user: 'a', rank: 1, pin: 'p', score: 1e39 }], /rows\[0\]\.score must be a finite number within the float32 range/],
      [[{ user: 'a', rank: 1, pin: 'p', score: 1 }, { rank: 2, pin: 'q', score: 1 }], /rows\[1\]\.user must be an id \(the first row had a user/],
      [[{ rank: 1, pin: null as never, score: 1 }], /rows\[0\]\.pin must be a string, a finite number or a bigint \(got null\)/],
      [[{ rank: 1, pin: 'p', score: 1, reason: 7 as never }], /rows\[0\]\.reason must be a string, null or undefined \(got 7\)/],
      [[{ rank: 1, pin: 'p', score: 1 }, { rank: 2, pin: 2, score: 1 }], /rows\[1\]\.pin must be a string like rows\[0\]\.pin \(one column holds one kind of id\) \(got 2\)/],
      [[{ user: 1n, rank: 1, pin: 'p', score: 1 }, { user: 2n ** 64n, rank: 2, pin: 'q', score: 1 }], /rows\[1\]\.user must be a bigint in the int64 range/],
    ];
    for (const [r, msg] of bad) {
      e = await rejection(writeResultsArrow(tmpFile(), r));
      expect(e).toBeInstanceOf(InvalidParameterError);
      expect(e.message).toMatch(msg);
    }
    expect(temps()).toEqual([]);
  });

  it('0 rows: the schema only (with a user column when asked)', async () => {
    const f = tmpFile();
    expect(await writeResultsArrow(f, [], { user: true })).toMatchObject({ rows: 0, batches: 0 });
    const back = await readResultsArrow(f);
    expect(back).toMatchObject({ user: [], pin: [], reason: [] });
  });
});

describe('streaming', () => {
  it('500k result rows from a generator with batchRows 10k: 50 record batches, each on disk before the next is built', async () => {
    const f = tmpFile();
    const N = 500_000;
    const sizes: number[] = [];
    let pulled = 0;
    function* rows(): Generator<ResultRow> {
      for (let i = 0; i < N; i++) {
        if (i % 10_000 === 0 && i > 0) {
          // the temp file already holds every batch before this one: nothing accumulates in memory
          const tmp = temps().filter((n) => n.startsWith(`.${path.basename(f)}.`));
          expect(tmp.length).toBe(1);
          sizes.push(statSync(path.join(dir, tmp[0])).size);
        }
        pulled++;
        yield { user: i >> 5, rank: (i & 31) + 1, pin: i, score: i / N };
      }
    }
    const t0 = performance.now();
    const s = await writeResultsArrow(f, rows(), { batchRows: 10_000 });
    const ms = performance.now() - t0;
    expect(pulled).toBe(N);
    expect(s).toMatchObject({ rows: N, batches: 50 });
    expect(sizes.length).toBe(49);
    for (let b = 1; b < sizes.length; b++) expect(sizes[b]).toBeGreaterThan(sizes[b - 1]);
    expect(ms).toBeLessThan(10_000);
    const t = await readArrowTable(f);
    expect(t.numRows).toBe(N);
    expect(t.batches.length).toBe(50);
    const pin = t.getChild('pin')!;
    expect(pin.get(0)).toBe(0);
    expect(pin.get(N - 1)).toBe(N - 1);
    expect(t.getChild('rank')!.get(N - 1)).toBe(32);
    expect(temps()).toEqual([]);
  });

  it('writeArrowBatches takes record batches or columns, sync or async', async () => {
    const fields = [new Field('score', new Float32(), false), new Field('label', new Utf8(), true)];
    async function* parts() {
      for (let b = 0; b < 3; b++) yield { score: float32Column(new Float32Array(100).fill(b)), label: utf8Column(Array.from({ length: 100 }, (_, i) => (i % 2 ? null : `l${b}`))) };
    }
    const f = tmpFile();
    expect(await writeArrowBatches(f, fields, parts())).toMatchObject({ rows: 300, batches: 3 });
    const t = await readArrowTable(f);
    expect(t.getChild('score')!.get(250)).toBe(2);
    expect(t.getChild('label')!.get(250)).toBe('l2');
    expect(t.getChild('label')!.get(251)).toBeNull();
    // a RecordBatch of another schema is refused (apache-arrow's writer would silently end the file)
    const other = new Schema([new Field('x', new Int32(), false)]);
    const rb = new RecordBatch(other, makeData({ type: new Struct(other.fields), length: 1, nullCount: 0, children: [int32Column(Int32Array.of(1))] }));
    const e = await rejection(writeArrowBatches(tmpFile(), fields, [rb]));
    expect(e).toBeInstanceOf(InvalidParameterError);
    expect(e.message).toContain("must be a record batch with the writer's schema");
    expect(temps()).toEqual([]);
  });
});

describe('atomic writes', () => {
  it('an iterator that throws mid-way leaves the old file and no temp file', async () => {
    const f = tmpFile();
    writeFileSync(f, 'old content');
    const boom = new Error('source failed');
    function* rows(): Generator<ResultRow> {
      for (let i = 0; i < 5000; i++) {
        if (i === 3500) throw boom;
        yield { rank: 1, pin: i, score: 0 };
      }
    }
    expect(await rejection(writeResultsArrow(f, rows(), { batchRows: 1000 }))).toBe(boom);
    expect(readFileSync(f, 'utf8')).toBe('old content');
    expect(temps()).toEqual([]);
    // and without an old file: nothing at the target
    const g = tmpFile();
    async function* vectors() {
      yield { id: idColumn(['a']), v: vectorColumn(Float32Array.of(1, 2), 2) };
      throw boom;
    }
    expect(await rejection(writeArrowBatches(g, [new Field('id', new Utf8(), false), new Field('v', new FixedSizeList(2, new Field('item', new Float32(), false)), false)], vectors()))).toBe(boom);
    expect(readdirSync(dir)).not.toContain(path.basename(g));
    expect(temps()).toEqual([]);
  });

  it('a bad row mid-way: the same', async () => {
    const f = tmpFile();
    writeFileSync(f, 'old');
    const rows = Array.from({ length: 300 }, (_, i): ResultRow => ({ rank: i === 250 ? -1 : 1, pin: 'p', score: 0 }));
    const e = await rejection(writeResultsArrow(f, rows, { batchRows: 100 }));
    expect(e.message).toMatch(/^rows\[250\]\.rank/);
    expect(readFileSync(f, 'utf8')).toBe('old');
    expect(temps()).toEqual([]);
  });

  it('ArrowFileWriter: nothing at the target until close; abort removes the temp file; closed writers refuse', async () => {
    const f = tmpFile();
    const schema = new Schema([new Field('score', new Float32(), false)]);
    const w = await ArrowFileWriter.open(f, schema);
    await w.write({ score: float32Column(Float32Array.of(1, 2)) });
    expect(readdirSync(dir)).not.toContain(path.basename(f));
    expect(temps().length).toBe(1);
    await w.abort();
    await w.abort(); // twice is fine
    expect(temps()).toEqual([]);
    expect(await rejection(w.write({ score: float32Column(Float32Array.of(1)) }))).toBeInstanceOf(ClosedError);

    const w2 = await ArrowFileWriter.open(f, schema.fields);
    // writes queue up: no need to await each one
    const pending = [w2.write({ score: float32Column(Float32Array.of(1)) }), w2.write({ score: float32Column(Float32Array.of(2, 3)) })];
    const done = await w2.close();
    await Promise.all(pending);
    expect(done).toMatchObject({ rows: 3, batches: 2 });
    expect(Array.from((await readArrowTable(f)).getChild('score')!.toArray())).toEqual([1, 2, 3]);
    expect(await rejection(w2.close())).toBeInstanceOf(ClosedError);
    await w2.abort(); // after close: a no-op, the file stays
    expect(statSync(f).size).toBe(done.bytes);

    // a column that does not fit aborts the writer
    const w3 = await ArrowFileWriter.open(f, schema);
    let e = await rejection(w3.write({ score: int32Column(Int32Array.of(1)) }));
    expect(e.message).toMatch(/batch.score must be a column of type Float32/);
    e = await rejection(w3.write({ score: float32Column(Float32Array.of(1)) }));
    expect(e).toBeInstanceOf(ClosedError);
    expect(temps()).toEqual([]);
    expect(statSync(f).size).toBe(done.bytes);
  });

  it('removes temp files of dead writers of the same target', async () => {
    const f = tmpFile();
    const stale = path.join(dir, `.${path.basename(f)}.4194303.0123456789ab.pinrec-tmp`);
    writeFileSync(stale, 'left by a killed process');
    await writeEmbeddingsArrow(f, ['a'], Float32Array.of(1), 1);
    expect(temps()).toEqual([]);
  });
});

describe('readEmbeddingsArrow refuses bad files, naming the file, the column and the row', () => {
  const write = (table: Table, format: 'file' | 'stream' = 'file') => {
    const f = tmpFile();
    writeFileSync(f, tableToIPC(table, format));
    return f;
  };
  const fsl = (values: Float32Array, dim: number, nullRow?: number, childNull?: number) => {
    const rows = values.length / dim;
    const childBitmap = childNull === undefined ? undefined : Uint8Array.from({ length: Math.ceil(values.length / 8) }, (_, b) => {
      let m = 0;
      for (let k = 0; k < 8; k++) if (b * 8 + k !== childNull) m |= 1 << k;
      return m;
    });
    const child = makeData({ type: new Float32(), length: values.length, data: values, nullCount: childNull === undefined ? 0 : 1, ...(childBitmap ? { nullBitmap: childBitmap } : {}) });
    const bitmap = nullRow === undefined ? undefined : Uint8Array.from({ length: Math.ceil(rows / 8) }, (_, b) => {
      let m = 0;
      for (let k = 0; k < 8; k++) if (b * 8 + k !== nullRow) m |= 1 << k;
      return m;
    });
    return makeData({ type: new FixedSizeList(dim, new Field('item', new Float32(), true)), length: rows, child, nullCount: nullRow === undefined ? 0 : 1, ...(bitmap ? { nullBitmap: bitmap } : {}) });
  };
  const ids = vectorFromArray(['a', 'b', 'c'], new Utf8());

  async function expectFormatError(f: string, ...parts: string[]) {
    const e = await rejection(readEmbeddingsArrow(f));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message.startsWith(`${f}: `)).toBe(true);
    for (const p of parts) expect(e.message).toContain(p);
  }

  it('a vector column of Utf8', async () => {
    await expectFormatError(write(new Table({ id: ids, embedding: vectorFromArray(['x', 'y', 'z'], new Utf8()) })),
      'column "embedding" must be FixedSizeList<Float32> or List<Float32> (got Utf8)');
  });

  it('a vector column of Float64 lists', async () => {
    const child = makeData({ type: new Float64(), length: 6, data: new Float64Array(6) });
    const d = makeData({ type: new FixedSizeList(2, new Field('item', new Float64(), false)), length: 3, child });
    await expectFormatError(write(new Table({ id: ids, embedding: makeVector(d) })), 'got FixedSizeList[2]<Float64>');
  });

  it('a null vector, a null component', async () => {
    const mk = (d: ReturnType<typeof fsl>) => new Table({ id: ids, embedding: makeVector(d) });
    await expectFormatError(write(mk(fsl(new Float32Array(6), 2, 2))), 'column "embedding" row 2 is null');
    await expectFormatError(write(mk(fsl(new Float32Array(6), 2, undefined, 3))), 'column "embedding" row 1 component 1 is null');
  });

  it('NaN and infinite components', async () => {
    const mk = (v: Float32Array) => new Table({ id: ids, embedding: makeVector(fsl(v, 2)) });
    await expectFormatError(write(mk(Float32Array.of(1, 2, 3, 4, NaN, 6))), 'column "embedding" row 2 component 0 is NaN');
    await expectFormatError(write(mk(Float32Array.of(1, Infinity, 3, 4, 5, 6)), 'stream'), 'column "embedding" row 0 component 1 is Infinity');
  });

  it('a null id', async () => {
    await expectFormatError(write(new Table({ id: vectorFromArray(['a', null, 'c'], new Utf8()), embedding: makeVector(fsl(new Float32Array(6), 2)) })), 'column "id" row 1 is null');
  });

  it('List<Float32>: accepted when every row has one length, refused otherwise', async () => {
    const list = (lengths: number[]) => {
      const offsets = new Int32Array(lengths.length + 1);
      lengths.forEach((l, i) => { offsets[i + 1] = offsets[i] + l; });
      const child = makeData({ type: new Float32(), length: offsets[lengths.length], data: Float32Array.from({ length: offsets[lengths.length] }, (_, i) => i) });
      return makeData({ type: new List(new Field('item', new Float32(), true)), length: lengths.length, valueOffsets: offsets, child });
    };
    const ok = write(new Table({ id: ids, embedding: makeVector(list([3, 3, 3])) }));
    expect(await readEmbeddingsArrow(ok)).toMatchObject({ ids: ['a', 'b', 'c'], dim: 3, vectors: Float32Array.from({ length: 9 }, (_, i) => i) });
    await expectFormatError(write(new Table({ id: ids, embedding: makeVector(list([3, 3, 2])) })), 'column "embedding" row 2 has 2 components, row 0 has 3');
  });

  it('a truncated file, a file that is not Arrow, a folder, a missing file', async () => {
    const good = tmpFile();
    await writeEmbeddingsArrow(good, ['a', 'b', 'c'], randomVectors(3, 4, 1), 4);
    const bytes = readFileSync(good);
    for (const cut of [bytes.length - 1, bytes.length - 40, Math.floor(bytes.length / 2), 10]) {
      const f = tmpFile();
      writeFileSync(f, bytes.subarray(0, cut));
      await expectFormatError(f, 'truncated');
    }
    const streamFile = tmpFile('.arrows');
    await writeEmbeddingsArrow(streamFile, ['a', 'b', 'c'], randomVectors(3, 4, 1), 4, { format: 'stream' });
    const sb = readFileSync(streamFile);
    const cutStream = tmpFile('.arrows');
    writeFileSync(cutStream, sb.subarray(0, sb.length - 8)); // the end-of-stream marker is gone
    await expectFormatError(cutStream, 'truncated');
    const junk = tmpFile();
    writeFileSync(junk, 'not arrow at all');
    await expectFormatError(junk, 'is not a readable Arrow IPC file');
    await expectFormatError(dir, 'is not a regular file');
    await expectFormatError(path.join(dir, 'missing.arrow'), 'cannot be read (ENOENT)');
  });
});
