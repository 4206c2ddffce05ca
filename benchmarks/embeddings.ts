/**
 * CNN image embeddings: throughput (decode + inference) by batch size and worker count, retrieval quality by
 * label (precision@10 / mAP@10, cosine, query excluded) with the documented options, memory over 10,000
 * images, the PyTorch MobileNetV2 anchor run side by side, and (section `head`) supervised embedding heads learned
 * from the catalogue's labels (LDA, proxy / normalised softmax) against the unsupervised pipeline.
 *
 *   npm run bench -- embeddings [--data <folder with labels.csv>] [--model mobilenet_v1_0.75_224]
 *       [--model-dir ../shared/models] [--sections throughput,quality,memory,anchor,head] [--batches 1,8,16,32]
 *       [--workers 0,1,2] [--images 256] [--memory-images 10000] [--variants plain,flip,gem]
 *       [--features-cache /tmp/pinrec-emb-cache] [--quick] [--json] [--out file]
 *
 * Models come from --model-dir / $PINREC_MODEL_DIR / ../shared/models (never the internet: downloads are off).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
// tfjs-core only (the full @tensorflow/tfjs bundle is not a dependency): the ops used here are all in core, called
// as functions (tfjs-core's Node build registers no chained ops such as `t.mul`); the backend comes from the
// library's initBackend (wasm, else the CPU backend), called before the first op
import * as tf from '@tensorflow/tfjs-core';
import { dataRoot, num, nums, parseArgs, printTable, report, str, type Args, readLabels, type LabelledImages as Dataset } from './lib.js';
import { addPlot, barChart, lineChart, melt, type Row } from './report.js';
import {
  loadEmbedder, decodeImage, resolveDecodeOptions, retrievalAtK, PcaProjection, powerNormalize, l2NormalizeRows,
  MODELS, initBackend, fitHead, type Embedder, type LoadEmbedderOptions, type HeadFitOptions, type HeadMethod,
} from '../src/embeddings/index.js';
import { Rng } from '../src/core/rng.js';
import { DEFAULT_HEAD_METHOD } from '../src/embeddings/head.js';

const HELP = `usage: npm run bench -- embeddings [--data dir] [--model name] [--model-dir dir] [--sections list]
  [--batches 1,8,16,32] [--workers 0,1,2] [--images N] [--memory-images N] [--variants plain,flip,gem]
  [--features-cache dir] [--head-methods lda,proxy,gaussian] [--quick] [--json] [--out file]`;


/** Indices of the first `per` items of each label (in file order). */
function firstPerLabel(labels: string[], per: number): number[] {
  const seen = new Map<string, number>();
  const out: number[] = [];
  labels.forEach((l, i) => {
    const c = seen.get(l) ?? 0;
    if (c < per) { out.push(i); seen.set(l, c + 1); }
  });
  return out;
}

function rssMb(): number {
  return Math.round(process.memoryUsage().rss / 2 ** 20);
}

/**
 * P@k and mAP@k with the similarity matrix on TF.js (matMul in row blocks + topk): same definition as
 * `retrievalAtK` (checked against it in the run), fast enough for 6,098² pairs.
 */
function retrievalFast(vectors: Float32Array, dim: number, labels: string[], k: number, queries?: number[]): { precision: number; map: number; queries: number } {
  const n = labels.length;
  const lab = new Map<string, number>();
  const li = Int32Array.from(labels, (l) => { if (!lab.has(l)) lab.set(l, lab.size); return lab.get(l)!; });
  const count = new Map<number, number>();
  for (const l of li) count.set(l, (count.get(l) ?? 0) + 1);
  const qs = queries ?? Array.from({ length: n }, (_, i) => i);
  const X = tf.tensor2d(vectors, [n, dim]);
  let sumP = 0, sumAp = 0, used = 0;
  const B = 256;
  for (let s = 0; s < qs.length; s += B) {
    const blk = qs.slice(s, s + B);
    const idx = tf.tidy(() => {
      const Q = tf.gather(X, tf.tensor1d(blk, 'int32'));
      let sims = tf.matMul(Q, X, false, true);
      const self = tf.mul(tf.oneHot(tf.tensor1d(blk, 'int32'), n), -1e9);
      sims = tf.add(sims, self);
      return tf.topk(sims, k).indices;
    });
    const top = idx.dataSync();
    idx.dispose();
    blk.forEach((q, r) => {
      const rel = (count.get(li[q]) ?? 1) - 1;
      if (rel === 0) return;
      let hits = 0, ap = 0;
      for (let j = 0; j < k; j++) if (li[top[r * k + j]] === li[q]) { hits++; ap += hits / (j + 1); }
      sumP += hits / k; sumAp += ap / Math.min(k, rel); used++;
    });
  }
  X.dispose();
  return { precision: sumP / used, map: sumAp / used, queries: used };
}

function l2(rows: Float32Array, dim: number): Float32Array {
  const c = rows.slice();
  l2NormalizeRows(c, dim);
  return c;
}

