/**
 * Arrow out: pinrec's embeddings, factors and results as Arrow IPC files that pyarrow, Polars, DuckDB (through
 * Parquet) and arrow-rs read, written batch by batch so memory stays bounded by one record batch.
 *
 * - {@link ArrowFileWriter} writes an Arrow IPC *file* (random-access format: `ARROW1` magic, the schema, the record
 *   batches, the end-of-stream marker, a footer) or an IPC *stream* to a temp file beside the target
 *   (`.<name>.<pid>.<random>.pinrec-tmp`, the same naming as {@link writeFileAtomic}); `close()` flushes, fsyncs
 *   and renames it into place, `abort()` and any error remove it. The target is never seen half-written: it
 *   keeps its old content until the rename.
 * - Every batch goes to the file before the next one is built: a writer holds one batch's buffers, never the
 *   whole output (the buffers of a numeric column are the caller's typed array, not a copy).
 * - The file format holds a complete IPC stream after its 8-byte magic (schema message included, as the Arrow
 *   spec lays out), so a stream reader given `bytes.subarray(8)` parses it too. (apache-arrow's own
 *   `RecordBatchFileWriter` leaves the schema message out and keeps it only in the footer; the writer here puts
 *   it back.)
 * - Column builders ({@link idColumn}, {@link vectorColumn}, {@link float32Column}, {@link int32Column},
 *   {@link utf8Column}) make Arrow `Data` straight from typed arrays: no per-row JS objects for numeric columns.
 *
 * Id columns ({@link idColumnType}): `Utf8` when the ids are strings, `Int32` when every id is an integer
 * number in [-2³¹, 2³¹), `Float64` for other numbers, `Int64` for bigints. Readers give strings, numbers and
 * bigints back, so an id comes back as it went in (`-0` reads back as `0`: the id maps treat them as one id).
 *
 * Schema metadata: `pinrec.kind` (`embeddings`, `results` or `factors`) and `pinrec.version` (the format's
 * version, {@link ARROW_FORMAT_VERSION}), plus per-kind keys (`pinrec.dim`...). See docs/arrow.md.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import {
  Field, FixedSizeList, Float32, Float64, Int32, Int64, RecordBatch, RecordBatchFileWriter, RecordBatchStreamWriter,
  RecordBatchWriter, Schema, Struct, Type, Utf8, Vector, makeData, tableFromIPC, util as arrowUtil,
  type Data, type DataType, type Table,
} from 'apache-arrow';
import { removeStaleTemps } from './container.js';
import { firstNullRow } from './arrow.js';
import { ClosedError, FileFormatError, InvalidParameterError, describeValue } from './errors.js';
import type { Ranked } from './interfaces.js';
import type { Id, ProgressCallback } from './types.js';
import { checkInt, checkOneOf } from './validate.js';

/** Version of pinrec's Arrow interchange schemas, written as the `pinrec.version` schema metadata. */
export const ARROW_FORMAT_VERSION = 1;

/** Rows per record batch unless `batchRows` says otherwise. */
export const DEFAULT_BATCH_ROWS = 65_536;

/** Largest `batchRows` accepted (2²⁴ rows). */
export const MAX_BATCH_ROWS = 1 << 24;

/** `'file'`: the Arrow IPC file (random-access) format, `.arrow`; `'stream'`: the IPC stream format, `.arrows`. */
export type ArrowFormat = 'file' | 'stream';

/** What a pinrec Arrow file holds (its `pinrec.kind` metadata). */
export type ArrowKind = 'embeddings' | 'results' | 'factors';

/** Arrow type of an id column: `Utf8`, `Int32`, `Float64` or `Int64` (see {@link idColumnType}). */
export type IdColumnType = 'utf8' | 'int32' | 'float64' | 'int64';

const ID_TYPES: readonly IdColumnType[] = ['utf8', 'int32', 'float64', 'int64'];
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const MAGIC = Buffer.from('ARROW1', 'latin1');
const EOS = Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** Options every Arrow writer takes. */
export interface ArrowWriteOptions {
  /** Rows per record batch (an integer in [1, 2²⁴]). @default 65_536 */
  batchRows?: number;
  /** `'file'` (random-access, with a footer) or `'stream'`. @default 'file' */
  format?: ArrowFormat;
  /** Called after every batch with `{ stage: 'arrow:write', done: rows written, total }`. */
  onProgress?: ProgressCallback;
  /** Extra schema metadata (string keys and values), merged over pinrec's own keys. @default none */
  metadata?: Readonly<Record<string, string>>;
}

/** What a finished write reports. */
export interface ArrowWriteSummary {
  /** The file written. */
  path: string;
  /** Rows written. */
  rows: number;
  /** Record batches written. */
  batches: number;
  /** Bytes of the file. */
  bytes: number;
}

// ---------------------------------------------------------------------------------------------------------
// IPC writers that hand their bytes over batch by batch

/** A view of `chunk`'s bytes (no copy). */
function bytesOf(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return new Uint8Array(0);
}

/** The base class's schema message writer (the file writer overrides it with the magic only). */
const writeSchemaMessage = (RecordBatchWriter.prototype as unknown as { _writeSchema(this: unknown, schema: Schema): unknown })._writeSchema;

/** apache-arrow's file writer, collecting its output in `pending` instead of an unbounded byte queue. */
class FileSinkWriter extends RecordBatchFileWriter {
  pending: Uint8Array[] = [];
  protected override _write(chunk: unknown): this {
    if (this._started) {
      const b = bytesOf(chunk);
      if (b.byteLength > 0) {
        this.pending.push(b);
        this._position += b.byteLength;
      }
    }
    return this;
  }
  // Magic and padding, then the schema message: the file's body is a complete IPC stream, as the spec lays out.
  protected override _writeSchema(schema: Schema): this {
    super._writeSchema(schema);
    writeSchemaMessage.call(this, schema);
    return this;
  }
}

/** apache-arrow's stream writer, collecting its output in `pending`. */
class StreamSinkWriter extends RecordBatchStreamWriter {
  pending: Uint8Array[] = [];
  protected override _write(chunk: unknown): this {
    if (this._started) {
      const b = bytesOf(chunk);
      if (b.byteLength > 0) {
        this.pending.push(b);
        this._position += b.byteLength;
      }
    }
    return this;
  }
}

/** Write every buffer at the file's current end, resuming after short writes, at most 1024 buffers per call. */
async function writeAll(fh: fsp.FileHandle, buffers: Uint8Array[]): Promise<number> {
  let total = 0;
  let i = 0;
  while (i < buffers.length) {
    const group = buffers.slice(i, i + 1024);
    let want = 0;
    for (const b of group) want += b.byteLength;
    let { bytesWritten } = await fh.writev(group);
    total += bytesWritten;
    if (bytesWritten < want) {
      // a short write: finish buffer by buffer
      for (const b of group) {
        if (bytesWritten >= b.byteLength) { bytesWritten -= b.byteLength; continue; }
        let rest = b.subarray(bytesWritten);
        bytesWritten = 0;
        while (rest.byteLength > 0) {
          const r = await fh.write(rest);
          if (r.bytesWritten <= 0) throw new Error('write made no progress');
          total += r.bytesWritten;
          rest = rest.subarray(r.bytesWritten);
        }
      }
    }
    i += group.length;
  }
  return total;
}

