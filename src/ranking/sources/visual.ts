/** Visual neighbours of a user's recent engagements, as a feed source. */
import type { Candidate, CandidateSource, SourceContext, VectorSearcher } from '../../core/interfaces.js';
import { InvalidParameterError, UnknownIdError } from '../../core/errors.js';
import type { Id } from '../../core/types.js';
import { checkInt } from '../../core/validate.js';
import { hitSimilarity } from '../interfaces.js';

/**
 * Options of {@link VisualNeighborsSource}.
 *
 * @example
 * new VisualNeighborsSource({ recent: (u) => lastSaves(u), index: hnswCos });
 */
export interface VisualNeighborsOptions<U, I extends Id> {
  /** @default 'visual' */
  name?: string;
  /** Budget in ms. @default the feed's */
  timeoutMs?: number;
  /** The user's recent engagements, most recent first. */
  recent: (user: U) => readonly I[];
  /**
   * A pin's embedding (`undefined` skips that pin; an `UnknownIdError` it throws counts as `undefined`).
   * @default the index's `tryGetVector` (or `getVector`)
   */
  vectorOf?: (id: I) => Float32Array | undefined;
  /** Cosine index over pin embeddings. */
  index: VectorSearcher<I>;
  /** Most recent engagements used as seeds. @default 5 */
  seeds?: number;
  /** Neighbours per seed. @default 50 */
  perSeed?: number;
}

/**
 * Visual neighbours of the user's recent engagements. A pin reached from several seeds keeps its highest
 * cosine (negatives become 0); the seeds themselves and excluded pins are left out before each seed's list
 * is cut to `perSeed`. Seeds without an embedding are skipped; a user with none gives `[]`.
 *
 * @example
 * const visual = new VisualNeighborsSource({ recent, index: cosIndex, seeds: 5, perSeed: 50 });
 */
export class VisualNeighborsSource<U = unknown, I extends Id = Id> implements CandidateSource<U, I> {
  readonly name: string;
  readonly timeoutMs?: number;
  private readonly o: VisualNeighborsOptions<U, I>;
  private readonly seeds: number;
  private readonly perSeed: number;
  private readonly vectorOf: (id: I) => Float32Array | undefined;

  /** @throws {InvalidParameterError} for a missing `recent` or index, or a `vectorOf` that is not a function */
  constructor(options: VisualNeighborsOptions<U, I>) {
    if (typeof options?.recent !== 'function') throw new InvalidParameterError('recent', 'a function', options?.recent);
    if (typeof options.index?.search !== 'function') throw new InvalidParameterError('index', 'an object with search()', options.index);
    const index = options.index;
    const lookup = options.vectorOf ?? (index.tryGetVector ? (id: I) => index.tryGetVector!(id) : index.getVector ? (id: I) => index.getVector!(id) : undefined);
    if (typeof lookup !== 'function') throw new InvalidParameterError('vectorOf', 'a function (the index has no tryGetVector)', options.vectorOf);
    this.vectorOf = (id) => {
      try { return lookup(id); } catch (e) { if (e instanceof UnknownIdError) return undefined; throw e; }
    };
    this.o = options;
    this.name = options.name ?? 'visual';
    this.timeoutMs = options.timeoutMs;
    this.seeds = checkInt('seeds', options.seeds ?? 5, 1);
    this.perSeed = checkInt('perSeed', options.perSeed ?? 50, 1);
  }

  async fetch(user: U, ctx: SourceContext<I>): Promise<Candidate<I>[]> {
    const recent = this.o.recent(user).slice(0, this.seeds);
    const seedSet = new Set<I>(recent);
    const best = new Map<I, number>();
    for (const seed of recent) {
      if (ctx.signal.aborted) break;
      const v = this.vectorOf(seed);
      if (!v) continue;
      const hits = await this.o.index.search(v, this.perSeed + seedSet.size + ctx.exclude.size);
      let taken = 0;
      for (let i = 0; i < hits.ids.length && taken < this.perSeed; i++) {
        const id = hits.ids[i];
        if (seedSet.has(id) || ctx.exclude.has(id)) continue;
        taken++;
        const s = Math.max(0, Math.min(1, hitSimilarity(hits, i, 'cosine')));
        const prev = best.get(id);
        if (prev === undefined || s > prev) best.set(id, s);
      }
    }
    const out: Candidate<I>[] = [];
    for (const [id, s] of best) out.push({ id, similarity: s });
    out.sort((a, b) => b.similarity! - a.similarity!);
    return out.slice(0, ctx.limit);
  }
}
