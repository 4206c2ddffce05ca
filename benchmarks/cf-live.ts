/**
 * CF for a live catalogue (issue [8]): order-aware scoring, updates without refitting, decay and popularity.
 *
 *   npm run bench -- cf --live [--sections order,shuffled,popularity,replay,updates,traffic] [--quick] [--json]
 *   (or npm run bench -- cf-live …)
 *       [--max-users N] [--pins 1000000] [--events 20000]
 *
 * - order: plain SVD-EASE against the default order-aware scoring ('auto'), Amazon Beauty (256 factors) and
 *   Sports (128), leave-last-out, full ranking; fit time of both (the target is ≤ 2×); the setting chosen.
 * - shuffled: Beauty with every user's sequence shuffled (seeded): order carries nothing; 'auto' must keep
 *   plain scoring and lose nothing.
 * - popularity: HR@10, coverage@10 and the Gini index of recommendation counts at several popularity
 *   penalties α, Beauty and Sports.
 * - replay: fit on the first 80% of each user's sequence, stream the rest in time order (round by round:
 *   every user's next event), and measure HR@10 of each user's next event at checkpoints: a static model,
 *   the model with `update()` per event, and a refit at the end.
 * - updates: per-event cost of `update()` on a synthetic catalogue of `--pins` pins (known users on known pins,
 *   new pins, new users), mean / p50 / p99 / max, and batch throughput.
 * - traffic: CF at scale on `pinrec/workload`'s generated traffic (normal and wedding-season): simulated hours
 *   until `--traffic-interactions` engagements (default 2M; quick 60k), fit time, peak memory, and leave-last-out
 *   HR@10 / NDCG@10 of the default (order-aware) model against plain scoring.
 *
 * Quick mode (CI) runs every section on small synthetic data and seeded samples.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  SvdRecommender, evaluate, interactionsFromColumns, interactionsFromRecords, leaveLastOut, readSequenceFile, syntheticInteractions,
  type InteractionLog,
} from '../src/cf/index.js';
import { Rng } from '../src/core/rng.js';
import { PinTrafficGenerator, interactionsFromTraffic, type ScenarioName } from '../src/workload/index.js';
import { dataRoot, num, parseArgs, printTable, report, since, str, type Args } from './lib.js';
import { addPlot, barChart, dotChart, lineChart, melt, PERCENTILE_COLORS, recordTable, type Row } from './report.js';

interface Dataset { name: string; file?: string; factors: number; log?: InteractionLog<string, string> }

function datasets(quick: boolean): Dataset[] {
  const root = dataRoot();
  const beauty = path.join(root, 'amazon-beauty', 'Beauty.txt');
  const sports = path.join(root, 'amazon-sports', 'Sports_and_Outdoors.txt');
  if (quick) return [{ name: 'synthetic-chains', factors: 16, log: chains(3000, 400) }];
  const out: Dataset[] = [];
  if (existsSync(beauty)) out.push({ name: 'amazon-beauty', file: beauty, factors: 256 });
  else console.log(`SKIPPED amazon-beauty: ${beauty} not found (set PINREC_DATA)`);
  if (existsSync(sports)) out.push({ name: 'amazon-sports', file: sports, factors: 128 });
  else console.log(`SKIPPED amazon-sports: ${sports} not found (set PINREC_DATA)`);
  return out;
}

/** A seeded log where users walk chains of their cluster's pins, with noise: order carries signal. */
function chains(users: number, pins: number, seed = 1): InteractionLog<string, string> {
  const rng = new Rng(seed);
  const us: string[] = [], its: string[] = [];
  const clusters = 20, per = Math.floor(pins / clusters);
  for (let u = 0; u < users; u++) {
    const c = rng.int(clusters);
    let at = rng.int(per);
    const len = 4 + rng.int(12);
    for (let t = 0; t < len; t++) {
      us.push(`u${u}`);
      its.push(rng.next() < 0.3 ? `p${rng.int(pins)}` : `p${c * per + (at % per)}`);
      at += 1 + (rng.next() < 0.3 ? 1 : 0);
    }
  }
  return interactionsFromColumns({ users: us, items: its });
}

/** Each user's pins in input order. */
function sequences(log: InteractionLog<string, string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let e = 0; e < log.length; e++) {
    const u = log.users.id(log.user[e]);
    let l = out.get(u);
    if (!l) out.set(u, (l = []));
    l.push(log.items.id(log.item[e]));
  }
  return out;
}

