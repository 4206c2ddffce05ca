/**
 * Untrusted image input before any native code sees it: read the encoded bytes of a Buffer, a file or an
 * http(s) URL within a byte limit and a time limit, and recognise the container format from its magic
 * bytes, so that a caller can refuse a format (an SVG, a PDF) before handing the bytes to a decoder.
 */
import { promises as fsp } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ImageDecodeError } from './errors.js';
import { fetchBytes, FetchFailure } from './http.js';

/** Limits of {@link readInputBytes}. */
export interface ReadLimits {
  /** Largest accepted input in bytes (Buffer length, file size, download size). */
  maxBytes: number;
  /** Timeout of a URL fetch in milliseconds. */
  fetchTimeoutMs: number;
}

/** A short name of an input for error messages and batch status. */
export function describeInput(input: unknown): string {
  if (typeof input === 'string') return input.length > 200 ? `${input.slice(0, 197)}...` : input;
  if (input instanceof URL) return input.href;
  if (Buffer.isBuffer(input) || input instanceof Uint8Array) return `Buffer(${input.byteLength} bytes)`;
  if (typeof input === 'object' && input !== null && typeof (input as { clone?: unknown }).clone === 'function'
    && typeof (input as { metadata?: unknown }).metadata === 'function') return 'sharp instance';
  return Object.prototype.toString.call(input);
}

function isHttpUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/**
 * Read an input's encoded bytes, enforcing the byte limit while reading (a file is checked by size first, a
 * download is cut off as soon as it passes the limit, whatever its Content-Length says).
 *
 * @param input a Buffer/Uint8Array, a file path, an `http(s)://` URL (string or `URL`) or a `file:` URL
 * @param source how the input is named in errors
 * @throws {ImageDecodeError} kind `'too-large'` over the limit, `'read'`/`'fetch'` when it cannot be read,
 *   `'decode'` for zero bytes, `'input'` for a URL of another protocol
 * @example
 * const bytes = await readInputBytes('photo.jpg', 'photo.jpg', { maxBytes: 32 << 20, fetchTimeoutMs: 15_000 });
 */
export async function readInputBytes(input: Buffer | Uint8Array | string | URL, source: string, lim: ReadLimits): Promise<Buffer> {
  if (Buffer.isBuffer(input) || input instanceof Uint8Array) {
    if (input.byteLength > lim.maxBytes) {
      throw new ImageDecodeError(source, 'too-large', `input has ${input.byteLength} bytes, above maxBytes = ${lim.maxBytes}`);
    }
    if (input.byteLength === 0) throw new ImageDecodeError(source, 'decode', 'input is empty (0 bytes)');
    return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  }
  let href: string | undefined;
  let file: string | undefined;
  if (input instanceof URL) {
    if (input.protocol === 'file:') file = fileURLToPath(input);
    else if (input.protocol === 'http:' || input.protocol === 'https:') href = input.href;
    else throw new ImageDecodeError(source, 'input', `unsupported URL protocol ${input.protocol} (use http:, https: or file:)`);
  } else if (typeof input === 'string') {
    if (isHttpUrl(input)) href = input;
    else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input) && !/^file:\/\//i.test(input)) {
      throw new ImageDecodeError(source, 'input', 'unsupported URL protocol (use http:, https: or a file path)');
    } else file = /^file:\/\//i.test(input) ? fileURLToPath(input) : input;
  } else {
    throw new ImageDecodeError(source, 'input', 'unsupported input type (expected Buffer, Uint8Array, file path or URL)');
  }
  if (href !== undefined) {
    try {
      const buf = await fetchBytes(href, { timeoutMs: lim.fetchTimeoutMs, maxBytes: lim.maxBytes });
      if (buf.length === 0) throw new ImageDecodeError(source, 'fetch', 'response body is empty');
      return buf;
    } catch (e) {
      if (e instanceof ImageDecodeError) throw e;
      const f = e as FetchFailure;
      const kind = f.kind === 'too-large' ? 'too-large' : f.kind === 'timeout' ? 'timeout' : 'fetch';
      throw new ImageDecodeError(source, kind, `fetch failed: ${f.message}`, { cause: e });
    }
  }
  const p = file as string;
  let size: number;
  try {
    const st = await fsp.stat(p);
    if (!st.isFile()) throw new ImageDecodeError(source, 'read', 'is not a regular file');
    size = st.size;
  } catch (e) {
    if (e instanceof ImageDecodeError) throw e;
    throw new ImageDecodeError(source, 'read', `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  if (size > lim.maxBytes) throw new ImageDecodeError(source, 'too-large', `file has ${size} bytes, above maxBytes = ${lim.maxBytes}`);
  if (size === 0) throw new ImageDecodeError(source, 'decode', 'file is empty (0 bytes)');
  let buf: Buffer;
  try {
    buf = await fsp.readFile(p);
  } catch (e) {
    throw new ImageDecodeError(source, 'read', `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  // the file may have grown between stat and read
  if (buf.length > lim.maxBytes) throw new ImageDecodeError(source, 'too-large', `file has ${buf.length} bytes, above maxBytes = ${lim.maxBytes}`);
  return buf;
}

/** Container formats {@link sniffImageFormat} recognises. */
export type SniffedFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'avif' | 'heif' | 'tiff' | 'bmp' | 'svg' | 'pdf' | 'unknown';

/**
 * The image container format from the first bytes (magic numbers), without decoding anything. `'svg'` is any
 * input that starts, after an optional BOM and white space, with `<` (XML, SVG or HTML).
 *
 * @example
 * sniffImageFormat(Buffer.from([0xff, 0xd8, 0xff, 0xe0])); // 'jpeg'
 */
export function sniffImageFormat(b: Uint8Array): SniffedFormat {
  const n = b.length;
  const at = (i: number, ...bytes: number[]): boolean => bytes.every((x, k) => i + k < n && b[i + k] === x);
  const ascii = (i: number, s: string): boolean => at(i, ...Array.from(s, (c) => c.charCodeAt(0)));
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (ascii(4, 'ftyp')) {
    const brand = String.fromCharCode(...b.subarray(8, 12));
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'hevc', 'hevx', 'mif1', 'msf1', 'heim', 'heis'].includes(brand)) return 'heif';
    return 'unknown';
  }
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  if (ascii(0, 'BM')) return 'bmp';
  if (ascii(0, '%PDF')) return 'pdf';
  let i = at(0, 0xef, 0xbb, 0xbf) ? 3 : 0;
  while (i < n && i < 1024 && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d)) i++;
  if (i < n && b[i] === 0x3c) return 'svg';
  return 'unknown';
}
