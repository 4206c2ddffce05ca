/**
 * Shop the look (issue [14]): object detection on composed scenes, visual search by the detected crops, and the
 * price path under a 100× burst.
 *
 *   npm run bench -- shop [--sections detect,search,burst] [--scenes N] [--seed 1] [--min-score 0.3]
 *       [--thresholds 0.1,0.15,0.2,0.25,0.3,0.4,0.5] [--catalogue-per-label N] [--features-cache dir]
 *       [--products N] [--normal-rps 100] [--burst-x 100] [--burst-seconds S] [--warm-seconds S]
 *       [--warm-speed X] [--save-scenes dir] [--data <caltech101-subset>] [--model-dir ../shared/models]
 *       [--quick] [--json] [--out file]
 *
 * Data: $PINREC_DATA/caltech101-subset (labels.csv; the folder name is the label). Models: --model-dir /
 * $PINREC_MODEL_DIR / ../shared/models (centernet_mobilenetv3_coco, mobilenet_v1_0.75_224; never downloaded).
 * Without them, detect and search are skipped (their fields null, `skipped` says why); burst needs neither.
 *
 * - scenes: `--scenes` (100; 6 with --quick) canvases of 640×480 on a uniform grey (level 170–230, seeded), each
 *   with 2 or 3 Caltech photos of distinct COCO classes pasted (sharp composite) into the cells of a seeded layout
 *   (2 side by side or stacked; 3 in a row, one big cell + two, or two + one wide), each photo resized with its
 *   aspect ratio kept to 65–95 % of the largest size that fits its cell (8 px gaps: boxes never overlap), placed
 *   at a random spot in it; the scene is a JPEG q90 (an upload). Ground truth = the pasted photo's rectangle
 *   (the photo's own background included: Caltech objects fill much of their photo, not all of it). COCO
 *   classes drawn uniformly, then a Caltech folder of that class, then an unused photo (none is pasted twice):
 *   airplanes→airplane, Motorbikes→motorcycle, car_side→car, chair, windsor_chair→chair, cup, laptop,
 *   cellphone→cell phone, umbrella, scissors, stop_sign→stop sign, elephant, dalmatian→dog,
 *   ketch / ferry / schooner→boat, pizza, soccer_ball→sports ball, pigeon / rooster / ibis / flamingo /
 *   emu→bird (those present in the subset).
 * - detect: `detector.detect(scene, { mode, nms: 'all', minScore: 0.05, maxBoxes: 100 })` once per scene and
 *   mode (normal 512, light 320) — `nms: 'all'` (one box per region, any class) is what ingest and
 *   tagProducts ask for; also, normal mode only, the COCO convention `nms: 'class'` and flip test-time
 *   augmentation (`flip: true`, twice the inference); each threshold t then keeps the boxes scoring ≥ t, at most 20 (the default maxBoxes) —
 *   the boxes a call with `minScore: t` returns (NMS drops a box only for a higher-scored one, the cap keeps
 *   the highest). The product threshold, fixed before any run, is the detector's default `minScore` 0.3. An
 *   object is recalled when a box of any class has IoU ≥ 0.5 with its rectangle (class-matched: a box of its
 *   COCO class); a false box matches no object at IoU ≥ 0.5; a duplicate box matches an object already matched
 *   by a higher-scored box. Also per COCO class, per pasted size, recall at
 *   IoU ≥ 0.3, and the pasted photos detected alone (the original file; box = the whole frame) to separate
 *   the scene from the ground truth's looseness. For information only, a post-processing that is not the
 *   library's: class-agnostic NMS whose kept box takes the noisy-OR of the scores it absorbed. Latency: wall time of each detect call (decode, letterbox, forward, decode, NMS) on
 *   the scene JPEG, median and p90, after one untimed call per mode.
 * - search: catalogue = every other photo of the subset (all 99 folders; --quick: the first 12 of each COCO
 *   folder), MobileNet V1 0.75 (768-d, 2 workers), `ExactIndex` cosine, queries through `VisualSearch` with
 *   similarity weight 1 (its order is the index's; checked). P@10 by label (the share of the 10 nearest
 *   catalogue photos in the object's folder) of: the detected crop (`search(scene, { box })`, the best-IoU box
 *   ≥ 0.5 at the product threshold, normal mode; an undetected object falls back to the whole-scene query —
 *   `cropP10` — or counts 0 — `cropP10MissZero`), the whole scene (the same query for every object of a
 *   scene), the isolated original photo, and for information the pasted rectangle itself (an oracle box) and
 *   the light-mode crop. "Well above the whole scene" is read as crop − whole ≥ 0.2 (fixed before any run).
 * - burst: a merchant API on 127.0.0.1 (node:http, port 0): GET /price?product=…&location=… → { price,
 *   currency, available } after a seeded latency (log-normal, median 15 ms; 1 % take 400 ms, past the 200 ms
 *   upstream timeout), 3 % answered 503, and 429 with Retry-After: 1 above its own limit of 30 calls/s (bucket
 *   of 30, on the shared clock). `CachedPriceSource` with its defaults (5-min bound, refresh at 2.5 min,
 *   20 calls/s bucket 20, breaker 5 / 10 s, timeout 200 ms) over `httpPriceUpstream`. The source and the
 *   merchant share a clock (the `now` option): the warm-up at the normal load (`--normal-rps` 100 requests
 *   per clock second, Zipf(1) over `--products` 300 (--quick 150) × 2 locations, from a cold cache) runs the
 *   clock 10× faster than real time (60 clock seconds in 6 real seconds; --quick 40 in 4: faster overloads
 *   the one thread that runs the load, the merchant and the HTTP client, and timeouts follow), then the
 *   burst, `--burst-x` 100× the load, runs at real speed for `--burst-seconds` (4; --quick 2), open loop
 *   (requests are issued on schedule, never waiting for earlier answers); at a third of it the clock jumps
 *   +200 s (past the refresh age) and at two thirds +70 s more (so cached ages straddle the 5-min bound).
 *   Each price encodes the merchant's serial number of the quote (price = serial / 100), so every answer's
 *   age is also traced to the moment the merchant produced the quote, not only the age the cache reports;
 *   the staleness target uses the traced age (except for quotes on the wire while the clock jumped, which
 *   "took" the jump: counted, not traced). Upstream-call bound of the burst: the bucket (20) + rate ×
 *   clock seconds at real speed + min(bucket, rate × jump) per jump (the bucket never holds more than 20).
 *   Latency: from the `get` call to its answer, in process; also from the moment the open loop meant to
 *   send it (so a late generator counts too); the event-loop delay of each phase (perf_hooks) is recorded too.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp, { type OverlayOptions } from 'sharp';
import { ExactIndex } from '../src/ann/exact.js';
import { Rng } from '../src/core/rng.js';
import { loadEmbedder, type Embedder } from '../src/embeddings/index.js';
import type { Box } from '../src/images/crop.js';
import { VisualSearch } from '../src/ranking/visual.js';
import {
  CachedPriceSource, PriceUnavailableError, boxIoU, httpPriceUpstream, loadDetector,
  type Detection, type DetectionMode, type Detector, type PriceAnswer,
} from '../src/shopping/index.js';
import { dataRoot, num, nums, parseArgs, printTable, readLabels, report, since, stats, str, type Args, type LabelledImages } from './lib.js';
import { PERCENTILE_COLORS, addPlot, barChart, dotChart, lineChart, melt, type Row } from './report.js';

const SECTIONS = ['detect', 'search', 'burst'] as const;
type Section = (typeof SECTIONS)[number];

/** Caltech folder → COCO class name (only the folders present in the subset are used). */
const CALTECH_TO_COCO: Record<string, string> = {
  airplanes: 'airplane', Motorbikes: 'motorcycle', car_side: 'car', chair: 'chair', windsor_chair: 'chair', cup: 'cup',
  laptop: 'laptop', cellphone: 'cell phone', umbrella: 'umbrella', scissors: 'scissors', stop_sign: 'stop sign',
  elephant: 'elephant', dalmatian: 'dog', ketch: 'boat', ferry: 'boat', schooner: 'boat', pizza: 'pizza',
  soccer_ball: 'sports ball', pigeon: 'bird', rooster: 'bird', ibis: 'bird', flamingo: 'bird', emu: 'bird',
};

