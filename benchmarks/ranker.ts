/**
 * The learned ranker (src/ranking/learned.ts) against the CF model alone and the seed's blend, re-ranking the CF
 * model's top C on Amazon Sports and Amazon Beauty.
 *
 *   npm run bench -- ranker [--datasets sports,beauty] [--candidates 100] [--factors 64] [--negatives 50]
 *                           [--max-users N] [--epochs 40] [--json] [--out FILE] [--quick]
 *
 * Protocol (leave-last-out, no leakage): for each user with sequence s (oldest first, length L),
 * - the CF model (`SvdRecommender`, SVD-EASE, `seed` 0) is fitted on s[0..L-3] of every user (all but the last two);
 * - ranker training: history s[0..L-3], target s[L-2], candidates = the CF model's top C for that history (folded
 *   in as a new user); positives = the target when it is among the candidates, negatives sampled from the same
 *   candidates; early stopping on 10 % of these queries;
 * - test: history s[0..L-2] (the second-to-last pin is new to the CF model, folded in), target s[L-1], re-ranking the
 *   CF top C of that history. HR@10 / NDCG@10 over every test user (a target outside the top C is a miss for all).
 * Metadata: creator = 1st attribute of `*_item2attributes.json` (usually the brand), category = 3rd attribute (the
 * top-level category below the shared root; else the last). Popularity = the pin's count in the CF training data,
 * trending = its count among every user's last 3 training pins; no images, timestamps or quality exist here, so
 * those features stay missing, and `recent_sim_*` uses the CF model's item factors as the embedding.
 * The blend: similarity = the CF rank calibrated as the feed does (1 − r/C), engagement = popularity smoothed over
 * the users, quality missing (0.5). Timing: 1,000 CF candidates of one user, feature extraction and the plain-JS
 * forward, median of repeated runs on one thread. Quick mode: 3,000 users per dataset, C = 50, 32 factors.
 * Without the data files, a seeded synthetic catalogue is used instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { SvdRecommender, interactionsFromColumns, syntheticInteractions, type NewUser } from '../src/cf/index.js';
import { Rng } from '../src/core/rng.js';
import {
  FeatureExtractor, LearnedRanker, TrainingSetBuilder, rerank, toBatch, userProfile, type Candidate, type FeatureContext, type UserProfile,
} from '../src/ranking/index.js';
import { dataRoot, num, parseArgs, peakRssMb, printTable, report, since, stats, str, timeMs, type Args } from './lib.js';
import { addPlot, barChart, melt } from './report.js';

interface Dataset { name: string; seqs: string[][]; attrs: Map<string, number[]> }

const FILES: Record<string, [string, string, string]> = {
  sports: ['amazon-sports', 'Sports_and_Outdoors.txt', 'Sports_and_Outdoors_item2attributes.json'],
  beauty: ['amazon-beauty', 'Beauty.txt', 'Beauty_item2attributes.json'],
};

function loadDataset(key: string): Dataset | undefined {
  const [dir, seq, attr] = FILES[key] ?? [];
  if (!dir) throw new Error(`unknown dataset '${key}' (sports, beauty)`);
  const seqFile = path.join(dataRoot(), dir, seq);
  const attrFile = path.join(dataRoot(), dir, attr);
  if (!existsSync(seqFile) || !existsSync(attrFile)) return undefined;
  const seqs = readFileSync(seqFile, 'utf8').split('\n').map((l) => l.trim().split(/\s+/).slice(1)).filter((s) => s.length >= 3);
  const raw = JSON.parse(readFileSync(attrFile, 'utf8')) as Record<string, number[]>;
  return { name: seq, seqs, attrs: new Map(Object.entries(raw)) };
}

function syntheticDataset(seed: number): Dataset {
  const log = syntheticInteractions({ users: 3000, items: 1500, events: 40_000, seed });
  const byUser = new Map<string, string[]>();
  for (let e = 0; e < log.length; e++) {
    const u = String(log.users.id(log.user[e]));
    (byUser.get(u) ?? byUser.set(u, []).get(u)!).push(String(log.items.id(log.item[e])));
  }
  const rng = new Rng(seed);
  const attrs = new Map<string, number[]>();
  for (const s of byUser.values()) for (const it of s) if (!attrs.has(it)) attrs.set(it, [rng.int(50), 0, 100 + rng.int(12)]);
  return { name: `synthetic-${seed}`, seqs: [...byUser.values()].filter((s) => s.length >= 3), attrs };
}

interface Metrics { hr10: number; ndcg10: number }
const acc = () => ({ hr: 0, ndcg: 0, n: 0 });
const add = (a: { hr: number; ndcg: number; n: number }, rank: number) => { a.n++; if (rank >= 0 && rank < 10) { a.hr++; a.ndcg += 1 / Math.log2(rank + 2); } };
const done = (a: { hr: number; ndcg: number; n: number }): Metrics => ({ hr10: a.hr / a.n, ndcg10: a.ndcg / a.n });

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['quick', 'json', 'help']);
  if (args.help) {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
    return;
  }
  const quick = !!args.quick;
  const keys = (str(args, 'datasets') ?? 'sports,beauty').split(',').map((s) => s.trim()).filter(Boolean);
  const C = num(args, 'candidates', quick ? 50 : 100);
  const factors = num(args, 'factors', quick ? 32 : 64);
  const negatives = num(args, 'negatives', quick ? 20 : 50);
  const epochs = num(args, 'epochs', quick ? 15 : 40);
  const maxUsers = args['max-users'] !== undefined ? num(args, 'max-users', 0) : quick ? 3000 : Infinity;

  const results: Record<string, unknown>[] = [];
  const importance: Record<string, unknown>[] = [];
  let timing: { featureMsPer1000: number; inferenceMsPer1000: number; featureStats: unknown; inferenceStats: unknown } | undefined;
  for (const key of keys) {
    let ds = loadDataset(key);
    if (!ds) {
      console.log(`${key}: data files missing under ${dataRoot()} (set PINREC_DATA): using a seeded synthetic catalogue instead`);
      ds = syntheticDataset(keys.indexOf(key) + 1);
    }
    const t0 = performance.now();
    const r = await runDataset(ds, { C, factors, negatives, epochs, maxUsers, quick, needTiming: timing === undefined });
    if (r.timing) timing = r.timing;
    results.push({ dataset: ds.name, ...r.row });
    importance.push(...r.importance.slice(0, 12).map((x, i) => ({ dataset: ds!.name, rank: i + 1, ...x })));
    console.log(`${ds.name}: done in ${since(t0).toFixed(1)} s`);
  }
  const flat = results.map((r) => {
    const x = r as { dataset: string; users: number; candidates: number; cf: Metrics; blend: Metrics; ranker: Metrics; trainSeconds: number; trainRows: number; bestEpoch: number; hitRateAtC: number };
    return {
      dataset: x.dataset, users: x.users, C: x.candidates, 'HR@C': x.hitRateAtC,
      'cf HR@10': x.cf.hr10, 'cf NDCG@10': x.cf.ndcg10, 'blend HR@10': x.blend.hr10, 'blend NDCG@10': x.blend.ndcg10,
      'ranker HR@10': x.ranker.hr10, 'ranker NDCG@10': x.ranker.ndcg10,
      'HR ratio': x.ranker.hr10 / x.cf.hr10, 'NDCG ratio': x.ranker.ndcg10 / x.cf.ndcg10,
      trainRows: x.trainRows, bestEpoch: x.bestEpoch, trainSeconds: x.trainSeconds,
    };
  });
  printTable(flat, `learned ranker vs CF alone vs blend, re-ranking the CF top C (leave-last-out; target: ranker ≥ 1.05× CF on HR@10 and NDCG@10)`);
  printTable(importance, 'permutation importance (drop of within-query NDCG on held-out training queries), top 12');
  if (timing) printTable([{ featureMsPer1000: timing.featureMsPer1000, inferenceMsPer1000: timing.inferenceMsPer1000 }], 'ms per 1,000 candidates (median, one thread; target ≤ 5 ms each)');
  const met = flat.every((r) => r['HR ratio'] >= 1.05 && r['NDCG ratio'] >= 1.05);
  addPlot('hr-ndcg', 'HR@10 and NDCG@10: CF alone, blend, learned ranker', barChart(
    melt(results.flatMap((r) => {
      const x = r as { dataset: string; cf: Metrics; blend: Metrics; ranker: Metrics };
      return (['cf', 'blend', 'ranker'] as const).map((m) => ({ dataset: x.dataset, model: m, 'HR@10': x[m].hr10, 'NDCG@10': x[m].ndcg10 }));
    }), { columns: ['HR@10', 'NDCG@10'], keep: ['dataset', 'model'], key: 'metric' }).map((r) => ({ ...r, label: `${r.dataset} ${r.metric}` })),
    { title: 'Re-ranking the CF top C', subtitle: `C = ${C}; leave-last-out`, category: { field: 'label', title: '' }, value: { field: 'value', title: 'value' }, color: { field: 'model', title: 'model' } },
  ));
  await report('ranker', args, {
    datasets: results, featureMsPer1000: timing?.featureMsPer1000 ?? null, inferenceMsPer1000: timing?.inferenceMsPer1000 ?? null,
    timing: timing ?? null, importance, targetMet: met, peakRssMb: peakRssMb(),
    settings: { candidates: C, factors, negatives, epochs, maxUsers: Number.isFinite(maxUsers) ? maxUsers : null, quick },
  });
}

async function runDataset(ds: Dataset, o: { C: number; factors: number; negatives: number; epochs: number; maxUsers: number; quick: boolean; needTiming: boolean }) {
  let seqs = ds.seqs;
  if (seqs.length > o.maxUsers) {
    const rng = new Rng(1);
    const idx = Array.from(seqs.keys());
    rng.shuffle(idx);
    seqs = idx.slice(0, o.maxUsers).sort((a, b) => a - b).map((i) => seqs[i]);
  }
  // CF training data: all but the last two pins of each user
  const users: string[] = [], items: string[] = [], times: number[] = [];
  const pop = new Map<string, number>(), trend = new Map<string, number>();
  seqs.forEach((s, u) => {
    const L = s.length;
    for (let t = 0; t < L - 2; t++) {
      users.push(`u${u}`); items.push(s[t]); times.push(t);
      pop.set(s[t], (pop.get(s[t]) ?? 0) + 1);
      if (t >= L - 5) trend.set(s[t], (trend.get(s[t]) ?? 0) + 1);
    }
  });
  let t0 = performance.now();
  const model = new SvdRecommender<string, string>({ factors: o.factors, seed: 0 }).fit(interactionsFromColumns({ users, items, timestamps: times }).toMatrix({ combine: 'max' }));
  const cfSeconds = since(t0);
  const nUsers = seqs.length;
  const catOf = (p: string) => { const a = ds.attrs.get(p); return a ? (a.length >= 3 ? a[2] : a[a.length - 1]) : undefined; };
  const creOf = (p: string) => ds.attrs.get(p)?.[0];
  const f = model.itemFactors();
  const rowOf = new Map(f.ids.map((id, i) => [id, i]));
  const embedding = (id: string) => { const r = rowOf.get(id); return r === undefined ? undefined : f.factors.subarray(r * f.dim, (r + 1) * f.dim); };
  const context: FeatureContext<string> = { embedding };
  const fx = new FeatureExtractor({ sources: ['cf', 'trending'] });

  const candidatesOf = (ids: string[], scores: Float32Array): Candidate<string>[] => ids.map((id, r) => ({
    id, similarity: 1 - r / ids.length, engagements: pop.get(id) ?? 0, impressions: nUsers,
    category: catOf(id) ?? null, creator: creOf(id) ?? null, features: { cf: scores[r], trending: trend.get(id) ?? 0 },
  }));
  const queries = (cut: number) => {
    const out: { hist: string[]; target: string; ids: string[]; scores: Float32Array }[] = [];
    const B = 512;
    for (let s0 = 0; s0 < seqs.length; s0 += B) {
      const chunk = seqs.slice(s0, s0 + B);
      const hs = chunk.map((s) => s.slice(0, s.length - cut));
      const recs = model.recommendBatch(hs.map((h): NewUser<string> => ({ items: h })), { n: o.C, fallback: 'popular' });
      chunk.forEach((s, i) => out.push({ hist: hs[i], target: s[s.length - cut], ids: recs[i].ids, scores: recs[i].scores }));
    }
    return out;
  };

  // ranker training queries: history s[0..L-3], target s[L-2]
  t0 = performance.now();
  const val = queries(2);
  const builder = new TrainingSetBuilder({ negatives: o.negatives, seed: 1 });
  const heldOut = new TrainingSetBuilder({ negatives: o.negatives, seed: 2 });
  val.forEach((q, i) => {
    const m = fx.extract(toBatch(candidatesOf(q.ids, q.scores)), userProfile(q.hist, { categoryOf: catOf, creatorOf: creOf }), context);
    (i % 10 === 9 ? heldOut : builder).add(m, (row) => q.ids[row] === q.target);
  });
  const examplesSeconds = since(t0);
  const ranker = new LearnedRanker({ extractor: fx, seed: 1, epochs: o.epochs });
  const rss0 = peakRssMb();
  const fit = await ranker.fit(builder.build());
  const imp = heldOut.size > 0 ? ranker.permutationImportance(heldOut.build(), { seed: 1, repeats: o.quick ? 1 : 3 }) : [];

  // test: history s[0..L-2], target s[L-1]
  t0 = performance.now();
  const test = queries(1);
  const cf = acc(), blend = acc(), learned = acc();
  let inC = 0;
  for (const q of test) {
    const cands = candidatesOf(q.ids, q.scores);
    add(cf, q.ids.indexOf(q.target));
    if (q.ids.includes(q.target)) inC++;
    add(blend, rerank(cands, { limit: 10, diversity: false }).items.findIndex((x) => x.id === q.target));
    const profile: UserProfile<string> = userProfile(q.hist, { categoryOf: catOf, creatorOf: creOf });
    add(learned, rerank(cands, { scorer: ranker.forUser(profile, context), limit: 10, diversity: false }).items.findIndex((x) => x.id === q.target));
  }
  const testSeconds = since(t0);

  let timing;
  if (o.needTiming) {
    const big = model.recommend({ items: seqs[0].slice(0, -1) }, { n: 1000, fallback: 'popular' });
    const batch = toBatch(candidatesOf(big.ids, big.scores));
    const profile = userProfile(seqs[0].slice(0, -1), { categoryOf: catOf, creatorOf: creOf });
    const m = fx.extract(batch, profile, context);
    const out = new Float64Array(m.n);
    const scale = 1000 / batch.n;
    const fs = stats(timeMs(o.quick ? 100 : 500, () => fx.extract(batch, profile, context), 50).map((x) => x * scale));
    const is = stats(timeMs(o.quick ? 100 : 500, () => ranker.predict(m, out), 50).map((x) => x * scale));
    timing = { featureMsPer1000: fs.median, inferenceMsPer1000: is.median, featureStats: fs, inferenceStats: is, candidatesTimed: batch.n };
  }
  const row = {
    users: nUsers, items: f.ids.length, candidates: o.C, factors: o.factors, hitRateAtC: inC / test.length,
    cf: done(cf), blend: done(blend), ranker: done(learned),
    trainRows: fit.trainRows, validationRows: fit.validationRows, trainQueries: builder.size, bestEpoch: fit.bestEpoch, epochsRun: fit.epochs,
    trainSeconds: fit.seconds, trainBackend: fit.backend, cfFitSeconds: cfSeconds, examplesSeconds, testSeconds,
    peakRssMbBeforeFit: rss0, peakRssMbAfterFit: peakRssMb(), schema: ranker.schema.length,
  };
  return { row, importance: imp, timing };
}

export type { Args };