function pick(rows: Float32Array, dim: number, idx: number[]): Float32Array {
  const out = new Float32Array(idx.length * dim);
  idx.forEach((i, k) => out.set(rows.subarray(i * dim, (i + 1) * dim), k * dim));
  return out;
}

async function rawFeatures(opts: LoadEmbedderOptions, paths: string[], cacheFile: string | undefined, log: (s: string) => void): Promise<{ raw: Float32Array; dim: number; failed: number; seconds: number }> {
  if (cacheFile && existsSync(cacheFile) && existsSync(`${cacheFile}.json`)) {
    const meta = JSON.parse(readFileSync(`${cacheFile}.json`, 'utf8')) as { n: number; dim: number; failed: number; seconds: number };
    if (meta.n === paths.length) {
      const b = readFileSync(cacheFile);
      log(`  (features from cache ${cacheFile})`);
      return { raw: new Float32Array(b.buffer, b.byteOffset, b.length / 4).slice(), dim: meta.dim, failed: meta.failed, seconds: meta.seconds };
    }
  }
  const e = await loadEmbedder(opts);
  try {
    const t0 = performance.now();
    let last = 0;
    const r = await e.embedBatch(paths, {
      output: 'raw',
      onProgress: (p) => { if (p.done - last >= 1000 || p.done === p.total) { last = p.done; log(`  ${p.done}/${p.total}`); } },
    });
    const seconds = (performance.now() - t0) / 1000;
    if (cacheFile) {
      mkdirSync(path.dirname(cacheFile), { recursive: true });
      writeFileSync(cacheFile, Buffer.from(r.vectors.buffer, r.vectors.byteOffset, r.vectors.byteLength));
      writeFileSync(`${cacheFile}.json`, JSON.stringify({ n: paths.length, dim: r.dim, failed: r.failed.length, seconds }));
    }
    return { raw: r.vectors, dim: r.dim, failed: r.failed.length, seconds };
  } finally {
    await e.dispose();
  }
}

