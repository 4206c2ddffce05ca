/**
 * Object detection for "shop the look": regions of a photo that may hold a product, from CenterNet on a
 * MobileNetV3 backbone trained on COCO (80 classes; TF.js graph model `centernet_mobilenetv3_coco`, see its
 * PROVENANCE.md). The model is read like the embedder's models (a folder, a URL with the on-disk cache, or the
 * cache / `PINREC_MODEL_DIR`), through the functions of `embeddings/models.ts`; TF.js is the same optional peer.
 *
 * Pipeline of {@link Detector.detect}: validated decode ({@link openImage}) → letterbox to 512×512 RGB (aspect
 * kept, centred, black bars; {@link letterbox}), values 0–255 → one forward pass → {@link decodeCenterNet} on the class
 * heatmap and the box regression (3×3 peak suppression, top-K) → boxes scaled back to the image's pixels →
 * class-wise {@link nonMaxSuppression} → score threshold and box cap.
 */
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import { DisposedError, InvalidParameterError } from '../core/errors.js';
import { checkInt, checkNumber, checkOneOf } from '../core/validate.js';
import { ModelLoadError } from '../embeddings/errors.js';
import {
  cacheKey, defaultCacheDir, downloadModel, hasModelJson, readCache, readModelDir, writeCache, type ModelArtifacts,
} from '../embeddings/models.js';
import { envFlag } from '../embeddings/resolve.js';
import { loadTf, requireTfPart, type Tf } from '../embeddings/tf.js';
import type { BackendName, BackendPreference } from '../embeddings/backend.js';
import type { Box } from '../images/crop.js';
import { openImage, pipelineOf, withinBudget, type ImageLimits, type ImageSource, type SourceImage } from '../images/source.js';
import { COCO_CLASSES } from './coco.js';

/** The folder name of the detector under a models root (`PINREC_MODEL_DIR`) and its cache key. */
export const DETECTOR_MODEL = 'centernet_mobilenetv3_coco';

/** Fixed facts of the CenterNet graph. Its 512×512 input is baked in (light mode uses a rescaled copy, see {@link LoadDetectorOptions.lightSize}). */
export const CENTERNET = Object.freeze({
  input: 'tower_0/images',
  heatmap: 'tower_0/keypoints',
  wh: 'tower_0/wh',
  detections: 'tower_0/detections',
  size: 512,
  stride: 4,
  classes: 80,
});

/**
 * `'normal'`: 512×512 input, 100 candidate peaks. `'light'`: a smaller input ({@link LoadDetectorOptions.lightSize},
 * 320 by default: about 3× faster) and 20 candidate peaks — for a service over its time budget.
 */
export type DetectionMode = 'normal' | 'light';

/** A box in model-input pixels (x1, y1, x2, y2) with its score and class, as decoded from the raw outputs. */
export interface DetectionCandidate {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  classId: number;
}

/** One detected object, in pixels of the image as displayed (EXIF orientation applied). */
export interface Detection {
  box: Box;
  /** Heatmap peak value, 0–1. */
  score: number;
  /** COCO class index (0–79). */
  classId: number;
  /** {@link COCO_CLASSES}[classId]. */
  className: string;
}

/** What {@link Detector.detect} returns. */
export interface DetectionResult {
  /** By score, highest first. */
  boxes: Detection[];
  mode: DetectionMode;
  /** Wall time of the call (decode, inference, post-processing), milliseconds. */
  ms: number;
  /** Width and height of the image the boxes refer to. */
  width: number;
  height: number;
}

/** Options of {@link Detector.detect}. */
export interface DetectOptions {
  /** @default 'normal' */
  mode?: DetectionMode;
  /** Boxes scoring below this are dropped. @default 0.3 */
  minScore?: number;
  /** At most this many boxes (after NMS). @default 20 */
  maxBoxes?: number;
  /** NMS: a box overlapping a higher-scored kept box by more than this IoU is dropped. @default 0.5 */
  iouThreshold?: number;
  /**
   * Which boxes suppress each other: `'class'` (boxes of the same class, the COCO convention) or `'all'` (any
   * class: one box per region, what proposing regions to search by wants — the same object is not proposed
   * twice as, say, a cup and a vase). @default 'class'
   */
  nms?: 'class' | 'all';
  /**
   * Test-time augmentation: also run the mirrored image and average the two heatmaps (and the mirrored box
   * regressions) before decoding — steadier scores for twice the inference time. @default false
   */
  flip?: boolean;
}

