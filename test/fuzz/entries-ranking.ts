/** Entry points: rerank / toBatch / selectRanked, the diversity caps, and FeedGenerator.generate. */
import fc from 'fast-check';
import { FeedGenerator, rerank, scoreCandidates, selectRanked, toBatch } from '../../src/ranking/index.js';
import { applyCaps, checkCaps, selectWithCaps } from '../../src/diversity/index.js';
import { PinrecError } from '../../src/core/errors.js';
import { countOption, edgeNumber, garbage, jsonProtoObject, sameId } from './arbitraries.js';
import { type EntryPoint, Sentinel, WrongAnswer, check } from './harness.js';
import { KNOWN_BUGS } from './known.js';

const candId = fc.oneof({ weight: 10, arbitrary: fc.oneof(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 15 }).map((i) => `c${i}`), fc.bigInt({ min: 0n, max: 5n }), fc.constant('__proto__')) }, { weight: 1, arbitrary: garbage });
const groupKey = fc.constantFrom<unknown>('a', 'b', 'c', 1, 2n, null, undefined, '__proto__', 'toString', NaN, '');
const unit = fc.oneof({ weight: 8, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) }, { weight: 1, arbitrary: edgeNumber }, { weight: 1, arbitrary: fc.constantFrom<unknown>(null, undefined, '0.5', 1n) });

const candidate = (quick: boolean) => fc.record({
  id: candId,
  similarity: fc.oneof({ weight: 6, arbitrary: fc.double({ min: -1, max: 1, noNaN: true }) }, { weight: 1, arbitrary: edgeNumber }, { weight: 1, arbitrary: fc.constantFrom<unknown>(null, undefined, 'x') }),
  distance: fc.option(fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), edgeNumber), { nil: undefined, freq: 2 }),
  counts: fc.option(fc.tuple(fc.oneof(fc.integer({ min: 0, max: 100 }), edgeNumber), fc.oneof(fc.integer({ min: 0, max: 1000 }), edgeNumber)), { nil: undefined }),
  engagementRate: fc.option(unit, { nil: undefined, freq: 3 }),
  quality: fc.option(unit, { nil: undefined }),
  category: groupKey, creator: groupKey,
  features: fc.option(fc.oneof(jsonProtoObject, fc.dictionary(fc.constantFrom('x', 'y', '__proto__', 'toString'), fc.oneof(edgeNumber, fc.constantFrom<unknown>(...(quick && KNOWN_BUGS.bigintFeature ? [] : [1n]), 'str', null))) ), { nil: undefined }),
}).map(({ counts, ...c }) => {
  const o: Record<string, unknown> = { ...c };
  if (counts) { o.engagements = counts[0]; o.impressions = counts[1]; }
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
});

const capsOptions = fc.oneof(
  { weight: 6, arbitrary: fc.record({
    freePrefix: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom<unknown>(-1, 1.5)),
    categoryCap: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom<unknown>(0, 1, 0.3, 2, NaN)),
    creatorCap: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom<unknown>(0, 1, 0.2, -1)),
    limit: countOption(20),
    onExhausted: fc.constantFrom<unknown>('stop', 'relax', 'bogus'),
  }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, null, 5, 'x') },
);

interface RankCase { cands: unknown[]; asColumns: boolean; limit: unknown; diversity: unknown; weights: unknown; metric: unknown }

