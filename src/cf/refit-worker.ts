/** The worker side of `fitInWorker`: rebuild the snapshot, fit, save to the given path, report. */
import { parentPort, workerData } from 'node:worker_threads';
import { IdMap } from '../core/ids.js';
import { CsrMatrix } from './csr.js';
import { InteractionMatrix } from './interactions.js';
import { SvdRecommender } from './model.js';
import type { RefitJob } from './refit.js';

async function main(job: RefitJob): Promise<void> {
  const users = IdMap.decode(job.users);
  const items = IdMap.decode(job.items);
  const csr = new CsrMatrix(job.rows, job.cols, job.indptr, job.indices, job.data);
  const t = job.transitions;
  const source = t ? { transitions: { counts: new CsrMatrix(job.cols, job.cols, t.indptr, t.indices, t.data), rowSum: t.rowSum } } : undefined;
  const matrix = new InteractionMatrix(users, items, csr, job.lastEvent, job.timed, source);
  const model = new SvdRecommender(job.options).fit(matrix);
  await model.save(job.out);
}

main(workerData as RefitJob).then(
  () => parentPort!.postMessage({ ok: true }),
  (e: Error) => parentPort!.postMessage({ ok: false, error: e?.message ?? String(e), name: e?.name }),
);
