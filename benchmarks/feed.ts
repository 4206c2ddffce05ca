/**
 * Feed benchmark.
 *
 * Synthetic (default): one user's feed over a seeded catalogue of N pins (default 1,000,000) with 64-d
 * item factors and 256-d embeddings. Sources: CF (HnswIndex, metric 'ip', top 500 for the user's factors),
 * visual neighbours of the user's 5 most recent engagements (HnswIndex, metric 'cosine', 50 each) and
 * trending per category; merged, metadata from an Arrow-backed source, blended, seed caps, 100 results.
 * Reports per-feed latency (median / p99) on one core, per-source time, CF recall against brute force,
 * and diversity. Indexes are cached under $TMPDIR/pinrec-bench-cache (building 1M takes minutes; use
 * `--build-only cf|visual` to build them one at a time).
 *
 *   npm run bench -- feed [--n 1000000] [--runs 1000] [--quick] [--build-only cf|visual] [--no-cache] [--json] [--out file]
 *   npm run bench -- feed --amazon [--quick] [--json]    CF feed before/after caps on amazon-sports (needs pinrec/cf)
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { tableFromArrays } from 'apache-arrow';
import { HnswIndex } from '../src/ann/index.js';
import { Rng } from '../src/core/index.js';
import { applyCaps, checkCaps, diversityMetrics, type Groupable } from '../src/diversity/index.js';
import {
  ArrowPinMetadata, BruteForceSearcher, CfCandidateSource, FeedGenerator, InMemoryPinMetadata, PopularSource, VisualNeighborsSource, type PopularPin,
} from '../src/ranking/index.js';
import { dataRoot, num, parseArgs, peakRssMb, printTable, quantile, report, since, stats, str } from './lib.js';
import { addPlot, dotChart, lineChart, melt, PERCENTILE_COLORS } from './report.js';

/** The 99.9th percentile of `xs` (the same interpolation as stats()). */
const p999 = (xs: number[]) => quantile(Float64Array.from(xs).sort(), 0.999);

const FACTORS = 64;
const EMB = 256;
const TOPICS = 512;
const CATEGORIES = 32;
const CREATORS_PER_TOPIC = 60;

interface Catalogue {
  n: number;
  topicFactors: Float32Array;
  topicEmb: Float32Array;
  engagements: Float64Array;
  impressions: Float64Array;
  quality: Float32Array;
  category: string[];
  creator: string[];
}

/** Pin i belongs to topic i % TOPICS; its category is topic % CATEGORIES; creators are skewed within a topic. */
function catalogue(n: number, seed: number): Catalogue {
  const rt = new Rng(seed);
  const topicFactors = rt.fillNormal(new Float32Array(TOPICS * FACTORS));
  const topicEmb = rt.fillNormal(new Float32Array(TOPICS * EMB));
  const rm = new Rng(seed + 3);
  const engagements = new Float64Array(n);
  const impressions = new Float64Array(n);
  const quality = new Float32Array(n);
  const category = new Array<string>(n);
  const creator = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const t = i % TOPICS;
    impressions[i] = Math.floor(Math.exp(6 + 1.5 * rm.normal()));
    engagements[i] = Math.floor(impressions[i] * 0.06 * rm.next() ** 2);
    quality[i] = rm.next();
    category[i] = `cat${t % CATEGORIES}`;
    creator[i] = `cr${t * CREATORS_PER_TOPIC + Math.floor(rm.next() ** 2 * CREATORS_PER_TOPIC)}`;
  }
  return { n, topicFactors, topicEmb, engagements, impressions, quality, category, creator };
}

/** Item vectors in chunks: factor = 0.8·topic + 0.6·noise (64-d), embedding = topic + 0.8·noise (256-d). */
function itemVectors(cat: Catalogue, kind: 'cf' | 'visual', seed: number, from: number, to: number): Float32Array {
  const dim = kind === 'cf' ? FACTORS : EMB;
  const base = kind === 'cf' ? cat.topicFactors : cat.topicEmb;
  const out = new Float32Array((to - from) * dim);
  for (let i = from; i < to; i++) {
    // one stream per item keeps vectors identical however the range is chunked
    const r = new Rng(seed * 7919 + i * 2 + (kind === 'cf' ? 1 : 2));
    const t = i % TOPICS;
    const o = (i - from) * dim;
    for (let d = 0; d < dim; d++) out[o + d] = (kind === 'cf' ? 0.8 : 1) * base[t * dim + d] + (kind === 'cf' ? 0.6 : 0.8) * r.normal();
  }
  return out;
}