const W = 640, H = 480, GAP = 8;
const IOU = 0.5;
const DEFAULT_MAX_BOXES = 20;
const MODES: DetectionMode[] = ['normal', 'light'];

interface Pasted { file: number; label: string; coco: string; box: Box }
interface Scene { id: number; bytes: Buffer; objects: Pasted[]; grey: number; layout: string }

const mean = (x: number[]) => (x.length ? x.reduce((s, v) => s + v, 0) / x.length : NaN);
const r3 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);

// ---------------------------------------------------------------------------------------------------------
// Scenes

/** The cells of a seeded layout (non-overlapping, GAP apart, inside the canvas). */
function layoutCells(k: number, rng: Rng): { name: string; cells: Box[] } {
  const cell = (x: number, y: number, w: number, h: number): Box => ({ x: x + GAP / 2, y: y + GAP / 2, width: w - GAP, height: h - GAP });
  if (k === 2) {
    if (rng.next() < 0.6) return { name: '2 side by side', cells: [cell(0, 0, W / 2, H), cell(W / 2, 0, W / 2, H)] };
    return { name: '2 stacked', cells: [cell(0, 0, W, H / 2), cell(0, H / 2, W, H / 2)] };
  }
  const u = rng.next();
  if (u < 0.4) return { name: '3 in a row', cells: [0, 1, 2].map((i) => cell((i * W) / 3, 0, W / 3, H)) };
  if (u < 0.7) return { name: '1 big + 2', cells: [cell(0, 0, W / 2, H), cell(W / 2, 0, W / 2, H / 2), cell(W / 2, H / 2, W / 2, H / 2)] };
  return { name: '2 + 1 wide', cells: [cell(0, 0, W / 2, H / 2), cell(W / 2, 0, W / 2, H / 2), cell(0, H / 2, W, H / 2)] };
}

export async function composeScenes(ds: LabelledImages, n: number, rng: Rng): Promise<{ scenes: Scene[]; pastedFiles: Set<number>; classes: Record<string, string[]> }> {
  const byLabel = new Map<string, number[]>();
  ds.labels.forEach((l, i) => { if (CALTECH_TO_COCO[l]) (byLabel.get(l) ?? byLabel.set(l, []).get(l)!).push(i); });
  const classes: Record<string, string[]> = {};
  for (const l of byLabel.keys()) (classes[CALTECH_TO_COCO[l]] ??= []).push(l);
  const cocoNames = Object.keys(classes).sort();
  if (cocoNames.length < 3) throw new Error(`the data has only ${cocoNames.length} folders of COCO classes (need 3)`);
  for (const l of byLabel.keys()) rng.shuffle(byLabel.get(l)!); // unused photos, drawn from the end
  const used = new Set<number>();
  const scenes: Scene[] = [];
  for (let s = 0; s < n; s++) {
    const k = rng.next() < 0.5 ? 2 : 3;
    const { name, cells } = layoutCells(k, rng);
    const chosen = rng.shuffle([...cocoNames]).filter((c) => classes[c].some((l) => byLabel.get(l)!.length > 0)).slice(0, k);
    if (chosen.length < k) throw new Error(`ran out of unused photos after ${s} scenes`);
    const grey = 170 + rng.int(61);
    const comps: OverlayOptions[] = [];
    const objects: Pasted[] = [];
    for (let j = 0; j < k; j++) {
      const folders = classes[chosen[j]].filter((l) => byLabel.get(l)!.length > 0);
      const label = folders[rng.int(folders.length)];
      const file = byLabel.get(label)!.pop()!;
      used.add(file);
      const meta = await sharp(ds.paths[file]).metadata();
      const c = cells[j];
      const fit = Math.min(c.width / meta.width!, c.height / meta.height!) * (0.65 + 0.3 * rng.next());
      const w = Math.max(16, Math.min(c.width, Math.round(meta.width! * fit)));
      const h = Math.max(16, Math.min(c.height, Math.round(meta.height! * fit)));
      const left = Math.round(c.x + rng.next() * (c.width - w));
      const top = Math.round(c.y + rng.next() * (c.height - h));
      const input = await sharp(ds.paths[file]).resize(w, h, { fit: 'fill' }).toColourspace('srgb').png().toBuffer();
      comps.push({ input, left, top });
      objects.push({ file, label, coco: CALTECH_TO_COCO[label], box: { x: left, y: top, width: w, height: h } });
    }
    const bytes = await sharp({ create: { width: W, height: H, channels: 3, background: { r: grey, g: grey, b: grey } } })
      .composite(comps).jpeg({ quality: 90 }).toBuffer();
    scenes.push({ id: s, bytes, objects, grey, layout: name });
  }
  return { scenes, pastedFiles: used, classes };
}

// ---------------------------------------------------------------------------------------------------------
// Detection

interface SceneDetections { normal: Detection[]; light: Detection[]; ms: Record<DetectionMode, number> }

/** The detect call's lowest threshold: every threshold of the sweep is applied afterwards. */
const CALL_MIN_SCORE = 0.05;

/** Boxes a call with `minScore: t` (and the default cap) returns, from a call at a lower threshold. */
function atThreshold(boxes: Detection[], t: number): Detection[] {
  return boxes.filter((b) => b.score >= t).slice(0, DEFAULT_MAX_BOXES);
}

/**
 * Not the library's: class-agnostic NMS over the library's (class-wise) boxes, highest score first; a box
 * overlapping a kept box by IoU > 0.5 is dropped, and with `noisyOr` its score is merged into the kept box's
 * (1 − Π(1 − s)) — an "object here, class unsure" score for proposals. For information (see the header).
 */
function agnostic(boxes: Detection[], noisyOr: boolean): Detection[] {
  const kept: { d: Detection; miss: number }[] = [];
  for (const b of boxes) {
    const k = kept.find((x) => boxIoU(x.d.box, b.box) > IOU);
    if (!k) kept.push({ d: b, miss: 1 - b.score });
    else if (noisyOr) k.miss *= 1 - b.score;
  }
  return kept.map((k) => ({ ...k.d, score: 1 - k.miss })).sort((a, b) => b.score - a.score);
}

interface Counts { objects: number; recalled: number; classRecalled: number; recalled03: number; falseBoxes: number; duplicates: number; boxes: number; scenes: number; bestIoU: number[] }

/** Recall, false and duplicate boxes of `boxesOf(scene index)` (already thresholded, highest score first). */
function evaluate(scenes: Scene[], boxesOf: (si: number) => Detection[], only?: (o: Pasted) => boolean): Counts {
  const c: Counts = { objects: 0, recalled: 0, classRecalled: 0, recalled03: 0, falseBoxes: 0, duplicates: 0, boxes: 0, scenes: scenes.length, bestIoU: [] };
  scenes.forEach((s, si) => {
    const boxes = boxesOf(si);
    c.boxes += boxes.length;
    const matched = new Set<number>();
    for (const b of boxes) {
      let best = -1, bestIoU = 0;
      s.objects.forEach((o, oi) => { const iou = boxIoU(o.box, b.box); if (iou > bestIoU) { bestIoU = iou; best = oi; } });
      if (bestIoU < IOU) c.falseBoxes++;
      else if (matched.has(best)) c.duplicates++;
      else matched.add(best);
    }
    for (const o of s.objects) {
      if (only && !only(o)) continue;
      c.objects++;
      const ious = boxes.map((b) => boxIoU(o.box, b.box));
      const best = Math.max(0, ...ious);
      c.bestIoU.push(best);
      if (best >= IOU) c.recalled++;
      if (best >= 0.3) c.recalled03++;
      if (boxes.some((b, i) => ious[i] >= IOU && b.className === o.coco)) c.classRecalled++;
    }
  });
  return c;
}

