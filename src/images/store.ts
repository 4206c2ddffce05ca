/**
 * Where the original and its renditions live: a small blob-store interface, a filesystem store (the
 * default) and an in-memory one. Keys are content addresses (`ab/cd/<sha256>.<ext>`), so a blob never
 * changes once written and can be served with immutable cache headers; writes are atomic (temp file, fsync,
 * rename), so a crash leaves either the whole blob or nothing.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { FileFormatError, InvalidParameterError } from '../core/errors.js';
import { writeFileAtomic } from '../core/container.js';

/** The seed's cache policy for content-addressed images: a year, never revalidated. */
export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';

/** What a store keeps beside a blob, for serving it. */
export interface BlobMeta {
  /** MIME type, e.g. `'image/webp'`. */
  contentType: string;
  /** HTTP `Cache-Control` to serve it with. @default {@link IMMUTABLE_CACHE_CONTROL} */
  cacheControl: string;
  byteSize: number;
  width?: number;
  height?: number;
}

/**
 * A blob store. Implementations must make `put` atomic (readers see the whole blob or none) and idempotent
 * for a key already present.
 *
 * @example
 * const store: BlobStore = new FileSystemStore('./media');
 * const key = contentKey(bytes, 'webp');
 * await store.put(key, bytes, { contentType: 'image/webp', cacheControl: IMMUTABLE_CACHE_CONTROL, byteSize: bytes.length });
 */
export interface BlobStore {
  put(key: string, bytes: Uint8Array, meta: BlobMeta): Promise<void>;
  /** The blob, or `undefined` when absent. */
  get(key: string): Promise<Buffer | undefined>;
  /** The blob's metadata, or `undefined` when absent. */
  head(key: string): Promise<BlobMeta | undefined>;
  delete(key: string): Promise<void>;
}

/** SHA-256 of bytes, lower-case hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The content address of bytes: `ab/cd/<sha256>.<ext>`.
 *
 * @example
 * contentKey(Buffer.from('x'), 'webp'); // '2d/71/2d711642b7...ba.webp'
 */
export function contentKey(bytes: Uint8Array, ext: string, hash = sha256Hex(bytes)): string {
  if (!/^[a-z0-9]{1,8}$/.test(ext)) throw new InvalidParameterError('ext', '1-8 lower-case letters or digits', ext);
  return `${hash.slice(0, 2)}/${hash.slice(2, 4)}/${hash}.${ext}`;
}

const KEY = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}(\/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}){0,7}$/;

/** Throw unless `key` is a safe relative key: segments of letters, digits, `_`, `.`, `-`, no `..`, no leading dot. */
export function checkKey(key: unknown): string {
  if (typeof key !== 'string' || !KEY.test(key) || key.split('/').some((s) => s === '..' || s.endsWith('.pinrec-tmp') || s.endsWith('.meta.json'))) {
    throw new InvalidParameterError('key', "a relative key of '/'-separated segments (letters, digits, '_', '.', '-'; no '..')", key);
  }
  return key;
}

function checkMeta(meta: BlobMeta, bytes: Uint8Array): void {
  if (typeof meta !== 'object' || meta === null) throw new InvalidParameterError('meta', 'a BlobMeta object', meta);
  if (typeof meta.contentType !== 'string' || !/^[a-z]+\/[a-z0-9.+-]+$/i.test(meta.contentType)) throw new InvalidParameterError('meta.contentType', 'a MIME type', meta.contentType);
  if (typeof meta.cacheControl !== 'string' || meta.cacheControl.length > 256 || /[\r\n]/.test(meta.cacheControl)) {
    throw new InvalidParameterError('meta.cacheControl', 'a Cache-Control value on one line', meta.cacheControl);
  }
  if (meta.byteSize !== bytes.byteLength) throw new InvalidParameterError('meta.byteSize', `the blob's length ${bytes.byteLength}`, meta.byteSize);
}