/** Options of {@link loadDetector}. Resolution order: `modelDir` → `modelUrl` (cache, then download) → `PINREC_MODEL_DIR` → the cache. */
export interface LoadDetectorOptions {
  /** A folder holding `model.json`, or a models root holding `centernet_mobilenetv3_coco/model.json`. */
  modelDir?: string;
  /** An http(s) URL of the model's `model.json` (downloaded once into the cache). */
  modelUrl?: string;
  /** @default defaultCacheDir() (`$PINREC_MODEL_CACHE`, else `~/.cache/pinrec/models`) */
  cacheDir?: string;
  /** Allow downloads. @default true unless PINREC_OFFLINE is set */
  download?: boolean;
  /** Download timeout per file. @default 60000 */
  timeoutMs?: number;
  /** TF.js backend. @default 'auto' */
  backend?: BackendPreference;
  /** Decode limits for every image (see `openImage`). */
  limits?: ImageLimits;
  /**
   * Input size of light mode, a multiple of 32 from 128 to 512. The graph fixes 512×512; a second copy is made
   * with the input and its three upsampling sizes rescaled (same weights). 512 makes light mode differ only in
   * its candidate count.
   * @default 320
   */
  lightSize?: number;
}

const MODES = ['normal', 'light'] as const;
const TOP_K: Record<DetectionMode, number> = { normal: 100, light: 20 };

/**
 * Decode CenterNet outputs into boxes: a heatmap cell is a peak when no cell of its 3×3 neighbourhood (same
 * class) is higher — the `maxpool(3×3, SAME) == heatmap` suppression of the graph — and the `topK` highest
 * peaks are kept (ties: lower flat index first, like `tf.topk`). The four regression channels are distances
 * in input pixels from the cell's point (column·stride, row·stride) to the left, top, right and bottom edges:
 * box = (cx − d0, cy − d1, cx + d2, cy + d3). This equals the graph's own `tower_0/detections` output.
 *
 * @param heatmap `[h, w, classes]` row-major (sigmoid scores)
 * @param wh `[h, w, 4]` row-major
 * @param minScore peaks below this are skipped (0 keeps all, as the graph does)
 * @example
 * const c = decodeCenterNet(heat, wh, { height: 128, width: 128, classes: 80, stride: 4, topK: 100 });
 */
export function decodeCenterNet(
  heatmap: ArrayLike<number>,
  wh: ArrayLike<number>,
  shape: { height: number; width: number; classes: number; stride: number; topK: number; minScore?: number },
): DetectionCandidate[] {
  const { height: H, width: W, classes: C, stride } = shape;
  checkInt('topK', shape.topK, 1);
  if (heatmap.length !== H * W * C) throw new InvalidParameterError('heatmap', `${H}×${W}×${C} values`, heatmap.length);
  if (wh.length !== H * W * 4) throw new InvalidParameterError('wh', `${H}×${W}×4 values`, wh.length);
  const floor = shape.minScore ?? 0;
  const idx: number[] = [];
  for (let r = 0; r < H; r++) {
    const r0 = Math.max(0, r - 1), r1 = Math.min(H - 1, r + 1);
    for (let c = 0; c < W; c++) {
      const c0 = Math.max(0, c - 1), c1 = Math.min(W - 1, c + 1);
      const base = (r * W + c) * C;
      for (let k = 0; k < C; k++) {
        const v = heatmap[base + k];
        if (!(v >= floor)) continue;
        let peak = true;
        for (let rr = r0; rr <= r1 && peak; rr++) {
          for (let cc = c0; cc <= c1; cc++) {
            if (heatmap[(rr * W + cc) * C + k] > v) { peak = false; break; }
          }
        }
        if (peak) idx.push(base + k);
      }
    }
  }
  idx.sort((a, b) => heatmap[b] - heatmap[a] || a - b);
  const out: DetectionCandidate[] = [];
  for (let i = 0; i < Math.min(shape.topK, idx.length); i++) {
    const flat = idx[i];
    const cell = Math.floor(flat / C);
    const classId = flat - cell * C;
    const r = Math.floor(cell / W);
    const c = cell - r * W;
    const cx = c * stride, cy = r * stride;
    const d = cell * 4;
    out.push({ x1: cx - wh[d], y1: cy - wh[d + 1], x2: cx + wh[d + 2], y2: cy + wh[d + 3], score: heatmap[flat], classId });
  }
  return out;
}