export async function main(argv: string[]): Promise<void> {
  const args: Args = parseArgs(argv);
  if (args.help) { console.log(HELP); return; }
  const quick = args.quick === true;
  const log = (s: string) => console.log(s); // (with --json, lib.ts sends all of this to stderr)
  const dataDir = path.resolve(str(args, 'data') ?? path.join(dataRoot(), 'caltech101-subset'));
  const modelName = str(args, 'model', 'mobilenet_v1_0.75_224');
  const modelDir = path.resolve(str(args, 'model-dir') ?? process.env.PINREC_MODEL_DIR ?? path.join(process.cwd(), '../shared/models'));
  const reg = MODELS[modelName];
  const bundled = modelName === 'nsfwjs_mobilenet_v2';
  const result: Record<string, unknown> = { quick, data: dataDir, model: modelName, modelDir };
  const skips: string[] = [];
  if (!existsSync(path.join(dataDir, 'labels.csv'))) skips.push(`dataset: no labels.csv in ${dataDir}`);
  if (!bundled && !(existsSync(path.join(modelDir, 'model.json')) || (reg && existsSync(path.join(modelDir, reg.folder, 'model.json'))))) {
    skips.push(`model: ${modelName} not found under ${modelDir} (set --model-dir or PINREC_MODEL_DIR)`);
  }
  if (skips.length) {
    for (const s of skips) log(`SKIPPED embeddings benchmark — ${s}`);
    await report('embeddings', args, { ...result, skipped: skips });
    return;
  }
  const base: LoadEmbedderOptions = { model: modelName, ...(bundled ? {} : { modelDir }), download: false, fallback: false };
  const ds = readLabels(dataDir);
  const sections = (str(args, 'sections') ?? (quick ? 'throughput,quality,memory' : 'throughput,quality,memory,anchor')).split(',');
  const rng = (n: number) => Array.from({ length: n }, (_, i) => i);

  // ---------- throughput ----------
  if (sections.includes('throughput')) {
    const nImg = quick ? 24 : num(args, 'images', 256);
    // A fixed, spread-out sample of the photos: every (n / nImg)-th.
    const step = Math.max(1, Math.floor(ds.paths.length / nImg));
    const sample = rng(nImg).map((i) => ds.paths[(i * step) % ds.paths.length]);
    const batches = quick ? [8] : nums(args, 'batches', [1, 8, 16, 32]);
    const workers = quick ? [0, 2] : nums(args, 'workers', [0, 1, 2]);
    const rows: Record<string, unknown>[] = [];
    // Decode only (sharp, 4 concurrent), for context.
    const lim = resolveDecodeOptions();
    const t0 = performance.now();
    for (let i = 0; i < sample.length; i += 4) await Promise.all(sample.slice(i, i + 4).map((p) => decodeImage(p, 224, 'cover', lim)));
    const decodeRate = sample.length / ((performance.now() - t0) / 1000);
    log(`decode only: ${decodeRate.toFixed(1)} img/s`);
    const combos: { w: number; b: number; fuse: boolean }[] = [];
    for (const w of workers) for (const b of batches) combos.push({ w, b, fuse: true });
    if (!quick) combos.push({ w: Math.max(...workers), b: 16, fuse: false });
    for (const { w, b, fuse } of combos) {
      {
        const e = await loadEmbedder({ ...base, workers: w, batchSize: b, fuse });
        try {
          await e.embedBatch(sample.slice(0, Math.max(b, 2 * Math.max(1, w))));
          const t1 = performance.now();
          const r = await e.embedBatch(sample);
          const s = (performance.now() - t1) / 1000;
          rows.push({ workers: w, batch: b, fused: e.info.fused, images: sample.length, failed: r.failed.length, 'img/s': sample.length / s, 'ms/img': (1000 * s) / sample.length, backend: e.info.backend });
          log(`workers ${w} batch ${b} fused ${e.info.fused}: ${(sample.length / s).toFixed(1)} img/s`);
        } finally {
          await e.dispose();
        }
      }
    }
    printTable(rows, `Throughput, decode + inference (${modelName}, ${rows[0]?.backend})`);
    result.throughput = { decodeOnlyImgPerS: decodeRate, rows };
  }

  // ---------- anchor (PyTorch MobileNetV2, same machine, same run) ----------
  if (sections.includes('anchor') && !quick) {
    const script = path.resolve(process.cwd(), '../shared/anchors/cnn_anchor.py');
    const py = '/usr/bin/python3';
    if (!existsSync(script) || !existsSync(py)) {
      log(`SKIPPED anchor: ${script} or ${py} missing`);
      result.anchor = { skipped: 'missing script or python' };
    } else {
      log('running PyTorch anchor (mobilenet_v2, batch 1,8,32, threads 1,2)...');
      const r = spawnSync(py, [script, '--batch', '1,8,32', '--threads', '1,2', '--models', 'mobilenet_v2,mobilenet_v2_features', '--repeats', '3', '--min-time', '1'], { encoding: 'utf8', timeout: 600_000 });
      const line = r.stdout.trim().split('\n').pop() ?? '';
      try {
        const a = JSON.parse(line) as { runs: { model: string; batch: number; threads: number; img_s_best: number; img_s_median: number }[] };
        const arows = a.runs.map((x) => ({ model: x.model, batch: x.batch, threads: x.threads, 'img/s best': x.img_s_best, 'img/s median': x.img_s_median, 'ms/img median': 1000 / x.img_s_median }));
        printTable(arows, 'PyTorch anchor (random input, inference only)');
        const ours = (result.throughput as { rows: { 'img/s': number; workers: number; batch: number }[] } | undefined)?.rows ?? [];
        const bestOurs = ours.reduce((m, x) => (x['img/s'] > m['img/s'] ? x : m), { 'img/s': 0, workers: 0, batch: 0 });
        const torch2 = a.runs.filter((x) => x.threads === 2 || x.threads === 1);
        const bestTorch = (model: string) => Math.max(...torch2.filter((x) => x.model === model).map((x) => x.img_s_median));
        const ratios = {
          oursBestImgPerS: bestOurs['img/s'], oursBestAt: { workers: bestOurs.workers, batch: bestOurs.batch },
          torchMobilenetV2FullBestMedian: bestTorch('mobilenet_v2'),
          torchMobilenetV2FeaturesBestMedian: bestTorch('mobilenet_v2_features'),
          ratioVsFull: bestOurs['img/s'] / bestTorch('mobilenet_v2'),
          ratioVsFeatures: bestOurs['img/s'] / bestTorch('mobilenet_v2_features'),
        };
        printTable([ratios as unknown as Record<string, unknown>].map((x) => ({ ...x, oursBestAt: JSON.stringify(ratios.oursBestAt) })), 'Ours (decode + inference) / PyTorch (inference only)');
        result.anchor = { raw: a, ratios };
      } catch (err) {
        log(`anchor failed: ${r.stderr?.slice(-500)} ${String(err)}`);
        result.anchor = { failed: r.stderr?.slice(-2000) ?? String(err) };
      }
    }
  }

  // ---------- quality ----------
  if (sections.includes('quality')) {
    // the similarity matrices below run on this thread's TF.js engine: make sure it has a backend (the embedders
    // may run in worker threads, and features may come from the cache without any embedder)
    await initBackend();
    const k = quick ? 3 : 10;
    const idxAll = quick ? firstPerLabel(ds.labels, 4).filter((i) => ['Leopards', 'airplanes', 'ketch', 'sunflower', 'grand_piano'].includes(ds.labels[i])) : rng(ds.paths.length);
    const paths = idxAll.map((i) => ds.paths[i]);
    const labels = idxAll.map((i) => ds.labels[i]);
    const p15 = quick ? rng(paths.length) : firstPerLabel(labels, 15);
    const rest = rng(paths.length).filter((i) => !new Set(p15).has(i));
    const variants = quick ? ['plain'] : (str(args, 'variants') ?? 'plain,flip,gem').split(',');
    const cacheDir = str(args, 'features-cache');
    const workersQ = quick ? 0 : 2;
    const rows: Record<string, unknown>[] = [];
    const cats = new Set(labels).size;
    const add = (variant: string, options: string, vec: Float32Array, dim: number, fitNote = '') => {
      const full = retrievalFast(vec, dim, labels, k);
      const sub = pick(vec, dim, p15);
      const s15 = retrievalFast(sub, dim, p15.map((i) => labels[i]), k);
      rows.push({ variant, options, dim, [`P@${k} first15`]: s15.precision, [`mAP@${k} first15`]: s15.map, [`P@${k} all`]: full.precision, [`mAP@${k} all`]: full.map, whitening: fitNote });
      log(`${variant} ${options}: P@${k} first15 ${s15.precision.toFixed(4)}  all ${full.precision.toFixed(4)}`);
    };
    for (const variant of variants) {
      const opts: LoadEmbedderOptions = { ...base, workers: workersQ, batchSize: 16 };
      if (variant === 'flip') opts.flip = true;
      else if (variant === 'gem') { opts.featureLayer = 'conv_pw_13_relu'; opts.pooling = 'gem'; opts.gemP = 3; }
      else if (variant === 'max') { opts.featureLayer = 'conv_pw_13_relu'; opts.pooling = 'max'; }
      else if (variant !== 'plain') throw new Error(`unknown variant ${variant}`);
      log(`embedding ${paths.length} images (${variant})...`);
      const cacheFile = cacheDir ? path.join(cacheDir, `${modelName}-${variant}-${paths.length}.f32`) : undefined;
      const { raw, dim, failed, seconds } = await rawFeatures(opts, paths, cacheFile, log);
      if (failed) log(`  ${failed} images failed to decode`);
      const plain = l2(raw, dim);
      if (variant === 'plain' && !quick) {
        // The fast (TF.js) evaluator against the exact reference implementation on the first-15 protocol.
        const sub = pick(plain, dim, p15);
        const exact = retrievalAtK(sub, dim, p15.map((i) => labels[i]), k);
        const fast = retrievalFast(sub, dim, p15.map((i) => labels[i]), k);
        result.evaluatorCheck = { exact, fast };
      }
      add(variant, 'L2', plain, dim);
      const pn = l2(powerNormalize(raw.slice(), 0.5), dim);
      add(variant, 'power 0.5 + L2', pn, dim);
      if (!quick) {
        // (A first full run also tried whiten 1 at 128/256/512 and PCA after power 0.5: all lower; see docs.)
        const pcaGrid = (str(args, 'pca') ?? '256:0.5,128:0.5,512:0.5').split(',').map((x) => x.split(':').map(Number) as [number, number]);
        for (const [base2, name] of [[plain, 'L2']] as const) {
          for (const [d, w] of pcaGrid) {
            if (d >= dim) continue;
            // Held out: fit on the images outside the first-15 protocol; evaluate there. And unsupervised on the full set.
            const heldOut = PcaProjection.fit(pick(base2, dim, rest), dim, { dim: d, whiten: w });
            const fullFit = PcaProjection.fit(base2, dim, { dim: d, whiten: w });
            const s15 = retrievalFast(heldOut.applyBatch(pick(base2, dim, p15)), d, p15.map((i) => labels[i]), k);
            const all = retrievalFast(fullFit.applyBatch(base2), d, labels, k);
            rows.push({ variant, options: `${name} + PCA${d} whiten ${w}`, dim: d, [`P@${k} first15`]: s15.precision, [`mAP@${k} first15`]: s15.map, [`P@${k} all`]: all.precision, [`mAP@${k} all`]: all.map, whitening: 'first15: fit on the other 4,613; all: fit on all (no labels)' });
            log(`${variant} ${name} PCA${d} w${w}: first15 ${s15.precision.toFixed(4)} all ${all.precision.toFixed(4)}`);
          }
        }
      }
      rows.filter((r) => r.variant === variant).forEach((r) => { r['embed s'] = seconds; });
    }
    printTable(rows, `Retrieval by label (${cats} categories, ${paths.length} images; first15 = ${p15.length} images), cosine, query excluded`);
    result.quality = { k, images: paths.length, first15: p15.length, categories: cats, rows };
  }

  // ---------- combinations from cached features (no inference) + search-side query expansion ----------
  if (sections.includes('combine') && !quick) {
    await initBackend(); // wasm for the similarity matrices (no embedder is loaded in this section)
    const cacheDir = str(args, 'features-cache');
    const n = ds.paths.length;
    const load = (v: string): Float32Array | undefined => {
      const f = cacheDir ? path.join(cacheDir, `${modelName}-${v}-${n}.f32`) : '';
      if (!f || !existsSync(f)) return undefined;
      const b = readFileSync(f);
      return l2(new Float32Array(b.buffer, b.byteOffset, b.length / 4).slice(), 768);
    };
    const want = (str(args, 'combine-features') ?? 'plain,flip,gem').split(',');
    const feats: Record<string, Float32Array | undefined> = Object.fromEntries(want.map((v) => [v, load(v)]));
    const labels = ds.labels;
    const p15 = firstPerLabel(labels, 15);
    const set15 = new Set(p15);
    const rest = rng(n).filter((i) => !set15.has(i));
    const l15 = p15.map((i) => labels[i]);
    const rows: Record<string, unknown>[] = [];
    const cands: [string, Float32Array, number][] = [];
    for (const [k, v] of Object.entries(feats)) if (v) cands.push([k, v, 768]);
    if (feats.flip && feats.gem && want.includes('concat')) {
      // Concatenate the two L2-normalised descriptors (1536-d), then L2.
      const c = new Float32Array(n * 1536);
      for (let i = 0; i < n; i++) { c.set(feats.flip.subarray(i * 768, (i + 1) * 768), i * 1536); c.set(feats.gem.subarray(i * 768, (i + 1) * 768), i * 1536 + 768); }
      cands.push(['flip+gem concat', l2(c, 1536), 1536]);
    }
    /** αQE (Radenović et al.): new query = normalise(Σ_{j≤nQE} sim_j^α x_j) over its top nQE neighbours incl. itself. */
    const alphaQe = (vec: Float32Array, dim: number, m: number, nQe: number, alpha: number): Float32Array => {
      const X = tf.tensor2d(vec, [m, dim]);
      const out = tf.tidy(() => {
        const sims = tf.matMul(X, X, false, true);
        const { values, indices } = tf.topk(sims, nQe);
        const w = tf.pow(tf.relu(values), alpha);
        const g = tf.reshape(tf.gather(X, tf.reshape(indices, [-1])), [m, nQe, dim]);
        return tf.sum(tf.mul(g, tf.expandDims(w, 2)), 1);
      });
      const r = out.dataSync() as Float32Array;
      X.dispose(); out.dispose();
      return l2(r.slice(), dim);
    };
    for (const [name, vec, dim] of cands) {
      const grid = (str(args, 'combine-grid') ?? '0:0,256:0.5,512:0.5').split(',').map((x) => x.split(':').map(Number) as [number, number]);
      for (const [d, w] of grid) {
        let v15: Float32Array, vAll: Float32Array, od = dim;
        if (d === 0) { v15 = pick(vec, dim, p15); vAll = vec; }
        else {
          const held = PcaProjection.fit(pick(vec, dim, rest), dim, { dim: d, whiten: w });
          const full = PcaProjection.fit(vec, dim, { dim: d, whiten: w });
          v15 = held.applyBatch(pick(vec, dim, p15)); vAll = full.applyBatch(vec); od = d;
        }
        const opt = d === 0 ? 'L2' : `L2 + PCA${d} whiten ${w}`;
        const a = retrievalFast(v15, od, l15, 10), b = retrievalFast(vAll, od, labels, 10);
        rows.push({ features: name, options: opt, 'search-side': '', dim: od, 'P@10 first15': a.precision, 'mAP@10 first15': a.map, 'P@10 all': b.precision, 'mAP@10 all': b.map });
        log(`${name} ${opt}: first15 ${a.precision.toFixed(4)} all ${b.precision.toFixed(4)}`);
        for (const [nq, al] of (str(args, 'qe') ?? '3:3,5:3').split(',').map((x) => x.split(':').map(Number) as [number, number])) {
          // Database-side augmentation + αQE over the evaluated set (search-side; needs the neighbours of every item).
          const q15 = alphaQe(v15, od, p15.length, nq, al), qAll = alphaQe(vAll, od, n, nq, al);
          const a2 = retrievalFast(q15, od, l15, 10), b2 = retrievalFast(qAll, od, labels, 10);
          rows.push({ features: name, options: opt, 'search-side': `DBA/αQE n=${nq} α=${al}`, dim: od, 'P@10 first15': a2.precision, 'mAP@10 first15': a2.map, 'P@10 all': b2.precision, 'mAP@10 all': b2.map });
          log(`${name} ${opt} αQE${nq}: first15 ${a2.precision.toFixed(4)} all ${b2.precision.toFixed(4)}`);
        }
      }
    }
    printTable(rows, 'Option combinations from cached features (P@10 / mAP@10 by label, cosine, query excluded)');
    result.combine = { rows };
  }

  // ---------- supervised embedding heads ----------
  if (sections.includes('head')) {
    await initBackend();
    result.head = await headSection(args, ds, base, quick, log);
    Object.assign(result, pickTargets(result.head as HeadResult));
  }

  // ---------- memory ----------
  if (sections.includes('memory')) {
    const total = quick ? 64 : num(args, 'memory-images', 10_000);
    const chunk = quick ? 16 : 500;
    const e: Embedder = await loadEmbedder({ ...base, workers: quick ? 1 : 2, batchSize: 16 });
    const series: Record<string, unknown>[] = [];
    try {
      const t0 = performance.now();
      series.push({ images: 0, rssMb: rssMb(), heapMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20), tensors: await e.liveTensors(), s: 0 });
      for (let done = 0; done < total; done += chunk) {
        const paths = rng(Math.min(chunk, total - done)).map((i) => ds.paths[(done + i) % ds.paths.length]);
        await e.embedBatch(paths);
        const d = done + paths.length;
        if (d % (quick ? 32 : 1000) === 0 || d === total) {
          series.push({ images: d, rssMb: rssMb(), heapMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20), tensors: await e.liveTensors(), s: (performance.now() - t0) / 1000 });
          log(`  ${d} images, RSS ${rssMb()} MB`);
        }
      }
    } finally {
      await e.dispose();
    }
    printTable(series, `Memory over ${total} images (workers ${quick ? 1 : 2}, batch 16; RSS of the whole process incl. worker threads)`);
    result.memory = { total, series };
  }

  plotEmbeddings(result, modelName);
  await report('embeddings', args, result);
}