/**
 * Blobs as files under a root folder: `<root>/<key>` and `<root>/<key>.meta.json`, each written atomically.
 * The blob is written before its metadata, and `get`/`head` answer only when both exist, so an interrupted
 * `put` reads as absent and the next `put` of the same key completes it.
 *
 * @example
 * const store = new FileSystemStore('./media');
 * await store.put('thumbs/a.webp', bytes, { contentType: 'image/webp', cacheControl: IMMUTABLE_CACHE_CONTROL, byteSize: bytes.length });
 * (await store.head('thumbs/a.webp'))?.cacheControl; // 'public, max-age=31536000, immutable'
 */
export class FileSystemStore implements BlobStore {
  /** The root folder. */
  readonly root: string;

  constructor(root: string) {
    if (typeof root !== 'string' || root === '') throw new InvalidParameterError('root', 'a folder path', root);
    this.root = path.resolve(root);
  }

  /** The file a key is stored in. */
  pathOf(key: string): string {
    return path.join(this.root, ...checkKey(key).split('/'));
  }

  async put(key: string, bytes: Uint8Array, meta: BlobMeta): Promise<void> {
    const file = this.pathOf(key);
    checkMeta(meta, bytes);
    if (await this.head(key)) return; // content-addressed: already complete
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, bytes);
    await writeFileAtomic(`${file}.meta.json`, Buffer.from(JSON.stringify({ ...meta, v: 1 })));
  }

  async get(key: string): Promise<Buffer | undefined> {
    const meta = await this.head(key);
    if (!meta) return undefined;
    const buf = await readOrUndefined(this.pathOf(key));
    if (buf && buf.length !== meta.byteSize) {
      throw new FileFormatError(this.pathOf(key), `has ${buf.length} bytes, its metadata says ${meta.byteSize}`);
    }
    return buf;
  }

  async head(key: string): Promise<BlobMeta | undefined> {
    const file = this.pathOf(key);
    const raw = await readOrUndefined(`${file}.meta.json`);
    if (!raw) return undefined;
    let m: BlobMeta & { v?: number };
    try {
      m = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new FileFormatError(`${file}.meta.json`, 'is not valid JSON');
    }
    if (m?.v !== 1 || typeof m.contentType !== 'string' || typeof m.byteSize !== 'number') {
      throw new FileFormatError(`${file}.meta.json`, 'is not a pinrec blob metadata file (version 1)');
    }
    try {
      await fsp.access(file);
    } catch {
      return undefined;
    }
    const { v: _v, ...meta } = m;
    return meta;
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    await fsp.rm(`${file}.meta.json`, { force: true });
    await fsp.rm(file, { force: true });
  }
}

async function readOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await fsp.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Blobs in memory (tests, caches, a process that uploads elsewhere). Copies on the way in.
 *
 * @example
 * const store = new MemoryStore();
 * await store.put('k', Buffer.from('x'), { contentType: 'image/png', cacheControl: IMMUTABLE_CACHE_CONTROL, byteSize: 1 });
 */
export class MemoryStore implements BlobStore {
  private readonly blobs = new Map<string, { bytes: Buffer; meta: BlobMeta }>();

  /** Number of blobs. */
  get size(): number {
    return this.blobs.size;
  }

  /** Total bytes held. */
  get bytes(): number {
    let n = 0;
    for (const b of this.blobs.values()) n += b.bytes.length;
    return n;
  }

  async put(key: string, bytes: Uint8Array, meta: BlobMeta): Promise<void> {
    checkKey(key);
    checkMeta(meta, bytes);
    if (!this.blobs.has(key)) this.blobs.set(key, { bytes: Buffer.from(bytes), meta: { ...meta } });
  }

  async get(key: string): Promise<Buffer | undefined> {
    return this.blobs.get(checkKey(key))?.bytes;
  }

  async head(key: string): Promise<BlobMeta | undefined> {
    const b = this.blobs.get(checkKey(key));
    return b ? { ...b.meta } : undefined;
  }

  async delete(key: string): Promise<void> {
    this.blobs.delete(checkKey(key));
  }
}
