/**
 * Pool worker: one TF.js instance per thread. Receives the model artifacts once, then batches of decoded
 * pixels, and answers with raw pooled features (transferred, not copied).
 */
import { parentPort } from 'node:worker_threads';
import { loadTf } from './tf.js';
import { FeatureExtractor } from './extractor.js';
import { serializeError, type FromWorker, type ToWorker } from './protocol.js';

if (!parentPort) throw new Error('pinrec embeddings worker must run in a worker thread');
const port = parentPort;

let extractor: FeatureExtractor | undefined;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

port.on('message', (msg: ToWorker) => {
  void handle(msg);
});

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'init':
      try {
        const { tf, backend } = await loadTf(msg.backend);
        extractor = await FeatureExtractor.create(tf, msg.artifacts, msg.spec, msg.source);
        post({ type: 'ready', backend, structure: extractor.structure });
      } catch (e) {
        post({ type: 'init-error', error: serializeError(e) });
      }
      return;
    case 'infer':
      try {
        if (!extractor) throw new Error('worker is not initialised');
        const features = extractor.infer(msg.pixels, msg.n);
        post({ type: 'result', id: msg.id, features }, [features.buffer as ArrayBuffer]);
      } catch (e) {
        post({ type: 'error', id: msg.id, error: serializeError(e) });
      }
      return;
    case 'tensors':
      post({ type: 'tensors', id: msg.id, count: extractor ? extractor.numTensors() : 0 });
      return;
    case 'close':
      extractor?.dispose();
      extractor = undefined;
      port.close();
      return;
  }
}
