/** The one top-k selector (core/topk.ts): TopKHeap, BestFirstHeap and topK. */
import { describe, expect, it } from 'vitest';
import { BestFirstHeap, TopKHeap, topK, type TieBreak } from '../../src/core/topk.js';
import { Rng } from '../../src/core/rng.js';

/** Reference: every non-NaN entry sorted by the ranking order, first k. */
function reference(values: ArrayLike<number>, k: number, direction: 'max' | 'min', tie?: TieBreak): number[] {
  const sign = direction === 'max' ? -1 : 1;
  return Array.from({ length: values.length }, (_, i) => i)
    .filter((i) => !Number.isNaN(values[i]))
    .sort((a, b) => (values[a] === values[b] ? (tie?.(a, b) || a - b) : sign * (values[a] < values[b] ? -1 : 1)))
    .slice(0, Math.max(0, k));
}

function randomValues(rng: Rng, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => {
    const u = rng.next();
    if (u < 0.05) return Number.NaN;
    if (u < 0.1) return -Infinity;
    if (u < 0.15) return Infinity;
    if (u < 0.2) return -0;
    return Math.round(rng.next() * 20) - 10; // many ties
  });
}

describe('TopKHeap', () => {
  it('keeps the k largest by default, ties to the lower index, best first', () => {
    const h = new TopKHeap(3);
    [5, 7, 5, 7, 1].forEach((v, i) => h.push(v, i));
    expect(h.size).toBe(3);
    expect(Array.from(h.indices())).toEqual([1, 3, 0]);
    expect(Array.from(h.entries().values)).toEqual([7, 7, 5]);
  });

  it("keeps the k smallest with direction 'min'", () => {
    const h = new TopKHeap(2, { direction: 'min' });
    [0.5, 0.1, 0.5, 0.9].forEach((v, i) => h.push(v, i));
    expect(h.entries()).toEqual({ indices: Int32Array.of(1, 0), values: Float64Array.of(0.1, 0.5) });
  });

  it('breaks ties with the comparator, then by index', () => {
    const ids = ['b', 'a', 'b', 'a'];
    const tie: TieBreak = (a, b) => (ids[a] < ids[b] ? -1 : ids[a] > ids[b] ? 1 : 0);
    const h = new TopKHeap(3, { tie });
    [1, 1, 1, 1].forEach((v, i) => h.push(v, i));
    expect(Array.from(h.indices())).toEqual([1, 3, 0]);
  });

  it('handles k = 0, k > n, NaN and the bound', () => {
    const none = new TopKHeap(0);
    expect(none.push(1, 0)).toBe(false);
    expect(none.indices().length).toBe(0);
    expect(none.bound).toBe(Infinity);
    const h = new TopKHeap(5, { direction: 'min' });
    expect(h.bound).toBe(Infinity);
    expect(h.push(Number.NaN, 0)).toBe(false);
    h.push(3, 1); h.push(Infinity, 2);
    expect(Array.from(h.indices())).toEqual([1, 2]); // k > n: everything pushed (but NaN)
    const full = new TopKHeap(1);
    full.push(2, 0);
    expect(full.bound).toBe(2);
    expect(full.push(2, 1)).toBe(false); // equal value, higher index
    expect(full.push(3, 1)).toBe(true);
    full.clear();
    expect(full.size).toBe(0);
  });

  it('returns values bit-identical to what was pushed (-0 included)', () => {
    const h = new TopKHeap(2);
    h.push(-0, 0); h.push(0, 1);
    const { values } = h.entries();
    expect(Object.is(values[0], -0)).toBe(true); // -0 and 0 tie: lower index first
    expect(Object.is(values[1], 0)).toBe(true);
    const m = new TopKHeap(1, { direction: 'min' });
    m.push(-0, 0);
    expect(Object.is(m.entries().values[0], -0)).toBe(true);
  });

  it('property: equals a full sort in both directions, with and without a tie-break (seeded)', () => {
    const rng = new Rng(11);
    for (let t = 0; t < 300; t++) {
      const n = rng.int(250);
      const k = rng.int(40);
      const values = randomValues(rng, n);
      const groups = Int32Array.from({ length: n }, () => rng.int(4));
      const tie: TieBreak | undefined = t % 2 === 0 ? undefined : (a, b) => groups[b] - groups[a];
      for (const direction of ['max', 'min'] as const) {
        const h = new TopKHeap(k, { direction, tie });
        const order = Array.from({ length: n }, (_, i) => i);
        rng.shuffle(order); // push order does not matter
        for (const i of order) h.push(values[i], i);
        const want = reference(values, k, direction, tie);
        const got = h.entries();
        expect(Array.from(got.indices)).toEqual(want);
        expect(Array.from(got.values)).toEqual(want.map((i) => values[i]));
      }
    }
  });
});

