/**
 * Upload → searchable pin, in one call: validate → store the original → perceptual hash and near-duplicate
 * check → renditions → analysis (the `quality` signal) → embedding → index upsert, with a pin record written
 * after every step.
 *
 * The seed's lessons are the design: the original is stored before anything derived is attempted, so a
 * failing step never loses the upload — the record says which steps failed and why, and {@link Ingestor.retry}
 * (or ingesting the same bytes again) finishes them; a bounded queue with a concurrency limit answers a
 * flood with a typed "busy" or a wait, never with unbounded memory; the same bytes always give the same pin.
 */
import { availableParallelism } from 'node:os';
import type { Embedder, VectorIndex } from '../core/interfaces.js';
import { FileFormatError, InvalidParameterError, PinrecError, UnknownIdError } from '../core/errors.js';
import { checkInt, checkNumber } from '../core/validate.js';
import { analyzeImage, type AnalysisOptions } from '../images/analysis.js';
import { cropImage, type Box } from '../images/crop.js';
import { HashIndex, hashFromHex, perceptualHash, type HashKind } from '../images/hash.js';
import { decodeWorking, originalOf, renderAll, resolveRenditionSpecs, type RawImage, type Rendition, type RenditionOptions } from '../images/renditions.js';
import { type ImageLimits, type ImageSource, type ResolvedImageLimits, type SourceImage, openImage, resolveImageLimits } from '../images/source.js';
import { type BlobStore, IMMUTABLE_CACHE_CONTROL, contentKey, sha256Hex } from '../images/store.js';
import { BoundedQueue, type WhenFull } from './queue.js';
import { INGEST_STEPS, InMemoryPinRecords, objectId, type IngestStep, type PinObject, type PinRecord, type PinRecordStore, type StepOutcome, type StoredBlob } from './records.js';

/**
 * What ingest needs of an object detector: `pinrec/shopping`'s `loadDetector()` result fits (any detector with
 * this shape does).
 */
export interface ObjectDetector {
  detect(image: SourceImage, options?: { mode?: 'normal' | 'light'; minScore?: number; maxBoxes?: number; nms?: 'class' | 'all' }): Promise<{
    boxes: readonly { box: Box; score: number; classId: number; className: string }[];
    mode: string;
    ms: number;
  }>;
}

/** How ingest detects objects (with a `detector`). */
export interface ObjectOptions {
  /** Boxes scoring below this are dropped. @default 0.3 */
  minScore?: number;
  /** At most this many objects per pin. @default 10 */
  maxObjects?: number;
  /** Boxes whose shorter side is under this many pixels are dropped (too small to search by). @default 32 */
  minSide?: number;
  /**
   * The detector's mode, or a function asked per pin (e.g. `() => (overBudget() ? 'light' : 'normal')`): the
   * lighter mode is for when the machine is over its CPU budget; the record says which ran.
   * @default 'normal'
   */
  mode?: 'normal' | 'light' | (() => 'normal' | 'light');
}

/** What ingest does with a near-duplicate of a pin it already has. */
export type DuplicateMode = 'link' | 'skip' | 'off';

/** Progress of one pin through ingest. */
export interface IngestProgress {
  /** The pin. */
  id: string;
  /** The step just finished. */
  step: IngestStep;
  ok: boolean;
  /** Steps finished for this pin, of `total`. */
  done: number;
  total: number;
  /** Jobs running and waiting in the queue. */
  active: number;
  queued: number;
}

/**
 * Options of the {@link Ingestor}.
 *
 * @example
 * new Ingestor({ store: new FileSystemStore('./media'), embedder, index, duplicates: { mode: 'skip' }, whenFull: 'wait' });
 */
