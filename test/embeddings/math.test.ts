/** PCA / whitening, retrieval metrics and post-processing: exact small cases and seeded properties. */
import { describe, it, expect } from 'vitest';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { PcaProjection, retrievalAtK, powerNormalize, l2NormalizeRows, alphaQueryExpansion, InvalidParameterError, DimensionMismatchError, FileFormatError, NumericalError } from './imports.js';
import { Rng } from '../../src/core/rng.js';
import { tempDir } from './helpers.js';

describe('retrievalAtK', () => {
  it('computes precision@k and mAP@k exactly on a hand-made case', () => {
    // Four unit vectors on a line of angles: a0, a1 close; b0 close to a1; b1 far.
    const ang = [0, 0.1, 0.25, 1.4];
    const v = new Float32Array(ang.flatMap((t) => [Math.cos(t), Math.sin(t)]));
    const labels = ['a', 'a', 'b', 'b'];
    // Query 0: neighbours 1 (a, hit), 2 (b). P@2 = 1/2, AP = (1/1)/min(2,1) = 1.
    // Query 1: neighbours 0 (hit, sim cos .1) vs 2 (cos .15): 0 first. P@2 = 1/2, AP = 1.
    // Query 2: neighbours 1 (a, cos .15), 0 (a, cos .25): no hit. P = 0, AP = 0.
    // Query 3: neighbours 2 (b, hit), 1: P = 1/2, AP = 1.
    const s = retrievalAtK(v, 2, labels, 2);
    expect(s.queries).toBe(4);
    expect(s.precision).toBeCloseTo((0.5 + 0.5 + 0 + 0.5) / 4, 12);
    expect(s.map).toBeCloseTo((1 + 1 + 0 + 1) / 4, 12);
    const k1 = retrievalAtK(v, 2, labels, 1, [0, 2]);
    expect(k1.precision).toBe(0.5);
  });

  it('skips queries whose label has no other item, and validates input', () => {
    const v = new Float32Array([1, 0, 1, 0, 0, 1]);
    expect(retrievalAtK(v, 2, ['x', 'x', 'lonely'], 1).queries).toBe(2);
    expect(() => retrievalAtK(v, 2, ['x', 'x'], 1)).toThrow(InvalidParameterError);
    expect(() => retrievalAtK(v, 2, ['x', 'x', 'y'], 5)).toThrow(/k must be/);
  });
});

