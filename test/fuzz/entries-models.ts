/** Entry points: SvdRecommender and the vector indexes. */
import fc from 'fast-check';
import { SvdRecommender, interactionsFromColumns } from '../../src/cf/index.js';
import { ExactIndex, HnswIndex } from '../../src/ann/index.js';
import { PinrecError } from '../../src/core/errors.js';
import type { Ranked } from '../../src/core/types.js';
import { countOption, garbage, idCollection, magnitudeWeight, sameId } from './arbitraries.js';
import { type EntryPoint, Sentinel, check } from './harness.js';
import { KNOWN_BUGS } from './known.js';

const attempt = <T>(f: () => T): { ok: true; value: T } | { ok: false; error: unknown } => {
  try { return { ok: true, value: f() }; } catch (error) { if (error instanceof PinrecError) return { ok: false, error }; throw error; }
};

/** Sorted desc, no duplicates, finite, at most n. */
function checkRanked(r: Ranked, n: unknown, what: string, banned: Set<unknown> = new Set()): void {
  check(Array.isArray(r.ids) && r.scores instanceof Float32Array && r.ids.length === r.scores.length, `${what}: ids/scores shape`);
  if (typeof n === 'number') check(r.ids.length <= n, `${what}: ${r.ids.length} results > n = ${n}`);
  check(new Set(r.ids).size === r.ids.length, () => `${what}: duplicate ids ${String(r.ids)}`);
  for (let i = 0; i < r.ids.length; i++) {
    check(Number.isFinite(r.scores[i]), () => `${what}: score[${i}] = ${r.scores[i]}`);
    if (i > 0) check(r.scores[i] <= r.scores[i - 1], () => `${what}: not sorted at ${i}: ${r.scores[i - 1]} then ${r.scores[i]}`);
    check(!banned.has(r.ids[i]), () => `${what}: returned excluded pin ${String(r.ids[i])}`);
  }
}

/** Two answers that must agree (up to float noise and the order of tied scores). */
function sameRanked(a: Ranked, b: Ranked, what: string): void {
  check(a.ids.length === b.ids.length, () => `${what}: lengths ${a.ids.length} vs ${b.ids.length}`);
  const tol = (x: number) => 1e-4 * Math.max(1, Math.abs(x));
  for (let i = 0; i < a.ids.length; i++) check(Math.abs(a.scores[i] - b.scores[i]) <= tol(a.scores[i]), () => `${what}: score[${i}] ${a.scores[i]} vs ${b.scores[i]}`);
  if (a.ids.length === 0) return;
  const last = a.scores[a.ids.length - 1];
  const sure = (r: Ranked) => new Set(r.ids.filter((_, i) => r.scores[i] > last + tol(last)));
  const sa = sure(a), sb = sure(b);
  check(sa.size === sb.size && [...sa].every((x) => sb.has(x)), () => `${what}: different pins ${String(a.ids)} vs ${String(b.ids)}`);
}

// ---------------------------------------------------------------------------------------------------------

interface SvdCase {
  events: [number, number, number][]; userIds: unknown[]; itemIds: unknown[];
  factors: unknown; scoring: unknown; lambda: unknown;
  queries: { user: unknown; options: Record<string, unknown> }[];
  similar: { pin: unknown; n: unknown; filterItems: unknown }[];
}
const poolId = fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 30 }).map((i) => `p${i}`), fc.bigInt({ min: 0n, max: 30n }), fc.constantFrom('__proto__', 'toString', ''));