export interface IngestorOptions {
  /** Where the original and the renditions go (content-addressed keys). */
  store: BlobStore;
  /** Where pin records go. @default a new {@link InMemoryPinRecords} */
  records?: PinRecordStore;
  /** Turns the original's bytes into an embedding (e.g. `pinrec/embeddings`' embedder); without one, no embedding step. */
  embedder?: Embedder<Buffer>;
  /** Receives each pin's embedding under its id (e.g. an `HnswIndex`); without one, no index step. */
  index?: Pick<VectorIndex<string>, 'addItems'>;
  /** Which renditions to make (preset, crop, format, animated). @default the `pinrec/images` default preset */
  renditions?: Omit<RenditionOptions, 'limits'>;
  /** Limits on every upload (bytes, pixels, formats, time budget per image). */
  limits?: ImageLimits;
  /** Analysis options (palette size, seed). */
  analysis?: Omit<AnalysisOptions, 'limits'>;
  /**
   * Near-duplicates by perceptual hash: `'link'` records the pin it duplicates and ingests it anyway, `'skip'`
   * records the link and stops after the hash (no renditions, no index entry), `'off'` does not check.
   * `maxDistance` is in bits of the 64-bit pHash.
   * @default { mode: 'link', maxDistance: 16 }
   */
  duplicates?: { mode?: DuplicateMode; maxDistance?: number };
  /**
   * Detects the objects in each pin's image (e.g. `await loadDetector()` of `pinrec/shopping`): the record keeps
   * them (`record.objects`), and with an `embedder` and an `index` each object's crop gets its own embedding in
   * the index under `objectId(pin, k)` = `'<pin>#<k>'`, a child of the pin — so a crop finds the pins that
   * contain a similar object (`VisualSearch`'s `parentOf: parentPin` groups such hits by pin). Without one, no
   * objects step.
   */
  detector?: ObjectDetector;
  /** Detection options. @default { minScore: 0.3, maxObjects: 10, minSide: 32, mode: 'normal' } */
  objects?: ObjectOptions;
  /** Pins processed at once. @default the machine's cores */
  concurrency?: number;
  /** Pins waiting beyond the running ones. @default 64 */
  maxQueued?: number;
  /** A full queue: throw {@link BusyError} (`'reject'`) or wait for room (`'wait'`). @default 'reject' */
  whenFull?: WhenFull;
  /** Called after every step of every pin. Must not throw (what it throws is ignored). */
  onProgress?: (p: IngestProgress) => void;
  /** Time source for records, in ms. @default Date.now */
  now?: () => number;
}

/** Per-call details of {@link Ingestor.ingest}. */
export interface IngestRequest {
  /** The pin's id. @default `'pin_' + the first 24 hex digits of the content hash` */
  id?: string;
  category?: string | number | null;
  creator?: string | number | null;
}

/** What {@link Ingestor.ingest} did. */
export interface IngestResult {
  id: string;
  /** `'created'` a new pin; `'existing'` these exact bytes were already a pin (missing steps are finished). */
  outcome: 'created' | 'existing';
  /** The pin's record after this call. */
  record: PinRecord;
  /** Steps that failed (and can be retried). */
  failed: IngestStep[];
  /** The renditions made in this call (empty for an existing complete pin). */
  renditions: Rendition[];
}

const HASH_KIND: HashKind = 'phash';

/**
 * The ingest pipeline.
 *
 * @example
 * const records = new InMemoryPinRecords();
 * const ingestor = new Ingestor({ store: new FileSystemStore('./media'), records, embedder, index });
 * const { id, record, failed } = await ingestor.ingest(uploadBuffer, { category: 'decor' });
 * record.quality; // in [0, 1]; the pin is already in `index` and `records`
 */
export class Ingestor {
  /** The record store (the in-memory default unless one was given). */
  readonly records: PinRecordStore;
  private readonly store: BlobStore;
  private readonly embedder?: Embedder<Buffer>;
  private readonly index?: Pick<VectorIndex<string>, 'addItems'>;
  private readonly renditionOptions: Omit<RenditionOptions, 'limits'>;
  private readonly specs: ReturnType<typeof resolveRenditionSpecs>;
  /** The renditions plus the 512-px analysis size: what the one decode must serve. */
  private readonly workingSpecs: ReturnType<typeof resolveRenditionSpecs>;
  private readonly limits: ResolvedImageLimits;
  private readonly analysisOptions: Omit<AnalysisOptions, 'limits'>;
  private readonly dupMode: DuplicateMode;
  private readonly maxDistance: number;
  private readonly queue: BoundedQueue;
  private readonly whenFull: WhenFull;
  private readonly onProgress?: (p: IngestProgress) => void;
  private readonly now: () => number;
  private readonly detector?: ObjectDetector;
  private readonly objectOptions: Required<Omit<ObjectOptions, 'mode'>> & { mode: NonNullable<ObjectOptions['mode']> };
  private hashIndex?: Promise<HashIndex<string>>;
  private readonly inFlight = new Map<string, Promise<IngestResult>>();

