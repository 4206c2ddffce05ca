/** The one row normaliser (core/vectors.ts) and its public re-exports. */
import { describe, expect, it } from 'vitest';
import { inverseNorm, l2Norm, l2NormalizeRows, normalizeRowInto, normalizeRows, normalizeVector } from '../../src/core/vectors.js';
import { normalizeRows as diversityNormalizeRows } from '../../src/diversity/index.js';
import { l2NormalizeRows as embeddingsL2NormalizeRows } from '../../src/embeddings/postprocess.js';
import { InvalidParameterError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';

describe('row normalisation', () => {
  it('normalises rows; zero rows stay zero (copy and in place)', () => {
    const x = Float32Array.of(3, 4, 0, 0, 0, 2);
    expect(Array.from(normalizeRows(x, 2))).toEqual([Math.fround(0.6), Math.fround(0.8), 0, 0, 0, 1]);
    expect(Array.from(x)).toEqual([3, 4, 0, 0, 0, 2]); // the copy form leaves its input alone
    expect(l2NormalizeRows(x, 2)).toEqual([1]);
    expect(Array.from(x)).toEqual([Math.fround(0.6), Math.fround(0.8), 0, 0, 0, 1]);
  });

  it('writes non-finite rows as zeros, never NaN, and reports them in place', () => {
    const x = Float32Array.of(Infinity, 1, Number.NaN, 1, 1, 0);
    expect(Array.from(normalizeRows(x, 2))).toEqual([0, 0, 0, 0, 1, 0]);
    expect(l2NormalizeRows(x, 2)).toEqual([0, 1]);
    expect(Array.from(x)).toEqual([0, 0, 0, 0, 1, 0]);
  });

  it('writes into another array from float64 rows, and normalises one vector', () => {
    const dst = new Float32Array(4);
    expect(normalizeRowInto(Float64Array.of(0, 0, 3, 4), 2, 2, dst, 2)).toBe(true);
    expect(Array.from(dst)).toEqual([0, 0, Math.fround(0.6), Math.fround(0.8)]);
    expect(normalizeRowInto(Float64Array.of(0, 0), 0, 2, dst, 2)).toBe(false);
    expect(Array.from(dst)).toEqual([0, 0, 0, 0]);
    expect(Array.from(normalizeVector(Float32Array.of(0, 2)))).toEqual([0, 1]);
    expect(Array.from(normalizeVector(Float32Array.of(0, 0)))).toEqual([0, 0]);
  });

  it('l2Norm and inverseNorm', () => {
    expect(l2Norm([3, 4])).toBe(5);
    expect(l2Norm([9, 3, 4, 9], 1, 2)).toBe(5);
    expect(inverseNorm(25)).toBe(0.2);
    expect(inverseNorm(0)).toBe(0);
    expect(inverseNorm(Infinity)).toBe(0);
    expect(inverseNorm(Number.NaN)).toBe(0);
  });

  it('rejects a dim that does not divide the length', () => {
    expect(() => normalizeRows(new Float32Array(5), 2)).toThrow(InvalidParameterError);
    expect(() => l2NormalizeRows(new Float32Array(4), 0)).toThrow(InvalidParameterError);
  });

  it('gives unit rows on seeded random input, and the public exports are the same functions', () => {
    const rng = new Rng(4);
    const dim = 7;
    const x = Float32Array.from({ length: 50 * dim }, () => rng.normal());
    const y = normalizeRows(x, dim);
    for (let r = 0; r < 50; r++) expect(l2Norm(y, r * dim, dim)).toBeCloseTo(1, 6);
    expect(diversityNormalizeRows).toBe(normalizeRows);
    expect(embeddingsL2NormalizeRows).toBe(l2NormalizeRows);
  });
});