// Temp files left by killed writers are removed with the container's rule (`removeStaleTemps`): same naming.

/** Columns of one batch by field name: Arrow `Data` (or a single-chunk `Vector`). */
export type ArrowColumns = Readonly<Record<string, Data | Vector>>;

/** Options of {@link ArrowFileWriter.open}. */
export interface ArrowFileWriterOptions {
  /** `'file'` (random-access, with a footer) or `'stream'`. @default 'file' */
  format?: ArrowFormat;
}

/**
 * Writes one Arrow IPC file batch by batch, atomically: bytes go to a temp file beside `path`, `close()`
 * renames it into place, `abort()` (or any failed `write`) removes it. Calls are queued, so `write`s need
 * not be awaited one by one, but each batch is written to the file before the next is taken. Memory holds
 * one batch (the caller's), never the file.
 *
 * @example
 * import { Field, Float32, Schema } from 'apache-arrow';
 * import { ArrowFileWriter, float32Column } from 'pinrec';
 * const w = await ArrowFileWriter.open('scores.arrow', new Schema([new Field('score', new Float32(), false)]));
 * await w.write({ score: float32Column(Float32Array.of(0.5, 0.25)) });
 * await w.close(); // scores.arrow appears now, complete
 */
export class ArrowFileWriter {
  /** The target file. */
  readonly path: string;
  /** The schema every batch has. */
  readonly schema: Schema;
  /** The IPC format written. */
  readonly format: ArrowFormat;
  private readonly tmp: string;
  private fh: fsp.FileHandle | null;
  private readonly writer: FileSinkWriter | StreamSinkWriter;
  private rows_ = 0;
  private batches_ = 0;
  private bytes_ = 0;
  private state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';
  private failure: unknown;
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(file: string, schema: Schema, format: ArrowFormat, tmp: string, fh: fsp.FileHandle) {
    this.path = file;
    this.schema = schema;
    this.format = format;
    this.tmp = tmp;
    this.fh = fh;
    this.writer = format === 'file' ? new FileSinkWriter() : new StreamSinkWriter();
    this.writer.reset(undefined, schema); // starts the file with the schema (a file of 0 batches still has one)
  }

  /**
   * Create the temp file and start the IPC output with `schema` (a `Schema` or its fields).
   * @throws {InvalidParameterError} for a bad path, schema or format
   * @example
   * const w = await ArrowFileWriter.open('out.arrow', [new Field('score', new Float32(), false)], { format: 'file' });
   */
  static async open(file: string, schema: Schema | readonly Field[], options: ArrowFileWriterOptions = {}): Promise<ArrowFileWriter> {
    if (typeof file !== 'string' || file.length === 0) throw new InvalidParameterError('path', 'a non-empty file path', file);
    const s = schema instanceof Schema ? schema : Array.isArray(schema) && schema.every((f) => f instanceof Field) ? new Schema([...schema]) : null;
    if (!s) throw new InvalidParameterError('schema', 'an apache-arrow Schema or an array of Fields', schema);
    const format = checkOneOf('format', (options ?? {}).format ?? 'file', ['file', 'stream'] as const);
    const dir = path.dirname(path.resolve(file));
    const base = path.basename(file);
    await removeStaleTemps(dir, base);
    const tmp = path.join(dir, `.${base}.${process.pid}.${randomBytes(6).toString('hex')}.pinrec-tmp`);
    const fh = await fsp.open(tmp, 'wx', 0o644);
    try {
      return new ArrowFileWriter(file, s, format, tmp, fh);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw e;
    }
  }

  /** Rows written so far. */
  get rows(): number {
    return this.rows_;
  }

  /** Record batches written so far. */
  get batches(): number {
    return this.batches_;
  }

  /**
   * Append one record batch: a `RecordBatch` with this writer's schema, or its columns by field name
   * (`Data` or single-chunk `Vector`s of the field's type, all of one length; no nulls in a non-nullable
   * field). A batch of 0 rows writes nothing. Any error aborts the writer: the temp file is removed, and the
   * target keeps its old content.
   * @throws {InvalidParameterError} for a batch that does not fit the schema
   * @throws {ClosedError} after `close()` or `abort()`
   */
  write(batch: RecordBatch | ArrowColumns): Promise<void> {
    return this.enqueue(async () => {
      let rb: RecordBatch;
      try {
        rb = this.toBatch(batch);
      } catch (e) {
        await this.discard();
        throw e;
      }
      if (rb.numRows === 0) return;
      this.writer.write(rb);
      this.rows_ += rb.numRows;
      this.batches_++;
      await this.flush();
    });
  }

  /**
   * Finish the file (end-of-stream marker, footer), fsync, and rename it over `path` (then fsync the folder).
   * @throws {ClosedError} when already closed or aborted
   */
  close(): Promise<ArrowWriteSummary> {
    return this.enqueue(async () => {
      this.state = 'closing';
      const fh = this.fh!;
      try {
        this.writer.close();
        await this.flush();
        await fh.sync();
        await fh.close();
        this.fh = null;
        await fsp.rename(this.tmp, this.path);
      } catch (e) {
        await this.discard();
        throw e;
      }
      this.state = 'closed';
      const dir = path.dirname(path.resolve(this.path));
      try {
        const dh = await fsp.open(dir, 'r');
        try { await dh.sync(); } finally { await dh.close(); }
      } catch {
        // some file systems refuse fsync on a folder; the rename is still atomic
      }
      return { path: this.path, rows: this.rows_, batches: this.batches_, bytes: this.bytes_ };
    });
  }

