/**
 * The home feed: candidates from several sources (CF, visual neighbours, trending...) fetched concurrently,
 * each under its own time budget, merged and de-duplicated, enriched with metadata, scored, and diversified.
 * A source that throws, returns garbage or runs past its budget is reported and left out; the feed is
 * served from the others (the seed's lesson: trending and category fallbacks kept Black Friday alive).
 */
import type { Id } from '../core/types.js';
import type { Calibration, CandidateSource, SourceContext } from '../core/interfaces.js';

export type { CandidateSource, SourceContext };
import { InvalidParameterError } from '../core/errors.js';
import { checkInt, checkNumber, checkOneOf } from '../core/validate.js';
import { type CapsOptions, resolveCapsOptions } from '../diversity/caps.js';
import { type Candidate, type CandidateColumns, type GroupKey, nullProto, toBatch, validateCandidates } from './candidates.js';
import type { PinMetadata } from './interfaces.js';
import type { PinMetadataSource } from './interfaces.js';
import { type RankedCandidate, type RerankOptions, type SkippedCandidate, rerank } from './rerank.js';
import { type BlendWeights, type Scorer, type SignalOptions, normalizeSignals, normalizeWeights } from './signals.js';

/**
 * Options of the {@link FeedGenerator} constructor.
 *
 * @example
 * new FeedGenerator({ sources: [cf, visual, trending], metadata, limit: 100, timeoutMs: 30 });
 */
export interface FeedOptions<U, I extends Id> extends SignalOptions {
  /** Candidate sources, in priority order (earlier sources win when merging fields). */
  sources: readonly CandidateSource<U, I>[];
  /** Fills missing category, creator, engagement and quality fields of candidates. */
  metadata?: PinMetadataSource<I>;
  /** Blend weights. @default {similarity: 0.6, engagement: 0.2, quality: 0.2} */
  weights?: BlendWeights;
  /** A model to use instead of the blend. */
  scorer?: Scorer;
  /** Diversity caps, or `false`. @default {} (the seed's caps) */
  diversity?: CapsOptions | false;
  /** Feed length. @default 100 */
  limit?: number;
  /** Default per-source budget in ms. @default 50 */
  timeoutMs?: number;
  /** Most candidates taken from one source (extra ones are dropped). @default 1000 */
  perSourceLimit?: number;
  /**
   * How each source's similarities are put on one scale before merging (a source's own `calibration` wins):
   * `'rank'` maps the r-th best (0-based) of a source's n scored candidates to `1 − r/n`, so a CF source's raw
   * model scores, a visual source's cosines and any other scale compare fairly; `'none'` keeps them as given
   * (they must then be cosines or [0, 1] similarities). @default 'rank'
   */
  calibration?: Calibration;
}

/** How one source did. */
export interface SourceReport {
  name: string;
  /** `'ok'` (returned candidates), `'empty'`, `'failed'` (threw or returned invalid candidates), `'timeout'`. */
  status: 'ok' | 'empty' | 'failed' | 'timeout';
  /** Candidates it returned (after the per-source limit), 0 unless ok. */
  candidates: number;
  /** Feed items it supplied (an item found by several sources counts for each). */
  contributed: number;
  /** Time from the source's start until it settled or was cut off, ms (its budget applies to this). */
  ms: number;
  /** The error message for `'failed'`. */
  error?: string;
}

/** One feed item. */
export interface FeedItem<I extends Id = Id> extends RankedCandidate<I> {
  /** Sources that proposed it, in priority order. */
  sources: string[];
}

/** Result of {@link FeedGenerator.generate}. */
export interface FeedResult<I extends Id = Id> {
  items: FeedItem<I>[];
  /** One report per source, in the configured order. */
  sources: SourceReport[];
  /** Names of the sources that supplied at least one item. */
  contributors: string[];
  /** Candidates held back by the caps (and duplicates). */
  skipped: SkippedCandidate<I>[];
  /** Distinct candidates after merging. */
  candidates: number;
  /** Items placed by `'relax'` fill. */
  relaxed: number;
}

/** Per-call options of {@link FeedGenerator.generate}. */
export interface GenerateOptions<I extends Id> {
  /** Feed length. @default the generator's `limit` */
  limit?: number;
  /** Pins not to show; also passed to sources. @default empty */
  exclude?: Iterable<I>;
}

