/**
 * Images and ingest: renditions of a 12-MP upload against direct sharp, ingest throughput end to end,
 * rejection of hostile inputs, validation of the quality score against controlled degradations, and
 * near-duplicate recall of the 64-bit pHash.
 *
 *   npm run bench -- images [--data <folder with labels.csv>] [--model-dir ../shared/models]
 *       [--sections renditions,ingest,hostile,quality,duplicates] [--images N] [--ingest-images N]
 *       [--quality-images N] [--dup-images N] [--reps N] [--quick] [--json] [--out file]
 *
 * Data: $PINREC_DATA/caltech101-subset (labels.csv). Without it, renditions and hostile run on synthetic
 * images made with sharp, and ingest, quality and duplicates are skipped (their fields are null). Image
 * samples are evenly spaced over labels.csv: every ⌊n / N⌋-th image, the first N of them.
 *
 * - renditions: a 4000×3000 JPEG q90 mosaic of 400×300 Caltech tiles (the first 2 images of each label, cycled).
 *   `makeRenditions(bytes)` (pinterest2020: the original and 4 renditions) and direct sharp (`Promise.all` over
 *   the 4 specs of `sharp(bytes).rotate().resize(w, h, {fit: 'inside', withoutEnlargement: true})` + the
 *   spec's encoder) run side by side, alternating which goes first, one warm-up each, then 7 repetitions
 *   (3 with --quick); medians. Bytes: each rendition against a JPEG q90 of the same dimensions encoded by
 *   sharp from the original (the reference); `bytesSavedVsJpeg` = 1 − Σ rendition / Σ reference.
 * - ingest: `Ingestor` with `MemoryStore`, `InMemoryPinRecords`, `ExactIndex` (cosine), concurrency 2,
 *   `whenFull: 'wait'`, every upload launched at once (Promise.all); 600 Caltech images (60 with --quick),
 *   bytes read before the clock starts. The hash step's ms include the one shared decode (renditions and
 *   analysis reuse its pixels); the embedding step decodes the original again in the embedder. Embedder: MobileNet V1 0.75 (2 workers) from the model folder,
 *   warmed up on 2 images first; without the model, a fake embedder (a 4×4 RGB thumbnail, 48-d) and the
 *   result says so. Reported: images/s (wall), and per step the mean ms and its share of the summed step ms.
 * - hostile: a truncated JPEG (a Caltech JPEG cut to its first half), a PNG whose IHDR claims 100000×100000
 *   (valid CRC), 1 MiB of seeded random bytes, an SVG with an external entity, an SVG with viewBox
 *   "0 0 100000000 100000000", zero bytes, and the 12-MP JPEG under `limits.maxPixels` 1,000,000. Each must
 *   make `makeRenditions` reject with an `ImageDecodeError` (its kind is recorded); median ms of 5 runs; RSS
 *   before and its peak during the runs (process.memoryUsage().rss sampled every 2 ms). For information (not in
 *   `hostileRejectMsMax`), the 12-MP mosaic cut to its first half: its rejection needs a decode up to the cut.
 * - quality: per image, the undegraded copy (PNG) and four levels of each degradation — Gaussian blur σ 1, 2,
 *   3, 4; Gaussian noise σ 4, 8, 16, 32 (0–255); JPEG quality 70, 40, 20, 10; under-exposure −0.5, −1, −1.5,
 *   −2 EV and over-exposure +0.5, +1, +1.5, +2 EV (gain in linear light) — all PNG except the JPEG series.
 *   Per image and kind, Spearman of `analyzeImage().quality` against the level (0–4, sign so that 1 = falls
 *   with every step; a constant score counts as 0); mean over images per kind. `qualityOriginalWins`: share of
 *   (image, kind, level) where the undegraded copy scores strictly higher. 300 images (12 with --quick).
 * - duplicates: 64-bit pHash of each original file against copies resized to 50 % (JPEG q90), recompressed at
 *   q50, cropped 5 % on each side (q90), brightness ×1.2 and ×0.8 (sharp modulate, q90). Negatives: every pair
 *   of distinct images. Recall and false-positive rate at the library's default maxDistance 16, and at the
 *   largest threshold with FPR ≤ 0.1 %. 1,000 images (60 with --quick).
 *
 * Models come from --model-dir / $PINREC_MODEL_DIR / ../shared/models (never the internet: downloads are off).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { ExactIndex } from '../src/ann/exact.js';
import { ImageDecodeError } from '../src/core/errors.js';
import type { Embedder as EmbedderLike } from '../src/core/interfaces.js';
import { loadEmbedder, MODELS, type Embedder } from '../src/embeddings/index.js';
import { analyzeImage } from '../src/images/analysis.js';
import { hammingDistance, perceptualHash, type ImageHash } from '../src/images/hash.js';
import { makeRenditions, RENDITION_PRESETS, type RenditionOptions } from '../src/images/renditions.js';
import { MemoryStore } from '../src/images/store.js';
import { Ingestor } from '../src/ingest/ingest.js';
import { INGEST_STEPS, InMemoryPinRecords, type PinRecord } from '../src/ingest/records.js';
import { dataRoot, num, parseArgs, printTable, report, since, stats, str, type Args, readLabels, type LabelledImages as Dataset } from './lib.js';
import { addPlot, barChart, dotChart, lineChart, melt, type Row } from './report.js';

const SECTIONS = ['renditions', 'ingest', 'hostile', 'quality', 'duplicates'] as const;
type Section = (typeof SECTIONS)[number];


/** Every ⌊n / count⌋-th index, the first `count` of them (the scratch protocols' sample). */
function evenlySpaced(n: number, count: number): number[] {
  const step = Math.max(1, Math.floor(n / count));
  const out: number[] = [];
  for (let i = 0; i < n && out.length < count; i += step) out.push(i);
  return out;
}

