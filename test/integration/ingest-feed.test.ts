/**
 * Upload → searchable pin → feed, with the real classes: Caltech-101 photos → Ingestor (FileSystemStore, the
 * real MobileNet embedder, a cosine HnswIndex, InMemoryPinRecords) → VisualSearch and FeedGenerator with a
 * VisualNeighborsSource, both reading the records as their metadata. A pin just ingested must be found at
 * once, carry the quality ingest measured, and reach a user's feed from one engagement. Skipped, saying so,
 * when the models or photos are absent.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HnswIndex } from '../../src/ann/index.js';
import { loadEmbedder, type Embedder } from '../../src/embeddings/index.js';
import { FileSystemStore } from '../../src/images/index.js';
import { InMemoryPinRecords, Ingestor } from '../../src/ingest/index.js';
import { FeedGenerator, VisualNeighborsSource, VisualSearch } from '../../src/ranking/index.js';

const SHARED = path.resolve(__dirname, '../../../shared');
const MODELS = process.env.PINREC_MODEL_DIR ?? path.join(SHARED, 'models');
const DATA = process.env.PINREC_DATA ?? path.join(SHARED, 'datasets');
const CALTECH = path.join(DATA, 'caltech101-subset');
const ready = existsSync(path.join(MODELS, 'mobilenet_v1_0.75_224')) && existsSync(path.join(CALTECH, 'labels.csv'));

if (!ready) it.skip(`ingest → feed integration skipped: needs ${MODELS}/mobilenet_v1_0.75_224 and ${CALTECH}`, () => undefined);

describe.runIf(ready)('images → Ingestor → HnswIndex + records → VisualSearch and FeedGenerator', () => {
  let embedder: Embedder | undefined;
  const index = new HnswIndex<string>({ metric: 'cosine', dim: 768, seed: 1 });
  const tmp = mkdtempSync(path.join(tmpdir(), 'pinrec-ingest-feed-'));
  afterAll(async () => { await embedder?.dispose(); await index.close(); rmSync(tmp, { recursive: true, force: true }); });

  it('a just-ingested pin is searchable, has its quality in the blend, and reaches the feed', async () => {
    const rows = readFileSync(path.join(CALTECH, 'labels.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const byLabel = new Map<string, string[]>();
    for (const [p, label] of rows) { const l = byLabel.get(label) ?? []; if (l.length < 6) l.push(p); byLabel.set(label, l); }
    const photos = [...byLabel.entries()].slice(0, 5).flatMap(([label, ps]) => ps.map((p) => ({ file: path.join(CALTECH, p), label })));
    embedder = await loadEmbedder({ modelDir: MODELS, workers: 2 });
    const records = new InMemoryPinRecords();
    const ingestor = new Ingestor({ store: new FileSystemStore(path.join(tmp, 'media')), records, embedder, index, whenFull: 'wait', concurrency: 2 });
    const results = await Promise.all(photos.map((p) => ingestor.ingest(p.file, { category: p.label, creator: `by-${p.label}` })));
    for (const r of results) {
      expect(r.failed).toEqual([]);
      expect(r.record.indexed).toBe(true);
    }
    expect(index.size).toBe(new Set(results.map((r) => r.id)).size);

    // the embedding ingest stored is the one a batch embedding of the file gives
    const direct = await embedder.embed(photos[0].file);
    const stored = index.getVector(results[0].id);
    let dot = 0;
    for (let i = 0; i < direct.length; i++) dot += direct[i] * stored[i];
    expect(dot).toBeGreaterThan(0.9999);

    // searchable at once, with its own quality in the blend's signals
    const vs = new VisualSearch({ embedder, index, metadata: records });
    const hits = await vs.search(photos[7].file, { k: 10 });
    expect(hits[0].id).toBe(results[7].id);
    expect(hits[0].category).toBe(photos[7].label);
    expect(records.get([results[7].id])[0]?.quality).toBe(results[7].record.quality);

    // a user who engaged with one pin gets its visual neighbours in the feed, mostly of the same category
    const engaged = results[12].id;
    const visual = new VisualNeighborsSource<string, string>({ recent: () => [engaged], index, perSeed: 10 });
    const feed = new FeedGenerator<string, string>({ sources: [visual], metadata: records, limit: 10, timeoutMs: 2000 });
    const out = await feed.generate('u1');
    expect(out.items.length).toBeGreaterThan(0);
    expect(out.items.some((it) => it.id === engaged)).toBe(false);
    const same = out.items.filter((it) => it.category === photos[12].label).length;
    expect(same).toBeGreaterThanOrEqual(2);
    expect(out.metadata.status).toBe('ok');
  }, 120_000);
});
