/**
 * Two-stage CF (what the feed's CfCandidateSource does) against full ranking, and recommendBatch against a
 * loop of recommend.
 *
 *   npm run bench -- twostage [--data FILE] [--factors 128] [--candidates 10,50,200]
 *                             [--max-users N] [--batch-users 1000] [--json] [--out FILE] [--quick]
 *
 * Protocol: leave-last-out on the sequence file (default $PINREC_DATA/amazon-sports), SvdRecommender with
 * the default SVD-EASE scoring. Full ranking scores every pin (`recommend(user, {n: 10})`). Two-stage: stage 1
 * is an inner-product search (an exact scan, the ideal first stage, and an `HnswIndex`, M 16,
 * ef = max(C, 50)) for the user's factors over `model.scoringFactors()`, taking the top C; stage 2 is
 * `recommend(user, {n: 10, candidates})`, which scores those pins and the pins co-occurring with the user's
 * history exactly. For contrast, the naive first stage (PureSVD item factors, re-scored with `allowItems`
 * alone) is shown at the first C. Reported: HR@10, NDCG@10, their ratio to full ranking on the same users,
 * overlap with full ranking's top 10, ms per user. Then 1,000 users through `recommendBatch` vs a loop of
 * `recommend`.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { ExactIndex, HnswIndex } from '../src/ann/index.js';
import { SvdRecommender, leaveLastOut, readSequenceFile, syntheticInteractions, type InteractionLog } from '../src/cf/index.js';
import { Rng } from '../src/core/rng.js';
import type { Id } from '../src/core/types.js';
import { dataRoot, num, nums, parseArgs, printTable, report, since, str, type Args } from './lib.js';
import { addPlot, barChart, lineChart, melt } from './report.js';

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['quick', 'json', 'help']);
  if (args.help) {
    console.log((await import('node:fs')).readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
    return;
  }
  const quick = !!args.quick;
  const def = path.join(dataRoot(), 'amazon-sports', 'Sports_and_Outdoors.txt');
  const file = str(args, 'data') ?? (existsSync(def) ? def : undefined);
  let log: InteractionLog;
  let dataset: string;
  if (file) { log = await readSequenceFile(file); dataset = path.basename(file); }
  else {
    console.log(`no --data and ${def} is missing (set PINREC_DATA): using a seeded synthetic catalogue instead`);
    log = syntheticInteractions({ users: 5000, items: 3000, events: 60_000, seed: 1 });
    dataset = 'synthetic';
  }
  const factors = num(args, 'factors', quick ? 32 : 128);
  const cands = nums(args, 'candidates', quick ? [200] : [10, 50, 200]);
  const maxUsers = args['max-users'] !== undefined ? num(args, 'max-users', 0) : quick ? 400 : Infinity;

  let t0 = performance.now();
  const split = leaveLastOut(log, { by: 'order', combine: 'max' });
  const model = new SvdRecommender({ factors, seed: 0 }).fit(split.train);
  const fitSeconds = since(t0);
  const users = split.train.users.ids();
  // a seeded sample of evaluated users when --max-users is set
  let order = Array.from(split.testUsers.keys());
  if (order.length > maxUsers) { const rng = new Rng(1); for (let i = order.length - 1; i > 0; i--) { const j = rng.int(i + 1); [order[i], order[j]] = [order[j], order[i]]; } order = order.slice(0, maxUsers); }
  const evalUsers = order.map((t) => users[split.testUsers[t]]);
  const truth = order.map((t) => split.train.items.id(split.testItems[t]));

  const f = model.scoringFactors();
  t0 = performance.now();
  const hnsw = new HnswIndex<Id>({ metric: 'ip', dim: f.dim, capacity: f.ids.length, seed: 1 });
  hnsw.addItems(f.ids, f.factors);
  const buildSeconds = since(t0);
  const exact = new ExactIndex<Id>({ metric: 'ip', dim: f.dim, capacity: f.ids.length });
  exact.addItems(f.ids, f.factors);
  const pure = model.itemFactors();
  const naive = new ExactIndex<Id>({ metric: 'ip', dim: pure.dim, capacity: pure.ids.length });
  naive.addItems(pure.ids, pure.factors);

  const metrics = (lists: Id[][]) => {
    let hr = 0, ndcg = 0;
    lists.forEach((ids, i) => { const r = ids.indexOf(truth[i]); if (r >= 0) { hr++; ndcg += 1 / Math.log2(r + 2); } });
    return { hr10: hr / lists.length, ndcg10: ndcg / lists.length };
  };

  t0 = performance.now();
  const fullLists = model.recommendBatch(evalUsers, { n: 10 }).map((r) => r.ids);
  const fullMs = (since(t0) * 1000) / evalUsers.length;
  const full = metrics(fullLists);
  const rows: Record<string, unknown>[] = [{ stage1: 'none (full ranking)', candidates: f.ids.length, ...full, hrRatio: 1, ndcgRatio: 1, overlapTop10: 1, msPerUser: fullMs }];
  for (const C of cands) {
    const stages = [['naive: PureSVD factors + allowItems', naive], ['exact ip + co-occurring', exact], ['hnsw ip + co-occurring', hnsw]] as const;
    for (const [stage1, index] of stages) {
      if (index === naive && C !== cands[0]) continue;
      t0 = performance.now();
      let recall = 0;
      const lists = evalUsers.map((u, i) => {
        const q = model.tryUserFactors(u)!;
        const hits = index.search(q, C, { ef: Math.max(C, 50) });
        const ids = index === naive ? model.recommend(u, { n: 10, allowItems: hits.ids }).ids : model.recommend(u, { n: 10, candidates: hits.ids }).ids;
        const set = new Set(ids);
        recall += fullLists[i].filter((x) => set.has(x)).length / Math.max(1, fullLists[i].length);
        return ids;
      });
      const ms = (since(t0) * 1000) / evalUsers.length;
      const m = metrics(lists);
      rows.push({ stage1, candidates: C, ...m, hrRatio: m.hr10 / full.hr10, ndcgRatio: m.ndcg10 / full.ndcg10, overlapTop10: recall / evalUsers.length, msPerUser: ms });
    }
  }
  printTable(rows, `two-stage vs full ranking — ${dataset}, ${evalUsers.length} users, ${factors} factors, SVD-EASE (fit ${fitSeconds.toFixed(1)} s, HNSW build ${buildSeconds.toFixed(1)} s)`);
  const needed = rows.find((r) => r.stage1 === 'hnsw ip + co-occurring' && (r.hrRatio as number) >= 0.98 && (r.ndcgRatio as number) >= 0.98);

  // recommendBatch (blocked kernel) against a loop of recommend over the same users
  const nb = Math.min(num(args, 'batch-users', quick ? 200 : 1000), users.length);
  const batchUsers = users.slice(0, nb);
  const loopTimes: number[] = [], batchTimes: number[] = [];
  for (let rep = 0; rep < (quick ? 1 : 3); rep++) {
    t0 = performance.now();
    for (const u of batchUsers) model.recommend(u, { n: 10 });
    loopTimes.push(since(t0));
    t0 = performance.now();
    model.recommendBatch(batchUsers, { n: 10 });
    batchTimes.push(since(t0));
  }
  const loopS = Math.min(...loopTimes), batchS = Math.min(...batchTimes);
  const batchRow = { users: nb, items: f.ids.length, factors, loopSeconds: loopS, batchSeconds: batchS, speedup: loopS / batchS };
  printTable([batchRow], 'recommendBatch vs a loop of recommend (best of runs)');
  await hnsw.close();
  const staged = rows.filter((r) => r.stage1 !== 'none (full ranking)');
  addPlot('quality-candidates', 'Two-stage quality against the number of candidates', lineChart(
    melt(staged, { columns: { 'HR@10 ratio': 'hrRatio', 'NDCG@10 ratio': 'ndcgRatio', 'overlap with full top 10': 'overlapTop10' }, keep: ['stage1', 'candidates'], key: 'measure' }),
    { title: 'Two-stage against full ranking, by candidates from stage 1', subtitle: `${dataset}, ${evalUsers.length} users, ${factors} factors; 1 = as good as full ranking`,
      x: { field: 'candidates', title: 'candidates C (log)', log: true }, y: { field: 'value', title: 'ratio to full ranking' }, color: { field: 'stage1', title: 'stage 1' }, dash: 'measure' },
  ));
  addPlot('ms-per-user', 'Time per user: full ranking and two-stage', barChart(rows.map((r) => ({ ...r, label: r.stage1 === 'none (full ranking)' ? 'full ranking' : `${r.stage1}, C = ${r.candidates}` })), {
    title: 'Milliseconds per user', subtitle: `recommendBatch vs loop of recommend: ${batchRow.speedup.toFixed(2)}× (${nb} users)`, category: { field: 'label', title: '' }, value: { field: 'msPerUser', title: 'ms per user' },
  }));
  await report('twostage', args, {
    dataset, users: split.train.nUsers, items: split.train.nItems, factors, fitSeconds, evalUsers: evalUsers.length,
    full, results: rows, candidatesNeededFor098: needed ? needed.candidates : null, batch: batchRow,
  });
}

export type { Args };