/** Seeded shuffle (Fisher–Yates). */
function shuffled<T>(a: readonly T[], rng: Rng): T[] {
  const o = a.slice();
  for (let i = o.length - 1; i > 0; i--) { const j = rng.int(i + 1); [o[i], o[j]] = [o[j], o[i]]; }
  return o;
}

interface HeadResult {
  protocol: Record<string, unknown>;
  rows: Record<string, unknown>[];
  /** The method the target figures are of: the library's default, {@link DEFAULT_HEAD_METHOD}. */
  headMethod: HeadMethod;
  headP10Seen: number; baseP10Seen: number; headP10Unseen: number; baseP10Unseen: number;
  methods: Record<string, { p10Seen: number; p10Unseen: number; trainSecondsSeen: number; trainSecondsUnseen: number; dim: number; fitSeen: unknown; fitUnseen: unknown; targetSeenMet: boolean; noLossUnseen: boolean }>;
}

/** The targets' figures: the library's default method (fitted without naming a method), whatever else was run. */
function pickTargets(h: HeadResult) {
  return { headMethod: h.headMethod, headP10Seen: h.headP10Seen, baseP10Seen: h.baseP10Seen, headP10Unseen: h.headP10Unseen, baseP10Unseen: h.baseP10Unseen };
}

/**
 * Heads learned from labels on top of the frozen features (the embedder's default output: L2-normalised pooled
 * MobileNet features), evaluated by label P@10 (cosine, leave-one-out among the evaluation images):
 * (a) seen classes: each class's images are split 50/50 (seeded) into training and evaluation images;
 * (b) unseen classes: the classes are split 50/50 (seeded); train on one half's images, evaluate on the other's.
 * Classes with fewer than 20 images are left out. Every fit uses the library defaults (seed 0); nothing here is
 * chosen by looking at evaluation images (the proxy head's early stopping and the gaussian head's settings use
 * splits of their training images only). The reported targets are of the library's default method, fitted
 * without naming a method.
 */
