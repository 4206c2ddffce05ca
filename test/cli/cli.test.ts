/**
 * The `pinrec` command run as a user runs it: in a temporary directory, on files made there, checking stdout,
 * stderr, exit codes and the files left behind. The built bin (dist/cli/main.js, as `npm run build` makes it)
 * is used when it exists, else the TypeScript source through tsx. Images go through a tiny real TF.js CNN
 * written by the test (test/embeddings/fake-model.ts), so no model download or shared data is needed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEmbedder } from '../../src/embeddings/index.js';
import { readEmbeddingsArrow, writeEmbeddingsArrow } from '../../src/core/arrow-out.js';
import { SvdRecommender } from '../../src/cf/index.js';
import { gradientPng, writeFakeModel, type FakeModel } from '../embeddings/fake-model.js';

const ROOT = path.resolve(__dirname, '../..');
const BUILT = path.join(ROOT, 'dist', 'cli', 'main.js');
const SOURCE = path.join(ROOT, 'src', 'cli', 'main.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function argvOf(args: string[]): string[] {
  return existsSync(BUILT) ? [BUILT, ...args] : ['--import', 'tsx', SOURCE, ...args];
}
function pinrec(...args: string[]) {
  const r = spawnSync(process.execPath, argvOf(args), { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, PINREC_MODEL_DIR: '', PINREC_MODEL_CACHE: path.join(dir, 'no-cache') } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const leftovers = () => readdirSync(dir).filter((f) => /\.tmp$|pinrec-tmp$/.test(f));

// a small sequence file: 300 users in 6 taste groups over 60 pins
const lines: string[] = [];
for (let u = 0; u < 300; u++) {
  const g = u % 6;
  const pins = Array.from({ length: 6 }, (_, t) => `p${g * 10 + ((u + t * 3) % 10)}`);
  lines.push([`u${u}`, ...new Set(pins)].join(' '));
}
writeFileSync(path.join(dir, 'seq.txt'), lines.join('\n') + '\n');

describe('pinrec fit, recommend, similar, factors, evaluate', () => {
  it('fits a sequence file into a model file, with a one-line summary and --json', () => {
    const r = pinrec('fit', 'seq.txt', '--factors', '8', '--out', 'model.pinrec', '--json');
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out.trim());
    expect(s).toMatchObject({ out: 'model.pinrec', users: 300, pins: 60, factors: 8, scoring: 'ease' });
    expect(existsSync(path.join(dir, 'model.pinrec'))).toBe(true);
    expect(leftovers()).toEqual([]); // nothing half-written left
    const plain = pinrec('fit', 'seq.txt', '--factors', '8', '--scoring', 'puresvd', '--out', 'pure.pinrec');
    expect(plain.code, plain.err).toBe(0);
    expect(plain.out).toMatch(/^fitted 300 users × 60 pins .*puresvd.* → pure\.pinrec\n$/);
  });
  it('recommends for users given on the line or in a file, as TSV, JSON, JSON lines or Arrow', async () => {
    const tsv = pinrec('recommend', 'model.pinrec', '--user', 'u0', '--user', 'u7', '--n', '3');
    expect(tsv.code, tsv.err).toBe(0);
    const rows = tsv.out.trim().split('\n').map((l) => l.split('\t'));
    expect(rows).toHaveLength(6);
    expect(rows.map((r) => r[0])).toEqual(['u0', 'u0', 'u0', 'u7', 'u7', 'u7']);
    expect(rows.map((r) => r[1])).toEqual(['1', '2', '3', '1', '2', '3']);
    // u0 is in group 0: its unseen pins of the same group come first
    expect(Number(rows[0][2].slice(1))).toBeLessThan(10);
    writeFileSync(path.join(dir, 'users.txt'), 'u0\n\nu7\n');
    const file = pinrec('recommend', 'model.pinrec', '--users', 'users.txt', '--n', '3', '--out', 'recs.jsonl', '--json');
    expect(file.code, file.err).toBe(0);
    expect(JSON.parse(file.out)).toEqual({ users: 2, out: 'recs.jsonl', format: 'jsonl', rows: 6 });
    const jl = readFileSync(path.join(dir, 'recs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { user: string; rank: number; pin: string });
    expect(jl.map((r) => [r.user, r.rank, r.pin])).toEqual(rows.map((r) => [r[0], Number(r[1]), r[2]]));
    const json = pinrec('recommend', 'model.pinrec', '--user', 'u0', '--n', '2', '--json');
    expect((JSON.parse(json.out) as { results: unknown[] }).results).toHaveLength(2);
    // Arrow: the same rows, with the model's own scores
    const arrow = pinrec('recommend', 'model.pinrec', '--users', 'users.txt', '--n', '3', '--out', 'recs.arrow');
    expect(arrow.code, arrow.err).toBe(0);
    const t = tableFromIPC(readFileSync(path.join(dir, 'recs.arrow')));
    expect(t.numRows).toBe(6);
    const got = t.toArray().map((r) => [r.user, r.rank, r.pin, r.reason]);
    expect(got).toEqual(rows.map((r) => [r[0], Number(r[1]), r[2], 'cf']));
    const model = await SvdRecommender.load<string, string>(path.join(dir, 'model.pinrec'));
    const want = model.recommend('u0', { n: 3 });
    expect(Array.from(t.getChild('score')!.toArray() as Float32Array).slice(0, 3)).toEqual(Array.from(Float32Array.from(want.scores)));
    expect(leftovers()).toEqual([]);
  });
  it('similar pins, factors as Arrow, and a leave-last-out evaluation', async () => {
    const sim = pinrec('similar', 'model.pinrec', '--pin', 'p3', '--n', '4', '--json');
    expect(sim.code, sim.err).toBe(0);
    const res = (JSON.parse(sim.out) as { results: { user: string; pin: string; reason: string }[] }).results;
    expect(res).toHaveLength(4);
    expect(res.every((r) => r.user === 'p3' && r.pin !== 'p3' && r.reason === 'similar')).toBe(true);
    expect(res.filter((r) => Number(r.pin.slice(1)) < 10).length).toBeGreaterThanOrEqual(3); // p3's own group

    const f = pinrec('factors', 'model.pinrec', '--which', 'items', '--out', 'items.arrow', '--json');
    expect(f.code, f.err).toBe(0);
    expect(JSON.parse(f.out)).toMatchObject({ out: 'items.arrow', which: 'items', rows: 60, dim: 8 });
    const items = await readEmbeddingsArrow(path.join(dir, 'items.arrow'), { vectorColumn: 'factors' });
    expect(items.ids).toHaveLength(60);
    expect(items.dim).toBe(8);
    const u = pinrec('factors', 'model.pinrec', '--which', 'users', '--out', 'users.arrow');
    expect(u.code, u.err).toBe(0);
    expect(tableFromIPC(readFileSync(path.join(dir, 'users.arrow'))).numRows).toBe(300);

    const ex = pinrec('export', 'seq.txt', '--partitions', '3', '--to', 'parquet', '--out', 'parts', '--json');
    expect(ex.code, ex.err).toBe(0);
    const man = JSON.parse(ex.out) as { rows: number; partitions: { file: string; rows: number }[] };
    expect(man.partitions.map((p) => p.file)).toEqual(['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet']);
    expect(man.partitions.reduce((s, p) => s + p.rows, 0)).toBe(man.rows);
    const back = pinrec('fit', 'parts/part-00000.parquet', '--factors', '4', '--out', 'part0.pinrec', '--json');
    expect(back.code, back.err).toBe(0);

    const ev = pinrec('evaluate', 'seq.txt', '--factors', '8', '--k', '5', '--json');
    expect(ev.code, ev.err).toBe(0);
    const m = JSON.parse(ev.out) as { hr: number; ndcg: number; k: number; evaluated: number };
    expect(m.k).toBe(5);
    expect(m.evaluated).toBe(300);
    expect(m.hr).toBeGreaterThan(0.3); // six clean taste groups: the held-out pin is easy to find
    expect(m.ndcg).toBeGreaterThan(0);
    expect(m.ndcg).toBeLessThanOrEqual(m.hr);
  });
});

const MODELS_ROOT = path.resolve(process.env.PINREC_MODEL_DIR || path.join(ROOT, '../shared/models'));
const CALTECH = path.resolve(process.env.PINREC_DATA ?? path.join(ROOT, '../shared/datasets'), 'caltech101-subset', 'images');
const haveDetector = existsSync(path.join(MODELS_ROOT, 'centernet_mobilenetv3_coco', 'model.json')) && existsSync(path.join(CALTECH, 'airplanes'));

describe('pinrec embed, index, search, ingest, feed (a tiny real CNN written by the test)', () => {
  let fake: FakeModel;
  beforeAll(async () => {
    fake = await writeFakeModel(tf, path.join(dir, 'fake_cnn'));
    // the command loads custom models through a saved embedder file (settings) plus --model-dir (weights)
    const e = await loadEmbedder({ model: fake.name, modelDir: fake.dir, featureLayer: fake.featureLayer, preprocessing: { size: fake.size, normalization: 'unit' } });
    await e.save(path.join(dir, 'fake.embedder'));
    await e.dispose();
    for (const [folder, seeds] of [['photos/warm', [1, 2, 3]], ['photos/cool', [40, 41]]] as const) {
      mkdirSync(path.join(dir, folder), { recursive: true });
      for (const s of seeds) writeFileSync(path.join(dir, folder, `img${s}.png`), await gradientPng(s));
    }
    writeFileSync(path.join(dir, 'photos', 'broken.png'), 'not an image');
  }, 120_000);
  const emb = () => ['--embedder', 'fake.embedder', '--model-dir', 'fake_cnn'];

  it('embeds a folder into an Arrow file (ids relative to the folder), skipping and reporting what fails', async () => {
    const r = pinrec('embed', 'photos', '--out', 'emb.arrow', ...emb(), '--json');
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as { images: number; embedded: number; failed: number; dim: number };
    expect(s).toMatchObject({ images: 6, embedded: 5, failed: 1, dim: fake.dim });
    expect(r.err).toMatch(/skipped photos\/broken\.png/);
    const back = await readEmbeddingsArrow(path.join(dir, 'emb.arrow'));
    expect(back.ids).toEqual(['cool/img40.png', 'cool/img41.png', 'warm/img1.png', 'warm/img2.png', 'warm/img3.png']);
    expect(back.dim).toBe(fake.dim);
    // --strict makes the failure an exit code; a glob picks files by pattern
    expect(pinrec('embed', 'photos', '--out', 'x.arrow', ...emb(), '--strict').code).toBe(3);
    const g = pinrec('embed', 'photos/*/img4*.png', '--out', 'glob.arrow', ...emb(), '--json');
    expect(g.code, g.err).toBe(0);
    expect((await readEmbeddingsArrow(path.join(dir, 'glob.arrow'))).ids).toEqual(['cool/img40.png', 'cool/img41.png']);
  });
  it('indexes the embeddings and searches by pin and by image', () => {
    for (const backend of ['hnsw', 'exact', 'usearch']) {
      const r = pinrec('index', 'emb.arrow', '--backend', backend, '--out', `idx-${backend}.pinrec`, '--json');
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ vectors: 5, dim: fake.dim, backend, metric: 'cosine' });
      const byPin = pinrec('search', `idx-${backend}.pinrec`, '--pin', 'warm/img1.png', '--k', '4', '--json');
      expect(byPin.code, byPin.err).toBe(0);
      const hits = (JSON.parse(byPin.out) as { results: { pin: string; rank: number }[] }).results;
      expect(hits.map((h) => h.pin)).not.toContain('warm/img1.png');
      expect(hits).toHaveLength(4);
    }
    const byImage = pinrec('search', 'idx-exact.pinrec', '--image', 'photos/warm/img2.png', '--k', '1', ...emb(), '--json');
    expect(byImage.code, byImage.err).toBe(0);
    expect((JSON.parse(byImage.out) as { results: { pin: string }[] }).results[0].pin).toBe('warm/img2.png'); // itself
    const unknown = pinrec('search', 'idx-exact.pinrec', '--pin', 'nope.png');
    expect(unknown.code).toBe(3);
    expect(unknown.err).toBe('pinrec search: pin: unknown id "nope.png"\n');
    const notIndex = pinrec('search', 'model.pinrec', '--pin', 'x');
    expect(notIndex.code).toBe(3);
    expect(notIndex.err).toMatch(/model\.pinrec.*not a vector index/);
  });
  it('ingests images into a catalogue folder (records, blobs, index), idempotently', () => {
    const r = pinrec('ingest', 'photos/warm', 'photos/cool', '--dir', 'catalogue', '--category', 'decor', ...emb(), '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ images: 5, created: 5, existing: 0, failed: 0, indexed: 5 });
    const again = pinrec('ingest', 'photos/warm', 'photos/cool', '--dir', 'catalogue', ...emb(), '--json');
    expect(JSON.parse(again.out)).toMatchObject({ created: 0, existing: 5, indexed: 5 });
    const recs = readFileSync(path.join(dir, 'catalogue', 'pins.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { record: { id: string; quality?: number; category: string } }).record);
    const ids = new Set(recs.map((x) => x.id));
    expect(ids).toEqual(new Set(['img1.png', 'img2.png', 'img3.png', 'img40.png', 'img41.png']));
    expect(recs.filter((x) => typeof x.quality === 'number').length).toBeGreaterThanOrEqual(5);
    const s = pinrec('search', 'catalogue/index.pinrec', '--pin', 'img1.png', '--records', 'catalogue/pins.jsonl', '--k', '2', '--json');
    expect(s.code, s.err).toBe(0);
    expect((JSON.parse(s.out) as { results: unknown[] }).results).toHaveLength(2);
    const bad = pinrec('ingest', 'photos', '--dir', 'catalogue2', '--no-embed', '--json');
    expect(bad.code).toBe(3); // broken.png is rejected; the others are stored
    expect(JSON.parse(bad.out)).toMatchObject({ images: 6, created: 5, failed: 1 });
  });
  it('builds feeds from a model plus an embeddings index over the same pins: cf, trending and visual sources', async () => {
    const model = await SvdRecommender.load<string, string>(path.join(dir, 'model.pinrec'));
    const pins = model.itemIds();
    const vecs = new Float32Array(pins.length * 4);
    for (let i = 0; i < pins.length; i++) for (let j = 0; j < 4; j++) vecs[i * 4 + j] = Math.sin(i * 0.7 + j) + (Number(pins[i].slice(1)) % 10 === j ? 2 : 0);
    await writeEmbeddingsArrow(path.join(dir, 'pin-emb.arrow'), pins, vecs, 4);
    expect(pinrec('index', 'pin-emb.arrow', '--backend', 'exact', '--out', 'pin-idx.pinrec').code).toBe(0);
    const r = pinrec('feed', 'model.pinrec', '--user', 'u0', '--user', 'u1', '--n', '10', '--visual-index', 'pin-idx.pinrec', '--json');
    expect(r.code, r.err).toBe(0);
    const o = JSON.parse(r.out) as { results: { user: string; pin: string; reason: string }[]; reports: { user: string; sources: { name: string; status: string }[] }[] };
    expect(o.reports.map((x) => x.sources.map((s) => `${s.name}:${s.status}`))).toEqual([['cf:ok', 'trending:ok', 'visual:ok'], ['cf:ok', 'trending:ok', 'visual:ok']]);
    const u0 = o.results.filter((x) => x.user === 'u0');
    expect(u0).toHaveLength(10);
    const seen = new Set(lines[0].split(' ').slice(1));
    expect(u0.some((x) => seen.has(x.pin))).toBe(false); // the user's own pins are excluded
    expect(u0.every((x) => /^(cf|trending|visual)(\+(cf|trending|visual))*$/.test(x.reason))).toBe(true);
    const arrow = pinrec('feed', 'model.pinrec', '--user', 'u0', '--out', 'feed.arrow');
    expect(arrow.code, arrow.err).toBe(0);
    const same = JSON.parse(pinrec('feed', 'model.pinrec', '--user', 'u0', '--json').out) as { results: { pin: string }[] };
    const t = tableFromIPC(readFileSync(path.join(dir, 'feed.arrow')));
    expect(t.numRows).toBe(same.results.length); // up to the default 25: 54 unseen pins, all in one category here, under the caps
    expect(t.toArray().map((r) => r.pin)).toEqual(same.results.map((r) => r.pin));
  });
  it.skipIf(!haveDetector)('ingest --detect and search --box with the real detector: records the objects of a scene composed from two photos, indexes them as children, and a box query finds the scene by its object', async () => {
    const sharp = (await import('sharp')).default;
    const plane = await sharp(path.join(CALTECH, 'airplanes', 'image_0001.jpg')).resize(300, 150, { fit: 'inside' }).toBuffer({ resolveWithObject: true });
    const bike = await sharp(path.join(CALTECH, 'Motorbikes', 'image_0001.jpg')).resize(260, 180, { fit: 'inside' }).toBuffer({ resolveWithObject: true });
    mkdirSync(path.join(dir, 'scenes'), { recursive: true });
    await sharp({ create: { width: 640, height: 400, channels: 3, background: '#9a9a9a' } })
      .composite([{ input: plane.data, left: 10, top: 20 }, { input: bike.data, left: 360, top: 200 }]).jpeg().toFile(path.join(dir, 'scenes', 'scene.jpg'));
    writeFileSync(path.join(dir, 'scenes', 'plane.jpg'), await sharp(plane.data).jpeg().toBuffer());
    const r = pinrec('ingest', 'scenes/scene.jpg', '--dir', 'shop', ...emb(), '--detect', '--detector-dir', MODELS_ROOT, '--json');
    expect(r.code, r.err).toBe(0);
    const sum = JSON.parse(r.out) as { objects: number; indexed: number };
    expect(sum.objects).toBeGreaterThanOrEqual(1);
    expect(sum.indexed).toBe(1 + sum.objects);
    const rec = readFileSync(path.join(dir, 'shop', 'pins.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { record: { id: string; objects?: { id: string; className: string; box: { x: number; y: number; width: number; height: number } }[] } }).record).at(-1)!;
    expect(rec.objects!.map((o) => o.className)).toContain('airplane');
    const planeObj = rec.objects!.find((o) => o.className === 'airplane')!;
    expect(planeObj.id).toMatch(/^scenes:scene\.jpg#\d+$/);
    // the pasted plane is at x 10..310, y 20..170: the detected box overlaps it
    expect(planeObj.box.x).toBeLessThan(60);
    expect(planeObj.box.x + planeObj.box.width).toBeGreaterThan(260);
    // a box query on the scene: one result per pin, and the reason names the object that matched
    const box = `${planeObj.box.x},${planeObj.box.y},${planeObj.box.width},${planeObj.box.height}`;
    const s = pinrec('search', 'shop/index.pinrec', '--image', 'scenes/scene.jpg', '--box', box, '--records', 'shop/pins.jsonl', ...emb(), '--json');
    expect(s.code, s.err).toBe(0);
    const res = (JSON.parse(s.out) as { results: { pin: string; reason: string }[] }).results;
    expect(res).toHaveLength(1);
    expect(res[0]).toMatchObject({ pin: 'scenes:scene.jpg', reason: `similarity (object ${planeObj.id})` });
    const outside = pinrec('search', 'shop/index.pinrec', '--image', 'scenes/scene.jpg', '--box', '600,380,100,100', ...emb());
    expect(outside.code).toBe(3);
    expect(outside.err).toMatch(/box/);
    expect(pinrec('search', 'shop/index.pinrec', '--pin', 'scene.jpg', '--box', '1,2,3,4').code).toBe(2);
  }, 120_000);
});

describe('errors: one line, naming the file, parameter and value, with distinct exit codes', () => {
  it('bad usage exits 2', () => {
    for (const args of [[], ['frobnicate'], ['fit', 'seq.txt'], ['fit', 'seq.txt', '--out', 'm', '--factors', 'zero'], ['fit', '--bogus'], ['recommend', 'model.pinrec'], ['search', 'x', '--pin', 'a', '--image', 'b'], ['index', 'emb.arrow', '--out', 'i', '--backend', 'faiss']]) {
      const r = pinrec(...args);
      expect(r.code, args.join(' ')).toBe(2);
    }
    const r = pinrec('fit', 'seq.txt', '--out', 'm', '--factors', 'zero');
    expect(r.err).toBe('pinrec fit: --factors must be an integer in [1, 4096] (got "zero")\n');
    expect(pinrec('index', 'emb.arrow', '--out', 'i', '--backend', 'faiss').err).toBe('pinrec index: --backend must be hnsw, usearch, exact (got "faiss")\n');
  });
  it('bad input exits 3: a missing file, a corrupt model, an unknown user, a wrong Arrow column', () => {
    const missing = pinrec('fit', 'nope.txt', '--out', 'm.pinrec');
    expect(missing.code).toBe(3);
    expect(missing.err).toBe('pinrec fit: nope.txt: cannot be read (ENOENT)\n');
    writeFileSync(path.join(dir, 'bad.pinrec'), 'not a model');
    const bad = pinrec('recommend', 'bad.pinrec', '--user', 'u0');
    expect(bad.code).toBe(3);
    expect(bad.err.split('\n')).toHaveLength(2); // one line and the final newline
    expect(bad.err).toMatch(/^pinrec recommend: .*bad\.pinrec/);
    const unknown = pinrec('recommend', 'model.pinrec', '--user', 'nobody');
    expect(unknown.code).toBe(3);
    expect(unknown.err).toBe('pinrec recommend: user: unknown id "nobody"\n');
    const col = pinrec('index', 'recs.arrow', '--out', 'i.pinrec');
    expect(col.code).toBe(3);
    expect(col.err.split('\n')).toHaveLength(2);
    expect(col.err).toMatch(/^pinrec index: .*recs\.arrow.*/);
    const noModel = pinrec('embed', 'photos', '--out', 'e.arrow', '--model-dir', 'nowhere');
    expect(noModel.code).toBe(3);
    expect(noModel.err).toMatch(/^pinrec embed: .*nowhere.*\n$/);
  });
  it('--help for the command and every subcommand exits 0', () => {
    const main = pinrec('--help');
    expect(main.code).toBe(0);
    const names = [...main.out.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]);
    expect(names).toEqual(['fit', 'recommend', 'similar', 'factors', 'evaluate', 'export', 'embed', 'index', 'search', 'ingest', 'feed', 'bench', 'demo']);
    for (const c of names) {
      const r = pinrec(c, '--help');
      expect(r.code, c).toBe(0);
      expect(r.out).toMatch(/Usage: pinrec/);
    }
  });
});

let interrupted = false;
describe('Ctrl-C', () => {
  it('interrupting a write leaves neither the output nor a temporary file, and exits 130', async () => {
    // 3,000 users × 300 pins of recommendations: the Arrow write is under way when the signal comes
    const big: string[] = [];
    for (let u = 0; u < 3000; u++) big.push([`u${u}`, ...Array.from({ length: 8 }, (_, t) => `p${(u * 7 + t * 13) % 400}`)].join(' '));
    writeFileSync(path.join(dir, 'big.txt'), big.join('\n') + '\n');
    expect(pinrec('fit', 'big.txt', '--factors', '8', '--out', 'big.pinrec').code).toBe(0);
    writeFileSync(path.join(dir, 'big-users.txt'), big.map((l) => l.split(' ')[0]).join('\n'));
    const child = spawn(process.execPath, argvOf(['recommend', 'big.pinrec', '--users', 'big-users.txt', '--n', '300', '--out', 'big-recs.arrow']), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    // the signal goes out as soon as the temporary file appears
    const code = await new Promise<number | null>((resolve) => {
      const timer = setInterval(() => {
        if (readdirSync(dir).some((f) => /^\.?big-recs\.arrow\./.test(f))) { clearInterval(timer); child.kill('SIGINT'); }
      }, 2);
      child.on('exit', (c) => { clearInterval(timer); resolve(c); });
      setTimeout(() => child.kill('SIGKILL'), 60_000);
    });
    const left = readdirSync(dir).filter((f) => /^\.?big-recs\.arrow/.test(f));
    interrupted = code !== 0;
    if (code === 0) {
      // the write finished before the signal could land: then the file is whole
      expect(tableFromIPC(readFileSync(path.join(dir, 'big-recs.arrow'))).numRows).toBe(900_000);
    } else {
      expect(code).toBe(130);
      expect(left).toEqual([]);
    }
  }, 120_000);
});

describe('pinrec demo', () => {
  it('runs with no arguments: fit, evaluation, recommendations, a feed with sources and caps; says what it skipped', () => {
    const r = pinrec('demo', '--json');
    expect(r.code, r.err).toBe(0);
    const o = JSON.parse(r.out.trim()) as { hr10: number; user0: number[]; seconds: number; feed: { items: number; sources: { name: string; status: string }[]; maxCategoryShare: number }; visual: { status: string; looked?: string[]; reason?: string } };
    expect(o.hr10).toBeGreaterThan(0.05);
    expect(o.user0).toHaveLength(5);
    expect(o.feed.items).toBe(20);
    expect(o.feed.sources.map((s) => `${s.name}:${s.status}`)).toEqual(['cf:ok', 'trending:ok']);
    expect(o.feed.maxCategoryShare).toBeLessThanOrEqual(0.3);
    // no model without a download here (PINREC_MODEL_DIR empty, an empty cache): skipped, saying where it looked
    expect(o.visual.status).toBe('skipped');
    expect(o.visual.looked!.join(' ')).toMatch(/PINREC_MODEL_DIR.*cache/);
    expect(o.seconds).toBeLessThan(60);
  });
});
