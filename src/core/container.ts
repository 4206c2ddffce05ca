/**
 * pinrec's one on-disk format: a versioned header, named binary sections and a SHA-256 checksum, written
 * atomically (temp file in the same folder, fsync, rename, fsync of the folder). Models, indexes and
 * embedders all save through it, so every saved file gets the same guarantees:
 * - a truncated, altered or foreign file gives a {@link FileFormatError}, never a crash;
 * - only regular files are read (a FIFO, `/dev/zero`, a socket or a folder gives a {@link FileFormatError}), and a
 *   read is bounded by the file's size when it was opened and by {@link MAX_CONTAINER_BYTES} (or `maxBytes`);
 * - a process killed while saving leaves the previous file in place and loadable; its temp file
 *   (`.<name>.<pid>.<random>.pinrec-tmp` beside the file) is removed by the next save of the same file once
 *   that pid is no longer alive.
 *
 * Layout (little-endian):
 * ```
 * 0   8 bytes  magic "PINREC\0\x01"
 * 8   u32      container version (1)
 * 12  u32      header length H
 * 16  H bytes  header JSON: {kind, version, meta, sections: [{name, dtype, byteLength}]}
 * ..  pad to 8, then each section's bytes, each padded to 8
 * end 32 bytes SHA-256 of everything before
 * ```
 */
import { constants as bufferConstants } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { FileFormatError, InvalidParameterError } from './errors.js';

const MAGIC = Buffer.from([0x50, 0x49, 0x4e, 0x52, 0x45, 0x43, 0x00, 0x01]); // "PINREC\0\1"
const CONTAINER_VERSION = 1;

/** Typed arrays a section may hold. */
export type SectionArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

type DType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64' | 'i64' | 'u64';

interface SectionSpec {
  name: string;
  dtype: DType;
  byteLength: number;
}

interface HeaderJson {
  kind: string;
  version: number;
  meta: unknown;
  sections: SectionSpec[];
}

/** What {@link readContainer} returns. */
export interface Container<M = unknown> {
  kind: string;
  version: number;
  meta: M;
  sections: Map<string, SectionArray>;
}

function dtypeOf(a: SectionArray): DType {
  if (a instanceof Uint8Array) return 'u8';
  if (a instanceof Int8Array) return 'i8';
  if (a instanceof Uint16Array) return 'u16';
  if (a instanceof Int16Array) return 'i16';
  if (a instanceof Uint32Array) return 'u32';
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Float64Array) return 'f64';
  if (a instanceof BigInt64Array) return 'i64';
  return 'u64';
}

const CTORS: Record<DType, { new (buf: ArrayBuffer, off: number, len: number): SectionArray; BYTES_PER_ELEMENT: number }> = {
  u8: Uint8Array, i8: Int8Array, u16: Uint16Array, i16: Int16Array, u32: Uint32Array, i32: Int32Array,
  f32: Float32Array, f64: Float64Array, i64: BigInt64Array, u64: BigUint64Array,
};

const pad8 = (n: number) => (8 - (n % 8)) % 8;

/** Serialise a container to one buffer (header, sections, checksum). */
export function encodeContainer(kind: string, version: number, meta: unknown, sections: Record<string, SectionArray>): Buffer {
  const specs: SectionSpec[] = [];
  const bodies: Buffer[] = [];
  for (const [name, arr] of Object.entries(sections)) {
    specs.push({ name, dtype: dtypeOf(arr), byteLength: arr.byteLength });
    bodies.push(Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength));
  }
  const header: HeaderJson = { kind, version, meta, sections: specs };
  const headerBuf = Buffer.from(JSON.stringify(header, bigintReplacer), 'utf8');
  const fixed = Buffer.alloc(16);
  MAGIC.copy(fixed, 0);
  fixed.writeUInt32LE(CONTAINER_VERSION, 8);
  fixed.writeUInt32LE(headerBuf.length, 12);
  const parts: Buffer[] = [fixed, headerBuf, Buffer.alloc(pad8(16 + headerBuf.length))];
  for (const b of bodies) parts.push(b, Buffer.alloc(pad8(b.length)));
  const hash = createHash('sha256');
  for (const p of parts) updateChunked(hash, p);
  parts.push(hash.digest());
  return Buffer.concat(parts);
}

