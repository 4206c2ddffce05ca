/**
 * What the service loads at start and swaps as one unit: the CF model, the inner-product index over its
 * scoring factors, the visual (cosine) index over pin embeddings, and the pin metadata. A bundle lives in a
 * directory (`model.pinrec`, `cf.hnsw`, `visual.hnsw`, `pins.arrow`, `bundle.json`), written into a temporary
 * sibling and renamed into place, so a reader never sees half a bundle.
 *
 * `buildSyntheticBundle` makes the load-test catalogue: a seeded synthetic interaction log over N pins (the
 * `pinrec/cf` generator), categories drawn from a power law, and 64-d visual embeddings that cluster by
 * category. A bundle over real photos is made the same way from a real model and real embeddings.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Float32, Float64, Table, Utf8, makeVector, tableFromIPC, tableToIPC, vectorFromArray } from 'apache-arrow';
import { HnswIndex } from '../../../src/ann/index.js';
import { IdMap, InvalidParameterError, Rng } from '../../../src/core/index.js';
import type { PinMetadata, PinMetadataSource } from '../../../src/core/interfaces.js';
import { InteractionLog, SvdRecommender, interactionsFromColumns, syntheticInteractions, type SvdRecommenderOptions } from '../../../src/cf/index.js';
import { InMemoryPinMetadata } from '../../../src/ranking/index.js';

/** The pin table: columns for the catalogue the bundle was built from, a map for pins added since. */
export class PinTable implements PinMetadataSource<string> {
  private readonly index = new Map<string, number>();
  private readonly added = new InMemoryPinMetadata<string>();
  readonly categories: string[];

  constructor(
    readonly ids: string[],
    readonly category: string[],
    readonly creator: string[],
    readonly engagements: Float64Array,
    readonly impressions: Float64Array,
    readonly quality: Float32Array,
  ) {
    ids.forEach((id, i) => this.index.set(id, i));
    this.categories = [...new Set(category)].sort();
  }

  get size(): number {
    return this.ids.length + this.added.size;
  }

  has(id: string): boolean {
    return this.index.has(id) || this.added.get([id])[0] !== undefined;
  }

  /** A pin's metadata, or undefined. */
  one(id: string): PinMetadata<string> | undefined {
    const i = this.index.get(id);
    if (i === undefined) return this.added.get([id])[0];
    return { id, category: this.category[i], creator: this.creator[i], engagements: this.engagements[i], impressions: this.impressions[i], quality: this.quality[i] };
  }

  get(ids: readonly string[]): (PinMetadata<string> | undefined)[] {
    return ids.map((id) => this.one(id));
  }

  /** Record a pin created after the bundle was built (ingest, or a `create` event). */
  addPin(meta: PinMetadata<string>): void {
    if (!this.index.has(meta.id)) this.added.replace(meta);
  }

  /** The `perCategory` most engaging pins of each category (the trending fallback when the store is away). */
  popular(perCategory: number): { id: string; category: string; engagements: number; impressions: number; quality: number; creator: string }[] {
    const by = new Map<string, number[]>();
    const key = (i: number) => ((this.engagements[i] + 2) / (this.impressions[i] + 100)) * Math.log1p(this.engagements[i]);
    for (let i = 0; i < this.ids.length; i++) {
      let l = by.get(this.category[i]);
      if (!l) by.set(this.category[i], (l = []));
      l.push(i);
      if (l.length > perCategory * 4) { l.sort((a, b) => key(b) - key(a)); l.length = perCategory; }
    }
    const out = [];
    for (const l of by.values()) {
      l.sort((a, b) => key(b) - key(a) || a - b);
      for (const i of l.slice(0, perCategory)) {
        out.push({ id: this.ids[i], category: this.category[i], engagements: this.engagements[i], impressions: this.impressions[i], quality: this.quality[i], creator: this.creator[i] });
      }
    }
    return out;
  }

  toArrow(): Uint8Array {
    const t = new Table({
      id: vectorFromArray(this.ids, new Utf8()),
      category: vectorFromArray(this.category, new Utf8()),
      creator: vectorFromArray(this.creator, new Utf8()),
      engagements: makeVector({ type: new Float64(), data: this.engagements }),
      impressions: makeVector({ type: new Float64(), data: this.impressions }),
      quality: makeVector({ type: new Float32(), data: this.quality }),
    });
    return tableToIPC(t, 'file');
  }

