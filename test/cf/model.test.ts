import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Matrix, inverse, SingularValueDecomposition } from 'ml-matrix';
import {
  SvdRecommender, interactionsFromColumns, syntheticInteractions, leaveLastOut, evaluate, type InteractionMatrix,
} from '../../src/cf/index.js';
import { Rng, InvalidParameterError, UnknownIdError, NotFittedError, FileFormatError } from '../../src/core/index.js';

function denseOf(m: InteractionMatrix): Matrix {
  const d = Matrix.zeros(m.nUsers, m.nItems);
  const { indptr, indices, data } = m.csr;
  for (let r = 0; r < m.nUsers; r++) for (let p = indptr[r]; p < indptr[r + 1]; p++) d.set(r, indices[p], data[p]);
  return d;
}

/** A user × pin matrix of exact rank `rank`: every user mixes a few of `rank` sparse pin patterns. */
function lowRankMatrix(users: number, items: number, rank: number, seed: number): InteractionMatrix<string, string> {
  const rng = new Rng(seed);
  const patterns = Array.from({ length: rank }, () => Array.from({ length: items }, () => (rng.next() < 0.35 ? 1 + rng.int(3) : 0)));
  const u: string[] = [], it: string[] = [], w: number[] = [];
  for (let i = 0; i < users; i++) {
    const mix: number[] = patterns.map(() => (rng.next() < 0.6 ? 1 + rng.int(2) : 0));
    if (!mix.some((x) => x > 0)) mix[i % rank] = 1;
    for (let j = 0; j < items; j++) {
      const v = mix.reduce((acc, c, p) => acc + c * patterns[p][j], 0);
      if (v > 0) { u.push(`u${i}`); it.push(`p${j}`); w.push(v); }
    }
  }
  return interactionsFromColumns({ users: u, items: it, weights: w }).toMatrix();
}

describe('SvdRecommender scoring', () => {
  it("'ease' equals exact EASE (dense inverse) when the factors span the data", () => {
    const X = lowRankMatrix(40, 14, 4, 11);
    const lambda = 40;
    const model = new SvdRecommender({ factors: 4, scoring: 'ease', lambda, nIter: 20 }).fit(X);
    const d = denseOf(X);
    const G = d.transpose().mmul(d);
    const P = inverse(G.clone().add(Matrix.eye(G.rows).mul(lambda)));
    const out = new Float32Array(X.nItems);
    for (let u = 0; u < X.nUsers; u++) {
      const { indptr, indices, data } = X.csr;
      const idx = indices.subarray(indptr[u], indptr[u + 1]);
      const val = data.subarray(indptr[u], indptr[u + 1]);
      model.scoreRow(idx, val, out);
      const xP = d.getRowVector(u).mmul(P);
      for (let j = 0; j < X.nItems; j++) {
        if (idx.includes(j)) continue; // EASE scores of seen pins are not used
        const ease = -xP.get(0, j) / P.get(j, j);
        // the model scores weights scaled by c = weightScale, with λ·c²: its scores are λ·c³ times EASE's
        const c = model.weightScale;
        expect(Math.abs(out[j] / (lambda * c ** 3) - ease)).toBeLessThan(2e-4 * Math.max(1, Math.abs(ease)));
      }
    }
  });

  it("'puresvd' equals x·V·Vᵀ with V from a dense SVD", () => {
    const X = syntheticInteractions({ users: 60, items: 30, events: 600, seed: 4 }).toMatrix();
    const k = 5;
    const model = new SvdRecommender({ factors: k, scoring: 'puresvd', nIter: 30 }).fit(X);
    const d = denseOf(X);
    const svd = new SingularValueDecomposition(d);
    const V = svd.rightSingularVectors.subMatrix(0, X.nItems - 1, 0, k - 1);
    const S = d.mmul(V).mmul(V.transpose());
    const out = new Float32Array(X.nItems);
    for (let u = 0; u < X.nUsers; u++) {
      const { indptr, indices, data } = X.csr;
      model.scoreRow(indices.subarray(indptr[u], indptr[u + 1]), data.subarray(indptr[u], indptr[u + 1]), out);
      // scores are computed on weights scaled by c = weightScale: c·x·V·Vᵀ
      for (let j = 0; j < X.nItems; j++) expect(out[j] / model.weightScale).toBeCloseTo(S.get(u, j), 3);
    }
  });

  it('batched scoring equals single-row scoring', () => {
    const X = syntheticInteractions({ users: 200, items: 3000, events: 6000, seed: 8 }).toMatrix();
    for (const scoring of ['ease', 'puresvd'] as const) {
      const model = new SvdRecommender({ factors: 8, scoring }).fit(X);
      const rows = [0, 5, 17, 33, 34, 150].map((u) => ({
        idx: X.csr.indices.subarray(X.csr.indptr[u], X.csr.indptr[u + 1]),
        val: X.csr.data.subarray(X.csr.indptr[u], X.csr.indptr[u + 1]),
      }));
      const batch = new Float32Array(rows.length * X.nItems);
      model.scoreRows(rows, batch);
      const one = new Float32Array(X.nItems);
      rows.forEach((r, i) => {
        model.scoreRow(r.idx, r.val, one);
        for (let j = 0; j < X.nItems; j++) expect(batch[i * X.nItems + j]).toBe(one[j]);
      });
    }
  });
});

