/**
 * Collaborative-filtering benchmark.
 *
 *   npm run bench -- cf [--data FILE --format seq|ratings-csv|arrow] [--factors 64,128] [--scoring ease,puresvd]
 *                       [--lambda auto,200] [--order off|auto] [--max-users N] [--kernels auto|native|js,…] [--json] [--out FILE] [--quick]
 *   npm run bench -- cf --synthetic [--nnz 1000000,5000000,20000000] [--factors 64]     fit time + memory curve
 *   npm run bench -- cf --anchor [--data FILE | --synthetic-matrix] --factors 64,100      side by side with sklearn/scipy
 *   npm run bench -- cf --latency [--items 1000000] [--factors 64]                         recommend latency, 1M pins
 *   npm run bench -- cf --live [--sections order,shuffled,popularity,replay,updates]   order-aware scoring, updates, popularity (see cf-live.ts)
 *   npm run bench -- cf --demo [--data FILE]     the README's demo: a seeded synthetic catalogue (or FILE), fit, evaluate, recommend
 *
 * Quality: leave-last-out (last item of each user held out), full ranking over all pins with training pins
 * excluded, HR@10 and NDCG@10, the protocol of ../shared/anchors/cf_seq_quality.py. Without --data it uses
 * $PINREC_DATA/amazon-sports (and says so when that is missing).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SvdRecommender, evaluate, leaveLastOut, readArrowFile, readRatingsCsv, readSequenceFile, randomizedSvd,
  syntheticInteractions, type InteractionLog, type InteractionMatrix, type Scoring,
} from '../src/cf/index.js';
import { live } from './cf-live.js';
import { nativeInfo, type KernelChoice } from '../src/native/index.js';
import { benchFile, dataRoot, num, nums, parseArgs, peakRssMb, printTable, report, runnerArgs, since, stats, str, type Args } from './lib.js';
import { addPlot, barChart, dotChart, lineChart, melt, PERCENTILE_COLORS, type Row } from './report.js';

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['synthetic', 'anchor', 'latency', 'synthetic-matrix', 'help', 'demo', 'live']);
  if (args.help) {
    console.log((await import('node:fs')).readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
    return;
  }
  if (typeof args['synthetic-one'] === 'string') return syntheticOne(args);
  if (args.synthetic) {
    const results = await syntheticCurve(args);
    plotScale(results);
    await report('cf-synthetic', args, { mode: 'synthetic', results });
    return;
  }
  if (args.anchor) return anchorCompare(args);
  if (args.latency) return latency(args);
  if (args.demo) return demo(args);
  if (args.live) return live(args);
  return quality(args);
}

async function loadLog(file: string, format: string): Promise<InteractionLog> {
  if (format === 'seq') return readSequenceFile(file);
  if (format === 'ratings-csv') return readRatingsCsv(file, { minRating: 0 });
  if (format === 'arrow') return readArrowFile(file);
  throw new Error(`--format must be seq, ratings-csv or arrow (got ${format})`);
}

function defaultData(): string | undefined {
  const f = path.join(dataRoot(), 'amazon-sports', 'Sports_and_Outdoors.txt');
  return existsSync(f) ? f : undefined;
}

async function quality(args: Args): Promise<void> {
  const quick = !!args.quick;
  const file = str(args, 'data') ?? defaultData();
  if (!file) {
    console.log(`SKIPPED cf quality: no --data given and ${path.join(dataRoot(), 'amazon-sports')} is missing (set PINREC_DATA).`);
    const synthetic = quick ? await syntheticCurve({ ...args, nnz: '200000' }) : undefined;
    if (synthetic) plotScale(synthetic);
    await report('cf', args, { mode: 'quality', skipped: 'dataset missing', synthetic });
    return;
  }
  const format = str(args, 'format') ?? (file.endsWith('.csv') ? 'ratings-csv' : file.endsWith('.arrow') ? 'arrow' : 'seq');
  const factorsList = nums(args, 'factors', quick ? [32] : [64, 128, 256]);
  const scorings = (str(args, 'scoring') ?? 'puresvd,ease').split(',') as Scoring[];
  const lambdas: (number | 'auto')[] = (str(args, 'lambda') ?? 'auto').split(',').map((x) => (x === 'auto' ? 'auto' : Number(x)));
  const maxUsers = args['max-users'] !== undefined ? num(args, 'max-users', 0) : quick ? 1500 : undefined;
  const nIter = args['n-iter'] !== undefined ? num(args, 'n-iter', 5) : 'auto';
  let t0 = performance.now();
  const log = await loadLog(file, format);
  // Binary matrix for sequence data (as the anchors do); summed weights otherwise.
  const split = leaveLastOut(log, { by: format === 'seq' ? 'order' : 'timestamp', combine: format === 'seq' ? 'max' : 'sum' });
  const loadSeconds = since(t0);
  const X = split.train;
  const rows: Record<string, unknown>[] = [];
  // plain scoring unless asked: the tables of the README were made that way (`--order auto` for the default)
  const order = (str(args, 'order') ?? 'off') as 'off' | 'auto';
  if (order !== 'off' && order !== 'auto') throw new Error(`--order must be off or auto (got ${order})`);
  // --kernels native,js: the same fits and evaluations on each path (identical metrics; the times differ)
  const kernelsList = (str(args, 'kernels') ?? 'auto').split(',') as KernelChoice[];
  for (const kernels of kernelsList) for (const factors of factorsList) {
    for (const scoring of scorings) {
      for (const lambda of scoring === 'ease' ? lambdas : (['auto'] as const)) {
        t0 = performance.now();
        const model = new SvdRecommender({ factors, scoring, lambda, nIter: nIter as number | 'auto', order, kernels }).fit(X);
        const fitSeconds = since(t0);
        t0 = performance.now();
        const m = evaluate(model, split, { k: 10, maxUsers });
        const evalSeconds = since(t0);
        rows.push({
          dataset: path.basename(file), kernels: model.kernels.scoring, users: X.nUsers, items: X.nItems, nnz: X.nnz, factors, scoring, order: order === 'auto' ? JSON.stringify(model.order) : 'off',
          lambda: scoring === 'ease' ? (lambda === 'auto' ? `auto=${model.lambda.toFixed(0)}` : lambda) : undefined, fitSeconds, evalSeconds, evalUsers: m.users,
          hr10: m.hr, ndcg10: m.ndcg, mrr: m.mrr, coverage10: m.coverage, peakRssMb: peakRssMb(),
        });
        printTable([rows[rows.length - 1]]);
      }
    }
  }
  printTable(rows, `cf quality (leave-last-out, full ranking; load+split ${loadSeconds.toFixed(2)} s)`);
  // --quick also runs a small point of the synthetic fit-time curve (reported under `synthetic`)
  const synthetic = quick ? await syntheticCurve({ ...args, nnz: '200000' }) : undefined;
  plotQuality(rows, path.basename(file));
  if (synthetic) plotScale(synthetic);
  await report('cf', args, { mode: 'quality', dataset: path.basename(file), loadSeconds, results: rows, synthetic });
}

/** Quality against factors, one line per scoring (and λ, kernels when several), HR@10 solid and NDCG@10 dashed. */
function plotQuality(rows: Row[], dataset: string): void {
  const multiKernels = new Set(rows.map((r) => r.kernels)).size > 1;
  const labelled = rows.map((r) => ({
    ...r,
    model: [r.scoring, r.lambda !== undefined ? `λ ${r.lambda}` : '', multiKernels ? String(r.kernels) : ''].filter(Boolean).join(' '),
  }));
  addPlot('quality-factors', `Quality against factors (${dataset}, leave-last-out, full ranking)`, lineChart(
    melt(labelled, { columns: { 'HR@10': 'hr10', 'NDCG@10': 'ndcg10' }, keep: ['model', 'factors'], key: 'metric' }),
    { title: 'HR@10 and NDCG@10 against factors', subtitle: dataset, x: { field: 'factors', title: 'factors (k)' }, y: { field: 'value', title: 'HR@10 (solid), NDCG@10 (dashed)' }, color: { field: 'model', title: 'scoring' }, dash: 'metric' },
  ));
  addPlot('fit-seconds', `Fit time against factors (${dataset})`, lineChart(labelled, {
    title: 'Fit time against factors', subtitle: dataset, x: { field: 'factors', title: 'factors (k)' }, y: { field: 'fitSeconds', title: 'fit seconds', zero: true }, color: { field: 'model', title: 'scoring' },
  }));
}