const SIZE_BUCKETS: [string, number, number][] = [['< 5 % of the scene', 0, 0.05], ['5–10 %', 0.05, 0.1], ['10–20 %', 0.1, 0.2], ['≥ 20 %', 0.2, Infinity]];

async function detectSection(ds: LabelledImages, scenes: Scene[], detector: Detector, thresholds: number[], minScore: number, log: (s: string) => void) {
  const dets: SceneDetections[] = [];
  const classWise: Detection[][] = [];
  const flipped: Detection[][] = [];
  const flipMs: number[] = [];
  const call = { minScore: CALL_MIN_SCORE, maxBoxes: 100, nms: 'all' as const };
  // one untimed warm-up call per mode (loadDetector already ran each graph once on a blank input)
  for (const mode of MODES) await detector.detect(scenes[0].bytes, { mode, ...call });
  const t0 = performance.now();
  for (const s of scenes) {
    const d: Partial<SceneDetections> = { ms: { normal: 0, light: 0 } };
    for (const mode of MODES) {
      const t = performance.now();
      const r = await detector.detect(s.bytes, { mode, ...call });
      d.ms![mode] = performance.now() - t;
      d[mode] = r.boxes;
    }
    dets.push(d as SceneDetections);
    classWise.push((await detector.detect(s.bytes, { ...call, nms: 'class' })).boxes);
    const tf = performance.now();
    flipped.push((await detector.detect(s.bytes, { ...call, flip: true })).boxes);
    flipMs.push(performance.now() - tf);
  }
  log(`detect: ${scenes.length} scenes × 4 passes in ${since(t0).toFixed(1)} s`);
  const lat = Object.fromEntries(MODES.map((m) => [m, stats(dets.map((d) => d.ms[m]))])) as Record<DetectionMode, ReturnType<typeof stats>>;

  const variants: { name: string; boxes: (si: number, t: number) => Detection[] }[] = [
    ...MODES.map((mode) => ({ name: mode, boxes: (si: number, t: number) => atThreshold(dets[si][mode], t) })),
    { name: "normal, nms 'class'", boxes: (si, t) => atThreshold(classWise[si], t) },
    { name: 'normal, flip', boxes: (si, t) => atThreshold(flipped[si], t) },
    { name: 'normal + noisy-OR of absorbed scores (not in the library)', boxes: (si, t) => atThreshold(agnostic(classWise[si], true), t) },
  ];
  const sweep: Row[] = [];
  for (const v of variants) {
    for (const t of thresholds) {
      const c = evaluate(scenes, (si) => v.boxes(si, t));
      sweep.push({
        mode: v.name, minScore: t, recall: c.recalled / c.objects, classRecall: c.classRecalled / c.objects, 'recall IoU≥0.3': c.recalled03 / c.objects,
        falseBoxesPerScene: c.falseBoxes / c.scenes, duplicatesPerScene: c.duplicates / c.scenes, boxesPerScene: c.boxes / c.scenes,
      });
    }
  }
  const nObjects = scenes.reduce((s, x) => s + x.objects.length, 0);
  // for information (chosen after the fact): per variant, the threshold of the sweep with the best recall at ≤ 1 false box per scene
  const bestAtOneFalseBox = variants.map((v) => {
    const ok = sweep.filter((r) => r.mode === v.name && (r.falseBoxesPerScene as number) <= 1).sort((a, b) => (b.recall as number) - (a.recall as number))[0];
    return { mode: v.name, minScore: ok?.minScore ?? null, recall: ok ? r3(ok.recall as number) : null, falseBoxesPerScene: ok ? r3(ok.falseBoxesPerScene as number) : null };
  });
  printTable(sweep.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? r3(v) : v]))),
    `Detection on ${scenes.length} composed scenes (${nObjects} pasted photos): recall at IoU ≥ ${IOU} (any class / its COCO class) and boxes per scene, by minScore`);
  const cn = evaluate(scenes, (si) => atThreshold(dets[si].normal, minScore));
  const cl = evaluate(scenes, (si) => atThreshold(dets[si].light, minScore));
  const cc = evaluate(scenes, (si) => atThreshold(classWise[si], minScore));
  const cf = evaluate(scenes, (si) => atThreshold(flipped[si], minScore));
  const latFlip = stats(flipMs);

  // per COCO class and per size, normal mode at the product threshold
  const normalAt = (si: number) => atThreshold(dets[si].normal, minScore);
  const classRows = [...new Set(scenes.flatMap((s) => s.objects.map((o) => o.coco)))].sort().map((coco) => {
    const c = evaluate(scenes, normalAt, (o) => o.coco === coco);
    return { class: coco, objects: c.objects, recall: r3(c.recalled / c.objects), classRecall: r3(c.classRecalled / c.objects), 'recall IoU≥0.3': r3(c.recalled03 / c.objects), 'median best IoU': r3(stats(c.bestIoU).median) };
  });
  printTable(bestAtOneFalseBox, 'Best recall of the sweep at ≤ 1 false box per scene (for information: picked after the fact)');
  printTable(classRows, `Detection by COCO class (normal mode, minScore ${minScore})`);
  const share = (o: Pasted) => (o.box.width * o.box.height) / (W * H);
  const sizeRows = SIZE_BUCKETS.map(([name, lo, hi]) => {
    const c = evaluate(scenes, normalAt, (o) => share(o) >= lo && share(o) < hi);
    return { 'pasted photo area': name, objects: c.objects, recall: r3(c.recalled / c.objects), classRecall: r3(c.classRecalled / c.objects), 'recall IoU≥0.3': r3(c.recalled03 / c.objects) };
  }).filter((r) => r.objects > 0);
  printTable(sizeRows, `Detection by the pasted photo's size (normal mode, minScore ${minScore})`);

  // the same photos alone (the original files, whole frame as the box): how much is the scene, how much the box
  const iso: { recalled: boolean; classRecalled: boolean; top: number }[] = [];
  const t1 = performance.now();
  for (const s of scenes) {
    for (const o of s.objects) {
      const r = await detector.detect(ds.paths[o.file], { mode: 'normal', minScore, maxBoxes: DEFAULT_MAX_BOXES });
      const frame: Box = { x: 0, y: 0, width: r.width, height: r.height };
      const ok = r.boxes.filter((b) => boxIoU(frame, b.box) >= IOU);
      iso.push({ recalled: ok.length > 0, classRecalled: ok.some((b) => b.className === o.coco), top: r.boxes.find((b) => b.className === o.coco)?.score ?? 0 });
    }
  }
  const isolated = {
    photos: iso.length, recall: iso.filter((x) => x.recalled).length / iso.length, classRecall: iso.filter((x) => x.classRecalled).length / iso.length,
    classFound: iso.filter((x) => x.top > 0).length / iso.length, seconds: since(t1),
  };

  // what the false boxes are (normal, product threshold): class and whether they sit on the background
  const falseKinds = new Map<string, number>();
  let falseOnBackground = 0;
  scenes.forEach((s, si) => {
    for (const b of normalAt(si)) {
      if (s.objects.some((o) => boxIoU(o.box, b.box) >= IOU)) continue;
      falseKinds.set(b.className, (falseKinds.get(b.className) ?? 0) + 1);
      const cx = b.box.x + b.box.width / 2, cy = b.box.y + b.box.height / 2;
      if (!s.objects.some((o) => cx >= o.box.x && cx <= o.box.x + o.box.width && cy >= o.box.y && cy <= o.box.y + o.box.height)) falseOnBackground++;
    }
  });
  printTable([
    { mode: 'normal (512)', 'median ms': r3(lat.normal.median), 'p90 ms': r3(lat.normal.p90), 'min ms': r3(lat.normal.min), 'max ms': r3(lat.normal.max), recall: r3(cn.recalled / cn.objects), classRecall: r3(cn.classRecalled / cn.objects), falseBoxesPerScene: r3(cn.falseBoxes / cn.scenes) },
    { mode: `light (${detector.inputSize.light})`, 'median ms': r3(lat.light.median), 'p90 ms': r3(lat.light.p90), 'min ms': r3(lat.light.min), 'max ms': r3(lat.light.max), recall: r3(cl.recalled / cl.objects), classRecall: r3(cl.classRecalled / cl.objects), falseBoxesPerScene: r3(cl.falseBoxes / cl.scenes) },
    { mode: "normal, nms 'class' (the COCO convention)", recall: r3(cc.recalled / cc.objects), classRecall: r3(cc.classRecalled / cc.objects), falseBoxesPerScene: r3(cc.falseBoxes / cc.scenes) },
    { mode: 'normal, flip (test-time augmentation)', 'median ms': r3(latFlip.median), 'p90 ms': r3(latFlip.p90), 'min ms': r3(latFlip.min), 'max ms': r3(latFlip.max), recall: r3(cf.recalled / cf.objects), classRecall: r3(cf.classRecalled / cf.objects), falseBoxesPerScene: r3(cf.falseBoxes / cf.scenes) },
    { mode: 'normal, the pasted photos alone (box = whole photo)', recall: r3(isolated.recall), classRecall: r3(isolated.classRecall) },
  ], `Detection latency per 640×480 JPEG scene (${detector.backend}) and quality at minScore ${minScore}; ${cn.falseBoxes} false boxes (${falseOnBackground} centred on the background)`);
  return {
    dets,
    result: {
      scenes: scenes.length, objects: cn.objects, minScore, iou: IOU, thresholds, callMinScore: CALL_MIN_SCORE, backend: detector.backend, inputSize: detector.inputSize,
      detectRecall: cn.recalled / cn.objects, detectClassRecall: cn.classRecalled / cn.objects, falseBoxesPerScene: cn.falseBoxes / cn.scenes,
      duplicatesPerScene: cn.duplicates / cn.scenes, detectRecallIoU03: cn.recalled03 / cn.objects, medianBestIoU: stats(cn.bestIoU).median,
      detectRecallLight: cl.recalled / cl.objects, detectClassRecallLight: cl.classRecalled / cl.objects, falseBoxesPerSceneLight: cl.falseBoxes / cl.scenes,
      nms: 'all', classWise: { recall: cc.recalled / cc.objects, classRecall: cc.classRecalled / cc.objects, falseBoxesPerScene: cc.falseBoxes / cc.scenes },
      flip: { recall: cf.recalled / cf.objects, classRecall: cf.classRecalled / cf.objects, falseBoxesPerScene: cf.falseBoxes / cf.scenes, ms: latFlip.median, msP90: latFlip.p90 },
      detectMs: lat.normal.median, detectMsP90: lat.normal.p90, detectMsLight: lat.light.median, detectMsLightP90: lat.light.p90,
      latency: lat, sweep, bestAtOneFalseBox, perClass: classRows, bySize: sizeRows, isolatedPhotos: isolated,
      falseBoxes: { total: cn.falseBoxes, onBackground: falseOnBackground, byClass: Object.fromEntries([...falseKinds.entries()].sort((a, b) => b[1] - a[1])) },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Search by crop

async function embedCatalogue(embedder: Embedder, paths: string[], cacheDir: string | undefined, log: (s: string) => void): Promise<{ vectors: Float32Array; ok: boolean[]; seconds: number; cached: boolean }> {
  const key = createHash('sha1').update(`${embedder.info.model}|${embedder.dim}|${paths.join('\n')}`).digest('hex').slice(0, 16);
  const file = cacheDir ? path.join(cacheDir, `shop-${embedder.info.model}-${paths.length}-${key}.f32`) : undefined;
  if (file && existsSync(file)) {
    const b = readFileSync(file);
    const all = new Float32Array(b.buffer, b.byteOffset, b.length / 4).slice();
    const ok = Array.from({ length: paths.length }, (_, i) => all[i * embedder.dim] === all[i * embedder.dim] /* not NaN */);
    log(`catalogue: ${paths.length} embeddings from ${file}`);
    return { vectors: all, ok, seconds: 0, cached: true };
  }
  const t0 = performance.now();
  let last = 0;
  const r = await embedder.embedBatch(paths, {
    onProgress: (p) => { if (performance.now() - last > 15_000) { last = performance.now(); log(`  catalogue: ${p.done}/${p.total} (${since(t0).toFixed(0)} s)`); } },
  });
  const seconds = since(t0);
  log(`catalogue: ${paths.length} photos embedded in ${seconds.toFixed(1)} s (${(paths.length / seconds).toFixed(1)}/s), ${r.failed.length} failed`);
  if (file) {
    const out = r.vectors.slice();
    for (const i of r.failed) out.fill(NaN, i * r.dim, (i + 1) * r.dim);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, Buffer.from(out.buffer));
  }
  return { vectors: r.vectors, ok: r.ok, seconds, cached: false };
}

async function searchSection(ds: LabelledImages, scenes: Scene[], dets: SceneDetections[], pasted: Set<number>, minScore: number, o: {
  modelDir: string; quick: boolean; perLabel: number; cacheDir?: string; log: (s: string) => void;
}) {
  const { log } = o;
  // the catalogue: every photo not pasted (quick: the first `perLabel` of each COCO folder)
  const seen = new Map<string, number>();
  const cat: number[] = [];
  ds.labels.forEach((l, i) => {
    if (pasted.has(i)) return;
    if (o.quick && !CALTECH_TO_COCO[l]) return;
    const c = seen.get(l) ?? 0;
    if (c >= o.perLabel) return;
    seen.set(l, c + 1);
    cat.push(i);
  });
  // the embedding worker script beside the embeddings module this file imports (a compiled copy that lacks it runs in-thread)
  const here = fileURLToPath(import.meta.url);
  const workerScript = path.join(path.dirname(here), '..', 'src', 'embeddings', `worker${path.extname(here)}`);
  const workers = existsSync(workerScript) ? 2 : 0;
  if (!workers) log(`search: no ${workerScript} in this build: embedding in this thread (workers 0)`);
  const embedder = await loadEmbedder({ model: 'mobilenet_v1_0.75_224', modelDir: o.modelDir, download: false, fallback: false, workers });
  try {
    const emb = await embedCatalogue(embedder, cat.map((i) => ds.paths[i]), o.cacheDir, log);
    const index = new ExactIndex<number>({ metric: 'cosine', dim: embedder.dim, capacity: cat.length });
    const ids: number[] = [];
    const vecs: number[] = [];
    cat.forEach((file, j) => { if (emb.ok[j]) { ids.push(file); vecs.push(j); } });
    const flat = new Float32Array(ids.length * embedder.dim);
    vecs.forEach((j, r) => flat.set(emb.vectors.subarray(j * embedder.dim, (j + 1) * embedder.dim), r * embedder.dim));
    index.addItems(ids, flat);
    const vs = new VisualSearch<Buffer, number>({
      embedder, index, metadata: { get: (xs) => xs.map(() => undefined) },
      weights: { similarity: 1, engagement: 0, quality: 0 },
    });
    const labelOf = (id: number) => ds.labels[id];
    const p10 = async (input: Buffer, label: string, box?: Box) => {
      const res = await vs.search(input, { k: 10, ...(box ? { box } : {}) });
      return res.filter((r) => labelOf(r.id) === label).length / 10;
    };
    // (the VisualSearch order is the index's: checked on the first scene)
    const q0 = await embedder.embed(scenes[0].bytes);
    const direct = index.search(q0, 10).ids;
    const viaVs = (await vs.search(scenes[0].bytes, { k: 10 })).map((r) => r.id);
    const orderSame = direct.length === viaVs.length && direct.every((x, i) => x === viaVs[i]);
    if (!orderSame) log('search: WARNING VisualSearch order differs from the index order on scene 0');

    const rows: { scene: number; label: string; coco: string; detected: boolean; detectedLight: boolean; crop: number | null; cropLight: number | null; whole: number; isolated: number; oracle: number; iou: number }[] = [];
    const t0 = performance.now();
    for (let si = 0; si < scenes.length; si++) {
      const s = scenes[si];
      const whole = await vs.search(s.bytes, { k: 10 });
      const normal = atThreshold(dets[si].normal, minScore), light = atThreshold(dets[si].light, minScore);
      const bestBox = (boxes: Detection[], o: Pasted) => {
        let best: Detection | undefined, bi = 0;
        for (const b of boxes) { const iou = boxIoU(o.box, b.box); if (iou > bi) { bi = iou; best = b; } }
        return bi >= IOU ? { box: best!.box, iou: bi } : undefined;
      };
      for (const ob of s.objects) {
        const d = bestBox(normal, ob), dl = bestBox(light, ob);
        rows.push({
          scene: si, label: ob.label, coco: ob.coco, detected: !!d, detectedLight: !!dl, iou: d?.iou ?? 0,
          crop: d ? await p10(s.bytes, ob.label, d.box) : null,
          cropLight: dl ? await p10(s.bytes, ob.label, dl.box) : null,
          whole: whole.filter((r) => labelOf(r.id) === ob.label).length / 10,
          isolated: await p10(readFileSync(ds.paths[ob.file]), ob.label),
          oracle: await p10(s.bytes, ob.label, ob.box),
        });
      }
    }
    log(`search: ${rows.length} objects queried in ${since(t0).toFixed(1)} s`);
    const m = (f: (r: (typeof rows)[number]) => number) => mean(rows.map(f));
    const det = rows.filter((r) => r.detected);
    const res = {
      catalogue: ids.length, catalogueLabels: new Set(ids.map(labelOf)).size, catalogueEmbedSeconds: emb.seconds, catalogueFromCache: emb.cached,
      embedder: `${embedder.info.model} (${embedder.info.backend}, ${embedder.dim}-d, ${workers} workers)`, objects: rows.length, detectedObjects: det.length,
      cropP10: m((r) => r.crop ?? r.whole), cropP10MissZero: m((r) => r.crop ?? 0), cropP10DetectedOnly: mean(det.map((r) => r.crop!)),
      isolatedP10DetectedOnly: mean(det.map((r) => r.isolated)), wholeP10: m((r) => r.whole), isolatedP10: m((r) => r.isolated), oracleBoxP10: m((r) => r.oracle),
      cropP10Light: m((r) => r.cropLight ?? r.whole), cropP10LightMissZero: m((r) => r.cropLight ?? 0), visualSearchOrderMatchesIndex: orderSame,
      perObject: rows,
    };
    const t = (x: number) => r3(x);
    printTable([
      { query: 'isolated original photo', objects: rows.length, 'P@10': t(res.isolatedP10) },
      { query: 'pasted rectangle (oracle box)', objects: rows.length, 'P@10': t(res.oracleBoxP10) },
      { query: `detected crop, normal (miss → whole scene)`, objects: rows.length, 'P@10': t(res.cropP10) },
      { query: 'detected crop, normal (miss → 0)', objects: rows.length, 'P@10': t(res.cropP10MissZero) },
      { query: 'detected crop, normal (detected objects only)', objects: det.length, 'P@10': t(res.cropP10DetectedOnly), 'isolated P@10 same objects': t(res.isolatedP10DetectedOnly) },
      { query: 'detected crop, light (miss → whole scene)', objects: rows.length, 'P@10': t(res.cropP10Light) },
      { query: 'whole scene', objects: rows.length, 'P@10': t(res.wholeP10) },
    ], `Search by crop: P@10 by label over ${ids.length} catalogue photos (${res.catalogueLabels} labels), cosine, ${res.embedder}`);
    return res;
  } finally {
    await embedder.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Prices under a burst

/** A clock (ms) the cache and the merchant share: real time × speed, plus jumps. */
class SimClock {
  private base = Date.UTC(2026, 10, 27, 12, 0, 0); // a Black Friday noon
  private realAt = performance.now();
  private speed = 1;
  jumped = 0;
  now = (): number => this.base + (performance.now() - this.realAt) * this.speed;
  setSpeed(s: number): void { this.base = this.now(); this.realAt = performance.now(); this.speed = s; }
  /** Clock times at which a jump happened (the instant before it). */
  readonly jumpsAt: number[] = [];
  jump(ms: number): void { this.jumpsAt.push(this.now()); this.base += ms; this.jumped += ms; }
}

interface MerchantStats { received: number; ok: number; tooMany: number; failed: number; slow: number; maxPerClockSecond: number }

/** The merchant's price API on 127.0.0.1 (see the header). `produced` maps a quote's serial to its clock time. */
async function startMerchant(clock: SimClock, rng: Rng, o: { products: Set<string>; limit: number; failRate: number; slowRate: number }) {
  const st: MerchantStats = { received: 0, ok: 0, tooMany: 0, failed: 0, slow: 0, maxPerClockSecond: 0 };
  const produced = new Map<number, number>();
  let serial = 100; // price = serial / 100: never 0
  let tokens = o.limit, refilled = clock.now();
  const perSecond = new Map<number, number>();
  const server: Server = createServer((req, res) => {
    const now = clock.now();
    st.received++;
    const sec = Math.floor(now / 1000);
    const c = (perSecond.get(sec) ?? 0) + 1;
    perSecond.set(sec, c);
    if (c > st.maxPerClockSecond) st.maxPerClockSecond = c;
    const u = new URL(req.url ?? '/', 'http://merchant');
    const product = u.searchParams.get('product') ?? '';
    if (u.pathname !== '/price' || !o.products.has(product)) { res.writeHead(404); res.end(); return; }
    tokens = Math.min(o.limit, tokens + ((now - refilled) / 1000) * o.limit);
    refilled = now;
    if (tokens < 1) { st.tooMany++; res.writeHead(429, { 'retry-after': '1' }); res.end(); return; }
    tokens -= 1;
    const slow = rng.next() < o.slowRate;
    const fail = rng.next() < o.failRate;
    const ms = slow ? 400 : Math.min(150, 15 * Math.exp(0.5 * rng.normal()));
    if (slow) st.slow++;
    setTimeout(() => {
      if (res.destroyed) return;
      if (fail) { st.failed++; res.writeHead(503); res.end('overloaded'); return; }
      const id = serial++;
      produced.set(id, clock.now());
      st.ok++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ price: id / 100, currency: 'USD', available: id % 23 !== 0 }));
    }, ms);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const stop = async () => { server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); };
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stats: st, produced, stop };
}

