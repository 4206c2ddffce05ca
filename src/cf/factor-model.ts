/**
 * A servable model from factors trained elsewhere (Spark ALS, implicit, a TensorFlow two-tower, pinrec's own
 * out-of-core SVD): item vectors, and optionally user vectors, in; recommendations, similar pins and the
 * two-stage feed source's contract out — without refitting.
 */
import { FileFormatError, InvalidParameterError, UnknownIdError } from '../core/errors.js';
import { IdMap } from '../core/ids.js';
import type { NewUser, Ranked, RecommendOptions } from '../core/interfaces.js';
import type { Id } from '../core/types.js';
import { checkInt, checkNumber } from '../core/validate.js';
import { readContainer, writeContainer } from '../core/container.js';
import { readEmbeddingsArrow } from '../core/arrow-out.js';
import { choleskyUpper } from './dense.js';
import type { OutOfCoreResult } from './outofcore.js';

const KIND = 'pinrec.cf.factors';
const VERSION = 1;

/** Options of the {@link FactorModel} constructor. */
export interface FactorModelOptions<U extends Id, I extends Id> {
  itemIds: readonly I[];
  /** items × dim, row-major. */
  itemFactors: Float32Array;
  dim: number;
  /** Known users' vectors (users × dim), when the training produced them. */
  userIds?: readonly U[];
  userFactors?: Float32Array;
  /**
   * Ridge of the fold-in u = (VᵀV + λI)⁻¹ Vᵀx that turns a new user's history x into a vector. For
   * orthonormal V (an SVD) this ranks exactly as PureSVD's x·V·Vᵀ. @default 0.01
   */
  lambda?: number;
}

/**
 * Recommendations from dot products of user and item vectors. A known user (with a stored vector) is scored
 * with it; any user can be given as a {@link NewUser} history, which is folded in by ridge regression on the
 * item vectors. `filterSeen` applies to a `NewUser`'s own pins (a stored vector carries no history).
 *
 * @example
 * import { FactorModel } from 'pinrec/cf';
 * const m = new FactorModel({ itemIds: ['a', 'b', 'c'], itemFactors: Float32Array.of(1, 0, 0, 1, 0.7, 0.7), dim: 2 });
 * m.recommend({ items: ['a'] }, { n: 2 }).ids; // ['c', 'b']
 */
export class FactorModel<U extends Id = Id, I extends Id = Id> {
  readonly dim: number;
  readonly lambda: number;
  private readonly items: IdMap<I>;
  private readonly v: Float32Array;
  private readonly users: IdMap<U>;
  private readonly u: Float32Array;
  private solver?: Float64Array;

  constructor(o: FactorModelOptions<U, I>) {
    if (o === null || typeof o !== 'object') throw new InvalidParameterError('options', 'an object', o);
    this.dim = checkInt('dim', o.dim, 1, 65_536);
    if (!(o.itemFactors instanceof Float32Array) || o.itemFactors.length !== o.itemIds.length * this.dim) {
      throw new InvalidParameterError('itemFactors', `a Float32Array of itemIds.length × dim = ${o.itemIds.length * this.dim} floats`, o.itemFactors);
    }
    for (let i = 0; i < o.itemFactors.length; i++) if (!Number.isFinite(o.itemFactors[i])) throw new InvalidParameterError(`itemFactors[${i}]`, 'a finite number', o.itemFactors[i]);
    this.lambda = checkNumber('lambda', o.lambda ?? 0.01, 0, 1e12);
    this.items = new IdMap<I>();
    for (const id of o.itemIds) {
      if (this.items.has(id)) throw new InvalidParameterError('itemIds', 'unique ids', id);
      this.items.add(id);
    }
    this.v = o.itemFactors;
    this.users = new IdMap<U>();
    const uids = o.userIds ?? [];
    const uf = o.userFactors ?? new Float32Array(0);
    if (!(uf instanceof Float32Array) || uf.length !== uids.length * this.dim) throw new InvalidParameterError('userFactors', `a Float32Array of userIds.length × dim = ${uids.length * this.dim} floats`, uf);
    for (let i = 0; i < uf.length; i++) if (!Number.isFinite(uf[i])) throw new InvalidParameterError(`userFactors[${i}]`, 'a finite number', uf[i]);
    for (const id of uids) {
      if (this.users.has(id)) throw new InvalidParameterError('userIds', 'unique ids', id);
      this.users.add(id);
    }
    this.u = uf;
  }