const svdArb = (): fc.Arbitrary<SvdCase> => fc.record({ nu: fc.integer({ min: 2, max: 8 }), ni: fc.integer({ min: 2, max: 10 }) }).chain(({ nu, ni }) => {
  const userIds = fc.uniqueArray(poolId, { minLength: nu, maxLength: nu, selector: (x) => `${typeof x}:${String(x)}` });
  const itemIds = fc.uniqueArray(poolId, { minLength: ni, maxLength: ni, selector: (x) => `${typeof x}:${String(x)}` });
  return fc.tuple(userIds, itemIds).chain(([us, is]) => {
    const item = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...is) }, { weight: 1, arbitrary: fc.constantFrom<unknown>('unknown-pin', 999, 7n) }, { weight: 1, arbitrary: garbage });
    const user = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom<unknown>(...us) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>('nobody', -5, 99n) },
      { weight: 1, arbitrary: garbage },
      { weight: 4, arbitrary: fc.record({
        items: fc.oneof({ weight: 8, arbitrary: fc.array(item, { maxLength: 6 }) }, { weight: 1, arbitrary: fc.constantFrom<unknown>('p1', null, new Set(['p1'])) }),
        weights: fc.option(fc.array(fc.oneof(magnitudeWeight, fc.constantFrom<unknown>(NaN, -1, Infinity, 1e300, '1')), { maxLength: 6 }), { nil: undefined }),
        types: fc.option(fc.array(fc.constantFrom<unknown>('click', 'save', 'repin', '__proto__', 'toString', 5), { maxLength: 6 }), { nil: undefined }),
      }, { requiredKeys: ['items'] }) },
    );
    const options = fc.record({
      n: countOption(12), filterSeen: fc.constantFrom<unknown>(true, false, undefined, 'yes', 1),
      filterItems: idCollection(item), allowItems: idCollection(item), candidates: idCollection(item),
      fallback: fc.constantFrom<unknown>('error', 'popular', undefined, 'bogus'),
    }, { requiredKeys: [] });
    return fc.record({
      events: fc.array(fc.tuple(fc.nat(nu - 1), fc.nat(ni - 1), magnitudeWeight), { minLength: 1, maxLength: 40 }),
      userIds: fc.constant(us), itemIds: fc.constant(is),
      factors: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(0, 100, 1.5, NaN) }),
      scoring: fc.constantFrom<unknown>('ease', 'puresvd', 'ease', 'bogus'),
      lambda: fc.constantFrom<unknown>(undefined, 'auto', 0.1, 10, 1e-30, 0, -1),
      queries: fc.array(fc.record({ user, options }), { minLength: 1, maxLength: 4 }),
      similar: fc.array(fc.record({ pin: item, n: countOption(12), filterItems: idCollection(item) }), { maxLength: 2 }),
    });
  });
});