describe('SvdRecommender API', () => {
  const log = syntheticInteractions({ users: 300, items: 120, events: 5000, seed: 1 });
  const X = log.toMatrix();
  const model = new SvdRecommender<number, number>({ factors: 10 }).fit(X);
  const seenOf = (u: number) => new Set(Array.from(X.csr.indices.subarray(X.csr.indptr[u], X.csr.indptr[u + 1]), (j) => X.items.id(j)));

  it('recommends unseen pins, best first, in caller ids', () => {
    const user = X.users.id(3);
    const r = model.recommend(user, { n: 15 });
    expect(r.ids).toHaveLength(15);
    const seen = seenOf(3);
    for (const id of r.ids) expect(seen.has(id)).toBe(false);
    for (let i = 1; i < r.scores.length; i++) expect(r.scores[i]).toBeLessThanOrEqual(r.scores[i - 1]);
    const withSeen = model.recommend(user, { n: 120, filterSeen: false });
    expect(withSeen.ids.length).toBe(120);
  });

  it('applies filterItems and allowItems', () => {
    const user = X.users.id(7);
    const base = model.recommend(user, { n: 5 });
    const filtered = model.recommend(user, { n: 5, filterItems: [base.ids[0], base.ids[1]] });
    expect(filtered.ids).not.toContain(base.ids[0]);
    expect(filtered.ids).not.toContain(base.ids[1]);
    const allow = new Set(X.items.ids().slice(0, 10));
    const allowed = model.recommend(user, { n: 50, allowItems: allow });
    for (const id of allowed.ids) expect(allow.has(id)).toBe(true);
    expect(allowed.ids.length).toBeLessThanOrEqual(10);
  });

  it('recommendBatch equals single calls', () => {
    const users = [0, 1, 2, 50, 299].map((u) => X.users.id(u));
    const batch = model.recommendBatch(users, { n: 7 });
    users.forEach((u, i) => expect(batch[i]).toEqual(model.recommend(u, { n: 7 })));
  });

  it('folds in a new user with the same result as a known user with the same interactions', () => {
    const u = 12;
    const { indptr, indices, data } = X.csr;
    const items = Array.from(indices.subarray(indptr[u], indptr[u + 1]), (j) => X.items.id(j));
    const weights = Array.from(data.subarray(indptr[u], indptr[u + 1]));
    // when each pin happened: the order-aware scoring (on by default) ranks the user's pins by it
    const timestamps = Array.from(X.lastEvent!.subarray(indptr[u], indptr[u + 1]));
    const folded = model.recommend({ items, weights, timestamps }, { n: 10 });
    const known = model.recommend(X.users.id(u), { n: 10 });
    expect(folded.ids).toEqual(known.ids);
    for (let i = 0; i < 10; i++) expect(folded.scores[i]).toBeCloseTo(known.scores[i], 4);
    const typed = model.recommend({ items: [items[0], items[1], 99999], types: ['repin', 'click', 'click'] }, { n: 3 });
    expect(typed.ids).toHaveLength(3);
  });

  it('handles unknown users with a typed error or the popularity fallback', () => {
    expect(() => model.recommend(-5)).toThrow(UnknownIdError);
    const pop = model.recommend(-5, { n: 3, fallback: 'popular' });
    const colSums = X.csr.colSums();
    const best = Array.from(colSums.keys()).sort((a, b) => colSums[b] - colSums[a] || a - b).slice(0, 3).map((j) => X.items.id(j));
    expect(pop.ids).toEqual(best);
    expect(() => model.recommend({ items: [] })).toThrow(InvalidParameterError);
  });

  it('finds similar pins, never the pin itself', () => {
    const pin = X.items.id(4);
    const r = model.similarItems(pin, { n: 5 });
    expect(r.ids).toHaveLength(5);
    expect(r.ids).not.toContain(pin);
    // by default: what the model recommends to a user whose only pin is `pin`
    const one = model.recommend({ items: [pin], weights: [1 / model.weightScale] }, { n: 5 });
    expect(r.ids).toEqual(one.ids);
    expect(Array.from(r.scores)).toEqual(Array.from(one.scores));
    const cos = model.similarItems(pin, { n: 5, by: 'cosine' });
    expect(cos.ids).not.toContain(pin);
    for (const s of cos.scores) expect(Math.abs(s)).toBeLessThanOrEqual(1 + 1e-5);
    expect(() => model.similarItems(123456)).toThrow(UnknownIdError);
    // batched, with an allow-list: position i equals the single call
    const pins = [X.items.id(4), X.items.id(7), X.items.id(9)];
    const allow = Array.from({ length: 20 }, (_, j) => X.items.id(j * 2));
    const batch = model.similarItemsBatch(pins, { n: 4, allowItems: allow });
    pins.forEach((p, i) => {
      expect(batch[i]).toEqual(model.similarItems(p, { n: 4, allowItems: allow }));
      for (const id of batch[i].ids) expect(allow).toContain(id);
    });
    const cosBatch = model.similarItemsBatch(pins, { n: 4, allowItems: allow, by: 'cosine' });
    for (const l of cosBatch) for (const id of l.ids) expect(allow).toContain(id);
  });

  it('rejects bad parameters with named errors', () => {
    expect(() => model.recommend(X.users.id(0), { n: 2.5 })).toThrow(/n must be an integer/);
    expect(() => model.recommend(X.users.id(0), { n: 0 })).toThrow(InvalidParameterError);
    expect(() => new SvdRecommender({ factors: 0 })).toThrow(/factors/);
    expect(() => new SvdRecommender({ scoring: 'als' as never })).toThrow(/scoring/);
    expect(() => new SvdRecommender({ lambda: -1 })).toThrow(/lambda/);
    expect(() => new SvdRecommender({ factors: 120 }).fit(X)).toThrow(/factors must be an integer < min\(users, pins\) = 120/);
    expect(() => new SvdRecommender().recommend(1)).toThrow(NotFittedError);
    expect(() => model.recommend({ items: [1, 2], types: ['click', 'hug'] })).toThrow(/user.types\[1\]/);
  });

  it('saves and loads a mirror image; damaged files give FileFormatError', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-cf-'));
    const f = path.join(dir, 'm.pinrec');
    await model.save(f);
    const again = await SvdRecommender.load<number, number>(f);
    for (const u of [0, 9, 100]) expect(again.recommend(X.users.id(u), { n: 10 })).toEqual(model.recommend(X.users.id(u), { n: 10 }));
    expect(again.similarItems(X.items.id(3))).toEqual(model.similarItems(X.items.id(3)));
    const bytes = readFileSync(f);
    writeFileSync(f, bytes.subarray(0, bytes.length >> 1));
    await expect(SvdRecommender.load(f)).rejects.toThrow(FileFormatError);
    const altered = Buffer.from(bytes); altered[bytes.length >> 1] ^= 1;
    writeFileSync(f, altered);
    await expect(SvdRecommender.load(f)).rejects.toThrow(/checksum/);
  });
});