async function load(d: Dataset): Promise<InteractionLog<string, string>> {
  return d.log ?? (await readSequenceFile(d.file!));
}

/** `npm run bench -- cf-live …` is the same as `npm run bench -- cf --live …`. */
export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['help', 'live']);
  if (args.help) {
    console.log((await import('node:fs')).readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
    return;
  }
  return live(args);
}

export async function live(args: Args): Promise<void> {
  const quick = !!args.quick;
  const sections = (str(args, 'sections') ?? 'order,shuffled,popularity,replay,updates,traffic').split(',');
  const maxUsers = args['max-users'] !== undefined ? num(args, 'max-users', 0) : quick ? 1000 : undefined;
  const result: Record<string, unknown> = { mode: 'live', quick, sections };
  const sets = datasets(quick);
  if (sections.includes('order')) result.order = await orderSection(sets, maxUsers);
  if (sections.includes('shuffled')) result.shuffled = await shuffledSection(sets[0], maxUsers);
  if (sections.includes('popularity')) result.popularity = await popularitySection(sets, quick);
  if (sections.includes('replay')) result.replay = await replaySection(sets, quick);
  if (sections.includes('traffic')) result.traffic = trafficSection(quick ? 60_000 : num(args, 'traffic-interactions', 2_000_000), quick);
  if (sections.includes('updates')) result.updates = updatesSection(quick ? 50_000 : num(args, 'pins', 1_000_000), quick ? 3000 : num(args, 'events', 20_000));
  plotLive(result);
  await report('cf-live', args, result);
}

/** One plot per section that ran. */
function plotLive(result: Record<string, unknown>): void {
  const order = result.order as Row[] | undefined;
  if (order?.length) {
    addPlot('order', 'Plain against order-aware scoring', barChart(
      melt(order.map((r) => ({ ...r, label: `${r.dataset} · ${r.order === 'auto' ? 'order-aware (auto)' : 'plain'}` })), { columns: { 'HR@10': 'hr10', 'NDCG@10': 'ndcg10' }, keep: ['label'], key: 'metric' }),
      { title: 'Plain (order off) against order-aware scoring (auto)', subtitle: 'leave-last-out, full ranking', category: { field: 'label', title: '' }, value: { field: 'value', title: '' }, color: 'metric' },
    ));
  }
  const pop = result.popularity as Row[] | undefined;
  if (pop?.length) {
    addPlot('popularity', 'Popularity penalty: hit rate, coverage and Gini', lineChart(
      melt(pop, { columns: { 'HR@10': 'hr10', 'coverage@10': 'coverage10', 'Gini@10': 'gini10' }, keep: ['dataset', 'alpha'], key: 'metric' }),
      { title: 'Popularity penalty α: HR@10, catalogue coverage and Gini of recommendation counts', x: { field: 'alpha', title: 'popularity penalty α' }, y: { field: 'value', title: '' }, color: 'metric', dash: 'dataset' },
    ));
  }
  const replay = (result.replay as Row[] | undefined)?.filter((r) => typeof r.round === 'number');
  if (replay?.length) {
    addPlot('replay', 'HR@10 of the next event while events stream in', lineChart(
      melt(replay, { columns: { 'static model': 'hrStatic', 'update() per event': 'hrUpdated' }, keep: ['dataset', 'eventsStreamed'], key: 'model' }),
      { title: "HR@10 of each user's next event while events stream in (no refit)", x: { field: 'eventsStreamed', title: 'events streamed' }, y: { field: 'value', title: 'HR@10' }, color: 'model', dash: 'dataset' },
    ));
  }
  const traffic = result.traffic as Row[] | undefined;
  if (traffic?.length) {
    addPlot('traffic', 'CF on generated traffic', barChart(
      melt(traffic.map((r) => ({ ...r, label: `${r.scenario} · ${r.order === 'auto' ? 'order-aware' : 'plain'}` })), { columns: { 'HR@10': 'hr10', 'NDCG@10': 'ndcg10' }, keep: ['label'], key: 'metric' }),
      { title: 'CF on generated traffic (leave-last-out by time)', category: { field: 'label', title: '' }, value: { field: 'value', title: '' }, color: 'metric' },
    ));
  }
  const upd = result.updates as Row | undefined;
  if (upd) {
    addPlot('update-latency', 'update() cost per event', dotChart(
      melt([{ ...upd, what: 'update(), one event' }], { columns: { p50: 'p50Ms', mean: 'meanMs', p99: 'p99Ms', max: 'maxMs' }, keep: ['what'], key: 'statistic' }),
      { title: `update() per event, ${Number(upd.pins).toLocaleString('en-US')} pins`, subtitle: String(upd.kinds ?? ''), category: { field: 'what', title: '' }, value: { field: 'value', title: 'ms per event (log)', log: true }, color: 'statistic', colors: [PERCENTILE_COLORS[0], '#999999', PERCENTILE_COLORS[2], PERCENTILE_COLORS[4]] },
    ));
  }
}