async function headSection(args: Args, ds: Dataset, base: LoadEmbedderOptions, quick: boolean, log: (s: string) => void): Promise<HeadResult> {
  const k = 10;
  const rng = new Rng(0);
  const byClass = new Map<string, number[]>();
  ds.labels.forEach((l, i) => { const a = byClass.get(l) ?? []; a.push(i); byClass.set(l, a); });
  let classes = [...byClass.keys()].filter((c) => byClass.get(c)!.length >= 20).sort();
  const perClassQuick = 24;
  if (quick) classes = shuffled(classes.filter((c) => byClass.get(c)!.length >= perClassQuick), rng.fork()).slice(0, 16).sort();
  const members = new Map(classes.map((c) => [c, quick ? shuffled(byClass.get(c)!, rng.fork()).slice(0, perClassQuick).sort((a, b) => a - b) : byClass.get(c)!]));
  const idx = classes.flatMap((c) => members.get(c)!).sort((a, b) => a - b);
  const paths = idx.map((i) => ds.paths[i]);
  const labels = idx.map((i) => ds.labels[i]);
  log(`head: embedding ${paths.length} images of ${classes.length} classes once (features kept in memory)...`);
  const cacheDir = str(args, 'features-cache');
  const modelName = base.model ?? 'mobilenet_v1_0.75_224';
  const cacheFile = cacheDir ? path.join(cacheDir, `${modelName}-head-${quick ? 'quick-' : ''}${paths.length}.f32`) : undefined;
  const { raw, dim, failed, seconds } = await rawFeatures({ ...base, workers: quick ? 1 : 2, batchSize: 16 }, paths, cacheFile, log);
  if (failed) log(`  ${failed} images failed to decode (kept as zero rows; they count as misses)`);
  // The unsupervised pipeline: the embedder's default output (power norm 1, L2, no projection) = the head's input.
  const feats = l2(raw, dim);
  const pos = new Map(idx.map((i, r) => [i, r]));
  const rowsOf = (ids: number[]) => ids.map((i) => pos.get(i)!);
  // (a) seen: per class 50/50.
  const trainSeen: number[] = [], evalSeen: number[] = [];
  for (const c of classes) {
    const m = shuffled(members.get(c)!, rng.fork());
    const h = Math.floor(m.length / 2);
    trainSeen.push(...m.slice(0, h)); evalSeen.push(...m.slice(h));
  }
  // (b) unseen: classes 50/50.
  const cs = shuffled(classes, rng.fork());
  const trainClasses = new Set(cs.slice(0, Math.floor(cs.length / 2)));
  const trainUnseen = idx.filter((i) => trainClasses.has(ds.labels[i]));
  const evalUnseen = idx.filter((i) => !trainClasses.has(ds.labels[i]));
  const setups = {
    seen: { train: rowsOf(trainSeen.sort((a, b) => a - b)), evaluate: rowsOf(evalSeen.sort((a, b) => a - b)) },
    unseen: { train: rowsOf(trainUnseen), evaluate: rowsOf(evalUnseen) },
  };
  const p10 = (vec: Float32Array, d: number, rows: number[]) => retrievalFast(vec, d, rows.map((r) => labels[r]), k).precision;
  const baseSeen = p10(pick(feats, dim, setups.seen.evaluate), dim, setups.seen.evaluate);
  const baseUnseen = p10(pick(feats, dim, setups.unseen.evaluate), dim, setups.unseen.evaluate);
  const rows: Record<string, unknown>[] = [
    { method: 'unsupervised (embedder default)', dim, 'P@10 seen': baseSeen, 'P@10 unseen': baseUnseen, 'Δ seen': 0, 'Δ unseen': 0, 'train s seen': 0, 'train s unseen': 0, notes: `${dim}-d L2-normalised ${modelName} features` },
  ];
  log(`unsupervised: P@10 seen ${baseSeen.toFixed(4)}  unseen ${baseUnseen.toFixed(4)}`);
  const methods: HeadResult['methods'] = {};
  const wanted = (str(args, 'head-methods') ?? 'lda,proxy,gaussian').split(',') as HeadMethod[];
  if (!wanted.includes(DEFAULT_HEAD_METHOD)) wanted.push(DEFAULT_HEAD_METHOD);
  for (const method of wanted) {
    // The default method is fitted exactly as a user would: without naming it.
    const opts: HeadFitOptions = method === DEFAULT_HEAD_METHOD ? { seed: 0 } : { method, seed: 0 };
    const run = async (which: 'seen' | 'unseen') => {
      const s = setups[which];
      const t0 = performance.now();
      let lastLog = 0;
      const head = await fitHead(pick(feats, dim, s.train), s.train.map((r) => labels[r]), {
        ...opts, onProgress: (p) => { if (p.done - lastLog >= 10) { lastLog = p.done; log(`  ${method} ${which}: epoch ${p.done}`); } },
      });
      const secs = (performance.now() - t0) / 1000;
      if (head.method !== method) throw new Error(`head: fitted ${head.method}, expected ${method}`);
      const p = p10(head.applyBatch(pick(feats, dim, s.evaluate)), head.dim, s.evaluate);
      log(`${method} (${which}): P@10 ${p.toFixed(4)}, ${head.dim}-d, trained in ${secs.toFixed(1)} s ${JSON.stringify(head.fitInfo)}`);
      return { p, secs, head };
    };
    const a = await run('seen');
    const b = await run('unseen');
    methods[method] = {
      p10Seen: a.p, p10Unseen: b.p, trainSecondsSeen: a.secs, trainSecondsUnseen: b.secs, dim: a.head.dim, fitSeen: a.head.fitInfo, fitUnseen: b.head.fitInfo,
      targetSeenMet: a.p - baseSeen >= 0.10, noLossUnseen: b.p >= baseUnseen,
    };
    const fi = a.head.fitInfo, fu = b.head.fitInfo;
    const setting = (f: typeof fi) => `s ${f.shrinkage?.toFixed(3)}${f.shrinkageRule === 'ledoit-wolf' ? ' (LW)' : ''}, T ${f.temperature}, β ${f.blend}`;
    const val = (f: typeof fi) => f.selection?.by === 'validation'
      ? `val P@10 new ${f.selection.newClass?.toFixed(3)} vs ${f.selection.baseNewClass?.toFixed(3)}, same ${f.selection.sameClass?.toFixed(3)} vs ${f.selection.baseSameClass?.toFixed(3)}`
      : String(f.selection?.by);
    rows.push({
      method: method === DEFAULT_HEAD_METHOD ? `${method} (default)` : method, dim: a.head.dim === b.head.dim ? a.head.dim : `${a.head.dim} / ${b.head.dim}`, 'P@10 seen': a.p, 'P@10 unseen': b.p, 'Δ seen': a.p - baseSeen, 'Δ unseen': b.p - baseUnseen, 'train s seen': a.secs, 'train s unseen': b.secs,
      notes: method === 'lda' ? `Ledoit–Wolf shrinkage ${fi.shrinkage?.toFixed(3)} (seen) / ${fu.shrinkage?.toFixed(3)} (unseen)`
        : method === 'gaussian' ? `seen: ${setting(fi)}; ${val(fi)} | unseen: ${setting(fu)}; ${val(fu)}`
          : `best epoch ${fi.bestEpoch}/${fi.epochsRun} (seen), ${fu.bestEpoch}/${fu.epochsRun} (unseen); T ${fi.temperature}`,
    });
  }
  printTable(rows, `Embedding heads learned from labels (P@${k} by label, cosine, leave-one-out among evaluation images; seen: ${setups.seen.train.length} train / ${setups.seen.evaluate.length} eval images of ${classes.length} classes; unseen: train ${trainClasses.size} classes (${setups.unseen.train.length} images), eval ${classes.length - trainClasses.size} other classes (${setups.unseen.evaluate.length} images))`);
  const trained = methods[DEFAULT_HEAD_METHOD];
  return {
    protocol: {
      k, classes: classes.length, images: paths.length, failed, embedSeconds: seconds, minImagesPerClass: 20, quickImagesPerClass: quick ? perClassQuick : undefined,
      seen: { train: setups.seen.train.length, evaluate: setups.seen.evaluate.length }, unseen: { trainClasses: trainClasses.size, train: setups.unseen.train.length, evaluate: setups.unseen.evaluate.length },
      seed: 0, target: '+0.10 P@10 on seen classes, no loss on unseen classes',
    },
    rows,
    headMethod: DEFAULT_HEAD_METHOD,
    headP10Seen: trained?.p10Seen ?? NaN, baseP10Seen: baseSeen, headP10Unseen: trained?.p10Unseen ?? NaN, baseP10Unseen: baseUnseen,
    methods,
  };
}