export const rankingEntry: EntryPoint<RankCase> = {
  name: 'ranking.rerank+toBatch+selectRanked',
  quickRuns: 300,
  arb: (quick) => fc.record({
    cands: fc.array(fc.oneof({ weight: 30, arbitrary: candidate(quick) }, { weight: 1, arbitrary: garbage }), { maxLength: 30 }),
    asColumns: fc.boolean(),
    limit: countOption(25),
    diversity: fc.oneof(fc.constant(false), capsOptions),
    weights: fc.option(fc.oneof(fc.record({ similarity: edgeNumber, engagement: edgeNumber, quality: edgeNumber }), fc.record({ similarity: fc.double({ min: 0, max: 1, noNaN: true }), engagement: fc.double({ min: 0, max: 1, noNaN: true }), quality: fc.double({ min: 0, max: 1, noNaN: true }) })), { nil: undefined }),
    metric: fc.constantFrom<unknown>(undefined, 'cosine', 'ip', 'l2', 'bogus'),
  }),
  run(c) {
    let input: unknown = c.cands;
    if (c.asColumns && c.cands.every((x) => typeof x === 'object' && x !== null)) {
      const objs = c.cands as Record<string, unknown>[];
      const col: Record<string, unknown> = { ids: objs.map((o) => o.id) };
      for (const f of ['similarity', 'quality', 'category', 'creator']) if (objs.length && objs.every((o) => o[f] != null)) col[f] = objs.map((o) => o[f]);
      input = col;
    }
    const options = { limit: c.limit, diversity: c.diversity, weights: c.weights, metric: c.metric } as never;
    let res;
    try {
      const batch = toBatch(input as never);
      check(batch.n === (input as { ids?: unknown[] }).ids?.length || batch.n === (input as unknown[]).length, 'toBatch n');
      res = rerank(input as never, options);
    } catch (e) { if (e instanceof PinrecError) return; throw e; }
    const ids = Array.isArray(input) ? (input as { id: unknown }[]).map((x) => x.id) : ((input as { ids: unknown[] }).ids);
    const n = ids.length;
    const limit = c.limit ?? (c.diversity ? (c.diversity as { limit?: number }).limit : undefined) ?? 100;
    check(res.items.length <= (limit as number), `${res.items.length} items > limit ${String(limit)}`);
    const seen = new Set<unknown>();
    for (const it of res.items) {
      check(Number.isInteger(it.index) && it.index >= 0 && it.index < n, `index ${it.index} out of range`);
      check(sameId(ids[it.index], it.id), 'item id differs from its row');
      check(!seen.has(it.id), () => `duplicate id ${String(it.id)}`);
      seen.add(it.id);
      check(Number.isFinite(it.score), `non-finite score ${it.score}`);
    }
    const head = res.items.slice(0, res.items.length - res.relaxed);
    for (let i = 1; i < head.length; i++) check(head[i].score <= head[i - 1].score, () => `not sorted at ${i}`);
    const tail = res.items.slice(head.length);
    for (let i = 1; i < tail.length; i++) check(tail[i].score <= tail[i - 1].score, 'relaxed fill not sorted');
    if (c.diversity !== false) check(checkCaps(head, { ...(c.diversity as object ?? {}), limit: Math.max(1, head.length) }) === null, 'caps violated');
    if (!res.exhausted) check(res.items.length === limit, 'not exhausted but short');
    for (const s of res.skipped) check(Number.isInteger(s.index) && s.index >= 0 && s.index < n, 'skipped index out of range');
    if (c.diversity === false) {
      const distinct = new Set(ids).size;
      check(res.items.length === Math.min(limit as number, distinct), () => `plain top-k gave ${res.items.length} of min(${String(limit)}, ${distinct})`);
    }
    const again = selectRanked(scoreCandidates(input as never, options), limit as number, c.diversity as never);
    check(again.items.length === res.items.length && again.items.every((x, i) => x.index === res.items[i].index), 'selectRanked != rerank');
  },
};

// ---------------------------------------------------------------------------------------------------------

interface CapsCase { items: unknown[]; options: unknown; list: unknown }
function refCheck(list: { category?: unknown; creator?: unknown }[], o: { freePrefix: number; categoryCap: number; creatorCap: number }): number {
  const cc = new Map(), rc = new Map();
  for (let p = 0; p < list.length; p++) {
    const cat = list[p].category, cre = list[p].creator;
    const a = cat == null ? 0 : cc.get(cat) ?? 0, b = cre == null ? 0 : rc.get(cre) ?? 0;
    if (p >= o.freePrefix && p > 0 && (a / p > o.categoryCap || b / p > o.creatorCap)) return p;
    if (cat != null) cc.set(cat, a + 1);
    if (cre != null) rc.set(cre, b + 1);
  }
  return -1;
}