export const svdEntry: EntryPoint<SvdCase> = {
  name: 'cf.SvdRecommender',
  quickRuns: 120,
  arb: svdArb,
  run(c) {
    const log = interactionsFromColumns({
      users: c.events.map((e) => c.userIds[e[0]] as string), items: c.events.map((e) => c.itemIds[e[1]] as string), weights: c.events.map((e) => e[2]),
    });
    const matrix = log.toMatrix();
    const fit = attempt(() => new SvdRecommender({ factors: c.factors as number, scoring: c.scoring as 'ease', lambda: c.lambda as number, threads: 1 }).fit(matrix));
    if (!fit.ok) return;
    const model = fit.value;
    const seen = new Map<unknown, Set<unknown>>();
    for (const e of c.events) { const u = c.userIds[e[0]]; if (!seen.has(u)) seen.set(u, new Set()); seen.get(u)!.add(c.itemIds[e[1]]); }
    const nItems = model.shape.items;
    const asSet = (x: unknown): Set<unknown> | null => (x instanceof Set || Array.isArray(x) ? new Set(x as unknown[]) : x instanceof Map ? new Set() : null);
    for (const q of c.queries) {
      const single = attempt(() => model.recommend(q.user as string, q.options as never));
      if (!single.ok) continue;
      const r = single.value;
      const o = q.options;
      const banned = new Set<unknown>(asSet(o.filterItems) ?? []);
      const filterSeen = o.filterSeen ?? true;
      if (filterSeen) {
        const s = typeof q.user === 'object' && q.user !== null ? new Set((q.user as { items: unknown[] }).items) : seen.get(q.user);
        for (const p of s ?? []) banned.add(p);
      }
      checkRanked(r, o.n ?? 10, 'recommend', banned);
      check(r.ids.length <= nItems, 'more results than pins');
      check(r.requested === (o.n ?? 10), 'requested');
      const allow = asSet(o.allowItems);
      if (allow) for (const id of r.ids) check(allow.has(id), () => `recommend returned ${String(id)} outside allowItems`);
      // exclusions before truncation: without candidates/allowItems, asking for n gives min(n, pins - excluded)
      if (o.candidates === undefined && o.allowItems === undefined) {
        const excluded = [...banned].filter((p) => model.hasItem(p as string)).length;
        check(r.ids.length === Math.min(o.n as number ?? 10, nItems - excluded), () => `recommend returned ${r.ids.length}, expected min(${o.n ?? 10}, ${nItems} - ${excluded})`);
      }
      const batch = attempt(() => model.recommendBatch([q.user, c.queries[0].user, q.user] as string[], o as never));
      if (batch.ok) { sameRanked(batch.value[0], r, 'recommendBatch[0] vs recommend'); sameRanked(batch.value[2], r, 'recommendBatch[2] vs recommend'); }
      else check(!attempt(() => model.recommend(c.queries[0].user as string, o as never)).ok, 'recommendBatch threw although every user succeeds alone');
      const f = attempt(() => model.tryUserFactors(q.user as string));
      if (f.ok && f.value) { check(f.value.length === model.factors, 'factor length'); for (const x of f.value) check(Number.isFinite(x), 'non-finite user factor'); }
    }
    // fold-in of a known user's exact row gives that user's answer
    const u0 = c.userIds[c.events[0][0]];
    const evs = c.events.filter((e) => c.userIds[e[0]] === u0);
    const folded = attempt(() => model.recommend({ items: evs.map((e) => c.itemIds[e[1]] as string), weights: evs.map((e) => e[2]) }, { n: 5 }));
    const known = model.recommend(u0 as string, { n: 5 });
    if (folded.ok) sameRanked(folded.value, known, 'fold-in of a known user vs the user');
    for (const s of c.similar) {
      const r = attempt(() => model.similarItems(s.pin as string, { n: s.n as number, filterItems: s.filterItems as string[] }));
      if (!r.ok) continue;
      checkRanked(r.value, s.n ?? 10, 'similarItems', new Set([s.pin, ...(asSet(s.filterItems) ?? [])]));
      for (const x of r.value.scores) check(x >= -1.001 && x <= 1.001, `similarItems cosine ${x} out of [-1, 1]`);
    }
  },
};

// ---------------------------------------------------------------------------------------------------------

