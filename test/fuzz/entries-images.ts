/**
 * Entry point: untrusted image bytes through openImage → makeRenditions, analyzeImage and perceptualHash.
 * Inputs are small valid images of every accepted format (made once with sharp) with mutations: byte
 * overwrites anywhere (headers included: dimensions, chunk lengths, markers), truncations, spliced garbage,
 * or pure garbage. Every outcome must be a success that keeps the contracts, or a PinrecError; a native
 * crash kills the fuzz child and is counted.
 */
import fc from 'fast-check';
import sharp from 'sharp';
import { PinrecError } from '../../src/core/errors.js';
import { analyzeImage, makeRenditions, perceptualHash } from '../../src/images/index.js';
import { type EntryPoint, check } from './harness.js';

const BASES = ['jpeg', 'png', 'gif', 'webp', 'tiff', 'avif'] as const;
let bases: Promise<Buffer[]> | undefined;

function baseImages(): Promise<Buffer[]> {
  bases ??= (async () => {
    const w = 40, h = 30;
    const raw = Buffer.alloc(w * h * 4);
    for (let i = 0; i < w * h; i++) raw.set([(i * 7) & 255, (i * 3) & 255, (i % w) * 6, i % 3 ? 255 : 120], i * 4);
    const img = () => sharp(raw, { raw: { width: w, height: h, channels: 4 } });
    return Promise.all([
      img().jpeg({ quality: 80 }).toBuffer(), img().png().toBuffer(), img().gif().toBuffer(),
      img().webp({ quality: 70 }).toBuffer(), img().tiff().toBuffer(), img().avif({ quality: 50, effort: 0 }).toBuffer(),
    ]);
  })();
  return bases;
}

interface ImageCase {
  base: number;
  /** Byte overwrites; `at` is a fraction of the file's length (0 = the first byte). */
  edits: { at: number; bytes: number[] }[];
  /** Keep this fraction of the bytes, or all. */
  truncateTo: number | null;
  garbage: number[] | null;
}

/** How cases ended (for a look at coverage: `accepted` must not be ~0). */
export const outcomes = { accepted: 0, rejected: 0 };

const SPEC = [{ name: 't', width: 24, height: 24, format: 'webp' as const, quality: 60 }, { name: 'j', width: 64, format: 'jpeg' as const, quality: 70 }];

export const imagesEntry: EntryPoint<ImageCase> = {
  name: 'images: openImage → renditions, analysis, hash',
  arb: (): fc.Arbitrary<ImageCase> => {
    const edit = (from: number) => fc.record({ at: fc.double({ min: from, max: 1, noNaN: true, maxExcluded: true }), bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 4 }) });
    const base = fc.nat(BASES.length - 1);
    return fc.oneof(
      // pixel data damaged, header intact
      { weight: 4, arbitrary: fc.record({ base, edits: fc.array(edit(0.3), { maxLength: 6 }), truncateTo: fc.constant<number | null>(null), garbage: fc.constant<number[] | null>(null) }) },
      // anything damaged, headers included
      { weight: 3, arbitrary: fc.record({ base, edits: fc.array(edit(0), { minLength: 1, maxLength: 3 }), truncateTo: fc.constant<number | null>(null), garbage: fc.constant<number[] | null>(null) }) },
      // cut short
      { weight: 2, arbitrary: fc.record({ base, edits: fc.constant<ImageCase["edits"]>([]), truncateTo: fc.double({ min: 0, max: 1, noNaN: true }), garbage: fc.constant<number[] | null>(null) }) },
      // not an image at all
      { weight: 1, arbitrary: fc.record({ base, edits: fc.constant<ImageCase["edits"]>([]), truncateTo: fc.constant<number | null>(null), garbage: fc.array(fc.nat(255), { maxLength: 64 }) }) },
    );
  },
  async run(c) {
    const base = (await baseImages())[c.base];
    let bytes = c.garbage ? Buffer.from(c.garbage) : Buffer.from(base);
    for (const e of c.edits) {
      const at = Math.floor(e.at * bytes.length);
      for (let k = 0; k < e.bytes.length; k++) if (at + k < bytes.length) bytes[at + k] = e.bytes[k];
    }
    if (c.truncateTo !== null) bytes = bytes.subarray(0, Math.floor(c.truncateTo * bytes.length));
    const limits = { maxPixels: 4_000_000, timeoutMs: 3000 };
    try {
      const r = await makeRenditions(bytes, { preset: SPEC, limits });
      check(r.original.bytes === bytes || r.original.bytes.equals(bytes), 'original changed');
      for (const x of r.renditions) {
        const box = SPEC.find((s) => s.name === x.name)!;
        check(x.width >= 1 && x.width <= box.width && x.height >= 1 && (box.height === undefined || x.height <= box.height), () => `${x.name} is ${x.width}x${x.height}`);
        check(x.byteSize === x.bytes.length && x.bytes.length > 0, `${x.name} bytes`);
      }
      const a = await analyzeImage(bytes, { limits });
      check(Number.isFinite(a.quality) && a.quality >= 0 && a.quality <= 1, () => `quality ${a.quality}`);
      for (const k of ['brightness', 'contrast', 'sharpness', 'noise', 'blockiness', 'colourfulness', 'tonalRange'] as const) check(Number.isFinite(a[k]), () => `${k} = ${a[k]}`);
      const sum = a.palette.reduce((s, p) => s + p.share, 0);
      check(a.palette.length >= 1 && Math.abs(sum - 1) < 1e-9, () => `palette shares sum to ${sum}`);
      const h = await perceptualHash(bytes, { limits });
      check(/^[0-9a-f]{16}$/.test(h.hex), `hash ${h.hex}`);
      outcomes.accepted++;
    } catch (e) {
      if (e instanceof PinrecError) { outcomes.rejected++; return; }
      throw e;
    }
  },
  quickRuns: 150,
};