interface Outcome { phase: 'warm' | 'burst'; ms: number; msFromSchedule: number; answer?: PriceAnswer; trueAgeMs?: number; straddled?: boolean; reason?: string }

async function burstSection(o: { quick: boolean; seed: number; products: number; normalRps: number; burstX: number; burstSeconds: number; warmSeconds: number; warmSpeed: number; log: (s: string) => void }) {
  const { log } = o;
  const rng = new Rng(o.seed + 7);
  const clock = new SimClock();
  const products = Array.from({ length: o.products }, (_, i) => `sku-${String(i + 1).padStart(4, '0')}`);
  const locations = ['store-nyc', 'store-sf'];
  const merchant = await startMerchant(clock, rng.fork(), { products: new Set(products), limit: 30, failRate: 0.03, slowRate: 0.01 });
  const prices = new CachedPriceSource({ upstream: httpPriceUpstream({ baseUrl: merchant.url, merchant: 'acme' }), now: clock.now });
  const RATE = 20, BUCKET = 20; // the defaults of CachedPriceSource (rateLimit { perSecond: 20, burst: 20 })
  // Zipf(1) over products, location uniform
  const cdf = new Float64Array(products.length);
  let acc = 0;
  for (let i = 0; i < products.length; i++) { acc += 1 / (i + 1); cdf[i] = acc; }
  const pick = () => {
    const u = rng.next() * acc;
    let lo = 0, hi = cdf.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid] < u) lo = mid + 1; else hi = mid; }
    return { productId: products[lo], merchant: 'acme', location: locations[rng.int(locations.length)] };
  };
  const outcomes: Outcome[] = [];
  let inflight = 0;
  let drained: (() => void) | undefined;
  const issue = (phase: Outcome['phase'], scheduled: number) => {
    const t = performance.now();
    inflight++;
    prices.get(pick()).then((a) => {
      const now = clock.now();
      const made = merchant.produced.get(Math.round(a.price * 100));
      const end = performance.now();
      // a quote on the wire while the clock jumped "took" the jump: an artefact of the simulation, not a slow merchant
      const straddled = made !== undefined && clock.jumpsAt.some((j) => made <= j && a.fetchedAt > j);
      outcomes.push({ phase, ms: end - t, msFromSchedule: end - scheduled, answer: a, trueAgeMs: made === undefined ? undefined : now - made, straddled });
    }, (e: unknown) => {
      const end = performance.now();
      outcomes.push({ phase, ms: end - t, msFromSchedule: end - scheduled, reason: e instanceof PriceUnavailableError ? e.reason : String(e) });
    }).finally(() => { if (--inflight === 0) drained?.(); });
  };
  /** Open loop: `rate` requests per clock second at clock speed `speed` for `seconds` real seconds; `at(f)` hooks by elapsed fraction. */
  const drive = async (phase: Outcome['phase'], rate: number, speed: number, seconds: number, hooks: { at: number; run: () => void }[] = []) => {
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    clock.setSpeed(speed);
    const t0 = performance.now();
    let issued = 0;
    const pending = [...hooks];
    for (;;) {
      const el = (performance.now() - t0) / 1000;
      while (pending.length && el >= pending[0].at * seconds) pending.shift()!.run();
      if (el >= seconds) break;
      const due = Math.floor(rate * speed * el) - issued;
      for (let i = 0; i < due; i++) issue(phase, t0 + ((issued + i) / (rate * speed)) * 1000);
      issued += Math.max(0, due);
      await new Promise((r) => setTimeout(r, 2));
    }
    lag.disable();
    // event-loop delay while the load ran (ms): what an in-process answer can wait behind
    const loopDelayMs = { p50: lag.percentile(50) / 1e6, p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 };
    return { issued, realSeconds: (performance.now() - t0) / 1000, loopDelayMs };
  };

  const clock0 = clock.now();
  const warm = await drive('warm', o.normalRps, o.warmSpeed, o.warmSeconds);
  const warmStats = prices.stats();
  const warmMerchant = { ...merchant.stats };
  const warmClockS = (clock.now() - clock0) / 1000;
  log(`burst: warm-up ${warm.issued} requests over ${warmClockS.toFixed(0)} clock s (${warm.realSeconds.toFixed(1)} real s), ${warmStats.upstreamCalls} upstream calls`);
  clock.setSpeed(1);
  const burstClock0 = clock.now();
  const jumps = [200_000, 70_000];
  const burst = await drive('burst', o.normalRps * o.burstX, 1, o.burstSeconds, [
    { at: 1 / 3, run: () => clock.jump(jumps[0]) },
    { at: 2 / 3, run: () => clock.jump(jumps[1]) },
  ]);
  const burstEndStats = prices.stats();
  if (inflight > 0) await new Promise<void>((r) => { drained = r; });
  await new Promise((r) => setTimeout(r, 450)); // background refreshes still on the wire (timeout 200 ms; slow answers 400 ms)
  const end = prices.stats();
  await merchant.stop();
  const burstClockS = (clock.now() - burstClock0) / 1000;

  const bo = outcomes.filter((x) => x.phase === 'burst');
  const served = bo.filter((x) => x.answer);
  const bound = prices.maxStalenessMs;
  const traceable = served.filter((x) => !x.straddled);
  const straddledN = served.length - traceable.length;
  const notStaleAll = served.filter((x) => !x.answer!.stale);
  const notStale = traceable.filter((x) => !x.answer!.stale);
  const maxStalenessMs = Math.max(0, ...notStaleAll.map((x) => x.answer!.stalenessMs));
  const maxTrueAgeMs = Math.max(0, ...notStale.map((x) => x.trueAgeMs ?? x.answer!.stalenessMs));
  const overBoundNotStale = notStale.filter((x) => (x.trueAgeMs ?? x.answer!.stalenessMs) > bound).length;
  const selfReportedOver = notStaleAll.filter((x) => x.answer!.stalenessMs >= bound).length;
  const maxExcessMs = Math.max(0, ...notStale.map((x) => (x.trueAgeMs ?? x.answer!.stalenessMs) - bound));
  const untraced = served.filter((x) => x.trueAgeMs === undefined).length;
  // how much younger than its traced age an answer says it is (the quote travelled before the cache stamped it)
  const under = (xs: Outcome[]) => Math.max(0, ...xs.map((x) => (x.trueAgeMs ?? x.answer!.stalenessMs) - x.answer!.stalenessMs));
  const understatement = under(traceable.filter((x) => x.answer!.fetchedAt >= burstClock0)); // quotes fetched at real clock speed
  const understatementAll = under(traceable); // incl. quotes fetched in the sped-up warm-up (the gap × the speed)
  const bySource = (src: PriceAnswer['source']) => served.filter((x) => x.answer!.source === src);
  const lat = (xs: Outcome[]) => stats(xs.map((x) => x.ms));
  const cacheLat = lat(bySource('cache'));
  const reasons: Record<string, number> = {};
  for (const x of bo) if (!x.answer) reasons[x.reason!] = (reasons[x.reason!] ?? 0) + 1;
  const fallbackReasons: Record<string, number> = {};
  for (const x of bySource('fallback')) fallbackReasons[x.answer!.reason ?? '?'] = (fallbackReasons[x.answer!.reason ?? '?'] ?? 0) + 1;
  const burstUpstream = end.upstreamCalls - warmStats.upstreamCalls;
  const realBurstS = burst.realSeconds;
  // the bucket: at most BUCKET at the start, RATE per clock second of real-speed time, at most BUCKET per jump
  const upstreamBound = BUCKET + RATE * (burstClockS - jumps.reduce((s, j) => s + j, 0) / 1000) + jumps.reduce((s, j) => s + Math.min(BUCKET, (RATE * j) / 1000), 0);
  const looseBound = BUCKET + RATE * burstClockS;
  const warmBound = BUCKET + RATE * warmClockS;
  const latRow = (name: string, xs: Outcome[]) => {
    const s = lat(xs), sc = stats(xs.map((x) => x.msFromSchedule));
    return { answers: name, count: xs.length, 'median ms': r3(s.median), 'p90 ms': r3(s.p90), 'p99 ms': r3(s.p99), 'max ms': r3(s.max), 'p99 ms from schedule': r3(sc.p99) };
  };
  const latRows = [latRow('cache', bySource('cache')), latRow('upstream', bySource('upstream')), latRow('fallback', bySource('fallback')), latRow('unavailable (error)', bo.filter((x) => !x.answer))];
  const res = {
    protocol: `${o.products} products × ${locations.length} locations, Zipf(1); warm-up ${o.normalRps} req/clock-s for ${warmClockS.toFixed(0)} clock s (${o.warmSpeed}× real); burst ${o.normalRps * o.burstX} req/s (${o.burstX}×) for ${o.burstSeconds} real s with clock jumps +${jumps[0] / 1000} s at 1/3 and +${jumps[1] / 1000} s at 2/3; merchant limit 30/s (429 Retry-After 1), 3 % 503, 1 % 400 ms`,
    requests: bo.length, served: served.length, unavailable: bo.length - served.length, unavailableByReason: reasons,
    fromCache: bySource('cache').length, fromUpstream: bySource('upstream').length, fallbacks: bySource('fallback').length, fallbackReasons,
    staleServed: served.filter((x) => x.answer!.stale).length,
    upstreamCalls: burstUpstream, upstreamBound, upstreamBoundClock: looseBound, upstreamCallsDuringLoad: burstEndStats.upstreamCalls - warmStats.upstreamCalls,
    maxStalenessS: maxStalenessMs / 1000, maxTrueAgeS: maxTrueAgeMs / 1000, boundS: bound / 1000,
    exceededBoundWithoutStale: overBoundNotStale, exceededBoundByMaxMs: maxExcessMs, selfReportedOverBoundNotStale: selfReportedOver, untracedAnswers: untraced, straddledJumpAnswers: straddledN, maxAgeUnderstatementMs: understatement, maxAgeUnderstatementMsInclWarm: understatementAll,
    p99Ms: cacheLat.p99, cacheLatencyMs: cacheLat, p99MsFromSchedule: stats(bySource('cache').map((x) => x.msFromSchedule)).p99, upstreamLatencyMs: lat(bySource('upstream')), fallbackLatencyMs: lat(bySource('fallback')),
    realSeconds: realBurstS, clockSeconds: burstClockS, achievedRps: bo.length / realBurstS, eventLoopDelayMs: burst.loopDelayMs,
    warm: { requests: warm.issued, served: outcomes.filter((x) => x.phase === 'warm' && x.answer).length, clockSeconds: warmClockS, realSeconds: warm.realSeconds, eventLoopDelayMs: warm.loopDelayMs, upstreamCalls: warmStats.upstreamCalls, upstreamBound: warmBound, merchant: warmMerchant },
    merchant: merchant.stats, sourceStats: end,
  };
  printTable([
    { phase: 'warm-up', requests: warm.issued, 'clock s': r3(warmClockS), 'real s': r3(warm.realSeconds), served: res.warm.served, 'upstream calls': warmStats.upstreamCalls, 'bound': r3(warmBound), 'loop delay p99 / max ms': `${r3(warm.loopDelayMs.p99)} / ${r3(warm.loopDelayMs.max)}` },
    { phase: `burst ${o.burstX}×`, requests: bo.length, 'clock s': r3(burstClockS), 'real s': r3(realBurstS), served: served.length, 'upstream calls': burstUpstream, 'bound': r3(upstreamBound), 'loop delay p99 / max ms': `${r3(burst.loopDelayMs.p99)} / ${r3(burst.loopDelayMs.max)}` },
  ], `Prices under a ${o.burstX}× burst (${res.protocol})`);
  printTable([
    { measure: 'answers served (of requests)', value: `${served.length} of ${bo.length} (${(100 * served.length / Math.max(1, bo.length)).toFixed(1)} %)` },
    { measure: 'from cache / upstream / fallback', value: `${res.fromCache} / ${res.fromUpstream} / ${res.fallbacks}` },
    { measure: 'answers marked stale', value: res.staleServed },
    { measure: 'unavailable by reason', value: JSON.stringify(reasons) },
    { measure: 'fallback reasons', value: JSON.stringify(fallbackReasons) },
    { measure: 'max staleness, answers not marked stale (cache-reported / merchant-traced)', value: `${r3(res.maxStalenessS)} s / ${r3(res.maxTrueAgeS)} s (bound ${bound / 1000} s)` },
    { measure: 'answers older than the bound without stale: true (merchant-traced, by at most; cache-reported)', value: `${overBoundNotStale} (${r3(maxExcessMs)} ms); ${selfReportedOver}` },
    { measure: 'answers whose quote was on the wire across a clock jump (not traced: a simulation artefact)', value: straddledN },
    { measure: 'largest age understatement, traced − reported (quotes fetched in the burst; incl. warm-up at 10×)', value: `${r3(understatement)} ms; ${r3(understatementAll)} ms` },
    { measure: 'upstream calls in the burst (bound: bucket; bound by the clock span)', value: `${burstUpstream} (${r3(upstreamBound)}; ${r3(looseBound)})` },
    { measure: 'merchant: received / 200 / 429 / 503 / slow, max per clock second', value: `${merchant.stats.received} / ${merchant.stats.ok} / ${merchant.stats.tooMany} / ${merchant.stats.failed} / ${merchant.stats.slow}, ${merchant.stats.maxPerClockSecond}` },
  ], 'Burst: what was served');
  printTable(latRows, 'Burst: latency of each request, call to answer in process (last column: from the moment the open loop meant to send it, so generator lag counts too)');
  return { ...res, latencyRows: latRows };
}