interface AnnCase {
  metric: 'cosine' | 'ip' | 'l2'; dim: number; M: number; scale: number;
  ids: unknown[]; vectors: number[]; readd: number[]; deletes: unknown[];
  queries: { q: number[]; k: unknown; filter: unknown }[]; poison: unknown;
}
const annArb = (quick: boolean): fc.Arbitrary<AnnCase> => fc.record({ dim: fc.integer({ min: 1, max: 6 }), n: fc.integer({ min: 1, max: 24 }) }).chain(({ dim, n }) => {
  const id = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }).map((i) => `v${i}`), fc.bigInt({ min: 0n, max: 5n }), fc.constant('__proto__'));
  const comp = quick && KNOWN_BUGS.hnswCosineExtremeMagnitudes ? fc.integer({ min: -1000, max: 1000 }).map((x) => x / 1000) : fc.double({ min: -1, max: 1, noNaN: true });
  const filterId = fc.oneof(id, fc.constantFrom<unknown>('missing', NaN, null));
  return fc.record({
    metric: fc.constantFrom('cosine' as const, 'ip' as const, 'l2' as const),
    dim: fc.constant(dim), M: fc.integer({ min: 2, max: 16 }),
    scale: quick ? fc.constantFrom(1, 1e-3, 1e3) : fc.constantFrom(1, 1, 1, 1e-30, 1e30, 1e-20, 1e20, 1e-3, 1e3),
    ids: fc.array(id, { minLength: n, maxLength: n }),
    vectors: fc.array(comp, { minLength: n * dim, maxLength: n * dim }),
    readd: fc.array(fc.nat(n - 1), { maxLength: 3 }),
    deletes: fc.array(fc.oneof(id, fc.constantFrom<unknown>('missing', NaN)), { maxLength: 5 }),
    queries: fc.array(fc.record({
      q: fc.array(comp, { minLength: dim, maxLength: dim }),
      k: countOption(30),
      filter: fc.oneof(
        { weight: 4, arbitrary: fc.constant(undefined) },
        { weight: 2, arbitrary: fc.array(filterId, { maxLength: 8 }).map((a) => ({ allow: a })) },
        { weight: 1, arbitrary: fc.array(filterId, { maxLength: 8 }).map((a) => ({ allow: new Set(a) })) },
        { weight: 2, arbitrary: fc.array(filterId, { maxLength: 8 }).map((a) => ({ deny: a })) },
        { weight: 2, arbitrary: fc.integer({ min: 2, max: 4 }).map((m) => Object.assign((x: unknown) => String(x).length % m !== 0, { m })) },
        { weight: 1, arbitrary: fc.constant(() => { throw new Sentinel('predicate threw'); }) },
        { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 5, 'id', { allow: 5 }, { allow: [], deny: [] }, {}) },
      ),
    }), { minLength: 1, maxLength: 3 }),
    poison: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(NaN, Infinity, -Infinity, 'x', null) }),
  });
});

function allowedBy(filter: unknown, id: unknown): boolean {
  if (filter === undefined) return true;
  if (typeof filter === 'function') return (filter as (x: unknown) => boolean)(id) === true;
  const f = filter as { allow?: Iterable<unknown>; deny?: Iterable<unknown> };
  if (f.allow) return [...f.allow].some((x) => sameId(x, id));
  return ![...f.deny!].some((x) => sameId(x, id));
}

