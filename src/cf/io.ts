/**
 * Reading interaction data from files: sequence text files (one user a line, items in time order), rating
 * CSV files (MovieLens style), Arrow tables / IPC files and Parquet files (through the optional peer
 * `parquet-wasm`, loaded only when a Parquet file is read).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tableFromIPC, tableToIPC, type Table } from 'apache-arrow';
import { assertNoNulls } from '../core/arrow.js';
import { readArrowTable } from '../core/arrow-out.js';
import { writeFileAtomic } from '../core/container.js';
import { FileFormatError, InvalidParameterError, MissingDependencyError } from '../core/errors.js';
import type { Id } from '../core/types.js';
import { interactionsFromColumns, type InteractionLog, type InteractionOptions } from './interactions.js';

/**
 * Parse a sequence file: `user item item ...` per line, items oldest first. Each event's timestamp is its
 * position in the line, so splits "by timestamp" and "by order" agree. Ids are kept as strings.
 *
 * @example
 * const log = await readSequenceFile('../shared/datasets/amazon-sports/Sports_and_Outdoors.txt');
 */
export async function readSequenceFile(path: string): Promise<InteractionLog<string, string>> {
  const text = await readText(path);
  const users: string[] = [];
  const items: string[] = [];
  const times: number[] = [];
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    const t = line.trim();
    if (!t) continue;
    const parts = t.split(/\s+/);
    if (parts.length < 2) throw new FileFormatError(path, `line ${lineNo} has a user but no items`);
    const u = parts[0];
    for (let i = 1; i < parts.length; i++) {
      users.push(u);
      items.push(parts[i]);
      times.push(i);
    }
  }
  if (users.length === 0) throw new FileFormatError(path, 'holds no interactions');
  return interactionsFromColumns({ users, items, timestamps: times });
}

/** Options of {@link readRatingsCsv}. */
export interface RatingsCsvOptions {
  /** Keep only ratings ≥ this value (implicit feedback from explicit ratings). @default 0 */
  minRating?: number;
  /** `'rating'` uses the rating as the weight; `'one'` weighs each kept rating 1. @default 'one' */
  weight?: 'rating' | 'one';
}

/**
 * Parse a MovieLens-style CSV with header `userId,movieId,rating,timestamp`. Ids are kept as strings.
 *
 * @example
 * const log = await readRatingsCsv('ml-latest-small/ratings.csv', { minRating: 4 });
 */
export async function readRatingsCsv(path: string, options: RatingsCsvOptions = {}): Promise<InteractionLog<string, string>> {
  const minRating = options.minRating ?? 0;
  const mode = options.weight ?? 'one';
  const text = await readText(path);
  const lines = text.split('\n');
  const header = lines[0]?.trim().split(',') ?? [];
  const col = (name: string) => header.findIndex((h) => h.toLowerCase() === name.toLowerCase());
  const ui = col('userId'), ii = col('movieId') >= 0 ? col('movieId') : col('itemId'), ri = col('rating'), ti = col('timestamp');
  if (ui < 0 || ii < 0) throw new FileFormatError(path, `header must name userId and movieId (or itemId) columns (got ${lines[0]})`);
  const users: string[] = [], items: string[] = [], weights: number[] = [], times: number[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n].trim();
    if (!line) continue;
    const f = line.split(',');
    const rating = ri >= 0 ? Number(f[ri]) : 1;
    if (!Number.isFinite(rating)) throw new FileFormatError(path, `line ${n + 1}: rating is not a number (${f[ri]})`);
    if (rating < minRating) continue;
    users.push(f[ui]);
    items.push(f[ii]);
    weights.push(mode === 'rating' ? rating : 1);
    times.push(ti >= 0 ? Number(f[ti]) : n);
  }
  if (users.length === 0) throw new FileFormatError(path, 'holds no interactions after filtering');
  return interactionsFromColumns({ users, items, weights, timestamps: times });
}

