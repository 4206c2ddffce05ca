import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExactIndex } from '../../src/ann/index.js';
import { BusyError, ImageDecodeError, InvalidParameterError, UnknownIdError } from '../../src/core/errors.js';
import type { Embedder } from '../../src/core/interfaces.js';
import { FileSystemStore, MemoryStore, analyzeImage, type BlobMeta, type BlobStore } from '../../src/images/index.js';
import { FilePinRecords, INGEST_STEPS, InMemoryPinRecords, Ingestor, type IngestProgress } from '../../src/ingest/index.js';
import { FileFormatError } from '../../src/core/errors.js';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { VisualSearch } from '../../src/ranking/index.js';
import * as fx from '../images/fixtures.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'pinrec-ingest-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try { await p; } catch (e) { return e; }
  throw new Error('expected a rejection');
}

/** A real, small embedder: the mean colour of a 4×4 grid (48 dims), so visually similar images embed close. */
class GridEmbedder implements Embedder<Buffer> {
  readonly dim = 48;
  calls = 0;
  failNext = 0;
  delayMs = 0;
  async embed(input: Buffer): Promise<Float32Array> {
    this.calls++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failNext > 0) { this.failNext--; throw new Error('model server down'); }
    const px = await sharp(input).rotate().resize(4, 4, { fit: 'fill' }).removeAlpha().toColourspace('srgb').raw().toBuffer();
    return Float32Array.from(px, (v) => v / 255 + 0.01);
  }
}

/** A store that fails the puts whose content type matches, until told otherwise. */
class FlakyStore implements BlobStore {
  readonly inner = new MemoryStore();
  failing: RegExp | null = null;
  async put(key: string, bytes: Uint8Array, meta: BlobMeta): Promise<void> {
    if (this.failing?.test(meta.contentType)) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
    return this.inner.put(key, bytes, meta);
  }
  get(key: string) { return this.inner.get(key); }
  head(key: string) { return this.inner.head(key); }
  delete(key: string) { return this.inner.delete(key); }
}

