/** Small pure helpers: recallAtK and the bounded top-k heap. */
import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { recallAtK } from '../../src/ann/index.js';
import { TopK } from '../../src/ann/heap.js';

describe('recallAtK', () => {
  it('computes mean per-query recall', () => {
    expect(recallAtK([[1, 2, 3]], [[1, 3, 4]], 3)).toBeCloseTo(2 / 3, 12);
    expect(recallAtK([['a', 'b'], ['c', 'd']], [['a', 'b'], ['x', 'y']], 2)).toBe(0.5);
    expect(recallAtK([{ ids: [1n, 2n] }], [{ ids: [2n, 1n] }], 2)).toBe(1);
    expect(recallAtK([[1, 9]], [[1, 2, 3]], 1)).toBe(1);
    expect(recallAtK([[1]], [[1, 2]], 2)).toBe(0.5);
  });
  it('rejects mismatched input', () => {
    expect(() => recallAtK([[1]], [[1], [2]], 1)).toThrow(InvalidParameterError);
    expect(() => recallAtK([[1]], [[1]], 0)).toThrow(/k must be an integer/);
    expect(() => recallAtK([], [], 1)).toThrow(InvalidParameterError);
  });
});

describe('TopK', () => {
  it('property: equals sorting everything, with ties broken by label (seeded)', () => {
    const rng = new Rng(8);
    for (let t = 0; t < 200; t++) {
      const n = 1 + rng.int(300), k = 1 + rng.int(40);
      const d = Array.from({ length: n }, () => Math.floor(rng.next() * 20)); // many ties
      const heap = new TopK(k);
      d.forEach((x, i) => heap.push(x, i));
      const want = d.map((x, i) => [x, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).slice(0, k);
      const got = heap.sorted();
      expect(Array.from(got.labels)).toEqual(want.map((w) => w[1]));
      expect(Array.from(got.distances)).toEqual(want.map((w) => w[0]));
    }
  });
});