/** Column names for Arrow input. */
export interface ArrowColumns {
  /** @default 'user' */
  user?: string;
  /** @default 'item' */
  item?: string;
  /** Interaction type column (strings). @default 'type' when present */
  type?: string;
  /** Weight column (numbers). @default 'weight' when present */
  weight?: string;
  /** Timestamp column. @default 'timestamp' when present */
  timestamp?: string;
}

/**
 * Build interactions from an Arrow table with a user column, an item column, and either a type column or a
 * weight column (optionally a timestamp column). Bigint (int64) ids stay bigints. The weight column is read
 * only when there is no type column.
 *
 * Arrow nulls are rejected in every column read (a null would otherwise read as user 0, weight 0 or time 0).
 *
 * @throws {InvalidParameterError} for a missing column, a null (`column "weight" row 17 must be a non-null
 * value (got null)`), or any value {@link interactionsFromColumns} rejects
 * @example
 * const log = interactionsFromArrow(tableFromArrays({ user: [1, 1], item: [7, 8], type: ['save', 'click'] }));
 */
export function interactionsFromArrow(table: Table, columns: ArrowColumns = {}, options: InteractionOptions = {}): InteractionLog {
  return fromArrow(table, columns, options, undefined);
}

function fromArrow(table: Table, columns: ArrowColumns, options: InteractionOptions, source: string | undefined): InteractionLog {
  const name = (key: keyof ArrowColumns, def: string, required: boolean): string | undefined => {
    const n = columns[key] ?? def;
    const present = table.schema.fields.some((f) => f.name === n);
    if (!present) {
      if (required || columns[key] !== undefined) {
        throw new InvalidParameterError(`columns.${key}`, `a column of the table (${table.schema.fields.map((f) => f.name).join(', ')})`, n);
      }
      return undefined;
    }
    return n;
  };
  const u = name('user', 'user', true)!;
  const i = name('item', 'item', true)!;
  const ty = name('type', 'type', false);
  const w = name('weight', 'weight', false);
  const ts = name('timestamp', 'timestamp', false);
  const arr = (n: string) => {
    const v = table.getChild(n)!;
    assertNoNulls(v, n, source);
    return v.toArray() as ArrayLike<unknown>;
  };
  const ids = (n: string) => {
    const a = arr(n);
    // Arrow string columns come back as arrays of strings; numeric ones as typed arrays.
    return (ArrayBuffer.isView(a) ? a : Array.from(a)) as ArrayLike<Id>;
  };
  // read (and null-check) in column order: user, item, type or weight, timestamp
  const users = ids(u);
  const items = ids(i);
  const types = ty ? (Array.from(arr(ty)) as string[]) : undefined;
  const weights = !ty && w ? (Array.from(arr(w)) as number[]) : undefined;
  const timestamps = ts ? Float64Array.from(arr(ts) as ArrayLike<number | bigint>, (x) => Number(x)) : undefined;
  return interactionsFromColumns({ users, items, types, weights, timestamps }, options);
}

/**
 * Read an Arrow IPC file (file or stream format) and build interactions from it (see {@link interactionsFromArrow});
 * a null is an {@link InvalidParameterError} naming the column, the row and the file.
 *
 * @throws {FileFormatError} when the file cannot be read or is not Arrow IPC
 *
 * @example
 * const log = await readArrowFile('interactions.arrow', { user: 'user_id', item: 'pin_id', type: 'action' });
 */
export async function readArrowFile(path: string, columns: ArrowColumns = {}, options: InteractionOptions = {}): Promise<InteractionLog> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new FileFormatError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let table: Table;
  try {
    table = tableFromIPC(buf);
  } catch (e) {
    throw new FileFormatError(path, `is not an Arrow IPC file (${(e as Error).message})`);
  }
  return fromArrow(table, columns, options, path);
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new FileFormatError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Parquet (optional peer: parquet-wasm, arrow-rs and parquet compiled to WebAssembly)

