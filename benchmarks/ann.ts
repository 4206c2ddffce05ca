/**
 * HNSW benchmark: recall@10 and QPS per ef, build time (1 and --threads threads), memory per vector, multi-core
 * batch speed-up, 10% allow-set filtered recall, and MIPS over CF-style item factors — for each backend
 * (HnswIndex over hnswlib, UsearchIndex over usearch), side by side. Writes JSON (per dataset a `backends`
 * object, plus the hnsw numbers at the top level as before), and beside it the HTML report with plots: recall
 * against QPS per dataset (each backend, its 10% allow-set filtered search, and the Python anchor's curve when
 * --anchor is given), MIPS recall@20 against QPS, build time and memory per vector.
 *
 *   npm run bench -- ann --data base.fvecs --queries query.fvecs [--groundtruth gt.ivecs] [--metric l2]
 *   npm run bench -- ann --synthetic [--n 100000 --dim 1280 --nq 500] [--write-fvecs dir [--write-only]]
 *   npm run bench -- ann --mips [--n 1000000 --dim 64 --nq 200]
 *   npm run bench -- ann --quick                  # all three, small (CI)
 *   ... [--anchor anchor.json]                    # hnsw_anchor.py output: print ratios
 *
 * Options: --backend hnsw,usearch (default both)  --quantization f32|f16 (usearch's storage; default f32)  --efs 10,20,40,80,160,320  --M 16  --efc 200  --k 10  --repeats 3
 *          --threads 2  --seed 7  --json  --out file
 * (hnswlib-node builds on one thread only, so its multi-threaded build time is reported as null.)
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync, statSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { availableParallelism, tmpdir } from 'node:os';
import { HnswIndex, UsearchIndex, ExactIndex, recallAtK, usearchIndexBytes, type VectorIndex } from '../src/ann/index.js';
import type { Metric } from '../src/core/types.js';
import { Rng } from '../src/core/rng.js';
import { dataRoot, num, nums, parseArgs, printTable, report, stats, str, type Args } from './lib.js';
import { addPlot, barChart, lineChart, melt, type Row } from './report.js';

interface Matrix { data: Float32Array; rows: number; dim: number }

export function readFvecs(file: string): Matrix {
  const buf = readFileSync(file);
  const dim = buf.readInt32LE(0);
  const rec = 4 + dim * 4;
  if (dim <= 0 || buf.length % rec !== 0) throw new Error(`${file}: not an fvecs file`);
  const rows = buf.length / rec;
  const data = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const f = new Float32Array(buf.buffer.slice(buf.byteOffset + r * rec + 4, buf.byteOffset + (r + 1) * rec));
    data.set(f, r * dim);
  }
  return { data, rows, dim };
}

function readIvecs(file: string): number[][] {
  const buf = readFileSync(file);
  const out: number[][] = [];
  let off = 0;
  while (off < buf.length) {
    const d = buf.readInt32LE(off); off += 4;
    const r: number[] = [];
    for (let j = 0; j < d; j++) { r.push(buf.readInt32LE(off)); off += 4; }
    out.push(r);
  }
  return out;
}

function writeVecs(file: string, m: Matrix | number[][], int: boolean): void {
  const rows = Array.isArray(m) ? m.length : m.rows;
  const dim = Array.isArray(m) ? m[0].length : m.dim;
  const buf = Buffer.alloc(rows * (4 + 4 * dim));
  let off = 0;
  for (let r = 0; r < rows; r++) {
    buf.writeInt32LE(dim, off); off += 4;
    for (let j = 0; j < dim; j++) {
      if (int) buf.writeInt32LE((m as number[][])[r][j], off);
      else buf.writeFloatLE((m as Matrix).data[r * dim + j], off);
      off += 4;
    }
  }
  writeFileSync(file, buf);
}

/** Seeded mixture of Gaussians like the anchor's: sqrt(n)/2 centres N(0,1), points centre + N(0,1). */
function synthetic(n: number, nq: number, dim: number, seed: number): { base: Matrix; queries: Matrix } {
  const rng = new Rng(seed);
  const nc = Math.max(10, Math.floor(Math.sqrt(n) / 2));
  const centres = rng.fillNormal(new Float32Array(nc * dim));
  const draw = (m: number): Matrix => {
    const data = new Float32Array(m * dim);
    for (let i = 0; i < m; i++) {
      const c = rng.int(nc);
      for (let j = 0; j < dim; j++) data[i * dim + j] = centres[c * dim + j] + rng.normal();
    }
    return { data, rows: m, dim };
  };
  return { base: draw(n), queries: draw(nq) };
}

