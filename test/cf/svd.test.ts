import { describe, expect, it } from 'vitest';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { CsrMatrix, randomizedSvd } from '../../src/cf/index.js';
import { Rng, InvalidParameterError, NumericalError } from '../../src/core/index.js';

/** A seeded sparse random matrix and its dense copy. */
function randomSparse(m: number, n: number, density: number, seed: number): { a: CsrMatrix; d: Matrix } {
  const rng = new Rng(seed);
  const d = Matrix.zeros(m, n);
  const indptr = new Int32Array(m + 1);
  const ind: number[] = [];
  const dat: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      if (rng.next() < density) {
        const v = Math.fround(1 + rng.int(5));
        d.set(i, j, v); ind.push(j); dat.push(v);
      }
    }
    indptr[i + 1] = ind.length;
  }
  return { a: new CsrMatrix(m, n, indptr, Int32Array.from(ind), Float32Array.from(dat)), d };
}

describe('randomizedSvd', () => {
  for (const [m, n] of [[80, 50], [40, 90]] as const) {
    it(`matches a dense SVD on a ${m}×${n} matrix`, () => {
      const { a, d } = randomSparse(m, n, 0.2, m * n);
      const exact = new SingularValueDecomposition(d, { autoTranspose: true });
      const k = 12;
      const r = randomizedSvd(a, k, { nIter: 40, seed: 1 });
      for (let c = 0; c < k; c++) expect(r.s[c]).toBeCloseTo(exact.diagonal[c], 6);
      // Orthonormal factors and A·v = s·u for each triplet.
      for (let c = 0; c < k; c++) {
        let nu = 0, nv = 0;
        for (let i = 0; i < m; i++) nu += r.u[i * k + c] ** 2;
        for (let j = 0; j < n; j++) nv += r.v[j * k + c] ** 2;
        expect(nu).toBeCloseTo(1, 8);
        expect(nv).toBeCloseTo(1, 8);
        for (let i = 0; i < m; i++) {
          let av = 0;
          for (let j = 0; j < n; j++) av += d.get(i, j) * r.v[j * k + c];
          expect(av).toBeCloseTo(r.s[c] * r.u[i * k + c], 6);
        }
        // Same subspace as the exact right singular vector (up to sign).
        let dot = 0;
        const ev = exact.rightSingularVectors;
        for (let j = 0; j < n; j++) dot += ev.get(j, c) * r.v[j * k + c];
        expect(Math.abs(dot)).toBeCloseTo(1, 4);
      }
    });
  }

  it('is deterministic for a seed, with the largest entry of each right vector positive', () => {
    const { a } = randomSparse(60, 40, 0.3, 7);
    const r1 = randomizedSvd(a, 5, { seed: 3 });
    const r2 = randomizedSvd(a, 5, { seed: 3 });
    expect(Array.from(r1.v)).toEqual(Array.from(r2.v));
    for (let c = 0; c < 5; c++) {
      let best = 0, val = 0;
      for (let j = 0; j < 40; j++) if (Math.abs(r1.v[j * 5 + c]) > best) { best = Math.abs(r1.v[j * 5 + c]); val = r1.v[j * 5 + c]; }
      expect(val).toBeGreaterThan(0);
    }
  });

  it('handles a rank-deficient matrix (rank below the block size)', () => {
    // Rank-3 matrix: every row is one of three patterns.
    const m = 30, n = 20;
    const rows: number[][] = [];
    for (let i = 0; i < m; i++) rows.push(Array.from({ length: n }, (_, j) => ((j + (i % 3)) % 3 === 0 ? 1 : 0)));
    const indptr = new Int32Array(m + 1); const ind: number[] = []; const dat: number[] = [];
    rows.forEach((r, i) => { r.forEach((v, j) => { if (v) { ind.push(j); dat.push(v); } }); indptr[i + 1] = ind.length; });
    const a = new CsrMatrix(m, n, indptr, Int32Array.from(ind), Float32Array.from(dat));
    const exact = new SingularValueDecomposition(new Matrix(rows));
    const r = randomizedSvd(a, 5, { seed: 2 });
    for (let c = 0; c < 5; c++) expect(r.s[c]).toBeCloseTo(exact.diagonal[c], 6);
    expect(r.s[4]).toBeLessThan(1e-6);
  });

  it('rejects bad k and non-finite values', () => {
    const { a } = randomSparse(10, 8, 0.5, 1);
    expect(() => randomizedSvd(a, 8)).toThrow(InvalidParameterError);
    expect(() => randomizedSvd(a, 0)).toThrow(/factors/);
    expect(() => randomizedSvd(a, 2.5)).toThrow(/factors must be an integer/);
    const bad = new CsrMatrix(a.rows, a.cols, a.indptr, a.indices, a.data.slice());
    bad.data[0] = NaN;
    expect(() => randomizedSvd(bad, 2)).toThrow(NumericalError);
  });
});

describe('randomizedSvd threads', () => {
  it('gives the same factors on 1 and 2 threads', async () => {
    const { syntheticInteractions } = await import('../../src/cf/index.js');
    const X = syntheticInteractions({ users: 3000, items: 800, events: 30000, seed: 5 }).toMatrix();
    const a = randomizedSvd(X.csr, 16, { threads: 1, seed: 4 });
    const b = randomizedSvd(X.csr, 16, { threads: 2, seed: 4 });
    for (let c = 0; c < 16; c++) expect(b.s[c]).toBeCloseTo(a.s[c], 9);
    for (let i = 0; i < a.v.length; i += 97) expect(b.v[i]).toBeCloseTo(a.v[i], 7);
    expect(() => randomizedSvd(X.csr, 4, { threads: 0 })).toThrow(/threads/);
    // Without U, V and s are unchanged, for tall and wide matrices alike.
    for (const m of [X.csr, X.csr.transpose()]) {
      const full = randomizedSvd(m, 8, { seed: 1 });
      const noU = randomizedSvd(m, 8, { seed: 1, computeU: false });
      expect(noU.u.length).toBe(0);
      expect(Array.from(noU.s)).toEqual(Array.from(full.s));
      expect(Array.from(noU.v)).toEqual(Array.from(full.v));
    }
  });
});