export const capsEntry: EntryPoint<CapsCase> = {
  name: 'diversity.applyCaps+checkCaps+selectWithCaps',
  quickRuns: 400,
  arb: (quick) => fc.record({
    items: fc.array(fc.oneof({ weight: 20, arbitrary: fc.record({ category: groupKey, creator: groupKey }, { requiredKeys: [] }) }, { weight: 1, arbitrary: jsonProtoObject }, { weight: quick && KNOWN_BUGS.checkCapsNullItem ? 0 : 1, arbitrary: fc.constantFrom<unknown>(null, undefined, 5) }), { maxLength: 40 }),
    options: capsOptions,
    list: fc.oneof({ weight: 10, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 'abc', 5, {}) }),
  }),
  run(c) {
    const items = c.list === undefined ? c.items : c.list;
    let res;
    try { res = applyCaps(items as never, c.options as never); } catch (e) { if (e instanceof PinrecError) return; throw e; }
    const list = items as unknown[];
    const o = { freePrefix: 20, categoryCap: 0.3, creatorCap: 0.2, limit: 100, onExhausted: 'stop', ...(c.options as object) } as { freePrefix: number; categoryCap: number; creatorCap: number; limit: number; onExhausted: string };
    for (const k of ['freePrefix', 'categoryCap', 'creatorCap', 'limit', 'onExhausted'] as const) if ((o as Record<string, unknown>)[k] === undefined) delete (o as Record<string, unknown>)[k];
    check(res.items.length <= (o.limit ?? 100), 'applyCaps longer than limit');
    const head = res.items.slice(0, res.items.length - res.relaxed) as { category?: unknown }[];
    check(refCheck(head.map((x) => x ?? {}), { freePrefix: o.freePrefix ?? 20, categoryCap: o.categoryCap ?? 0.3, creatorCap: o.creatorCap ?? 0.2 }) === -1, 'applyCaps output breaks the caps');
    if ((o.onExhausted ?? 'stop') === 'stop') check(res.relaxed === 0, 'relaxed under stop');
    const sel = selectWithCaps(list.map((_, i) => i), list.map((x) => (x as { category?: unknown } | null)?.category as never), list.map((x) => (x as { creator?: unknown } | null)?.creator as never), c.options as never);
    check(sel.selected.length === res.items.length && sel.selected.every((i, r) => list[i] === res.items[r]), 'selectWithCaps != applyCaps');
    check(new Set(sel.selected).size === sel.selected.length, 'selectWithCaps selected an index twice');
    for (const i of sel.selected) check(Number.isInteger(i) && i >= 0 && i < list.length, 'selected index out of range');
    for (const s of res.skipped) check(s.index >= 0 && s.index < list.length && s.position >= (o.freePrefix ?? 20), 'skipped entry invalid');
    // checkCaps on the raw input agrees with a reference implementation
    const inLimit = list.slice(0, o.limit ?? 100);
    const v = checkCaps(inLimit as never, c.options as never);
    const ref = refCheck(inLimit.map((x) => (x ?? {}) as object), { freePrefix: o.freePrefix ?? 20, categoryCap: o.categoryCap ?? 0.3, creatorCap: o.creatorCap ?? 0.2 });
    check((v === null ? -1 : v.position) === ref, () => `checkCaps says ${v === null ? 'ok' : v.position}, reference ${ref}`);
  },
};

// ---------------------------------------------------------------------------------------------------------

type SourceKind = 'sync' | 'async' | 'throw' | 'reject' | 'hang' | 'garbage' | 'huge' | 'throwTypeError';
interface FeedCase {
  sources: { name: string; kind: SourceKind; cands: unknown[]; garbage: unknown; timeoutMs?: number; calibration?: unknown }[];
  meta: { kind: 'none' | 'ok' | 'short' | 'throw' | 'async' | 'garbage' | 'hang'; values: unknown[] };
  limit: unknown; exclude: unknown; timeoutMs: number; diversity: unknown;
}
const metaValue = fc.oneof(fc.constant(undefined), fc.record({ category: groupKey, creator: groupKey, quality: unit, engagements: fc.oneof(fc.integer({ min: 0, max: 50 }), edgeNumber), impressions: fc.oneof(fc.integer({ min: 0, max: 50 }), edgeNumber), engagementRate: unit }, { requiredKeys: [] }), garbage, jsonProtoObject);