async function exactTruth(base: Matrix, queries: Matrix, metric: Metric, k: number, allow?: number[]): Promise<number[][]> {
  const ex = new ExactIndex<number>({ metric, dim: base.dim, capacity: base.rows });
  ex.addItems(Array.from({ length: base.rows }, (_, i) => i), base.data);
  const res = await ex.searchBatch(queries.data, k, allow ? { filter: { allow } } : {});
  return res.map((r) => r.ids);
}

/** hnswlib's memory formula per element: level 0 data + links + label, plus expected upper-level links. */
function formulaBytes(dim: number, M: number): number {
  return dim * 4 + M * 2 * 4 + 4 + 8 + (M * 4 + 4) / (M - 1);
}

interface SweepRow { ef: number; recall: number; qps: number; qpsMedian: number; msPerQuery: number }

async function timeSearch(index: VectorIndex<number>, q: Matrix, k: number, ef: number, threads: number, repeats: number, filter?: { allow: number[] }) {
  const times: number[] = [];
  let res: Awaited<ReturnType<typeof index.searchBatch>> = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    res = await index.searchBatch(q.data, k, { ef, threads, filter });
    times.push((performance.now() - t0) / 1000);
  }
  const st = stats(times);
  return { res, best: st.min, median: st.median };
}

interface AnchorJson {
  builds: { lib: string; space: string; threads: number; min_s: number; median_s: number }[];
  sweeps: { lib: string; space: string; ef: number; recall: number; qps_best: number; qps_median: number }[];
  n: number; dim: number; queries: number; source: string;
}

/** QPS of a curve at a given recall, by linear interpolation between neighbouring points (null when out of range). */
function qpsAtRecall(curve: { recall: number; qps: number }[], target: number): number | null {
  const pts = [...curve].sort((a, b) => a.recall - b.recall);
  for (let i = 0; i < pts.length; i++) {
    if (pts[i].recall >= target) {
      if (i === 0) return pts[i].recall === target ? pts[i].qps : null;
      const a = pts[i - 1], b = pts[i];
      const t = (target - a.recall) / (b.recall - a.recall || 1);
      return a.qps + t * (b.qps - a.qps);
    }
  }
  return null;
}

type Backend = 'hnsw' | 'usearch';
const BACKENDS: readonly Backend[] = ['hnsw', 'usearch'];

/** `--backend hnsw,usearch` (default both), in the order given. */
function backendsOf(args: Args): Backend[] {
  const list = (str(args, 'backend') ?? BACKENDS.join(',')).split(',').map((x) => x.trim()).filter(Boolean);
  for (const b of list) if (!BACKENDS.includes(b as Backend)) throw new Error(`--backend: unknown backend '${b}' (known: ${BACKENDS.join(', ')})`);
  if (list.length === 0) throw new Error('--backend: give at least one of hnsw, usearch');
  return [...new Set(list)] as Backend[];
}

/**
 * Build `b` over `data` with `buildThreads` threads (hnswlib-node: always one; returns null for more). The usearch
 * index reserves `searchThreads` native contexts, so the batch section can use them.
 */
/** `--quantization f32|f16`: how UsearchIndex stores its vectors (HnswIndex is always f32). */
let usearchQuantization: 'f32' | 'f16' = 'f32';

function buildIndex(b: Backend, metric: Metric, data: Float32Array, dim: number, M: number, efc: number, buildThreads: number, searchThreads: number, log = false): { index: VectorIndex<number>; s: number } | null {
  const n = data.length / dim;
  const ids = Array.from({ length: n }, (_, i) => i);
  let t0 = 0; // the clock starts after construction (which allocates the capacity), as it always has
  const onProgress = log ? (p: { done: number }) => { if (p.done % 100000 === 0) console.log(`  ${b}: added ${p.done.toLocaleString()} in ${((performance.now() - t0) / 1000).toFixed(0)} s`); } : undefined;
  if (b === 'hnsw') {
    if (buildThreads > 1) return null;
    const index = new HnswIndex<number>({ metric, dim, M, efConstruction: efc, capacity: n, seed: 100 });
    t0 = performance.now();
    index.addItems(ids, data, { onProgress });
    return { index, s: (performance.now() - t0) / 1000 };
  }
  const index = new UsearchIndex<number>({ metric, dim, M, efConstruction: efc, capacity: n, threads: Math.max(buildThreads, searchThreads), quantization: usearchQuantization });
  t0 = performance.now();
  index.addItems(ids, data, { threads: buildThreads, onProgress });
  return { index, s: (performance.now() - t0) / 1000 };
}

