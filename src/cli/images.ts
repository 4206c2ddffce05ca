/**
 * The image commands: `embed` (images → an Arrow file of embeddings), `index` (embeddings → an ANN index),
 * `search` (by image or pin id) and `ingest` (images → renditions + analysis + embeddings + index).
 */
import { existsSync, mkdirSync, openSync, readSync, closeSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { FileFormatError, UnknownIdError } from '../core/errors.js';
import type { Id } from '../core/types.js';
import { readEmbeddingsArrow, writeEmbeddingsArrow } from '../core/arrow-out.js';
import { ExactIndex, HnswIndex, UsearchIndex } from '../ann/index.js';
import type { VectorIndex } from '../ann/index.js';
import { loadEmbedder, loadSavedEmbedder } from '../embeddings/index.js';
import type { Embedder } from '../embeddings/index.js';
import { FileSystemStore } from '../images/index.js';
import { FilePinRecords, Ingestor, parentPin } from '../ingest/index.js';
import type { Box } from '../images/crop.js';
import { loadDetector, type Detector } from '../shopping/index.js';
import { InMemoryPinMetadata, VisualSearch } from '../ranking/index.js';
import type { PinMetadataSource } from '../ranking/index.js';
import { choiceOption, emitResults, intOption, parse, progress, readIdList, seconds, trackOutput, UsageError, EXIT, type Command, type ResultRow } from './common.js';

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff']);

function walk(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && IMAGE_EXT.has(path.extname(e.name).toLowerCase())) out.push(p);
  }
}

/** A glob (`*`, `**`, `?`) as a regular expression over `/`-separated paths. */
function globRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') { re += '.*'; i++; if (glob[i + 1] === '/') i++; }
    else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** An image file and its pin id. */
export interface ImageFile { file: string; id: string }

const slash = (p: string) => p.split(path.sep).join('/');

/**
 * The image files named by command-line arguments: files, folders (every image below, sorted), globs (quoted so
 * the shell leaves them, e.g. `'photos/**\/*.jpg'`) and `--list` files (one path per line). A pin's id is its
 * path relative to the folder or the glob's fixed prefix it was found under (`photos/` → `cats/01.jpg`), or the
 * path as given for a file named directly.
 */
