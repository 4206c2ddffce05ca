/**
 * Re-rank + diversify benchmark: N seeded candidates (default 10,000) → blend scores → the seed's caps →
 * 100 results. Reports median and p99 per call for columnar input (typed arrays), object input, and the
 * stages separately (scoring, plain top-k, caps on a pre-sorted list), plus MMR over a 500-candidate pool.
 *
 *   npm run bench -- ranking [--n 10000] [--limit 100] [--iters 3000] [--quick] [--json] [--out file]
 */
import { Rng } from '../src/core/index.js';
import { applyCaps, diversityMetrics, mmr } from '../src/diversity/index.js';
import { rerank, scoreCandidates, topK, type Candidate, type CandidateColumns } from '../src/ranking/index.js';
import { num, parseArgs, peakRssMb, printTable, report, stats, timeMs } from './lib.js';
import { addPlot, dotChart, lineChart, melt, PERCENTILE_COLORS } from './report.js';

function makeCandidates(n: number, seed: number) {
  const rng = new Rng(seed);
  const ids = new Array<number>(n);
  const sim = new Float32Array(n);
  const eng = new Uint32Array(n);
  const imp = new Uint32Array(n);
  const quality = new Float32Array(n);
  const category = new Array<string>(n);
  const creator = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    ids[i] = 1_000_000 + ((i * 7919) % 9_000_000);
    sim[i] = Math.min(1, Math.max(-1, 0.5 + 0.2 * rng.normal()));
    imp[i] = rng.int(50_000);
    eng[i] = Math.min(imp[i], Math.floor(imp[i] * 0.05 * rng.next()));
    quality[i] = rng.next();
    // skewed: a few categories and creators dominate, as in a real candidate set
    category[i] = `cat${Math.floor(Math.pow(rng.next(), 3) * 40)}`;
    creator[i] = `cr${Math.floor(Math.pow(rng.next(), 4) * 2000)}`;
  }
  const cols: CandidateColumns<number> = { ids, similarity: sim, engagements: eng, impressions: imp, quality, category, creator };
  const objects: Candidate<number>[] = ids.map((id, i) => ({
    id, similarity: sim[i], engagements: eng[i], impressions: imp[i], quality: quality[i], category: category[i], creator: creator[i],
  }));
  return { cols, objects };
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log('npm run bench -- ranking [--n 10000] [--limit 100] [--iters 3000] [--seed 1] [--quick] [--json] [--out file]');
    return;
  }
  const quick = args.quick === true;
  const n = num(args, 'n', 10_000);
  const limit = num(args, 'limit', 100);
  const iters = num(args, 'iters', quick ? 300 : 3000);
  const seed = num(args, 'seed', 1);
  const { cols, objects } = makeCandidates(n, seed);

  const res = rerank(cols, { limit });
  const sorted = Array.from(topK(scoreCandidates(cols).scores, n, cols.ids)).map((i) => objects[i]);
  const rows: Record<string, unknown>[] = [];
  const add = (stage: string, samples: number[]) => {
    const s = stats(samples);
    rows.push({ stage, n, median_ms: s.median, p90_ms: s.p90, p99_ms: s.p99, max_ms: s.max, mean_ms: s.mean, spread: s.spread, samples: s.samples });
  };
  add('rerank+caps (columns)', timeMs(iters, () => rerank(cols, { limit })));
  add('rerank+caps (objects)', timeMs(iters, () => rerank(objects, { limit })));
  add('score only (columns)', timeMs(iters, () => scoreCandidates(cols)));
  const scores = scoreCandidates(cols).scores;
  add('top-k only (heap)', timeMs(iters, () => topK(scores, limit, cols.ids)));
  add('caps only (pre-sorted)', timeMs(iters, () => applyCaps(sorted, { limit })));
  const pool = 500;
  const dim = 64;
  const rng = new Rng(seed + 1);
  const vecs = rng.fillNormal(new Float32Array(pool * dim));
  const rel = scores.slice(0, pool);
  add(`MMR λ=0.7 (${pool}×${dim} pool → ${limit})`, timeMs(Math.max(20, Math.floor(iters / 20)), () => mmr(rel, vecs, dim, { lambda: 0.7, limit, normalized: false })));
  printTable(rows, `re-rank + diversify ${n.toLocaleString('en-US')} candidates → ${limit} (one core, ${iters} iterations)`);

  const m = diversityMetrics(res.items);
  const before = diversityMetrics(sorted.slice(0, limit));
  const div = [
    ...before.map((x) => ({ list: 'top-k, no caps', ...x })),
    ...m.map((x) => ({ list: 'with seed caps', ...x })),
  ].map(({ topCategory: _a, topCreator: _b, ...r }) => r);
  printTable(div, 'diversity of the result');
  console.log(`skipped by caps: ${res.skipped.length}, considered ${res.items.length + res.skipped.length} of ${n}; peak RSS ${peakRssMb()} MB`);
  const target = rows[0].median_ms as number;
  console.log(`target: median <= 1 ms for 10,000 → 100: ${target <= 1 ? 'met' : 'NOT met'} (${target.toFixed(3)} ms)`);
  addPlot('latency', 'Latency per stage', dotChart(melt(rows, { columns: { p50: 'median_ms', p90: 'p90_ms', p99: 'p99_ms', max: 'max_ms' }, keep: ['stage'], key: 'percentile' }), {
    title: `Re-rank + diversify ${n.toLocaleString('en-US')} candidates → ${limit}: latency per call`, subtitle: `one core, ${iters} iterations; target median ≤ 1 ms`,
    category: { field: 'stage', title: '' }, value: { field: 'value', title: 'ms (log)', log: true }, color: 'percentile', colors: [...PERCENTILE_COLORS.slice(0, 3), PERCENTILE_COLORS[4]],
  }));
  addPlot('diversity', 'Largest category and creator share, with and without the caps', lineChart(
    melt(div, { columns: { 'largest category share': 'maxCategoryShare', 'largest creator share': 'maxCreatorShare' }, keep: ['list', 'cutoff'], key: 'measure' }),
    { title: 'Diversity of the result: largest share in the first N items', x: { field: 'cutoff', title: 'first N items' }, y: { field: 'value', title: 'share', zero: true }, color: 'list', dash: 'measure' },
  ));
  await report('ranking', args, { params: { n, limit, iters, seed, quick }, rows, diversity: div, skipped: res.skipped.length, peakRssMb: peakRssMb() });
}
