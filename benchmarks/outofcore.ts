/**
 * Out-of-core CF fit: seeded synthetic interactions written straight to partitioned Arrow files (never whole in
 * memory), then `fitFactorsOutOfCore` over them in a fresh process — time and peak RSS against non-zeros. At
 * the smallest size the same matrix is also fitted in memory (randomizedSvd) and the singular values compared.
 *
 *   npm run bench -- outofcore [--nnz 20000000,100000000] [--factors 64] [--partitions auto] [--quick] [--json]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Field, Float32, Int32 } from 'apache-arrow';
import { Rng } from '../src/core/rng.js';
import { float32Column, int32Column, writeArrowBatches } from '../src/core/arrow-out.js';
import { fitFactorsOutOfCore, randomizedSvd, readPartition, readPartitionManifest } from '../src/cf/index.js';
import { CsrMatrix } from '../src/cf/csr.js';
import { num, nums, parseArgs, peakRssMb, printTable, report, runnerArgs, since } from './lib.js';
import { addPlot, lineChart, melt } from './report.js';

const EVENTS_PER_USER = 20;

/** Items per size: enough for the long tail, bounded so the item side (n × l × 24 bytes) stays small. */
function itemsFor(nnz: number): number {
  return Math.min(500_000, Math.max(2_000, Math.round(nnz / 200)));
}

/**
 * Write `nnz` events as partitions: user u in partition u mod P, 20 events a user, items from 50 taste groups
 * (70% from the user's group, Zipf within it) and a global Zipf (30%).
 */
async function generate(dir: string, nnz: number, partitions: number, seed: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const users = Math.ceil(nnz / EVENTS_PER_USER);
  const n = itemsFor(nnz);
  const groups = 50;
  const per = Math.floor(n / groups);
  const rng = new Rng(seed);
  const zipf = (m: number) => Math.min(m - 1, Math.floor(Math.pow(rng.next(), 2.2) * m));
  const fields = [new Field('user', new Int32(), false), new Field('item', new Int32(), false), new Field('weight', new Float32(), false)];
  const parts: { file: string; rows: number; users: number }[] = [];
  for (let p = 0; p < partitions; p++) {
    const myUsers = Math.floor((users - p + partitions - 1) / partitions);
    const name = `part-${String(p).padStart(5, '0')}.arrow`;
    function* batches() {
      const B = 4096; // users per batch
      for (let s = 0; s < myUsers; s += B) {
        const e = Math.min(myUsers, s + B);
        const rows = (e - s) * EVENTS_PER_USER;
        const u = new Int32Array(rows);
        const it = new Int32Array(rows);
        let k = 0;
        for (let q = s; q < e; q++) {
          const user = q * partitions + p;
          const g = user % groups;
          for (let t = 0; t < EVENTS_PER_USER; t++) {
            u[k] = user;
            it[k] = rng.next() < 0.7 ? g * per + zipf(per) : zipf(n);
            k++;
          }
        }
        yield { user: int32Column(u), item: int32Column(it), weight: float32Column(new Float32Array(rows).fill(1)) };
      }
    }
    await writeArrowBatches(path.join(dir, name), fields, batches());
    parts.push({ file: name, rows: myUsers * EVENTS_PER_USER, users: myUsers });
  }
  writeFileSync(path.join(dir, '_manifest.json'), JSON.stringify({
    kind: 'pinrec.interactions', version: 1, format: 'arrow', partitioning: `user mod ${partitions} (synthetic)`,
    columns: { user: 'int32', item: 'int32', weight: 'float32' }, partitions: parts, rows: parts.reduce((a, x) => a + x.rows, 0),
  }));
}