/** The synthetic scale curve: fit time and peak RSS against non-zeros (log–log). */
function plotScale(rows: Row[]): void {
  const data = rows.map((r) => ({ ...r, fit: 'PureSVD fit', series: `${r.factors} factors` }));
  addPlot('scale-fit-seconds', 'Fit time against non-zeros (synthetic, fresh process per size)', lineChart(data, {
    title: 'Fit time against non-zeros', subtitle: 'synthetic power-law interactions, PureSVD fit, one process per size',
    x: { field: 'nnz', title: 'non-zeros', log: true, format: '~s' }, y: { field: 'fitSeconds', title: 'fit seconds', log: true }, color: { field: 'series', title: '' },
  }));
  addPlot('scale-peak-rss', 'Peak RSS against non-zeros (synthetic)', lineChart(data, {
    title: 'Peak RSS against non-zeros', subtitle: 'whole process, after building the matrix and fitting',
    x: { field: 'nnz', title: 'non-zeros', log: true, format: '~s' }, y: { field: 'peakRssMb', title: 'peak RSS (MB)', log: true }, color: { field: 'series', title: '' },
  }));
}

/** Fit-time and memory curve over growing synthetic matrices, each size in a fresh process (clean peak RSS). */
async function syntheticCurve(args: Args): Promise<Record<string, unknown>[]> {
  const sizes = nums(args, 'nnz', args.quick ? [200_000] : [1_000_000, 5_000_000, 20_000_000]);
  const factors = num(args, 'factors', 64);
  const rows: Record<string, unknown>[] = [];
  for (const nnz of sizes) {
    const r = spawnSync(process.execPath, [...runnerArgs(), 'cf', '--synthetic-one', String(nnz), '--factors', String(factors)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`synthetic run for nnz=${nnz} failed:\n${r.stderr}`);
    rows.push(JSON.parse(r.stdout.trim().split('\n').pop()!));
  }
  printTable(rows, `cf synthetic scale (power-law users and pins, seed mix of interaction types, ${factors} factors, PureSVD fit)`);
  return rows;
}

async function syntheticOne(args: Args): Promise<void> {
  const events = Number(args['synthetic-one']);
  const factors = num(args, 'factors', 64);
  // Users and pins grow with the data: ~20 events per user, ~50 per pin.
  const users = Math.max(1000, Math.round(events / 20));
  const items = Math.max(500, Math.round(events / 50));
  let t0 = performance.now();
  const log = syntheticInteractions({ users, items, events, seed: 1 });
  const X = log.toMatrix();
  const buildSeconds = since(t0);
  t0 = performance.now();
  const model = new SvdRecommender({ factors, scoring: 'puresvd' }).fit(X);
  const fitSeconds = since(t0);
  void model;
  // internal child of syntheticCurve (not a user-facing mode): its one stdout line is read by the parent
  console.log(JSON.stringify({ events, users: X.nUsers, items: X.nItems, nnz: X.nnz, factors, buildSeconds, fitSeconds, peakRssMb: peakRssMb() }));
}

/** Our randomized SVD against scikit-learn randomized_svd and scipy svds on the same matrix, in one run. */
async function anchorCompare(args: Args): Promise<void> {
  const python = str(args, 'python', '/usr/bin/python3');
  const ks = nums(args, 'factors', args.quick ? [16] : [64, 100]);
  const repeats = num(args, 'repeats', args.quick ? 1 : 3);
  let X: InteractionMatrix;
  let name: string;
  const file = str(args, 'data');
  if (args['synthetic-matrix'] || !file) {
    const events = num(args, 'events', args.quick ? 100_000 : 2_300_000);
    const users = num(args, 'users', args.quick ? 5000 : 50_000);
    const items = num(args, 'items', args.quick ? 2000 : 20_000);
    X = syntheticInteractions({ users, items, events, seed: 1 }).toMatrix();
    name = `synthetic ${users}x${items}`;
  } else {
    X = leaveLastOut(await loadLog(file, str(args, 'format', 'seq')), { by: 'order', combine: 'max' }).train;
    name = path.basename(file);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-anchor-'));
  const mfile = path.join(dir, 'matrix.txt');
  const lines: string[] = [];
  const { indptr, indices, data } = X.csr;
  for (let r = 0; r < X.nUsers; r++) for (let p = indptr[r]; p < indptr[r + 1]; p++) lines.push(`${r} ${indices[p]} ${data[p]}`);
  writeFileSync(mfile, lines.join('\n') + '\n');
  const rows: Record<string, unknown>[] = [];
  for (const k of ks) {
    const py = spawnSync(python, [benchFile('anchors/svd_compare.py'), mfile, String(k), String(repeats)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (py.status !== 0) {
      console.log(`SKIPPED anchor comparison: ${python} could not run scikit-learn/scipy (${(py.stderr || py.error?.message || '').trim().split('\n').pop()})`);
      break;
    }
    const ref = JSON.parse(py.stdout.trim().split('\n').pop()!);
    const exact: number[] = ref.svds.s;
    for (const nIter of args.quick ? [4, 7] : [4, 5, 7, 10, 14]) {
      let best = Infinity;
      let s: Float64Array = new Float64Array(0);
      let kernels = '';
      for (let rep = 0; rep < repeats; rep++) {
        const t0 = performance.now();
        const r = randomizedSvd(X.csr, k, { nIter, seed: rep });
        best = Math.min(best, since(t0));
        s = r.s;
        kernels = r.kernels;
      }
      const top = Math.min(64, k);
      let maxRel = 0, sumOurs = 0, sumExact = 0;
      for (let c = 0; c < top; c++) { maxRel = Math.max(maxRel, Math.abs(s[c] - exact[c]) / exact[c]); }
      for (let c = 0; c < k; c++) { sumOurs += s[c]; sumExact += exact[c]; }
      const fastest = Math.min(ref['randomized_svd_5'].seconds, ref.svds.seconds);
      rows.push({
        matrix: name, nnz: X.nnz, k, method: `pinrec nIter=${nIter} (${kernels})`, seconds: best, vsFastest: best / fastest,
        maxRelErrTop64: maxRel, sumSigmaVsSvds: sumOurs / sumExact,
      });
    }
    for (const key of ['randomized_svd_5', 'randomized_svd_auto', 'svds']) {
      const sr: number[] = ref[key].s;
      let maxRel = 0, sum = 0, sumExact = 0;
      for (let c = 0; c < Math.min(64, k); c++) maxRel = Math.max(maxRel, Math.abs(sr[c] - exact[c]) / exact[c]);
      for (let c = 0; c < k; c++) { sum += sr[c]; sumExact += exact[c]; }
      rows.push({ matrix: name, nnz: X.nnz, k, method: key.replace('_', ' '), seconds: ref[key].seconds, vsFastest: undefined, maxRelErrTop64: maxRel, sumSigmaVsSvds: sum / sumExact });
    }
  }
  rmSync(dir, { recursive: true, force: true });
  // Matched accuracy: per k, the fastest pinrec setting and the fastest reference whose top-64 singular
  // values are all within 1% of svds (svds itself always qualifies).
  const matched: Record<string, unknown>[] = [];
  for (const k of ks) {
    const ok = rows.filter((r) => r.k === k && (r.maxRelErrTop64 as number) <= 0.01);
    const ours = ok.filter((r) => String(r.method).startsWith('pinrec')).sort((a, b) => (a.seconds as number) - (b.seconds as number))[0];
    const refs = ok.filter((r) => !String(r.method).startsWith('pinrec')).sort((a, b) => (a.seconds as number) - (b.seconds as number))[0];
    if (ours && refs) matched.push({ matrix: name, k, pinrec: ours.method, pinrecSeconds: ours.seconds, reference: refs.method, referenceSeconds: refs.seconds, ratio: (ours.seconds as number) / (refs.seconds as number) });
  }
  if (matched.length > 0) printTable(matched, 'at matched accuracy (every top-64 singular value within 1% of svds): fastest of each side');
  printTable(rows, `truncated SVD side by side (best of ${repeats}; vsFastest = our seconds / faster of sklearn randomized_svd(n_iter=5) and scipy svds)`);
  addPlot('svd-seconds', 'Truncated SVD time per method', barChart(rows.map((r) => ({ ...r, kLabel: `k = ${r.k}` })), {
    title: `Truncated SVD time (${name}, best of ${repeats})`, category: { field: 'method', title: '' }, value: { field: 'seconds', title: 'seconds' }, color: { field: 'kLabel', title: 'rank' },
  }));
  addPlot('svd-accuracy', 'Largest relative error of the top singular values per method', dotChart(rows.filter((r) => (r.maxRelErrTop64 as number) > 0).map((r) => ({ ...r, kLabel: `k = ${r.k}` })), {
    title: 'Largest relative error of the top-64 singular values vs scipy svds', subtitle: 'svds itself (error 0) is left out; log scale',
    category: { field: 'method', title: '' }, value: { field: 'maxRelErrTop64', title: 'max relative error', log: true }, color: { field: 'kLabel', title: 'rank' },
  }));
  await report('cf-anchor', args, { mode: 'anchor', results: rows, matched });
}

/**
 * Brute-force recommend latency over a large catalogue, on the native kernels and (unless --kernels says
 * otherwise) the JavaScript ones, beside numpy's sgemv + argpartition over a matrix of the same shape and the
 * machine's single-thread read bandwidth (benchmarks/anchors/topk_compare.py, when /usr/bin/python3 has numpy).
 */
async function latency(args: Args): Promise<void> {
  const items = num(args, 'items', args.quick ? 50_000 : 1_000_000);
  const factors = num(args, 'factors', 64);
  const users = num(args, 'users', args.quick ? 5_000 : 100_000);
  const events = num(args, 'events', items * 3);
  const calls = num(args, 'calls', args.quick ? 20 : 200);
  const choices = str(args, 'kernels', nativeInfo().available ? 'native,js' : 'js').split(',') as KernelChoice[];
  const X = syntheticInteractions({ users, items, events, seed: 2 }).toMatrix();
  const rows: Record<string, unknown>[] = [];
  for (const kernels of choices) {
    let t0 = performance.now();
    const model = new SvdRecommender({ factors, scoring: 'puresvd', order: 'off', kernels }).fit(X);
    const fitSeconds = since(t0);
    const ids = model.userIds();
    model.recommend(ids[0], { n: 20 });
    const samples: number[] = [];
    for (let i = 0; i < calls; i++) {
      t0 = performance.now();
      model.recommend(ids[(i * 7919) % ids.length], { n: 20 });
      samples.push(performance.now() - t0);
    }
    const st = stats(samples);
    // bytes the scoring streams per call: the k × pins float32 scoring matrix
    const gbs = (factors * X.nItems * 4) / (st.median / 1000) / 1e9;
    rows.push({ kernels: model.kernels.scoring, pins: X.nItems, users: X.nUsers, factors, fitSeconds, recommendMsMedian: st.median, recommendMsP90: st.p90, recommendMsP99: st.p99, recommendMsMean: st.mean, spread: st.spread, calls: st.samples, effectiveGBs: gbs, peakRssMb: peakRssMb() });
  }
  const python = str(args, 'python', '/usr/bin/python3');
  const py = spawnSync(python, [benchFile('anchors/topk_compare.py'), String(X.nItems), String(factors), '20', String(args.quick ? 10 : 50)], { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } });
  let anchor: { msMedian: number; sgemvMsMedian: number; readGBs: number; numpy: string } | undefined;
  if (py.status === 0) {
    anchor = JSON.parse(py.stdout.trim().split('\n').pop()!);
    for (const r of rows) { r.vsNumpy = (r.recommendMsMedian as number) / anchor!.msMedian; r.bandwidthShare = (r.effectiveGBs as number) / anchor!.readGBs; }
    rows.push({ kernels: `numpy ${anchor!.numpy} sgemv + argpartition`, pins: X.nItems, factors, recommendMsMedian: anchor!.msMedian, effectiveGBs: (factors * X.nItems * 4) / (anchor!.sgemvMsMedian / 1000) / 1e9, vsNumpy: 1 });
  } else console.log(`SKIPPED numpy anchor: ${python} could not run numpy (${(py.stderr || py.error?.message || '').trim().split('\n').pop()})`);
  printTable(rows, `recommend latency (brute force over every pin, top 20, one thread; effectiveGBs = k·pins·4 bytes / median; machine read bandwidth ${anchor ? anchor.readGBs.toFixed(1) + ' GB/s (BLAS sdot, one thread)' : 'not measured'})`);
  addPlot('recommend-latency', 'recommend() latency per kernel path', dotChart(
    melt(rows, { columns: { p50: 'recommendMsMedian', p90: 'recommendMsP90', p99: 'recommendMsP99' }, keep: ['kernels'], key: 'percentile' }),
    { title: `recommend() latency, top 20 over ${X.nItems.toLocaleString('en-US')} pins × ${factors} factors`, subtitle: 'one thread; numpy: median only',
      category: { field: 'kernels', title: '' }, value: { field: 'value', title: 'ms per call', log: true }, color: 'percentile', colors: PERCENTILE_COLORS },
  ));
  await report('cf-latency', args, { mode: 'latency', results: rows, machineReadGBs: anchor?.readGBs });
}

/** The README's demo: fit and evaluate on a seeded synthetic catalogue (or --data), then recommend for one user. */
async function demo(args: Args): Promise<void> {
  const file = str(args, 'data');
  const log = file
    ? await loadLog(file, str(args, 'format') ?? (file.endsWith('.csv') ? 'ratings-csv' : file.endsWith('.arrow') ? 'arrow' : 'seq'))
    : syntheticInteractions({ users: 20_000, items: 5_000, events: 400_000, seed: 42 });
  console.log(file ? `dataset ${file}: ${log.length.toLocaleString('en-US')} interactions` :
    'seeded synthetic catalogue: 20,000 users, 5,000 pins, 400,000 interactions (click 50%, close-up 25%, repin 20%, create 5%)');
  const split = leaveLastOut(log, { by: log.time ? 'timestamp' : 'order' });
  const rows: Record<string, unknown>[] = [];
  let best: SvdRecommender | undefined;
  for (const scoring of ['puresvd', 'ease'] as const) {
    const t0 = performance.now();
    const model = new SvdRecommender({ factors: num(args, 'factors', 64), scoring }).fit(split.train);
    const fitSeconds = since(t0);
    const m = evaluate(model, split, { k: 10 });
    rows.push({ scoring, factors: model.factors, fitSeconds, users: m.users, hr10: m.hr, ndcg10: m.ndcg, mrr: m.mrr, coverage10: m.coverage });
    best = model;
  }
  printTable(rows, 'leave-last-out evaluation, full ranking over every pin');
  const user = best!.userIds()[0];
  const rec = best!.recommend(user, { n: 5 });
  console.log(`\ntop 5 pins for user ${String(user)} (ease): ${rec.ids.map((id, i) => `${String(id)} (${rec.scores[i].toFixed(3)})`).join(', ')}`);
  addPlot('quality', 'Leave-last-out quality per scoring', barChart(melt(rows, { columns: { 'HR@10': 'hr10', 'NDCG@10': 'ndcg10', 'MRR': 'mrr', 'coverage@10': 'coverage10' }, keep: ['scoring'], key: 'metric' }), {
    title: 'Leave-last-out evaluation', subtitle: file ? path.basename(file) : 'seeded synthetic catalogue', category: 'metric', value: { field: 'value', title: '' }, color: 'scoring',
  }));
  await report('cf-demo', args, { mode: 'demo', dataset: file ?? 'synthetic', results: rows });
}