async function orderSection(sets: Dataset[], maxUsers?: number): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const d of sets) {
    const log = await load(d);
    const split = leaveLastOut(log, { by: 'order', combine: 'max' });
    for (const order of ['off', 'auto'] as const) {
      const t0 = performance.now();
      const model = new SvdRecommender({ factors: d.factors, order }).fit(split.train);
      const fitSeconds = since(t0);
      const m = evaluate(model, split, { k: 10, maxUsers, confidence: { resamples: 200 } });
      rows.push({
        dataset: d.name, factors: d.factors, order, fitSeconds, decay: model.order.decay, transitions: model.order.transitions,
        validationGain: model.orderChoice?.gain, validationStderr: model.orderChoice?.stderr, users: m.users,
        hr10: m.hr, hrLow: m.intervals!.hr.low, hrHigh: m.intervals!.hr.high, ndcg10: m.ndcg, ndcgLow: m.intervals!.ndcg.low, ndcgHigh: m.intervals!.ndcg.high,
      });
      printTable([rows[rows.length - 1]]);
    }
    const [off, auto] = rows.slice(-2);
    auto.fitRatio = (auto.fitSeconds as number) / (off.fitSeconds as number);
  }
  printTable(rows, 'order-aware scoring (leave-last-out, full ranking)');
  return rows;
}

async function shuffledSection(d: Dataset | undefined, maxUsers?: number): Promise<Record<string, unknown> | undefined> {
  if (!d) return undefined;
  const log = await load(d);
  const rng = new Rng(3);
  const byUser = sequences(log);
  const users: string[] = [], items: string[] = [];
  for (const [u, l] of byUser) for (const it of rng.shuffle(l)) { users.push(u); items.push(it); }
  const split = leaveLastOut(interactionsFromColumns({ users, items }), { by: 'order', combine: 'max' });
  const out: Record<string, unknown> = { dataset: `${d.name} (each sequence shuffled)` };
  for (const order of ['off', 'auto'] as const) {
    const model = new SvdRecommender({ factors: d.factors, order }).fit(split.train);
    const m = evaluate(model, split, { k: 10, maxUsers });
    out[order] = { hr10: m.hr, ndcg10: m.ndcg, decay: model.order.decay, transitions: model.order.transitions, gain: model.orderChoice?.gain, stderr: model.orderChoice?.stderr };
  }
  printTable([{ dataset: out.dataset, ...flat('off', out.off), ...flat('auto', out.auto) }], 'order carries nothing: auto must keep plain scoring');
  return out;
}

function flat(prefix: string, o: unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o as Record<string, unknown>).map(([k, v]) => [`${prefix}.${k}`, v]));
}

/** Gini index of non-negative counts (0: all equal; → 1: all on one pin). */
export function gini(counts: ArrayLike<number>): number {
  const c = Float64Array.from(counts).sort();
  const n = c.length;
  let num2 = 0, tot = 0;
  for (let i = 0; i < n; i++) { num2 += (2 * (i + 1) - n - 1) * c[i]; tot += c[i]; }
  return tot > 0 ? num2 / (n * tot) : 0;
}