  static fromArrow(bytes: Uint8Array): PinTable {
    const t = tableFromIPC(bytes);
    const col = (name: string) => {
      const c = t.getChild(name);
      if (!c) throw new InvalidParameterError('pins.arrow', `a table with a '${name}' column`, t.schema.fields.map((f) => f.name).join(','));
      return c;
    };
    const strings = (name: string) => col(name).toArray() as unknown as string[];
    const ids = Array.from(strings('id'));
    const floats64 = (name: string) => Float64Array.from(col(name).toArray() as ArrayLike<number>);
    return new PinTable(ids, Array.from(strings('category')), Array.from(strings('creator')), floats64('engagements'), floats64('impressions'),
      Float32Array.from(col('quality').toArray() as ArrayLike<number>));
  }
}

/** One swappable unit of serving state. */
export interface Bundle {
  model: SvdRecommender<string, string>;
  /** Inner-product index over `model.scoringFactors()`: the CF source's first stage. */
  cfIndex: HnswIndex<string>;
  /** Cosine index over pin embeddings: visual neighbours and search by pin. */
  visualIndex: HnswIndex<string>;
  pins: PinTable;
  /** What made it: a label shown in /health and /metrics. */
  label: string;
}

/** Options of {@link buildSyntheticBundle}. */
export interface SyntheticBundleOptions {
  /** @default 20_000 */
  pins?: number;
  /** @default 0.3 × pins */
  users?: number;
  /** Interaction events. @default 3 × pins */
  events?: number;
  /** @default 32 */
  categories?: number;
  /** Each pin's category (length `pins`), e.g. from the traffic generator's catalogue. @default power-law draws over `categories` */
  pinCategories?: readonly string[];
  /** Visual embedding dimension. @default 64 */
  dim?: number;
  /** @default 1 */
  seed?: number;
  /** Model options. @default { factors: 64 (fewer for small catalogues), order: 'off' } */
  model?: SvdRecommenderOptions;
}

/** Build the CF index over a model's scoring factors (HNSW, inner product). */
export function buildCfIndex(model: SvdRecommender<string, string>): HnswIndex<string> {
  const { ids, factors, dim } = model.scoringFactors();
  const index = new HnswIndex<string>({ metric: 'ip', dim, M: 16, efConstruction: 100, ef: 500, seed: 100, capacity: Math.max(1, ids.length) });
  const chunk = 50_000;
  for (let from = 0; from < ids.length; from += chunk) {
    const to = Math.min(ids.length, from + chunk);
    index.addItems(ids.slice(from, to), factors.subarray(from * dim, to * dim));
  }
  return index;
}

/**
 * A seeded synthetic catalogue: `pins` pins with categories, creators and engagement counts, a CF model fitted
 * on `events` synthetic interactions, and both indexes.
 *
 * @example
 * const bundle = buildSyntheticBundle({ pins: 5000, seed: 1 });
 */
export function buildSyntheticBundle(options: SyntheticBundleOptions = {}): Bundle {
  const n = options.pins ?? 20_000;
  const users = options.users ?? Math.max(50, Math.round(n * 0.3));
  const events = options.events ?? n * 3;
  const cats = options.categories ?? 32;
  const dim = options.dim ?? 64;
  const seed = options.seed ?? 1;
  const raw = syntheticInteractions({ users, items: n, events, seed, clusters: cats });
  const userIds = IdMap.from(raw.users.ids().map((u) => `u${u}`));
  const pinIds = IdMap.from(raw.items.ids().map((p) => `p${p}`));
  const log = new InteractionLog(userIds, pinIds, raw.user, raw.item, raw.weight);
  const factors = Math.min(64, Math.max(2, Math.floor(Math.min(users, n) / 4)));
  const model = new SvdRecommender<string, string>({ factors, order: 'off', seed, ...options.model }).fit(log.toMatrix());

  // categories by a power law over category rank; creators within a category skewed
  const r = new Rng(seed + 11);
  const cdf = new Float64Array(cats);
  let acc = 0;
  for (let c = 0; c < cats; c++) cdf[c] = acc += 1 / (c + 1);
  const pick = () => { const x = r.next() * acc; let lo = 0, hi = cats - 1; while (lo < hi) { const m = (lo + hi) >> 1; if (cdf[m] < x) lo = m + 1; else hi = m; } return lo; };
  const ids = pinIds.ids();
  const catIdx = new Int32Array(n);
  const category = new Array<string>(n);
  const creator = new Array<string>(n);
  const engagements = new Float64Array(n);
  const impressions = new Float64Array(n);
  const quality = new Float32Array(n);
  const counts = new Float64Array(n);
  for (let e = 0; e < raw.item.length; e++) counts[raw.item[e]]++;
  const given = options.pinCategories;
  if (given !== undefined && given.length !== n) throw new InvalidParameterError('pinCategories.length', `equal to pins (${n})`, given.length);
  const catIndex = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    let c: number;
    if (given) {
      c = catIndex.get(given[i]) ?? catIndex.size;
      if (c === catIndex.size) catIndex.set(given[i], c);
    } else c = pick();
    catIdx[i] = c;
    category[i] = given ? given[i] : `c${c}`;
    creator[i] = `cr${c}-${Math.floor(r.next() ** 2 * 200)}`;
    impressions[i] = Math.floor(50 * (counts[i] + 1) * (0.5 + r.next()));
    engagements[i] = Math.min(impressions[i], counts[i]);
    quality[i] = 0.3 + 0.7 * r.next();
  }
  const pins = new PinTable(ids, category, creator, engagements, impressions, quality);

  const topics = new Rng(seed + 13).fillNormal(new Float32Array(Math.max(cats, catIndex.size) * dim));
  const visualIndex = new HnswIndex<string>({ metric: 'cosine', dim, M: 16, efConstruction: 64, ef: 64, seed: 100, capacity: n });
  const chunk = 50_000;
  for (let from = 0; from < n; from += chunk) {
    const to = Math.min(n, from + chunk);
    const v = new Float32Array((to - from) * dim);
    for (let i = from; i < to; i++) {
      const rr = new Rng(seed * 7919 + i);
      for (let d = 0; d < dim; d++) v[(i - from) * dim + d] = topics[catIdx[i] * dim + d] + 0.9 * rr.normal();
    }
    visualIndex.addItems(ids.slice(from, to), v);
  }
  return { model, cfIndex: buildCfIndex(model), visualIndex, pins, label: `synthetic-${n}-s${seed}` };
}

