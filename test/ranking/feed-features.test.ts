/** The feed hands each source's raw score to the scorer (what a learned ranker's `src_*` features read), and takes a scorer per request. */
import { describe, expect, it } from 'vitest';
import { FeatureExtractor, FeedGenerator, featureColumn, userProfile, type Candidate, type CandidateBatch, type Scorer } from '../../src/ranking/index.js';

/** A scorer that records the batches it sees and scores by one feature column (NaN → −1). */
function spy(column: string): Scorer & { seen: CandidateBatch[] } {
  const seen: CandidateBatch[] = [];
  return {
    name: `spy-${column}`,
    seen,
    score(batch, _signals, out) {
      seen.push(batch);
      const col = batch.features[column];
      for (let i = 0; i < batch.n; i++) out[i] = col && !Number.isNaN(col[i]) ? col[i] : -1;
    },
  };
}

const cf: Candidate<string>[] = [{ id: 'a', similarity: 5 }, { id: 'b', similarity: 3 }, { id: 'c', similarity: 1 }];
const visual: Candidate<string>[] = [{ id: 'c', distance: 0.2 }, { id: 'd', distance: 0.4 }];
const trending: Candidate<string>[] = [{ id: 'e', engagements: 9, impressions: 10 }, { id: 'a', engagements: 1, impressions: 10 }];
const sources = [
  { name: 'cf', fetch: () => cf },
  { name: 'visual', fetch: () => visual },
  { name: 'trending', fetch: () => trending },
];

describe('FeedGenerator source scores', () => {
  it('puts each source\'s raw score on the merged candidates, NaN where it did not propose the pin', async () => {
    const s = spy('cf');
    const out = await new FeedGenerator<string, string>({ sources, scorer: s, diversity: false }).generate('u');
    const b = s.seen[0];
    const ids = b.ids as string[];
    const col = (name: string) => ids.map((id, i) => [id, b.features[name][i]]);
    expect(ids).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(col('cf')).toEqual([['a', 5], ['b', 3], ['c', 1], ['d', NaN], ['e', NaN]]);
    expect(col('visual')).toEqual([['a', NaN], ['b', NaN], ['c', -0.2], ['d', -0.4], ['e', NaN]]);
    expect(col('trending')).toEqual([['a', -1], ['b', NaN], ['c', NaN], ['d', NaN], ['e', -0]]); // list order when a source gives no score
    expect(out.items.map((it) => it.id)).toEqual(['a', 'b', 'c', 'd', 'e']); // scored by the raw cf column, NaN → −1, ties by id
  });

  it('feeds the learned-ranker features: src_<name>_* present exactly where the source proposed the pin', async () => {
    const s = spy('cf');
    await new FeedGenerator<string, string>({ sources, scorer: s, diversity: false }).generate('u');
    const m = new FeatureExtractor({ sources: ['cf', 'visual', 'trending'] }).extract(s.seen[0], userProfile(['a']));
    expect(Array.from(featureColumn(m, 'src_cf_missing'))).toEqual([0, 0, 0, 1, 1]);
    expect(Array.from(featureColumn(m, 'src_visual_missing'))).toEqual([1, 1, 0, 0, 1]);
    expect(Array.from(featureColumn(m, 'src_trending_missing'))).toEqual([0, 1, 1, 1, 0]);
    expect(Array.from(featureColumn(m, 'src_cf_score'))).toEqual([1, 0.5, 0, 0, 0]); // min–max over present rows
    expect(Array.from(featureColumn(m, 'src_visual_rank'))).toEqual([1, 1, 0, Math.fround(1 / Math.log2(3)), 1]); // c is visual's best; d is rank 1 of m = 2: log2(2)/log2(3)
    expect(featureColumn(m, 'src_trending_rank')[4]).toBe(0); // e is trending's first
  });

  it('lets a candidate\'s own features[name] win, and can be switched off', async () => {
    const own = [{ name: 'cf', fetch: () => [{ id: 'a', similarity: 5, features: { cf: 42 } }, { id: 'b', similarity: 3 }] }];
    const s = spy('cf');
    await new FeedGenerator<string, string>({ sources: own, scorer: s }).generate('u');
    expect(Array.from(s.seen[0].features.cf)).toEqual([42, 3]);
    const off = spy('cf');
    await new FeedGenerator<string, string>({ sources, scorer: off, sourceScores: false }).generate('u');
    expect(off.seen[0].features.cf).toBeUndefined();
    expect(() => new FeedGenerator<string, string>({ sources, sourceScores: 1 as unknown as boolean })).toThrow(/sourceScores/);
  });

  it('takes a scorer per request in place of the generator\'s; the caps still apply after it', async () => {
    const base = spy('cf');
    const feed = new FeedGenerator<string, string>({ sources, scorer: base, diversity: false });
    const v = spy('visual');
    const out = await feed.generate('u', { scorer: v });
    expect(base.seen.length).toBe(0);
    expect(v.seen.length).toBe(1);
    expect(out.items.slice(0, 2).map((it) => it.id)).toEqual(['c', 'd']);
    await expect(feed.generate('u', { scorer: {} as Scorer })).rejects.toThrow(/scorer/);
    const capped = await new FeedGenerator<string, string>({
      sources: [{ name: 'cf', fetch: () => cf.map((c) => ({ ...c, category: 'same' })).concat([{ id: 'z', similarity: 0, category: 'other' }]) }],
      diversity: { freePrefix: 1, categoryCap: 0.5 },
    }).generate('u', { scorer: spy('cf') });
    expect(capped.items.map((it) => it.id).slice(0, 2)).toEqual(['a', 'z']); // the cap moved 'z' up past b and c
  });
});