describe('BestFirstHeap', () => {
  it('yields everything best-first in both directions, with a subset', () => {
    const v = Float64Array.of(0.2, 0.9, 0.5, 0.9);
    expect([...new BestFirstHeap(v)]).toEqual([1, 3, 2, 0]);
    expect([...new BestFirstHeap(v, { direction: 'min' })]).toEqual([0, 2, 1, 3]);
    expect([...new BestFirstHeap(v, {}, [3, 0, 1])]).toEqual([1, 3, 0]);
    const h = new BestFirstHeap(v);
    expect(h.remaining).toBe(4);
    h.next();
    expect(h.remaining).toBe(3);
    expect([...new BestFirstHeap([])]).toEqual([]);
    expect(new BestFirstHeap([]).next()).toBe(-1);
  });

  it('property: equals a full sort (seeded)', () => {
    const rng = new Rng(12);
    for (let t = 0; t < 200; t++) {
      const values = randomValues(rng, rng.int(300)).map((x) => (Number.isNaN(x) ? 1 : x)); // no NaN by contract
      const groups = Int32Array.from({ length: values.length }, () => rng.int(3));
      const tie: TieBreak = (a, b) => groups[a] - groups[b];
      for (const direction of ['max', 'min'] as const) {
        expect([...new BestFirstHeap(values, { direction, tie })]).toEqual(reference(values, values.length, direction, tie));
      }
    }
  });
});

describe('topK (core)', () => {
  it('breaks ties by the lower index', () => {
    expect(Array.from(topK(Float32Array.of(1, 3, 3, 1, 3), 4))).toEqual([1, 2, 4, 0]);
  });

  it('gives an empty result for k = 0, k < 0, NaN k and no scores', () => {
    expect(topK(Float32Array.of(1, 2), 0).length).toBe(0);
    expect(topK(Float32Array.of(1, 2), -3).length).toBe(0);
    expect(topK(Float32Array.of(1, 2), Number.NaN).length).toBe(0);
    expect(topK(new Float32Array(0), 5).length).toBe(0);
  });

  it('returns every eligible score when k > n', () => {
    expect(Array.from(topK([0.5, 2, 1], 10))).toEqual([1, 2, 0]);
  });

  it('never returns -Infinity or NaN, and skips excluded indices', () => {
    const s = [Number.NaN, -Infinity, 1, Infinity, -5];
    expect(Array.from(topK(s, 10))).toEqual([3, 2, 4]);
    expect(Array.from(topK(s, 10, Uint8Array.of(0, 0, 0, 1, 0)))).toEqual([2, 4]);
    expect(topK([-Infinity, Number.NaN], 2).length).toBe(0);
  });

  it('property: equals a full sort of the eligible scores (seeded)', () => {
    const rng = new Rng(13);
    for (let t = 0; t < 300; t++) {
      const n = rng.int(300);
      const s = Float32Array.from(randomValues(rng, n));
      const exclude = t % 2 ? Uint8Array.from({ length: n }, () => (rng.next() < 0.3 ? 1 : 0)) : undefined;
      const k = rng.int(50);
      const want = reference(s, n, 'max').filter((i) => s[i] > -Infinity && !exclude?.[i]).slice(0, k);
      expect(Array.from(topK(s, k, exclude))).toEqual(want);
    }
  });
});
