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
import { type Candidate, toBatch, validateCandidates } from './candidates.js';
import type { PinMetadata, PinMetadataSource } from './interfaces.js';
import { CALIBRATIONS, MergedColumns, calibrate, sourceScore } from './merge.js';
import { type FeedClock, MAX_TIMER_MS, SYSTEM_CLOCK, runBudgeted } from './budget.js';

export type { FeedClock };
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
  /**
   * Default per-source budget in ms: the time the source itself takes (see `budget.ts`), capped at
   * 2³¹ − 1 ms, the longest timer Node supports. @default 50
   */
  timeoutMs?: number;
  /** Budget of the metadata lookup in ms; past it (or when it throws) the feed is served without metadata. @default timeoutMs */
  metadataTimeoutMs?: number;
  /** Time source and timers. @default performance.now() and the global timers */
  clock?: FeedClock;
  /** Most candidates taken from one source (extra ones are dropped). @default 1000 */
  perSourceLimit?: number;
  /**
   * Put each source's raw score (`similarity`, else `−distance`, else `−position` in its list) on the merged
   * candidates as the feature column named after the source (`features.cf`, `features.visual`, ...; NaN
   * where the source did not propose the pin), which a learned ranker's `src_<name>_score` / `_rank` /
   * `_missing` features read. A candidate's own `features[name]` wins. @default true
   */
  sourceScores?: boolean;
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

/** How the metadata lookup did (`'none'` without a metadata source or candidates). */
export interface MetadataReport {
  status: 'ok' | 'failed' | 'timeout' | 'none';
  ms: number;
  /** Metadata values ignored because they were out of range (quality 5, engagements > impressions...). */
  ignored: number;
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
  /** How the metadata stage did. */
  metadata: MetadataReport;
}

/** Per-call options of {@link FeedGenerator.generate}. */
export interface GenerateOptions<I extends Id> {
  /** Feed length. @default the generator's `limit` */
  limit?: number;
  /** Pins not to show; also passed to sources. @default empty */
  exclude?: Iterable<I>;
  /**
   * A scorer for this request only, in place of the generator's (e.g. a learned ranker bound to this user:
   * `ranker.forUser(userProfile(history, lookups), { now: Date.now() })`). The caps still apply after it.
   * @default the generator's `scorer`, else the blend
   */
  scorer?: Scorer;
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
  private readonly metadataTimeoutMs: number;
  private readonly clock: FeedClock;
  private readonly sourceScores: boolean;

  /** @throws {InvalidParameterError} for bad options or duplicate source names */
  constructor(options: FeedOptions<U, I>) {
    const { sources, metadata, weights, scorer, diversity, limit, timeoutMs, perSourceLimit, calibration, metadataTimeoutMs, clock, sourceScores, ...signals } = options ?? ({} as FeedOptions<U, I>);
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
    this.timeoutMs = Math.min(checkNumber('timeoutMs', timeoutMs ?? 50, 0), MAX_TIMER_MS);
    this.metadataTimeoutMs = Math.min(checkNumber('metadataTimeoutMs', metadataTimeoutMs ?? this.timeoutMs, 0), MAX_TIMER_MS);
    if (clock !== undefined && (typeof clock?.now !== 'function' || typeof clock.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function')) {
      throw new InvalidParameterError('clock', 'an object with now(), setTimeout() and clearTimeout()', clock);
    }
    this.clock = clock ?? SYSTEM_CLOCK;
    this.perSourceLimit = checkInt('perSourceLimit', perSourceLimit ?? 1000, 1);
    this.calibration = checkOneOf('calibration', calibration ?? 'rank', CALIBRATIONS);
    if (sourceScores !== undefined && typeof sourceScores !== 'boolean') throw new InvalidParameterError('sourceScores', 'true or false', sourceScores);
    this.sourceScores = sourceScores ?? true;
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
    if (options.scorer !== undefined && typeof options.scorer?.score !== 'function') throw new InvalidParameterError('scorer', 'an object with a score() method', options.scorer);
    const exclude = new Set<I>(options.exclude ?? []);
    const runs = await Promise.all(this.sources.map((s) => this.runSource(s, user, exclude)));

    // merge and de-duplicate into columns, in source priority order
    const m = new MergedColumns<I>(this.sourceScores ? this.sources.map((x) => x.name) : undefined);
    for (let s = 0; s < runs.length; s++) {
      const list = runs[s].list;
      if (!list) continue;
      const sim = runs[s].similarity!;
      for (let i = 0; i < list.length; i++) {
        const c = list[i];
        if (!exclude.has(c.id)) m.add(c, s, sim[i], sourceScore(c, i));
      }
    }
    const meta = await this.runMetadata(m);
    const scorer = options.scorer ?? this.rankOptions.scorer;
    const res = m.size > 0
      ? rerank(m.columns(), { ...this.rankOptions, scorer, limit })
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
      metadata: meta,
    };
  }

  /** The metadata lookup under its own budget; a failure or timeout leaves the candidates' own fields. */
  private async runMetadata(m: MergedColumns<I>): Promise<MetadataReport> {
    if (!this.metadata || m.size === 0) return { status: 'none', ms: 0, ignored: 0 };
    const source = this.metadata;
    const r = await runBudgeted(() => source.get(m.ids), this.metadataTimeoutMs, this.clock, new AbortController());
    if (r.kind === 'timeout') return { status: 'timeout', ms: r.ms, ignored: 0 };
    if (r.kind === 'error') return { status: 'failed', ms: r.ms, ignored: 0, error: errorText(r.error) };
    const metas = r.value as (PinMetadata<I> | undefined)[];
    if (!Array.isArray(metas) || metas.length !== m.size) {
      return { status: 'failed', ms: r.ms, ignored: 0, error: `get() returned ${Array.isArray(metas) ? `${metas.length} entries for ${m.size} ids` : Object.prototype.toString.call(metas)}` };
    }
    return { status: 'ok', ms: r.ms, ignored: m.fill(metas) };
  }

  private async runSource(src: CandidateSource<U, I>, user: U, exclude: ReadonlySet<I>): Promise<{ list?: readonly Candidate<I>[]; similarity?: Float64Array; report: SourceReport }> {
    const budget = src.timeoutMs ?? this.timeoutMs;
    const controller = new AbortController();
    const r = await runBudgeted(() => src.fetch(user, { signal: controller.signal, limit: this.perSourceLimit, exclude }), budget, this.clock, controller);
    const report = (status: SourceReport['status'], candidates = 0, error?: string): SourceReport => ({
      name: src.name, status, candidates, contributed: 0, ms: r.ms, ...(error !== undefined ? { error } : {}),
    });
    if (r.kind === 'timeout') return { report: report('timeout') };
    if (r.kind === 'error') return { report: report('failed', 0, errorText(r.error)) };
    const out = r.value;
    if (!Array.isArray(out)) return { report: report('failed', 0, `returned ${Object.prototype.toString.call(out)}, not an array`) };
    const list = out.length > this.perSourceLimit ? out.slice(0, this.perSourceLimit) : out;
    try {
      validateCandidates(list); // this source's ids and signals only
      const similarity = calibrate(list, src.calibration ?? this.calibration);
      return { list, similarity, report: report(list.length > 0 ? 'ok' : 'empty', list.length) };
    } catch (e) {
      return { report: report('failed', 0, errorText(e)) };
    }
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