/**
 * Intersection over union of two boxes `{x, y, width, height}`; 0 when either is empty.
 * @example
 * boxIoU({ x: 0, y: 0, width: 2, height: 2 }, { x: 1, y: 0, width: 2, height: 2 }); // 1/3
 */
export function boxIoU(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression: by score (ties: input order), a box is kept unless a kept box of the same class
 * (of any class with `acrossClasses`) overlaps it with IoU > `iouThreshold`; at most `maxBoxes` are returned,
 * highest first.
 * @example
 * nonMaxSuppression(dets, 0.5, 20);
 */
export function nonMaxSuppression<T extends { box: Box; score: number; classId: number }>(dets: readonly T[], iouThreshold = 0.5, maxBoxes = Infinity, acrossClasses = false): T[] {
  checkNumber('iouThreshold', iouThreshold, 0, 1);
  if (maxBoxes !== Infinity) checkInt('maxBoxes', maxBoxes, 0);
  const order = dets.map((_, i) => i).sort((a, b) => dets[b].score - dets[a].score || a - b);
  const kept: T[] = [];
  for (const i of order) {
    if (kept.length >= maxBoxes) break;
    const d = dets[i];
    if (!kept.some((k) => (acrossClasses || k.classId === d.classId) && boxIoU(k.box, d.box) > iouThreshold)) kept.push(d);
  }
  return kept;
}

/** A loaded detector ({@link loadDetector}). One TF.js engine per thread: calls run one forward pass at a time. */
export interface Detector {
  /** The TF.js backend in use. */
  readonly backend: BackendName;
  /** Where the model was read from (folder, URL or cache folder). */
  readonly source: string;
  /** Input size per mode (light is 512 too when the graph could not be resized). */
  readonly inputSize: Readonly<Record<DetectionMode, number>>;
  /**
   * Detect objects in an image.
   * @throws {ImageDecodeError} for input that does not decode (or breaks the limits); {@link InvalidParameterError} for bad options; {@link DisposedError} after `dispose()`
   * @example
   * const { boxes, mode, ms } = await detector.detect('scene.jpg', { minScore: 0.3 });
   */
  detect(image: ImageSource | SourceImage, options?: DetectOptions): Promise<DetectionResult>;
  /**
   * The raw model outputs for 512×512×3 RGB bytes (0–255, row-major): heatmap `[128, 128, 80]`, wh
   * `[128, 128, 4]` and the graph's own decoded `detections` `[100, 6]` (x1, y1, x2, y2, score, class). For
   * tests and diagnostics.
   */
  rawOutputs(rgb: Uint8Array): { heat: Float32Array; wh: Float32Array; detections: Float32Array };
  /** Release the model's weights. Later calls throw {@link DisposedError}. */
  dispose(): void;
}

class CenterNetDetector implements Detector {
  private models: Record<DetectionMode, GraphModel> | undefined;
  readonly inputSize: Readonly<Record<DetectionMode, number>>;
  private readonly tf: Tf;
  private readonly limits: ImageLimits;
  /** The TF.js backend in use. */
  readonly backend: BackendName;
  /** Where the model was read from (folder, URL or cache folder). */
  readonly source: string;

  constructor(tf: Tf, models: Record<DetectionMode, GraphModel>, inputSize: Record<DetectionMode, number>, backend: BackendName, source: string, limits: ImageLimits) {
    this.tf = tf;
    this.models = models;
    this.inputSize = Object.freeze({ ...inputSize });
    this.backend = backend;
    this.source = source;
    this.limits = limits;
  }

  /**
   * Detect objects in an image.
   * @throws {ImageDecodeError} for input that does not decode (or breaks the limits); {@link InvalidParameterError} for bad options; {@link DisposedError} after `dispose()`
   * @example
   * const { boxes, mode, ms } = await detector.detect('scene.jpg', { minScore: 0.3 });
   */
  async detect(image: ImageSource | SourceImage, options: DetectOptions = {}): Promise<DetectionResult> {
    const t0 = performance.now();
    const mode = checkOneOf('mode', options.mode ?? 'normal', MODES);
    const minScore = checkNumber('minScore', options.minScore ?? 0.3, 0, 1);
    const maxBoxes = checkInt('maxBoxes', options.maxBoxes ?? 20, 0);
    const iouThreshold = checkNumber('iouThreshold', options.iouThreshold ?? 0.5, 0, 1);
    const nms = checkOneOf('nms', options.nms ?? 'class', ['class', 'all'] as const);
    if (options.flip !== undefined && typeof options.flip !== 'boolean') throw new InvalidParameterError('flip', 'true or false', options.flip);
    if (!this.models) throw new DisposedError('Detector');
    const img = isSourceImage(image) ? image : await openImage(image, this.limits);
    const S = this.inputSize[mode];
    const lb = letterbox(img.width, img.height, S);
    const pixels = await withinBudget(img, () => pipelineOf(img)
      .removeAlpha().toColourspace('srgb')
      .resize(lb.width, lb.height, { fit: 'fill', kernel: 'lanczos3' })
      .extend({ left: lb.left, top: lb.top, right: S - lb.width - lb.left, bottom: S - lb.height - lb.top, background: { r: 0, g: 0, b: 0 } })
      .raw().toBuffer());
    const G = S / CENTERNET.stride;
    const { heat, wh } = this.forward(pixels, mode);
    if (options.flip) {
      const m = this.forward(mirrorRows(pixels, S, S, 3), mode);
      averageMirrored(heat, wh, m.heat, m.wh, G, CENTERNET.classes, CENTERNET.stride);
    }
    const cands = decodeCenterNet(heat, wh, { height: G, width: G, classes: CENTERNET.classes, stride: CENTERNET.stride, topK: TOP_K[mode], minScore });
    const sx = img.width / lb.width, sy = img.height / lb.height;
    const dets: Detection[] = [];
    for (const c of cands) {
      const x1 = clamp((c.x1 - lb.left) * sx, img.width), y1 = clamp((c.y1 - lb.top) * sy, img.height);
      const x2 = clamp((c.x2 - lb.left) * sx, img.width), y2 = clamp((c.y2 - lb.top) * sy, img.height);
      if (!(x2 > x1 && y2 > y1)) continue;
      dets.push({ box: { x: x1, y: y1, width: x2 - x1, height: y2 - y1 }, score: c.score, classId: c.classId, className: COCO_CLASSES[c.classId] });
    }
    const boxes = nonMaxSuppression(dets, iouThreshold, maxBoxes, nms === 'all');
    return { boxes, mode, ms: performance.now() - t0, width: img.width, height: img.height };
  }

  /**
   * The raw model outputs for 512×512×3 RGB bytes (0–255): heatmap `[128, 128, 80]`, wh `[128, 128, 4]` and
   * the graph's own decoded `detections` `[100, 6]`. For tests and diagnostics.
   */
  rawOutputs(rgb: Uint8Array): { heat: Float32Array; wh: Float32Array; detections: Float32Array } {
    return this.forward(rgb, 'normal', true) as { heat: Float32Array; wh: Float32Array; detections: Float32Array };
  }

  forward(rgb: Uint8Array, mode: DetectionMode, withDetections = false): { heat: Float32Array; wh: Float32Array; detections?: Float32Array } {
    const model = this.models?.[mode];
    if (!model) throw new DisposedError('Detector');
    const S = this.inputSize[mode];
    if (rgb.length !== S * S * 3) throw new InvalidParameterError('rgb', `${S}×${S}×3 bytes`, rgb.length);
    const tf = this.tf;
    const input = new Float32Array(rgb.length);
    for (let i = 0; i < rgb.length; i++) input[i] = rgb[i];
    const names = withDetections ? [CENTERNET.heatmap, CENTERNET.wh, CENTERNET.detections] : [CENTERNET.heatmap, CENTERNET.wh];
    const x = tf.tensor4d(input, [1, S, S, 3]);
    let outs: TF.Tensor[] = [];
    try {
      outs = model.execute(x, names) as TF.Tensor[];
      const [heat, wh, det] = outs.map((t) => t.dataSync() as Float32Array);
      return { heat, wh, detections: det };
    } finally {
      tf.dispose([x, ...outs]);
    }
  }

  /** Release the model's weights. Later calls throw {@link DisposedError}. */
  dispose(): void {
    if (this.models) {
      this.models.normal.dispose();
      if (this.models.light !== this.models.normal) this.models.light.dispose();
    }
    this.models = undefined;
  }
}

/** The image mirrored left–right (row-major, `channels` bytes per pixel). */
function mirrorRows(px: Uint8Array, width: number, height: number, channels: number): Uint8Array {
  const out = new Uint8Array(px.length);
  for (let r = 0; r < height; r++) {
    const row = r * width * channels;
    for (let c = 0; c < width; c++) {
      const from = row + c * channels, to = row + (width - 1 - c) * channels;
      for (let k = 0; k < channels; k++) out[to + k] = px[from + k];
    }
  }
  return out;
}

/**
 * Fold the outputs of the mirrored image into those of the image, in place. A centre at x (pixel edges, 0..S)
 * is at S − x in the mirror, so the mirrored heatmap's column G−1−c is column c. Distances are measured from a
 * cell's point c·stride; the mirror cell's point maps to (c + 1)·stride, so its right and left distances become
 * the left minus one stride and the right plus one stride.
 */
function averageMirrored(heat: Float32Array, wh: Float32Array, mHeat: Float32Array, mWh: Float32Array, G: number, C: number, stride: number): void {
  for (let r = 0; r < G; r++) {
    for (let c = 0; c < G; c++) {
      const a = r * G + c, b = r * G + (G - 1 - c);
      for (let k = 0; k < C; k++) heat[a * C + k] = 0.5 * (heat[a * C + k] + mHeat[b * C + k]);
      wh[a * 4] = 0.5 * (wh[a * 4] + mWh[b * 4 + 2] - stride);
      wh[a * 4 + 1] = 0.5 * (wh[a * 4 + 1] + mWh[b * 4 + 1]);
      wh[a * 4 + 2] = 0.5 * (wh[a * 4 + 2] + mWh[b * 4] + stride);
      wh[a * 4 + 3] = 0.5 * (wh[a * 4 + 3] + mWh[b * 4 + 3]);
    }
  }
}

/**
 * Letterbox geometry: the image scaled to fit `size × size` with its aspect ratio kept, centred, the rest black.
 * @example
 * letterbox(400, 200, 512); // { width: 512, height: 256, left: 0, top: 128 }
 */
export function letterbox(width: number, height: number, size: number): { width: number; height: number; left: number; top: number } {
  const s = Math.min(size / width, size / height);
  const w = Math.min(size, Math.max(1, Math.round(width * s)));
  const h = Math.min(size, Math.max(1, Math.round(height * s)));
  return { width: w, height: h, left: Math.floor((size - w) / 2), top: Math.floor((size - h) / 2) };
}

function clamp(v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v;
}

function isSourceImage(x: unknown): x is SourceImage {
  return x !== null && typeof x === 'object' && Buffer.isBuffer((x as SourceImage).bytes) && typeof (x as SourceImage).width === 'number' && typeof (x as SourceImage).limits === 'object';
}

async function findModel(dir: string): Promise<string | undefined> {
  if (await hasModelJson(dir)) return dir;
  if (await hasModelJson(path.join(dir, DETECTOR_MODEL))) return path.join(dir, DETECTOR_MODEL);
  return undefined;
}

async function resolveDetector(o: LoadDetectorOptions): Promise<{ artifacts: ModelArtifacts; source: string; commit?: () => Promise<void> }> {
  const cacheDir = o.cacheDir ?? defaultCacheDir();
  const download = o.download ?? !envFlag('PINREC_OFFLINE');
  if (o.modelDir !== undefined) {
    if (typeof o.modelDir !== 'string' || o.modelDir === '') throw new InvalidParameterError('modelDir', 'a folder path', o.modelDir);
    const dir = await findModel(o.modelDir);
    if (!dir) throw new ModelLoadError(path.resolve(o.modelDir), `holds neither model.json nor ${DETECTOR_MODEL}/model.json`);
    return { artifacts: await readModelDir(dir), source: path.resolve(dir) };
  }
  if (o.modelUrl !== undefined) {
    if (typeof o.modelUrl !== 'string' || !/^https?:\/\//i.test(o.modelUrl)) throw new InvalidParameterError('modelUrl', 'an http(s) URL of a model.json', o.modelUrl);
    const key = cacheKey(o.modelUrl, true);
    const hit = await readCache(cacheDir, key);
    if (hit) return { artifacts: hit.artifacts, source: path.join(cacheDir, key) };
    if (!download) throw new ModelLoadError(o.modelUrl, 'not in the cache and downloads are off (download: false / PINREC_OFFLINE)');
    const { artifacts, files } = await downloadModel(o.modelUrl, { timeoutMs: o.timeoutMs ?? 60_000 });
    const url = o.modelUrl;
    return { artifacts, source: url, commit: async () => { try { await writeCache(cacheDir, key, url, files); } catch { /* an unwritable cache costs a download next time */ } } };
  }
  const reasons: string[] = [];
  const envDir = process.env.PINREC_MODEL_DIR;
  if (envDir) {
    const dir = await findModel(envDir);
    if (dir) return { artifacts: await readModelDir(dir), source: path.resolve(dir) };
    reasons.push(`PINREC_MODEL_DIR=${envDir} does not hold ${DETECTOR_MODEL}/model.json`);
  }
  const hit = await readCache(cacheDir, DETECTOR_MODEL);
  if (hit) return { artifacts: hit.artifacts, source: path.join(cacheDir, DETECTOR_MODEL) };
  reasons.push(`not cached in ${cacheDir}`);
  throw new ModelLoadError(DETECTOR_MODEL, `${reasons.join('; ')}; give modelDir or modelUrl`);
}

/** Run `model` once on a blank `size × size` input (warm-up) and check its two output shapes. */
function probe(tf: Tf, model: GraphModel, size: number): void {
  const G = size / CENTERNET.stride;
  tf.tidy(() => {
    const [heat, wh] = model.execute(tf.zeros([1, size, size, 3]), [CENTERNET.heatmap, CENTERNET.wh]) as TF.Tensor[];
    const want = (t: TF.Tensor, c: number) => t.shape.length === 4 && t.shape[1] === G && t.shape[2] === G && t.shape[3] === c;
    if (!want(heat, CENTERNET.classes) || !want(wh, 4)) throw new Error(`outputs have shapes [${heat.shape.join(',')}] and [${wh.shape.join(',')}]`);
  });
}

async function loadGraph(tf: Tf, a: ModelArtifacts, source: string): Promise<GraphModel> {
  try {
    return await requireTfPart(tf, 'loadGraphModel')(tf.io.fromMemory({
      modelTopology: a.modelTopology,
      weightSpecs: a.weightSpecs as TF.io.WeightsManifestEntry[],
      weightData: a.weightData,
      ...(a.extra as object),
    }));
  } catch (e) {
    throw new ModelLoadError(source, `TF.js could not load the graph model (${(e as Error).message.split('\n')[0]})`, { cause: e });
  }
}

/** The upsampling sizes of the CenterNet head (int32 [2] constants): at input S they are S/16, S/8, S/4. */
const UPSAMPLE_SIZES: ReadonlyMap<string, number> = new Map([
  ['tower_0/CenternetHead/c5_upsample/up_sampling2d/mul', 16],
  ['tower_0/CenternetHead/c4_upsample/up_sampling2d_1/mul', 8],
  ['tower_0/CenternetHead/c3_upsample/up_sampling2d_2/mul', 4],
]);
const WEIGHT_BYTES: ReadonlyMap<string, number> = new Map([['float32', 4], ['int32', 4], ['uint8', 1], ['int8', 1], ['uint16', 2], ['int16', 2], ['float16', 2], ['bool', 1]]);

/**
 * A copy of the CenterNet artifacts for a `size × size` input: the placeholder's and signature's shape, and the
 * head's three fixed upsampling sizes, rescaled; the weights are otherwise the same bytes. `undefined` when the
 * graph does not have exactly those constants at their 512 values (then it is not this graph: no light input).
 */
function resizeGraph(a: ModelArtifacts, size: number): ModelArtifacts | undefined {
  const data = a.weightData.slice(0);
  let off = 0;
  let found = 0;
  for (const w of a.weightSpecs) {
    const dt = w.quantization?.dtype ?? w.dtype;
    const b = WEIGHT_BYTES.get(dt);
    if (b === undefined) return undefined;
    const n = w.shape.reduce((x, y) => x * y, 1);
    const div = UPSAMPLE_SIZES.get(w.name);
    if (div !== undefined) {
      if (w.dtype !== 'int32' || w.quantization || n !== 2 || off % 4 !== 0) return undefined;
      const v = new Int32Array(data, off, 2);
      if (v[0] !== CENTERNET.size / div || v[1] !== CENTERNET.size / div) return undefined;
      v[0] = v[1] = size / div;
      found++;
    }
    off += n * b;
  }
  if (found !== UPSAMPLE_SIZES.size || off !== data.byteLength) return undefined;
  const dims = [{ size: '1' }, { size: String(size) }, { size: String(size) }, { size: '3' }];
  const topo = JSON.parse(JSON.stringify(a.modelTopology)) as { node?: { op: string; name: string; attr?: { shape?: { shape?: { dim?: unknown } } } }[] };
  const ph = topo.node?.find((n) => n.op === 'Placeholder' && n.name === CENTERNET.input);
  if (!ph?.attr?.shape?.shape) return undefined;
  ph.attr.shape.shape.dim = dims;
  const extra = JSON.parse(JSON.stringify(a.extra)) as { signature?: { inputs?: Record<string, { tensorShape?: { dim?: unknown } }> } };
  const sig = extra.signature?.inputs?.[CENTERNET.input];
  if (sig?.tensorShape) sig.tensorShape.dim = dims;
  return { ...a, modelTopology: topo, weightData: data, extra };
}

/**
 * Load the CenterNet detector and run it once on a blank image (so the first real call is not slower and a
 * wrong model fails here).
 * @throws {ModelLoadError} when the model is missing or is not the CenterNet graph; {@link InvalidParameterError} for a bad `lightSize`; {@link MissingDependencyError} without TF.js
 * @example
 * const detector = await loadDetector({ modelDir: '../shared/models' });
 * const { boxes } = await detector.detect('look.jpg');   // [{ box: {x, y, width, height}, score, classId, className }]
 * detector.dispose();
 */
export async function loadDetector(options: LoadDetectorOptions = {}): Promise<Detector> {
  const lightSize = checkInt('lightSize', options.lightSize ?? 320, 128, CENTERNET.size);
  if (lightSize % 32 !== 0) throw new InvalidParameterError('lightSize', 'a multiple of 32 from 128 to 512', lightSize);
  const r = await resolveDetector(options);
  if (r.artifacts.format !== 'graph') throw new ModelLoadError(r.source, 'is a layers model; the detector needs the CenterNet graph model');
  const { tf, backend } = await loadTf(options.backend ?? 'auto');
  const a = r.artifacts;
  const normal = await loadGraph(tf, a, r.source);
  try {
    probe(tf, normal, CENTERNET.size);
  } catch (e) {
    normal.dispose();
    throw new ModelLoadError(r.source, `is not the CenterNet COCO graph (${CENTERNET.input} [1,512,512,3] → ${CENTERNET.heatmap} [1,128,128,80], ${CENTERNET.wh} [1,128,128,4]): ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  let light = normal;
  let lightInput: number = CENTERNET.size;
  const resized = lightSize === CENTERNET.size ? undefined : resizeGraph(a, lightSize);
  if (resized) {
    let m: GraphModel | undefined;
    try {
      m = await loadGraph(tf, resized, r.source);
      probe(tf, m, lightSize);
      light = m;
      lightInput = lightSize;
    } catch {
      m?.dispose(); // the graph does not take the resized input: light mode keeps 512 (reported in inputSize)
    }
  }
  const det = new CenterNetDetector(tf, { normal, light }, { normal: CENTERNET.size, light: lightInput }, backend, r.source, options.limits ?? {});
  await r.commit?.();
  return det;
}
