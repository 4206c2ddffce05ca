/**
 * Interactions as partitioned files for a distributed engine (Spark, Dask, Ray, DuckDB) and for pinrec's own
 * out-of-core fit: `part-00000.arrow` … (or `.parquet`), one user's events always in one partition (by a stable
 * hash of the user id), plus `_manifest.json` naming the files, their row counts and the partitioning.
 */
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Field, Float32, Float64, Utf8, makeData } from 'apache-arrow';
import { FileFormatError, InvalidParameterError } from '../core/errors.js';
import type { Id, ProgressCallback } from '../core/types.js';
import { checkInt, checkOneOf } from '../core/validate.js';
import { arrowIdType, float32Column, idColumn, idColumnType, utf8Column, writeArrowBatches, type IdColumnType } from '../core/arrow-out.js';
import type { InteractionLog } from './interactions.js';
import { readArrowFile, readParquetFile, writeParquetFromArrow } from './io.js';

/** The manifest of a partitioned export. */
export interface PartitionManifest {
  kind: 'pinrec.interactions';
  version: 1;
  format: 'arrow' | 'parquet';
  /** How rows are assigned: `fnv1a32(String(user)) mod partitions`. */
  partitioning: string;
  columns: { user: IdColumnType; item: IdColumnType; weight: 'float32'; time?: 'float64' };
  partitions: { file: string; rows: number; users: number }[];
  /** `items.arrow`/`.parquet` with the item attributes, when exported. */
  items?: string;
  rows: number;
}

/** FNV-1a (32-bit) of a string's UTF-16 code units: stable across processes, machines and languages that agree on it. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Options of {@link exportInteractions}. */
export interface ExportInteractionsOptions {
  /** Number of partitions (files). Integer in [1, 65536]. @default 8 */
  partitions?: number;
  /** `'arrow'` (Arrow IPC files) or `'parquet'` (needs the optional `parquet-wasm`). @default 'arrow' */
  format?: 'arrow' | 'parquet';
  /** Rows per record batch inside a file. @default 65_536 */
  batchRows?: number;
  /** Item attributes to write beside the interactions (`items.arrow`): id, category, creator. */
  items?: readonly { id: Id; category?: string | null; creator?: string | null }[];
  /** Called after each partition with `{ stage: 'export', done, total }`. */
  onProgress?: ProgressCallback;
}

/**
 * Write an interaction log as partitioned files in `dir` (created when missing): columns `user`, `item`,
 * `weight` (Float32) and `time` (Float64, when the log has times), a user's rows all in the partition
 * `fnv1a32(String(user)) % partitions`, in log order. Every file is written atomically, the manifest last.
 *
 * @example
 * import { exportInteractions, interactionsFromColumns } from 'pinrec/cf';
 * const log = interactionsFromColumns({ users: ['a', 'a', 'b'], items: ['x', 'y', 'x'] });
 * const m = await exportInteractions(log, 'interactions', { partitions: 2 });
 * m.partitions.map((p) => p.rows); // e.g. [2, 1]
 */