  constructor(options: IngestorOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidParameterError('options', 'an options object', options);
    const s = options.store;
    if (!s || typeof s.put !== 'function' || typeof s.get !== 'function' || typeof s.head !== 'function') {
      throw new InvalidParameterError('store', 'a BlobStore (put, get, head, delete)', s);
    }
    this.store = s;
    this.records = options.records ?? new InMemoryPinRecords();
    if (options.embedder !== undefined && typeof options.embedder?.embed !== 'function') throw new InvalidParameterError('embedder', 'an Embedder with embed()', options.embedder);
    if (options.index !== undefined && typeof options.index?.addItems !== 'function') throw new InvalidParameterError('index', 'a VectorIndex with addItems()', options.index);
    this.embedder = options.embedder;
    this.index = options.index;
    this.renditionOptions = { ...options.renditions };
    this.specs = resolveRenditionSpecs(this.renditionOptions.preset, this.renditionOptions.crop, this.renditionOptions.format);
    this.workingSpecs = [...this.specs, { name: 'analysis', width: 512, height: 512, format: 'png', quality: 100, crop: false }];
    this.limits = resolveImageLimits(options.limits);
    this.analysisOptions = { ...options.analysis };
    const mode = options.duplicates?.mode ?? 'link';
    if (!['link', 'skip', 'off'].includes(mode)) throw new InvalidParameterError('duplicates.mode', "'link', 'skip' or 'off'", mode);
    this.dupMode = mode;
    this.maxDistance = checkInt('duplicates.maxDistance', options.duplicates?.maxDistance ?? 16, 0, 64);
    const whenFull = options.whenFull ?? 'reject';
    if (whenFull !== 'reject' && whenFull !== 'wait') throw new InvalidParameterError('whenFull', "'reject' or 'wait'", whenFull);
    this.whenFull = whenFull;
    this.queue = new BoundedQueue({ concurrency: options.concurrency ?? availableParallelism(), maxQueued: options.maxQueued ?? 64 }, 'ingest queue');
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new InvalidParameterError('onProgress', 'a function', options.onProgress);
    this.onProgress = options.onProgress;
    this.now = options.now ?? Date.now;
    if (options.detector !== undefined && typeof options.detector?.detect !== 'function') throw new InvalidParameterError('detector', 'an object detector with detect()', options.detector);
    this.detector = options.detector;
    const o = options.objects ?? {};
    if (typeof o !== 'object' || o === null) throw new InvalidParameterError('objects', 'an options object', o);
    const detectMode = o.mode ?? 'normal';
    if (detectMode !== 'normal' && detectMode !== 'light' && typeof detectMode !== 'function') throw new InvalidParameterError('objects.mode', "'normal', 'light' or a function returning one", detectMode);
    this.objectOptions = {
      minScore: checkNumber('objects.minScore', o.minScore ?? 0.3, 0, 1),
      maxObjects: checkInt('objects.maxObjects', o.maxObjects ?? 10, 0, 1000),
      minSide: checkNumber('objects.minSide', o.minSide ?? 32, 0),
      mode: detectMode,
    };
  }

  /** Jobs running and waiting. */
  get load(): { active: number; queued: number; blocked: number } {
    return { active: this.queue.active, queued: this.queue.queued, blocked: this.queue.blocked };
  }

