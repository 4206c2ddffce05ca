/**
 * Vector search beyond one machine: recall@10 (against ExactIndex), QPS and latency percentiles of
 * - ShardedIndex over 4 local HnswIndex shards,
 * - PgVectorIndex on one PostgreSQL + pgvector server,
 * - ShardedIndex over 2 PgVectorIndex shards (two servers),
 * on SIFT10K ($PINREC_DATA/siftsmall, skipped when absent) and a synthetic clustered set (100k × 128; --quick: 10k).
 *
 * The Postgres servers are PGlite (Postgres compiled to WebAssembly, single-threaded, in this process) with the
 * pgvector extension, served over TCP on 127.0.0.1 by pglite-socket: the SQL is what a production Postgres +
 * pgvector runs, the speed is not (see docs/distributed.md).
 *
 * Usage:
 *   npm run bench -- shards [--quick] [--json] [--n 100000] [--pg-n 20000] [--nq 200] [--ef 64] [--ef-search 64]
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { cpus } from 'node:os';
import { ExactIndex, HnswIndex, PgVectorIndex, ShardedIndex, type SearchResult } from '../src/ann/index.js';
import { hnswNativeBytes } from '../src/ann/hnsw.js';
import { Rng } from '../src/core/rng.js';
import { dataRoot, num, parseArgs, printTable, report, stats } from './lib.js';
import { addPlot, barChart } from './report.js';

interface Matrix { data: Float32Array; rows: number; dim: number }

function readFvecs(file: string, limit = Infinity): Matrix {
  const buf = readFileSync(file);
  const dim = buf.readInt32LE(0);
  const rec = 4 + dim * 4;
  if (dim <= 0 || buf.length % rec !== 0) throw new Error(`${file}: not an fvecs file`);
  const rows = Math.min(limit, buf.length / rec);
  const data = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) data.set(new Float32Array(buf.buffer.slice(buf.byteOffset + r * rec + 4, buf.byteOffset + (r + 1) * rec)), r * dim);
  return { data, rows, dim };
}

function clustered(n: number, dim: number, seed: number, clusters = 64): Matrix {
  const rng = new Rng(seed);
  const centres = rng.fillNormal(new Float32Array(clusters * dim));
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = rng.int(clusters);
    for (let j = 0; j < dim; j++) data[i * dim + j] = centres[c * dim + j] + 0.6 * rng.normal();
  }
  return { data, rows: n, dim };
}

interface Server { url: string; port: number; stop(): Promise<void> }

/** One PGlite + pgvector server on a free port (dev dependencies). */
async function startServer(): Promise<Server> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { vector } = await import('@electric-sql/pglite-pgvector');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create({ extensions: { vector } });
  await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 8 });
  await server.start();
  const conn = server.getServerConn();
  const port = Number(conn.slice(conn.lastIndexOf(':') + 1));
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, async stop() { await server.stop(); await db.close(); } };
}

function recall(results: SearchResult<number>[], truth: SearchResult<number>[], k: number): number {
  let hit = 0;
  results.forEach((r, i) => { const t = new Set(truth[i].ids.slice(0, k)); for (const id of r.ids.slice(0, k)) if (t.has(id)) hit++; });
  return hit / (results.length * k);
}

type Row = Record<string, unknown>;