async function popularitySection(sets: Dataset[], quick: boolean): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  const alphas = [0, 0.1, 0.25, 0.5, 0.75, 1];
  for (const d of sets) {
    const log = await load(d);
    const split = leaveLastOut(log, { by: 'order', combine: 'max' });
    const model = new SvdRecommender({ factors: d.factors }).fit(split.train);
    const nItems = split.train.nItems;
    const sample = new Rng(5).shuffle(Array.from(split.testUsers.keys())).slice(0, quick ? 1000 : 8000);
    const users = sample.map((q) => split.train.users.id(split.testUsers[q]));
    for (const alpha of alphas) {
      const lists = model.recommendBatch(users, { n: 10, popularityPenalty: alpha });
      const counts = new Float64Array(nItems);
      let hr = 0, ndcg = 0;
      lists.forEach((l, t) => {
        const target = split.train.items.id(split.testItems[sample[t]]);
        const r = l.ids.indexOf(target);
        if (r >= 0) { hr++; ndcg += 1 / Math.log2(r + 2); }
        for (const id of l.ids) counts[split.train.items.get(id as string)]++;
      });
      let covered = 0;
      for (const c of counts) if (c > 0) covered++;
      rows.push({ dataset: d.name, alpha, users: users.length, hr10: hr / users.length, ndcg10: ndcg / users.length, coverage10: covered / nItems, gini10: gini(counts) });
    }
  }
  printTable(rows, 'popularity penalty: hit rate against catalogue coverage and the Gini index of recommendation counts');
  return rows;
}

/**
 * Fit on the first 80% of each user's sequence; stream the rest round by round (each user's next event);
 * at checkpoints, HR@10 of every remaining user's next event, for a static model and an updated one.
 */
async function replaySection(sets: Dataset[], quick: boolean): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const d of sets) {
    const log = await load(d);
    const seqs = sequences(log);
    const head: { u: string; i: string }[] = [];
    const tails = new Map<string, string[]>();
    for (const [u, l] of seqs) {
      const cut = Math.max(1, Math.floor(l.length * 0.8));
      for (let t = 0; t < cut; t++) head.push({ u, i: l[t] });
      if (cut < l.length) tails.set(u, l.slice(cut));
    }
    const train = interactionsFromColumns({ users: head.map((e) => e.u), items: head.map((e) => e.i) }).toMatrix({ combine: 'max' });
    const t0 = performance.now();
    const fitted = () => new SvdRecommender({ factors: d.factors }).fit(train);
    const staticModel = fitted();
    const fitSeconds = since(t0);
    const liveModel = fitted();
    const rounds = Math.max(...[...tails.values()].map((t) => t.length));
    const sampleUsers = new Rng(9).shuffle([...tails.keys()]).slice(0, quick ? 600 : 3000);
    const pos = new Map<string, number>(sampleUsers.map((u) => [u, 0]));
    // every user's streamed events, in rounds (round r: each user's r-th remaining event)
    const streamed = new Map<string, string[]>();
    const hrAt = (model: SvdRecommender, useStream: boolean): { hr: number; users: number } => {
      const us = sampleUsers.filter((u) => (pos.get(u) ?? 0) < tails.get(u)!.length);
      if (us.length === 0) return { hr: NaN, users: 0 };
      let hits = 0;
      // the static model has not seen the streamed events: it scores the user as fitted, filtering the streamed pins as seen
      const lists = model.recommendBatch(us.map((u) => (model.hasUser(u) ? u : { items: streamed.get(u) ?? [] })), { n: 10 + (useStream ? 0 : 20), fallback: 'popular' });
      us.forEach((u, t) => {
        const seen = new Set<unknown>(useStream ? [] : streamed.get(u) ?? []);
        const top = lists[t].ids.filter((id) => !seen.has(id)).slice(0, 10);
        if (top.includes(tails.get(u)![pos.get(u)!])) hits++;
      });
      return { hr: hits / us.length, users: us.length };
    };
    let eventsStreamed = 0;
    const checkpoint = (round: number) => {
      const s = hrAt(staticModel, false), l = hrAt(liveModel, true);
      rows.push({ dataset: d.name, round, eventsStreamed, users: l.users, hrStatic: s.hr, hrUpdated: l.hr });
      printTable([rows[rows.length - 1]]);
    };
    checkpoint(0);
    let updateMs = 0;
    for (let r = 0; r < rounds; r++) {
      const batch: { user: string; item: string }[] = [];
      for (const [u, t] of tails) if (r < t.length) batch.push({ user: u, item: t[r] });
      const tu = performance.now();
      for (const e of batch) liveModel.update([e]);
      updateMs += performance.now() - tu;
      for (const e of batch) { let l = streamed.get(e.user); if (!l) streamed.set(e.user, (l = [])); l.push(e.item); if (pos.has(e.user)) pos.set(e.user, r + 1); }
      eventsStreamed += batch.length;
      if (r + 1 < rounds && (r === 0 || r === 1 || r === 3 || r === 7)) checkpoint(r + 1);
    }
    // a refit on everything but each user's last event, as the reference for the last checkpoint
    rows.push({ dataset: d.name, note: `fit ${fitSeconds.toFixed(1)} s; ${eventsStreamed} events streamed, update() ${(updateMs / Math.max(1, eventsStreamed) * 1000).toFixed(1)} µs/event on average` });
  }
  printTable(rows, 'HR@10 of each user\'s next event while events stream in without a refit');
  return rows;
}