  /** Stop and remove the temp file; `path` is left as it was. Safe to call more than once or after a failure. */
  async abort(): Promise<void> {
    await this.tail.catch(() => undefined);
    if ((this.state as string) === 'closed') return;
    await this.discard();
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.state !== 'open') {
        throw new ClosedError(`ArrowFileWriter for ${this.path} is ${this.state === 'aborted' ? 'aborted' : 'closed'}${this.failure ? ` (${(this.failure as Error).message})` : ''}`);
      }
      return job();
    };
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  private async flush(): Promise<void> {
    const chunks = this.writer.pending;
    if (chunks.length === 0) return;
    this.writer.pending = [];
    try {
      this.bytes_ += await writeAll(this.fh!, chunks);
    } catch (e) {
      await this.discard(e);
      throw e;
    }
  }

  private async discard(reason?: unknown): Promise<void> {
    if (this.state === 'aborted') return;
    this.state = 'aborted';
    if (reason !== undefined) this.failure = reason;
    this.writer.pending = [];
    const fh = this.fh;
    this.fh = null;
    if (fh) await fh.close().catch(() => undefined);
    await fsp.rm(this.tmp, { force: true }).catch(() => undefined);
  }

  private toBatch(batch: RecordBatch | ArrowColumns): RecordBatch {
    if (batch instanceof RecordBatch) {
      // apache-arrow's writer silently ends the file on a batch of another schema: refuse it instead
      if (!arrowUtil.compareSchemas(this.schema, batch.schema)) {
        throw new InvalidParameterError('batch', `a record batch with the writer's schema (${schemaText(this.schema)})`, `a batch of ${schemaText(batch.schema)}`);
      }
      return batch.schema === this.schema ? batch : new RecordBatch(this.schema, batch.data);
    }
    if (batch === null || typeof batch !== 'object') throw new InvalidParameterError('batch', 'a RecordBatch or an object of columns by field name', batch);
    const fields = this.schema.fields;
    const children: Data[] = [];
    let length = -1;
    for (const f of fields) {
      const c = Object.hasOwn(batch, f.name) ? (batch as Record<string, unknown>)[f.name] : undefined;
      let d: Data;
      if (c instanceof Vector) {
        if (c.data.length !== 1) throw new InvalidParameterError(`batch.${f.name}`, 'a Data or a Vector of one chunk', `a Vector of ${c.data.length} chunks`);
        d = c.data[0];
      } else if (c !== null && typeof c === 'object' && 'type' in c && 'length' in c && 'nullCount' in c) {
        d = c as Data;
      } else {
        throw new InvalidParameterError(`batch.${f.name}`, `an Arrow Data of type ${f.type}`, c);
      }
      if (!arrowUtil.compareTypes(f.type, d.type)) throw new InvalidParameterError(`batch.${f.name}`, `a column of type ${f.type}`, `a column of type ${d.type}`);
      if (length < 0) length = d.length;
      else if (d.length !== length) throw new InvalidParameterError(`batch.${f.name}.length`, `the length of the other columns (${length})`, d.length);
      if (!f.nullable && d.nullCount > 0) throw new InvalidParameterError(`batch.${f.name}`, 'a column without nulls (the field is not nullable)', `${d.nullCount} nulls`);
      children.push(d);
    }
    const extra = Object.keys(batch).find((k) => !fields.some((f) => f.name === k));
    if (extra !== undefined) throw new InvalidParameterError(`batch.${extra}`, `a field of the schema (${fields.map((f) => f.name).join(', ')})`, 'an extra column');
    const data = makeData({ type: new Struct(fields), length: Math.max(0, length), nullCount: 0, children });
    return new RecordBatch(this.schema, data);
  }
}

function schemaText(s: Schema): string {
  return s.fields.map((f) => `${f.name}: ${f.type}`).join(', ');
}

/**
 * Write record batches from an iterable (sync or async) to an Arrow IPC file, atomically (see
 * {@link ArrowFileWriter}): each batch is written before the next is pulled, so a generator that builds them
 * one at a time keeps memory flat. An error from the iterable or a bad batch removes the temp file and leaves
 * `path` as it was.
 *
 * @param schema the schema, or its fields
 * @param batches record batches, or objects of columns by field name
 * @param options `format`, `onProgress` (`total` is `options.total`, 0 when unknown)
 * @example
 * import { Field, Float32, Schema } from 'apache-arrow';
 * import { float32Column, writeArrowBatches } from 'pinrec';
 * function* parts() { for (let b = 0; b < 3; b++) yield { score: float32Column(new Float32Array(1000).fill(b)) }; }
 * await writeArrowBatches('scores.arrow', [new Field('score', new Float32(), false)], parts());
 */
export async function writeArrowBatches(
  file: string,
  schema: Schema | readonly Field[],
  batches: Iterable<RecordBatch | ArrowColumns> | AsyncIterable<RecordBatch | ArrowColumns>,
  options: Omit<ArrowWriteOptions, 'batchRows' | 'metadata'> & { total?: number } = {},
): Promise<ArrowWriteSummary> {
  const o = options ?? {};
  if (!isIterable(batches) && !isAsyncIterable(batches)) throw new InvalidParameterError('batches', 'an iterable or async iterable of batches', batches);
  const w = await ArrowFileWriter.open(file, schema, { format: o.format });
  try {
    for await (const b of batches as AsyncIterable<RecordBatch | ArrowColumns>) {
      await w.write(b);
      o.onProgress?.({ stage: 'arrow:write', done: w.rows, total: o.total ?? 0 });
    }
    return await w.close();
  } catch (e) {
    await w.abort();
    throw e;
  }
}

function isIterable(x: unknown): x is Iterable<unknown> {
  return x !== null && x !== undefined && typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function' && typeof x !== 'string';
}
function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return x !== null && x !== undefined && typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

// ---------------------------------------------------------------------------------------------------------
// Column builders

const wellFormed: (s: string) => boolean = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
  ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
  : (s) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

/**
 * The Arrow type an id column gets: `'utf8'` when every id is a string, `'int32'` when every id is an integer
 * number in [-2³¹, 2³¹), `'float64'` for other (finite) numbers, `'int64'` for bigints in the int64 range. An
 * empty list gives `'utf8'`.
 *
 * @throws {InvalidParameterError} for mixed kinds (`ids[3] must be a string like ids[0]`) or an id that is not a
 * string, a finite number or a bigint
 * @example
 * idColumnType(['p1', 'p2']); // 'utf8'
 * idColumnType([1, 2, 3]);    // 'int32'
 * idColumnType([1, 2.5]);     // 'float64'
 * idColumnType([1n, 2n]);     // 'int64'
 */
export function idColumnType(ids: ArrayLike<Id>, parameter = 'ids'): IdColumnType {
  checkArrayLike(parameter, ids);
  const n = ids.length;
  if (n === 0) return 'utf8';
  const first = ids[0];
  const kind = typeof first;
  if (kind === 'string') {
    for (let i = 1; i < n; i++) if (typeof ids[i] !== 'string') throw new InvalidParameterError(`${parameter}[${i}]`, `a string like ${parameter}[0]`, ids[i]);
    return 'utf8';
  }
  if (kind === 'bigint') {
    for (let i = 0; i < n; i++) {
      const v = ids[i];
      if (typeof v !== 'bigint') throw new InvalidParameterError(`${parameter}[${i}]`, `a bigint like ${parameter}[0]`, v);
      if (v < INT64_MIN || v > INT64_MAX) throw new InvalidParameterError(`${parameter}[${i}]`, 'a bigint in the int64 range', v);
    }
    return 'int64';
  }
  if (kind === 'number') {
    let int32 = true;
    for (let i = 0; i < n; i++) {
      const v = ids[i];
      if (typeof v !== 'number') throw new InvalidParameterError(`${parameter}[${i}]`, `a number like ${parameter}[0]`, v);
      if (!Number.isFinite(v)) throw new InvalidParameterError(`${parameter}[${i}]`, 'a finite number', v);
      if (int32 && !(Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX)) int32 = false;
    }
    return int32 ? 'int32' : 'float64';
  }
  throw new InvalidParameterError(`${parameter}[0]`, 'a string, a finite number or a bigint', first);
}

/**
 * The apache-arrow `DataType` of an {@link IdColumnType}.
 * @example
 * arrowIdType('utf8'); // Utf8
 */
export function arrowIdType(type: IdColumnType): DataType {
  switch (checkOneOf('type', type, ID_TYPES)) {
    case 'utf8': return new Utf8();
    case 'int32': return new Int32();
    case 'float64': return new Float64();
    default: return new Int64();
  }
}

/**
 * An id column (no nulls) of rows `[start, end)` of `ids`, typed by `type` (default: {@link idColumnType}).
 * Strings are written as UTF-8 and must be well-formed Unicode (a lone surrogate has no UTF-8 form).
 *
 * @throws {InvalidParameterError} naming the first id that does not fit the type (`ids[7] must be an integer
 * number in the int32 range`)
 * @example
 * idColumn(['p1', 'p2']).length;           // 2
 * idColumn([10, 20, 30], 'int32', 1).length; // 2 (rows 1 and 2)
 */