function rssMb(): number {
  return Math.round(process.memoryUsage().rss / 2 ** 20);
}

/** A seeded uniform generator in [0, 1) (LCG). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 4294967296; };
}

/** Seeded standard normal deviates (Box–Muller over the LCG), as in the quality protocol. */
function gauss(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0; const u = (s + 1) / 4294967297;
    s = (s * 1664525 + 1013904223) >>> 0; const v = (s + 1) / 4294967297;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** A textured synthetic photo tile (gradients, sinusoids, a few hard-edged shapes, mild grain), raw RGB. */
function syntheticTile(w: number, h: number, seed: number): Buffer {
  const r = lcg(seed * 7919 + 1);
  const g = gauss(seed + 11);
  const base = [0, 1, 2].map(() => 40 + 170 * r());
  const waves = Array.from({ length: 3 }, () => ({ fx: (0.5 + 6 * r()) / w, fy: (0.5 + 6 * r()) / h, ph: 6.28 * r(), amp: 20 + 30 * r() }));
  const boxes = Array.from({ length: 4 }, () => ({ x: r() * w, y: r() * h, bw: (0.1 + 0.3 * r()) * w, bh: (0.1 + 0.3 * r()) * h, c: [0, 1, 2].map(() => 255 * r()) }));
  const out = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let box: number[] | undefined;
    for (const b of boxes) if (x >= b.x && x < b.x + b.bw && y >= b.y && y < b.y + b.bh) box = b.c;
    for (let c = 0; c < 3; c++) {
      let v = box ? box[c] : base[c] + 40 * (x / w - 0.5) + 30 * (y / h - 0.5);
      for (const wv of waves) v += (wv.amp / 3) * Math.sin(6.28 * (wv.fx * x + wv.fy * y) * (c + 1) + wv.ph);
      out[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v + 3 * g())));
    }
  }
  return out;
}

/** The 4000×3000 JPEG q90 mosaic of 400×300 tiles: Caltech photos (first 2 per label, cycled) or synthetic tiles. */
async function mosaic12mp(ds: Dataset | undefined): Promise<{ bytes: Buffer; tiles: string }> {
  const W = 4000, H = 3000, tw = 400, th = 300;
  let tileOf: (i: number) => Promise<Buffer>;
  let desc: string;
  if (ds) {
    const seen = new Map<string, number>();
    const files: string[] = [];
    ds.labels.forEach((l, i) => { const c = seen.get(l) ?? 0; if (c < 2) { files.push(ds.paths[i]); seen.set(l, c + 1); } });
    tileOf = (i) => sharp(files[i % files.length]).resize(tw, th, { fit: 'cover' }).toBuffer();
    desc = 'Caltech tiles';
  } else {
    const cache = new Map<number, Buffer>();
    tileOf = async (i) => {
      const k = i % 24;
      if (!cache.has(k)) cache.set(k, await sharp(syntheticTile(tw, th, k), { raw: { width: tw, height: th, channels: 3 } }).png().toBuffer());
      return cache.get(k)!;
    };
    desc = 'synthetic tiles';
  }
  const tiles: { input: Buffer; left: number; top: number }[] = [];
  let i = 0;
  for (let y = 0; y < H; y += th) for (let x = 0; x < W; x += tw) tiles.push({ input: await tileOf(i++), left: x, top: y });
  const bytes = await sharp({ create: { width: W, height: H, channels: 3, background: '#888888' } }).composite(tiles).jpeg({ quality: 90 }).toBuffer();
  return { bytes, tiles: desc };
}