/**
 * Builds a user's feed from several candidate sources.
 *
 * @example
 * const feed = new FeedGenerator({ sources: [cfSource, visualSource, trendingSource], metadata });
 * const { items, sources, contributors } = await feed.generate(userId, { exclude: seenPins });
 */
export class FeedGenerator<U = unknown, I extends Id = Id> {
  private readonly sources: readonly CandidateSource<U, I>[];
  private readonly metadata?: PinMetadataSource<I>;
  private readonly rankOptions: RerankOptions;
  private readonly limit: number;
  private readonly timeoutMs: number;
  private readonly perSourceLimit: number;
  private readonly calibration: Calibration;

  /** @throws {InvalidParameterError} for bad options or duplicate source names */
  constructor(options: FeedOptions<U, I>) {
    const { sources, metadata, weights, scorer, diversity, limit, timeoutMs, perSourceLimit, calibration, ...signals } = options ?? ({} as FeedOptions<U, I>);
    if (!Array.isArray(sources) || sources.length === 0) throw new InvalidParameterError('sources', 'a non-empty array of candidate sources', sources);
    const names = new Set<string>();
    sources.forEach((s, i) => {
      if (typeof s?.name !== 'string' || s.name === '') throw new InvalidParameterError(`sources[${i}].name`, 'a non-empty string', s?.name);
      if (typeof s.fetch !== 'function') throw new InvalidParameterError(`sources[${i}].fetch`, 'a function', s.fetch);
      if (names.has(s.name)) throw new InvalidParameterError(`sources[${i}].name`, 'a unique source name', s.name);
      if (s.timeoutMs !== undefined) checkNumber(`sources[${i}].timeoutMs`, s.timeoutMs, 0);
      names.add(s.name);
    });
    if (metadata !== undefined && typeof metadata.get !== 'function') throw new InvalidParameterError('metadata', 'an object with get()', metadata);
    this.sources = sources;
    this.metadata = metadata;
    this.limit = checkInt('limit', limit ?? 100, 1);
    this.timeoutMs = checkNumber('timeoutMs', timeoutMs ?? 50, 0);
    this.perSourceLimit = checkInt('perSourceLimit', perSourceLimit ?? 1000, 1);
    this.calibration = checkOneOf('calibration', calibration ?? 'rank', CALIBRATIONS);
    sources.forEach((src, i) => { if (src.calibration !== undefined) checkOneOf(`sources[${i}].calibration`, src.calibration, CALIBRATIONS); });
    this.rankOptions = { ...signals, weights, scorer, diversity: diversity ?? {} };
    // validate ranking options once, up front
    if (weights !== undefined) normalizeWeights(weights);
    normalizeSignals(toBatch([]), signals);
    if (diversity !== undefined && diversity !== false) resolveCapsOptions(diversity);
    if (scorer !== undefined && typeof scorer?.score !== 'function') throw new InvalidParameterError('scorer', 'an object with a score() method', scorer);
  }

  /**
   * Build the feed for `user`. Never throws because of a source; an empty feed (every source failed or
   * returned nothing) is a valid result with the reports saying why.
   *
   * @throws {InvalidParameterError} for bad options
   */
  async generate(user: U, options: GenerateOptions<I> = {}): Promise<FeedResult<I>> {
    const limit = checkInt('limit', options.limit ?? this.limit, 1);
    const exclude = new Set<I>(options.exclude ?? []);
    const runs = await Promise.all(this.sources.map((s) => this.runSource(s, user, exclude)));

    // merge and de-duplicate into columns, in source priority order
    const m = new MergedColumns<I>();
    for (let s = 0; s < runs.length; s++) {
      const list = runs[s].list;
      if (!list) continue;
      const sim = runs[s].similarity!;
      for (let i = 0; i < list.length; i++) {
        const c = list[i];
        if (!exclude.has(c.id)) m.add(c, s, sim[i]);
      }
    }
    if (this.metadata && m.size > 0) m.fill(await this.metadata.get(m.ids));
    const res = m.size > 0
      ? rerank(m.columns(), { ...this.rankOptions, limit })
      : { items: [] as RankedCandidate<I>[], skipped: [] as SkippedCandidate<I>[], relaxed: 0 };
    const names = this.sources.map((x) => x.name);
    const contributed = new Map<string, number>();
    const items: FeedItem<I>[] = res.items.map((it) => {
      const srcs = m.sourcesOf(it.index, names);
      for (const s of srcs) contributed.set(s, (contributed.get(s) ?? 0) + 1);
      return { ...it, sources: srcs };
    });
    const reports: SourceReport[] = runs.map((r, s) => ({ ...r.report, contributed: contributed.get(this.sources[s].name) ?? 0 }));
    return {
      items,
      sources: reports,
      contributors: reports.filter((r) => r.contributed > 0).map((r) => r.name),
      skipped: res.skipped,
      candidates: m.size,
      relaxed: res.relaxed,
    };
  }