async function timeQueries(nq: number, dim: number, queries: Float32Array, fn: (q: Float32Array) => Promise<SearchResult<number>> | SearchResult<number>) {
  const out: SearchResult<number>[] = [];
  const lat: number[] = [];
  for (let i = 0; i < Math.min(5, nq); i++) await fn(queries.subarray(i * dim, (i + 1) * dim)); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < nq; i++) {
    const s = performance.now();
    out.push(await fn(queries.subarray(i * dim, (i + 1) * dim)));
    lat.push(performance.now() - s);
  }
  const wall = performance.now() - t0;
  return { results: out, lat: stats(lat), qps: (nq / wall) * 1000 };
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const quick = args.quick === true;
  const n = num(args, 'n', quick ? 10_000 : 100_000);
  const pgN = num(args, 'pg-n', quick ? 10_000 : 20_000);
  const nq = num(args, 'nq', quick ? 100 : 200);
  const ef = num(args, 'ef', 64);
  const efSearch = num(args, 'ef-search', 64);
  const k = 10;
  const skipped: string[] = [];
  const sets: { name: string; base: Matrix; queries: Matrix }[] = [];
  const sift = path.join(dataRoot(), 'siftsmall');
  if (existsSync(path.join(sift, 'siftsmall_base.fvecs'))) {
    const queries = readFvecs(path.join(sift, 'siftsmall_query.fvecs'), nq);
    sets.push({ name: 'siftsmall', base: readFvecs(path.join(sift, 'siftsmall_base.fvecs')), queries });
  } else {
    skipped.push(`siftsmall: ${sift} not found (set PINREC_DATA)`);
    console.log(`SKIPPED siftsmall: ${sift} not found (set PINREC_DATA)`);
  }
  sets.push({ name: `synthetic ${n / 1000}k x 128`, base: clustered(n, 128, 1), queries: clustered(nq, 128, 2) });

  const rows: Row[] = [], perShard: Row[] = [];
  const servers = await Promise.all([startServer(), startServer()]);
  try {
    for (const set of sets) {
      const { base, queries } = set;
      const dim = base.dim, rowsN = base.rows, q = queries.data, qn = queries.rows;
      const ids = Array.from({ length: rowsN }, (_, i) => i);
      const exact = new ExactIndex<number>({ metric: 'l2', dim, capacity: rowsN });
      exact.addItems(ids, base.data);
      const truth = await exact.searchBatch(q, k);

      // 1. ShardedIndex over 4 local HNSW shards
      const shards = [0, 1, 2, 3].map(() => new HnswIndex<number>({ metric: 'l2', dim, M: 16, efConstruction: 100, ef, capacity: Math.ceil(rowsN / 3) }));
      const local = new ShardedIndex<number>({ shards });
      let t0 = performance.now();
      local.addItems(ids, base.data);
      const buildLocal = (performance.now() - t0) / 1000;
      const l = await timeQueries(qn, dim, q, (x) => local.search(x, k));
      rows.push({ dataset: set.name, index: 'Sharded 4 x HNSW (local)', n: rowsN, build_s: buildLocal, 'recall@10': recall(l.results, truth, k), qps: l.qps, qps_per_core: l.qps, p50_ms: l.lat.median, p99_ms: l.lat.p99 });
      for (let s = 0; s < 4; s++) {
        const sh = shards[s];
        const lat = await timeQueries(qn, dim, q, (x) => sh.search(x, k));
        perShard.push({ dataset: set.name, index: 'HNSW shard', shard: s, vectors: sh.size, bytes_per_vector: Math.round(hnswNativeBytes(sh.capacity, dim, 16) / sh.size), qps: lat.qps, p99_ms: lat.lat.p99 });
      }
      await local.close();

      // 2 and 3. PgVectorIndex (one server), ShardedIndex over 2 PgVectorIndex shards
      const m = Math.min(rowsN, pgN);
      if (m < rowsN) skipped.push(`${set.name}: Postgres rows capped at ${m} of ${rowsN} (--pg-n); their recall is against ExactIndex over the same ${m}`);
      const pgTruth = m < rowsN ? await (async () => { const e = new ExactIndex<number>({ metric: 'l2', dim, capacity: m }); e.addItems(ids.slice(0, m), base.data.subarray(0, m * dim)); return e.searchBatch(q, k); })() : truth;
      const tag = set.name.replace(/\W+/g, '_').toLowerCase();
      const open = (srv: Server, name: string) => PgVectorIndex.open<number>({ connectionString: srv.url, poolMax: 1, table: name, metric: 'l2', dim, m: 16, efConstruction: 64, efSearch, index: 'deferred', batchSize: 500, statementTimeoutMs: 0 });
      const one = await open(servers[0], `one_${tag}`);
      t0 = performance.now();
      await one.addItemsAsync(ids.slice(0, m), base.data.subarray(0, m * dim));
      const loadOne = (performance.now() - t0) / 1000;
      t0 = performance.now();
      await one.createIndex();
      const indexOne = (performance.now() - t0) / 1000;
      const p1 = await timeQueries(qn, dim, q, (x) => one.searchAsync(x, k));
      t0 = performance.now();
      const pb = await one.searchBatch(q, k);
      const batchQps = qn / ((performance.now() - t0) / 1000);
      rows.push({ dataset: set.name, index: 'PgVectorIndex (1 PGlite)', n: m, build_s: loadOne + indexOne, 'recall@10': recall(p1.results, pgTruth, k), qps: p1.qps, qps_per_core: p1.qps, p50_ms: p1.lat.median, p99_ms: p1.lat.p99, batch_qps: batchQps, batch_recall: recall(pb, pgTruth, k) });
      perShard.push({ dataset: set.name, index: 'PgVectorIndex', shard: 0, vectors: m, load_s: loadOne, hnsw_build_s: indexOne, qps: p1.qps, p99_ms: p1.lat.p99 });
      await one.drop();
      await one.close();

      const two = await Promise.all([open(servers[0], `two0_${tag}`), open(servers[1], `two1_${tag}`)]);
      const sharded = new ShardedIndex<number>({ shards: two, timeoutMs: 10_000 });
      t0 = performance.now();
      await sharded.addItemsAsync(ids.slice(0, m), base.data.subarray(0, m * dim));
      await Promise.all(two.map((s) => s.createIndex()));
      const build2 = (performance.now() - t0) / 1000;
      const p2 = await timeQueries(qn, dim, q, (x) => sharded.searchAsync(x, k));
      const partial = p2.results.filter((r) => (r as { partial?: boolean }).partial).length;
      t0 = performance.now();
      const sb = await sharded.searchBatch(q, k);
      const batch2 = qn / ((performance.now() - t0) / 1000);
      rows.push({ dataset: set.name, index: 'Sharded 2 x PgVectorIndex', n: m, build_s: build2, 'recall@10': recall(p2.results, pgTruth, k), qps: p2.qps, qps_per_core: p2.qps, p50_ms: p2.lat.median, p99_ms: p2.lat.p99, batch_qps: batch2, batch_recall: recall(sb, pgTruth, k), partial_answers: partial });
      for (let s = 0; s < 2; s++) {
        const lat = await timeQueries(qn, dim, q, (x) => two[s].searchAsync(x, k));
        perShard.push({ dataset: set.name, index: 'PgVectorIndex shard', shard: s, vectors: two[s].size, qps: lat.qps, p99_ms: lat.lat.p99 });
      }
      await Promise.all(two.map(async (s) => { await s.drop(); await s.close(); }));
    }
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
  }
  printTable(rows, `recall@10, single-query QPS and latency (k = ${k}, HNSW ef = ${ef}, pgvector hnsw.ef_search = ${efSearch}; one Node process on ${cpus().length} cores, searches one at a time, so QPS per core = QPS)`);
  printTable(perShard, 'per shard (capacity planning)');
  addPlot('qps', 'Single-query QPS by index', barChart(rows.map((r) => ({ ...r, label: `${r.dataset}: ${r.index}` })), { title: 'Single-query QPS', category: 'label', value: 'qps', horizontal: true }));
  await report('shards', args, { params: { quick, n, pgN, nq, ef, efSearch, k }, rows, perShard, skipped });
}