/** Bytes per vector the backend's own formula predicts (hnswlib's element layout; usearchIndexBytes incl. the JS-side copy). */
function formulaBytesOf(b: Backend, n: number, dim: number, M: number): number {
  return b === 'hnsw' ? formulaBytes(dim, M) : usearchIndexBytes(n, dim, M) / n;
}

function backendInfo(b: Backend): Record<string, unknown> {
  return b === 'hnsw' ? { library: 'hnswlib-node' } : { ...new UsearchIndex({ metric: 'l2', dim: 1 }).backend };
}

async function runDataset(name: string, base: Matrix, queries: Matrix, truthIn: number[][] | null, metric: Metric, args: Args, backends: Backend[]) {
  const k = num(args, 'k', 10);
  const M = num(args, 'M', 16), efc = num(args, 'efc', 200);
  const efs = nums(args, 'efs', [10, 20, 40, 80, 160, 320]);
  const repeats = num(args, 'repeats', 3);
  const threads = num(args, 'threads', Math.min(2, availableParallelism()));
  const seed = num(args, 'seed', 7);
  console.log(`\n== ${name}: n=${base.rows} dim=${base.dim} queries=${queries.rows} metric=${metric} M=${M} efC=${efc} backends=${backends.join(',')}`);
  const ids = Array.from({ length: base.rows }, (_, i) => i);
  let truth = truthIn;
  // filtered search with a seeded 10% allow-set (the same for every backend)
  const allow = new Rng(seed + 1).shuffle(ids.slice()).slice(0, Math.max(k, Math.round(base.rows / 10)));
  let ftruth: number[][] | null = null;
  const runs: Partial<Record<Backend, BackendRun>> = {};
  for (const b of backends) {
    const rss0 = process.memoryUsage().rss;
    const built = buildIndex(b, metric, base.data, base.dim, M, efc, 1, threads)!;
    const rssDelta = process.memoryUsage().rss - rss0;
    const index = built.index;
    const saved = path.join(tmpdir(), `pinrec-ann-bench-${process.pid}.${b}`);
    await index.save(saved);
    const fileBytes = statSync(saved).size;
    rmSync(saved, { force: true });
    const formula = formulaBytesOf(b, base.rows, base.dim, M);
    const memory = {
      rssDeltaBytesPerVector: Math.round(rssDelta / base.rows),
      formulaBytesPerVector: Math.round(formula),
      ratio: +(rssDelta / base.rows / formula).toFixed(3),
      savedFileBytesPerVector: Math.round(fileBytes / base.rows),
      ...(b === 'hnsw' ? { hnswlibFormulaBytesPerVector: Math.round(formula) } : {}),
    };
    let buildNS: number | null = null;
    if (threads > 1) {
      const many = buildIndex(b, metric, base.data, base.dim, M, efc, threads, threads);
      if (many) { buildNS = many.s; await many.index.close(); }
    }
    if (!truth) {
      const tg = performance.now();
      truth = await exactTruth(base, queries, metric, k);
      console.log(`exact ground truth (ExactIndex, JS) in ${((performance.now() - tg) / 1000).toFixed(1)} s`);
    }
    console.log(`${b}: build ${built.s.toFixed(2)} s (1 thread)${buildNS === null ? '' : `, ${buildNS.toFixed(2)} s (${threads} threads)`}, memory ${memory.rssDeltaBytesPerVector} B/vector (RSS delta), saved file ${memory.savedFileBytesPerVector} B/vector, formula ${memory.formulaBytesPerVector} B`);

    // warm-up
    await index.searchBatch(queries.data, k, { ef: efs[0], threads: 1 });
    const sweep: SweepRow[] = [];
    for (const ef of efs) {
      // best of at least 2,000 queries' worth of runs: a 100-query run takes ~3 ms, under a JIT or GC hiccup
      const { res, best, median } = await timeSearch(index, queries, k, ef, 1, Math.max(repeats, Math.ceil(2000 / queries.rows)));
      sweep.push({ ef, recall: +recallAtK(res, truth.map((t) => t.slice(0, k)), k).toFixed(4), qps: Math.round(queries.rows / best), qpsMedian: Math.round(queries.rows / median), msPerQuery: +(best * 1000 / queries.rows).toFixed(4) });
    }

    // multi-core batch at the smallest ef reaching recall >= 0.95 (else the largest ef)
    const efBatch = (sweep.find((s) => s.recall >= 0.95) ?? sweep[sweep.length - 1]).ef;
    const tPool = performance.now();
    await index.searchBatch(queries.data, k, { ef: efBatch, threads });
    const poolStartS = (performance.now() - tPool) / 1000;
    // tile the queries so one batch is large enough (>= 5,000 rows) to amortise the hand-off to workers
    const tiles = Math.max(1, Math.ceil(5000 / queries.rows));
    const big: Matrix = { data: new Float32Array(tiles * queries.data.length), rows: tiles * queries.rows, dim: queries.dim };
    for (let t = 0; t < tiles; t++) big.data.set(queries.data, t * queries.data.length);
    const one = await timeSearch(index, big, k, efBatch, 1, repeats);
    const many = await timeSearch(index, big, k, efBatch, threads, repeats);
    const batch = {
      ef: efBatch, threads, rows: big.rows, qps1: Math.round(big.rows / one.best), qpsN: Math.round(big.rows / many.best),
      speedup: +(one.best / many.best).toFixed(3), poolStartS: +poolStartS.toFixed(3),
      sameResults: many.res.every((r, i) => r.ids.join() === one.res[i].ids.join()),
    };
    await index.close();

    ftruth ??= await exactTruth(base, queries, metric, k, allow);
    const filtered: SweepRow[] = [];
    for (const ef of efs.filter((e) => e >= k)) {
      const { res, best, median } = await timeSearch(index, queries, k, ef, 1, repeats, { allow });
      filtered.push({ ef, recall: +recallAtK(res, ftruth, k).toFixed(4), qps: Math.round(queries.rows / best), qpsMedian: Math.round(queries.rows / median), msPerQuery: +(best * 1000 / queries.rows).toFixed(4) });
    }
    runs[b] = { backend: backendInfo(b), buildS: +built.s.toFixed(3), buildThreads: threads, buildNThreadsS: buildNS === null ? null : +buildNS.toFixed(3), memory, sweep, batch, filtered };
  }
  printBackendTables(name, runs, k, threads);
  const hnsw = runs.hnsw;
  return {
    name, n: base.rows, dim: base.dim, queries: queries.rows, metric, M, efConstruction: efc, k, allowFraction: allow.length / base.rows,
    backends: runs,
    // the hnsw numbers at the top level, as before the usearch backend existed
    ...(hnsw ? { buildS: hnsw.buildS, memory: hnsw.memory, sweep: hnsw.sweep, batch: hnsw.batch, filtered: hnsw.filtered } : {}),
  };
}

