/**
 * The cached-user-factors value both stores hold: a small versioned header and the factors as float32
 * little-endian bytes, so a value is binary-exact whatever the platform's byte order.
 *
 *   bytes 0–3   magic 'PRUF'
 *   byte  4     format version (1)
 *   bytes 5–7   zero
 *   bytes 8–11  k, the number of factors (uint32 LE)
 *   bytes 12–   k float32 LE
 */
import { InvalidParameterError } from '../core/errors.js';
import { checkInt } from '../core/validate.js';

const MAGIC = 0x46555250; // 'PRUF' read as uint32 LE
const VERSION = 1;
const HEADER = 12;
/** Most factors accepted per user. */
export const MAX_USER_FACTORS = 65_536;
/** Longest factor TTL accepted, ms (10 years). */
const MAX_TTL_MS = 315_360_000_000;

/** @internal Check the factors and TTL of `putUserFactors` (the caller checks the user); returns a copy of the factors. */
export function checkFactorArgs(factors: unknown, ttlMs: unknown): { factors: Float32Array; ttlMs: number } {
  if (!(factors instanceof Float32Array) || factors.length === 0 || factors.length > MAX_USER_FACTORS) {
    throw new InvalidParameterError('factors', `a Float32Array of 1–${MAX_USER_FACTORS} finite values`, factors);
  }
  for (let i = 0; i < factors.length; i++) {
    if (!Number.isFinite(factors[i])) throw new InvalidParameterError(`factors[${i}]`, 'a finite number', factors[i]);
  }
  return { factors: factors.slice(), ttlMs: checkInt('ttlMs', ttlMs, 1, MAX_TTL_MS) };
}

/** @internal The stored form of a user's factors. */
export function encodeFactors(f: Float32Array): Buffer {
  const b = Buffer.alloc(HEADER + 4 * f.length);
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt8(VERSION, 4);
  b.writeUInt32LE(f.length, 8);
  for (let i = 0; i < f.length; i++) b.writeFloatLE(f[i], HEADER + 4 * i);
  return b;
}

/** @internal Factors back from their stored form; `undefined` for a value this format did not write (a miss). */
export function decodeFactors(b: Uint8Array): Float32Array | undefined {
  if (b.length < HEADER) return undefined;
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const k = buf.readUInt32LE(8);
  if (buf.readUInt32LE(0) !== MAGIC || buf[4] !== VERSION || k === 0 || k > MAX_USER_FACTORS || buf.length !== HEADER + 4 * k) return undefined;
  const out = new Float32Array(k);
  for (let i = 0; i < k; i++) out[i] = buf.readFloatLE(HEADER + 4 * i);
  return out;
}