/** Per-event cost of update() on a synthetic catalogue of `pins` pins. */
function updatesSection(pins: number, events: number): Record<string, unknown> {
  const users = Math.round(pins * 0.3);
  const t0 = performance.now();
  const log = syntheticInteractions({ users, items: pins, events: pins * 3, seed: 2 });
  const model = new SvdRecommender({ factors: 64, order: { decay: 0.8, transitions: 1 } }).fit(log.toMatrix());
  const fitSeconds = since(t0);
  const rng = new Rng(4);
  const times: number[] = [];
  const kinds = { known: 0, newPin: 0, newUser: 0 };
  const make = (i: number) => {
    const r = rng.next();
    if (r < 0.9) { kinds.known++; return { user: rng.int(users), item: rng.int(pins), weight: 1 + rng.int(3) }; }
    if (r < 0.95) { kinds.newPin++; return { user: rng.int(users), item: -1 - (i % 500), weight: 1 }; }
    kinds.newUser++; return { user: users + i, item: rng.int(pins), weight: 1 };
  };
  for (let i = 0; i < events; i++) {
    const e = make(i);
    const s = performance.now();
    model.update([e]);
    times.push(performance.now() - s);
  }
  const timedKinds = { ...kinds };
  const batch = Array.from({ length: events }, (_, i) => make(events + i));
  const tb = performance.now();
  model.update(batch);
  const batchMs = performance.now() - tb;
  const sorted = times.slice().sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const row = {
    pins, users, nnz: log.length, factors: 64, fitSeconds, events, kinds: `${timedKinds.known} known / ${timedKinds.newPin} new-pin / ${timedKinds.newUser} new-user`,
    meanMs: times.reduce((a, b) => a + b, 0) / times.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: sorted[sorted.length - 1],
    batchEventsPerSecond: events / (batchMs / 1000), target: 'per-event ≤ 1 ms at 1M pins',
  };
  printTable([row], `update() per event, ${pins} pins`);
  return row;
}

/** CF on generated traffic: the generator's engagements (views dropped) as the interaction log. */
function trafficSection(target: number, quick: boolean): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const scenario of ['normal', 'wedding-season'] as ScenarioName[]) {
    const t0 = performance.now();
    const users = quick ? 3000 : 200_000, pins = quick ? 3000 : 100_000;
    const gen = new PinTrafficGenerator({ seed: 5, users, initialPins: pins, scenario, surgeCategory: 1, feedsPerSecond: quick ? 20 : 200, pinsPerSecond: quick ? 2 : 20 });
    const records: ReturnType<typeof interactionsFromTraffic> = [];
    let hours = 0;
    while (records.length < target && hours < 24 * 7 * 8) {
      hours += 1;
      for (const r of interactionsFromTraffic(gen.eventsUntil(hours * 3_600_000))) records.push(r);
    }
    const genSeconds = since(t0);
    const log = interactionsFromRecords(records);
    const split = leaveLastOut(log, { by: 'timestamp', combine: 'max' });
    for (const order of ['off', 'auto'] as const) {
      const t1 = performance.now();
      const model = new SvdRecommender({ factors: 64, order }).fit(split.train);
      const fitSeconds = since(t1);
      const m = evaluate(model, split, { k: 10, maxUsers: quick ? 500 : 5000 });
      rows.push({ scenario, simulatedHours: hours, interactions: records.length, users: log.users.size, pins: log.items.size, generateSeconds: genSeconds, order, fitSeconds, rssMb: Math.round(process.memoryUsage().rss / 1048576), hr10: m.hr, ndcg10: m.ndcg, decay: model.order.decay, transitions: model.order.transitions });
      printTable([rows[rows.length - 1]]);
    }
  }
  recordTable(rows, 'CF on generated traffic (leave-last-out by time): order-aware against plain scoring');
  return rows;
}
