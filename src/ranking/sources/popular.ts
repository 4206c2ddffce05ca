/** Trending / popular pins per category: the feed source that needs no model. */
import type { Candidate, CandidateSource, GroupKey, SourceContext } from '../../core/interfaces.js';
import { InvalidParameterError } from '../../core/errors.js';
import { checkIdType } from '../../core/ids.js';
import type { Id } from '../../core/types.js';
import { checkInt } from '../../core/validate.js';
import { compareIds } from '../order.js';

/** A popular pin, as {@link PopularSource} takes it. */
export interface PopularPin<I extends Id = Id> {
  id: I;
  category: GroupKey;
  engagements: number;
  impressions: number;
  creator?: GroupKey | null;
  quality?: number | null;
}

/**
 * Options of {@link PopularSource}.
 *
 * @example
 * new PopularSource({ pins: trendingToday, categoriesOf: (u) => favouriteCategories(u), perCategory: 20 });
 */
export interface PopularSourceOptions<U, I extends Id> {
  /** @default 'trending' */
  name?: string;
  /** Budget in ms. @default the feed's */
  timeoutMs?: number;
  /** Popular pins (any order); ranked per category by smoothed engagement rate × log(1 + engagements). */
  pins: readonly PopularPin<I>[];
  /** The user's preferred categories; without it (or for an empty list) every category is used. */
  categoriesOf?: (user: U) => readonly GroupKey[];
  /** Pins per category, counted after the feed's exclusions. @default 20 */
  perCategory?: number;
}

/**
 * Trending / popular pins per category. Candidates carry engagement counts, category and quality but no
 * similarity (the feed's `missing.similarity` applies). Excluded pins are skipped before each category is
 * cut to `perCategory`, so excluding a category's top pins brings up the next ones.
 *
 * @example
 * const trending = new PopularSource({ pins, perCategory: 20 });
 */
export class PopularSource<U = unknown, I extends Id = Id> implements CandidateSource<U, I> {
  readonly name: string;
  readonly timeoutMs?: number;
  private readonly byCategory = new Map<GroupKey, PopularPin<I>[]>();
  private readonly categoriesOf?: (user: U) => readonly GroupKey[];
  private readonly perCategory: number;

  /** @throws {InvalidParameterError} for a pin with a bad id or inconsistent counts */
  constructor(options: PopularSourceOptions<U, I>) {
    if (!Array.isArray(options?.pins)) throw new InvalidParameterError('pins', 'an array of popular pins', options?.pins);
    this.name = options.name ?? 'trending';
    this.timeoutMs = options.timeoutMs;
    this.perCategory = checkInt('perCategory', options.perCategory ?? 20, 1);
    this.categoriesOf = options.categoriesOf;
    const key = (p: PopularPin<I>) => ((p.engagements + 2) / (p.impressions + 100)) * Math.log1p(p.engagements);
    options.pins.forEach((p, i) => {
      checkIdType(`pins[${i}].id`, p?.id);
      if (!(p.engagements >= 0 && p.impressions >= p.engagements && Number.isFinite(p.impressions))) {
        throw new InvalidParameterError(`pins[${i}]`, 'counts with 0 <= engagements <= impressions', `${p.engagements}/${p.impressions}`);
      }
      let list = this.byCategory.get(p.category);
      if (!list) this.byCategory.set(p.category, (list = []));
      list.push(p);
    });
    for (const list of this.byCategory.values()) list.sort((a, b) => key(b) - key(a) || compareIds(a.id, b.id));
  }

  fetch(user: U, ctx: SourceContext<I>): Candidate<I>[] {
    let cats = this.categoriesOf?.(user);
    if (!cats || cats.length === 0) cats = [...this.byCategory.keys()];
    const out: Candidate<I>[] = [];
    for (const cat of cats) {
      let taken = 0;
      for (const p of this.byCategory.get(cat) ?? []) {
        if (taken >= this.perCategory) break;
        if (ctx.exclude.has(p.id)) continue;
        taken++;
        out.push({ id: p.id, engagements: p.engagements, impressions: p.impressions, category: p.category, creator: p.creator, quality: p.quality });
        if (out.length >= ctx.limit) return out;
      }
    }
    return out;
  }
}