async function buildOrLoad(cat: Catalogue, kind: 'cf' | 'visual', seed: number, cache: boolean, quick: boolean): Promise<{ index: HnswIndex<number>; seconds: number; cached: boolean }> {
  const M = 16;
  const efc = kind === 'cf' ? 100 : quick ? 64 : 40;
  const dir = path.join(process.env.PINREC_BENCH_CACHE ?? path.join(tmpdir(), 'pinrec-bench-cache'));
  const file = path.join(dir, `feed-${kind}-n${cat.n}-s${seed}-M${M}-efc${efc}.hnsw`);
  const t0 = performance.now();
  if (cache && existsSync(file)) {
    const index = await HnswIndex.load<number>(file);
    return { index, seconds: since(t0), cached: true };
  }
  const dim = kind === 'cf' ? FACTORS : EMB;
  const index = new HnswIndex<number>({ metric: kind === 'cf' ? 'ip' : 'cosine', dim, M, efConstruction: efc, ef: kind === 'cf' ? 500 : 64, seed: 100, capacity: cat.n });
  const chunk = 50_000;
  for (let from = 0; from < cat.n; from += chunk) {
    const to = Math.min(cat.n, from + chunk);
    const ids = Array.from({ length: to - from }, (_, j) => from + j);
    index.addItems(ids, itemVectors(cat, kind, seed, from, to));
    if (!quick) process.stderr.write(`\r  building ${kind} index: ${to.toLocaleString('en-US')} / ${cat.n.toLocaleString('en-US')} (${since(t0).toFixed(0)} s)`);
  }
  if (!quick) process.stderr.write('\n');
  const seconds = since(t0);
  if (cache) {
    mkdirSync(dir, { recursive: true });
    await index.save(file);
  }
  return { index, seconds, cached: false };
}

interface User { name: string; topics: number[]; factors: Float32Array; recent: number[] }

