/**
 * The feed store on a single redis-server vs a 3-master Redis Cluster (3 masters + 3 replicas, all on
 * 127.0.0.1, started here and stopped by PID): store calls and Redis commands per second and p50/p99 latency of
 * applyEvents, seen, recent and trending, at a fixed number of calls in flight; then failovers: one master
 * killed (SIGKILL) while two writers apply events at a steady rate (one plain, one with `waitReplicas: 1`),
 * measuring the time until the store answers again and the events acknowledged but lost. Two failovers: a
 * healthy replica, and one cut off for `--lag` ms before the kill (SIGSTOPped and its link closed by the master
 * with `CLIENT KILL TYPE replica`; SIGCONT after the kill), which is what a partition or a lagging replica does.
 *
 *   npm run bench -- store-cluster [--quick] [--json] [--seconds 4] [--concurrency 16] [--lag 300]
 *
 * Without redis-server / redis-cli it reports that and measures nothing.
 */
import { Cluster } from 'ioredis';
import { Redis } from 'ioredis';
import { keySlot, RedisFeedStore, StoreUnavailableError, type FeedEvent, type RedisFeedStoreOptions } from '../src/store/index.js';
import { startRedis } from '../test/helpers/redis.js';
import { hasRedisCluster, startCluster, type TestCluster } from '../test/store/fixtures/cluster.js';
import { num, parseArgs, printTable, report, stats } from './lib.js';
import { addPlot, barChart, dotChart, melt, PERCENTILE_COLORS, type Row } from './report.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const USERS = 2000;
const CATEGORIES = 24;
const BATCH = 10;

/** Seeded generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Total commands processed by these servers (INFO stats), for Redis commands per second. */
async function commandsProcessed(clients: Redis[]): Promise<number> {
  let n = 0;
  for (const c of clients) {
    const info = String(await c.info('stats'));
    n += Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
  }
  return n;
}

/** Run `call` with `concurrency` in flight for `seconds`; per-call latencies in ms. */
async function load(seconds: number, concurrency: number, call: (i: number) => Promise<unknown>): Promise<{ ms: number[]; wall: number; errors: number }> {
  const ms: number[] = [];
  let errors = 0;
  let i = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      try { await call(i++); ms.push(performance.now() - s); } catch { errors++; }
    }
  }));
  return { ms, wall: (performance.now() - t0) / 1000, errors };
}

interface Target { name: string; store: RedisFeedStore; servers: Redis[] }

async function throughput(targets: Target[], seconds: number, concurrency: number): Promise<Row[]> {
  const rows: Row[] = [];
  const now = Date.now();
  for (const t of targets) {
    const r = rng(7);
    // warm state: every user has some seen/recent pins, every category some trending
    let seq = 0;
    const events = (n: number): FeedEvent[] => Array.from({ length: n }, () => {
      const i = seq++;
      const type = (['repin', 'click', 'closeup', 'view', 'create'] as const)[i % 5];
      return { id: `${t.name}-${i}`, type, user: `u${Math.floor(r() * USERS)}`, pin: `p${Math.floor(r() ** 2 * 50_000)}`, category: `c${i % CATEGORIES}`, time: now - Math.floor(r() * 3_600_000) };
    });
    for (let k = 0; k < 20; k++) await t.store.applyEvents(events(1000));
    const ops: [string, (i: number) => Promise<unknown>, number][] = [
      [`applyEvents (${BATCH} events)`, () => t.store.applyEvents(events(BATCH)), BATCH],
      ['seen', (i) => t.store.seen(`u${i % USERS}`), 1],
      ['recent (20)', (i) => t.store.recent(`u${i % USERS}`, 20), 1],
      ['trending (category, 50)', (i) => t.store.trending(`c${i % CATEGORIES}`, 50, now), 1],
      ['trending (global, 50)', () => t.store.trending(null, 50, now), 1],
    ];
    for (const [op, call, per] of ops) {
      const c0 = await commandsProcessed(t.servers);
      const res = await load(seconds, concurrency, call);
      const c1 = await commandsProcessed(t.servers);
      const s = stats(res.ms);
      rows.push({
        target: t.name, op, 'calls/s': Math.round(res.ms.length / res.wall), 'events/s': per > 1 ? Math.round((res.ms.length * per) / res.wall) : undefined,
        'redis cmds/s': Math.round((c1 - c0 - t.servers.length) / res.wall), p50_ms: +s.median.toFixed(3), p99_ms: +s.p99.toFixed(3), errors: res.errors, samples: s.samples,
      });
    }
  }
  return rows;
}

interface FailoverResult {
  scenario: string; writer: string; recoveryMs: number; acked: number; lost: number; lostWithReplicaAck: number;
  failedBatches: number; maxFailedCallMs: number; batchP50Ms: number; batchP99Ms: number; unconfirmedBatches: number;
}