// ---------------------------------------------------------------------------------------------------------

export async function main(argv: string[]): Promise<void> {
  const args: Args = parseArgs(argv);
  if (args.help) { console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]); return; }
  const quick = args.quick === true;
  const log = (s: string) => console.log(s);
  const t0 = performance.now();
  const sections = (str(args, 'sections') ?? SECTIONS.join(',')).split(',').map((s) => s.trim()) as Section[];
  for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--sections: unknown section ${s} (known: ${SECTIONS.join(', ')})`);
  const need = (s: Section) => sections.includes(s);
  const seed = num(args, 'seed', 1);
  const minScore = num(args, 'min-score', 0.3);
  const thresholds = nums(args, 'thresholds', [0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]);
  const nScenes = num(args, 'scenes', quick ? 6 : 100);
  const dataDir = path.resolve(str(args, 'data') ?? path.join(dataRoot(), 'caltech101-subset'));
  const modelDir = path.resolve(str(args, 'model-dir') ?? process.env.PINREC_MODEL_DIR ?? path.join(process.cwd(), '../shared/models'));
  const haveData = existsSync(path.join(dataDir, 'labels.csv'));
  const haveDetector = existsSync(path.join(modelDir, 'centernet_mobilenetv3_coco', 'model.json')) || existsSync(path.join(modelDir, 'model.json'));
  const haveEmbedder = existsSync(path.join(modelDir, 'mobilenet_v1_0.75_224', 'model.json'));
  const skipped: string[] = [];
  const result: Record<string, unknown> = {
    quick, seed, sections, data: haveData ? dataDir : null, modelDir,
    detectRecall: null, detectClassRecall: null, falseBoxesPerScene: null, detectMs: null, detectMsLight: null, detectRecallLight: null,
    cropP10: null, cropP10MissZero: null, wholeP10: null, isolatedP10: null, burst: null,
  };
  const skip = (what: string, why: string) => { log(`SKIPPED ${what}: ${why}`); skipped.push(`${what} (${why})`); };

  let scenes: Scene[] | undefined, pasted: Set<number> | undefined, dets: SceneDetections[] | undefined;
  let ds: LabelledImages | undefined;
  if (need('detect') || need('search')) {
    const missing = [!haveData ? `${path.join(dataDir, 'labels.csv')}` : '', !haveDetector ? `${path.join(modelDir, 'centernet_mobilenetv3_coco')}` : ''].filter(Boolean);
    if (missing.length) {
      if (need('detect')) skip('detect', `needs ${missing.join(' and ')}`);
      if (need('search')) skip('search', `needs ${[...missing, ...(haveEmbedder ? [] : [path.join(modelDir, 'mobilenet_v1_0.75_224')])].join(' and ')}`);
    } else {
      ds = readLabels(dataDir);
      const rng = new Rng(seed);
      const c = await composeScenes(ds, nScenes, rng);
      scenes = c.scenes; pasted = c.pastedFiles;
      result.scenes = { count: scenes.length, objects: scenes.reduce((s, x) => s + x.objects.length, 0), size: `${W}×${H}`, classes: c.classes,
        layouts: Object.fromEntries([...new Set(scenes.map((s) => s.layout))].map((l) => [l, scenes!.filter((s) => s.layout === l).length])) };
      const sceneDir = str(args, 'save-scenes');
      if (sceneDir) { mkdirSync(sceneDir, { recursive: true }); for (const s of scenes) writeFileSync(path.join(sceneDir, `scene-${s.id}.jpg`), s.bytes); }
      log(`${scenes.length} scenes, ${(result.scenes as { objects: number }).objects} pasted photos of ${Object.keys(c.classes).length} COCO classes`);
      const detector = await loadDetector({ modelDir, download: false });
      try {
        const d = await detectSection(ds, scenes, detector, thresholds, minScore, log);
        dets = d.dets;
        const r = d.result;
        Object.assign(result, {
          detectRecall: r.detectRecall, detectClassRecall: r.detectClassRecall, falseBoxesPerScene: r.falseBoxesPerScene,
          detectMs: r.detectMs, detectMsP90: r.detectMsP90, detectMsLight: r.detectMsLight, detectMsLightP90: r.detectMsLightP90,
          detectRecallLight: r.detectRecallLight, detectClassRecallLight: r.detectClassRecallLight, falseBoxesPerSceneLight: r.falseBoxesPerSceneLight,
        });
        result.detect = r;
      } finally {
        detector.dispose();
      }
    }
  }
  if (need('search') && scenes && dets) {
    if (!haveEmbedder) skip('search', `needs ${path.join(modelDir, 'mobilenet_v1_0.75_224')}`);
    else {
      const r = await searchSection(ds!, scenes, dets, pasted!, minScore, {
        modelDir, quick, perLabel: num(args, 'catalogue-per-label', quick ? 12 : Infinity), cacheDir: str(args, 'features-cache'), log,
      });
      Object.assign(result, { cropP10: r.cropP10, cropP10MissZero: r.cropP10MissZero, wholeP10: r.wholeP10, isolatedP10: r.isolatedP10, oracleBoxP10: r.oracleBoxP10, cropP10Light: r.cropP10Light });
      result.search = r;
    }
  }
  if (need('burst')) {
    result.burst = await burstSection({
      quick, seed, log,
      products: num(args, 'products', quick ? 150 : 300),
      normalRps: num(args, 'normal-rps', 100),
      burstX: num(args, 'burst-x', 100),
      burstSeconds: num(args, 'burst-seconds', quick ? 2 : 4),
      warmSeconds: num(args, 'warm-seconds', quick ? 4 : 6),
      warmSpeed: num(args, 'warm-speed', 10),
    });
  }

  // ---- targets ----
  const v = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  const b = result.burst as Record<string, number> | null;
  const rows: { metric: string; target: string; value: string | number | null; met: boolean | null }[] = [];
  const add = (metric: string, target: string, value: string | number | null, met: boolean | null) => rows.push({ metric, target, value, met });
  const rec = v(result.detectRecall), fb = v(result.falseBoxesPerScene);
  add(`detectRecall, falseBoxesPerScene (normal, minScore ${minScore})`, 'recall ≥ 0.80 at ≤ 1 false box per scene', rec === null ? null : `${r3(rec)}, ${r3(fb!)}`, rec === null ? null : rec >= 0.8 && fb! <= 1);
  const crop = v(result.cropP10), iso = v(result.isolatedP10), whole = v(result.wholeP10);
  add('cropP10 / isolatedP10', '≥ 0.9', crop === null ? null : r3(crop / iso!), crop === null ? null : crop >= 0.9 * iso!);
  add('cropP10 − wholeP10 ("well above")', '≥ 0.2', crop === null ? null : r3(crop - whole!), crop === null ? null : crop - whole! >= 0.2);
  add('burst upstreamCalls', `≤ the rate limit's bound`, b ? `${b.upstreamCalls} (bound ${r3(b.upstreamBound)})` : null, b ? b.upstreamCalls <= b.upstreamBound : null);
  add('burst answers staler than the bound without stale: true', '0', b ? b.exceededBoundWithoutStale : null, b ? b.exceededBoundWithoutStale === 0 : null);
  add('burst p99Ms (answers from cache)', '≤ 50', b ? r3(b.p99Ms) : null, b ? b.p99Ms <= 50 : null);
  printTable(rows.map((r) => ({ ...r, value: r.value ?? 'n/a', met: r.met === null ? 'not measured' : r.met ? 'yes' : 'NO' })), 'Targets');
  result.targetRows = rows;
  result.targets = {
    detect: rows[0].met, cropVsIsolated: rows[1].met, cropVsWhole: rows[2].met, upstreamCalls: rows[3].met, staleness: rows[4].met, cacheP99: rows[5].met,
  };
  result.skipped = skipped;
  result.seconds = since(t0);
  log(`shop benchmark: ${(result.seconds as number).toFixed(1)} s`);
  plotShop(result);
  await report('shop', args, result);
}