function makeUsers(cat: Catalogue, count: number, seed: number): User[] {
  const r = new Rng(seed + 4);
  return Array.from({ length: count }, (_, u) => {
    const topics = [r.int(TOPICS), r.int(TOPICS), r.int(TOPICS)];
    const factors = new Float32Array(FACTORS);
    for (const t of topics) for (let d = 0; d < FACTORS; d++) factors[d] += cat.topicFactors[t * FACTORS + d] / topics.length;
    for (let d = 0; d < FACTORS; d++) factors[d] += 0.3 * r.normal();
    const perTopic = Math.floor(cat.n / TOPICS);
    const recent = Array.from({ length: 5 }, () => topics[r.int(3)] + TOPICS * r.int(perTopic));
    return { name: `u${u}`, topics, factors, recent };
  });
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['quick', 'amazon', 'no-cache']);
  if (args.help) {
    console.log('npm run bench -- feed [--n 1000000] [--runs 1000] [--users 200] [--seed 1] [--quick] [--build-only cf|visual] [--no-cache] [--json] [--out file]\n' +
      'npm run bench -- feed --amazon [--quick] [--json] [--out file]');
    return;
  }
  if (args.amazon) {
    await amazonMain(args);
    return;
  }
  const quick = args.quick === true;
  const n = num(args, 'n', quick ? 20_000 : 1_000_000);
  const runs = num(args, 'runs', quick ? 200 : 1000);
  const userCount = num(args, 'users', quick ? 50 : 200);
  const seed = num(args, 'seed', 1);
  const cache = !args['no-cache'] && !quick;
  const buildOnly = str(args, 'build-only');

  let t0 = performance.now();
  const cat = catalogue(n, seed);
  const catalogueSeconds = since(t0);
  if (buildOnly) {
    if (buildOnly !== 'cf' && buildOnly !== 'visual') throw new Error(`--build-only must be cf or visual (got ${buildOnly})`);
    const b = await buildOrLoad(cat, buildOnly, seed, true, quick);
    console.log(`${buildOnly} index for n=${n}: ${b.cached ? 'already cached' : `built in ${b.seconds.toFixed(1)} s`}`);
    return;
  }
  const cfb = await buildOrLoad(cat, 'cf', seed, cache, quick);
  const visb = await buildOrLoad(cat, 'visual', seed, cache, quick);
  const cfIndex = cfb.index;
  const visIndex = visb.index;

  t0 = performance.now();
  const table = tableFromArrays({
    id: Int32Array.from({ length: n }, (_, i) => i),
    category: cat.category, creator: cat.creator,
    engagements: cat.engagements, impressions: cat.impressions, quality: cat.quality,
  });
  const metadata = new ArrowPinMetadata<number>(table);
  // trending: the most engaged pins (engagements >= 200) feed the per-category popular lists
  const popular: PopularPin<number>[] = [];
  for (let i = 0; i < n; i++) {
    if (cat.engagements[i] >= 200) popular.push({ id: i, category: cat.category[i], creator: cat.creator[i], engagements: cat.engagements[i], impressions: cat.impressions[i], quality: cat.quality[i] });
  }
  const users = makeUsers(cat, userCount, seed);
  const byName = new Map(users.map((u) => [u.name, u]));
  const setupSeconds = since(t0);
  // the metadata source holds its own copies: drop the catalogue's 1M-string arrays so the timed loop's
  // garbage collections do not walk them
  cat.category = [];
  cat.creator = [];

  const cf = new CfCandidateSource<string, number>({ userVector: (u) => byName.get(u)?.factors, index: cfIndex, k: 500, timeoutMs: 50 });
  const visual = new VisualNeighborsSource<string, number>({
    recent: (u) => byName.get(u)?.recent ?? [], vectorOf: (id) => visIndex.getVector(id), index: visIndex, seeds: 5, perSeed: 50, timeoutMs: 50,
  });
  // trending across every category (10 each): the fallback that also gives the caps something to fill with
  const trending = new PopularSource<string, number>({ pins: popular, perCategory: 10, timeoutMs: 50 });
  const feed = new FeedGenerator<string, number>({ sources: [cf, visual, trending], metadata, limit: 100 });

  // warm up, then time one feed at a time (one core: HNSW search runs on the calling thread)
  for (let r = 0; r < Math.min(50, runs); r++) await feed.generate(users[r % users.length].name, { exclude: users[r % users.length].recent });
  const samples: number[] = [];
  const perSource = new Map<string, number[]>();
  const statuses = new Map<string, Map<string, number>>();
  let capsBroken = 0;
  let lengths = 0;
  let candidates = 0;
  const divAt = new Map<number, { cat: number; cre: number; distinct: number }>();
  for (let r = 0; r < runs; r++) {
    const u = users[r % users.length];
    const s0 = performance.now();
    const res = await feed.generate(u.name, { exclude: u.recent });
    samples.push(performance.now() - s0);
    for (const rep of res.sources) {
      (perSource.get(rep.name) ?? perSource.set(rep.name, []).get(rep.name)!).push(rep.ms);
      const st = statuses.get(rep.name) ?? statuses.set(rep.name, new Map()).get(rep.name)!;
      st.set(rep.status, (st.get(rep.status) ?? 0) + 1);
    }
    if (checkCaps(res.items) !== null) capsBroken++;
    lengths += res.items.length;
    candidates += res.candidates;
    for (const m of diversityMetrics(res.items)) {
      const a = divAt.get(m.cutoff) ?? { cat: 0, cre: 0, distinct: 0 };
      a.cat += m.maxCategoryShare; a.cre += m.maxCreatorShare; a.distinct += m.distinctCategories;
      divAt.set(m.cutoff, a);
    }
  }
  const st = stats(samples);
  const rows = [{ stage: 'whole feed (3 sources → 100)', median_ms: st.median, p90_ms: st.p90, p99_ms: st.p99, p999_ms: p999(samples), max_ms: st.max, mean_ms: st.mean, spread: st.spread, samples: st.samples }];
  for (const [name, ms] of perSource) {
    const s = stats(ms);
    rows.push({ stage: `  source ${name}`, median_ms: s.median, p90_ms: s.p90, p99_ms: s.p99, p999_ms: p999(ms), max_ms: s.max, mean_ms: s.mean, spread: s.spread, samples: s.samples });
  }
  printTable(rows, `feed for one user: ${n.toLocaleString('en-US')} pins, ${FACTORS} factors, ${EMB}-d embeddings (one core, ${runs} feeds over ${users.length} users)`);
  const statusText = [...statuses].map(([name, m]) => `${name}: ${[...m].map(([k, v]) => `${k} ${v}`).join(', ')}`).join('; ');
  console.log(`source status: ${statusText}`);
  console.log(`mean candidates after merge ${(candidates / runs).toFixed(0)}, mean feed length ${(lengths / runs).toFixed(1)}, lists breaking the caps: ${capsBroken} of ${runs}`);
  const div = [...divAt].map(([cutoff, a]) => ({ cutoff, meanMaxCategoryShare: a.cat / runs, meanMaxCreatorShare: a.cre / runs, meanDistinctCategories: a.distinct / runs }));
  printTable(div, 'diversity of the feeds (means)');

  // CF quality check: HNSW top-500 recall against brute force, and what brute force costs
  const checkUsers = users.slice(0, quick ? 10 : 20);
  let recallSum = 0;
  const bfMs: number[] = [];
  const hnswMs: number[] = [];
  const ids = Array.from({ length: n }, (_, i) => i);
  // brute force over the same factors, generated in chunks
  const factors = new Float32Array(n * FACTORS);
  for (let from = 0; from < n; from += 100_000) factors.set(itemVectors(cat, 'cf', seed, from, Math.min(n, from + 100_000)), from * FACTORS);
  const bf = new BruteForceSearcher<number>(ids, factors, FACTORS, 'ip');
  for (const u of checkUsers) {
    let s0 = performance.now();
    const exact = bf.search(u.factors, 500);
    bfMs.push(performance.now() - s0);
    s0 = performance.now();
    const approx = cfIndex.search(u.factors, 500);
    hnswMs.push(performance.now() - s0);
    const truth = new Set(exact.ids);
    recallSum += approx.ids.filter((id) => truth.has(id)).length / 500;
  }
  const recall = recallSum / checkUsers.length;
  const cfRows = [
    { method: 'HnswIndex ip (M16, efC100, ef500)', median_ms: stats(hnswMs).median, p99_ms: stats(hnswMs).p99, recall_at_500: recall },
    { method: 'brute force ip (BruteForceSearcher)', median_ms: stats(bfMs).median, p99_ms: stats(bfMs).p99, recall_at_500: 1 },
  ];
  printTable(cfRows, `CF top-500 over ${n.toLocaleString('en-US')} × ${FACTORS} factors, ${checkUsers.length} users`);
  const target = st.p99 <= 10;
  console.log(`target p99 <= 10 ms: ${target ? 'met' : 'NOT met'} (${st.p99.toFixed(2)} ms); index build ${cfb.cached ? 'cached' : `${cfb.seconds.toFixed(1)} s`} (cf), ${visb.cached ? 'cached' : `${visb.seconds.toFixed(1)} s`} (visual); catalogue ${catalogueSeconds.toFixed(1)} s, metadata ${setupSeconds.toFixed(1)} s; peak RSS ${peakRssMb()} MB`);
  addPlot('latency', 'Feed latency percentiles, whole feed and per source', dotChart(
    melt(rows.map((r) => ({ ...r, stage: r.stage.trim() })), { columns: { p50: 'median_ms', p90: 'p90_ms', p99: 'p99_ms', 'p99.9': 'p999_ms', max: 'max_ms' }, keep: ['stage'], key: 'percentile' }),
    { title: `Feed latency, ${n.toLocaleString('en-US')} pins (one core, ${runs} feeds)`, subtitle: `p99.9 of ${runs} samples is close to the maximum; target p99 ≤ 10 ms`, category: { field: 'stage', title: '' }, value: { field: 'value', title: 'ms (log)', log: true }, color: 'percentile', colors: PERCENTILE_COLORS },
  ));
  addPlot('diversity', 'Diversity of the feeds by cutoff', lineChart(
    melt(div, { columns: { 'largest category share': 'meanMaxCategoryShare', 'largest creator share': 'meanMaxCreatorShare' }, keep: ['cutoff'], key: 'measure' }),
    { title: 'Diversity of the feeds: mean largest share in the first N items', x: { field: 'cutoff', title: 'first N items' }, y: { field: 'value', title: 'share', zero: true }, color: 'measure' },
  ));
  await report('feed', args, {
    params: { n, runs, users: users.length, seed, quick, factors: FACTORS, embeddingDim: EMB },
    rows, sources: Object.fromEntries([...statuses].map(([k, m]) => [k, Object.fromEntries(m)])), capsBroken, diversity: div, cf: cfRows,
    build: { cf: { seconds: cfb.seconds, cached: cfb.cached }, visual: { seconds: visb.seconds, cached: visb.cached } }, peakRssMb: peakRssMb(),
  });
}