  /**
   * Ingest one upload. Bytes that are already a pin give that pin back (`outcome: 'existing'`), finishing its
   * failed steps first.
   *
   * @param input the upload: bytes, a file path or an http(s) URL (fetched within `limits`)
   * @throws {ImageDecodeError} when the upload is rejected — corrupt, truncated, unsupported, over a limit or
   *   over its time budget (validation decodes it once; the pixels then serve renditions, analysis and hash):
   *   nothing is stored
   * @throws {BusyError} when the queue is full and `whenFull` is `'reject'`
   * @throws {InvalidParameterError} for a bad request field; a store that fails for the original throws its error
   */
  async ingest(input: ImageSource, request: IngestRequest = {}): Promise<IngestResult> {
    checkRequest(request);
    return this.queue.run(async () => {
      const img = await openImage(input, this.limits);
      const contentHash = sha256Hex(img.bytes);
      const pending = this.inFlight.get(contentHash);
      if (pending) {
        const r = await pending;
        return { ...r, outcome: 'existing', renditions: [] };
      }
      const job = this.process(img, contentHash, request);
      this.inFlight.set(contentHash, job);
      try {
        return await job;
      } finally {
        this.inFlight.delete(contentHash);
      }
    }, this.whenFull);
  }

  /**
   * Run again the failed steps of a pin, from its stored original.
   *
   * @throws {UnknownIdError} for an unknown pin; {@link FileFormatError} when the stored original is not the
   *   upload's bytes (its SHA-256 differs); the store's error when it cannot be read
   */
  async retry(id: string): Promise<IngestResult> {
    if (typeof id !== 'string') throw new InvalidParameterError('id', 'a pin id (string)', id);
    return this.queue.run(async () => {
      const record = await this.records.get(id);
      if (!record) throw new UnknownIdError('pin', id);
      const bytes = await this.store.get(record.original.key);
      if (!bytes) throw new PinrecError('MISSING_ORIGINAL', `pin ${id}: the original ${record.original.key} is not in the store`);
      if (sha256Hex(bytes) !== record.contentHash) {
        throw new FileFormatError(record.original.key, `holds bytes whose SHA-256 is not pin ${id}'s content hash ${record.contentHash}`);
      }
      const img = await openImage(bytes, this.limits, `pin ${id}`);
      return this.finish(img, record, 'existing');
    }, this.whenFull);
  }

  /** Resolve when no job runs or waits. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Refuse new uploads; jobs already admitted finish. */
  close(): void {
    this.queue.close();
  }

  private async process(img: SourceImage, contentHash: string, request: IngestRequest): Promise<IngestResult> {
    const known = await this.records.idByContentHash(contentHash);
    if (known !== undefined) {
      const rec = await this.records.get(known);
      if (rec) return this.finish(img, rec, 'existing');
    }
    const id = request.id ?? `pin_${contentHash.slice(0, 24)}`;
    const clash = await this.records.get(id);
    if (clash) throw new InvalidParameterError('request.id', 'an id not used by another pin', id);
    // validation ends with a real decode: a truncated or corrupt upload is refused here, before it is stored
    const tDecode = performance.now();
    const raw = await decodeWorking(img, this.workingSpecs);
    const decodeMs = performance.now() - tDecode;
    // 1. the original, before anything derived
    const t0 = performance.now();
    const orig = originalOf(img);
    const key = contentKey(img.bytes, extOf(orig.format), contentHash);
    await this.store.put(key, img.bytes, { contentType: orig.contentType, cacheControl: IMMUTABLE_CACHE_CONTROL, byteSize: orig.byteSize, width: orig.width, height: orig.height });
    const at = this.now();
    const record: PinRecord = {
      id, contentHash, status: 'partial', createdAt: at, updatedAt: at,
      original: { key, width: orig.width, height: orig.height, format: orig.format, contentType: orig.contentType, byteSize: orig.byteSize },
      renditions: [], steps: { original: { ok: true, ms: performance.now() - t0, attempts: 1 } }, indexed: false,
      decodeMs,
    };
    if (request.category !== undefined) record.category = request.category;
    if (request.creator !== undefined) record.creator = request.creator;
    await this.records.put(record);
    this.progress(record, 'original', true);
    return this.finish(img, record, 'created', raw);
  }