function plotShop(result: Record<string, unknown>): void {
  const det = result.detect as { sweep: Row[]; minScore: number; scenes: number; objects: number } | undefined;
  if (det) {
    addPlot('detect-recall-false-boxes', 'Detection: recall against false boxes per scene, by minScore', lineChart(det.sweep, {
      title: `Detection on ${det.scenes} composed scenes (${det.objects} pasted photos): recall against false boxes`,
      subtitle: `one point per minScore (${det.sweep.filter((r) => r.mode === 'normal').map((r) => r.minScore).join(', ')}; left = highest); target: recall ≥ 0.8 at ≤ 1 false box`,
      x: { field: 'falseBoxesPerScene', title: 'false boxes per scene (IoU < 0.5 with every pasted photo)', zero: true },
      y: { field: 'recall', title: 'recall at IoU ≥ 0.5 (any class)', zero: true }, color: { field: 'mode', title: 'mode' },
    }));
  }
  const s = result.search as Record<string, number> | undefined;
  if (s) {
    const bars: Row[] = [
      { query: 'isolated photo', 'P@10': s.isolatedP10 }, { query: 'pasted rectangle (oracle)', 'P@10': s.oracleBoxP10 },
      { query: 'detected crop (miss → scene)', 'P@10': s.cropP10 }, { query: 'detected crop (miss → 0)', 'P@10': s.cropP10MissZero },
      { query: `detected crop (the ${s.detectedObjects} detected only)`, 'P@10': s.cropP10DetectedOnly }, { query: `isolated photo (the same ${s.detectedObjects})`, 'P@10': s.isolatedP10DetectedOnly },
      { query: 'light-mode crop (miss → scene)', 'P@10': s.cropP10Light }, { query: 'whole scene', 'P@10': s.wholeP10 },
    ];
    addPlot('search-p10', 'Search by crop: P@10 by query', barChart(bars, {
      title: `P@10 by label, ${s.objects} pasted photos, catalogue of ${s.catalogue}`, subtitle: 'target: detected crop ≥ 0.9 × isolated photo, well above the whole scene',
      category: { field: 'query', title: '' }, value: { field: 'P@10', title: 'P@10', format: '.2f' },
    }));
  }
  const b = result.burst as { latencyRows: Row[]; burst?: unknown } | null;
  if (b) {
    addPlot('burst-latency', 'Burst: latency by where the answer came from', dotChart(
      melt(b.latencyRows, { columns: { p50: 'median ms', p90: 'p90 ms', p99: 'p99 ms', max: 'max ms' }, keep: ['answers'], key: 'percentile' }),
      { title: 'Prices under the burst: latency per request by answer', subtitle: 'target: p99 ≤ 50 ms for answers from the cache', category: { field: 'answers', title: '' }, value: { field: 'value', title: 'ms (log)', log: true }, color: 'percentile', colors: [PERCENTILE_COLORS[0], PERCENTILE_COLORS[1], PERCENTILE_COLORS[2], PERCENTILE_COLORS[4]] },
    ));
  }
}

export type { Args };