/** Rank of `target` in `list` (0-based), or -1. */
function rankOf<T>(list: ArrayLike<T>, target: T, upTo: number): number {
  for (let r = 0; r < Math.min(upTo, list.length); r++) if (list[r] === target) return r;
  return -1;
}

/**
 * Amazon Sports: the CF feed before and after the seed's caps, at the leave-last-out item. The CF model is
 * pinrec/cf's SvdRecommender (its default scoring); each evaluated user's top 500 (seen items filtered) is
 * the candidate list, "before" is its first 100, "after" is the caps applied to it (stop when it runs out).
 */
async function amazonMain(args: Record<string, string | boolean>): Promise<void> {
  const quick = args.quick === true;
  const dir = path.join(dataRoot(), 'amazon-sports');
  const seqFile = path.join(dir, 'Sports_and_Outdoors.txt');
  const attrFile = path.join(dir, 'Sports_and_Outdoors_item2attributes.json');
  if (!existsSync(seqFile) || !existsSync(attrFile)) {
    console.log(`amazon mode skipped: ${seqFile} or ${attrFile} not found (set PINREC_DATA)`);
    await report('feed', args, { mode: 'amazon', skipped: `dataset not found under ${dir}` });
    return;
  }
  const cf = await import('../src/cf/index.js');
  const factors = num(args, 'factors', 64);
  const maxUsers = num(args, 'max-users', quick ? 1500 : Infinity);
  const candidatesPerUser = num(args, 'candidates', 500);
  const t0 = performance.now();
  const log = await cf.readSequenceFile(seqFile);
  const split = cf.leaveLastOut(log, { by: 'order' });
  const model = new cf.SvdRecommender<string, string>({ factors, seed: 0 });
  model.fit(split.train);
  const fitSeconds = since(t0);
  const attrs = JSON.parse(readFileSync(attrFile, 'utf8')) as Record<string, number[]>;
  // Two category mappings: the issue's (second attribute) and the top-level category below the shared
  // root (third attribute): in this file the second attribute is the same for 18,293 of 18,357 items.
  const mappings = {
    'category = 2nd attribute': (a: number[] | undefined) => a?.[1] ?? null,
    'category = 3rd attribute': (a: number[] | undefined) => a?.[2] ?? a?.[1] ?? null,
  };
  const nTest = split.testUsers.length;
  const order = Array.from({ length: nTest }, (_, i) => i);
  if (maxUsers < nTest) new Rng(7).shuffle(order);
  const users = order.slice(0, Math.min(nTest, maxUsers));
  type Acc = { hr10: number; ndcg10: number; hr100: number; ndcg100: number; len: number; broken: number; short: number; share: Map<number, { cat: number; cre: number; distinct: number }> };
  const acc = (): Acc => ({ hr10: 0, ndcg10: 0, hr100: 0, ndcg100: 0, len: 0, broken: 0, short: 0, share: new Map() });
  const results = new Map<string, { before: Acc; after: Acc }>();
  for (const name of Object.keys(mappings)) results.set(name, { before: acc(), after: acc() });
  const t1 = performance.now();
  for (const t of users) {
    const userId = split.train.users.id(split.testUsers[t]);
    const target = split.train.items.id(split.testItems[t]);
    const rec = model.recommend(userId, { n: candidatesPerUser, filterSeen: true, fallback: 'popular' });
    for (const [name, catOf] of Object.entries(mappings)) {
      const items = rec.ids.map((id) => { const a = attrs[id]; return { id, category: catOf(a), creator: a?.[0] ?? null }; });
      const before = items.slice(0, 100);
      const after = applyCaps(items, { limit: 100 }).items;
      const r = results.get(name)!;
      for (const [list, a] of [[before, r.before], [after, r.after]] as const) {
        const ids = list.map((x) => x.id);
        const r10 = rankOf(ids, target, 10);
        const r100 = rankOf(ids, target, 100);
        if (r10 >= 0) { a.hr10++; a.ndcg10 += 1 / Math.log2(r10 + 2); }
        if (r100 >= 0) { a.hr100++; a.ndcg100 += 1 / Math.log2(r100 + 2); }
        a.len += list.length;
        if (list.length < 100) a.short++;
        if (list === after && checkCaps(list) !== null) a.broken++;
        for (const m of diversityMetrics(list)) {
          const s = a.share.get(m.cutoff) ?? { cat: 0, cre: 0, distinct: 0 };
          s.cat += m.maxCategoryShare; s.cre += m.maxCreatorShare; s.distinct += m.distinctCategories;
          a.share.set(m.cutoff, s);
        }
      }
    }
  }
  const evalSeconds = since(t1);
  const u = users.length;

  // The same evaluation through the feed pipeline: a PureSVD model's user factors, an HnswIndex in 'ip'
  // mode over its item factors (CfCandidateSource), metadata from InMemoryPinMetadata, blend on similarity
  // only, the seed's caps. Category = 3rd attribute.
  const t2 = performance.now();
  const svd = new cf.SvdRecommender<string, string>({ factors, seed: 0, scoring: 'puresvd' });
  svd.fit(split.train);
  const itf = svd.itemFactors();
  const ipIndex = new HnswIndex<string>({ metric: 'ip', dim: itf.dim, M: 16, efConstruction: 200, ef: 600, capacity: itf.ids.length });
  ipIndex.addItems(itf.ids, itf.factors);
  const pinMeta = new InMemoryPinMetadata<string>(itf.ids.map((id) => { const a = attrs[id]; return { id, category: a?.[2] ?? a?.[1] ?? null, creator: a?.[0] ?? null }; }));
  const feed = new FeedGenerator<string, string>({
    sources: [new CfCandidateSource<string, string>({ userVector: (uid) => svd.userFactors(uid), index: ipIndex, k: candidatesPerUser })],
    metadata: pinMeta, weights: { similarity: 1, engagement: 0, quality: 0 }, limit: 100, timeoutMs: 1000,
  });
  const fa = acc();
  const nofa = acc();
  const csr = split.train.csr;
  const feedMs: number[] = [];
  for (const t of users) {
    const row = split.testUsers[t];
    const userId = split.train.users.id(row);
    const target = split.train.items.id(split.testItems[t]);
    const seen: string[] = [];
    for (let p = csr.indptr[row]; p < csr.indptr[row + 1]; p++) seen.push(split.train.items.id(csr.indices[p]));
    const f0 = performance.now();
    const res = await feed.generate(userId, { exclude: seen });
    feedMs.push(performance.now() - f0);
    const plain = svd.recommend(userId, { n: 100, filterSeen: true, fallback: 'popular' }).ids;
    for (const [ids, a, list] of [[res.items.map((x) => x.id), fa, res.items], [plain, nofa, null]] as const) {
      const r10 = rankOf(ids, target, 10);
      const r100 = rankOf(ids, target, 100);
      if (r10 >= 0) { a.hr10++; a.ndcg10 += 1 / Math.log2(r10 + 2); }
      if (r100 >= 0) { a.hr100++; a.ndcg100 += 1 / Math.log2(r100 + 2); }
      a.len += ids.length;
      if (ids.length < 100) a.short++;
      if (list && checkCaps(list) !== null) a.broken++;
      const items: Groupable[] = list ?? ids.map((id) => { const at = attrs[id]; return { category: at?.[2] ?? at?.[1] ?? null, creator: at?.[0] ?? null }; });
      for (const m of diversityMetrics(items)) {
        const sh = a.share.get(m.cutoff) ?? { cat: 0, cre: 0, distinct: 0 };
        sh.cat += m.maxCategoryShare; sh.cre += m.maxCreatorShare; sh.distinct += m.distinctCategories;
        a.share.set(m.cutoff, sh);
      }
    }
  }
  const feedSeconds = since(t2);
  results.set('PureSVD exact top-100 (no caps)', { before: nofa, after: acc() });
  results.set('feed: PureSVD factors → HnswIndex ip → caps', { before: acc(), after: fa });
  const rows: Record<string, unknown>[] = [];
  for (const [name, r] of results) {
    for (const [when, a] of [['before caps', r.before], ['after caps', r.after]] as const) {
      if (!a.share.has(100)) continue;
      rows.push({
        mapping: name, list: when, 'HR@10': a.hr10 / u, 'NDCG@10': a.ndcg10 / u, 'HR@100': a.hr100 / u, 'NDCG@100': a.ndcg100 / u,
        'cat share@20': a.share.get(20)!.cat / u, 'cat share@50': a.share.get(50)!.cat / u, 'cat share@100': a.share.get(100)!.cat / u,
        'creator share@100': a.share.get(100)!.cre / u, 'distinct cats@100': a.share.get(100)!.distinct / u,
        'mean length': a.len / u, 'lists < 100': a.short, 'lists breaking caps': when === 'after caps' ? a.broken : '',
      });
    }
  }
  printTable(rows, `amazon-sports CF feed (SvdRecommender, ${factors} factors, ${model.options.scoring}), leave-last-out, ${u.toLocaleString('en-US')} users, top ${candidatesPerUser} candidates → 100`);
  console.log('HR@10/NDCG@10 cannot change: the caps leave the first 20 results free. Shares are the mean over users of the largest share.');
  const fs = stats(feedMs);
  console.log(`fit ${fitSeconds.toFixed(1)} s, evaluation ${evalSeconds.toFixed(1)} s; feed pipeline (fit + index + ${u} feeds) ${feedSeconds.toFixed(1)} s, per feed median ${fs.median.toFixed(2)} ms, p99 ${fs.p99.toFixed(2)} ms; peak RSS ${peakRssMb()} MB`);
  addPlot('category-share', 'Largest category share by cutoff, before and after the caps', lineChart(
    melt(rows.filter((r) => r['cat share@100'] !== undefined), { columns: { '20': 'cat share@20', '50': 'cat share@50', '100': 'cat share@100' }, keep: ['mapping', 'list'], key: 'cutoff' })
      .map((r) => ({ ...r, cutoff: Number(r.cutoff) })),
    { title: 'Largest category share in the first N items (mean over users)', subtitle: 'amazon-sports CF feed, before and after the seed\'s caps', x: { field: 'cutoff', title: 'first N items' }, y: { field: 'value', title: 'share', zero: true }, color: 'mapping', dash: 'list' },
  ));
  addPlot('hit-rate', 'HR@10 and HR@100 before and after the caps', dotChart(
    melt(rows.map((r) => ({ ...r, label: `${r.mapping} · ${r.list}` })), { columns: { 'HR@10': 'HR@10', 'HR@100': 'HR@100', 'NDCG@100': 'NDCG@100' }, keep: ['label'], key: 'metric' }),
    { title: 'Hit rate before and after the caps', category: { field: 'label', title: '' }, value: { field: 'value', title: '', zero: true }, color: 'metric' },
  ));
  await report('feed', args, { mode: 'amazon', params: { factors, users: u, candidatesPerUser, quick, scoring: model.options.scoring }, rows, fitSeconds, evalSeconds, feedSeconds, feedMs: fs, peakRssMb: peakRssMb() });
}