export function imageFiles(args: readonly string[], list?: string): ImageFile[] {
  const files: ImageFile[] = [];
  const all = list ? args.concat(readIdList(list)) : args;
  for (const a of all) {
    if (/[*?]/.test(a)) {
      const norm = slash(a);
      const firstGlob = norm.search(/[*?]/);
      const base = norm.slice(0, norm.lastIndexOf('/', firstGlob) + 1) || './';
      const found: string[] = [];
      if (existsSync(base)) walk(base, found);
      const re = globRegex(norm.startsWith('./') ? norm.slice(2) : norm);
      const matched = found.filter((f) => re.test(slash(f).replace(/^\.\//, '')));
      if (matched.length === 0) throw new FileFormatError(a, 'matches no image file');
      files.push(...matched.map((f) => ({ file: f, id: slash(path.relative(base, f)) })));
      continue;
    }
    let st;
    try { st = statSync(a); } catch (e) { throw new FileFormatError(a, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
    if (st.isDirectory()) {
      const found: string[] = [];
      walk(a, found);
      if (found.length === 0) throw new FileFormatError(a, `holds no image file (${[...IMAGE_EXT].join(', ')})`);
      files.push(...found.map((f) => ({ file: f, id: slash(path.relative(a, f)) })));
    } else files.push({ file: a, id: slash(path.normalize(a)) });
  }
  const seen = new Map<string, string>();
  for (const f of files) {
    const prev = seen.get(f.id);
    if (prev !== undefined && prev !== f.file) throw new FileFormatError(f.file, `has the same pin id ${JSON.stringify(f.id)} as ${prev}; name the images from one folder or glob`);
    seen.set(f.id, f.file);
  }
  return files;
}

const EMBEDDER_OPTIONS = {
  model: { type: 'string' }, 'model-dir': { type: 'string' }, embedder: { type: 'string' }, workers: { type: 'string' }, batch: { type: 'string' }, backend: { type: 'string' },
} as const;

const EMBEDDER_HELP = `  --model <name>         a registered model (default mobilenet_v1_0.75_224; tiny_darknet_imagenet, nsfwjs_mobilenet_v2)
  --model-dir <dir>      a folder holding the model (model.json) or <name>/model.json; else $PINREC_MODEL_DIR,
                         the cache, then the hub
  --embedder <file>      a saved embedder (.pinrec: the model's name and settings, its projection) instead of
                         --model; --model-dir then says where that model's weights are
  --workers <n>          inference worker threads (default 0: the main thread)
  --batch <n>            images per inference call (default 8)
  --backend <b>          auto | wasm | cpu | tensorflow (default auto)`;

async function openEmbedder(values: Record<string, string | boolean | string[] | undefined>, onProgress?: (p: { stage: string; done: number; total: number }) => void): Promise<Embedder> {
  const workers = intOption('workers', values.workers as string | undefined, 0, 0, 64);
  const batchSize = intOption('batch', values.batch as string | undefined, 8, 1, 1024);
  const backend = choiceOption('backend', values.backend as string | undefined, 'auto', ['auto', 'wasm', 'cpu', 'tensorflow'] as const);
  const modelDir = values['model-dir'] as string | undefined;
  if (values.embedder) return loadSavedEmbedder(values.embedder as string, { workers, batchSize, backend, ...(modelDir !== undefined ? { modelDir } : {}) });
  return loadEmbedder({ model: values.model as string | undefined, modelDir, workers, batchSize, backend, onProgress });
}

export const embed: Command = {
  name: 'embed',
  summary: 'images (files, folders, globs, a list) → an Arrow file of embeddings',
  help: `Usage: pinrec embed <image|folder|glob> … [--list <file>] --out <embeddings.arrow> [options]

  A pin's id is the image's path below the folder or glob prefix it was found under (the path
  as given for a file named directly). Images that fail to decode are skipped and
  reported (exit code 3 with --strict).
  --list <file>          more image paths, one per line
  --out <file>           Arrow IPC file: id (Utf8), embedding (FixedSizeList<Float32>), written atomically
${EMBEDDER_HELP}
  --strict               exit with code 3 when any image failed
  --json                 print one JSON object (a summary) on stdout`,
  async run(argv) {
    const a = parse(this, argv, { ...EMBEDDER_OPTIONS, list: { type: 'string' }, out: { type: 'string' }, strict: { type: 'boolean' } });
    if (!a) return EXIT.ok;
    const { values, positionals } = a;
    if (!values.out) throw new UsageError('embed needs --out <embeddings.arrow>');
    if (positionals.length === 0 && !values.list) throw new UsageError('embed needs images: files, folders, globs or --list <file>');
    const files = imageFiles(positionals, values.list);
    const t0 = performance.now();
    const bar = progress(!values.json);
    const embedder = await openEmbedder(values, bar.onProgress);
    let res;
    try {
      res = await embedder.embedBatch(files.map((f) => f.file), { onProgress: bar.onProgress });
    } finally {
      bar.stop();
      await embedder.dispose();
    }
    const keep: number[] = [];
    for (let i = 0; i < files.length; i++) if (res.ok[i]) keep.push(i);
    const vectors = new Float32Array(keep.length * res.dim);
    keep.forEach((src, dst) => vectors.set(res.vectors.subarray(src * res.dim, (src + 1) * res.dim), dst * res.dim));
    const untrack = trackOutput(values.out);
    try {
      await writeEmbeddingsArrow(values.out, keep.map((i) => files[i].id), vectors, res.dim, { metadata: { 'pinrec.embedder.model': embedder.info.model, 'pinrec.embedder.location': embedder.info.location } });
    } finally { untrack(); }
    const failed = res.failed.map((i) => ({ file: files[i].file, error: res.errors[i]?.message ?? 'failed' }));
    const summary = { out: values.out, images: files.length, embedded: keep.length, failed: failed.length, dim: res.dim, model: embedder.info.model, location: embedder.info.location, backend: embedder.info.backend, seconds: seconds(t0) };
    for (const f of failed.slice(0, 5)) process.stderr.write(`pinrec embed: skipped ${f.file}: ${f.error.split('\n')[0]}\n`);
    if (failed.length > 5) process.stderr.write(`pinrec embed: … and ${failed.length - 5} more skipped\n`);
    if (values.json) process.stdout.write(JSON.stringify({ ...summary, failures: failed.slice(0, 100) }) + '\n');
    else process.stdout.write(`embedded ${keep.length} of ${files.length} images (${res.dim}-d, ${summary.model} on ${summary.backend}) in ${summary.seconds} s → ${values.out}\n`);
    return values.strict && failed.length > 0 ? EXIT.input : EXIT.ok;
  },
};

const BACKENDS = ['hnsw', 'usearch', 'exact'] as const;
const METRICS = ['cosine', 'ip', 'l2'] as const;

export const index: Command = {
  name: 'index',
  summary: 'build an ANN index from an embeddings file',
  help: `Usage: pinrec index <embeddings.arrow> --out <index.pinrec> [options]

  <embeddings.arrow>     Arrow IPC file with an id column and a FixedSizeList<Float32> column (what pinrec embed
                         and pinrec factors write)
  --id-column <c>        default id
  --vector-column <c>    default embedding (pinrec factors writes factors)
  --backend <b>          hnsw (default) | usearch | exact
  --metric <m>           cosine (default) | ip | l2
  --m <m>                graph degree (default 16)
  --ef-construction <e>  build-time beam (default 200)
  --out <file>           the index (written atomically)
  --json                 print one JSON object (a summary) on stdout`,
  async run(argv) {
    const a = parse(this, argv, { 'id-column': { type: 'string' }, 'vector-column': { type: 'string' }, backend: { type: 'string' }, metric: { type: 'string' }, m: { type: 'string' }, 'ef-construction': { type: 'string' }, out: { type: 'string' } });
    if (!a) return EXIT.ok;
    const { values, positionals } = a;
    if (positionals.length !== 1) throw new UsageError('index takes one embeddings file (see pinrec index --help)');
    if (!values.out) throw new UsageError('index needs --out <index.pinrec>');
    const backend = choiceOption('backend', values.backend, 'hnsw', BACKENDS);
    const metric = choiceOption('metric', values.metric, 'cosine', METRICS);
    const M = intOption('m', values.m, 16, 2, 256);
    const efConstruction = intOption('ef-construction', values['ef-construction'], 200, 1, 10_000);
    const t0 = performance.now();
    const { ids, vectors, dim } = await readEmbeddingsArrow(positionals[0], { idColumn: values['id-column'] ?? 'id', vectorColumn: values['vector-column'] ?? 'embedding' });
    const idx: VectorIndex<Id> = backend === 'hnsw' ? new HnswIndex<Id>({ dim, metric, M, efConstruction, capacity: Math.max(1, ids.length) })
      : backend === 'usearch' ? new UsearchIndex<Id>({ dim, metric, M, efConstruction, capacity: Math.max(1, ids.length) })
        : new ExactIndex<Id>({ dim, metric });
    const bar = progress(!values.json);
    try {
      const chunk = 4096;
      for (let s = 0; s < ids.length; s += chunk) {
        const e = Math.min(ids.length, s + chunk);
        idx.addItems(ids.slice(s, e), vectors.subarray(s * dim, e * dim));
        bar.onProgress?.({ stage: 'index', done: e, total: ids.length });
      }
    } finally {
      bar.stop();
    }
    const untrack = trackOutput(values.out);
    try { await idx.save(values.out); } finally { untrack(); await idx.close(); }
    const summary = { out: values.out, vectors: ids.length, dim, backend, metric, M, efConstruction, seconds: seconds(t0) };
    if (values.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else process.stdout.write(`indexed ${ids.length} × ${dim}-d vectors (${backend}, ${metric}) in ${summary.seconds} s → ${values.out}\n`);
    return EXIT.ok;
  },
};

/** The container kind of a pinrec file (from its header), or undefined when it is not one. */
function containerKind(file: string): string | undefined {
  let fd: number;
  try { fd = openSync(file, 'r'); } catch (e) { throw new FileFormatError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
  try {
    const head = Buffer.alloc(16);
    if (readSync(fd, head, 0, 16, 0) < 16 || head.subarray(0, 6).toString('latin1') !== 'PINREC') return undefined;
    const len = head.readUInt32LE(12);
    if (len > 1 << 24) return undefined;
    const json = Buffer.alloc(len);
    readSync(fd, json, 0, len, 16);
    return (JSON.parse(json.toString('utf8')) as { kind?: string }).kind;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** `x,y,w,h` → a box (checked against the image later, by the search). */
function boxOption(v: string): Box {
  const parts = v.split(',').map((x) => Number(x.trim()));
  if (parts.length !== 4 || parts.some((x) => !Number.isFinite(x))) throw new UsageError(`--box must be x,y,width,height in pixels (got ${JSON.stringify(v)})`);
  const [x, y, width, height] = parts;
  return { x, y, width, height };
}

/** Load an index saved by any pinrec backend (by the kind in its header). */
export async function loadAnyIndex(file: string): Promise<VectorIndex<Id>> {
  const kind = containerKind(file);
  if (kind === 'pinrec.ann.hnsw') return HnswIndex.load<Id>(file);
  if (kind === 'pinrec.ann.usearch') return UsearchIndex.load<Id>(file);
  if (kind === 'pinrec.ann.exact') return ExactIndex.load<Id>(file);
  throw new FileFormatError(file, kind ? `holds a '${kind}', not a vector index` : 'is not a pinrec index file');
}

export const search: Command = {
  name: 'search',
  summary: 'visual search in an index, by image or by pin id',
  help: `Usage: pinrec search <index.pinrec> (--image <file> | --pin <id>) [options]

  --image <file>         query image (embedded with the embedder options below: use the ones the index was built with)
  --box <x,y,w,h>        search by this region of --image only (pixels of the image as displayed)
  --pin <id>             query by a pin already in the index (the pin itself is excluded)
  --k <k>                results (default 10)
  --records <pins.jsonl> pin records (from pinrec ingest) for the blend's quality and category; without them the
                         ranking is by similarity only. With them, objects that ingest --detect indexed ('<pin>#<k>')
                         count for their pin: one result per pin, the reason naming the object that matched
  --out <file>           results (user = the query, rank, pin, score, reason) as .arrow, .jsonl, .json or TSV
${EMBEDDER_HELP}
  --json                 print one JSON object on stdout`,
  async run(argv) {
    const a = parse(this, argv, { ...EMBEDDER_OPTIONS, image: { type: 'string' }, box: { type: 'string' }, pin: { type: 'string' }, k: { type: 'string' }, records: { type: 'string' }, out: { type: 'string' } });
    if (!a) return EXIT.ok;
    const { values, positionals } = a;
    if (positionals.length !== 1) throw new UsageError('search takes one index file (see pinrec search --help)');
    if ((values.image === undefined) === (values.pin === undefined)) throw new UsageError('search needs exactly one of --image <file> or --pin <id>');
    const k = intOption('k', values.k, 10, 1, 10_000);
    if (values.box !== undefined && values.image === undefined) throw new UsageError('--box goes with --image (a region of the query image)');
    const box = values.box !== undefined ? boxOption(values.box) : undefined;
    const idx = await loadAnyIndex(positionals[0]);
    const parentOf = values.records ? (id: Id) => parentPin(id) : undefined;
    const metadata: PinMetadataSource<Id> = values.records ? (await FilePinRecords.open(values.records)) as unknown as PinMetadataSource<Id> : new InMemoryPinMetadata<Id>([]);
    let embedder: Embedder | undefined;
    try {
      let results;
      let query: string;
      if (values.pin !== undefined) {
        // ids typed on the command line are strings; an index built on numeric ids is asked with a number
        const asNumber = Number(values.pin);
        const pin: Id = idx.has(values.pin) ? values.pin : values.pin.trim() !== '' && Number.isFinite(asNumber) && idx.has(asNumber) ? asNumber : (() => { throw new UnknownIdError('pin', values.pin); })();
        const vs = new VisualSearch<Float32Array, Id>({ embedder: { dim: idx.dim, embed: (v: Float32Array) => v }, index: idx, metadata, parentOf });
        results = await vs.search(idx.getVector(pin), { k, filter: (id) => id !== pin });
        query = values.pin;
      } else {
        embedder = await openEmbedder(values);
        const vs = new VisualSearch({ embedder, index: idx, metadata, parentOf });
        results = await vs.search(values.image!, { k, ...(box ? { box } : {}) });
        query = values.image!;
      }
      const rows: ResultRow[] = results.map((r, i) => ({ user: query, rank: i + 1, pin: r.id, score: r.score, reason: r.object !== undefined ? `${r.reason} (object ${String(r.object)})` : r.reason }));
      await emitResults(rows, values.out, !!values.json, { query });
    } finally {
      await embedder?.dispose();
      await idx.close();
    }
    return EXIT.ok;
  },
};

export const ingest: Command = {
  name: 'ingest',
  summary: 'images → stored originals, renditions, analysis (quality), embeddings and an index',
  help: `Usage: pinrec ingest <image|folder|glob> … [--list <file>] --dir <catalogue dir> [options]

  Runs each image through the ingest pipeline: validate, store the original, perceptual hash and near-duplicate
  check, renditions, analysis (the quality signal), embedding, index. Into <dir>: media/ (content-addressed
  blobs), pins.jsonl (one record per pin, appended), index.pinrec (HNSW, cosine; extended when it exists).
  Running it again on the same images finishes what failed and adds nothing twice. Pin ids are the image paths
  as for pinrec embed, with '/' written ':' (and other characters than letters, digits, '_', '.', ':', '-' as '_').
  --list <file>          more image paths, one per line
  --dir <dir>            the catalogue folder (created when missing)
  --category <c>         category of every pin in this run
  --creator <c>          creator of every pin in this run
  --no-embed             skip the embedding and index steps (no model needed)
  --detect               detect the objects in each image (CenterNet, COCO classes): recorded in pins.jsonl, and
                         each object's crop indexed as '<pin>#<k>'
  --detector-dir <dir>   where the detector is (its folder, or a models root holding centernet_mobilenetv3_coco/);
                         default --model-dir, else $PINREC_MODEL_DIR, else the cache
  --detect-light         the detector's light mode (320-px input: about 2.5× faster, small objects go first)
  --min-score <s>        detection score threshold (default 0.3)
${EMBEDDER_HELP}
  --json                 print one JSON object (a summary) on stdout`,
  async run(argv) {
    const a = parse(this, argv, { ...EMBEDDER_OPTIONS, list: { type: 'string' }, dir: { type: 'string' }, category: { type: 'string' }, creator: { type: 'string' }, 'no-embed': { type: 'boolean' }, detect: { type: 'boolean' }, 'detect-light': { type: 'boolean' }, 'min-score': { type: 'string' }, 'detector-dir': { type: 'string' } });
    if (!a) return EXIT.ok;
    const { values, positionals } = a;
    if (!values.dir) throw new UsageError('ingest needs --dir <catalogue dir>');
    if (positionals.length === 0 && !values.list) throw new UsageError('ingest needs images: files, folders, globs or --list <file>');
    const files = imageFiles(positionals, values.list);
    const t0 = performance.now();
    const dir = values.dir;
    try { mkdirSync(dir, { recursive: true }); } catch (e) { throw new FileFormatError(dir, `cannot be created (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
    const store = new FileSystemStore(path.join(dir, 'media'));
    const records = await FilePinRecords.open(path.join(dir, 'pins.jsonl'));
    const indexFile = path.join(dir, 'index.pinrec');
    const bar = progress(!values.json);
    let embedder: Embedder | undefined;
    let idx: VectorIndex<Id> | undefined;
    const counts = { created: 0, existing: 0, partial: 0, failed: 0 };
    const failures: { file: string; error: string }[] = [];
    const minScore = values['min-score'] !== undefined ? Number(values['min-score']) : 0.3;
    if (!(minScore >= 0 && minScore <= 1)) throw new UsageError(`--min-score must be a number in [0, 1] (got ${JSON.stringify(values['min-score'])})`);
    let detector: Detector | undefined;
    let objects = 0;
    try {
      if (!values['no-embed']) {
        embedder = await openEmbedder(values);
        idx = existsSync(indexFile) ? await loadAnyIndex(indexFile) : new HnswIndex<Id>({ dim: embedder.dim, metric: 'cosine' });
      }
      if (values.detect || values['detect-light']) {
        const where = (values['detector-dir'] ?? values['model-dir']) as string | undefined;
        detector = await loadDetector({ ...(where ? { modelDir: where } : {}), download: false });
      }
      const ingestor = new Ingestor({
        store, records, embedder: embedder as never, index: idx as never, whenFull: 'wait',
        ...(detector ? { detector, objects: { minScore, mode: values['detect-light'] ? 'light' as const : 'normal' as const } } : {}),
      });
      let done = 0;
      await Promise.all(files.map(async ({ file: f, id }) => {
        try {
          // pin ids in ingest are letters, digits, '_', '.', ':' and '-': a path's '/' becomes ':'
          const r = await ingestor.ingest(await readFile(f), { id: id.replace(/\//g, ':').replace(/[^A-Za-z0-9_.:-]/g, '_'), category: values.category ?? null, creator: values.creator ?? null });
          counts[r.outcome]++;
          objects += r.record.objects?.length ?? 0;
          if (r.failed.length > 0) { counts.partial++; failures.push({ file: f, error: `steps failed: ${r.failed.join(', ')}` }); }
        } catch (e) {
          counts.failed++;
          failures.push({ file: f, error: (e as Error).message.split('\n')[0] });
        }
        bar.onProgress?.({ stage: 'ingest', done: ++done, total: files.length });
      }));
      if (idx) {
        const untrack = trackOutput(indexFile);
        try { await idx.save(indexFile); } finally { untrack(); }
      }
      await records.flush();
    } finally {
      bar.stop();
      detector?.dispose();
      await embedder?.dispose();
      await idx?.close();
    }
    for (const f of failures.slice(0, 5)) process.stderr.write(`pinrec ingest: ${f.file}: ${f.error}\n`);
    const summary = { dir, images: files.length, ...counts, ...(detector ? { objects } : {}), indexed: idx ? idx.size : 0, records: path.join(dir, 'pins.jsonl'), index: idx ? indexFile : null, seconds: seconds(t0) };
    if (values.json) process.stdout.write(JSON.stringify({ ...summary, failures: failures.slice(0, 100) }) + '\n');
    else process.stdout.write(`ingested ${files.length} images into ${dir}: ${counts.created} new, ${counts.existing} already there, ${counts.partial} with failed steps, ${counts.failed} rejected (${summary.seconds} s)\n`);
    return counts.failed > 0 ? EXIT.input : EXIT.ok;
  },
};