export function idColumn(ids: ArrayLike<Id>, type?: IdColumnType, start = 0, end?: number, parameter = 'ids'): Data {
  checkArrayLike(parameter, ids);
  const t = type === undefined ? idColumnType(ids, parameter) : checkOneOf('type', type, ID_TYPES);
  const stop = end ?? ids.length;
  checkInt('start', start, 0, ids.length);
  checkInt('end', stop, start, ids.length);
  const n = stop - start;
  if (t === 'utf8') {
    const offsets = new Int32Array(n + 1);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const v = ids[start + i];
      if (typeof v !== 'string') throw new InvalidParameterError(`${parameter}[${start + i}]`, 'a string (the id column is Utf8)', v);
      if (!wellFormed(v)) throw new InvalidParameterError(`${parameter}[${start + i}]`, 'a well-formed Unicode string (a lone surrogate has no UTF-8 form)', v);
      bytes += Buffer.byteLength(v, 'utf8');
      if (bytes > INT32_MAX) throw new InvalidParameterError('batchRows', `small enough that one batch of ${parameter} holds < 2 GiB of UTF-8`, n);
      offsets[i + 1] = bytes;
    }
    const data = Buffer.allocUnsafe(bytes);
    for (let i = 0; i < n; i++) data.write(ids[start + i] as string, offsets[i], 'utf8');
    return makeData({ type: new Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data: new Uint8Array(data.buffer, data.byteOffset, bytes) });
  }
  if (t === 'int64') {
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      const v = ids[start + i];
      if (typeof v !== 'bigint' || v < INT64_MIN || v > INT64_MAX) throw new InvalidParameterError(`${parameter}[${start + i}]`, 'a bigint in the int64 range (the id column is Int64)', v);
      out[i] = v;
    }
    return makeData({ type: new Int64(), length: n, nullCount: 0, data: out });
  }
  if (t === 'int32') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = ids[start + i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
        throw new InvalidParameterError(`${parameter}[${start + i}]`, 'an integer number in the int32 range (the id column is Int32)', v);
      }
      out[i] = v;
    }
    return makeData({ type: new Int32(), length: n, nullCount: 0, data: out });
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = ids[start + i];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidParameterError(`${parameter}[${start + i}]`, 'a finite number (the id column is Float64)', v);
    out[i] = v;
  }
  return makeData({ type: new Float64(), length: n, nullCount: 0, data: out });
}

/** The Arrow type of a vector column: `FixedSizeList<Float32>(dim)` with non-null items named `item`. */
export function vectorType(dim: number): FixedSizeList<Float32> {
  checkInt('dim', dim, 1);
  return new FixedSizeList(dim, new Field('item', new Float32(), false));
}

/**
 * A `FixedSizeList<Float32>(dim)` column (no nulls) over `values` (rows × dim, row-major), without copying.
 * @throws {InvalidParameterError} when `values` is not a Float32Array or its length is not a multiple of `dim`
 * @example
 * vectorColumn(Float32Array.of(1, 2, 3, 4), 2).length; // 2 rows
 */
export function vectorColumn(values: Float32Array, dim: number, parameter = 'vectors'): Data<FixedSizeList<Float32>> {
  if (!(values instanceof Float32Array)) throw new InvalidParameterError(parameter, 'a Float32Array', values);
  const type = vectorType(dim);
  if (values.length % dim !== 0) throw new InvalidParameterError(`${parameter}.length`, `a multiple of dim (${dim})`, values.length);
  const rows = values.length / dim;
  const child = makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values });
  return makeData({ type, length: rows, nullCount: 0, child });
}

/**
 * A `Float32` column (no nulls) over `values`, without copying.
 * @example
 * float32Column(Float32Array.of(0.5, 0.25)).length; // 2
 */
export function float32Column(values: Float32Array): Data<Float32> {
  if (!(values instanceof Float32Array)) throw new InvalidParameterError('values', 'a Float32Array', values);
  return makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values });
}

/**
 * An `Int32` column (no nulls) over `values`, without copying.
 * @example
 * int32Column(Int32Array.of(1, 2, 3)).length; // 3
 */
export function int32Column(values: Int32Array): Data<Int32> {
  if (!(values instanceof Int32Array)) throw new InvalidParameterError('values', 'an Int32Array', values);
  return makeData({ type: new Int32(), length: values.length, nullCount: 0, data: values });
}

/**
 * A nullable `Utf8` column: `null` and `undefined` become nulls, strings must be well-formed Unicode.
 * @throws {InvalidParameterError} naming the first value that is neither a string nor null/undefined
 * @example
 * utf8Column(['cf', null, 'visual']).nullCount; // 1
 */
export function utf8Column(values: ArrayLike<string | null | undefined>, parameter = 'values', start = 0, end?: number): Data<Utf8> {
  checkArrayLike(parameter, values);
  const stop = end ?? values.length;
  checkInt('start', start, 0, values.length);
  checkInt('end', stop, start, values.length);
  const n = stop - start;
  const offsets = new Int32Array(n + 1);
  let bytes = 0;
  let nulls = 0;
  let validity: Uint8Array | undefined;
  for (let i = 0; i < n; i++) {
    const v = values[start + i];
    if (v === null || v === undefined) {
      if (!validity) { validity = new Uint8Array((n + 7) >> 3); for (let j = 0; j < i; j++) validity[j >> 3] |= 1 << (j & 7); }
      nulls++;
    } else {
      if (typeof v !== 'string') throw new InvalidParameterError(`${parameter}[${start + i}]`, 'a string, null or undefined', v);
      if (!wellFormed(v)) throw new InvalidParameterError(`${parameter}[${start + i}]`, 'a well-formed Unicode string (a lone surrogate has no UTF-8 form)', v);
      bytes += Buffer.byteLength(v, 'utf8');
      if (bytes > INT32_MAX) throw new InvalidParameterError('batchRows', `small enough that one batch of ${parameter} holds < 2 GiB of UTF-8`, n);
      if (validity) validity[i >> 3] |= 1 << (i & 7);
    }
    offsets[i + 1] = bytes;
  }
  const data = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < n; i++) {
    const v = values[start + i];
    if (typeof v === 'string') data.write(v, offsets[i], 'utf8');
  }
  return makeData({
    type: new Utf8(), length: n, nullCount: nulls, valueOffsets: offsets, data: new Uint8Array(data.buffer, data.byteOffset, bytes),
    ...(validity ? { nullBitmap: validity } : {}),
  });
}