interface BackendRun {
  backend: Record<string, unknown>;
  buildS: number;
  buildThreads: number;
  buildNThreadsS: number | null;
  memory: Record<string, number>;
  sweep: SweepRow[];
  batch: Record<string, unknown>;
  filtered: SweepRow[];
}

/** One row per ef with each backend's columns side by side. */
function sideBySide(runs: Partial<Record<Backend, BackendRun>>, pick: (r: BackendRun) => SweepRow[]): Record<string, unknown>[] {
  const names = Object.keys(runs) as Backend[];
  const efs = [...new Set(names.flatMap((b) => pick(runs[b]!).map((s) => s.ef)))];
  return efs.map((ef) => {
    const row: Record<string, unknown> = { ef };
    for (const b of names) {
      const s = pick(runs[b]!).find((x) => x.ef === ef);
      row[`${b} recall`] = s?.recall;
      row[`${b} qps`] = s?.qps;
    }
    return row;
  });
}

function printBackendTables(name: string, runs: Partial<Record<Backend, BackendRun>>, k: number, threads: number): void {
  const names = Object.keys(runs) as Backend[];
  printTable(names.map((b) => {
    const r = runs[b]!;
    return { backend: b, build1ThreadS: r.buildS, [`build${threads}ThreadsS`]: r.buildNThreadsS ?? 'n/a', rssBytesPerVector: r.memory.rssDeltaBytesPerVector, formulaBytesPerVector: r.memory.formulaBytesPerVector, fileBytesPerVector: r.memory.savedFileBytesPerVector };
  }), `${name}: build and memory`);
  printTable(sideBySide(runs, (r) => r.sweep), `${name}: single-thread sweep (recall@${k}, QPS)`);
  printTable(names.map((b) => ({ backend: b, ...runs[b]!.batch })), `${name}: batch search, ${threads} threads vs calling thread`);
  printTable(sideBySide(runs, (r) => r.filtered), `${name}: 10% allow-set filter, recall@${k} vs exact filtered search`);
}