describe('Ingestor', () => {
  it('takes an upload to a searchable pin: original, renditions, analysis, hash, embedding, index, record', async () => {
    const store = new FileSystemStore(path.join(tmp, 'media'));
    const records = new InMemoryPinRecords();
    const embedder = new GridEmbedder();
    const index = new ExactIndex<string>({ metric: 'cosine', dim: embedder.dim });
    const events: IngestProgress[] = [];
    const ingestor = new Ingestor({ store, records, embedder, index, onProgress: (p) => events.push(p) });
    const uploads = await Promise.all([1, 2, 3].map((s) => fx.jpeg(800, 600, s * 17)));
    const results: Awaited<ReturnType<Ingestor['ingest']>>[] = [];
    for (const [i, u] of uploads.entries()) results.push(await ingestor.ingest(u, { category: `c${i}`, creator: 'ann' }));
    for (const [i, r] of results.entries()) {
      expect(r.outcome).toBe('created');
      expect(r.failed).toEqual([]);
      expect(r.record.status).toBe('complete');
      expect(r.id).toMatch(/^pin_[0-9a-f]{24}$/);
      expect(Object.keys(r.record.steps).sort()).toEqual([...INGEST_STEPS].sort());
      expect(r.record.renditions.map((x) => x.name)).toEqual(['thumbnail', 'feed', 'detail', 'zoom']);
      expect(await store.get(r.record.original.key)).toEqual(uploads[i]);
      for (const x of r.record.renditions) expect((await store.head(x.key))?.cacheControl).toBe('public, max-age=31536000, immutable');
      expect(r.record.quality).toBeGreaterThan(0);
      expect(r.record.quality).toBeLessThanOrEqual(1);
      expect(r.record.hash?.hex).toMatch(/^[0-9a-f]{16}$/);
      expect(r.record.indexed).toBe(true);
      expect(index.has(r.id)).toBe(true);
    }
    expect(events.filter((e) => e.id === results[0].id).map((e) => e.step)).toEqual(INGEST_STEPS.filter((s) => s !== 'objects')); // no detector: no objects step
    // findable at once, with the quality the blend reads, through the real VisualSearch
    const vs = new VisualSearch({ embedder, index, metadata: records });
    const hits = await vs.search(uploads[1], { k: 3 });
    expect(hits[0].id).toBe(results[1].id);
    expect(hits[0].similarity).toBeCloseTo(1, 5);
    expect(hits[0].category).toBe('c1');
    const [meta] = records.get([results[1].id]);
    expect(meta?.quality).toBe(results[1].record.quality);
    const stored = records.embedding(results[1].id)!;
    const norm = Math.hypot(...stored);
    expect(Array.from(index.getVector(results[1].id))).toEqual(Array.from(stored, (v) => expect.closeTo(v / norm, 6)));
  });

  it('is idempotent: the same bytes give the same pin, also when sent at the same time', async () => {
    const embedder = new GridEmbedder();
    const ingestor = new Ingestor({ store: new MemoryStore(), embedder, index: new ExactIndex<string>({ metric: 'cosine', dim: 48 }) });
    const bytes = await fx.jpeg(300, 200, 5);
    const [a, b] = await Promise.all([ingestor.ingest(bytes), ingestor.ingest(Buffer.from(bytes))]);
    const c = await ingestor.ingest(bytes, { id: 'other-id' });
    expect(new Set([a.id, b.id, c.id]).size).toBe(1);
    expect([a.outcome, b.outcome, c.outcome].sort()).toEqual(['created', 'existing', 'existing']);
    expect(embedder.calls).toBe(1);
    expect((ingestor.records as InMemoryPinRecords).size).toBe(1);
    // the quality ingest records is the one analyzeImage gives for the same bytes
    expect(a.record.quality).toBe((await analyzeImage(bytes)).quality);
  });

  it('reports a near-duplicate with the pin it duplicates; links it or skips it by option', async () => {
    const bytes = await fx.jpeg(640, 480, 8);
    const copy = await sharp(bytes).resize(320).jpeg({ quality: 60 }).toBuffer();
    const other = await sharp(fx.texturedRaw(640, 480, 99), { raw: { width: 640, height: 480, channels: 3 } }).flop().jpeg().toBuffer();
    for (const mode of ['link', 'skip'] as const) {
      const index = new ExactIndex<string>({ metric: 'cosine', dim: 48 });
      const ingestor = new Ingestor({ store: new MemoryStore(), embedder: new GridEmbedder(), index, duplicates: { mode } });
      const first = await ingestor.ingest(bytes);
      const dup = await ingestor.ingest(copy);
      const distinct = await ingestor.ingest(other);
      expect(dup.id).not.toBe(first.id);
      expect(dup.record.duplicateOf?.id).toBe(first.id);
      expect(dup.record.duplicateOf!.distance).toBeLessThanOrEqual(16);
      expect(distinct.record.duplicateOf).toBeUndefined();
      if (mode === 'link') {
        expect(dup.record.status).toBe('complete');
        expect(index.has(dup.id)).toBe(true);
      } else {
        expect(dup.record.status).toBe('duplicate');
        expect(dup.record.renditions).toEqual([]);
        expect(index.has(dup.id)).toBe(false);
        expect((ingestor.records as InMemoryPinRecords).get([dup.id])).toEqual([undefined]);
      }
    }
    const off = new Ingestor({ store: new MemoryStore(), duplicates: { mode: 'off' } });
    await off.ingest(bytes);
    expect((await off.ingest(copy)).record.duplicateOf).toBeUndefined();
  });

  it('never loses the upload: a failing step is recorded with its reason and a retry finishes it', async () => {
    const store = new FlakyStore();
    const embedder = new GridEmbedder();
    const index = new ExactIndex<string>({ metric: 'cosine', dim: 48 });
    const ingestor = new Ingestor({ store, embedder, index });
    store.failing = /webp/;
    embedder.failNext = 1;
    const bytes = await fx.jpeg(500, 400, 3);
    const r = await ingestor.ingest(bytes, { category: 'decor' });
    expect(r.record.status).toBe('partial');
    expect(r.failed).toEqual(['renditions', 'embedding', 'index']);
    expect(r.record.steps.renditions?.error).toEqual({ code: 'ENOSPC', message: 'disk full' });
    expect(r.record.steps.embedding?.error?.message).toContain('model server down');
    expect(r.record.steps.analysis?.ok).toBe(true);
    expect(await store.get(r.record.original.key)).toEqual(bytes); // the original is safe
    expect(index.has(r.id)).toBe(false);
    // later: the store and the model are back
    store.failing = null;
    const again = await ingestor.retry(r.id);
    expect(again.record.status).toBe('complete');
    expect(again.failed).toEqual([]);
    expect(again.record.steps.renditions?.attempts).toBe(2);
    expect(again.record.steps.analysis?.attempts).toBe(1); // not re-run
    expect(again.record.category).toBe('decor');
    expect(index.has(r.id)).toBe(true);
    // ingesting the same bytes again also finishes a partial pin
    store.failing = /webp/;
    const p2 = await ingestor.ingest(await fx.jpeg(500, 400, 4));
    store.failing = null;
    expect((await ingestor.ingest(await fx.jpeg(500, 400, 4))).record.status).toBe('complete');
    expect(p2.record.status).toBe('partial');
    expect(await rejection(ingestor.retry('nope'))).toBeInstanceOf(UnknownIdError);
    // a stored original that is not the upload's bytes is refused, not re-processed
    const key = p2.record.original.key;
    const meta = (await store.head(key))!;
    const other = await fx.jpeg(500, 400, 77);
    await store.inner.delete(key);
    await store.inner.put(key, other, { ...meta, byteSize: other.length });
    expect(await rejection(ingestor.retry(p2.id))).toBeInstanceOf(FileFormatError);
  });

  it('with FilePinRecords, a retry after a restart finishes what failed; a cut-short last line is dropped', async () => {
    const dir = mkdtempSync(path.join(tmp, 'restart-'));
    const log = path.join(dir, 'pins.jsonl');
    const embedder = new GridEmbedder();
    embedder.failNext = 1;
    const first = new Ingestor({ store: new FileSystemStore(path.join(dir, 'media')), records: await FilePinRecords.open(log), embedder });
    const bytes = await fx.jpeg(300, 200, 21);
    const r = await first.ingest(bytes, { category: 'x' });
    expect(r.failed).toEqual(['embedding']);
    await (first.records as FilePinRecords).flush();
    appendFileSync(log, '{"v":1,"record":{"id":"half'); // a crash in the middle of a write
    // a new process: same folder, same log
    const records = await FilePinRecords.open(log);
    expect(records.get(r.id)?.status).toBe('partial');
    expect(records.get(r.id)?.category).toBe('x');
    const index = new ExactIndex<string>({ metric: 'cosine', dim: 48 });
    const second = new Ingestor({ store: new FileSystemStore(path.join(dir, 'media')), records, embedder, index });
    const done = await second.retry(r.id);
    expect(done.record.status).toBe('complete');
    expect(index.has(r.id)).toBe(true);
    const lines = records.logLines;
    await second.ingest(bytes); // a repeat upload of a complete pin writes nothing
    await records.flush();
    expect(records.logLines).toBe(lines);
    await records.compact();
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
    expect((await FilePinRecords.open(log)).get(r.id)?.status).toBe('complete');
    writeFileSync(log, 'not json\n{}\n');
    expect(await rejection(FilePinRecords.open(log))).toBeInstanceOf(FileFormatError);
  });

  it('a store that cannot take the original fails the call and records nothing', async () => {
    const store = new FlakyStore();
    store.failing = /jpeg/;
    const ingestor = new Ingestor({ store });
    const e = await rejection(ingestor.ingest(await fx.jpeg(100, 80)));
    expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect((ingestor.records as InMemoryPinRecords).size).toBe(0);
  });

  it('rejects hostile input with a typed error and stores nothing', async () => {
    const store = new MemoryStore();
    const ingestor = new Ingestor({ store });
    const good = await fx.jpeg(300, 200);
    for (const bad of [good.subarray(0, 500), fx.lyingPng(), fx.SVG_ENTITY, fx.SVG_HUGE, Buffer.alloc(0), Buffer.from('hello world')]) {
      expect(await rejection(ingestor.ingest(bad))).toBeInstanceOf(ImageDecodeError);
    }
    expect(store.size).toBe(0);
    // the other odd-but-valid inputs go through
    for (const ok of [await fx.animatedGif(), await fx.cmykJpeg(), await fx.png16(), await fx.rotatedJpeg(), await fx.alphaPng()]) {
      expect((await ingestor.ingest(ok)).record.status).toBe('complete');
    }
    expect(await rejection(ingestor.ingest(good, { id: '../x' }))).toBeInstanceOf(InvalidParameterError);
    expect(await rejection(ingestor.ingest(good, { category: {} as never }))).toBeInstanceOf(InvalidParameterError);
  });

  it('has a bounded queue: busy when full (reject), or callers wait (wait)', async () => {
    const embedder = new GridEmbedder();
    embedder.delayMs = 150;
    const uploads = await Promise.all([1, 2, 3, 4].map((s) => fx.jpeg(120, 90, s * 31)));
    const rejecting = new Ingestor({ store: new MemoryStore(), embedder, concurrency: 1, maxQueued: 1, whenFull: 'reject' });
    const settled = await Promise.allSettled(uploads.map((u) => rejecting.ingest(u)));
    const busy = settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason);
    expect(busy.length).toBe(2);
    for (const b of busy) expect(b).toBeInstanceOf(BusyError);
    expect((busy[0] as BusyError).limit).toBe(1);
    const waiting = new Ingestor({ store: new MemoryStore(), embedder, concurrency: 1, maxQueued: 1, whenFull: 'wait' });
    let maxActive = 0;
    const all = uploads.map((u) => waiting.ingest(u).then((r) => { maxActive = Math.max(maxActive, waiting.load.active); return r; }));
    const results = await Promise.all(all);
    expect(results.every((r) => r.record.status === 'complete')).toBe(true);
    expect(maxActive).toBeLessThanOrEqual(1);
    await waiting.idle();
    waiting.close();
    expect(await rejection(waiting.ingest(uploads[0]))).toMatchObject({ code: 'CLOSED' });
  });

  it('fetches URL uploads within limits (127.0.0.1 only)', async () => {
    const body = await fx.jpeg(200, 150, 2);
    let server!: Server;
    await new Promise<void>((resolve) => {
      server = createServer((req, res) => {
        if (req.url === '/big') { res.writeHead(200); res.end(Buffer.alloc(5000)); return; }
        if (req.url === '/loop') { res.writeHead(302, { location: '/loop' }); res.end(); return; }
        res.writeHead(200, { 'content-type': 'image/jpeg' }); res.end(body);
      }).listen(0, '127.0.0.1', () => resolve());
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const ingestor = new Ingestor({ store: new MemoryStore(), limits: { maxBytes: 4096 * 4 } });
      const ok = await ingestor.ingest(`${url}/photo.jpg`);
      expect(ok.record.status).toBe('complete');
      const small = new Ingestor({ store: new MemoryStore(), limits: { maxBytes: 1000 } });
      expect((await rejection(small.ingest(`${url}/big`)) as ImageDecodeError).kind).toBe('too-large');
      expect((await rejection(ingestor.ingest(`${url}/loop`)) as ImageDecodeError).kind).toBe('fetch');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('validates its options, naming them', () => {
    expect(() => new Ingestor({} as never)).toThrow(/store/);
    expect(() => new Ingestor({ store: new MemoryStore(), concurrency: 0 })).toThrow(/concurrency/);
    expect(() => new Ingestor({ store: new MemoryStore(), whenFull: 'later' as never })).toThrow(/whenFull/);
    expect(() => new Ingestor({ store: new MemoryStore(), duplicates: { mode: 'merge' as never } })).toThrow(/duplicates\.mode/);
    expect(() => new Ingestor({ store: new MemoryStore(), renditions: { preset: 'x' as never } })).toThrow(/preset/);
    expect(() => new Ingestor({ store: new MemoryStore(), limits: { maxPixels: -1 } })).toThrow(/limits\.maxPixels/);
    expect(() => new Ingestor({ store: new MemoryStore(), embedder: {} as never })).toThrow(/embedder/);
  });
});
