/**
 * What pinrec writes, read by implementations that share no code with apache-arrow (JS):
 * - arrow-rs (through parquet-wasm) parses every message of our Arrow IPC files: the file format is the 8-byte
 *   `ARROW1` magic and padding, then a complete IPC stream (schema, record batches, end-of-stream), then the
 *   footer, so `Table.fromIPCStream(bytes.subarray(8))` reads the body; a stream-format file is read whole;
 * - arrow-rs then writes that table as Parquet, and DuckDB reads the Parquet: ids, ranks, scores and embedding
 *   values must equal what pinrec wrote (float32 values exactly).
 * And the other way: `readParquetFile` reads a Parquet file DuckDB wrote.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { readResultsArrow, writeEmbeddingsArrow, writeResultsArrow, type ResultRow } from '../../src/core/arrow-out.js';
import { FileFormatError, InvalidParameterError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { SvdRecommender, syntheticInteractions } from '../../src/cf/index.js';
import { readFactorsArrow, writeFactorsArrow } from '../../src/cf/factors-arrow.js';
import { readParquetFile, writeParquetFromArrow } from '../../src/cf/io.js';

interface WasmTable { numBatches: number; intoIPCStream(): Uint8Array }
const pw = createRequire(import.meta.url)('parquet-wasm') as {
  Table: { fromIPCStream(b: Uint8Array): WasmTable };
  writeParquet(t: WasmTable): Uint8Array;
};

const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-interop-'));
let seq = 0;
const tmpFile = (ext: string) => path.join(dir, `f${seq++}${ext}`);
let db: DuckDBInstance;
let con: DuckDBConnection;

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  con = await db.connect();
});
afterAll(() => {
  con?.closeSync();
  db?.closeSync();
});

/** Parse a pinrec Arrow file with arrow-rs: the body of a file-format file is an IPC stream. */
function arrowRs(file: string): WasmTable {
  const bytes = readFileSync(file);
  const isFile = bytes.subarray(0, 6).toString('latin1') === 'ARROW1';
  return pw.Table.fromIPCStream(isFile ? bytes.subarray(8) : bytes);
}

/** arrow-rs → Parquet → DuckDB: the rows in file order, as JSON values. */
async function viaDuckDb(table: WasmTable, columns: string): Promise<unknown[][]> {
  const pq = tmpFile('.parquet');
  writeFileSync(pq, pw.writeParquet(table));
  const r = await con.runAndReadAll(`select ${columns} from read_parquet('${pq}', file_row_number = true) order by file_row_number`);
  return r.getRowsJson() as unknown[][];
}

const f32 = (x: number) => Math.fround(x);

describe('arrow-rs and DuckDB read what pinrec writes', () => {
  it('an embeddings file (string ids, 3 record batches)', async () => {
    const n = 250, dim = 7;
    const rng = new Rng(3);
    const ids = Array.from({ length: n }, (_, i) => `pin:${i}:ü`);
    const vectors = Float32Array.from({ length: n * dim }, () => (rng.next() - 0.5) * 2 ** rng.int(20));
    const file = tmpFile('.arrow');
    await writeEmbeddingsArrow(file, ids, vectors, dim, { batchRows: 100 });
    const t = arrowRs(file);
    expect(t.numBatches).toBe(3);
    // arrow-rs's own re-encoding carries the same schema metadata and values
    const again = tableFromIPC(pw.Table.fromIPCStream(readFileSync(file).subarray(8)).intoIPCStream());
    expect(again.schema.metadata.get('pinrec.kind')).toBe('embeddings');
    expect(String(again.schema.fields[1].type)).toBe('FixedSizeList[7]<Float32>');
    const rows = await viaDuckDb(t, 'id, embedding');
    expect(rows.length).toBe(n);
    rows.forEach(([id, emb], i) => {
      expect(id).toBe(ids[i]);
      expect(emb).toEqual(Array.from(vectors.subarray(i * dim, (i + 1) * dim)));
      for (const x of emb as number[]) expect(f32(x)).toBe(x);
    });
  });

  it('a results file (int user ids, string pins, nullable reasons), file and stream formats', async () => {
    const rows: ResultRow[] = [];
    for (let u = 0; u < 30; u++) for (let r = 1; r <= 10; r++) rows.push({ user: u * 10, rank: r, pin: `p${(u * 3 + r) % 47}`, score: 1 / (r + u), reason: r % 4 === 0 ? null : r % 2 ? 'cf' : 'visual' });
    for (const format of ['file', 'stream'] as const) {
      const file = tmpFile(format === 'file' ? '.arrow' : '.arrows');
      await writeResultsArrow(file, rows, { batchRows: 128, format });
      const t = arrowRs(file);
      expect(t.numBatches).toBe(3);
      const got = await viaDuckDb(t, 'user, rank, pin, score, reason');
      expect(got).toEqual(rows.map((r) => [r.user, r.rank, r.pin, f32(r.score), r.reason]));
    }
  });

  it('a factors file (int pin ids) from a fitted model', async () => {
    const model = new SvdRecommender<number, number>({ factors: 6, scoring: 'puresvd', order: 'off' })
      .fit(syntheticInteractions({ users: 120, items: 60, events: 2000, seed: 9 }).toMatrix());
    const file = tmpFile('.arrow');
    await writeFactorsArrow(model, file, { which: 'items', batchRows: 25 });
    const t = arrowRs(file);
    expect(t.numBatches).toBe(3);
    const got = await viaDuckDb(t, 'id, factors');
    const { ids, factors } = model.itemFactors();
    expect(got.map((r) => r[0])).toEqual(ids);
    got.forEach(([, v], j) => expect(v).toEqual(Array.from(factors.subarray(j * 6, (j + 1) * 6))));
    const back = await readFactorsArrow(file);
    expect(back.vectors).toEqual(factors);
  });

  it('writeParquetFromArrow: DuckDB reads the Parquet of a results file', async () => {
    const file = tmpFile('.arrow');
    await writeResultsArrow(file, [{ rank: 1, pin: 5n, score: 0.25 }, { rank: 2, pin: 9n, score: 0.125, reason: 'popular' }]);
    const pq = tmpFile('.parquet');
    await writeParquetFromArrow(file, pq);
    const r = await con.runAndReadAll(`select rank, pin, score, reason from read_parquet('${pq}') order by rank`);
    expect(r.getRowsJson()).toEqual([[1, '5', 0.25, null], [2, '9', 0.125, 'popular']]); // DuckDB's JSON gives BIGINTs as strings
    expect((await readResultsArrow(file)).pin).toEqual([5n, 9n]);
  });
});