/** Each backend's run against the anchor's Python hnswlib numbers (same data, same M and efConstruction). */
function compareAnchor(dataset: Awaited<ReturnType<typeof runDataset>>, anchorFile: string) {
  const out: Record<string, unknown> = {};
  for (const lib of Object.keys(dataset.backends) as Backend[]) out[lib] = compareAnchorOne(dataset, anchorFile, lib);
  const first = Object.values(out).find((v) => v !== null) as { anchorSweeps?: unknown } | undefined;
  return { ...out, anchorSweeps: first?.anchorSweeps ?? [] };
}

function compareAnchorOne(dataset: Awaited<ReturnType<typeof runDataset>>, anchorFile: string, lib: Backend) {
  const a = JSON.parse(readFileSync(anchorFile, 'utf8').trim().split('\n').pop()!) as AnchorJson;
  const run = dataset.backends[lib]!;
  const result = { name: `${dataset.name} (${lib})`, metric: dataset.metric, sweep: run.sweep, buildS: run.buildS, buildNS: run.buildNThreadsS ?? undefined };
  const space = result.metric;
  const hs = a.sweeps.filter((s) => s.lib === 'hnswlib' && s.space === space);
  if (hs.length === 0) { console.log(`anchor ${anchorFile} has no hnswlib sweep for space ${space}`); return null; }
  const perEf = result.sweep.map((s) => {
    const m = hs.find((h) => h.ef === s.ef);
    return m ? { ef: s.ef, recall: s.recall, anchorRecall: +m.recall.toFixed(4), qps: s.qps, anchorQps: Math.round(m.qps_best), ratio: +(s.qps / m.qps_best).toFixed(3) } : null;
  }).filter((x) => x !== null);
  printTable(perEf as Record<string, unknown>[], `${result.name}: vs Python hnswlib (anchor, same M/efC), single thread, per ef`);
  const ours = result.sweep.map((s) => ({ recall: s.recall, qps: s.qps }));
  const theirs = hs.map((h) => ({ recall: h.recall, qps: h.qps_best }));
  const matched = [0.9, 0.95, 0.99].map((target) => {
    const q1 = qpsAtRecall(ours, target), q2 = qpsAtRecall(theirs, target);
    return { recall: target, qps: q1 === null ? 'n/a' : Math.round(q1), anchorQps: q2 === null ? 'n/a' : Math.round(q2), ratio: q1 !== null && q2 !== null ? +(q1 / q2).toFixed(3) : 'n/a' };
  });
  printTable(matched, `${result.name}: QPS at matched recall (interpolated)`);
  const b1 = a.builds.find((b) => b.lib === 'hnswlib' && b.space === space && b.threads === 1);
  const b2 = a.builds.find((b) => b.lib === 'hnswlib' && b.space === space && b.threads === 2);
  const builds = {
    ours1ThreadS: result.buildS, ours2ThreadsS: result.buildNS, ourSpeedup2Threads: result.buildNS ? +(result.buildS / result.buildNS).toFixed(3) : undefined,
    anchor1ThreadS: b1?.min_s, anchor2ThreadS: b2?.min_s, ratioVs1Thread: b1 ? +(result.buildS / b1.min_s).toFixed(3) : undefined,
    ratioVs2Threads: b2 ? +((result.buildNS ?? result.buildS) / b2.min_s).toFixed(3) : undefined,
  };
  printTable([builds], `${result.name}: build time vs Python hnswlib`);
  return { anchorFile, anchorSource: a.source, perEf, matched, builds, anchorSweeps: hs };
}

