/**
 * The visual path end to end with the real classes: Caltech-101 photos → the real embedder (MobileNet V1 in
 * ../shared/models) → cosine HnswIndex → VisualSearch → re-rank → caps, on an index smaller than the default
 * over-fetch (k 50 × 2). Skipped, saying so, when the models or photos are absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HnswIndex } from '../../src/ann/index.js';
import { loadEmbedder, type Embedder } from '../../src/embeddings/index.js';
import { InMemoryPinMetadata, VisualSearch, rerank } from '../../src/ranking/index.js';
import { checkCaps } from '../../src/diversity/index.js';

const SHARED = path.resolve(__dirname, '../../../shared');
const MODELS = process.env.PINREC_MODEL_DIR ?? path.join(SHARED, 'models');
const DATA = process.env.PINREC_DATA ?? path.join(SHARED, 'datasets');
const CALTECH = path.join(DATA, 'caltech101-subset');
const ready = existsSync(path.join(MODELS, 'mobilenet_v1_0.75_224')) && existsSync(path.join(CALTECH, 'labels.csv'));

if (!ready) it.skip(`visual integration skipped: needs ${MODELS}/mobilenet_v1_0.75_224 and ${CALTECH}`, () => undefined);

describe.runIf(ready)('images → embedder → HnswIndex → VisualSearch → re-rank → caps', () => {
  let embedder: Embedder | undefined;
  const index = new HnswIndex<string>({ metric: 'cosine', dim: 768, seed: 1 });
  afterAll(async () => { await embedder?.dispose(); await index.close(); });

  it('searches a 60-pin index with the default k and over-fetch, and the caps hold', async () => {
    const rows = readFileSync(path.join(CALTECH, 'labels.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const byLabel = new Map<string, string[]>();
    for (const [p, label] of rows) { const l = byLabel.get(label) ?? []; if (l.length < 10) l.push(p); byLabel.set(label, l); }
    const pins = [...byLabel.entries()].slice(0, 6).flatMap(([label, ps]) => ps.map((p) => ({ id: p, label })));
    expect(pins.length).toBe(60);
    embedder = await loadEmbedder({ modelDir: MODELS });
    const { vectors, dim, failed } = await embedder.embedBatch(pins.map((p) => path.join(CALTECH, p.id)));
    expect(failed).toEqual([]);
    expect(dim).toBe(768);
    index.addItems(pins.map((p) => p.id), vectors);
    const metadata = new InMemoryPinMetadata(pins.map((p, i) => ({ id: p.id, category: p.label, creator: `creator${i % 3}`, quality: 0.5 + (i % 5) / 10 })));
    const vs = new VisualSearch({ embedder, index, metadata });

    // default k (50) × over-fetch (2) = 100 > 60 pins: what exists comes back, never an error
    const query = pins[0];
    const hits = await vs.search(path.join(CALTECH, query.id));
    expect(hits.length).toBe(50);
    expect(hits[0].id).toBe(query.id); // the photo itself is its own nearest neighbour
    const sameLabel = hits.slice(0, 10).filter((h) => h.category === query.label).length;
    expect(sameLabel).toBeGreaterThanOrEqual(6); // real embeddings: the class clusters
    const byPin = await vs.searchByPin(query.id, { k: 100 });
    expect(byPin.length).toBe(59);
    expect(byPin.some((h) => h.id === query.id)).toBe(false);

    // re-rank the visual candidates with the seed's caps
    const res = rerank(hits.map((h) => ({ id: h.id, similarity: h.similarity, quality: 0.7, category: h.category, creator: h.creator })), { limit: 40 });
    expect(res.items.length).toBeGreaterThan(0);
    expect(checkCaps(res.items.map((i) => ({ category: i.category, creator: i.creator })))).toBeNull();
  });
});