describe('readParquetFile reads Parquet that DuckDB wrote', () => {
  it('string ids and interaction types', async () => {
    const pq = tmpFile('.parquet');
    await con.run(`COPY (
      select 'u' || (i % 7) as user_id, 'p' || (i % 11) as pin_id, case when i % 3 = 0 then 'repin' else 'click' end as action, i::bigint as ts
      from range(60) t(i)) TO '${pq}' (FORMAT parquet)`);
    const log = await readParquetFile(pq, { user: 'user_id', item: 'pin_id', type: 'action', timestamp: 'ts' });
    expect(log.length).toBe(60);
    for (let i = 0; i < 60; i++) {
      expect(log.users.id(log.user[i])).toBe(`u${i % 7}`);
      expect(log.items.id(log.item[i])).toBe(`p${i % 11}`);
      expect(log.time![i]).toBe(i);
    }
    const repin = log.weight[0], click = log.weight[1];
    expect(repin).toBeGreaterThan(click);
    for (let i = 0; i < 60; i++) expect(log.weight[i]).toBe(i % 3 === 0 ? repin : click);
  });

  it('integer ids (BIGINT → bigint, INTEGER → number) and weights', async () => {
    const pq = tmpFile('.parquet');
    await con.run(`COPY (select (i % 5)::bigint as user, (i % 4)::integer as item, (1 + i % 3)::double as weight from range(20) t(i)) TO '${pq}' (FORMAT parquet)`);
    const log = await readParquetFile(pq);
    expect(log.users.ids()).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect(log.items.ids()).toEqual([0, 1, 2, 3]);
    expect(Array.from(log.weight)).toEqual(Array.from({ length: 20 }, (_, i) => 1 + (i % 3)));
  });

  it('nulls are refused naming the column, row and file; a file that is not Parquet is a FileFormatError', async () => {
    const pq = tmpFile('.parquet');
    await con.run(`COPY (select 'u' || i as user, case when i = 4 then null else 'p' end as item, 1.0 as weight from range(8) t(i)) TO '${pq}' (FORMAT parquet)`);
    const e = await readParquetFile(pq).catch((x: unknown) => x as Error);
    expect(e).toBeInstanceOf(InvalidParameterError);
    expect((e as Error).message).toContain(`column "item" row 4 of ${pq}`);
    const junk = tmpFile('.parquet');
    writeFileSync(junk, 'PAR1 not really');
    await expect(readParquetFile(junk)).rejects.toBeInstanceOf(FileFormatError);
    await expect(readParquetFile(path.join(dir, 'none.parquet'))).rejects.toThrow(/cannot be read \(ENOENT\)/);
  });
});

describe('without parquet-wasm', () => {
  it('readParquetFile throws a MissingDependencyError naming the package and the npm install line', () => {
    const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const hide = path.join(dir, 'hide-parquet-wasm.cjs');
    writeFileSync(hide, [
      "const Module = require('node:module');",
      'const resolve = Module._resolveFilename;',
      "Module._resolveFilename = function (request, ...rest) {",
      "  if (request === 'parquet-wasm') { const e = new Error(\"Cannot find module 'parquet-wasm'\"); e.code = 'MODULE_NOT_FOUND'; throw e; }",
      '  return resolve.call(this, request, ...rest);',
      '};',
    ].join('\n'));
    const script = path.join(dir, 'no-parquet.mts');
    writeFileSync(script, [
      `import { readParquetFile } from ${JSON.stringify(pathToFileURL(path.join(repo, 'src/cf/io.ts')).href)};`,
      "try { await readParquetFile('x.parquet'); console.log('no error'); }",
      'catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, packages: e.packages, install: e.install, message: e.message })); }',
    ].join('\n'));
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const out = execFileSync(process.execPath, ['--require', hide, '--import', 'tsx', script], { cwd: repo, env, encoding: 'utf8' });
    const e = JSON.parse(out.trim().split('\n').pop()!);
    expect(e).toMatchObject({ name: 'MissingDependencyError', code: 'MISSING_DEPENDENCY', packages: ['parquet-wasm'], install: 'npm install parquet-wasm' });
    expect(e.message).toContain('`npm install parquet-wasm`');
  });
});
