/**
 * Start the feed service on 127.0.0.1.
 *
 *   npm run service [-- options]        (= node --import tsx examples/feed-service/src/main.ts)
 *
 * What it serves, in order of preference:
 *   --bundle DIR     a saved bundle (model, indexes, pins); when DIR does not exist, the bundle chosen below is
 *                    built and saved there first
 *   --synthetic N    a seeded synthetic catalogue of N pins (64-d synthetic embeddings: no image search)
 *   --photos DIR     photos with a labels.csv (path,label), embedded by the CNN; default when nothing else is
 *                    given: $PINREC_DATA/caltech101-subset (600 photos, --limit N), if it and a model exist
 * Other options:
 *   --models DIR     model folder for the embedder (default $PINREC_MODEL_DIR, else ../shared/models)
 *   --media DIR      where uploads (originals, renditions) go (default: a folder in the system temp dir)
 *   --redis URL      seen pins, recent engagements and trending counters in Redis (default: in memory)
 *   --port N         default 8080; 0 picks a free port (the line "listening on http://127.0.0.1:PORT" says which)
 *   --refit-every-s S  refit the CF model in a worker every S seconds (default 0: only POST /admin/refit)
 *   --max-concurrent N full feeds at once before queueing (default 4)
 *
 * SIGTERM / SIGINT: stop taking requests, finish the running ones, flush events kept for the store, exit 0.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { loadEmbedder } from '../../../src/embeddings/index.js';
import { FileSystemStore } from '../../../src/images/index.js';
import { Ingestor } from '../../../src/ingest/index.js';
import { MemoryFeedStore, RedisFeedStore, type FeedStore } from '../../../src/store/index.js';
import { type Bundle, buildPhotoBundle, buildSyntheticBundle, loadBundle, saveBundle } from './bundle.js';
import { createFeedService } from './service.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function num(name: string, def: number): number {
  const v = arg(name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`--${name} must be a non-negative number (got ${JSON.stringify(v)})`);
    process.exit(2);
  }
  return n;
}
const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);

const t0 = performance.now();
const modelDir = arg('models') ?? process.env.PINREC_MODEL_DIR ?? path.join(repo, '..', 'shared', 'models');
const dataRoot = process.env.PINREC_DATA ?? path.join(repo, '..', 'shared', 'datasets');
const photosDir = arg('photos') ?? (arg('synthetic') === undefined ? path.join(dataRoot, 'caltech101-subset') : undefined);
const wantPhotos = photosDir !== undefined && existsSync(path.join(photosDir, 'labels.csv'));
if (photosDir !== undefined && !wantPhotos) console.log(`no photos at ${photosDir} (labels.csv missing): serving a synthetic catalogue, no image search`);

// the embedder: only when a model is there (offline: nothing is downloaded)
let embedder: Awaited<ReturnType<typeof loadEmbedder>> | undefined;
if (existsSync(modelDir)) {
  try {
    embedder = await loadEmbedder({ modelDir, workers: 1 });
    console.log(`embedder ${embedder.info.model} (${embedder.dim}-d) from ${modelDir}`);
  } catch (e) {
    console.log(`no embedder (${(e as Error).message}): image search and uploads answer 503`);
  }
} else console.log(`no model folder at ${modelDir}: image search and uploads answer 503`);

async function build(): Promise<Bundle> {
  if (wantPhotos && embedder) {
    const lines = readFileSync(path.join(photosDir!, 'labels.csv'), 'utf8').trim().split('\n').slice(1);
    const photos = lines.map((l) => { const c = l.lastIndexOf(','); return { path: path.join(photosDir!, l.slice(0, c)), label: l.slice(c + 1) }; });
    const b = await buildPhotoBundle({ photos, embedder, limit: num('limit', 600) });
    console.log(`built a bundle of ${b.pins.size} photos from ${photosDir} in ${seconds(t0)} s`);
    return b;
  }
  const pins = num('synthetic', 20_000);
  const b = buildSyntheticBundle({ pins, seed: num('seed', 1) });
  console.log(`built a synthetic bundle of ${pins} pins in ${seconds(t0)} s`);
  return b;
}

const dir = arg('bundle');
let bundle: Bundle;
if (dir && existsSync(dir)) {
  bundle = await loadBundle(dir);
  console.log(`loaded bundle ${bundle.label} from ${dir} (${bundle.pins.size} pins) in ${seconds(t0)} s`);
} else {
  bundle = await build();
  if (dir) {
    await saveBundle(bundle, dir);
    console.log(`saved it to ${dir}`);
  }
}
if (embedder && embedder.dim !== bundle.visualIndex.dim) {
  console.log(`the bundle's embeddings are ${bundle.visualIndex.dim}-d, the embedder's ${embedder.dim}-d: image search and uploads answer 503`);
  await embedder.dispose();
  embedder = undefined;
}

let store: FeedStore;
let redis: Redis | undefined;
const url = arg('redis');
if (url) {
  // fail fast while Redis is away (the service degrades and keeps events), reconnect every 100 ms
  redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  redis.on('error', () => {}); // surfaced through the store's errors and /health, not as an unhandled event
  store = new RedisFeedStore(redis, { timeoutMs: 50 });
} else store = new MemoryFeedStore();

let service: Awaited<ReturnType<typeof createFeedService>>;
let ingestor: Ingestor | undefined;
if (embedder) {
  const media = arg('media') ?? path.join(tmpdir(), 'pinrec-feed-media');
  mkdirSync(media, { recursive: true });
  // uploads go into whichever visual index serves when they arrive
  ingestor = new Ingestor({ store: new FileSystemStore(media), embedder, index: { addItems: (ids, v) => service.current().visualIndex.addItems(ids, v) }, concurrency: 1, whenFull: 'reject' });
}
service = await createFeedService({
  bundle,
  store,
  embedder,
  ingestor,
  refitEveryMs: num('refit-every-s', 0) * 1000,
  overload: { maxConcurrent: num('max-concurrent', 4) },
});
// warm up before taking traffic (compiles the hot paths, settles the heap after the build)
for (let i = 0; i < 200; i++) await service.app.inject({ method: 'GET', url: `/feed/warmup-${i % 20}` });
for (const u of bundle.model.userIds().slice(0, 200)) await service.app.inject({ method: 'GET', url: `/feed/${encodeURIComponent(String(u))}` });
const address = await service.app.listen({ host: '127.0.0.1', port: num('port', 8080), backlog: 4096 });
console.log(`listening on ${address}`);

let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  console.log(`${signal}: closing`);
  await service.close();
  await service.flushPending().catch(() => 0);
  await store.close();
  redis?.disconnect();
  ingestor?.close();
  await embedder?.dispose();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