/** Parse and verify a container buffer; `source` names it in errors. */
export function decodeContainer<M = unknown>(buf: Buffer, source: string, expectKind?: string, bodyDigest?: Buffer): Container<M> {
  if (buf.length < 16 + 32) throw new FileFormatError(source, `file is too short (${buf.length} bytes) to be a pinrec file`);
  if (!buf.subarray(0, 8).equals(MAGIC)) throw new FileFormatError(source, 'not a pinrec file (bad magic bytes)');
  const cver = buf.readUInt32LE(8);
  if (cver !== CONTAINER_VERSION) throw new FileFormatError(source, `unsupported container version ${cver} (this build reads ${CONTAINER_VERSION})`);
  const body = buf.subarray(0, buf.length - 32);
  // `bodyDigest`: the SHA-256 of everything but the last 32 bytes, computed while the file was read
  const digest = bodyDigest ?? sha256Chunked(body);
  if (!digest.equals(buf.subarray(buf.length - 32))) {
    throw new FileFormatError(source, 'checksum mismatch: the file is truncated or was altered');
  }
  const hlen = buf.readUInt32LE(12);
  if (16 + hlen > body.length) throw new FileFormatError(source, 'header length points past the end of the file');
  let header: HeaderJson;
  try {
    header = JSON.parse(buf.toString('utf8', 16, 16 + hlen), bigintReviver) as HeaderJson;
  } catch (e) {
    throw new FileFormatError(source, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header?.kind !== 'string' || !Array.isArray(header.sections)) throw new FileFormatError(source, 'header is malformed');
  if (expectKind !== undefined && header.kind !== expectKind) {
    throw new FileFormatError(source, `holds a '${header.kind}', expected a '${expectKind}'`);
  }
  let off = 16 + hlen + pad8(16 + hlen);
  const sections = new Map<string, SectionArray>();
  for (const s of header.sections) {
    if (s === null || typeof s !== 'object' || typeof s.name !== 'string' || typeof s.dtype !== 'string' || !Object.hasOwn(CTORS, s.dtype)
      || !Number.isSafeInteger(s.byteLength) || s.byteLength < 0) {
      throw new FileFormatError(source, 'a section entry of the header is malformed');
    }
    const ctor = CTORS[s.dtype];
    if (!ctor || typeof s.byteLength !== 'number' || s.byteLength % ctor.BYTES_PER_ELEMENT !== 0) {
      throw new FileFormatError(source, `section '${s.name}' is malformed`);
    }
    if (off + s.byteLength > body.length) throw new FileFormatError(source, `section '${s.name}' runs past the end of the file`);
    // Copy into a fresh, aligned buffer so typed-array views are always valid.
    const copy = new ArrayBuffer(s.byteLength);
    new Uint8Array(copy).set(body.subarray(off, off + s.byteLength));
    sections.set(s.name, new ctor(copy, 0, s.byteLength / ctor.BYTES_PER_ELEMENT));
    off += s.byteLength + pad8(s.byteLength);
  }
  return { kind: header.kind, version: header.version, meta: header.meta as M, sections };
}

/**
 * Largest container file {@link readContainer} reads by default: 4 GiB (less where a Buffer cannot be that
 * large). Pass `maxBytes` to lower (or, up to the Buffer limit, raise) it per call.
 */
export const MAX_CONTAINER_BYTES = Math.min(2 ** 32, bufferConstants.MAX_LENGTH);

/** Options of {@link readContainer}. */
export interface ReadContainerOptions {
  /** Refuse files larger than this many bytes (an integer >= 1). @default MAX_CONTAINER_BYTES */
  maxBytes?: number;
}

/** Suffix of the temp files {@link writeFileAtomic} writes beside their target. */
const TMP_SUFFIX = '.pinrec-tmp';

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Is process `pid` alive (or owned by someone else, so we cannot tell)? */
function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Remove temp files of `file` left by writers that were killed: `.<name>.<pid>.<hex>.pinrec-tmp` (and the
 * `.tmp` names of earlier versions) whose pid is not this process and no longer alive. Best effort: a
 * folder that cannot be listed or a file that cannot be removed is left alone. (A pid reused by an unrelated
 * process keeps its temp file until that process exits; temp files on a folder shared between hosts are only
 * judged by this host's pids.)
 */
export async function removeStaleTemps(dir: string, base: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  const re = new RegExp(`^\\.${escapeRegExp(base)}\\.(\\d+)\\.[0-9a-f]{12}(?:\\.pinrec-tmp|\\.tmp)$`);
  for (const n of names) {
    const m = re.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    await fsp.rm(path.join(dir, n), { force: true }).catch(() => undefined);
  }
}

/**
 * Write `data` to `file` atomically: a temp file beside it (`.<name>.<pid>.<random>.pinrec-tmp`), fsync,
 * rename over the target, fsync the folder. A crash at any point leaves either the old file or the new one,
 * never a mix; temp files of earlier writers of `file` that were killed (their pid is gone) are removed first.
 */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  await removeStaleTemps(dir, base);
  const tmp = path.join(dir, `.${base}.${process.pid}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`);
  const fh = await fsp.open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  try {
    const dh = await fsp.open(dir, 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  } catch {
    // Some file systems do not allow fsync on a folder; the rename is still atomic.
  }
}

/** Encode and atomically write a container file. */
export async function writeContainer(file: string, kind: string, version: number, meta: unknown, sections: Record<string, SectionArray>): Promise<void> {
  await writeFileAtomic(file, encodeContainer(kind, version, meta, sections));
}

/**
 * Read and verify a container file; throws {@link FileFormatError} for anything but a good file of `expectKind`:
 * also for what is not a regular file (a FIFO, a device such as `/dev/zero`, a socket, a folder), for a file
 * larger than `options.maxBytes` (default {@link MAX_CONTAINER_BYTES}), and for a file that changes size
 * while it is read. The read never goes past the size the file had when it was opened (plus one byte to
 * notice growth), so memory is bounded by that size.
 * @throws {InvalidParameterError} for a bad `options.maxBytes`
 */
export async function readContainer<M = unknown>(file: string, expectKind?: string, options: ReadContainerOptions = {}): Promise<Container<M>> {
  if (options === null || typeof options !== 'object') throw new InvalidParameterError('options', 'an object', options);
  const maxBytes = options.maxBytes ?? MAX_CONTAINER_BYTES;
  if (typeof maxBytes !== 'number' || !Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > bufferConstants.MAX_LENGTH) {
    throw new InvalidParameterError('maxBytes', `an integer in [1, ${bufferConstants.MAX_LENGTH}]`, maxBytes);
  }
  const cannot = (e: unknown) => {
    const err = e as NodeJS.ErrnoException;
    return new FileFormatError(file, `cannot be read (${err.code ?? err.message})`);
  };
  const regular = (st: Stats) => {
    if (!st.isFile()) throw new FileFormatError(file, `not a regular file (${kindOf(st)}): pinrec only reads regular files`);
    if (st.size > maxBytes) throw new FileFormatError(file, `is ${st.size} bytes, above the limit of ${maxBytes} bytes (maxBytes)`);
  };
  // stat first (opening a FIFO would block), then open without blocking and check the opened file again.
  let st: Stats;
  try {
    st = await fsp.stat(file);
  } catch (e) {
    throw cannot(e);
  }
  regular(st);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw cannot(e);
  }
  let buf: Buffer;
  let bodyDigest: Buffer | undefined;
  try {
    const opened = await fh.stat();
    regular(opened);
    if (opened.ino !== st.ino || opened.dev !== st.dev) throw new FileFormatError(file, 'was replaced while being opened');
    const size = opened.size;
    buf = Buffer.allocUnsafe(size);
    // read and hash 64 MB at a time: a large file is verified between other work, not in one long stall
    const hash = createHash('sha256');
    const bodyEnd = Math.max(0, size - 32);
    const got = await readInto(fh, buf, size, 64 << 20, (from, to) => { if (from < bodyEnd) hash.update(buf.subarray(from, Math.min(to, bodyEnd))); });
    if (got < size) throw new FileFormatError(file, `shrank while being read (${got} of the ${size} bytes it had when opened)`);
    bodyDigest = hash.digest();
    // One byte past the size seen at open: a file that grew while being read is not what was checked.
    const { bytesRead: extra } = await fh.read(Buffer.alloc(1), 0, 1, size);
    if (extra > 0) throw new FileFormatError(file, `grew while being read (beyond the ${size} bytes it had when opened)`);
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw cannot(e);
  } finally {
    await fh.close().catch(() => undefined);
  }
  return decodeContainer<M>(buf, file, expectKind, bodyDigest);
}

/** Feed `data` to `hash` at most 1 GiB at a time (`Hash.update` refuses more than 2 GiB in one call). */
export function updateChunked(hash: ReturnType<typeof createHash>, data: Uint8Array, maxChunk = 1 << 30): void {
  for (let o = 0; o < data.length; o += maxChunk) hash.update(data.subarray(o, Math.min(data.length, o + maxChunk)));
  if (data.length === 0) hash.update(data);
}

function sha256Chunked(data: Uint8Array): Buffer {
  const h = createHash('sha256');
  updateChunked(h, data);
  return h.digest();
}

/**
 * Read `size` bytes from the start of `fh` into `buf`, at most `maxChunk` per call (Node's `read` takes a
 * 32-bit length: a single read of a file over 2 GiB aborts the process), calling `onChunk(from, to)` after each
 * read. Returns the bytes read, fewer than `size` only when the file ended first.
 */
export async function readInto(fh: Pick<fsp.FileHandle, 'read'>, buf: Buffer, size: number, maxChunk = 1 << 30, onChunk?: (from: number, to: number) => void): Promise<number> {
  let got = 0;
  while (got < size) {
    const { bytesRead } = await fh.read(buf, got, Math.min(size - got, maxChunk), got);
    if (bytesRead === 0) break;
    onChunk?.(got, got + bytesRead);
    got += bytesRead;
  }
  return got;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

/** Fetch a required section of a given type or throw a {@link FileFormatError}. */
export function requireSection<T extends SectionArray>(c: Container, name: string, ctor: new (...a: never[]) => T, source: string): T {
  const s = c.sections.get(name);
  if (!(s instanceof ctor)) throw new FileFormatError(source, `section '${name}' is missing or has the wrong type`);
  return s;
}

function bigintReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? { $bigint: v.toString() } : v;
}
function bigintReviver(_k: string, v: unknown): unknown {
  if (v && typeof v === 'object' && '$bigint' in (v as Record<string, unknown>)) return BigInt((v as { $bigint: string }).$bigint);
  return v;
}