describe('PcaProjection', () => {
  it('finds the principal axis of points on a line and whitens to unit variance', () => {
    const rng = new Rng(7);
    const n = 5000, d = 3;
    const data = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const t = rng.normal() * 3, u = rng.normal() * 0.5;
      // Main axis (1, 2, 2)/3 with sd 3; second axis (2, -2, 1)/3 (orthogonal) with sd 0.5; offset (5, 5, 5).
      data[i * 3] = 5 + t / 3 + (2 * u) / 3;
      data[i * 3 + 1] = 5 + (2 * t) / 3 - (2 * u) / 3;
      data[i * 3 + 2] = 5 + (2 * t) / 3 + u / 3;
    }
    const p = PcaProjection.fit(data, d, { dim: 2, whiten: 1, epsilon: 0 });
    const c = p.components;
    const len0 = Math.hypot(c[0], c[1], c[2]);
    // Direction ≈ ±(1,2,2)/3, sign fixed so the largest entry is positive.
    expect(c[1] / len0).toBeCloseTo(2 / 3, 2);
    expect(c[2] / len0).toBeCloseTo(2 / 3, 2);
    expect(p.eigenvalues[0]).toBeGreaterThan(7);
    expect(p.eigenvalues[0]).toBeLessThan(11);
    expect(p.eigenvalues[1]).toBeCloseTo(0.25, 1);
    // Whitened coordinates (before the final L2) have unit variance on the fitting sample.
    let s0 = 0, s1 = 0;
    for (let i = 0; i < n; i++) {
      const x = [0, 1, 2].map((j) => data[i * 3 + j] - p.mean[j]);
      const y0 = c[0] * x[0] + c[1] * x[1] + c[2] * x[2];
      const y1 = c[3] * x[0] + c[4] * x[1] + c[5] * x[2];
      s0 += y0 * y0; s1 += y1 * y1;
    }
    expect(s0 / (n - 1)).toBeCloseTo(1, 6);
    expect(s1 / (n - 1)).toBeCloseTo(1, 6);
    const y = p.apply(data.subarray(0, 3));
    expect(Math.hypot(...y)).toBeCloseTo(1, 6);
  });

  it('is deterministic and round-trips through save/load', async () => {
    const rng = new Rng(3);
    const data = rng.fillNormal(new Float32Array(200 * 8));
    const a = PcaProjection.fit(data, 8, { dim: 4, whiten: 0.5 });
    const b = PcaProjection.fit(data, 8, { dim: 4, whiten: 0.5 });
    expect(a.components).toEqual(b.components);
    const dir = await tempDir('pca');
    try {
      const f = path.join(dir, 'p.pinrec');
      await a.save(f);
      const c = await PcaProjection.load(f);
      expect(c.applyBatch(data)).toEqual(a.applyBatch(data));
      const bytes = await fsp.readFile(f);
      await fsp.writeFile(f, bytes.subarray(0, bytes.length - 5));
      await expect(PcaProjection.load(f)).rejects.toThrow(FileFormatError);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it('validates input', () => {
    expect(() => PcaProjection.fit(new Float32Array(7), 2)).toThrow(InvalidParameterError);
    expect(() => PcaProjection.fit(new Float32Array([1, 2]), 2)).toThrow(/at least 2 vectors/);
    expect(() => PcaProjection.fit(new Float32Array([1, NaN, 2, 3]), 2)).toThrow(/data\[1\]/);
    expect(() => PcaProjection.fit(new Float32Array(12).fill(1), 3, { dim: 1 })).toThrow(NumericalError);
    expect(() => PcaProjection.fit(new Float32Array([1, 2, 3, 4, 5, 7]), 2, { dim: 3 })).toThrow(/options.dim/);
    const p = PcaProjection.fit(new Float32Array([1, 2, 3, 5, 5, 7]), 2, { dim: 1 });
    expect(() => p.apply([1, 2, 3])).toThrow(DimensionMismatchError);
  });
});

describe('post-processing', () => {
  it('power-normalises with sign and L2-normalises rows, flagging zero rows', () => {
    expect(Array.from(powerNormalize(new Float32Array([4, -9, 0]), 0.5))).toEqual([2, -3, 0]);
    expect(() => powerNormalize(new Float32Array(1), 0)).toThrow(/powerNorm/);
    const m = new Float32Array([3, 4, 0, 0, NaN, 1]);
    expect(l2NormalizeRows(m, 2)).toEqual([1, 2]);
    expect(m).toEqual(new Float32Array([0.6, 0.8, 0, 0, 0, 0]));
  });
});

describe('alphaQueryExpansion', () => {
  it('computes the weighted neighbour sum exactly on a small case', () => {
    // Three unit vectors in 2-D at angles 0, 0.2, 1.5 rad; n = 2, alpha = 1.
    const ang = [0, 0.2, 1.5];
    const v = new Float32Array(ang.flatMap((t) => [Math.cos(t), Math.sin(t)]));
    const out = alphaQueryExpansion(v, 2, { n: 2, alpha: 1 });
    // Item 0: itself (w 1) + item 1 (w cos 0.2) -> direction of x0 + cos(0.2) x1.
    const expect0 = [1 + Math.cos(0.2) * Math.cos(0.2), Math.cos(0.2) * Math.sin(0.2)];
    const len = Math.hypot(...expect0);
    expect(out[0]).toBeCloseTo(expect0[0] / len, 6);
    expect(out[1]).toBeCloseTo(expect0[1] / len, 6);
    // Item 2's nearest other is item 1 (cos 1.3 > cos 1.5).
    const e2 = [Math.cos(1.5) + Math.cos(1.3) * Math.cos(0.2), Math.sin(1.5) + Math.cos(1.3) * Math.sin(0.2)];
    const l2n = Math.hypot(...e2);
    expect(out[4]).toBeCloseTo(e2[0] / l2n, 6);
    expect(out[5]).toBeCloseTo(e2[1] / l2n, 6);
    // n = 1 is the identity; given neighbour lists give the same result as computed ones.
    const id = alphaQueryExpansion(v, 2, { n: 1 });
    for (let i = 0; i < v.length; i++) expect(id[i]).toBeCloseTo(v[i], 6);
    expect(alphaQueryExpansion(v, 2, { n: 2, alpha: 1, neighbours: new Int32Array([0, 1, 1, 0, 2, 1]) })).toEqual(out);
  });

  it('pulls same-cluster points together (seeded), and validates input', () => {
    const rng = new Rng(11);
    const d = 16, per = 20;
    const centres = [rng.fillNormal(new Float32Array(d)), rng.fillNormal(new Float32Array(d))];
    const v = new Float32Array(2 * per * d);
    const labels: number[] = [];
    for (let i = 0; i < 2 * per; i++) {
      const c = i % 2;
      labels.push(c);
      for (let j = 0; j < d; j++) v[i * d + j] = centres[c][j] + 2.5 * rng.normal();
    }
    l2NormalizeRows(v, d);
    const before = retrievalAtK(v, d, labels, 5).precision;
    const after = retrievalAtK(alphaQueryExpansion(v, d, { n: 4, alpha: 1 }), d, labels, 5).precision;
    expect(after).toBeGreaterThanOrEqual(before);
    expect(() => alphaQueryExpansion(v, 7)).toThrow(InvalidParameterError);
    expect(() => alphaQueryExpansion(v, d, { n: 2, neighbours: new Int32Array(3) })).toThrow(/neighbours/);
  });
});