/** The part of parquet-wasm's API pinrec uses. */
interface ParquetWasm {
  readParquet(bytes: Uint8Array): { intoIPCStream(): Uint8Array; free?(): void };
  writeParquet(table: unknown): Uint8Array;
  Table: { fromIPCStream(bytes: Uint8Array): { free?(): void } };
}

let parquetWasm: ParquetWasm | undefined;

/** parquet-wasm, loaded on first use (a variable specifier: TypeScript and bundlers do not require it). */
function loadParquetWasm(feature: string): ParquetWasm {
  if (parquetWasm) return parquetWasm;
  const spec = 'parquet-wasm';
  try {
    parquetWasm = createRequire(import.meta.url)(spec) as ParquetWasm;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new MissingDependencyError(feature, [spec], 'parquet-wasm is an optional peer dependency of pinrec', { cause: e });
    }
    throw e;
  }
  return parquetWasm;
}

/**
 * Read a Parquet file of interactions (from DuckDB, Spark, pandas/pyarrow, Polars...) and build interactions
 * from it, with the columns and rules of {@link interactionsFromArrow}: Parquet `INT64` ids come back as
 * bigints, `INT32` as numbers, strings as strings; nulls are refused naming the column, the row and the file.
 * The file is decoded by `parquet-wasm` (an optional peer dependency: `npm install parquet-wasm`), whole, in memory.
 *
 * @throws {MissingDependencyError} when parquet-wasm is not installed (`npm install parquet-wasm`)
 * @throws {FileFormatError} when the file cannot be read or is not Parquet
 * @throws {InvalidParameterError} for a missing column or a null
 * @example
 * const log = await readParquetFile('events.parquet', { user: 'user_id', item: 'pin_id', type: 'action' });
 */
export async function readParquetFile(path: string, columns: ArrowColumns = {}, options: InteractionOptions = {}): Promise<InteractionLog> {
  const pq = loadParquetWasm('Parquet input (readParquetFile)');
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new FileFormatError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let ipc: Uint8Array;
  try {
    ipc = pq.readParquet(buf).intoIPCStream(); // intoIPCStream frees the WebAssembly table
  } catch (e) {
    throw new FileFormatError(path, `is not a readable Parquet file (${e instanceof Error ? e.message : String(e)})`);
  }
  let table: Table;
  try {
    table = tableFromIPC(ipc);
  } catch (e) {
    throw new FileFormatError(path, `holds columns apache-arrow cannot read (${(e as Error).message})`);
  }
  return fromArrow(table, columns, options, path);
}

/**
 * Convert an Arrow IPC file (file or stream format; e.g. one pinrec wrote) to a Parquet file, written
 * atomically. The whole table is held in memory (twice, briefly); `FixedSizeList` vectors become Parquet lists.
 * Needs `parquet-wasm` (`npm install parquet-wasm`).
 *
 * @throws {MissingDependencyError} when parquet-wasm is not installed
 * @throws {FileFormatError} when the Arrow file is truncated or unreadable
 * @example
 * await writeParquetFromArrow('recs.arrow', 'recs.parquet'); // then: duckdb -c "select * from 'recs.parquet'"
 */
export async function writeParquetFromArrow(arrowPath: string, parquetPath: string): Promise<void> {
  const pq = loadParquetWasm('Parquet output (writeParquetFromArrow)');
  const table = await readArrowTable(arrowPath);
  const wasmTable = pq.Table.fromIPCStream(tableToIPC(table, 'stream'));
  let bytes: Uint8Array;
  try {
    bytes = pq.writeParquet(wasmTable); // consumes the WebAssembly table
  } catch (e) {
    throw new FileFormatError(arrowPath, `cannot be written as Parquet (${e instanceof Error ? e.message : String(e)})`);
  }
  await writeFileAtomic(parquetPath, bytes);
}
