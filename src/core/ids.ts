/**
 * The one place where callers' ids (strings, numbers, bigints) become dense indices and back.
 */
import { InvalidParameterError, UnknownIdError } from './errors.js';
import type { Id } from './types.js';

/**
 * A bijection between caller ids and dense indices 0..size-1, in first-seen order.
 * `1`, `1n` and `'1'` are three different ids (as in a `Map`).
 *
 * @example
 * const users = new IdMap<string>();
 * users.add('alice'); // 0
 * users.add('bob');   // 1
 * users.index('bob'); // 1
 * users.id(0);        // 'alice'
 */
export class IdMap<I extends Id = Id> {
  private readonly toIndex = new Map<I, number>();
  private readonly toId: I[] = [];

  /** Build from a list of distinct ids (index = position). */
  static from<I extends Id>(ids: Iterable<I>, parameter = 'ids'): IdMap<I> {
    const m = new IdMap<I>();
    for (const id of ids) {
      if (m.has(id)) throw new InvalidParameterError(parameter, 'a list of distinct ids', id);
      m.add(id);
    }
    return m;
  }

  /** Number of ids. */
  get size(): number {
    return this.toId.length;
  }

  /** Index of `id`, adding it when new. */
  add(id: I): number {
    let i = this.toIndex.get(id);
    if (i === undefined) {
      checkIdType('id', id);
      i = this.toId.length;
      this.toIndex.set(id, i);
      this.toId.push(id);
    }
    return i;
  }

  /** Whether `id` is known. */
  has(id: I): boolean {
    return this.toIndex.has(id);
  }

  /** Index of `id`, or -1 when unknown. */
  get(id: I): number {
    const i = this.toIndex.get(id);
    return i === undefined ? -1 : i;
  }

  /** Index of `id`; throws {@link UnknownIdError} naming `parameter` when unknown. */
  index(id: I, parameter = 'id', what = 'id'): number {
    const i = this.toIndex.get(id);
    if (i === undefined) throw new UnknownIdError(parameter, id, what);
    return i;
  }

  /** The id at dense index `i`. */
  id(i: number): I {
    return this.toId[i];
  }

  /** All ids in index order (a copy). */
  ids(): I[] {
    return this.toId.slice();
  }

  /** Serialise to bytes (type-tagged, so strings, numbers and bigints come back as they were). */
  encode(): Buffer {
    return encodeIds(this.toId);
  }

  /** Inverse of {@link IdMap.encode}. */
  static decode<I extends Id = Id>(buf: Uint8Array): IdMap<I> {
    return IdMap.from(decodeIds(buf) as I[]);
  }
}

/** Throws unless `id` is a string, a finite number or a bigint. */
export function checkIdType(parameter: string, id: unknown): asserts id is Id {
  const t = typeof id;
  if (t === 'string' || t === 'bigint') return;
  if (t === 'number' && Number.isFinite(id as number)) return;
  throw new InvalidParameterError(parameter, 'a string, a finite number or a bigint', id);
}

const TAG_STRING = 1;
const TAG_NUMBER = 2;
const TAG_BIGINT = 3;
/** A string that is not well-formed UTF-16 (a lone surrogate), stored as its UTF-16LE code units. */
const TAG_STRING_UTF16 = 4;

/** A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Encode a list of ids as `[u32 count]` then one `[tag u8][len u32][bytes]` record per id. Tags: 1 string (UTF-8),
 * 2 number (its shortest decimal, `-0` kept), 3 bigint (decimal), 4 string that is not well-formed UTF-16 (a
 * lone surrogate, which UTF-8 cannot hold) as UTF-16LE code units. Id-table encoding v2: tag 4 is new (v1 had
 * tags 1-3 only), so tables without lone surrogates are byte-identical to v1 and v1 tables decode unchanged;
 * every string id comes back exactly.
 */
export function encodeIds(ids: readonly Id[]): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4);
  head.writeUInt32LE(ids.length, 0);
  parts.push(head);
  for (const id of ids) {
    let tag: number;
    let body: Buffer;
    if (typeof id === 'string') {
      if (LONE_SURROGATE.test(id)) {
        tag = TAG_STRING_UTF16;
        body = Buffer.alloc(id.length * 2);
        for (let k = 0; k < id.length; k++) body.writeUInt16LE(id.charCodeAt(k), 2 * k);
      } else {
        tag = TAG_STRING;
        body = Buffer.from(id, 'utf8');
      }
    } else {
      tag = typeof id === 'number' ? TAG_NUMBER : TAG_BIGINT;
      body = Buffer.from(typeof id === 'number' ? numberToString(id) : String(id), 'utf8');
    }
    const rec = Buffer.alloc(5);
    rec.writeUInt8(tag, 0);
    rec.writeUInt32LE(body.length, 1);
    parts.push(rec, body);
  }
  return Buffer.concat(parts);
}

/** Inverse of {@link encodeIds} (reads v1 and v2 tables); throws a plain Error on malformed input (callers wrap it). */
export function decodeIds(bytes: Uint8Array): Id[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 4) throw new Error('id table is truncated');
  const n = buf.readUInt32LE(0);
  // Each record takes at least 5 bytes: a count beyond that is malformed (and must not size an array).
  if (n > (buf.length - 4) / 5) throw new Error('id table is truncated');
  const out: Id[] = new Array(n);
  let off = 4;
  for (let i = 0; i < n; i++) {
    if (off + 5 > buf.length) throw new Error('id table is truncated');
    const tag = buf.readUInt8(off);
    const len = buf.readUInt32LE(off + 1);
    off += 5;
    if (off + len > buf.length) throw new Error('id table is truncated');
    if (tag === TAG_STRING_UTF16) {
      if (len % 2 !== 0) throw new Error('id table has a malformed UTF-16 string');
      let s = '';
      for (let k = off; k < off + len; k += 2) s += String.fromCharCode(buf.readUInt16LE(k));
      out[i] = s;
      off += len;
      continue;
    }
    const s = buf.toString('utf8', off, off + len);
    off += len;
    if (tag === TAG_STRING) out[i] = s;
    else if (tag === TAG_NUMBER) out[i] = Number(s);
    else if (tag === TAG_BIGINT) out[i] = BigInt(s);
    else throw new Error(`id table has an unknown tag ${tag}`);
  }
  if (off !== buf.length) throw new Error('id table has trailing bytes');
  return out;
}

function numberToString(x: number): string {
  return Object.is(x, -0) ? '-0' : String(x);
}

const ID_TYPE_RANK = { number: 0, bigint: 0, string: 1 } as const;

/**
 * Total order on ids used for tie-breaks: numbers and bigints compare numerically (`2 < 10n`), strings
 * compare by UTF-16 code units, and every numeric id sorts before every string id. A number and a bigint
 * with the same value compare equal.
 *
 * @returns negative when `a` comes first, positive when `b` does, 0 when they tie.
 * @example
 * compareIds(2, 10);     // < 0
 * compareIds('b', 'a');  // > 0
 * compareIds(5, 'a');    // < 0 (numbers first)
 */
export function compareIds(a: Id, b: Id): number {
  const ta = typeof a;
  const tb = typeof b;
  if (ta === tb || (ta !== 'string' && tb !== 'string')) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  return ID_TYPE_RANK[ta as keyof typeof ID_TYPE_RANK] - ID_TYPE_RANK[tb as keyof typeof ID_TYPE_RANK];
}