/** A child process's job: fit (or fit in memory) and print one JSON line. */
async function child(args: Record<string, string | boolean>): Promise<void> {
  const dir = String(args['child-fit'] ?? args['child-memory']);
  const factors = num(args, 'factors', 64);
  const t0 = performance.now();
  if (args['child-fit']) {
    const r = await fitFactorsOutOfCore(dir, { factors, nIter: num(args, 'iters', 5) });
    process.stdout.write(JSON.stringify({ seconds: since(t0), peakRssMb: peakRssMb(), stats: r.stats, s: Array.from(r.singularValues.slice(0, 10)) }) + '\n');
    return;
  }
  // in memory: every partition into one CSR (users are disjoint across partitions), then randomizedSvd
  const m = readPartitionManifest(dir);
  const indptr: number[] = [0];
  const idx: number[] = [];
  const val: number[] = [];
  let cols = 0;
  for (let p = 0; p < m.partitions.length; p++) {
    const mat = (await readPartition(dir, m, p)).toMatrix();
    const ids = mat.items.ids() as number[];
    for (let r = 0; r < mat.csr.rows; r++) {
      for (let q = mat.csr.indptr[r]; q < mat.csr.indptr[r + 1]; q++) { const j = ids[mat.csr.indices[q]]; idx.push(j); val.push(mat.csr.data[q]); cols = Math.max(cols, j + 1); }
      indptr.push(idx.length);
    }
  }
  const a = new CsrMatrix(indptr.length - 1, cols, Int32Array.from(indptr), Int32Array.from(idx), Float32Array.from(val));
  const tl = performance.now();
  const r = randomizedSvd(a, factors, { nIter: num(args, 'iters', 5) });
  process.stdout.write(JSON.stringify({ seconds: since(t0), svdSeconds: since(tl), peakRssMb: peakRssMb(), s: Array.from(r.s.slice(0, 10)) }) + '\n');
}

function runChild(extra: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--max-old-space-size=16384', ...runnerArgs(), 'outofcore', ...extra], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`outofcore child ${extra.join(' ')} failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['compare']);
  if (args.help) {
    console.log('npm run bench -- outofcore [--nnz 20000000,100000000] [--factors 64] [--iters 5] [--partitions N] [--quick] [--json] [--out file]');
    return;
  }
  if (args['child-fit'] || args['child-memory']) return child(args);
  const quick = !!args.quick;
  const sizes = nums(args, 'nnz', quick ? [1_000_000, 3_000_000] : [20_000_000, 100_000_000]);
  const factors = num(args, 'factors', 64);
  const iters = num(args, 'iters', 5);
  const rows: Record<string, unknown>[] = [];
  const root = mkdtempSync(path.join(tmpdir(), 'pinrec-ooc-bench-'));
  try {
    for (const nnz of sizes) {
      // ~2M non-zeros a partition: the partition, not the matrix, bounds the memory
      const partitions = num(args, 'partitions', Math.max(2, Math.round(nnz / 2_000_000)));
      const dir = path.join(root, `n${nnz}`);
      const tg = performance.now();
      await generate(dir, nnz, partitions, 7);
      const genSeconds = since(tg);
      const fit = runChild(['--child-fit', dir, '--factors', String(factors), '--iters', String(iters)]);
      const row: Record<string, unknown> = {
        nnz, users: Math.ceil(nnz / EVENTS_PER_USER), items: itemsFor(nnz), partitions, factors, iters,
        write_s: genSeconds, fit_s: fit.seconds, fit_peak_rss_mb: fit.peakRssMb,
        largest_partition_nnz: (fit.stats as { largestPartitionRows: number }).largestPartitionRows,
      };
      if (nnz === sizes[0] && (args.compare !== false)) {
        const mem = runChild(['--child-memory', dir, '--factors', String(factors), '--iters', String(iters)]);
        const a = fit.s as number[];
        const b = mem.s as number[];
        row.in_memory_s = mem.seconds;
        row.in_memory_peak_rss_mb = mem.peakRssMb;
        row.sigma_max_rel_diff = +Math.max(...a.map((x, i) => Math.abs(x - b[i]) / b[i])).toExponential(2);
      }
      rows.push(row);
      printTable([row], `out-of-core fit, ${nnz.toLocaleString('en')} non-zeros`);
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  printTable(rows, 'out-of-core SVD fit: time and peak memory against non-zeros');
  addPlot('fit-time', 'Fit time against non-zeros', lineChart(melt(rows, { columns: { 'out-of-core fit (s)': 'fit_s', 'writing the partitions (s)': 'write_s' }, keep: ['nnz'] }), { x: { field: 'nnz', title: 'non-zeros', log: true }, y: { field: 'value', title: 'seconds', log: true }, color: 'series', points: true, title: 'Out-of-core fit time' }));
  addPlot('fit-memory', 'Peak memory against non-zeros', lineChart(melt(rows, { columns: { 'out-of-core fit peak RSS (MB)': 'fit_peak_rss_mb' }, keep: ['nnz'] }), { x: { field: 'nnz', title: 'non-zeros', log: true }, y: { field: 'value', title: 'MB', zero: true }, color: 'series', points: true, title: 'Out-of-core fit peak RSS' }));
  await report('outofcore', args, { quick, factors, iters, rows });
}
