/** The learned ranker: features (exact, indicators, no NaN), training (seeded, learns a planted signal), the Scorer wired into rerank and the feed, save/load. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { NotFittedError } from '../../src/core/errors.js';
import { selectWithCaps } from '../../src/diversity/caps.js';
import {
  FeatureExtractor, FeatureSchemaError, FeedGenerator, LearnedRanker, TrainingSetBuilder, featureColumn, groupNdcg, rerank, toBatch,
  userProfile, type Candidate, type RankingExamples,
} from '../../src/ranking/index.js';

const hasTf = await import('@tensorflow/tfjs-core').then(() => true, () => false);
const tmp = mkdtempSync(path.join(tmpdir(), 'pinrec-learned-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('FeatureExtractor', () => {
  const fx = new FeatureExtractor({ sources: ['cf', 'trending'], recent: 2 });
  const cats = new Map([['h1', 'decor'], ['h2', 'food'], ['h3', 'decor']]);
  const creators = new Map([['h1', 'ann'], ['h2', 'bob'], ['h3', 'bob']]);
  const profile = userProfile(['h1', 'h2', 'h3'], { categoryOf: (p) => cats.get(p), creatorOf: (p) => creators.get(p) });
  const emb = new Map<string, Float32Array>([
    ['h2', Float32Array.of(1, 0)], ['h3', Float32Array.of(0, 1)],
    ['a', Float32Array.of(0, 2)], ['b', Float32Array.of(3, 4)],
  ]);
  // Monday 2024-01-01 06:00 UTC
  const now = Date.UTC(2024, 0, 1, 6);
  const cands: Candidate<string>[] = [
    { id: 'a', similarity: 0.5, engagements: 2, impressions: 100, quality: 0.9, category: 'decor', creator: 'bob', features: { cf: 3, createdAt: now - 9 * 86_400_000 } },
    { id: 'b', distance: 0.25, engagementRate: 0.1, category: 'food', features: { cf: 1, trending: 7 } },
    { id: 'c' },
  ];
  const m = fx.extract(toBatch(cands), profile, { now, embedding: (id) => emb.get(id) });
  const col = (name: string) => Array.from(featureColumn(m, name));

  it('names its columns: three per source, then the fixed ones', () => {
    expect(m.names.slice(0, 6)).toEqual(['src_cf_score', 'src_cf_rank', 'src_cf_missing', 'src_trending_score', 'src_trending_rank', 'src_trending_missing']);
    expect(m.names).toContain('recent_sim_max');
    expect(m.d).toBe(m.names.length);
    expect(m.data.length).toBe(3 * m.d);
  });

  it('computes source scores, ranks and indicators exactly', () => {
    expect(col('src_cf_score')).toEqual([1, 0, 0]);
    expect(col('src_cf_rank')).toEqual([0, Math.fround(1 / Math.log2(3)), 1]); // rank r of m = 2: log2(1 + r) / log2(3)
    expect(col('src_cf_missing')).toEqual([0, 0, 1]);
    expect(col('src_trending_score')).toEqual([0, 1, 0]);
    expect(col('src_trending_rank')).toEqual([1, 0, 1]);
    expect(col('src_trending_missing')).toEqual([1, 0, 1]);
  });

  it('computes signal, group, similarity, quality and time features exactly', () => {
    const close = (name: string, want: number[]) => col(name).forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    close('similarity', [0.5, 0.75, 0]);
    expect(col('similarity_missing')).toEqual([0, 0, 1]);
    close('popularity', [Math.log1p(2), 0, 0]);
    close('engagement_rate', [(2 + 2) / (100 + 100), 0.1, 0.02]);
    expect(col('engagement_missing')).toEqual([0, 0, 1]);
    close('age_days', [Math.log1p(9), 0, 0]);
    expect(col('age_missing')).toEqual([0, 1, 1]);
    close('category_affinity', [2 / 3, 1 / 3, 0]);
    expect(col('category_last')).toEqual([1, 0, 0]);
    close('creator_affinity', [2 / 3, 0, 0]);
    expect(col('creator_last')).toEqual([1, 0, 0]);
    expect(col('group_missing')).toEqual([0, 0, 1]);
    // recent = h2 (1,0) and h3 (0,1); a = (0,1); b = (0.6, 0.8)
    close('recent_sim_max', [1, 0.8, 0]);
    close('recent_sim_mean', [0.5, 0.7, 0]);
    close('recent_sim_last', [1, 0.8, 0]);
    expect(col('recent_sim_missing')).toEqual([0, 0, 1]);
    close('quality', [0.9, 0.5, 0.5]);
    expect(col('quality_missing')).toEqual([0, 1, 1]);
    close('hour_sin', [1, 1, 1]);
    close('hour_cos', [0, 0, 0]);
    const w = (1 + 0.25) / 7;
    close('dow_sin', [Math.sin(2 * Math.PI * w), Math.sin(2 * Math.PI * w), Math.sin(2 * Math.PI * w)]);
    expect(col('time_missing')).toEqual([0, 0, 0]);
  });

  it('ranks as log2(1 + r) / log2(1 + m) with ties sharing the better rank', () => {
    const t = fx.extract(toBatch([1, 2, 3, 4].map((id, i) => ({ id, features: { cf: [5, 5, 2, 1][i] } }))));
    const r = Array.from(featureColumn(t, 'src_cf_rank'));
    const L = Math.log2(5);
    [0, 0, Math.log2(3) / L, Math.log2(4) / L].forEach((v, i) => expect(r[i]).toBeCloseTo(v, 6));
  });

  it('never lets NaN through: no user, no context, nothing on the rows', () => {
    const e = fx.extract(toBatch([{ id: 1 }, { id: 2, features: { cf: Number.NaN, createdAt: Number.NaN } }]));
    expect(e.data.every(Number.isFinite)).toBe(true);
    expect(Array.from(featureColumn(e, 'time_missing'))).toEqual([1, 1]);
    expect(Array.from(featureColumn(e, 'src_cf_missing'))).toEqual([1, 1]);
    expect(fx.extract(toBatch([])).data.length).toBe(0);
  });
});

/** Synthetic queries: 30 candidates; the engaged one is the candidate of highest quality (cf is noise). */
function planted(queries: number, seed: number, fx: FeatureExtractor): { examples: RankingExamples; batches: Candidate<number>[][] } {
  const rng = new Rng(seed);
  const b = new TrainingSetBuilder({ negatives: 10, seed });
  const batches: Candidate<number>[][] = [];
  for (let q = 0; q < queries; q++) {
    const list: Candidate<number>[] = Array.from({ length: 30 }, (_, i) => ({
      id: q * 100 + i, quality: rng.next(), features: { cf: rng.normal() }, category: `c${i % 3}`, creator: `k${i % 5}`,
    }));
    let best = 0;
    list.forEach((c, i) => { if (c.quality! > list[best].quality!) best = i; });
    batches.push(list);
    b.add(fx.extract(toBatch(list)), (row) => row === best);
  }
  return { examples: b.build(), batches };
}

