/**
 * Object detection (CenterNet MobileNetV3, COCO) on real Caltech photos: our decode of the raw heatmap + box
 * regression equals the graph's own `tower_0/detections`; an airplane photo gives an airplane; a scene built from
 * two photos gives both objects where they were pasted; light mode; typed errors. NMS and decode are also tested
 * as pure functions. Skips (outside CI) when the model folder or TF.js is missing.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  loadDetector, decodeCenterNet, nonMaxSuppression, boxIoU, COCO_CLASSES, CENTERNET, DETECTOR_MODEL, type Detector,
} from '../../src/shopping/index.js';
import { ImageDecodeError } from '../../src/core/errors.js';
import { ModelLoadError } from '../../src/embeddings/errors.js';
import { loadTf } from '../../src/embeddings/tf.js';
import { serve, tempDir } from '../embeddings/helpers.js';

const MODELS_ROOT = path.resolve(process.env.PINREC_MODEL_DIR ?? path.join(process.cwd(), '../shared/models'));
const MODEL_DIR = path.join(MODELS_ROOT, DETECTOR_MODEL);
const CALTECH = path.resolve(process.env.PINREC_DATA ?? path.join(process.cwd(), '../shared/datasets'), 'caltech101-subset', 'images');
const photo = (cat: string, i: number) => path.join(CALTECH, cat, `image_${String(i).padStart(4, '0')}.jpg`);

function hasTf(): boolean {
  const req = createRequire(import.meta.url);
  for (const p of ['@tensorflow/tfjs-core', '@tensorflow/tfjs']) {
    try { req.resolve(p); return true; } catch { /* next */ }
  }
  return false;
}
const MISSING = [
  !existsSync(path.join(MODEL_DIR, 'model.json')) && `model folder ${MODEL_DIR}`,
  !hasTf() && 'TF.js (@tensorflow/tfjs-core)',
  !existsSync(CALTECH) && `photos ${CALTECH}`,
].filter(Boolean).join(', ');
// In CI the shared model and TF.js must be there: a missing one fails instead of skipping (missing photos still skip).
const SKIP = (MISSING !== '' && !process.env.CI) || !existsSync(CALTECH);

describe('nonMaxSuppression / boxIoU / decodeCenterNet (pure)', () => {
  it('boxIoU', () => {
    expect(boxIoU({ x: 0, y: 0, width: 2, height: 2 }, { x: 1, y: 0, width: 2, height: 2 })).toBeCloseTo(1 / 3, 12);
    expect(boxIoU({ x: 0, y: 0, width: 1, height: 1 }, { x: 5, y: 5, width: 1, height: 1 })).toBe(0);
  });

  it('is class-wise and greedy by score, exact on a small case', () => {
    const d = (x: number, y: number, w: number, h: number, score: number, classId: number, id: string) => ({ box: { x, y, width: w, height: h }, score, classId, id });
    const dets = [
      d(0, 0, 10, 10, 0.6, 0, 'a2'),   // IoU with a1 = 81/119 = 0.68 → dropped
      d(1, 1, 10, 10, 0.9, 0, 'a1'),
      d(0, 0, 10, 10, 0.8, 1, 'b1'),   // other class: kept despite the overlap with a1
      d(5, 0, 10, 10, 0.7, 0, 'a3'),   // IoU with a1 = 54/146 = 0.37 → kept at 0.5, dropped at 0.3
      d(50, 50, 5, 5, 0.2, 0, 'a4'),
    ];
    expect(nonMaxSuppression(dets).map((x) => x.id)).toEqual(['a1', 'b1', 'a3', 'a4']);
    expect(nonMaxSuppression(dets, 0.3).map((x) => x.id)).toEqual(['a1', 'b1', 'a4']);
    expect(nonMaxSuppression(dets, 0.5, 2).map((x) => x.id)).toEqual(['a1', 'b1']);
    expect(nonMaxSuppression([], 0.5)).toEqual([]);
    // across classes: b1 overlaps a1 (IoU 0.68) and goes too
    expect(nonMaxSuppression(dets, 0.5, Infinity, true).map((x) => x.id)).toEqual(['a1', 'a3', 'a4']);
  });

  it('decodes peaks after 3×3 suppression and ltrb distances in input pixels', () => {
    const H = 4, W = 5, C = 2;
    const heat = new Float32Array(H * W * C);
    const wh = new Float32Array(H * W * 4);
    heat[(1 * W + 2) * C + 0] = 0.9; // peak, class 0 at row 1, col 2
    heat[(1 * W + 3) * C + 0] = 0.5; // neighbour of the peak: suppressed
    heat[(3 * W + 4) * C + 1] = 0.7; // peak, class 1 at row 3, col 4
    heat[(1 * W + 3) * C + 1] = 0.4; // class 1 elsewhere: a peak of its own
    wh.set([3, 2, 5, 6], (1 * W + 2) * 4);
    const c = decodeCenterNet(heat, wh, { height: H, width: W, classes: C, stride: 4, topK: 10, minScore: 0.1 });
    expect(c.map((x) => [x.classId, x.score])).toEqual([[0, heat[(1 * W + 2) * C]], [1, heat[(3 * W + 4) * C + 1]], [1, heat[(1 * W + 3) * C + 1]]]);
    expect(c[0]).toMatchObject({ x1: 8 - 3, y1: 4 - 2, x2: 8 + 5, y2: 4 + 6 });
    expect(decodeCenterNet(heat, wh, { height: H, width: W, classes: C, stride: 4, topK: 1 })).toHaveLength(1);
  });

  it('has the 80 COCO names', () => {
    expect(COCO_CLASSES).toHaveLength(80);
    expect([COCO_CLASSES[0], COCO_CLASSES[4], COCO_CLASSES[56], COCO_CLASSES[79]]).toEqual(['person', 'airplane', 'chair', 'toothbrush']);
  });

  it('a missing model folder is a ModelLoadError; a bad lightSize is named', async () => {
    await expect(loadDetector({ modelDir: path.join(process.cwd(), 'no-such-model-dir') })).rejects.toBeInstanceOf(ModelLoadError);
    await expect(loadDetector({ modelDir: MODELS_ROOT, lightSize: 300 })).rejects.toThrow(/lightSize/);
  });
});