  /** Run every step of `record` that has not succeeded. */
  private async finish(img: SourceImage, record: PinRecord, outcome: IngestResult['outcome'], decoded?: RawImage): Promise<IngestResult> {
    let raw: RawImage | undefined = decoded;
    let rawError: unknown;
    const pixels = async (): Promise<RawImage> => {
      if (raw) return raw;
      if (rawError) throw rawError;
      try {
        // one decode for renditions, analysis and hash: the size of the largest rendition (or 512 px for analysis)
        raw = await decodeWorking(img, this.workingSpecs);
        return raw;
      } catch (e) {
        rawError = e;
        throw e;
      }
    };
    let made: Rendition[] = [];
    let vector: Float32Array | undefined;
    let ran = false;
    const todo = (s: IngestStep) => !record.steps[s]?.ok && !(s === 'renditions' && record.status === 'duplicate');
    const step = async (s: IngestStep, work: () => Promise<void>, applies = true): Promise<void> => {
      const prev = record.steps[s];
      // a step skipped earlier (no embedder or index then) runs once it applies
      if (!todo(s) && !(prev?.skipped && applies)) return;
      if (!applies) {
        record.steps[s] = { ok: true, ms: 0, attempts: prev?.attempts ?? 0, skipped: true };
        return;
      }
      ran = true;
      const t = performance.now();
      try {
        await work();
        record.steps[s] = { ok: true, ms: performance.now() - t, attempts: (prev?.attempts ?? 0) + 1 };
      } catch (e) {
        record.steps[s] = { ok: false, ms: performance.now() - t, attempts: (prev?.attempts ?? 0) + 1, error: describeError(e) };
      }
      record.updatedAt = this.now();
      await this.records.put(record, vector);
      this.progress(record, s, record.steps[s]!.ok);
    };

    await step('hash', async () => {
      const h = await perceptualHash({ raw: await pixels() }, { kind: HASH_KIND, bits: 64 });
      record.hash = { kind: HASH_KIND, hex: h.hex };
      if (this.dupMode !== 'off') {
        const idx = await this.hashes();
        const near = idx.nearest(h, this.maxDistance, record.id);
        if (near) record.duplicateOf = { id: near.id, distance: near.distance };
        if (!near || this.dupMode === 'link') idx.add(record.id, h);
      }
    });
    const skipRest = this.dupMode === 'skip' && record.duplicateOf !== undefined;
    if (skipRest) {
      record.status = 'duplicate';
      record.updatedAt = this.now();
      await this.records.put(record);
      return { id: record.id, outcome, record: structuredClone(record), failed: [], renditions: [] };
    }
    await step('renditions', async () => {
      made = await renderAll(img, this.specs, this.renditionOptions.animated === true, this.renditionOptions.animated ? undefined : await pixels());
      const stored: (StoredBlob & { name: string })[] = [];
      await Promise.all(made.map(async (r) => {
        const key = contentKey(r.bytes, extOf(r.format));
        await this.store.put(key, r.bytes, { contentType: r.contentType, cacheControl: IMMUTABLE_CACHE_CONTROL, byteSize: r.byteSize, width: r.width, height: r.height });
        stored.push({ name: r.name, key, width: r.width, height: r.height, format: r.format, contentType: r.contentType, byteSize: r.byteSize });
      }));
      const order = new Map(this.specs.map((s, i) => [s.name, i]));
      record.renditions = stored.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
    });
    await step('analysis', async () => {
      const px = await pixels();
      // the JPEG's own pixels (not resampled, not rotated): blockiness is measured, as analyzeImage(bytes) does
      const native = img.format === 'jpeg' && img.orientation === 1 && px.width === img.width && px.height === img.height;
      const a = await analyzeImage({ raw: px, native }, this.analysisOptions);
      record.quality = a.quality;
      record.dominant = a.dominant;
      record.palette = a.palette.map((p) => ({ hex: p.hex, share: p.share }));
    });
    await step('embedding', async () => {
      const v = await this.embedder!.embed(img.bytes);
      if (!(v instanceof Float32Array) || v.length !== this.embedder!.dim) {
        throw new InvalidParameterError('embedder.embed()', `a Float32Array of ${this.embedder!.dim} values`, v);
      }
      vector = v;
    }, this.embedder !== undefined);
    if (this.embedder && !vector && record.steps.embedding?.ok && !record.indexed && this.index) {
      // an earlier attempt embedded the pin but the index step failed: embed again for the index
      try { vector = await this.embedder.embed(img.bytes); } catch { /* the index step reports it */ }
    }
    await step('index', async () => {
      if (!vector) throw new PinrecError('NO_EMBEDDING', 'no embedding to index (the embedding step failed)');
      this.index!.addItems(record.id, vector);
      record.indexed = true;
    }, this.index !== undefined && this.embedder !== undefined);
    await step('objects', async () => {
      const o = this.objectOptions;
      const mode = typeof o.mode === 'function' ? o.mode() : o.mode;
      if (mode !== 'normal' && mode !== 'light') throw new InvalidParameterError('objects.mode()', "'normal' or 'light'", mode);
      // one box per region (any class): the same object is not indexed twice as, say, a cup and a vase
      const r = await this.detector!.detect(img, { mode, minScore: o.minScore, maxBoxes: Math.max(1, o.maxObjects * 2), nms: 'all' });
      const found = r.boxes.filter((b) => b.score >= o.minScore && Math.min(b.box.width, b.box.height) >= o.minSide).slice(0, o.maxObjects);
      const objects: PinObject[] = found.map((b, k) => ({
        id: objectId(record.id, k), box: { x: b.box.x, y: b.box.y, width: b.box.width, height: b.box.height },
        score: b.score, className: b.className, classId: b.classId, indexed: false,
      }));
      if (this.embedder && this.index) {
        for (const obj of objects) {
          const v = await this.embedder.embed(await cropImage(img, obj.box, this.limits));
          if (!(v instanceof Float32Array) || v.length !== this.embedder.dim) {
            throw new InvalidParameterError('embedder.embed()', `a Float32Array of ${this.embedder.dim} values`, v);
          }
          this.index.addItems(obj.id, v); // same pixels, same boxes, same ids: a retry replaces, never duplicates
          obj.indexed = true;
        }
      }
      record.objects = objects;
      record.detection = { mode: r.mode, ms: r.ms };
    }, this.detector !== undefined);
    const failed = INGEST_STEPS.filter((s) => record.steps[s] && !record.steps[s]!.ok);
    const status = failed.length === 0 ? 'complete' : 'partial';
    if (ran || status !== record.status) {
      // a repeat upload of a complete pin changes nothing and writes nothing
      record.status = status;
      record.updatedAt = this.now();
      await this.records.put(record, vector);
    }
    return { id: record.id, outcome, record: structuredClone(record), failed, renditions: made };
  }