export const annEntry: EntryPoint<AnnCase> = {
  name: 'ann.HnswIndex+ExactIndex',
  quickRuns: 150,
  arb: annArb,
  async run(c) {
    const vectors = c.vectors.map((x) => x * c.scale);
    if (c.poison !== undefined && vectors.length > 0) (vectors as unknown[])[0] = c.poison;
    const n = c.ids.length;
    const hnsw = new HnswIndex({ metric: c.metric, dim: c.dim, M: c.M, efConstruction: 200, ef: 200, capacity: 4 });
    const exact = new ExactIndex({ metric: c.metric, dim: c.dim, capacity: 2 });
    const addH = attempt(() => hnsw.addItems(c.ids as string[], vectors));
    const addE = attempt(() => exact.addItems(c.ids as string[], vectors));
    check(addH.ok === addE.ok, 'HNSW and Exact disagree on accepting the batch');
    if (!addH.ok) { check(hnsw.size === 0 && exact.size === 0, 'a rejected batch added items'); return; }
    for (const r of c.readd) {
      const v = vectors.slice(((r + 1) % n) * c.dim, ((r + 1) % n) * c.dim + c.dim);
      const a = attempt(() => hnsw.addItems(c.ids[r] as string, v)), b = attempt(() => exact.addItems(c.ids[r] as string, v));
      check(a.ok === b.ok, 're-add disagreement');
    }
    const deleted = new Set<unknown>();
    for (const d of c.deletes) {
      const a = attempt(() => hnsw.markDeleted(d as string)), b = attempt(() => exact.markDeleted(d as string));
      check(a.ok === b.ok, () => `markDeleted(${String(d)}) disagreement`);
      if (a.ok) deleted.add(d);
    }
    check(hnsw.size === exact.size, `sizes ${hnsw.size} vs ${exact.size}`);
    for (const id of new Set(c.ids)) {
      const a = hnsw.tryGetVector(id as string), b = exact.tryGetVector(id as string);
      check((a === undefined) === (b === undefined) && (a === undefined) === deleted.has(id), () => `tryGetVector(${String(id)}) presence`);
      if (a && b) { check(a.length === c.dim, 'vector length'); for (let j = 0; j < c.dim; j++) check(Math.abs(a[j] - b[j]) <= 1e-4 * Math.max(1, Math.abs(b[j])), () => `tryGetVector(${String(id)}) differs: ${a} vs ${b}`); }
    }
    const live = [...new Set(c.ids)].filter((id) => !deleted.has(id));
    for (const q of c.queries) {
      const qq = q.q.map((x) => x * c.scale);
      const e = attempt(() => exact.search(qq, q.k as number, { filter: q.filter as never }));
      let h: ReturnType<typeof attempt<ReturnType<HnswIndex['search']>>>;
      try { h = attempt(() => hnsw.search(qq, q.k as number, { filter: q.filter as never, ef: 200 })); } catch (err) { if (err instanceof Sentinel && !e.ok) continue; throw err; }
      check(h.ok === e.ok, () => `search: HNSW ${h.ok ? 'ok' : (h as { error: Error }).error.message} vs Exact ${e.ok ? 'ok' : (e as { error: Error }).error.message}`);
      if (!h.ok || !e.ok) continue;
      const allowed = typeof q.filter === 'function' && (q.filter as { m?: number }).m === undefined ? live : live.filter((id) => allowedBy(q.filter, id));
      const want = Math.min(q.k as number, allowed.length);
      for (const [name, r] of [['hnsw', h.value], ['exact', e.value]] as const) {
        check(r.requested === q.k, `${name}: requested`);
        check(r.ids.length === want, () => `${name}: ${r.ids.length} results, expected min(k=${q.k}, allowed=${allowed.length}) = ${want}`);
        check(new Set(r.ids).size === r.ids.length, `${name}: duplicate ids`);
        for (let i = 0; i < r.ids.length; i++) {
          check(!deleted.has(r.ids[i]), () => `${name}: returned deleted id ${String(r.ids[i])}`);
          check(allowedBy(q.filter, r.ids[i]), () => `${name}: returned filtered-out id ${String(r.ids[i])}`);
          check(!Number.isNaN(r.distances[i]), () => `${name}: NaN distance at ${i}`);
          if (i > 0) check(r.distances[i] >= r.distances[i - 1] - 1e-6 * Math.max(1, Math.abs(r.distances[i - 1])), () => `${name}: not sorted at ${i}: ${r.distances[i - 1]}, ${r.distances[i]}`);
        }
      }
      if (want > 0) {
        const dh = h.value.distances[0], de = e.value.distances[0];
        if (Number.isFinite(de) && Math.abs(de) < 1e30) check(Math.abs(dh - de) <= 1e-3 * Math.max(1, Math.abs(de)), () => `top-1 distance: HNSW ${dh} (${String(h.value.ids[0])}) vs Exact ${de} (${String(e.value.ids[0])})`);
      }
      const qb = new Float32Array([...qq, ...qq]);
      const b = await hnsw.searchBatch(qb, q.k as number, { filter: q.filter as never, ef: 200, threads: 1 }).then((v) => ({ ok: true as const, v }), (err) => { if (err instanceof PinrecError || err instanceof Sentinel) return { ok: false as const }; throw err; });
      if (b.ok) for (const r of b.v) check(r.ids.length === h.value.ids.length && r.ids.every((x, i) => sameId(x, h.value.ids[i]) || Math.abs(r.distances[i] - h.value.distances[i]) < 1e-6), 'searchBatch row differs from search');
      const eb = await exact.searchBatch(qb, q.k as number, { filter: q.filter as never }).then((v) => v, (err) => { if (err instanceof PinrecError || err instanceof Sentinel) return null; throw err; });
      if (eb) for (const r of eb) check(r.ids.length === e.value.ids.length, 'exact searchBatch row length');
    }
    await hnsw.close();
  },
};
