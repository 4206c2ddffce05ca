/**
 * The feed's merge: each source's similarities calibrated to one scale, then candidates of every source
 * merged by id into validated columns, in source priority order.
 */
import type { Calibration, Candidate, GroupKey } from '../core/interfaces.js';
import { InvalidParameterError } from '../core/errors.js';
import type { Id } from '../core/types.js';
import { type CandidateColumns, nullProto } from './candidates.js';
import type { PinMetadata } from './interfaces.js';

/**
 * Candidates from several sources merged by id into columns (NaN = missing while merging). The highest
 * similarity wins; every other field is taken from the first source (in priority order) that has it;
 * engagement counts travel as a pair.
 */
export class MergedColumns<I extends Id> {
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
  /** Each source's own raw score per row (NaN = not proposed by it), when source names were given. */
  private readonly raw: number[][] | null;

  /**
   * @param sourceNames when given, {@link columns} also carries each source's raw score (its `similarity`, or
   *   `−distance`) as the feature column named after the source — what a learned ranker's `src_<name>_*`
   *   features read. A candidate's own `features[name]` value wins over it.
   */
  constructor(private readonly sourceNames?: readonly string[]) {
    this.raw = sourceNames ? sourceNames.map(() => []) : null;
  }

  get size(): number {
    return this.ids.length;
  }

  /**
   * Add candidate `c` of `source`, whose calibrated similarity is `sim` (NaN = none) and whose raw score under
   * its source is `raw` (see {@link sourceScore}; kept only when source names were given).
   */
  add(c: Candidate<I>, source: number, sim: number, raw = Number.NaN): void {
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
      if (this.raw) for (const col of this.raw) col.push(Number.NaN);
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
    if (this.raw && source < this.raw.length && !Number.isNaN(raw)) {
      const col = this.raw[source];
      if (Number.isNaN(col[r]) || raw > col[r]) col[r] = raw; // a source listing an id twice: its best score
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

  /**
   * Fill fields still missing from pin metadata (same order as `ids`). A value outside its range (quality 5,
   * engagements above impressions, NaN...) is ignored, not trusted, and counted in the returned number.
   */
  fill(metas: readonly (PinMetadata<I> | undefined)[]): number {
    let bad = 0;
    const unit = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;
    const key = (v: unknown) => typeof v === 'string' || typeof v === 'bigint' || (typeof v === 'number' && Number.isFinite(v));
    for (let r = 0; r < this.ids.length; r++) {
      const m = metas[r];
      if (m === undefined || m === null) continue;
      if (typeof m !== 'object') { bad++; continue; }
      if (this.cat[r] === null && m.category != null) { if (key(m.category)) this.cat[r] = m.category; else bad++; }
      if (this.cre[r] === null && m.creator != null) { if (key(m.creator)) this.cre[r] = m.creator; else bad++; }
      if (Number.isNaN(this.qual[r]) && m.quality != null) { if (unit(m.quality)) this.qual[r] = m.quality; else bad++; }
      if (Number.isNaN(this.eng[r]) && Number.isNaN(this.rate[r])) {
        if (m.engagements != null && m.impressions != null) {
          const e = m.engagements, n = m.impressions;
          if (typeof e === 'number' && typeof n === 'number' && e >= 0 && e <= n && Number.isFinite(n)) { this.eng[r] = e; this.imp[r] = n; } else bad++;
        } else if (m.engagementRate != null) { if (unit(m.engagementRate)) this.rate[r] = m.engagementRate; else bad++; }
      }
    }
    return bad;
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
    if (this.features || this.raw) {
      out.features = nullProto();
      if (this.raw && this.sourceNames) {
        for (let s = 0; s < this.raw.length; s++) out.features[this.sourceNames[s]] = Float64Array.from(this.raw[s]);
      }
      if (this.features) {
        for (const [k, col] of this.features) {
          const own = out.features[k] as Float64Array | undefined;
          out.features[k] = Float64Array.from({ length: n }, (_, i) => col[i] ?? (own ? own[i] : NaN));
        }
      }
    }
    return out;
  }
}

/**
 * A candidate's raw score under its own source, larger = better: its `similarity`, else `−distance`, else (a
 * source that only orders its list, e.g. trending without scores) `−position` in the list.
 *
 * @example
 * sourceScore({ id: 'a', distance: 0.5 }, 3); // -0.5
 */
export function sourceScore(c: Candidate, position: number): number {
  if (c.similarity != null) return c.similarity;
  if (c.distance != null) return -c.distance;
  return -position;
}

/** The calibration modes a feed accepts. */
export const CALIBRATIONS = ['rank', 'none'] as const;

/**
 * One source's similarities on the feed's common scale (NaN where a candidate has none). `'rank'`: the r-th
 * best of the n candidates that carry a similarity (or, lacking one, a distance: smaller is better) gets
 * `1 − r/n`, ties sharing the better rank. `'none'`: similarities as given, which must be cosines in [-1, 1].
 */
export function calibrate(list: readonly Candidate[], mode: Calibration): Float64Array {
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