/** MIPS over synthetic CF factors: items with popularity-skewed norms, users N(0,1). */
async function runMips(args: Args, quick: boolean, backends: Backend[]) {
  const n = num(args, 'n', quick ? 20000 : 1_000_000), dim = num(args, 'dim', 64), nq = num(args, 'nq', quick ? 50 : 200);
  const k = 20, M = num(args, 'M', 16), efc = num(args, 'efc', 100);
  const efs = nums(args, 'efs', [20, 40, 80, 160, 320]);
  const threads = num(args, 'threads', Math.min(2, availableParallelism()));
  const rng = new Rng(num(args, 'seed', 7));
  console.log(`\n== mips: ${n.toLocaleString()} items x ${dim} factors, ${nq} users, k=${k}, M=${M} efC=${efc} backends=${backends.join(',')}`);
  const items = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const scale = Math.exp(0.35 * rng.normal()) / Math.sqrt(dim);
    for (let j = 0; j < dim; j++) items[i * dim + j] = scale * rng.normal();
  }
  const users = rng.fillNormal(new Float32Array(nq * dim));
  let truth: number[][] | null = null, exactMs = 0;
  const runs: Partial<Record<Backend, { buildS: number; buildThreads: number; buildNThreadsS: number | null; rssBytesPerItem: number; formulaBytesPerItem: number; sweep: Record<string, number>[] }>> = {};
  for (const b of backends) {
    const rss0 = process.memoryUsage().rss;
    if (!quick) console.log(`  ${b}: building ${n.toLocaleString()} items on 1 thread`);
    const built = buildIndex(b, 'ip', items, dim, M, efc, 1, threads, !quick)!;
    const rssPerVector = Math.round((process.memoryUsage().rss - rss0) / n);
    let buildNS: number | null = null;
    if (threads > 1) {
      if (!quick && b === 'usearch') console.log(`  ${b}: building on ${threads} threads`);
      const many = buildIndex(b, 'ip', items, dim, M, efc, threads, threads, !quick);
      if (many) { buildNS = many.s; await many.index.close(); }
    }
    if (!truth) {
      const t0 = performance.now();
      truth = await exactTruth({ data: items, rows: n, dim }, { data: users, rows: nq, dim }, 'ip', k);
      exactMs = (performance.now() - t0) / nq;
    }
    const index = built.index;
    const rows: Record<string, number>[] = [];
    for (const ef of efs) {
      const lat: number[] = [];
      const res = [];
      for (let q = 0; q < nq; q++) {
        const t = performance.now();
        res.push(index.search(users.subarray(q * dim, (q + 1) * dim), k, { ef }));
        lat.push(performance.now() - t);
      }
      const st = stats(lat);
      rows.push({ ef, recallAt20: +recallAtK(res, truth, k).toFixed(4), p50ms: +st.median.toFixed(3), p99ms: +st.p99.toFixed(3), spread: +st.spread.toFixed(3), qps: Math.round(1000 / st.mean) });
    }
    await index.close();
    runs[b] = { buildS: +built.s.toFixed(2), buildThreads: threads, buildNThreadsS: buildNS === null ? null : +buildNS.toFixed(2), rssBytesPerItem: rssPerVector, formulaBytesPerItem: Math.round(formulaBytesOf(b, n, dim, M)), sweep: rows };
  }
  const names = Object.keys(runs) as Backend[];
  printTable(efs.map((ef) => {
    const row: Record<string, unknown> = { ef };
    for (const b of names) {
      const s = runs[b]!.sweep.find((x) => x.ef === ef)!;
      row[`${b} recall@20`] = s.recallAt20; row[`${b} p50ms`] = s.p50ms; row[`${b} p99ms`] = s.p99ms; row[`${b} qps`] = s.qps;
    }
    return row;
  }), `mips: HNSW (ip) vs exact scoring of every item (exact: ${exactMs.toFixed(1)} ms/user in JS)`);
  printTable(names.map((b) => ({ backend: b, build1ThreadS: runs[b]!.buildS, [`build${threads}ThreadsS`]: runs[b]!.buildNThreadsS ?? 'n/a', rssBytesPerItem: runs[b]!.rssBytesPerItem, formulaBytesPerItem: runs[b]!.formulaBytesPerItem })), 'mips: build and memory');
  const hnsw = runs.hnsw;
  return {
    n, dim, nq, k, M, efConstruction: efc, exactMsPerUser: +exactMs.toFixed(2), backends: runs,
    ...(hnsw ? { buildS: hnsw.buildS, rssBytesPerItem: hnsw.rssBytesPerItem, sweep: hnsw.sweep } : {}),
  };
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['synthetic', 'mips', 'write-only']);
  if (args.help) { console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]); return; }
  const quick = args.quick === true;
  const backends = backendsOf(args);
  const qz = str(args, 'quantization') ?? 'f32';
  if (qz !== 'f32' && qz !== 'f16') throw new Error(`--quantization must be f32 or f16 (got ${qz})`);
  usearchQuantization = qz;
  const modeGiven = Boolean(args.data || args.synthetic || args.mips);
  const results: Record<string, unknown>[] = [];
  const skipped: string[] = [];
  let anchorCmp: unknown = null;
  let anchorFor: string | undefined; // the dataset the anchor was compared with

  const runFiles = async (baseFile: string, queryFile: string, gtFile: string | undefined, label: string) => {
    const base = readFvecs(baseFile), queries = readFvecs(queryFile);
    const metric = (str(args, 'metric') ?? 'l2') as Metric;
    const k = num(args, 'k', 10);
    const truth = gtFile && metric === 'l2' ? readIvecs(gtFile).map((r) => r.slice(0, k)) : null;
    const r = await runDataset(label, base, queries, truth, metric, args, backends);
    results.push(r);
    return r;
  };

  if (typeof args.data === 'string') {
    const q = str(args, 'queries');
    if (!q) throw new Error('--data needs --queries');
    const r = await runFiles(args.data, q, str(args, 'groundtruth'), path.basename(args.data).replace(/\.fvecs$/, ''));
    if (typeof args.anchor === 'string') { anchorCmp = compareAnchor(r, args.anchor); anchorFor = r.name; }
  }
  if (!modeGiven) {
    const dir = path.join(dataRoot(), 'siftsmall');
    if (existsSync(path.join(dir, 'siftsmall_base.fvecs'))) {
      await runFiles(path.join(dir, 'siftsmall_base.fvecs'), path.join(dir, 'siftsmall_query.fvecs'), path.join(dir, 'siftsmall_groundtruth.ivecs'), 'siftsmall');
    } else {
      skipped.push(`siftsmall: ${dir} not found`);
      console.log(`SKIPPED siftsmall: ${dir} not found (set PINREC_DATA)`);
    }
  }
  if (args.synthetic || !modeGiven) {
    const n = num(args, 'n', quick || !modeGiven ? 5000 : 100_000), dim = num(args, 'dim', quick || !modeGiven ? 256 : 1280), nq = num(args, 'nq', quick || !modeGiven ? 100 : 500);
    const { base, queries } = synthetic(n, nq, dim, num(args, 'seed', 7));
    const metric = (str(args, 'metric') ?? 'cosine') as Metric;
    if (typeof args['write-fvecs'] === 'string') {
      const dir = args['write-fvecs'];
      mkdirSync(dir, { recursive: true });
      writeVecs(path.join(dir, 'base.fvecs'), base, false);
      writeVecs(path.join(dir, 'query.fvecs'), queries, false);
      console.log(`wrote ${dir}/base.fvecs and query.fvecs (for hnsw_anchor.py --fvecs)`);
      if (args['write-only']) return;
    }
    const r = await runDataset(`synthetic-${n}x${dim}`, base, queries, null, metric, args, backends);
    results.push(r);
    if (typeof args.anchor === 'string' && !args.data) { anchorCmp = compareAnchor(r, args.anchor); anchorFor = r.name; }
  }
  let mips: unknown = null;
  if (args.mips || !modeGiven) mips = await runMips(args, quick || !modeGiven, backends);

  const anchorSweeps = anchorCmp && typeof anchorCmp === 'object' && 'anchorSweeps' in anchorCmp
    ? (anchorCmp as { anchorSweeps: { ef: number; recall: number; qps_best: number }[] }).anchorSweeps : [];
  plotAnn(results as Awaited<ReturnType<typeof runDataset>>[], mips as Awaited<ReturnType<typeof runMips>> | null, anchorFor ? { dataset: anchorFor, sweeps: anchorSweeps } : undefined);
  await report('ann', args, { quick, backends, usearchQuantization, datasets: results, mips, anchor: anchorCmp, skipped });
}