describe.skipIf(SKIP)(`Detector on real photos${SKIP ? ` (skipped: missing ${MISSING})` : ''}`, () => {
  let det: Detector;
  beforeAll(async () => {
    det = await loadDetector({ modelDir: MODELS_ROOT });
  }, 60_000);
  afterAll(() => det?.dispose());

  const rgb512 = async (file: string) => sharp(file).rotate().removeAlpha().toColourspace('srgb')
    .resize(CENTERNET.size, CENTERNET.size, { fit: 'fill' }).raw().toBuffer();

  it('our decode of keypoints + wh equals the graph\'s own detections', async () => {
    for (const file of [photo('airplanes', 1), photo('Motorbikes', 2), photo('elephant', 3)]) {
      const { heat, wh, detections } = det.rawOutputs(await rgb512(file));
      const ours = decodeCenterNet(heat, wh, { height: 128, width: 128, classes: 80, stride: CENTERNET.stride, topK: 100 });
      expect(ours).toHaveLength(100);
      for (let i = 0; i < 100; i++) {
        const g = detections.subarray(i * 6, i * 6 + 6);
        const o = ours[i];
        expect(Math.abs(o.score - g[4]), `${file} #${i} score`).toBeLessThan(1e-6);
        // Ties in score may be ordered differently; only distinct scores must match box and class.
        if (i > 0 && Math.abs(ours[i - 1].score - o.score) < 1e-7) continue;
        if (i < 99 && Math.abs(ours[i + 1].score - o.score) < 1e-7) continue;
        expect(o.classId, `${file} #${i} class`).toBe(g[5]);
        for (const [k, v] of [o.x1, o.y1, o.x2, o.y2].entries()) expect(Math.abs(v - g[k]), `${file} #${i} coord ${k}`).toBeLessThan(1e-3);
      }
    }
  }, 30_000);

  it('finds the airplane in a Caltech airplane photo, covering most of it', async () => {
    const file = photo('airplanes', 1);
    const meta = await sharp(file).metadata();
    const r = await det.detect(file);
    expect(r.mode).toBe('normal');
    expect(r.width).toBe(meta.width);
    const top = r.boxes[0];
    expect(top.className).toBe('airplane');
    expect(top.score).toBeGreaterThan(0.5);
    // The plane spans most of the photo's width and over half its height (the rest is sky and ground).
    expect(top.box.width / r.width).toBeGreaterThan(0.6);
    expect(top.box.height / r.height).toBeGreaterThan(0.45);
    for (const b of r.boxes) {
      expect(b.box.x).toBeGreaterThanOrEqual(0);
      expect(b.box.x + b.box.width).toBeLessThanOrEqual(r.width + 1e-9);
      expect(b.score).toBeGreaterThanOrEqual(0.3);
    }
  }, 20_000);

  it('flip: the mirrored photo gives the mirrored boxes and scores; nms all keeps one box per region', async () => {
    const file = photo('airplanes', 1);
    const mirrored = await sharp(file).flop().png().toBuffer(); // lossless
    const a = await det.detect(file, { flip: true, minScore: 0.2 });
    const b = await det.detect(mirrored, { flip: true, minScore: 0.2 });
    expect(a.boxes[0].className).toBe('airplane');
    // averaging an image with its mirror is symmetric: the mirrored input's top box is the mirror of the top box
    const m = b.boxes[0];
    expect(m.className).toBe(a.boxes[0].className);
    expect(m.score).toBeCloseTo(a.boxes[0].score, 1);
    const back = { x: b.width - m.box.x - m.box.width, y: m.box.y, width: m.box.width, height: m.box.height };
    expect(boxIoU(back, a.boxes[0].box)).toBeGreaterThan(0.985); // measured 0.994 (letterbox rounding); a stride-offset slip in the mirror math gives less
    const plain = await det.detect(file, { minScore: 0.2 });
    expect(boxIoU(plain.boxes[0].box, a.boxes[0].box)).toBeGreaterThan(0.8); // the same object, not shifted
    const all = await det.detect(file, { minScore: 0.05, maxBoxes: 100, nms: 'all' });
    for (let i = 0; i < all.boxes.length; i++) for (let j = 0; j < i; j++) expect(boxIoU(all.boxes[i].box, all.boxes[j].box)).toBeLessThanOrEqual(0.5);
    await expect(det.detect(file, { nms: 'some' as 'all' })).rejects.toThrow(/nms/);
  }, 30_000);

  it('a scene of two pasted photos yields both objects at their boxes (IoU ≥ 0.5)', async () => {
    const W = 1000, H = 600;
    const parts = [
      { file: photo('airplanes', 1), cls: 'airplane', at: { x: 20, y: 60, width: 460, height: 300 } },
      { file: photo('elephant', 4), cls: 'elephant', at: { x: 520, y: 200, width: 440, height: 360 } },
    ];
    // Where each object is inside its photo: the photo's own top detection, moved into the scene.
    const expected = [];
    for (const p of parts) {
      const alone = await det.detect(p.file);
      const b = alone.boxes.find((x) => x.className === p.cls)!;
      expect(b, `${p.cls} alone`).toBeDefined();
      const sx = p.at.width / alone.width, sy = p.at.height / alone.height;
      expected.push({ cls: p.cls, box: { x: p.at.x + b.box.x * sx, y: p.at.y + b.box.y * sy, width: b.box.width * sx, height: b.box.height * sy } });
    }
    const composite = await Promise.all(parts.map(async (p) => ({
      input: await sharp(p.file).resize(p.at.width, p.at.height, { fit: 'fill' }).toBuffer(), left: p.at.x, top: p.at.y,
    })));
    const scene = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 128, g: 128, b: 128 } } }).composite(composite).jpeg().toBuffer();
    const r = await det.detect(scene, { minScore: 0.2 });
    for (const e of expected) {
      const best = Math.max(0, ...r.boxes.filter((b) => b.className === e.cls).map((b) => boxIoU(b.box, e.box)));
      expect(best, `${e.cls}: ${JSON.stringify(r.boxes.map((b) => [b.className, +b.score.toFixed(2)]))}`).toBeGreaterThanOrEqual(0.5);
    }
  }, 30_000);

  it('light mode (320 input) returns, says so, and finds the same object', async () => {
    expect(det.inputSize).toEqual({ normal: 512, light: 320 });
    const file = photo('Motorbikes', 2);
    const times: Record<string, number[]> = { normal: [], light: [] };
    const last: Record<string, Awaited<ReturnType<Detector['detect']>>> = {};
    for (let i = 0; i < 3; i++) {
      for (const mode of ['normal', 'light'] as const) {
        const r = await det.detect(file, { mode });
        times[mode].push(r.ms);
        last[mode] = r;
      }
    }
    expect(last.normal.mode).toBe('normal');
    expect(last.light.mode).toBe('light');
    expect(last.light.boxes.length).toBeLessThanOrEqual(20);
    expect(last.light.boxes[0].className).toBe('motorcycle');
    expect(boxIoU(last.light.boxes[0].box, last.normal.boxes[0].box)).toBeGreaterThan(0.8);
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[1];
    // Measured latency for the docs (not asserted: the machine is shared).
    console.log(`detect latency (${det.backend}): normal ${med(times.normal).toFixed(0)} ms, light ${med(times.light).toFixed(0)} ms`);
  }, 30_000);

  it('leaks no tensors', async () => {
    const { tf } = await loadTf();
    const before = tf.memory().numTensors;
    await det.detect(photo('laptop', 4), { mode: 'light' });
    await expect(det.detect(Buffer.from('x'))).rejects.toBeInstanceOf(ImageDecodeError);
    expect(tf.memory().numTensors).toBe(before);
  }, 20_000);

  it('loads from a URL once, then from the cache', async () => {
    const srv = await serve(MODEL_DIR);
    const cacheDir = await tempDir('detector-cache');
    try {
      const a = await loadDetector({ modelUrl: `${srv.url}/model.json`, cacheDir });
      a.dispose();
      const fetched = srv.requests.length;
      expect(fetched).toBeGreaterThanOrEqual(2);
      const b = await loadDetector({ modelUrl: `${srv.url}/model.json`, cacheDir, download: false });
      expect(srv.requests.length).toBe(fetched);
      expect(b.source).toContain(cacheDir);
      b.dispose();
    } finally {
      await srv.close();
    }
  }, 40_000);

  it('bad input is an ImageDecodeError; bad options are named', async () => {
    await expect(det.detect(Buffer.from('not an image at all'))).rejects.toBeInstanceOf(ImageDecodeError);
    await expect(det.detect(photo('airplanes', 1), { minScore: 2 })).rejects.toThrow(/minScore/);
    await expect(det.detect(photo('airplanes', 1), { mode: 'fast' as never })).rejects.toThrow(/mode/);
  });
});