  private async runSource(src: CandidateSource<U, I>, user: U, exclude: ReadonlySet<I>): Promise<{ list?: readonly Candidate<I>[]; similarity?: Float64Array; report: SourceReport }> {
    const budget = src.timeoutMs ?? this.timeoutMs;
    const controller = new AbortController();
    const t0 = performance.now();
    const report = (status: SourceReport['status'], candidates = 0, error?: string): SourceReport => ({
      name: src.name, status, candidates, contributed: 0, ms: (settled >= 0 ? settled : performance.now()) - started, ...(error !== undefined ? { error } : {}),
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => { controller.abort(); resolve('timeout'); }, budget);
    });
    let started = t0;
    let settled = -1;
    const work = (async () => {
      started = performance.now();
      try {
        return await src.fetch(user, { signal: controller.signal, limit: this.perSourceLimit, exclude });
      } finally {
        settled = performance.now();
      }
    })();
    work.catch(() => undefined); // a late rejection must not become an unhandled one
    try {
      const out = await Promise.race([work, timeout]);
      if (out === 'timeout' || (settled >= 0 ? settled : performance.now()) - started > budget) {
        controller.abort();
        return { report: report('timeout') };
      }
      if (!Array.isArray(out)) return { report: report('failed', 0, `returned ${Object.prototype.toString.call(out)}, not an array`) };
      const list = out.length > this.perSourceLimit ? out.slice(0, this.perSourceLimit) : out;
      try {
        validateCandidates(list); // this source's ids and signals only
        const similarity = calibrate(list, src.calibration ?? this.calibration);
        return { list, similarity, report: report(list.length > 0 ? 'ok' : 'empty', list.length) };
      } catch (e) {
        return { report: report('failed', 0, (e as Error).message) };
      }
    } catch (e) {
      return { report: report('failed', 0, e instanceof Error ? e.message : String(e)) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Candidates from several sources merged by id into columns (NaN = missing while merging). The highest
 * similarity wins; every other field is taken from the first source (in priority order) that has it;
 * engagement counts travel as a pair.
 */
class MergedColumns<I extends Id> {
  readonly ids: I[] = [];
  private readonly row = new Map<I, number>();
  private readonly sim: number[] = [];
  private readonly dist: number[] = [];
  private readonly eng: number[] = [];
  private readonly imp: number[] = [];
  private readonly rate: number[] = [];
  private readonly qual: number[] = [];
  private readonly cat: (GroupKey | null)[] = [];
  private readonly cre: (GroupKey | null)[] = [];
  private readonly srcBits: number[][] = [];
  private features: Map<string, number[]> | null = null;

  get size(): number {
    return this.ids.length;
  }

  /** Add candidate `c` of `source`, whose calibrated similarity is `sim` (NaN = none). */
  add(c: Candidate<I>, source: number, sim: number): void {
    let r = this.row.get(c.id);
    if (r === undefined) {
      r = this.ids.length;
      this.row.set(c.id, r);
      this.ids.push(c.id);
      this.sim.push(sim);
      this.dist.push(Number.isNaN(sim) ? c.distance ?? NaN : NaN); // a calibrated distance became `sim`
      const pair = c.engagements != null && c.impressions != null;
      this.eng.push(pair ? c.engagements! : NaN);
      this.imp.push(pair ? c.impressions! : NaN);
      this.rate.push(c.engagementRate ?? NaN);
      this.qual.push(c.quality ?? NaN);
      this.cat.push(c.category ?? null);
      this.cre.push(c.creator ?? null);
      this.srcBits.push([source]);
    } else {
      const bits = this.srcBits[r];
      if (bits[bits.length - 1] !== source) bits.push(source);
      if (!Number.isNaN(sim) && !(sim <= this.sim[r])) this.sim[r] = sim;
      if (Number.isNaN(sim) && c.distance != null && Number.isNaN(this.dist[r]) && Number.isNaN(this.sim[r])) this.dist[r] = c.distance;
      if (c.engagements != null && c.impressions != null && Number.isNaN(this.eng[r])) { this.eng[r] = c.engagements; this.imp[r] = c.impressions; }
      if (c.engagementRate != null && Number.isNaN(this.rate[r])) this.rate[r] = c.engagementRate;
      if (c.quality != null && Number.isNaN(this.qual[r])) this.qual[r] = c.quality;
      if (c.category != null && this.cat[r] === null) this.cat[r] = c.category;
      if (c.creator != null && this.cre[r] === null) this.cre[r] = c.creator;
    }
    if (c.features) {
      this.features ??= new Map();
      for (const [k, v] of Object.entries(c.features)) {
        let col = this.features.get(k);
        if (!col) this.features.set(k, (col = []));
        if (col[r] === undefined) col[r] = v;
      }
    }
  }

  /** Fill fields still missing from pin metadata (same order as `ids`). */
  fill(metas: readonly (PinMetadata<I> | undefined)[]): void {
    for (let r = 0; r < this.ids.length; r++) {
      const m = metas[r];
      if (!m) continue;
      if (this.cat[r] === null && m.category != null) this.cat[r] = m.category;
      if (this.cre[r] === null && m.creator != null) this.cre[r] = m.creator;
      if (Number.isNaN(this.qual[r]) && m.quality != null) this.qual[r] = m.quality;
      if (Number.isNaN(this.eng[r]) && Number.isNaN(this.rate[r])) {
        if (m.engagements != null && m.impressions != null) { this.eng[r] = m.engagements; this.imp[r] = m.impressions; }
        else if (m.engagementRate != null) this.rate[r] = m.engagementRate;
      }
    }
  }

  sourcesOf(r: number, names: readonly string[]): string[] {
    return this.srcBits[r].map((s) => names[s]);
  }

  columns(): CandidateColumns<I> {
    const n = this.ids.length;
    const out: CandidateColumns<I> = { ids: this.ids, category: this.cat, creator: this.cre };
    const present: NonNullable<CandidateColumns['present']> = {};
    const put = (name: 'similarity' | 'distance' | 'engagements' | 'impressions' | 'engagementRate' | 'quality', src: number[]) => {
      let missing = 0;
      for (let i = 0; i < n; i++) if (Number.isNaN(src[i])) missing++;
      if (missing === n) return;
      const col = new Float64Array(src);
      if (missing > 0) {
        const mask = new Uint8Array(n);
        for (let i = 0; i < n; i++) if (Number.isNaN(src[i])) col[i] = 0; else mask[i] = 1;
        present[name] = mask;
      }
      out[name] = col;
    };
    put('similarity', this.sim);
    put('distance', this.dist);
    put('engagements', this.eng);
    put('impressions', this.imp);
    put('engagementRate', this.rate);
    put('quality', this.qual);
    out.present = present;
    if (this.features) {
      out.features = nullProto();
      for (const [k, col] of this.features) out.features[k] = Float64Array.from({ length: n }, (_, i) => col[i] ?? NaN);
    }
    return out;
  }
}

const CALIBRATIONS = ['rank', 'none'] as const;

/**
 * One source's similarities on the feed's common scale (NaN where a candidate has none). `'rank'`: the r-th
 * best of the n candidates that carry a similarity (or, lacking one, a distance: smaller is better) gets
 * `1 − r/n`, ties sharing the better rank. `'none'`: similarities as given, which must be cosines in [-1, 1].
 */
function calibrate(list: readonly Candidate[], mode: Calibration): Float64Array {
  const n = list.length;
  const out = new Float64Array(n).fill(NaN);
  if (mode === 'none') {
    for (let i = 0; i < n; i++) {
      const v = list[i].similarity;
      if (v == null) continue;
      if (!(v >= -1 - 1e-6 && v <= 1 + 1e-6)) throw new InvalidParameterError(`candidates[${i}].similarity`, "a cosine in [-1, 1] (calibration 'none')", v);
      out[i] = v;
    }
    return out;
  }
  const idx: number[] = [];
  const key = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = list[i];
    if (c.similarity != null) { key[i] = c.similarity; idx.push(i); } else if (c.distance != null) { key[i] = -c.distance; idx.push(i); }
  }
  idx.sort((a, b) => key[b] - key[a] || a - b);
  const m = idx.length;
  let rank = 0;
  for (let t = 0; t < m; t++) {
    if (t > 0 && key[idx[t]] !== key[idx[t - 1]]) rank = t;
    out[idx[t]] = 1 - rank / m;
  }
  return out;
}