describe('evaluation', () => {
  it('splits leave-last-out by order and by timestamp', () => {
    const log = interactionsFromColumns({
      users: ['a', 'a', 'a', 'b', 'b', 'c'],
      items: ['x', 'y', 'z', 'x', 'y', 'x'],
      timestamps: [3, 1, 2, 5, 9, 1],
    });
    const byTime = leaveLastOut(log, { by: 'timestamp' });
    expect(Array.from(byTime.testUsers)).toEqual([0, 1]);
    expect(Array.from(byTime.testItems).map((j) => log.items.id(j))).toEqual(['x', 'y']);
    expect(byTime.train.nnz).toBe(4); // a:y,z  b:x  c:x
    const byOrder = leaveLastOut(log, { by: 'order' });
    expect(Array.from(byOrder.testItems).map((j) => log.items.id(j))).toEqual(['z', 'y']);
  });

  it('computes HR, NDCG, MRR and coverage exactly on a hand-made scorer', () => {
    const log = interactionsFromColumns({ users: ['a', 'a', 'b', 'b'], items: ['p0', 'p1', 'p0', 'p2'], timestamps: [1, 2, 1, 2] });
    const split = leaveLastOut(log);
    // Fixed scores: p0 .5, p1 .9, p2 .7, p3 .1. User a (seen p0) holds out p1 → rank 0; user b (seen p0) holds out p2 → rank 1 (p1 higher).
    const scorer = { scoreRow: (_i: Int32Array, _v: Float32Array, out: Float32Array) => out.set([0.5, 0.9, 0.7]) };
    const m1 = evaluate(scorer, split, { k: 1 });
    expect(m1.hr).toBe(0.5);
    expect(m1.ndcg).toBe(0.5);
    expect(m1.mrr).toBeCloseTo((1 + 0.5) / 2, 12);
    const m2 = evaluate(scorer, split, { k: 2 });
    expect(m2.hr).toBe(1);
    expect(m2.ndcg).toBeCloseTo((1 + 1 / Math.log2(3)) / 2, 12);
    expect(m2.coverage).toBeCloseTo(2 / 3, 12);
  });

  it('a fitted model beats popularity on seeded structured data', () => {
    const log = syntheticInteractions({ users: 2000, items: 500, events: 40000, seed: 9, clusterAffinity: 0.9 });
    const split = leaveLastOut(log);
    const model = new SvdRecommender({ factors: 24 }).fit(split.train);
    const pop = split.train.csr.colSums();
    const popScorer = { scoreRow: (_i: Int32Array, _v: Float32Array, out: Float32Array) => out.set(pop) };
    const mModel = evaluate(model, split, { k: 10 });
    const mPop = evaluate(popScorer, split, { k: 10 });
    expect(mModel.hr).toBeGreaterThan(mPop.hr * 1.2);
    const sampled = evaluate(model, split, { k: 10, protocol: 'sampled', seed: 1 });
    expect(sampled.hr).toBeGreaterThan(mModel.hr);
  });
});

