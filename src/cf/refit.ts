/**
 * Fit an {@link SvdRecommender} in a worker thread: the snapshot's arrays are copied to the worker, which
 * fits and saves the model to a temporary file (versioned and checksummed, like any saved model); this
 * thread loads it and removes the file. The main thread stays free to serve while the worker fits.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { Id } from '../core/types.js';
import type { InteractionMatrix } from './interactions.js';
import type { SvdRecommender, SvdRecommenderOptions } from './model.js';

/** What the worker receives. */
export interface RefitJob {
  rows: number;
  cols: number;
  indptr: Int32Array;
  indices: Int32Array;
  data: Float32Array;
  lastEvent?: Float64Array;
  timed: boolean;
  users: Uint8Array;
  items: Uint8Array;
  transitions?: { indptr: Int32Array; indices: Int32Array; data: Float32Array; rowSum: Float64Array };
  options: SvdRecommenderOptions;
  out: string;
}

/**
 * The worker: the compiled module next to this one, or — when running from the TypeScript sources (tests,
 * tsx scripts) — a small bootstrap that registers tsx's loader in the worker and then imports the .ts module.
 */
function workerSpec(): { spec: URL | string; eval: boolean } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { spec: new URL('./refit-worker.js', here), eval: false };
  const api = pathToFileURL(path.join(path.dirname(createRequire(here).resolve('tsx/package.json')), 'dist', 'esm', 'api', 'index.mjs')).href;
  const entry = new URL('./refit-worker.ts', here).href;
  return { spec: `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, eval: true };
}

/**
 * Fit a model on `matrix` in a worker thread.
 * @example
 * const fresh = await fitInWorker(model.snapshot(), model.options);
 */
export async function fitInWorker<U extends Id, I extends Id>(matrix: InteractionMatrix<U, I>, options: SvdRecommenderOptions): Promise<SvdRecommender<U, I>> {
  const { SvdRecommender } = await import('./model.js');
  const dir = await mkdtemp(path.join(tmpdir(), 'pinrec-refit-'));
  const out = path.join(dir, 'model.pinrec');
  const src = matrix.source;
  const tr = src && 'transitions' in src ? src.transitions : undefined;
  const job: RefitJob = {
    rows: matrix.csr.rows, cols: matrix.csr.cols, indptr: matrix.csr.indptr, indices: matrix.csr.indices, data: matrix.csr.data,
    lastEvent: matrix.lastEvent, timed: matrix.timed, users: new Uint8Array(matrix.users.encode()), items: new Uint8Array(matrix.items.encode()),
    transitions: tr ? { indptr: tr.counts.indptr, indices: tr.counts.indices, data: tr.counts.data, rowSum: tr.rowSum } : undefined,
    options: JSON.parse(JSON.stringify(options)) as SvdRecommenderOptions, out,
  };
  try {
    const { spec, eval: isEval } = workerSpec();
    await new Promise<void>((resolve, reject) => {
      const w = new Worker(spec, { workerData: job, eval: isEval });
      let settled = false;
      w.once('message', (m: { ok: boolean; error?: string; name?: string }) => {
        settled = true;
        if (m.ok) resolve();
        else {
          const err = new Error(`refit worker: ${m.error}`);
          if (typeof m.name === 'string') err.name = m.name;
          reject(err);
        }
      });
      w.once('error', (e) => { settled = true; reject(e); });
      w.once('exit', (code) => { if (!settled) reject(new Error(`refit worker exited with code ${code}`)); });
    });
    return await SvdRecommender.load<U, I>(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