  private hashes(): Promise<HashIndex<string>> {
    if (!this.hashIndex) {
      this.hashIndex = (async () => {
        const idx = new HashIndex<string>();
        for (const { id, hash } of await this.records.hashes()) if (hash.kind === HASH_KIND && hash.hex.length === 16) idx.add(id, hashFromHex(hash.kind, hash.hex));
        return idx;
      })();
    }
    return this.hashIndex;
  }

  private progress(record: PinRecord, step: IngestStep, ok: boolean): void {
    if (!this.onProgress) return;
    const done = INGEST_STEPS.filter((s) => record.steps[s]).length;
    try {
      this.onProgress({ id: record.id, step, ok, done, total: INGEST_STEPS.length, active: this.queue.active, queued: this.queue.queued });
    } catch {
      // a progress callback cannot break ingest
    }
  }
}

function extOf(format: string): string {
  return format === 'jpeg' ? 'jpg' : format;
}

function describeError(e: unknown): { code: string; message: string } {
  if (e instanceof PinrecError) return { code: e.code, message: e.message };
  const err = e as Error;
  return { code: (err as NodeJS.ErrnoException)?.code ?? err?.name ?? 'ERROR', message: String(err?.message ?? e).split('\n')[0] };
}

function checkRequest(r: IngestRequest): void {
  if (typeof r !== 'object' || r === null) throw new InvalidParameterError('request', 'an object', r);
  if (r.id !== undefined && (typeof r.id !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(r.id))) {
    throw new InvalidParameterError('request.id', "1-128 letters, digits, '_', '.', ':' or '-'", r.id);
  }
  for (const f of ['category', 'creator'] as const) {
    const v = r[f];
    if (v !== undefined && v !== null && typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw new InvalidParameterError(`request.${f}`, 'a string, a finite number or null', v);
    }
  }
}