export async function exportInteractions(log: InteractionLog, dir: string, options: ExportInteractionsOptions = {}): Promise<PartitionManifest> {
  if (typeof dir !== 'string' || dir === '') throw new InvalidParameterError('dir', 'a folder path', dir);
  const P = checkInt('partitions', options.partitions ?? 8, 1, 65_536);
  const format = checkOneOf('format', options.format ?? 'arrow', ['arrow', 'parquet'] as const);
  const batchRows = checkInt('batchRows', options.batchRows ?? 65_536, 1, 1 << 24);
  await fsp.mkdir(dir, { recursive: true });
  const userIds = log.users.ids();
  const itemIds = log.items.ids();
  const userType = idColumnType(userIds, 'users');
  const itemType = idColumnType(itemIds, 'items');
  // partition of each user, then the rows of each partition (counting sort: log order kept)
  const partOfUser = new Int32Array(userIds.length);
  for (let u = 0; u < userIds.length; u++) partOfUser[u] = fnv1a32(String(userIds[u])) % P;
  const counts = new Int32Array(P + 1);
  for (let r = 0; r < log.length; r++) counts[partOfUser[log.user[r]] + 1]++;
  for (let p = 0; p < P; p++) counts[p + 1] += counts[p];
  const order = new Int32Array(log.length);
  const fill = counts.slice(0, P);
  for (let r = 0; r < log.length; r++) order[fill[partOfUser[log.user[r]]]++] = r;
  const fields = [
    new Field('user', arrowIdType(userType), false),
    new Field('item', arrowIdType(itemType), false),
    new Field('weight', new Float32(), false),
    ...(log.time ? [new Field('time', new Float64(), false)] : []),
  ];
  const parts: PartitionManifest['partitions'] = [];
  for (let p = 0; p < P; p++) {
    const lo = counts[p];
    const hi = counts[p + 1];
    const name = `part-${String(p).padStart(5, '0')}.${format}`;
    const seen = new Set<number>();
    function* batches() {
      for (let s = lo; s < hi; s += batchRows) {
        const e = Math.min(hi, s + batchRows);
        const us: Id[] = new Array(e - s);
        const is: Id[] = new Array(e - s);
        const w = new Float32Array(e - s);
        const t = log.time ? new Float64Array(e - s) : undefined;
        for (let k = s; k < e; k++) {
          const r = order[k];
          us[k - s] = userIds[log.user[r]];
          is[k - s] = itemIds[log.item[r]];
          w[k - s] = log.weight[r];
          if (t) t[k - s] = log.time![r];
          seen.add(log.user[r]);
        }
        yield {
          user: idColumn(us, userType, 0, us.length, 'users'),
          item: idColumn(is, itemType, 0, is.length, 'items'),
          weight: float32Column(w),
          ...(t ? { time: float64Data(t) } : {}),
        };
      }
    }
    const target = path.join(dir, name);
    if (format === 'arrow') await writeArrowBatches(target, fields, batches());
    else {
      const tmp = path.join(dir, `.${name}.${process.pid}.arrow`);
      try {
        await writeArrowBatches(tmp, fields, batches());
        await writeParquetFromArrow(tmp, target);
      } finally {
        await fsp.rm(tmp, { force: true });
      }
    }
    parts.push({ file: name, rows: hi - lo, users: seen.size });
    options.onProgress?.({ stage: 'export', done: p + 1, total: P });
  }
  let items: string | undefined;
  if (options.items) {
    items = `items.${format}`;
    const ids = options.items.map((x) => x.id);
    const t = idColumnType(ids, 'items');
    const f = [new Field('id', arrowIdType(t), false), new Field('category', new Utf8(), true), new Field('creator', new Utf8(), true)];
    const cols = { id: idColumn(ids, t), category: utf8Column(options.items.map((x) => x.category ?? null)), creator: utf8Column(options.items.map((x) => x.creator ?? null)) };
    if (format === 'arrow') await writeArrowBatches(path.join(dir, items), f, [cols]);
    else {
      const tmp = path.join(dir, `.items.${process.pid}.arrow`);
      try { await writeArrowBatches(tmp, f, [cols]); await writeParquetFromArrow(tmp, path.join(dir, items)); } finally { await fsp.rm(tmp, { force: true }); }
    }
  }
  const manifest: PartitionManifest = {
    kind: 'pinrec.interactions', version: 1, format, partitioning: `fnv1a32(String(user)) mod ${P}`,
    columns: { user: userType, item: itemType, weight: 'float32', ...(log.time ? { time: 'float64' as const } : {}) },
    partitions: parts, ...(items ? { items } : {}), rows: log.length,
  };
  const mf = path.join(dir, '_manifest.json');
  const tmp = `${mf}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n');
  await fsp.rename(tmp, mf);
  return manifest;
}

/** A Float64 column from a typed array (no per-row objects). */
function float64Data(values: Float64Array) {
  return makeData({ type: new Float64(), length: values.length, nullCount: 0, data: values });
}

/**
 * Read the manifest of a partitioned export.
 * @throws {FileFormatError} when `dir/_manifest.json` is missing, not JSON, or not a pinrec interactions manifest
 */
export function readPartitionManifest(dir: string): PartitionManifest {
  const file = path.join(dir, '_manifest.json');
  if (!existsSync(file)) throw new FileFormatError(file, 'is missing (not a pinrec partitioned export)');
  let m: PartitionManifest;
  try { m = JSON.parse(readFileSync(file, 'utf8')) as PartitionManifest; } catch (e) { throw new FileFormatError(file, `is not JSON (${(e as Error).message})`); }
  if (m?.kind !== 'pinrec.interactions' || m.version !== 1 || !Array.isArray(m.partitions)) throw new FileFormatError(file, 'is not a version-1 pinrec interactions manifest');
  for (const p of m.partitions) {
    if (typeof p?.file !== 'string' || p.file.includes('/') || p.file.includes('\\') || p.file.startsWith('.')) throw new FileFormatError(file, `names a partition file outside its folder (${JSON.stringify(p?.file)})`);
  }
  return m;
}

/** One partition of an export as an interaction log (ids as written). */
export async function readPartition(dir: string, manifest: PartitionManifest, index: number): Promise<InteractionLog> {
  const p = manifest.partitions[index];
  if (!p) throw new InvalidParameterError('index', `a partition index in [0, ${manifest.partitions.length - 1}]`, index);
  const file = path.join(dir, p.file);
  const cols = { user: 'user', item: 'item', weight: 'weight', ...(manifest.columns.time ? { timestamp: 'time' } : {}) };
  return manifest.format === 'parquet' ? readParquetFile(file, cols) : readArrowFile(file, cols);
}