const LIBRARY: Record<Backend, string> = { hnsw: 'HnswIndex (hnswlib-node)', usearch: 'UsearchIndex (usearch)' };

/** Recall against QPS per dataset (and MIPS), build time and memory per vector, for every backend that ran. */
function plotAnn(datasets: Awaited<ReturnType<typeof runDataset>>[], mips: Awaited<ReturnType<typeof runMips>> | null, anchor?: { dataset: string; sweeps: { ef: number; recall: number; qps_best: number }[] }): void {
  const lib = (b: Backend) => `${LIBRARY[b]}${b === 'usearch' && usearchQuantization !== 'f32' ? ` ${usearchQuantization}` : ''}`;
  for (const d of datasets) {
    const pts: Row[] = [];
    for (const [b, run] of Object.entries(d.backends) as [Backend, BackendRun][]) {
      for (const s of run.sweep) pts.push({ library: lib(b), search: 'all items', recall: s.recall, qps: s.qps, ef: s.ef });
      for (const s of run.filtered) pts.push({ library: lib(b), search: '10% allow-set filter', recall: s.recall, qps: s.qps, ef: s.ef });
    }
    if (anchor && anchor.dataset === d.name) for (const h of anchor.sweeps) pts.push({ library: 'Python hnswlib (anchor)', search: 'all items', recall: h.recall, qps: h.qps_best, ef: h.ef });
    addPlot(`recall-qps-${d.name}`, `${d.name}: recall@${d.k} against single-thread QPS`, lineChart(pts, {
      title: `${d.name}: recall@${d.k} against queries per second (one thread)`,
      subtitle: `n = ${d.n.toLocaleString('en-US')}, dim ${d.dim}, ${d.metric}, M ${d.M}, efConstruction ${d.efConstruction}; one point per ef; up and right is better`,
      x: { field: 'recall', title: `recall@${d.k}` }, y: { field: 'qps', title: 'queries per second (log)', log: true }, color: 'library', dash: 'search',
    }));
  }
  if (mips) {
    const pts: Row[] = [];
    for (const [b, run] of Object.entries(mips.backends) as [Backend, { sweep: Record<string, number>[] }][]) for (const s of run.sweep) pts.push({ library: lib(b), recall: s.recallAt20, qps: s.qps });
    addPlot('mips-recall-qps', 'MIPS over CF factors: recall@20 against QPS', lineChart(pts, {
      title: `MIPS: recall@${mips.k} against queries per second`, subtitle: `${mips.n.toLocaleString('en-US')} items × ${mips.dim} factors, inner product, one query at a time; exact scan ${mips.exactMsPerUser} ms/user`,
      x: { field: 'recall', title: `recall@${mips.k}` }, y: { field: 'qps', title: 'queries per second (log)', log: true }, color: 'library',
    }));
  }
  const builds: Row[] = [];
  const memory: Row[] = [];
  for (const d of datasets) {
    for (const [b, run] of Object.entries(d.backends) as [Backend, BackendRun][]) {
      const label = `${d.name} · ${b}`;
      builds.push({ label, threads: '1 thread', seconds: run.buildS });
      if (run.buildNThreadsS !== null) builds.push({ label, threads: `${run.buildThreads} threads`, seconds: run.buildNThreadsS });
      memory.push({ label, ...run.memory });
    }
  }
  if (builds.length) {
    addPlot('build-seconds', 'Index build time per dataset and backend', barChart(builds, {
      title: 'Index build time', subtitle: 'hnswlib-node builds on one thread only', category: { field: 'label', title: '' }, value: { field: 'seconds', title: 'seconds' }, color: 'threads',
    }));
    addPlot('memory', 'Memory per vector per dataset and backend', barChart(
      melt(memory, { columns: { 'RSS growth': 'rssDeltaBytesPerVector', 'formula': 'formulaBytesPerVector', 'saved file': 'savedFileBytesPerVector' }, keep: ['label'], key: 'measure' }),
      { title: 'Bytes per vector', subtitle: 'RSS growth while building, the library\'s own formula, the saved index file', category: { field: 'label', title: '' }, value: { field: 'value', title: 'bytes per vector' }, color: 'measure' },
    ));
  }
}
