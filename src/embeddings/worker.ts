/**
 * Pool worker: one TF.js instance per thread. Loads the model from the pool's init data (the ready handshake
 * reports the backend and structure), then answers jobs: batches of decoded pixels with raw pooled features
 * (transferred, not copied), and tensor counts. Errors keep their class in the caller (src/core/pool.ts).
 */
import { serveWorker } from '../core/pool.js';
import { loadTf } from './tf.js';
import { FeatureExtractor } from './extractor.js';
import type { Job, JobResult, ReadyInfo, WorkerInit } from './protocol.js';

let extractor: FeatureExtractor | undefined;

serveWorker<WorkerInit, Job, JobResult, ReadyInfo>({
  async init(d) {
    const { tf, backend } = await loadTf(d.backend);
    extractor = await FeatureExtractor.create(tf, d.artifacts, d.spec, d.source);
    return { backend, structure: extractor.structure };
  },
  run(job, ctx) {
    if (job.type === 'tensors') return extractor ? extractor.numTensors() : 0;
    if (!extractor) throw new Error('worker is not initialised');
    const features = extractor.infer(job.pixels, job.n);
    ctx.transfer(features.buffer as ArrayBuffer);
    return features;
  },
});