export const feedEntry: EntryPoint<FeedCase> = {
  name: 'ranking.FeedGenerator.generate',
  quickRuns: 150,
  arb: (quick) => fc.record({
    sources: fc.array(fc.record({
      name: fc.constantFrom('cf', 'visual', 'trend', '__proto__', 'toString'),
      kind: fc.constantFrom<SourceKind>('sync', 'async', 'sync', 'async', 'throw', 'reject', 'hang', 'garbage', 'huge', 'throwTypeError'),
      cands: fc.array(fc.oneof({ weight: 20, arbitrary: candidate(quick) }, { weight: 1, arbitrary: garbage }), { maxLength: 15 }),
      garbage: fc.constantFrom<unknown>(null, undefined, 5, 'str', { length: 3 }, [null], [{ id: NaN }], new Set([1]), Promise.resolve(7)),
      timeoutMs: fc.option(fc.constantFrom(0, 1, 5, 20), { nil: undefined }),
      calibration: fc.option(fc.constantFrom<unknown>('rank', 'none', 'bogus'), { nil: undefined, freq: 4 }),
    }, { requiredKeys: ['name', 'kind', 'cands', 'garbage'] }), { minLength: 1, maxLength: 4 }),
    meta: fc.record({ kind: fc.constantFrom('none' as const, 'ok' as const, 'ok' as const, 'short' as const, 'throw' as const, 'async' as const, 'garbage' as const, 'hang' as const), values: fc.array(metaValue, { maxLength: 40 }) }),
    limit: countOption(30), exclude: fc.option(fc.array(candId, { maxLength: 4 }), { nil: undefined }),
    timeoutMs: fc.constantFrom(2, 5, 10), diversity: fc.oneof(fc.constant(undefined), fc.constant(false), capsOptions),
  }),
  async run(c) {
    const sources = c.sources.map((s) => ({
      name: s.name, ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}), ...(s.calibration !== undefined ? { calibration: s.calibration } : {}),
      fetch: (): unknown => {
        switch (s.kind) {
          case 'sync': return s.cands;
          case 'async': return new Promise((r) => setTimeout(() => r(s.cands), 1));
          case 'throw': throw new Sentinel('source threw');
          case 'throwTypeError': return (null as unknown as { x: () => void }).x();
          case 'reject': return Promise.reject(new Sentinel('source rejected'));
          case 'hang': return new Promise(() => undefined);
          case 'garbage': return s.garbage;
          case 'huge': return Array.from({ length: 5000 }, (_, i) => ({ id: i, similarity: (i % 97) / 97, category: i % 3 }));
        }
      },
    }));
    const meta = c.meta.kind === 'none' ? undefined : {
      get: (ids: readonly unknown[]): unknown => {
        const vals = ids.map((_, i) => c.meta.values[i % Math.max(1, c.meta.values.length)]);
        switch (c.meta.kind) {
          case 'ok': return vals;
          case 'short': return vals.slice(1);
          case 'throw': throw new Sentinel('metadata threw');
          case 'async': return Promise.resolve(vals);
          case 'garbage': return 'nope';
          case 'hang': return new Promise(() => undefined);
        }
      },
    };
    let feed: FeedGenerator;
    try { feed = new FeedGenerator({ sources: sources as never, metadata: meta as never, timeoutMs: c.timeoutMs, diversity: c.diversity as never }); }
    catch (e) { if (e instanceof PinrecError) return; throw e; }
    let res;
    try { res = await feed.generate('user', { limit: c.limit as number, exclude: c.exclude as never }); }
    catch (e) {
      if (e instanceof PinrecError && (e as { parameter?: string }).parameter === 'limit') return; // a bad generate option is the caller's error
      throw new WrongAnswer(`generate rejected: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    }
    check(res.sources.length === sources.length && res.sources.every((r, i) => r.name === sources[i].name), 'one report per source, in order');
    for (const r of res.sources) check(['ok', 'empty', 'failed', 'timeout'].includes(r.status), `status ${r.status}`);
    for (let i = 0; i < sources.length; i++) {
      const k = c.sources[i].kind, st = res.sources[i].status;
      if (k === 'throw' || k === 'reject' || k === 'throwTypeError' || k === 'garbage') check(st === 'failed' || st === 'timeout' || (k === 'garbage' && st !== 'ok'), () => `source ${k} reported ${st}`);
      if (k === 'hang') check(st === 'timeout', `hanging source reported ${st}`);
    }
    const limit = (c.limit ?? 100) as number;
    check(res.items.length <= limit, 'feed longer than limit');
    const ex = new Set<unknown>((c.exclude ?? []) as unknown[]);
    const seen = new Set<unknown>();
    for (const it of res.items) {
      check(!seen.has(it.id), 'duplicate feed item'); seen.add(it.id);
      check(!ex.has(it.id), 'excluded pin in the feed');
      check(Number.isFinite(it.score), 'non-finite feed score');
      check(it.sources.length > 0 && it.sources.every((s) => sources.some((x) => x.name === s)), 'item sources');
    }
  },
};