  /**
   * Load factors from Arrow files (`id` plus a `FixedSizeList<Float32>` column, e.g. what `writeFactorsArrow`,
   * Spark or pandas write): items, and optionally users of the same dimension.
   * @param options.vectorColumn the vector column's name @default 'factors'
   * @example
   * const m = await FactorModel.fromArrow('items.arrow', { users: 'users.arrow' });
   */
  static async fromArrow<U extends Id = Id, I extends Id = Id>(itemsFile: string, options: { users?: string; vectorColumn?: string; lambda?: number } = {}): Promise<FactorModel<U, I>> {
    const vectorColumn = options.vectorColumn ?? 'factors';
    const it = await readEmbeddingsArrow<I>(itemsFile, { vectorColumn });
    let users: { ids: U[]; vectors: Float32Array } | undefined;
    if (options.users) {
      const us = await readEmbeddingsArrow<U>(options.users, { vectorColumn });
      if (us.dim !== it.dim) throw new FileFormatError(options.users, `holds ${us.dim}-d user vectors; the items are ${it.dim}-d`);
      users = { ids: us.ids, vectors: us.vectors };
    }
    return new FactorModel<U, I>({ itemIds: it.ids, itemFactors: it.vectors, dim: it.dim, userIds: users?.ids, userFactors: users?.vectors, lambda: options.lambda });
  }

  /** The model of an out-of-core SVD: item vectors V (users are folded in from their histories). */
  static fromOutOfCore<U extends Id = Id, I extends Id = Id>(r: OutOfCoreResult<I>, options: { lambda?: number } = {}): FactorModel<U, I> {
    return new FactorModel<U, I>({ itemIds: r.itemIds, itemFactors: r.itemFactors, dim: r.k, lambda: options.lambda });
  }

  /** Pins known to the model. */
  itemIds(): I[] { return this.items.ids(); }
  /** Users with a stored vector. */
  userIds(): U[] { return this.users.ids(); }
  hasItem(pin: I): boolean { return this.items.has(pin); }
  hasUser(user: U): boolean { return this.users.has(user); }

  /** The item vectors for an inner-product index (the `CfCandidateSource` contract). */
  scoringFactors(): { ids: I[]; factors: Float32Array; dim: number } {
    return { ids: this.items.ids(), factors: this.v, dim: this.dim };
  }