/** Throughput against batch size and against workers, retrieval quality per option, memory over images. */
function plotEmbeddings(result: Record<string, unknown>, modelName: string): void {
  const tp = result.throughput as { decodeOnlyImgPerS: number; rows: Row[] } | undefined;
  if (tp?.rows.length) {
    const rows: Row[] = tp.rows.map((r) => ({ ...r, workersLabel: `${r.workers} worker${r.workers === 1 ? '' : 's'}${r.fused ? '' : ' (not fused)'}`, batchLabel: `batch ${r.batch}${r.fused ? '' : ' (not fused)'}` }));
    const sub = `${modelName}, decode + inference, ${String(rows[0].backend)}; decode alone ${tp.decodeOnlyImgPerS.toFixed(0)} img/s`;
    addPlot('throughput-batch', 'Throughput against batch size', lineChart(rows, {
      title: 'Images per second against batch size', subtitle: sub, x: { field: 'batch', title: 'batch size' }, y: { field: 'img/s', title: 'images per second', zero: true }, color: { field: 'workersLabel', title: '' },
    }));
    addPlot('throughput-workers', 'Throughput against worker threads', lineChart(rows, {
      title: 'Images per second against worker threads', subtitle: sub + '; 0 workers = the calling thread', x: { field: 'workers', title: 'worker threads', type: 'ordinal' }, y: { field: 'img/s', title: 'images per second', zero: true }, color: { field: 'batchLabel', title: '' },
    }));
  }
  const q = result.quality as { k: number; rows: Row[]; images: number; categories: number } | undefined;
  if (q?.rows.length) {
    const k = q.k;
    addPlot('quality', 'Retrieval by label per option', barChart(
      melt(q.rows.map((r) => ({ ...r, label: `${r.variant} · ${r.options}` })), { columns: { [`P@${k} first15`]: `P@${k} first15`, [`mAP@${k} first15`]: `mAP@${k} first15`, [`P@${k} all`]: `P@${k} all`, [`mAP@${k} all`]: `mAP@${k} all` }, keep: ['label'], key: 'metric' }),
      { title: `Retrieval by label, P@${k} and mAP@${k}`, subtitle: `${q.images} images, ${q.categories} categories, cosine, query excluded`, category: { field: 'label', title: '' }, value: { field: 'value', title: '' }, color: 'metric' },
    ));
  }
  const h = result.head as HeadResult | undefined;
  if (h?.rows.length) {
    addPlot('head', 'Embedding heads: P@10 on seen and unseen classes', barChart(
      melt(h.rows.map((r) => ({ ...r })), { columns: { 'seen classes (held-out images)': 'P@10 seen', 'unseen classes': 'P@10 unseen' }, keep: ['method'], key: 'evaluation' }),
      { title: 'P@10 by label with a head learned from labels', subtitle: `${String(h.protocol.classes)} classes; unsupervised = the embedder's default output`, category: { field: 'method', title: '' }, value: { field: 'value', title: 'P@10' }, color: 'evaluation' },
    ));
  }
  const m = result.memory as { total: number; series: Row[] } | undefined;
  if (m?.series.length) {
    addPlot('memory', 'Memory over images embedded', lineChart(melt(m.series, { columns: { 'RSS (MB)': 'rssMb', 'JS heap (MB)': 'heapMb' }, keep: ['images'], key: 'measure' }), {
      title: `Memory while embedding ${m.total.toLocaleString('en-US')} images`, subtitle: 'the whole process, worker threads included; flat is good',
      x: { field: 'images', title: 'images embedded' }, y: { field: 'value', title: 'MB', zero: true }, color: 'measure',
    }));
  }
}