describe("SvdRecommender lambda: 'auto'", () => {
  it('is scale-free: multiplying every weight leaves the ranking unchanged', () => {
    const log = syntheticInteractions({ users: 400, items: 150, events: 8000, seed: 12 });
    const X = log.toMatrix();
    const scaled = interactionsFromColumns({
      users: Array.from(log.user, (u) => log.users.id(u)), items: Array.from(log.item, (i) => log.items.id(i)),
      weights: Array.from(log.weight, (w) => w * 37),
    }).toMatrix();
    const a = new SvdRecommender<number, number>({ factors: 12 }).fit(X);
    const b = new SvdRecommender<number, number>({ factors: 12 }).fit(scaled);
    expect(b.lambda / a.lambda).toBeCloseTo(37 * 37, 0);
    for (const u of [0, 7, 99]) expect(b.recommend(X.users.id(u), { n: 10 }).ids).toEqual(a.recommend(X.users.id(u), { n: 10 }).ids);
    expect(new SvdRecommender({ factors: 12, scoring: 'puresvd' }).fit(X).lambda).toBe(0);
  });

  it('gives the same answers at any weight scale float32 holds (1e-30 … 1e30), for both scorings', () => {
    const log = syntheticInteractions({ users: 300, items: 120, events: 5000, seed: 13 });
    const users = Array.from(log.user, (u) => log.users.id(u)), items = Array.from(log.item, (i) => log.items.id(i));
    for (const scoring of ['ease', 'puresvd'] as const) {
      const fitAt = (scale: number) => new SvdRecommender<number, number>({ factors: 10, scoring }).fit(
        interactionsFromColumns({ users, items, weights: Array.from(log.weight, (w) => w * scale) }).toMatrix());
      const base = fitAt(1);
      for (const scale of [1e-30, 1e-7, 1e12, 1e15, 1e30]) {
        const m = fitAt(scale);
        for (const u of [0, 5, 77]) {
          const r = m.recommend(u, { n: 10 });
          expect(r.ids).toEqual(base.recommend(u, { n: 10 }).ids);
          expect(Array.from(r.scores).every(Number.isFinite)).toBe(true);
        }
        const folded = m.recommend({ items: [1, 2, 3], weights: [scale, 2 * scale, 3 * scale] }, { n: 5 });
        expect(folded.ids).toEqual(base.recommend({ items: [1, 2, 3], weights: [1, 2, 3] }, { n: 5 }).ids);
      }
    }
    expect(() => interactionsFromColumns({ users: [1], items: [1], weights: [1e39] })).toThrow(/float32/);
  });
});
