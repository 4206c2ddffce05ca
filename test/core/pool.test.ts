/**
 * The shared worker pool (src/core/pool.ts) and the pools built on it: one job in flight per worker with its own
 * completion, errors keep their class across the worker boundary, close() settles everything, a dead worker fails
 * its job and is never waited for again. The embedding-pool cases run on the fake model (test/embeddings/fake-model.ts).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ThreadPool, liveWorkerCount } from '../../src/core/pool.js';
import {
  ClosedError, InvalidParameterError, PinrecError, UnknownIdError, WorkerError, deserializeError,
} from '../../src/core/errors.js';
import { loadEmbedder, initBackend, type Embedder, type LoadEmbedderOptions } from '../embeddings/imports.js';
import { offlineModelEnv } from '../embeddings/helpers.js';
import { gradientPng, writeFakeModel, type FakeModel } from '../embeddings/fake-model.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Eval'd CommonJS workers (the pool prepends its runtime, which defines `serve`).
const ECHO = `
serve({
  init(d) { return { tag: d && d.tag, thread: require('node:worker_threads').threadId }; },
  run(job) {
    if (job.exit !== undefined) process.exit(job.exit);
    if (job.fail === 'invalid') {
      const e = new Error('k must be an integer >= 1 (got 0)');
      Object.assign(e, { name: 'InvalidParameterError', code: 'INVALID_PARAMETER', parameter: 'k', rule: 'an integer >= 1', value: 0 });
      throw e;
    }
    if (job.fail === 'plain') throw new TypeError('not a pin');
    if (job.fail === 'unclonable') {
      const e = new Error('pin:9: unknown id');
      Object.assign(e, { name: 'UnknownIdError', code: 'UNKNOWN_ID', parameter: 'id', id: () => 1 });
      throw e;
    }
    // Busy-wait (a synchronous job, like an HNSW search) so jobs overlap across workers.
    const until = Date.now() + job.ms;
    while (Date.now() < until) { /* spin */ }
    return { id: job.id, thread: require('node:worker_threads').threadId };
  },
});
`;

describe('ThreadPool', () => {
  it('gives each job its own completion: many concurrent jobs on 2 workers each get their own result', async () => {
    const base = liveWorkerCount();
    const pool = await ThreadPool.start<{ id: number; ms: number }, { id: number; thread: number }, { tag: string; thread: number }>({
      size: 2, name: 'test worker', script: { source: ECHO }, init: { tag: 'x' },
    });
    try {
      expect(pool.infos.map((i) => i.tag)).toEqual(['x', 'x']);
      expect(liveWorkerCount()).toBe(base + 2);
      const out = await Promise.all(Array.from({ length: 40 }, (_, id) => pool.run({ id, ms: id % 3 })));
      expect(out.map((r) => r.id)).toEqual(Array.from({ length: 40 }, (_, id) => id));
      // Both workers took jobs.
      expect(new Set(out.map((r) => r.thread)).size).toBe(2);
      // broadcast: one copy per worker, in worker order.
      const all = await pool.broadcast({ id: 7, ms: 1 });
      expect(all.map((r) => r.thread)).toEqual(pool.infos.map((i) => i.thread));
    } finally {
      await pool.close();
    }
    expect(liveWorkerCount()).toBe(base);
    await expect(pool.run({ id: 1, ms: 0 })).rejects.toBeInstanceOf(ClosedError);
  });

  it('rebuilds a pinrec error thrown in a worker with its class, code and fields', async () => {
    const pool = await ThreadPool.start<{ fail: string }, unknown>({ size: 1, name: 'test worker', script: { source: ECHO } });
    try {
      const e = await pool.run({ fail: 'invalid' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(InvalidParameterError);
      expect(e).toBeInstanceOf(PinrecError);
      expect(e).toBeInstanceOf(Error);
      expect(e).toMatchObject({ name: 'InvalidParameterError', code: 'INVALID_PARAMETER', parameter: 'k', rule: 'an integer >= 1', value: 0 });
      expect((e as Error).message).toBe('k must be an integer >= 1 (got 0)');
      const plain = await pool.run({ fail: 'plain' }).catch((x: unknown) => x);
      expect(plain).toBeInstanceOf(TypeError);
      expect((plain as Error).message).toBe('not a pin');
      // A field that cannot be cloned arrives described; the class survives.
      const u = await pool.run({ fail: 'unclonable' }).catch((x: unknown) => x);
      expect(u).toBeInstanceOf(UnknownIdError);
      expect((u as UnknownIdError).id).toMatch(/^function/);
      // The worker is still usable after its jobs threw.
      await expect(pool.run({ fail: 'none', ms: 0 } as never)).resolves.toBeDefined();
    } finally {
      await pool.close();
    }
  });

  it('deserializeError keeps unknown classes as PinrecError / Error with their name and code', () => {
    const a = deserializeError({ name: 'SomeOtherError', code: 'OTHER', message: 'm' });
    expect(a).toBeInstanceOf(PinrecError);
    expect(a).toMatchObject({ name: 'SomeOtherError', code: 'OTHER', message: 'm' });
    const b = deserializeError({ name: 'Weird', message: 'w' });
    expect(b).toBeInstanceOf(Error);
    expect(b).not.toBeInstanceOf(PinrecError);
    expect(b.name).toBe('Weird');
  });

  it('close() rejects the jobs in flight and queued with ClosedError and resolves once the workers exited', async () => {
    const base = liveWorkerCount();
    const pool = await ThreadPool.start<{ id: number; ms: number }, unknown>({ size: 2, name: 'test worker', script: { source: ECHO } });
    const jobs = Array.from({ length: 6 }, (_, id) => pool.run({ id, ms: 200 }).then(() => 'resolved', (e: unknown) => e));
    await sleep(20);
    await pool.close();
    const settled = await Promise.race([Promise.all(jobs), sleep(5000).then(() => 'still pending')]);
    expect(Array.isArray(settled)).toBe(true);
    for (const s of settled as unknown[]) expect(s).toBeInstanceOf(ClosedError);
    expect(liveWorkerCount()).toBe(base);
    await pool.close(); // twice is safe
  });

  it('a worker that exits fails its job with WorkerError and is never scheduled again', async () => {
    const pool = await ThreadPool.start<{ id?: number; ms?: number; exit?: number }, { id: number }>({ size: 2, name: 'test worker', script: { source: ECHO } });
    try {
      const e = await pool.run({ exit: 3 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(WorkerError);
      expect((e as WorkerError).exitCode).toBe(3);
      await sleep(20);
      expect(pool.live).toBe(1);
      const out = await Promise.all(Array.from({ length: 5 }, (_, id) => pool.run({ id, ms: 1 })));
      expect(out.map((r) => r.id)).toEqual([0, 1, 2, 3, 4]);
      await pool.terminateWorker(pool.isAlive(0) ? 0 : 1);
      expect(pool.live).toBe(0);
      await expect(pool.run({ id: 9, ms: 0 })).rejects.toBeInstanceOf(WorkerError);
    } finally {
      await pool.close();
    }
  });

  it('a failing init fails start() with its error and leaves no worker behind', async () => {
    const base = liveWorkerCount();
    const src = `serve({ init(d) { if (d.bad) { const e = new Error('bad init'); e.name = 'InvalidParameterError'; e.code = 'INVALID_PARAMETER'; throw e; } }, run() { return 1; } });`;
    const ok = ThreadPool.start({ size: 2, name: 'test worker', script: { source: src }, init: { bad: false } });
    await (await ok).close();
    await expect(ThreadPool.start({ size: 3, name: 'test worker', script: { source: src }, init: { bad: true } })).rejects.toBeInstanceOf(InvalidParameterError);
    expect(liveWorkerCount()).toBe(base);
  });
});

/** The embedder's internal worker pool (tests only). */
interface TestPool { infer(p: Uint8Array, n: number): Promise<Float32Array>; terminateWorker(i: number): Promise<void> }
const poolOf = (e: Embedder) => (e as unknown as { engine: { pool: TestPool } }).engine.pool;
const settle = <T>(p: Promise<T>, ms = 20_000) => Promise.race([p.then((v) => ({ ok: v }), (e: unknown) => ({ err: e })), sleep(ms).then(() => 'still pending' as const)]);

describe('embedding worker pool', () => {
  let tmp: string;
  let fake: FakeModel;
  let images: Buffer[];
  let opts: LoadEmbedderOptions;
  let env: Awaited<ReturnType<typeof offlineModelEnv>>;

  beforeAll(async () => {
    env = await offlineModelEnv('core-pool'); // any model-dir setting points at an empty folder: only the fake model can load
    tmp = env.tmp;
    await initBackend();
    fake = await writeFakeModel(tf, path.join(tmp, 'fake_cnn'));
    images = await Promise.all(Array.from({ length: 6 }, (_, i) => gradientPng(i)));
    opts = { model: fake.name, modelDir: fake.dir, featureLayer: fake.featureLayer, preprocessing: { size: fake.size, normalization: 'unit' }, batchSize: 2 };
  });
  afterAll(() => env.restore());

  it('an InvalidParameterError thrown in an embedding worker surfaces as InvalidParameterError', async () => {
    const e = await loadEmbedder({ ...opts, workers: 1 });
    try {
      const err = await poolOf(e).infer(new Uint8Array(5), 1).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(InvalidParameterError);
      expect(err).toMatchObject({ code: 'INVALID_PARAMETER', parameter: 'pixels' });
    } finally {
      await e.dispose();
    }
  });

  it('with one worker killed, embedBatch settles (the batch fails with WorkerError) and dispose() resolves', async () => {
    const e = await loadEmbedder({ ...opts, workers: 1 });
    await poolOf(e).terminateWorker(0);
    const r = await settle(e.embedBatch(images));
    expect(r).not.toBe('still pending');
    if (typeof r === 'object' && 'ok' in r) {
      expect(r.ok.failed).toHaveLength(images.length);
      expect(r.ok.errors[0]).toBeInstanceOf(WorkerError);
    } else {
      expect((r as { err: unknown }).err).toBeInstanceOf(PinrecError);
    }
    expect(await settle(e.dispose(), 10_000)).toEqual({ ok: undefined });
  });

  it('with one of two workers killed, embedBatch and liveTensors work on the other and dispose() resolves', async () => {
    const e = await loadEmbedder({ ...opts, workers: 2 });
    const before = await e.embedBatch(images);
    await poolOf(e).terminateWorker(1);
    const r = await settle(e.embedBatch(images));
    expect(r).not.toBe('still pending');
    const res = (r as { ok: Awaited<ReturnType<Embedder['embedBatch']>> }).ok;
    expect(res.failed).toEqual([]);
    expect(Array.from(res.vectors)).toEqual(Array.from(before.vectors));
    const live = await settle(e.liveTensors(), 10_000);
    expect(live).toMatchObject({ ok: expect.any(Number) });
    expect(await settle(e.dispose(), 10_000)).toEqual({ ok: undefined });
  });
});
