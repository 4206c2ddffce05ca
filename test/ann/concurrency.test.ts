/**
 * HnswIndex.searchBatch on worker threads under concurrency: concurrent calls on one index give exactly the
 * single-threaded answers, close() settles pending calls, and changing `threads` never leaks workers.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HnswIndex } from '../../src/ann/hnsw.js';
import { Rng } from '../../src/core/rng.js';
import { ClosedError, PinrecError } from '../../src/core/errors.js';
import { clustered, row } from './helpers.js';

/** OS threads of this process (Linux), or -1. */
const osThreads = () => (existsSync('/proc/self/task') ? readdirSync('/proc/self/task').length : -1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function build(n: number, dim: number, seed: number): HnswIndex<string> {
  const index = new HnswIndex<string>({ metric: 'l2', dim, ef: 20, seed: 7 });
  index.addItems(Array.from({ length: n }, (_, i) => `pin${i}`), clustered(n, dim, seed));
  return index;
}

describe('HnswIndex.searchBatch concurrency', () => {
  it('seeded interleavings of concurrent calls on a 2-thread pool equal single-threaded search row by row', async () => {
    const dim = 8;
    const index = build(3000, dim, 1);
    try {
      for (const seed of [1, 2, 3, 4]) {
        const rng = new Rng(seed);
        const calls = Array.from({ length: 4 + rng.int(5) }, (_, c) => ({
          queries: clustered(500 + rng.int(2500), dim, 100 * seed + c),
          k: 20 + rng.int(80),
          ef: 100 + rng.int(50),
          delay: rng.int(3),
        }));
        const results = await Promise.all(calls.map(async (c) => {
          for (let d = 0; d < c.delay; d++) await sleep(0);
          return index.searchBatch(c.queries, c.k, { threads: 2, ef: c.ef });
        }));
        let mismatched = 0;
        calls.forEach((c, ci) => {
          const rows = c.queries.length / dim;
          expect(results[ci]).toHaveLength(rows);
          for (let i = 0; i < rows; i++) {
            const one = index.search(row(c.queries, dim, i), c.k, { ef: c.ef });
            const got = results[ci][i];
            if (JSON.stringify(got.ids) !== JSON.stringify(one.ids)
              || JSON.stringify(Array.from(got.distances)) !== JSON.stringify(Array.from(one.distances))) mismatched++;
          }
        });
        expect(mismatched).toBe(0);
      }
    } finally {
      await index.close();
    }
  });

  it('close() during the first searchBatch rejects it with ClosedError', async () => {
    const index = build(2000, 8, 2);
    const pending = index.searchBatch(clustered(400, 8, 3), 5, { threads: 2 });
    const outcome = pending.then(() => 'resolved', (e: unknown) => e);
    await index.close();
    const settled = await Promise.race([outcome, sleep(10_000).then(() => 'still pending')]);
    expect(settled).toBeInstanceOf(ClosedError);
    expect((settled as PinrecError).code).toBe('CLOSED');
    // The index still works afterwards (a new pool starts).
    const again = await index.searchBatch(clustered(40, 8, 4), 3, { threads: 2 });
    expect(again).toHaveLength(40);
    await index.close();
  });

  it('close() during a later searchBatch rejects it with ClosedError', async () => {
    const index = build(2000, 8, 5);
    await index.searchBatch(clustered(40, 8, 6), 3, { threads: 2 });
    const pending = index.searchBatch(clustered(20_000, 8, 7), 10, { threads: 2, ef: 200 });
    const outcome = pending.then(() => 'resolved', (e: unknown) => e);
    await sleep(5);
    await index.close();
    const settled = await Promise.race([outcome, sleep(10_000).then(() => 'still pending')]);
    // Either the run finished before close() reached the workers, or it was rejected: never pending.
    expect(settled === 'resolved' || settled instanceof ClosedError).toBe(true);
  });

  it('changing threads between and during calls leaves no extra live workers, and every call settles', async () => {
    const index = build(2000, 8, 8);
    const q = clustered(200, 8, 9);
    const before = osThreads();
    try {
      await index.searchBatch(q, 5, { threads: 2 });
      await index.searchBatch(q, 5, { threads: 3 });
      // Concurrent calls with different thread counts: both must complete.
      const both = Promise.all([index.searchBatch(q, 5, { threads: 2 }), index.searchBatch(q, 5, { threads: 4 }), index.searchBatch(q, 5, { threads: 3 })]);
      const settled = await Promise.race([both.then(() => 'ok', (e: unknown) => e), sleep(20_000).then(() => 'still pending')]);
      expect(settled).toBe('ok');
      await sleep(200);
      // Only the last pool (3 workers) is left.
      if (before > 0) expect(osThreads() - before).toBeLessThanOrEqual(3);
      const pools = (index as unknown as { pools?: Set<unknown> }).pools;
      if (pools) expect(pools.size).toBe(1);
    } finally {
      await index.close();
    }
    await sleep(200);
    if (before > 0) expect(osThreads()).toBeLessThanOrEqual(before);
  });

  it('an index dropped without close() has its workers terminated once it is garbage-collected', async () => {
    if (osThreads() < 0) return;
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const before = osThreads();
    await (async () => {
      for (let i = 0; i < 3; i++) await build(500, 8, 20 + i).searchBatch(clustered(40, 8, 30 + i), 3, { threads: 2 });
    })();
    expect(osThreads() - before).toBeGreaterThanOrEqual(6);
    for (let t = 0; t < 50 && osThreads() - before > 0; t++) { gc(); await sleep(100); }
    expect(osThreads() - before).toBeLessThanOrEqual(0);
  });
});