function checkArrayLike(parameter: string, v: unknown): asserts v is ArrayLike<unknown> {
  if (v === null || typeof v !== 'object' || typeof (v as ArrayLike<unknown>).length !== 'number') {
    throw new InvalidParameterError(parameter, 'an array', v);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Schemas

/** Schema metadata pinrec writes: kind and version first, then the kind's keys, then the caller's. */
export function pinrecMetadata(kind: ArrowKind, extra: Readonly<Record<string, string>> = {}, user?: Readonly<Record<string, string>>): Map<string, string> {
  const m = new Map<string, string>([['pinrec.kind', kind], ['pinrec.version', String(ARROW_FORMAT_VERSION)]]);
  for (const [k, v] of Object.entries(extra)) m.set(k, v);
  if (user !== undefined) {
    if (user === null || typeof user !== 'object') throw new InvalidParameterError('metadata', 'an object of string keys and values', user);
    for (const [k, v] of Object.entries(user)) {
      if (typeof v !== 'string') throw new InvalidParameterError(`metadata.${k}`, 'a string', v);
      m.set(k, v);
    }
  }
  return m;
}

interface CommonOptions {
  batchRows: number;
  format: ArrowFormat;
  onProgress?: ProgressCallback;
  metadata?: Readonly<Record<string, string>>;
}

function commonOptions(options: ArrowWriteOptions | undefined): CommonOptions {
  if (options !== undefined && (options === null || typeof options !== 'object')) throw new InvalidParameterError('options', 'an object', options);
  const o = options ?? {};
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new InvalidParameterError('onProgress', 'a function', o.onProgress);
  return {
    batchRows: checkInt('batchRows', o.batchRows ?? DEFAULT_BATCH_ROWS, 1, MAX_BATCH_ROWS),
    format: checkOneOf('format', o.format ?? 'file', ['file', 'stream'] as const),
    onProgress: o.onProgress,
    metadata: o.metadata,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Embeddings

/** Options of {@link writeEmbeddingsArrow}. */
export interface EmbeddingsWriteOptions extends ArrowWriteOptions {
  /** Type of the id column. @default idColumnType(ids) */
  idType?: IdColumnType;
  /** Name of the id column. @default 'id' */
  idColumn?: string;
  /** Name of the vector column. @default 'embedding' */
  vectorColumn?: string;
}

/**
 * Write embeddings (one id and one `dim`-float vector a row) as an Arrow IPC file, atomically and in record
 * batches of `batchRows` rows. Schema: `id` (Utf8 | Int32 | Float64 | Int64, see {@link idColumnType}, not
 * null), `embedding` (`FixedSizeList<Float32>(dim)`, not null); metadata `pinrec.kind = embeddings`,
 * `pinrec.version`, `pinrec.dim`.
 *
 * @param vectors rows × dim floats, row-major (`ids.length × dim` of them), all finite
 * @throws {InvalidParameterError} for a bad dim, a length that is not `ids.length × dim`, a NaN or infinite
 * component (`vectors[13] (row 4, component 1) must be a finite number`), or ids of mixed kinds
 * @example
 * await writeEmbeddingsArrow('pins.arrow', ['p1', 'p2'], Float32Array.of(1, 0, 0, 1), 2);
 * const { ids, vectors, dim } = await readEmbeddingsArrow('pins.arrow'); // ['p1', 'p2'], Float32Array(4), 2
 */
export async function writeEmbeddingsArrow(file: string, ids: ArrayLike<Id>, vectors: Float32Array, dim: number, options: EmbeddingsWriteOptions = {}): Promise<ArrowWriteSummary> {
  const o = commonOptions(options);
  const idName = options?.idColumn ?? 'id';
  const vecName = options?.vectorColumn ?? 'embedding';
  checkColumnNames(idName, vecName);
  return writeVectors(file, ids, vectors, dim, o, options?.idType, 'embeddings', idName, vecName, {});
}

/** Internal: id + vector rows, shared by embeddings and factors. */
export async function writeVectors(
  file: string, ids: ArrayLike<Id>, vectors: Float32Array, dim: number, o: CommonOptions, idType: IdColumnType | undefined,
  kind: ArrowKind, idName: string, vecName: string, meta: Record<string, string>,
): Promise<ArrowWriteSummary> {
  checkArrayLike('ids', ids);
  checkInt('dim', dim, 1);
  if (!(vectors instanceof Float32Array)) throw new InvalidParameterError('vectors', 'a Float32Array (rows × dim, row-major)', vectors);
  if (vectors.length !== ids.length * dim) throw new InvalidParameterError('vectors.length', `ids.length × dim (${ids.length} × ${dim} = ${ids.length * dim})`, vectors.length);
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i];
    if (v - v !== 0) throw new InvalidParameterError(`vectors[${i}] (row ${Math.floor(i / dim)}, component ${i % dim})`, 'a finite number', v);
  }
  const t = idType === undefined ? idColumnType(ids) : checkOneOf('idType', idType, ID_TYPES);
  const n = ids.length;
  const rows = o.batchRows;
  return writeVectorBatches(file, t, dim, o, kind, idName, vecName, meta, n, function* () {
    for (let s = 0; s < n; s += rows) {
      const e = Math.min(n, s + rows);
      yield { id: idColumn(ids, t, s, e), vectors: vectors.subarray(s * dim, e * dim) };
    }
  }());
}

/** Internal: write batches of (id column, vectors) with the vector schema. */
export async function writeVectorBatches(
  file: string, idType: IdColumnType, dim: number, o: CommonOptions, kind: ArrowKind, idName: string, vecName: string,
  meta: Record<string, string>, total: number, parts: Iterable<{ id: Data; vectors: Float32Array }> | AsyncIterable<{ id: Data; vectors: Float32Array }>,
): Promise<ArrowWriteSummary> {
  const schema = new Schema(
    [new Field(idName, arrowIdType(idType), false), new Field(vecName, vectorType(dim), false)],
    pinrecMetadata(kind, { 'pinrec.dim': String(dim), ...meta }, o.metadata),
  );
  const w = await ArrowFileWriter.open(file, schema, { format: o.format });
  try {
    for await (const p of parts as AsyncIterable<{ id: Data; vectors: Float32Array }>) {
      await w.write({ [idName]: p.id, [vecName]: vectorColumn(p.vectors, dim) });
      o.onProgress?.({ stage: 'arrow:write', done: w.rows, total });
    }
    return await w.close();
  } catch (e) {
    await w.abort();
    throw e;
  }
}

function checkColumnNames(...names: string[]): void {
  for (const n of names) if (typeof n !== 'string' || n.length === 0) throw new InvalidParameterError('column name', 'a non-empty string', n);
  if (new Set(names).size !== names.length) throw new InvalidParameterError('column names', 'distinct', names.join(', '));
}

/** Options of {@link readEmbeddingsArrow}. */
export interface EmbeddingsReadOptions {
  /** Name of the id column. @default 'id' */
  idColumn?: string;
  /** Name of the vector column. @default 'embedding' */
  vectorColumn?: string;
}

/** What {@link readEmbeddingsArrow} returns. */
export interface EmbeddingsArrow<I extends Id = Id> {
  /** Ids in row order: strings (Utf8), numbers (8-32-bit ints, floats) or bigints (64-bit ints). */
  ids: I[];
  /** rows × dim floats, row-major. */
  vectors: Float32Array;
  /** Vector dimension (from the type; for a `List` column of 0 rows, `pinrec.dim` or 0). */
  dim: number;
  /** The schema metadata (`pinrec.kind`, `pinrec.version`, ...; empty for files from other writers). */
  metadata: Map<string, string>;
}

/**
 * Read embeddings from an Arrow IPC file (file or stream format, from pinrec or any writer): an id column
 * and a vector column of `FixedSizeList<Float32>(dim)` or `List<Float32>` / `LargeList<Float32>` of one length.
 * Everything is checked: no nulls (rows or components), every component finite, the file complete.
 *
 * @throws {FileFormatError} naming the file and, for a bad value, the column and row: `pins.arrow: column
 * "embedding" row 3 component 1 is NaN`; also for a truncated file, a missing column or a wrong type
 * @example
 * await writeEmbeddingsArrow('pins.arrow', [1, 2], Float32Array.of(0.5, 0.5, 1, 0), 2);
 * const { ids, vectors, dim } = await readEmbeddingsArrow('pins.arrow'); // [1, 2], Float32Array(4), 2
 */
export async function readEmbeddingsArrow<I extends Id = Id>(file: string, options: EmbeddingsReadOptions = {}): Promise<EmbeddingsArrow<I>> {
  const idName = options?.idColumn ?? 'id';
  const vecName = options?.vectorColumn ?? 'embedding';
  const table = await readArrowTable(file);
  const ids = readIds(table, idName, file) as I[];
  const { vectors, dim } = readVectors(table, vecName, file);
  return { ids, vectors, dim, metadata: new Map(table.schema.metadata) };
}

/**
 * Read an Arrow IPC file (file or stream format) into an apache-arrow `Table`, checking that it is complete:
 * a file-format file must end with its footer and magic, and a stream pinrec wrote (its schema has `pinrec.kind`)
 * must end with the end-of-stream marker.
 * @throws {FileFormatError} when the file cannot be read, is not a regular file, is truncated or is not Arrow IPC
 * @example
 * const table = await readArrowTable('results.arrow'); table.numRows;
 */
export async function readArrowTable(file: string): Promise<Table> {
  if (typeof file !== 'string' || file.length === 0) throw new InvalidParameterError('path', 'a non-empty file path', file);
  let st: Stats;
  try {
    st = await fsp.stat(file);
  } catch (e) {
    throw new FileFormatError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!st.isFile()) throw new FileFormatError(file, 'is not a regular file');
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (e) {
    throw new FileFormatError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const isFile = buf.length >= 6 && buf.subarray(0, 6).equals(MAGIC);
  if (isFile && (buf.length < 12 || !buf.subarray(buf.length - 6).equals(MAGIC))) {
    throw new FileFormatError(file, 'is truncated: an Arrow IPC file ends with a footer and the ARROW1 magic, which are missing');
  }
  let table: Table;
  try {
    table = tableFromIPC(buf);
  } catch (e) {
    throw new FileFormatError(file, `is not a readable Arrow IPC file (${(e as Error).message})`);
  }
  if (!isFile && table.schema.metadata.has('pinrec.kind') && !(buf.length >= 8 && buf.subarray(buf.length - 8).equals(EOS))) {
    throw new FileFormatError(file, 'is truncated: the Arrow IPC stream pinrec wrote ends without its end-of-stream marker');
  }
  return table;
}

/** The column `name` of `table`, or a FileFormatError listing the columns there are. */
function columnOf(table: Table, name: string, file: string): Vector {
  const v = table.getChild(name);
  if (!v) throw new FileFormatError(file, `has no column "${name}" (columns: ${table.schema.fields.map((f) => f.name).join(', ') || 'none'})`);
  return v;
}

/** Ids of column `name`: strings, numbers or bigints, no nulls. */
export function readIds(table: Table, name: string, file: string): Id[] {
  const v = columnOf(table, name, file);
  const t = v.type as DataType;
  const isInt = t.typeId === Type.Int;
  const ok = t.typeId === Type.Utf8 || t.typeId === Type.LargeUtf8 || isInt || t.typeId === Type.Float
    || (t.typeId === Type.Dictionary && [Type.Utf8, Type.LargeUtf8].includes((t as unknown as { dictionary: DataType }).dictionary.typeId));
  if (!ok) throw new FileFormatError(file, `column "${name}" must hold ids as Utf8, integers or floats (got ${t})`);
  if (t.typeId === Type.Float && (t as unknown as { precision: number }).precision === 0) {
    throw new FileFormatError(file, `column "${name}" must hold ids as Utf8, integers or floats of 32 or 64 bits (got ${t})`);
  }
  const out: Id[] = new Array(v.length);
  const nullRow = firstNullRow(v);
  if (nullRow >= 0) throw new FileFormatError(file, `column "${name}" row ${nullRow} is null (ids must not be null)`);
  if (isInt || t.typeId === Type.Float) {
    const a = v.toArray() as ArrayLike<number | bigint>;
    const big = isInt && (t as unknown as { bitWidth: number }).bitWidth === 64;
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      if (big) out[i] = BigInt(x);
      else {
        const n = Number(x);
        if (!Number.isFinite(n)) throw new FileFormatError(file, `column "${name}" row ${i} is ${describeValue(n)} (ids must be finite)`);
        out[i] = n;
      }
    }
  } else {
    let i = 0;
    for (const x of v) out[i++] = x as string;
  }
  return out;
}

/** Vectors of column `name` as one row-major Float32Array; every row of one length, no nulls, all finite. */
export function readVectors(table: Table, name: string, file: string): { vectors: Float32Array; dim: number } {
  const v = columnOf(table, name, file);
  const t = v.type as DataType;
  const child = (t as unknown as { children?: Field[] }).children?.[0]?.type as DataType | undefined;
  const isFixed = t.typeId === Type.FixedSizeList;
  const isList = t.typeId === Type.List || t.typeId === Type.LargeList;
  const isF32 = child !== undefined && child.typeId === Type.Float && (child as unknown as { precision: number }).precision === 1;
  if (!(isFixed || isList) || !isF32) {
    throw new FileFormatError(file, `column "${name}" must be FixedSizeList<Float32> or List<Float32> (got ${t})`);
  }
  const rows = v.length;
  let dim = isFixed ? (t as FixedSizeList).listSize : -1;
  if (isFixed && dim < 1) throw new FileFormatError(file, `column "${name}" has vectors of dimension ${dim}`);
  const nullRow = firstNullRow(v);
  if (nullRow >= 0) throw new FileFormatError(file, `column "${name}" row ${nullRow} is null`);
  let row0 = 0;
  let out: Float32Array | null = isFixed ? new Float32Array(rows * dim) : null;
  for (const d of v.data) {
    const c = d.children[0];
    const values = c.values as Float32Array;
    for (let r = 0; r < d.length; r++) {
      // apache-arrow slices the value and offset buffers of a sliced chunk (and a fixed-size list's child): index from 0
      let a: number, b: number;
      if (isFixed) {
        a = r * dim;
        b = a + dim;
      } else {
        const off = d.valueOffsets as Int32Array | BigInt64Array;
        a = Number(off[r]);
        b = Number(off[r + 1]);
        const len = b - a;
        if (dim < 0) {
          if (len < 1) throw new FileFormatError(file, `column "${name}" row ${row0 + r} is an empty list (vectors need dimension >= 1)`);
          dim = len;
          out = new Float32Array(rows * dim);
        } else if (len !== dim) {
          throw new FileFormatError(file, `column "${name}" row ${row0 + r} has ${len} components, row 0 has ${dim} (every vector must have one length)`);
        }
      }
      const o = (row0 + r) * dim;
      for (let p = a; p < b; p++) {
        if (c.nullCount > 0 && !c.getValid(p)) throw new FileFormatError(file, `column "${name}" row ${row0 + r} component ${p - a} is null`);
        const x = values[p];
        if (x - x !== 0) throw new FileFormatError(file, `column "${name}" row ${row0 + r} component ${p - a} is ${describeValue(x)} (components must be finite)`);
        out![o + p - a] = x;
      }
    }
    row0 += d.length;
  }
  if (dim < 0) {
    const meta = Number(table.schema.metadata.get('pinrec.dim'));
    dim = Number.isInteger(meta) && meta >= 1 ? meta : 0;
    out = new Float32Array(0);
  }
  return { vectors: out!, dim };
}

// ---------------------------------------------------------------------------------------------------------
// Results

/** One row of a results file: a recommendation, a search hit or a feed item. */
export interface ResultRow<U extends Id = Id, I extends Id = Id> {
  /** Who the result is for (omit for a single list, e.g. search hits). */
  user?: U;
  /** Position in the list, 1-based. */
  rank: number;
  /** The pin. */
  pin: I;
  /** Its score (written as float32). */
  score: number;
  /** Why it is there (`'cf'`, `'visual'`, `'popular'`...); null or absent when there is no reason. */
  reason?: string | null;
}

/** Options of {@link writeResultsArrow}. */
export interface ResultsWriteOptions extends ArrowWriteOptions {
  /** Write the `user` column. @default whether the first row has a `user` */
  user?: boolean;
  /** Types of the id columns. @default decided from the first batch (see {@link idColumnType}) */
  idType?: { user?: IdColumnType; pin?: IdColumnType };
  /** Number of rows expected, for `onProgress` (0: unknown). @default 0 */
  total?: number;
}

/**
 * Write results (recommendations, search hits, feeds) as an Arrow IPC file, streamed in batches of
 * `batchRows` rows from a sync or async iterable: memory holds one batch, whatever the number of rows.
 * Schema: `user` (id type, not null; only when `options.user` or the first row has a user), `rank` (Int32,
 * 1-based), `pin` (id type), `score` (Float32), `reason` (Utf8, nullable); metadata `pinrec.kind = results`,
 * `pinrec.version`.
 *
 * Id column types come from the first batch unless `idType` sets them: if a later row does not fit
 * (e.g. pin `3e9` after int32 pins, or a string after numbers), the write fails naming the row and the
 * option. An error from the rows (a bad row, or the iterable throwing) removes the temp file and leaves
 * `path` as it was.
 *
 * @throws {InvalidParameterError} naming the row: `rows[17].rank must be an integer in [1, 2147483647]`
 * @example
 * function* rows() { for (const u of ['ana', 'bo']) for (let r = 1; r <= 3; r++) yield { user: u, rank: r, pin: `p${r}`, score: 1 / r }; }
 * await writeResultsArrow('recs.arrow', rows());
 * const back = await readResultsArrow('recs.arrow'); // back.rank: Int32Array [1, 2, 3, 1, 2, 3]
 */
export async function writeResultsArrow<U extends Id = Id, I extends Id = Id>(
  file: string,
  rows: Iterable<ResultRow<U, I>> | AsyncIterable<ResultRow<U, I>>,
  options: ResultsWriteOptions = {},
): Promise<ArrowWriteSummary> {
  const o = commonOptions(options);
  if (!isIterable(rows) && !isAsyncIterable(rows)) throw new InvalidParameterError('rows', 'an iterable or async iterable of result rows', rows);
  const total = options?.total === undefined ? 0 : checkInt('total', options.total, 0);
  if (options?.user !== undefined && typeof options.user !== 'boolean') throw new InvalidParameterError('user', 'a boolean', options.user);
  const idType = options?.idType ?? {};
  if (idType === null || typeof idType !== 'object') throw new InvalidParameterError('idType', 'an object { user?, pin? }', idType);
  let userType = idType.user === undefined ? undefined : checkOneOf('idType.user', idType.user, ID_TYPES);
  let pinType = idType.pin === undefined ? undefined : checkOneOf('idType.pin', idType.pin, ID_TYPES);
  let withUser = options?.user;

  const cap = o.batchRows;
  const users: Id[] = [];
  const pins: Id[] = [];
  const reasons: (string | null)[] = [];
  const ranks = new Int32Array(cap);
  const scores = new Float32Array(cap);
  let fill = 0;
  let seen = 0; // rows taken so far (the index in error messages)
  let userKind: string | undefined; // typeof the first row's user / pin: every row's must match
  let pinKind: string | undefined;
  let w: ArrowFileWriter | undefined;

  const open = async () => {
    if (withUser === undefined) withUser = false;
    userType ??= idColumnType(users.slice(0, fill), 'rows[].user');
    pinType ??= idColumnType(pins.slice(0, fill), 'rows[].pin');
    const fields = [
      ...(withUser ? [new Field('user', arrowIdType(userType), false)] : []),
      new Field('rank', new Int32(), false),
      new Field('pin', arrowIdType(pinType), false),
      new Field('score', new Float32(), false),
      new Field('reason', new Utf8(), true),
    ];
    w = await ArrowFileWriter.open(file, new Schema(fields, pinrecMetadata('results', {}, o.metadata)), { format: o.format });
  };
  const flush = async () => {
    if (!w) await open();
    if (fill === 0) return;
    const first = seen - fill;
    const cols: Record<string, Data> = {
      rank: int32Column(fill === cap ? ranks : ranks.subarray(0, fill)),
      pin: idColumnAt(pins, pinType!, fill, first, 'pin'),
      score: float32Column(fill === cap ? scores : scores.subarray(0, fill)),
      reason: utf8Column(reasons, 'rows[].reason', 0, fill),
    };
    if (withUser) cols.user = idColumnAt(users, userType!, fill, first, 'user');
    await w!.write(cols);
    fill = 0;
    o.onProgress?.({ stage: 'arrow:write', done: w!.rows, total });
  };
  const take = (row: ResultRow<U, I>) => {
    const at = `rows[${seen}]`;
    if (row === null || typeof row !== 'object') throw new InvalidParameterError(at, 'a result row { user?, rank, pin, score, reason? }', row);
    const { user, rank, pin, score, reason } = row;
    if (withUser === undefined) withUser = user !== undefined;
    if (withUser) {
      if (user === undefined || user === null) throw new InvalidParameterError(`${at}.user`, 'an id (the first row had a user, so every row needs one)', user);
      checkId(`${at}.user`, user);
      userKind = sameKind(`${at}.user`, user, userKind, 'rows[0].user');
    }
    if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1 || rank > INT32_MAX) throw new InvalidParameterError(`${at}.rank`, `an integer in [1, ${INT32_MAX}]`, rank);
    checkId(`${at}.pin`, pin);
    pinKind = sameKind(`${at}.pin`, pin, pinKind, 'rows[0].pin');
    if (typeof score !== 'number' || !Number.isFinite(score) || !Number.isFinite(Math.fround(score))) {
      throw new InvalidParameterError(`${at}.score`, 'a finite number within the float32 range', score);
    }
    if (reason !== undefined && reason !== null && typeof reason !== 'string') throw new InvalidParameterError(`${at}.reason`, 'a string, null or undefined', reason);
    users[fill] = withUser ? (user as Id) : 0;
    pins[fill] = pin;
    ranks[fill] = rank;
    scores[fill] = score;
    reasons[fill] = reason ?? null;
    fill++;
    seen++;
  };

  try {
    if (isIterable(rows)) {
      for (const row of rows as Iterable<ResultRow<U, I>>) {
        take(row);
        if (fill === cap) await flush(); // a sync iterable is awaited only between batches
      }
    } else {
      for await (const row of rows as AsyncIterable<ResultRow<U, I>>) {
        take(row);
        if (fill === cap) await flush();
      }
    }
    await flush();
    return await w!.close();
  } catch (e) {
    await w?.abort();
    throw e;
  }

  function idColumnAt(arr: Id[], type: IdColumnType, n: number, first: number, what: 'user' | 'pin'): Data {
    try {
      return idColumn(arr, type, 0, n, 'rows');
    } catch (e) {
      const m = e instanceof InvalidParameterError ? /^rows\[(\d+)\]$/.exec(e.parameter) : null;
      if (!m) throw e;
      const i = Number(m[1]);
      const v = arr[i];
      // a value of another kind than the column's (decided from the first batch unless idType set it)
      const other = typeof v !== (type === 'utf8' ? 'string' : type === 'int64' ? 'bigint' : 'number') || type === 'int32';
      const hint = idType[what] === undefined && other
        ? `; the ${what} column's type (${type}) was decided from the first batch: pass idType: { ${what}: ... } to choose it`
        : '';
      throw new InvalidParameterError(`rows[${first + i}].${what}`, `${(e as InvalidParameterError).rule}${hint}`, v);
    }
  }
}

/** typeof `id`, which must be `kind` when that is set (one column holds one kind of id). */
function sameKind(parameter: string, id: unknown, kind: string | undefined, first: string): string {
  const k = typeof id;
  if (kind !== undefined && k !== kind) throw new InvalidParameterError(parameter, `a ${kind} like ${first} (one column holds one kind of id)`, id);
  if (k === 'bigint' && ((id as bigint) < INT64_MIN || (id as bigint) > INT64_MAX)) throw new InvalidParameterError(parameter, 'a bigint in the int64 range', id);
  return k;
}

function checkId(parameter: string, id: unknown): void {
  const t = typeof id;
  if (t === 'string' || t === 'bigint' || (t === 'number' && Number.isFinite(id as number))) return;
  throw new InvalidParameterError(parameter, 'a string, a finite number or a bigint', id);
}

/**
 * Result rows of one ranked list (a recommendation, search hits, a feed): rank i+1 for `ranked.ids[i]` with
 * `ranked.scores[i]`, for `user` (undefined: rows without a user), with `reasons[i]` when given.
 * @example
 * const rows = [...rankedRows('ana', { ids: ['p1', 'p2'], scores: Float32Array.of(0.9, 0.5) }, ['cf', 'visual'])];
 * // [{ user: 'ana', rank: 1, pin: 'p1', score: 0.9..., reason: 'cf' }, { ..., rank: 2, pin: 'p2', reason: 'visual' }]
 */
export function* rankedRows<U extends Id, I extends Id>(user: U | undefined, ranked: Ranked<I>, reasons?: ArrayLike<string | null | undefined>): Generator<ResultRow<U, I>> {
  if (ranked === null || typeof ranked !== 'object' || !ranked.ids || !ranked.scores) throw new InvalidParameterError('ranked', 'a ranked list { ids, scores }', ranked);
  const n = ranked.ids.length;
  if (ranked.scores.length !== n) throw new InvalidParameterError('ranked.scores.length', `ranked.ids.length (${n})`, ranked.scores.length);
  if (reasons !== undefined && reasons.length !== n) throw new InvalidParameterError('reasons.length', `ranked.ids.length (${n})`, reasons.length);
  for (let i = 0; i < n; i++) {
    const row: ResultRow<U, I> = { rank: i + 1, pin: ranked.ids[i], score: ranked.scores[i] };
    if (user !== undefined) row.user = user;
    if (reasons !== undefined) row.reason = reasons[i] ?? null;
    yield row;
  }
}

/** What {@link readResultsArrow} returns: the columns of a results file. */
export interface ResultsArrow<U extends Id = Id, I extends Id = Id> {
  /** Users, when the file has a `user` column. */
  user?: U[];
  rank: Int32Array;
  pin: I[];
  score: Float32Array;
  /** Reasons (null where there is none); all null when the file has no `reason` column. */
  reason: (string | null)[];
  metadata: Map<string, string>;
}

/**
 * Read a results file written by {@link writeResultsArrow} (or any Arrow IPC file with `rank`, `pin` and
 * `score` columns; `user` and `reason` optional).
 * @throws {FileFormatError} for a truncated file, a missing column, a null, a rank outside int32 or a
 * non-finite score, naming the file, column and row
 * @example
 * const { user, rank, pin, score, reason } = await readResultsArrow('recs.arrow');
 */
export async function readResultsArrow<U extends Id = Id, I extends Id = Id>(file: string): Promise<ResultsArrow<U, I>> {
  const table = await readArrowTable(file);
  const has = (n: string) => table.schema.fields.some((f) => f.name === n);
  const pin = readIds(table, 'pin', file) as I[];
  const user = has('user') ? (readIds(table, 'user', file) as U[]) : undefined;
  const rank = new Int32Array(table.numRows);
  const score = new Float32Array(table.numRows);
  numbers(table, 'rank', file, (i, x) => {
    if (!Number.isInteger(x) || x < INT32_MIN || x > INT32_MAX) throw new FileFormatError(file, `column "rank" row ${i} is ${describeValue(x)} (ranks are int32 integers)`);
    rank[i] = x;
  });
  numbers(table, 'score', file, (i, x) => {
    if (!Number.isFinite(x)) throw new FileFormatError(file, `column "score" row ${i} is ${describeValue(x)} (scores must be finite)`);
    score[i] = x;
  });
  const reason: (string | null)[] = new Array(table.numRows).fill(null);
  if (has('reason')) {
    const v = table.getChild('reason')!;
    if (![Type.Utf8, Type.LargeUtf8, Type.Dictionary].includes((v.type as DataType).typeId)) throw new FileFormatError(file, `column "reason" must be Utf8 (got ${v.type})`);
    let i = 0;
    for (const x of v) { reason[i] = x === null || x === undefined ? null : String(x); i++; }
  }
  const out: ResultsArrow<U, I> = { rank, pin, score, reason, metadata: new Map(table.schema.metadata) };
  if (user) out.user = user;
  return out;
}

function numbers(table: Table, name: string, file: string, each: (row: number, x: number) => void): void {
  const v = columnOf(table, name, file);
  const t = v.type as DataType;
  if (t.typeId !== Type.Int && t.typeId !== Type.Float) throw new FileFormatError(file, `column "${name}" must be numeric (got ${t})`);
  const nullRow = firstNullRow(v);
  if (nullRow >= 0) throw new FileFormatError(file, `column "${name}" row ${nullRow} is null`);
  const a = v.toArray() as ArrayLike<number | bigint>;
  for (let i = 0; i < a.length; i++) each(i, Number(a[i]));
}