/** Write a bundle to `dir` atomically (a temporary sibling renamed into place; an existing `dir` is replaced). */
export async function saveBundle(bundle: Bundle, dir: string): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  try {
    await bundle.model.save(path.join(tmp, 'model.pinrec'));
    await bundle.cfIndex.save(path.join(tmp, 'cf.hnsw'));
    await bundle.visualIndex.save(path.join(tmp, 'visual.hnsw'));
    writeFileSync(path.join(tmp, 'pins.arrow'), bundle.pins.toArrow());
    writeFileSync(path.join(tmp, 'bundle.json'), JSON.stringify({ format: 'pinrec-feed-bundle', version: 1, label: bundle.label, pins: bundle.pins.ids.length }));
    const old = existsSync(dir) ? `${tmp}-old` : undefined;
    if (old) renameSync(dir, old);
    renameSync(tmp, dir);
    if (old) rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Load a bundle; every file is checked (the model and index containers carry checksums), so a corrupt or
 * truncated file is a typed error and nothing is half-loaded.
 */
export async function loadBundle(dir: string): Promise<Bundle> {
  const manifestFile = path.join(dir, 'bundle.json');
  let manifest: { format?: unknown; version?: unknown; label?: unknown };
  try {
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  } catch (e) {
    throw new InvalidParameterError('bundle', `a directory with a readable bundle.json (${(e as Error).message})`, dir);
  }
  if (manifest?.format !== 'pinrec-feed-bundle' || manifest.version !== 1) throw new InvalidParameterError('bundle.json', "format 'pinrec-feed-bundle', version 1", manifest?.format);
  const model = await SvdRecommender.load<string, string>(path.join(dir, 'model.pinrec'));
  const cfIndex = await HnswIndex.load<string>(path.join(dir, 'cf.hnsw'));
  const visualIndex = await HnswIndex.load<string>(path.join(dir, 'visual.hnsw'));
  const pins = PinTable.fromArrow(readFileSync(path.join(dir, 'pins.arrow')));
  if (cfIndex.dim !== model.factors) throw new InvalidParameterError('cf.hnsw', `an index of dimension ${model.factors} (the model's factors)`, cfIndex.dim);
  return { model, cfIndex, visualIndex, pins, label: typeof manifest.label === 'string' ? manifest.label : path.basename(dir) };
}

/**
 * {@link buildCfIndex} without holding the event loop: points go in in chunks of `chunk`, with a yield to
 * pending requests between chunks (the refit path, while the service keeps answering).
 */
export async function buildCfIndexAsync(model: SvdRecommender<string, string>, chunk = 500): Promise<HnswIndex<string>> {
  const { ids, factors, dim } = model.scoringFactors();
  const index = new HnswIndex<string>({ metric: 'ip', dim, M: 16, efConstruction: 100, ef: 500, seed: 100, capacity: Math.max(1, ids.length) });
  for (let from = 0; from < ids.length; from += chunk) {
    const to = Math.min(ids.length, from + chunk);
    index.addItems(ids.slice(from, to), factors.subarray(from * dim, to * dim));
    await new Promise<void>((r) => setImmediate(r));
  }
  return index;
}

/** Options of {@link buildPhotoBundle}. */
export interface PhotoBundleOptions {
  /** Photos with their labels (the label is the pin's category), e.g. Caltech-101's `labels.csv`. */
  photos: readonly { path: string; label: string }[];
  /** Turns a photo into its embedding (the service's own embedder, so uploads land in the same space). */
  embedder: { dim: number; embedBatch(inputs: readonly string[], options?: { onProgress?: (p: { done: number; total: number }) => void }): Promise<{ vectors: Float32Array; dim: number; ok: boolean[] }> };
  /** Most photos used, taken round-robin across labels. @default 600 */
  limit?: number;
  /** Synthetic users whose repins make the CF model. @default 3 × photos */
  users?: number;
  /** @default 1 */
  seed?: number;
  onProgress?: (p: { done: number; total: number }) => void;
}

/**
 * A bundle over real photos: the pins are photos (category = label) embedded by the real CNN; the CF model
 * is fitted on seeded synthetic users who each like one to three categories and save 5–30 photos, mostly of
 * those categories (real photos have no real interaction log, so the users are simulated; the embeddings,
 * the visual search and the uploads are real).
 *
 * @example
 * const bundle = await buildPhotoBundle({ photos, embedder, limit: 300 });
 */
export async function buildPhotoBundle(options: PhotoBundleOptions): Promise<Bundle> {
  const seed = options.seed ?? 1;
  const byLabel = new Map<string, string[]>();
  for (const p of options.photos) {
    let l = byLabel.get(p.label);
    if (!l) byLabel.set(p.label, (l = []));
    l.push(p.path);
  }
  const limit = options.limit ?? 600;
  const chosen: { path: string; label: string }[] = [];
  const lists = [...byLabel.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  for (let r = 0; chosen.length < limit && lists.some(([, l]) => r < l.length); r++) {
    for (const [label, l] of lists) if (r < l.length && chosen.length < limit) chosen.push({ path: l[r], label });
  }
  const n = chosen.length;
  if (n < 10) throw new InvalidParameterError('photos', 'at least 10 photos', n);
  const emb = await options.embedder.embedBatch(chosen.map((c) => c.path), { onProgress: options.onProgress });
  const ids = chosen.map((_, i) => `p${i}`);
  const dim = emb.dim;
  const visualIndex = new HnswIndex<string>({ metric: 'cosine', dim, M: 16, efConstruction: 100, ef: 64, seed: 100, capacity: n + 1024 });
  const okIds: string[] = [];
  const okRows: number[] = [];
  emb.ok.forEach((ok, i) => { if (ok) { okIds.push(ids[i]); okRows.push(i); } });
  const vec = new Float32Array(okRows.length * dim);
  okRows.forEach((row, r) => vec.set(emb.vectors.subarray(row * dim, (row + 1) * dim), r * dim));
  visualIndex.addItems(okIds, vec);

  // simulated users: each likes 1-3 categories, saves 5-30 photos, 80% from the categories it likes
  const r = new Rng(seed);
  const labels = lists.map(([label]) => label);
  const ofLabel = new Map<string, number[]>();
  chosen.forEach((c, i) => { let l = ofLabel.get(c.label); if (!l) ofLabel.set(c.label, (l = [])); l.push(i); });
  const users: string[] = [], items: string[] = [], weights: number[] = [];
  const nu = options.users ?? 3 * n;
  for (let u = 0; u < nu; u++) {
    const likes = Array.from({ length: 1 + r.int(3) }, () => labels[r.int(labels.length)]);
    const count = 5 + r.int(26);
    for (let e = 0; e < count; e++) {
      const pool = r.next() < 0.8 ? ofLabel.get(likes[r.int(likes.length)])! : undefined;
      const i = pool ? pool[r.int(pool.length)] : r.int(n);
      users.push(`u${u}`); items.push(ids[i]); weights.push(r.next() < 0.3 ? 3 : 1);
    }
  }
  const log = interactionsFromColumns({ users, items, weights });
  const model = new SvdRecommender<string, string>({ factors: Math.min(32, Math.floor(n / 8)), order: 'off', seed }).fit(log.toMatrix());
  const counts = new Map<string, number>();
  for (const it of items) counts.set(it, (counts.get(it) ?? 0) + 1);
  const engagements = Float64Array.from(ids, (id) => counts.get(id) ?? 0);
  const impressions = Float64Array.from(engagements, (e) => 20 * (e + 1));
  const pins = new PinTable(ids, chosen.map((c) => c.label), chosen.map((c) => `cr-${c.label}`), engagements, impressions, Float32Array.from(ids, () => 0.5 + 0.5 * r.next()));
  return { model, cfIndex: buildCfIndex(model), visualIndex, pins, label: `photos-${n}-s${seed}` };
}