/**
 * Kill a master that has a replica while two writers (plain, `waitReplicas: 1`) apply batches of
 * 4 repins at a steady rate; optionally SIGSTOP its replica `lagMs` before the kill (SIGCONT right after).
 */
async function failover(cluster: TestCluster, client: Cluster, scenario: string, tag: string, lagMs: number): Promise<FailoverResult[]> {
  const TIMEOUT = 200;
  const writers: [string, RedisFeedStoreOptions][] = [['no WAIT', {}], ['waitReplicas 1 (WAIT 1 100)', { waitReplicas: 1, waitTimeoutMs: 100 }]];
  // the victim: a live master that still has a replica (an earlier failover left one without)
  const view = (await cluster.cli(cluster.nodes.find((n) => !n.exited)!.port, 'cluster', 'nodes')).trim().split('\n').map((l) => l.split(' '));
  const portOf = (f: string[]) => Number(f[1].split('@')[0].split(':').pop());
  const m = view.find((f) => f[2].includes('master') && !f[2].includes('fail') && f.length > 8 && view.some((r) => r[3] === f[0] && !r[2].includes('fail')))!;
  const victim = cluster.nodes.find((n) => n.port === portOf(m))!;
  const replica = cluster.nodes.find((n) => n.port === portOf(view.find((r) => r[3] === m[0])!));
  const victimAddr = `127.0.0.1:${victim.port}`;
  const pool = Array.from({ length: 600 }, (_, i) => `u${i}`);
  let stop = false;
  let killedAt = Infinity;
  const per = writers.map(([name, opts], w) => {
    const prefix = `${tag}${w}`;
    const store = new RedisFeedStore(client, { prefix, timeoutMs: TIMEOUT, ...opts });
    return { name, prefix, store, acked: [] as { user: string; pin: string; at: number; replicas?: number }[], failures: [] as { ms: number; at: number }[], okMs: [] as number[], unconfirmed: 0, victimUsers: pool.filter((u) => client.slots[keySlot(`${prefix}:{u:${u}}:seen`)][0] === victimAddr).slice(0, 30) };
  });
  const run = async (x: (typeof per)[number]) => {
    const pending: FeedEvent[][] = [];
    let seq = 0;
    // only users on the victim: every batch depends on the failover
    const us = x.victimUsers;
    while (!stop || (pending.length > 0 && Date.now() < killedAt + 20_000)) {
      if (!stop) pending.push(Array.from({ length: 4 }, () => { const i = seq++; return { id: `e${i}`, type: 'repin', user: us[i % us.length], pin: `p${i}`, category: `c${i % 5}`, time: Date.now() }; }));
      const batch = pending[0];
      const t0 = performance.now();
      try {
        const r = await x.store.applyEvents(batch);
        x.okMs.push(performance.now() - t0);
        pending.shift();
        if (r.replicas !== undefined && r.replicas < 1) x.unconfirmed++;
        for (const e of batch) x.acked.push({ user: e.user, pin: e.pin, at: Date.now(), replicas: r.replicas });
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        x.failures.push({ ms: performance.now() - t0, at: Date.now() });
      }
      await sleep(5);
    }
  };
  const running = per.map(run);
  await sleep(1000);
  if (lagMs > 0 && replica) {
    // the replica cut off: frozen (so it cannot reconnect) and its link closed by the master, whose writes
    // from now on reach only its backlog; data already in the replica's socket buffer still arrives
    process.kill(replica.pid, 'SIGSTOP');
    await cluster.cli(victim.port, 'client', 'kill', 'type', 'replica');
    await sleep(lagMs);
  }
  killedAt = Date.now();
  victim.kill();
  if (lagMs > 0 && replica) process.kill(replica.pid, 'SIGCONT');
  // recovered: a success after the last failure, for every writer
  const recovered = new Map<string, number>();
  while (Date.now() < killedAt + 20_000 && recovered.size < per.length) {
    for (const x of per) {
      const lastFail = x.failures.at(-1)?.at ?? 0;
      const firstOk = x.acked.find((a) => a.at > Math.max(lastFail, killedAt));
      if (lastFail > killedAt && firstOk && !recovered.has(x.name)) recovered.set(x.name, firstOk.at - killedAt);
    }
    await sleep(20);
  }
  await sleep(500);
  stop = true;
  await Promise.all(running);
  await cluster.waitOk(15_000);
  const out: FailoverResult[] = [];
  for (const x of per) {
    const seen = new Map<string, Set<string>>();
    for (const u of x.victimUsers) seen.set(u, await x.store.seen(u));
    let lost = 0, lostAcked = 0;
    for (const a of x.acked) if (!seen.get(a.user)!.has(a.pin)) { lost++; if ((a.replicas ?? 0) >= 1) lostAcked++; }
    const s = stats(x.okMs);
    out.push({
      scenario, writer: x.name, recoveryMs: recovered.get(x.name) ?? NaN, acked: x.acked.length, lost, lostWithReplicaAck: lostAcked,
      failedBatches: x.failures.length, maxFailedCallMs: Math.round(Math.max(0, ...x.failures.map((f) => f.ms))),
      batchP50Ms: +s.median.toFixed(2), batchP99Ms: +s.p99.toFixed(2), unconfirmedBatches: x.unconfirmed,
    });
  }
  return out;
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const quick = args.quick === true;
  const seconds = num(args, 'seconds', quick ? 1 : 4);
  const concurrency = num(args, 'concurrency', 16);
  const lagMs = num(args, 'lag', 300);
  if (!hasRedisCluster()) {
    console.log('redis-server / redis-cli not found: nothing measured');
    await report('store-cluster', args, { skipped: 'redis-server or redis-cli is not on PATH', quick });
    return;
  }
  const single = await startRedis();
  const cluster = await startCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1000 });
  const clients: { disconnect(): void }[] = [];
  try {
    const sClient = new Redis(single!.url, { maxRetriesPerRequest: 0 });
    sClient.on('error', () => {});
    clients.push(sClient);
    const cClient = new Cluster(cluster!.startupNodes, {
      retryDelayOnFailover: 100, retryDelayOnClusterDown: 100, retryDelayOnTryAgain: 100, slotsRefreshTimeout: 500,
      clusterRetryStrategy: () => 100, redisOptions: { connectTimeout: 500, maxRetriesPerRequest: 0 },
    });
    cClient.on('error', () => {});
    cClient.on('node error', () => {});
    clients.push(cClient);
    await new Promise<void>((r) => cClient.once('ready', () => r()));
    // INFO through a direct connection per master (the cluster client would pick a random node)
    const masterPorts = new Set(cClient.slots.map((s) => s?.[0]).filter(Boolean) as string[]);
    const masterConns = [...masterPorts].map((a) => { const c = new Redis(Number(a.split(':')[1]), '127.0.0.1', { maxRetriesPerRequest: 0 }); c.on('error', () => {}); clients.push(c); return c; });
    const timeoutMs = 2000;
    const targets: Target[] = [
      { name: 'single server', store: new RedisFeedStore(sClient, { prefix: 'b1', timeoutMs }), servers: [sClient] },
      { name: 'single server, split writes (cluster: true)', store: new RedisFeedStore(sClient, { prefix: 'b2', timeoutMs, cluster: true }), servers: [sClient] },
      { name: 'cluster 3 masters (+3 replicas), shardTrending', store: new RedisFeedStore(cClient, { prefix: 'b3', timeoutMs, shardTrending: true }), servers: masterConns },
      { name: 'cluster, trending on {t} (default)', store: new RedisFeedStore(cClient, { prefix: 'b4', timeoutMs }), servers: masterConns },
      { name: 'cluster, waitReplicas 1', store: new RedisFeedStore(cClient, { prefix: 'b5', timeoutMs, waitReplicas: 1 }), servers: masterConns },
    ];
    const rows = await throughput(targets, seconds, concurrency);
    printTable(rows, `Store calls at ${concurrency} in flight, ${seconds} s each (${USERS} users, ${CATEGORIES} categories)`);
    const fo = [
      ...await failover(cluster!, cClient, 'healthy replica', 'fa', 0),
      ...await failover(cluster!, cClient, `replica cut off ${lagMs} ms before the kill`, 'fb', lagMs),
    ];
    printTable(fo as unknown as Row[], 'Failover: one master SIGKILLed, node timeout 1000 ms, store timeoutMs 200, batches of 4 repins every ~5 ms');
    addPlot('ops', 'Store calls per second', barChart(rows, { category: 'op', value: { field: 'calls/s', title: 'calls/s' }, color: 'target' }));
    addPlot('latency', 'Latency p50 / p99 per store call', dotChart(melt(rows.map((r) => ({ ...r, key: `${r.op} · ${r.target}` })), { columns: { p50: 'p50_ms', p99: 'p99_ms' }, keep: ['key'] }),
      { category: 'key', value: { field: 'value', title: 'ms', log: true }, color: 'series', colors: [PERCENTILE_COLORS[1], PERCENTILE_COLORS[3]] }));
    addPlot('failover', 'Failover: events acknowledged and lost', barChart(melt(fo.map((f) => ({ key: `${f.scenario} · ${f.writer}`, lost: f.lost, recovery_s: f.recoveryMs / 1000 })) as Row[], { columns: { 'events lost': 'lost', 'recovery (s)': 'recovery_s' }, keep: ['key'] }),
      { category: 'key', value: 'value', color: 'series' }));
    await report('store-cluster', args, { quick, seconds, concurrency, lagMs, throughput: rows, failover: fo });
  } finally {
    for (const c of clients) c.disconnect();
    await cluster?.stop();
    await single?.stop();
  }
}