/** Spearman's rank correlation (average ranks for ties); NaN when either side is constant. */
function spearman(a: number[], b: number[]): number {
  const rank = (x: number[]) => {
    const idx = x.map((v, i) => [v, i]).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(x.length);
    for (let i = 0; i < idx.length;) {
      let j = i;
      while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
      for (let t = i; t <= j; t++) r[idx[t][1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a), rb = rank(b);
  const n = a.length;
  const ma = ra.reduce((s, v) => s + v, 0) / n, mb = rb.reduce((s, v) => s + v, 0) / n;
  let nu = 0, da = 0, db = 0;
  for (let i = 0; i < n; i++) { nu += (ra[i] - ma) * (rb[i] - mb); da += (ra[i] - ma) ** 2; db += (rb[i] - mb) ** 2; }
  return nu / Math.sqrt(da * db);
}

const mean = (x: number[]) => (x.length ? x.reduce((s, v) => s + v, 0) / x.length : NaN);

// ---------------------------------------------------------------------------------------------------------

async function renditionsSection(big: Buffer, reps: number, log: (s: string) => void): Promise<Record<string, unknown>> {
  const specs = RENDITION_PRESETS.pinterest2020;
  const direct = () => Promise.all(specs.map((s) => {
    const p = sharp(big).rotate().resize(s.width, s.height, { fit: 'inside', withoutEnlargement: true });
    return (s.format === 'webp' ? p.webp({ quality: s.quality }) : p.jpeg({ quality: s.quality })).toBuffer();
  }));
  const ours = () => makeRenditions(big);
  let last = await ours();
  let lastDirect = await direct();
  const oursS: number[] = [], directS: number[] = [];
  for (let r = 0; r < reps; r++) {
    const runOurs = async () => { const t = performance.now(); last = await ours(); oursS.push(since(t)); };
    const runDirect = async () => { const t = performance.now(); lastDirect = await direct(); directS.push(since(t)); };
    if (r % 2 === 0) { await runOurs(); await runDirect(); } else { await runDirect(); await runOurs(); }
  }
  const so = stats(oursS), sd = stats(directS);
  const timing = { renditions12mpSeconds: so.median, sharpDirectSeconds: sd.median, renditionsVsSharp: so.median / sd.median };
  printTable([
    { pipeline: 'makeRenditions (original + 4)', reps, 'median s': so.median, 'min s': so.min, 'max s': so.max, spread: so.spread },
    { pipeline: 'direct sharp (Promise.all, 4)', reps, 'median s': sd.median, 'min s': sd.min, 'max s': sd.max, spread: sd.spread },
  ], `12-MP renditions (4000×3000 JPEG q90, ${big.length.toLocaleString('en-US')} bytes), ours / direct = ${timing.renditionsVsSharp.toFixed(3)}`);

  const rows: Record<string, unknown>[] = [];
  let sumR = 0, sumRef = 0, webpR = 0, webpRef = 0;
  for (let i = 0; i < last.renditions.length; i++) {
    const r = last.renditions[i];
    const s = specs[i];
    const ref = await sharp(big).rotate().resize(r.width, r.height, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
    sumR += r.byteSize; sumRef += ref.length;
    if (s.format === 'webp') { webpR += r.byteSize; webpRef += ref.length; }
    rows.push({ rendition: r.name, size: `${r.width}×${r.height}`, encoding: `${s.format} q${s.quality}`, bytes: r.byteSize, directSharpBytes: lastDirect[i].length, jpegQ90Bytes: ref.length, vsJpegQ90: r.byteSize / ref.length });
  }
  rows.push({ rendition: 'all renditions', bytes: sumR, directSharpBytes: lastDirect.reduce((s, b) => s + b.length, 0), jpegQ90Bytes: sumRef, vsJpegQ90: sumR / sumRef });
  rows.push({ rendition: 'original', size: `${last.original.width}×${last.original.height}`, encoding: 'jpeg q90', bytes: last.original.byteSize });
  const bytesSavedVsJpeg = 1 - sumR / sumRef;
  const bytesSavedVsJpegWebpOnly = 1 - webpR / webpRef; // for information: the zoom rendition is JPEG q95, above the reference's q90
  printTable(rows, `Rendition bytes against a sharp JPEG q90 of the same size: ${(100 * bytesSavedVsJpeg).toFixed(1)} % saved (WebP renditions only: ${(100 * bytesSavedVsJpegWebpOnly).toFixed(1)} %)`);
  log(`renditions: ours ${so.median.toFixed(3)} s, direct ${sd.median.toFixed(3)} s`);
  return { ...timing, oursSeconds: so, directSeconds: sd, originalBytes: big.length, bytes: rows, bytesSavedVsJpeg, bytesSavedVsJpegWebpOnly };
}

/** A fake embedder: the image's 4×4 RGB thumbnail, centred, plus a constant (never the zero vector). */
function fakeEmbedder(): EmbedderLike<Buffer> {
  return {
    dim: 48,
    async embed(bytes: Buffer) {
      const px = await sharp(bytes).removeAlpha().resize(4, 4, { fit: 'fill' }).raw().toBuffer();
      const v = new Float32Array(48);
      for (let i = 0; i < 48; i++) v[i] = px[i] / 255 - 0.5 + 1e-3 * (i + 1);
      return v;
    },
  };
}

async function ingestSection(ds: Dataset, n: number, modelDir: string, log: (s: string) => void): Promise<Record<string, unknown>> {
  const modelName = 'mobilenet_v1_0.75_224';
  const reg = MODELS[modelName];
  const haveModel = existsSync(path.join(modelDir, 'model.json')) || existsSync(path.join(modelDir, reg.folder, 'model.json'));
  const idx = evenlySpaced(ds.paths.length, n);
  const bytes = idx.map((i) => readFileSync(ds.paths[i]));
  let real: Embedder | undefined;
  let embedder: EmbedderLike<Buffer>;
  let embedderName: string;
  if (haveModel) {
    real = await loadEmbedder({ model: modelName, modelDir, download: false, fallback: false, workers: 2 });
    embedder = real;
    embedderName = `${modelName} (${real.info.backend}, 2 workers, ${real.dim}-d)`;
    await Promise.all(bytes.slice(0, 2).map((b) => real!.embed(b))); // warm-up: not part of the timing
  } else {
    log(`ingest: ${modelName} not found under ${modelDir}: using a FAKE embedder (4×4 RGB thumbnail, 48-d) — throughput excludes CNN inference`);
    embedder = fakeEmbedder();
    embedderName = 'fake (4×4 RGB thumbnail, 48-d; no model found)';
  }
  try {
    const store = new MemoryStore();
    const records = new InMemoryPinRecords();
    const index = new ExactIndex<string>({ metric: 'cosine', dim: embedder.dim, capacity: bytes.length });
    const ingestor = new Ingestor({ store, records, embedder, index, concurrency: 2, maxQueued: 64, whenFull: 'wait' });
    const rss0 = rssMb();
    const t0 = performance.now();
    const results = await Promise.all(bytes.map((b, i) => ingestor.ingest(b, { category: ds.labels[idx[i]] })));
    const seconds = since(t0);
    await ingestor.idle();
    const recs: PinRecord[] = results.map((r) => r.record);
    const failed = results.filter((r) => r.failed.length > 0).length;
    const duplicates = recs.filter((r) => r.duplicateOf).length;
    const sums: Record<string, number> = {};
    for (const s of INGEST_STEPS) sums[s] = recs.reduce((acc, r) => acc + (r.steps[s]?.ms ?? 0), 0);
    const total = Object.values(sums).reduce((a, b) => a + b, 0);
    const stageShare = Object.fromEntries(INGEST_STEPS.map((s) => [s, sums[s] / total]));
    const stageMeanMs = Object.fromEntries(INGEST_STEPS.map((s) => [s, sums[s] / recs.length]));
    const rate = bytes.length / seconds;
    printTable(INGEST_STEPS.map((s) => ({ step: s, 'mean ms': stageMeanMs[s], share: stageShare[s] })),
      `Ingest: ${bytes.length} Caltech images in ${seconds.toFixed(2)} s = ${rate.toFixed(1)} img/s (concurrency 2; embedder ${embedderName}; ${failed} with failed steps, ${duplicates} linked as near-duplicates)`);
    return {
      ingestImagesPerSecond: rate, images: bytes.length, seconds, embedder: embedderName, realEmbedder: haveModel,
      failed, duplicates, indexed: index.size, storedBlobs: store.size, storedBytes: store.bytes, stageShare, stageMeanMs,
      rssBeforeMb: rss0, rssAfterMb: rssMb(),
    };
  } finally {
    if (real) await real.dispose();
  }
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) { c ^= b; for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1; }
  return ~c >>> 0;
}
function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** A well-formed PNG whose IHDR claims `w`×`h` RGB pixels (valid CRCs) over a few bytes of data. */
function lyingPng(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2;
  const idat = Buffer.from([0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]);
}

async function hostileSection(big: Buffer, smallJpeg: Buffer, smallDesc: string, log: (s: string) => void): Promise<Record<string, unknown>> {
  const rand = lcg(12345);
  const random = Buffer.alloc(1 << 20);
  for (let i = 0; i < random.length; i++) random[i] = Math.floor(rand() * 256);
  const cases: { input: string; bytes: Buffer; options?: RenditionOptions; inMax: boolean }[] = [
    { input: `truncated JPEG (${smallDesc}, first half)`, bytes: smallJpeg.subarray(0, smallJpeg.length >> 1), inMax: true },
    { input: 'PNG, IHDR claims 100000×100000', bytes: lyingPng(100_000, 100_000), inMax: true },
    { input: 'random bytes (1 MiB)', bytes: random, inMax: true },
    { input: 'SVG, external entity', bytes: Buffer.from('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&x;</text></svg>'), inMax: true },
    { input: 'SVG, viewBox 0 0 1e8 1e8', bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100000000 100000000"><rect width="100%" height="100%"/></svg>'), inMax: true },
    { input: 'zero bytes', bytes: Buffer.alloc(0), inMax: true },
    { input: '12-MP JPEG, limits.maxPixels 1e6', bytes: big, options: { limits: { maxPixels: 1_000_000 } }, inMax: true },
    { input: '(info) truncated 12-MP JPEG, first half', bytes: big.subarray(0, big.length >> 1), inMax: false },
  ];
  const rows: Record<string, unknown>[] = [];
  let maxMs = 0, peakAll = 0, allRejected = true;
  for (const c of cases) {
    const before = rssMb();
    let peak = before;
    const timer = setInterval(() => { peak = Math.max(peak, rssMb()); }, 2);
    const ms: number[] = [];
    let outcome = '', kind: string | null = null;
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      try {
        await makeRenditions(c.bytes, c.options);
        outcome = 'ACCEPTED';
      } catch (e) {
        if (e instanceof ImageDecodeError) { outcome = 'ImageDecodeError'; kind = e.kind; }
        else outcome = `${(e as Error)?.constructor?.name ?? 'throw'}: ${String((e as Error)?.message ?? e).slice(0, 60)}`;
      }
      ms.push(performance.now() - t);
      peak = Math.max(peak, rssMb());
    }
    clearInterval(timer);
    const med = stats(ms).median;
    const ok = outcome === 'ImageDecodeError';
    if (c.inMax) { maxMs = Math.max(maxMs, med); peakAll = Math.max(peakAll, peak); if (!ok) allRejected = false; }
    rows.push({ input: c.input, bytes: c.bytes.length, outcome, kind: kind ?? '', 'median ms': med, 'max ms': Math.max(...ms), rssBeforeMb: before, rssPeakMb: peak, rssGrowthMb: peak - before });
  }
  printTable(rows, `Hostile inputs to makeRenditions (median of 5; max over the listed inputs ${maxMs.toFixed(1)} ms)`);
  log(`hostile: all rejected with ImageDecodeError: ${allRejected}`);
  return { hostileRejectMsMax: maxMs, hostilePeakRssMb: peakAll, allRejected, truncated12mpMs: rows[rows.length - 1]['median ms'], rows };
}

const KINDS: Record<string, number[]> = { blur: [1, 2, 3, 4], noise: [4, 8, 16, 32], jpeg: [70, 40, 20, 10], under: [-0.5, -1, -1.5, -2], over: [0.5, 1, 1.5, 2] };
const srgb2lin = (c: number) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
const lin2srgb = (c: number) => { const v = c <= 0.0031308 ? 12.92 * c : 1.055 * Math.min(1, c) ** (1 / 2.4) - 0.055; return Math.max(0, Math.min(255, Math.round(Math.min(1, v) * 255))); };

async function degrade(data: Buffer, width: number, height: number, kind: string, level: number | null): Promise<Buffer> {
  const raw = { raw: { width, height, channels: 3 as const } };
  if (level === null) return sharp(data, raw).png().toBuffer();
  if (kind === 'blur') return sharp(data, raw).blur(level).png().toBuffer();
  if (kind === 'jpeg') return sharp(data, raw).jpeg({ quality: level }).toBuffer();
  const out = Buffer.alloc(data.length);
  if (kind === 'noise') { const g = gauss(7); for (let i = 0; i < data.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(data[i] + level * g()))); }
  else { const gain = 2 ** level; for (let i = 0; i < data.length; i++) out[i] = lin2srgb(srgb2lin(data[i]) * gain); }
  return sharp(out, raw).png().toBuffer();
}

async function qualitySection(ds: Dataset, n: number, log: (s: string) => void): Promise<Record<string, unknown>> {
  const files = evenlySpaced(ds.paths.length, n).map((i) => ds.paths[i]);
  const per: Record<string, { rho: number[]; constant: number; wins: number; total: number; lv: number[]; q: number[] }> = {};
  for (const k of Object.keys(KINDS)) per[k] = { rho: [], constant: 0, wins: 0, total: 0, lv: [], q: [] };
  const base: number[] = [];
  const t0 = performance.now();
  for (const f of files) {
    const { data, info } = await sharp(f).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    const q0 = (await analyzeImage(await degrade(data, info.width, info.height, '', null))).quality;
    base.push(q0);
    for (const [k, levels] of Object.entries(KINDS)) {
      const qs = [q0];
      for (const l of levels) qs.push((await analyzeImage(await degrade(data, info.width, info.height, k, l))).quality);
      let rho = -spearman([0, 1, 2, 3, 4], qs);
      if (!Number.isFinite(rho)) { rho = 0; per[k].constant++; }
      per[k].rho.push(rho);
      qs.forEach((q, i) => { per[k].lv.push(i); per[k].q.push(q); });
      for (let i = 1; i < qs.length; i++) { per[k].total++; if (qs[0] > qs[i]) per[k].wins++; }
    }
  }
  const qualitySpearman: Record<string, number> = {}, qualityPooledSpearman: Record<string, number> = {}, winsByKind: Record<string, number> = {};
  const rows: Record<string, unknown>[] = [];
  let W = 0, T = 0;
  for (const [k, r] of Object.entries(per)) {
    qualitySpearman[k] = mean(r.rho);
    qualityPooledSpearman[k] = -spearman(r.lv, r.q);
    winsByKind[k] = r.wins / r.total;
    W += r.wins; T += r.total;
    rows.push({ degradation: k, levels: KINDS[k].join(', '), 'mean Spearman': qualitySpearman[k], 'share ρ ≥ 0.9': r.rho.filter((x) => x >= 0.9).length / r.rho.length, 'pooled Spearman': qualityPooledSpearman[k], 'original wins': winsByKind[k], 'constant scores': r.constant });
  }
  const qualitySpearmanMin = Math.min(...Object.values(qualitySpearman));
  const qualityOriginalWins = W / T;
  printTable(rows, `Quality score against degradation level, ${files.length} Caltech images (${since(t0).toFixed(1)} s): min mean Spearman ${qualitySpearmanMin.toFixed(3)}, original wins ${qualityOriginalWins.toFixed(3)}`);
  log(`quality: undegraded mean score ${mean(base).toFixed(3)}`);
  return { images: files.length, qualitySpearman, qualitySpearmanMin, qualityPooledSpearman, qualityOriginalWins, originalWinsByKind: winsByKind, baseQualityMean: mean(base), rows };
}

const TRANSFORMS: Record<string, (b: Buffer) => Promise<Buffer>> = {
  resize50: async (b) => { const m = await sharp(b).metadata(); return sharp(b).resize(Math.round(m.width! / 2)).jpeg({ quality: 90 }).toBuffer(); },
  q50: (b) => sharp(b).jpeg({ quality: 50 }).toBuffer(),
  crop10: async (b) => {
    const m = await sharp(b).metadata(); const w = m.width!, h = m.height!;
    const dw = Math.round(w * 0.05), dh = Math.round(h * 0.05);
    return sharp(b).extract({ left: dw, top: dh, width: w - 2 * dw, height: h - 2 * dh }).jpeg({ quality: 90 }).toBuffer();
  },
  bright120: (b) => sharp(b).modulate({ brightness: 1.2 }).jpeg({ quality: 90 }).toBuffer(),
  bright80: (b) => sharp(b).modulate({ brightness: 0.8 }).jpeg({ quality: 90 }).toBuffer(),
};

async function duplicatesSection(ds: Dataset, n: number, log: (s: string) => void): Promise<Record<string, unknown>> {
  const files = evenlySpaced(ds.paths.length, n).map((i) => ds.paths[i]);
  const opts = { kind: 'phash', bits: 64 } as const;
  const hashes: ImageHash[] = [];
  const pos: Record<string, number[]> = Object.fromEntries(Object.keys(TRANSFORMS).map((t) => [t, []]));
  const t0 = performance.now();
  for (const f of files) {
    const b = readFileSync(f);
    const h = await perceptualHash(b, opts);
    hashes.push(h);
    for (const [t, fn] of Object.entries(TRANSFORMS)) pos[t].push(hammingDistance(await perceptualHash(await fn(b), opts), h));
  }
  const neg: number[] = [];
  for (let i = 0; i < hashes.length; i++) for (let j = i + 1; j < hashes.length; j++) neg.push(hammingDistance(hashes[i], hashes[j]));
  neg.sort((a, b) => a - b);
  const all = Object.values(pos).flat();
  const fprAt = (d: number) => neg.filter((x) => x <= d).length / neg.length;
  const recallAt = (xs: number[], d: number) => xs.filter((x) => x <= d).length / xs.length;
  let thr = -1;
  for (let d = 0; d <= 64; d++) { if (fprAt(d) <= 0.001) thr = d; else break; }
  const DEFAULT = 16;
  const perDefault = Object.fromEntries(Object.entries(pos).map(([k, v]) => [k, recallAt(v, DEFAULT)]));
  const perThr = Object.fromEntries(Object.entries(pos).map(([k, v]) => [k, recallAt(v, thr)]));
  const dupRecall = recallAt(all, DEFAULT), dupFalsePositiveRate = fprAt(DEFAULT);
  const rows: Record<string, unknown>[] = [
    { threshold: `${DEFAULT} (library default)`, recall: dupRecall, fpr: dupFalsePositiveRate, ...perDefault },
    { threshold: `${thr} (largest with FPR ≤ 0.1 %)`, recall: recallAt(all, thr), fpr: fprAt(thr), ...perThr },
  ];
  // the whole curve: a catalogue of P pins gives each upload about fpr × P false matches to choose among
  const curve = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20].map((d) => ({
    threshold: d, recall: recallAt(all, d), fpr: fprAt(d), falseMatchesPerUploadAt1M: fprAt(d) * 1e6,
    ...Object.fromEntries(Object.entries(pos).map(([k, v]) => [k, recallAt(v, d)])),
  }));
  printTable(curve, 'Near-duplicates: recall and false-positive rate by threshold (bits of 64)');
  printTable(rows, `Near-duplicates, 64-bit pHash, ${files.length} Caltech images, ${neg.length.toLocaleString('en-US')} negative pairs (${since(t0).toFixed(1)} s); closest negative ${neg[0]} bits`);
  log(`duplicates: positive distances median ${stats(all).median}, max ${stats(all).max}`);
  return {
    images: files.length, negativePairs: neg.length, dupRecall, dupFalsePositiveRate, maxDistance: DEFAULT, recallByTransform: perDefault,
    thresholdAtFpr001: thr, recallAtFpr001: recallAt(all, thr), fprAtThreshold: fprAt(thr), recallByTransformAtFpr001: perThr,
    curve, negativeMin: neg[0], negativeQuantile001: neg[Math.floor(neg.length * 0.001)], positiveMedian: stats(all).median, positiveMax: stats(all).max,
  };
}

export async function main(argv: string[]): Promise<void> {
  const args: Args = parseArgs(argv);
  if (args.help) { console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]); return; }
  const quick = args.quick === true;
  const log = (s: string) => console.log(s); // (with --json, lib.ts sends all of this to stderr)
  const t0 = performance.now();
  const sections = (str(args, 'sections') ?? SECTIONS.join(',')).split(',').map((s) => s.trim()) as Section[];
  for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--sections: unknown section ${s} (known: ${SECTIONS.join(', ')})`);
  const dataDir = path.resolve(str(args, 'data') ?? path.join(dataRoot(), 'caltech101-subset'));
  const modelDir = path.resolve(str(args, 'model-dir') ?? process.env.PINREC_MODEL_DIR ?? path.join(process.cwd(), '../shared/models'));
  const haveData = existsSync(path.join(dataDir, 'labels.csv'));
  const ds = haveData ? readLabels(dataDir) : undefined;
  const images = args.images !== undefined ? num(args, 'images', 0) : undefined;
  const nIngest = num(args, 'ingest-images', images ?? (quick ? 60 : 600));
  const nQuality = num(args, 'quality-images', images ?? (quick ? 12 : 300));
  const nDup = num(args, 'dup-images', images ?? (quick ? 60 : 1000));
  const reps = num(args, 'reps', quick ? 3 : 7);
  const skipped: string[] = [];
  if (!haveData) log(`no labels.csv in ${dataDir} (set PINREC_DATA or --data): renditions and hostile use synthetic images`);

  const result: Record<string, unknown> = {
    quick, data: haveData ? dataDir : null, sections,
    sharp: { version: sharp.versions.sharp, vips: sharp.versions.vips, concurrency: sharp.concurrency(), simd: sharp.simd() },
    renditions12mpSeconds: null, renditionsVsSharp: null, ingestImagesPerSecond: null, hostileRejectMsMax: null,
    qualitySpearmanMin: null, qualityOriginalWins: null, dupRecall: null, dupFalsePositiveRate: null,
  };
  const need = (s: Section) => sections.includes(s);
  const big = need('renditions') || need('hostile') ? await mosaic12mp(ds) : undefined;
  if (big) log(`12-MP mosaic (${big.tiles}): ${big.bytes.length.toLocaleString('en-US')} bytes`);

  if (need('renditions')) {
    const r = await renditionsSection(big!.bytes, reps, log);
    Object.assign(result, { renditions12mpSeconds: r.renditions12mpSeconds, sharpDirectSeconds: r.sharpDirectSeconds, renditionsVsSharp: r.renditionsVsSharp, bytesSavedVsJpeg: r.bytesSavedVsJpeg });
    result.renditions = { mosaic: big!.tiles, reps, ...r };
  }
  const skip = (s: Section, fields: Record<string, null>) => {
    const why = `${s} (needs ${path.join(dataDir, 'labels.csv')})`;
    log(`SKIPPED ${why}`);
    skipped.push(why);
    Object.assign(result, fields);
    result[s] = null;
  };
  if (need('ingest')) {
    if (!ds) skip('ingest', { ingestImagesPerSecond: null });
    else { const r = await ingestSection(ds, nIngest, modelDir, log); result.ingestImagesPerSecond = r.ingestImagesPerSecond; result.ingest = r; }
  }
  if (need('hostile')) {
    const small = ds
      ? { bytes: readFileSync(ds.paths[0]), desc: path.relative(ds.root, ds.paths[0]) }
      : { bytes: await sharp(syntheticTile(400, 300, 99), { raw: { width: 400, height: 300, channels: 3 } }).jpeg({ quality: 90 }).toBuffer(), desc: 'synthetic 400×300' };
    const r = await hostileSection(big!.bytes, small.bytes, small.desc, log);
    Object.assign(result, { hostileRejectMsMax: r.hostileRejectMsMax, hostilePeakRssMb: r.hostilePeakRssMb });
    result.hostile = r;
  }
  if (need('quality')) {
    if (!ds) skip('quality', { qualitySpearmanMin: null, qualityOriginalWins: null, qualitySpearman: null, qualityPooledSpearman: null });
    else {
      const r = await qualitySection(ds, nQuality, log);
      Object.assign(result, { qualitySpearman: r.qualitySpearman, qualitySpearmanMin: r.qualitySpearmanMin, qualityPooledSpearman: r.qualityPooledSpearman, qualityOriginalWins: r.qualityOriginalWins });
      result.quality = r;
    }
  }
  if (need('duplicates')) {
    if (!ds) skip('duplicates', { dupRecall: null, dupFalsePositiveRate: null });
    else {
      const r = await duplicatesSection(ds, nDup, log);
      Object.assign(result, { dupRecall: r.dupRecall, dupFalsePositiveRate: r.dupFalsePositiveRate, dupThresholdAtFpr001: r.thresholdAtFpr001, dupRecallAtFpr001: r.recallAtFpr001 });
      result.duplicates = r;
    }
  }

  const v = (k: string) => (typeof result[k] === 'number' ? (result[k] as number) : null);
  const target = (metric: string, op: '≤' | '<' | '≥', goal: number, value = v(metric)) => ({
    metric, target: `${op} ${goal}`, value, met: value === null ? null : op === '≤' ? value <= goal : op === '<' ? value < goal : value >= goal,
  });
  const dr = v('dupRecall'), df = v('dupFalsePositiveRate');
  const targets = [
    target('renditions12mpSeconds', '≤', 0.25),
    target('renditionsVsSharp', '≤', 1.1),
    target('hostileRejectMsMax', '<', 100),
    target('qualitySpearmanMin', '≥', 0.9),
    target('qualityOriginalWins', '≥', 0.95),
    { metric: 'dupRecall at dupFalsePositiveRate ≤ 0.001', target: 'recall ≥ 0.95 and FPR ≤ 0.001', value: dr === null ? null : { dupRecall: dr, dupFalsePositiveRate: df }, met: dr === null || df === null ? null : dr >= 0.95 && df <= 0.001 },
  ];
  if (need('hostile') && result.hostile && !(result.hostile as { allRejected: boolean }).allRejected) {
    targets.push({ metric: 'hostile inputs rejected with ImageDecodeError', target: 'all', value: null, met: false });
  }
  printTable(targets.map((t) => ({ metric: t.metric, target: t.target, value: typeof t.value === 'object' && t.value !== null ? JSON.stringify(t.value) : (t.value ?? 'n/a'), met: t.met === null ? 'not measured' : t.met ? 'yes' : 'NO' })), 'Targets');
  result.targets = targets;
  result.skipped = skipped;
  result.seconds = since(t0);
  log(`images benchmark: ${(result.seconds as number).toFixed(1)} s`);
  plotImages(result);
  await report('images', args, result);
}

/** One plot per section that ran (sections skipped for want of data have none). */
function plotImages(result: Record<string, unknown>): void {
  const rend = result.renditions as { bytes: Row[]; renditions12mpSeconds: number; sharpDirectSeconds: number } | undefined;
  if (rend) {
    const rows = rend.bytes.filter((r) => r.size !== undefined && r.rendition !== 'original');
    addPlot('rendition-bytes', 'Rendition bytes against direct sharp and a JPEG q90 of the same size', barChart(
      melt(rows.map((r) => ({ ...r, label: `${r.rendition} ${r.size} (${r.encoding})` })), { columns: { makeRenditions: 'bytes', 'direct sharp': 'directSharpBytes', 'JPEG q90 reference': 'jpegQ90Bytes' }, keep: ['label'], key: 'encoder' }),
      { title: 'Bytes per rendition of the 12-MP upload', subtitle: `makeRenditions ${rend.renditions12mpSeconds.toFixed(3)} s, direct sharp ${rend.sharpDirectSeconds.toFixed(3)} s (medians)`, category: { field: 'label', title: '' }, value: { field: 'value', title: 'bytes', format: '~s' }, color: 'encoder' },
    ));
  }
  const ingest = result.ingest as { stageMeanMs: Record<string, number>; ingestImagesPerSecond: number; images: number; embedder: string } | undefined;
  if (ingest) {
    addPlot('ingest-steps', 'Ingest: mean ms per step', barChart(Object.entries(ingest.stageMeanMs).map(([step, ms]) => ({ step, ms })), {
      title: `Ingest: mean ms per step (${ingest.ingestImagesPerSecond.toFixed(1)} images/s over ${ingest.images})`, subtitle: `embedder ${ingest.embedder}`, category: { field: 'step', title: '' }, value: { field: 'ms', title: 'mean ms per image' },
    }));
  }
  const hostile = result.hostile as { rows: Row[] } | undefined;
  if (hostile) {
    addPlot('hostile', 'Hostile inputs: time to reject', dotChart(hostile.rows.map((r) => ({ ...r, result: r.outcome === 'ImageDecodeError' ? `ImageDecodeError` : String(r.outcome) })), {
      title: 'Hostile inputs to makeRenditions: time to reject (median of 5)', subtitle: 'target < 100 ms for every listed input', category: { field: 'input', title: '' }, value: { field: 'median ms', title: 'ms (log)', log: true }, color: 'result',
    }));
  }
  const quality = result.quality as { rows: Row[]; images: number } | undefined;
  if (quality) {
    addPlot('quality-score', 'Quality score against controlled degradations', barChart(
      melt(quality.rows, { columns: { 'mean Spearman': 'mean Spearman', 'share ρ ≥ 0.9': 'share ρ ≥ 0.9', 'original wins': 'original wins' }, keep: ['degradation'], key: 'measure' }),
      { title: `Quality score against degradation level (${quality.images} images)`, subtitle: '1 = the score falls with every step of the degradation', category: { field: 'degradation', title: '' }, value: { field: 'value', title: '' }, color: 'measure' },
    ));
  }
  const dup = result.duplicates as { curve: Row[]; images: number; negativePairs: number } | undefined;
  if (dup) {
    const transforms = Object.keys(dup.curve[0] ?? {}).filter((k) => !['threshold', 'recall', 'fpr', 'falseMatchesPerUploadAt1M'].includes(k));
    addPlot('duplicates-recall', 'Near-duplicate recall by threshold', lineChart(
      melt(dup.curve, { columns: { 'all copies': 'recall', ...Object.fromEntries(transforms.map((t) => [t, t])) }, keep: ['threshold'], key: 'copy' }),
      { title: `Near-duplicates: recall of the 64-bit pHash by threshold (${dup.images} images)`, x: { field: 'threshold', title: 'max Hamming distance (bits of 64)' }, y: { field: 'value', title: 'recall', zero: true }, color: 'copy' },
    ));
    addPlot('duplicates-fpr', 'Near-duplicate false-positive rate by threshold', lineChart(dup.curve.map((r) => ({ ...r, what: 'distinct images matched' })), {
      title: 'Near-duplicates: false-positive rate by threshold', subtitle: `${dup.negativePairs.toLocaleString('en-US')} pairs of distinct images; the target is ≤ 0.1 %`,
      x: { field: 'threshold', title: 'max Hamming distance (bits of 64)' }, y: { field: 'fpr', title: 'false-positive rate', zero: true, format: '.2%' }, color: { field: 'what', title: '' },
    }));
  }
}

export type { Args };