describe.skipIf(!hasTf)('LearnedRanker (needs @tensorflow/tfjs-core: install it to run)', () => {
  const fx = new FeatureExtractor({ sources: ['cf'] });
  const opts = { extractor: fx, hidden: [16, 8], epochs: 12, batchSize: 128, learningRate: 0.01, seed: 7 };
  const train = planted(300, 1, fx);
  const test = planted(100, 2, fx);
  let ranker: LearnedRanker;

  it.each(['logistic', 'softmax'] as const)('learns a planted signal and ranks it first in importance (loss %s)', async (loss) => {
    const r = new LearnedRanker({ ...opts, loss });
    const rep = await r.fit(train.examples);
    expect(rep.bestEpoch).toBeGreaterThan(0);
    const ndcg = groupNdcg(r.predict(test.examples.features), test.examples.labels, test.examples.groups);
    expect(ndcg).toBeGreaterThan(0.85); // random order of 11 rows gives ≈ 0.39
    const imp = r.permutationImportance(test.examples, { seed: 1 });
    expect(imp[0].feature).toBe('quality');
    expect(imp.find((x) => x.feature === 'src_cf_score')!.importance).toBeLessThan(imp[0].importance / 3);
    if (loss === 'softmax') ranker = r;
  });

  it('is deterministic with a seed', async () => {
    const again = new LearnedRanker(opts);
    await again.fit(train.examples);
    expect(Array.from(again.predict(test.examples.features))).toEqual(Array.from(ranker.predict(test.examples.features)));
    const other = new LearnedRanker({ ...opts, seed: 8 });
    await other.fit(train.examples);
    expect(Array.from(other.predict(test.examples.features))).not.toEqual(Array.from(ranker.predict(test.examples.features)));
  });

  it('is a Scorer for rerank: learned order, then the caps', () => {
    const cands = test.batches[0];
    const caps = { freePrefix: 3, categoryCap: 0.4, creatorCap: 0.4 };
    const res = rerank(cands, { scorer: ranker, limit: 12, diversity: caps });
    expect(res.scorer).toBe('learned');
    const scores = ranker.predict(fx.extract(toBatch(cands)));
    const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || cands[a].id - cands[b].id);
    const want = selectWithCaps(order, cands.map((c) => c.category!), cands.map((c) => c.creator!), { ...caps, limit: 12 });
    expect(res.items.map((it) => it.index)).toEqual(want.selected);
    expect(res.items.map((it) => it.score)).toEqual(want.selected.map((i) => scores[i]));
    expect(res.skipped.length).toBeGreaterThan(0); // the caps held some back
    const plain = rerank(cands, { scorer: ranker, limit: 12, diversity: false });
    expect(plain.items.map((it) => it.index)).toEqual(order.slice(0, 12));
  });

  it('serves a feed through forUser with the caps still applied', async () => {
    const cands = test.batches[1];
    const source = { name: 'cf', fetch: () => cands };
    const profile = userProfile([cands[0].id], { categoryOf: () => 'c0', creatorOf: () => 'k0' });
    const scorer = ranker.forUser(profile, { now: Date.UTC(2024, 5, 1) });
    const feed = new FeedGenerator<string, number>({ sources: [source], scorer, limit: 10, diversity: { freePrefix: 2, categoryCap: 0.4, creatorCap: 0.4 } });
    const out = await feed.generate('u');
    expect(out.items.length).toBeGreaterThan(0);
    for (let p = 2; p < out.items.length; p++) {
      const placed = out.items.slice(0, p);
      const share = placed.filter((x) => x.category === out.items[p].category).length / p;
      expect(share).toBeLessThanOrEqual(0.4 + 1e-9);
    }
  });

  it('saves and loads: same scores; another schema is a FeatureSchemaError', async () => {
    const file = path.join(tmp, 'ranker.pinrec');
    await ranker.save(file);
    const back = await LearnedRanker.load(file);
    expect(back.schema).toEqual(ranker.schema);
    expect(Array.from(back.predict(test.examples.features))).toEqual(Array.from(ranker.predict(test.examples.features)));
    const err = await LearnedRanker.load(file, { extractor: new FeatureExtractor({ sources: ['cf', 'visual'] }) }).catch((e) => e);
    expect(err).toBeInstanceOf(FeatureSchemaError);
    expect((err as FeatureSchemaError).extra).toEqual(['src_visual_score', 'src_visual_rank', 'src_visual_missing']);
    expect(() => back.predict(new FeatureExtractor({ sources: ['trending'] }).extract(toBatch([{ id: 1 }])))).toThrow(FeatureSchemaError);
  });

  it('refuses to score before fit', () => {
    expect(() => new LearnedRanker({ extractor: fx }).predict(fx.extract(toBatch([{ id: 1 }])))).toThrow(NotFittedError);
  });
});