  private foldIn(h: NewUser<I>): Float32Array | undefined {
    const d = this.dim;
    const b = new Float64Array(d);
    let any = false;
    for (let t = 0; t < h.items.length; t++) {
      if (!this.items.has(h.items[t])) continue;
      const w = h.weights?.[t] ?? 1;
      if (!Number.isFinite(w)) throw new InvalidParameterError(`weights[${t}]`, 'a finite number', w);
      const o = this.items.get(h.items[t]) * d;
      for (let c = 0; c < d; c++) b[c] += w * this.v[o + c];
      any = true;
    }
    if (!any) return undefined;
    // (VᵀV + λI) u = b, by Cholesky (VᵀV computed once)
    if (!this.solver) {
      const g = new Float64Array(d * d);
      const n = this.items.size;
      for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) { const va = this.v[i * d + a]; if (va !== 0) for (let c = a; c < d; c++) g[a * d + c] += va * this.v[i * d + c]; }
      let tr = 0;
      for (let a = 0; a < d; a++) tr += g[a * d + a];
      for (let a = 0; a < d; a++) { for (let c = 0; c < a; c++) g[a * d + c] = g[c * d + a]; g[a * d + a] += this.lambda + 1e-12 * tr; }
      const r = choleskyUpper(g, d);
      if (!r) throw new InvalidParameterError('itemFactors', 'vectors whose Gram matrix is positive definite (raise lambda)', 'singular VᵀV');
      this.solver = r;
    }
    const r = this.solver;
    // Rᵀ y = b, then R u = y
    const y = new Float64Array(d);
    for (let i = 0; i < d; i++) { let s = b[i]; for (let k = 0; k < i; k++) s -= r[k * d + i] * y[k]; y[i] = s / r[i * d + i]; }
    const u = new Float64Array(d);
    for (let i = d - 1; i >= 0; i--) { let s = y[i]; for (let k = i + 1; k < d; k++) s -= r[i * d + k] * u[k]; u[i] = s / r[i * d + i]; }
    return Float32Array.from(u);
  }

  /** A user's vector (stored, or folded in from a `NewUser`), or undefined for an unknown user / no known pin. */
  tryUserFactors(user: U | NewUser<I>): Float32Array | undefined {
    if (typeof user === 'object' && user !== null && Array.isArray((user as NewUser<I>).items)) return this.foldIn(user as NewUser<I>);
    if (!this.users.has(user as U)) return undefined;
    const o = this.users.get(user as U) * this.dim;
    return this.u.slice(o, o + this.dim);
  }

  /**
   * Top-n pins by u·v. Options: `n` (default 10), `filterSeen` (a NewUser's own pins, default true),
   * `filterItems`, `allowItems`, `candidates` (score only these), `fallback` ('error' | 'popular' is not kept
   * here: 'popular' returns an empty list).
   * @throws {UnknownIdError} for a user without a vector (and no history given) when `fallback` is 'error'
   */
  recommend(user: U | NewUser<I>, options: RecommendOptions<I> = {}): Ranked<I> {
    const n = checkInt('n', options.n ?? 10, 1);
    const q = this.tryUserFactors(user);
    if (!q) {
      if ((options.fallback ?? 'error') === 'error') throw new UnknownIdError('user', typeof user === 'object' ? '(a history with no known pin)' : user);
      return { ids: [], scores: new Float32Array(0), requested: n };
    }
    const skip = new Set<I>(options.filterItems ?? []);
    if ((options.filterSeen ?? true) && typeof user === 'object' && user !== null) for (const p of (user as NewUser<I>).items) skip.add(p);
    const allow = options.allowItems ? new Set<I>(options.allowItems) : undefined;
    const pool = options.candidates ? [...new Set<I>(options.candidates)].filter((p) => this.items.has(p)).map((p) => this.items.get(p)) : undefined;
    return this.topByVector(q, n, (j) => { const id = this.items.id(j); return !skip.has(id) && (!allow || allow.has(id)); }, pool);
  }

  /** {@link FactorModel.recommend} for each user. */
  recommendBatch(users: readonly (U | NewUser<I>)[], options: RecommendOptions<I> = {}): Ranked<I>[] {
    return users.map((u) => this.recommend(u, options));
  }

  /** Pins whose vectors have the highest cosine with `pin`'s (the pin itself excluded). */
  similarItems(pin: I, options: { n?: number; filterItems?: Iterable<I> } = {}): Ranked<I> {
    if (!this.items.has(pin)) throw new UnknownIdError('pin', pin);
    const n = checkInt('n', options.n ?? 10, 1);
    const d = this.dim;
    const o = this.items.get(pin) * d;
    const q = this.v.slice(o, o + d);
    const skip = new Set<I>(options.filterItems ?? []);
    skip.add(pin);
    const norms = this.itemNorms();
    const qn = Math.hypot(...q) || 1;
    return this.topByVector(q, n, (j) => !skip.has(this.items.id(j)), undefined, (j, s) => s / (qn * (norms[j] || 1)));
  }

  private norms?: Float32Array;
  private itemNorms(): Float32Array {
    if (!this.norms) {
      const n = this.items.size;
      const d = this.dim;
      this.norms = new Float32Array(n);
      for (let i = 0; i < n; i++) { let s = 0; for (let c = 0; c < d; c++) s += this.v[i * d + c] ** 2; this.norms[i] = Math.sqrt(s); }
    }
    return this.norms;
  }

  private topByVector(q: Float32Array, n: number, keep: (j: number) => boolean, pool?: number[], adjust?: (j: number, s: number) => number): Ranked<I> {
    const d = this.dim;
    const cand = pool ?? Array.from({ length: this.items.size }, (_, j) => j);
    const scored: { j: number; s: number }[] = [];
    for (const j of cand) {
      if (!keep(j)) continue;
      let s = 0;
      const o = j * d;
      for (let c = 0; c < d; c++) s += q[c] * this.v[o + c];
      scored.push({ j, s: adjust ? adjust(j, s) : s });
    }
    scored.sort((a, b) => b.s - a.s || a.j - b.j);
    const top = scored.slice(0, n);
    return { ids: top.map((x) => this.items.id(x.j)), scores: Float32Array.from(top, (x) => x.s), requested: n };
  }

  /** Save to `file` atomically (pinrec container, kind `pinrec.cf.factors`). */
  async save(file: string): Promise<void> {
    await writeContainer(file, KIND, VERSION, { dim: this.dim, lambda: this.lambda }, {
      items: new Uint8Array(this.items.encode()), itemFactors: this.v, users: new Uint8Array(this.users.encode()), userFactors: this.u,
    });
  }

  /** Load a model saved by {@link FactorModel.save}; a file of another kind or version is a FileFormatError. */
  static async load<U extends Id = Id, I extends Id = Id>(file: string): Promise<FactorModel<U, I>> {
    const c = await readContainer<{ dim: number; lambda: number }>(file, KIND);
    if (c.version !== VERSION) throw new FileFormatError(file, `is version ${c.version}; this pinrec reads version ${VERSION}`);
    const sec = <T>(name: string, ctor: abstract new (...a: never[]) => T): T => {
      const a = c.sections.get(name);
      if (!(a instanceof ctor)) throw new FileFormatError(file, `lacks the section '${name}' (or it has the wrong type)`);
      return a;
    };
    try {
      const items = IdMap.decode<I>(sec('items', Uint8Array));
      const users = IdMap.decode<U>(sec('users', Uint8Array));
      return new FactorModel<U, I>({ itemIds: items.ids(), itemFactors: sec('itemFactors', Float32Array), dim: c.meta?.dim, userIds: users.ids(), userFactors: sec('userFactors', Float32Array), lambda: c.meta?.lambda });
    } catch (e) {
      if (e instanceof FileFormatError) throw e;
      throw new FileFormatError(file, `holds inconsistent sections (${(e as Error).message})`);
    }
  }
}
