/**
 * The native kernels against their JavaScript twins: equal bit for bit on seeded random inputs (odd sizes, so
 * every vector tail and unrolled remainder runs), through the SVD, the recommender and the evaluation; bad
 * arguments are typed errors, never out-of-bounds access; and the fallback when the addon is off.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CsrMatrix, gramApplyRows, spmmRows, spmmRowsF32 } from '../../src/cf/csr.js';
import { gemmNNRows, gemmTNAcc, syrkUpperAcc } from '../../src/cf/dense.js';
import { normalizeColumns, randomizedSvd } from '../../src/cf/svd.js';
import { SvdRecommender } from '../../src/cf/model.js';
import { syntheticInteractions } from '../../src/cf/synthetic.js';
import { leaveLastOut, evaluate } from '../../src/cf/index.js';
import { Rng, InvalidParameterError } from '../../src/core/index.js';
import { nativeInfo, nativeKernels, nativeAddonFile } from '../../src/native/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const buildReport = path.join(root, 'build', 'native-build.json');
const built = existsSync(nativeAddonFile());
const N = built ? nativeKernels('native') : null;

function bitsEqual(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function randomCsr(rows: number, cols: number, density: number, seed: number): CsrMatrix {
  const rng = new Rng(seed);
  const indptr = new Int32Array(rows + 1);
  const ind: number[] = [];
  const dat: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) if (rng.next() < density) { ind.push(c); dat.push(Math.fround(rng.normal() * 3)); }
    indptr[r + 1] = ind.length;
  }
  return new CsrMatrix(rows, cols, indptr, Int32Array.from(ind), Float32Array.from(dat));
}

function randomF64(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

describe('the native build', () => {
  it('is built on this machine (npm ci runs node-gyp), and nativeInfo reports its instruction set', () => {
    expect(existsSync(buildReport)).toBe(true);
    const report = JSON.parse(readFileSync(buildReport, 'utf8')) as { built: boolean; reason?: string };
    expect(report.built, report.reason).toBe(true);
    const info = nativeInfo();
    expect(info.available).toBe(true);
    expect(typeof info.isa).toBe('string');
  });
});

describe.runIf(built)('each native kernel equals its JavaScript twin bit for bit', () => {
  const shapes = [[1, 1, 1], [7, 5, 3], [61, 37, 13], [130, 97, 74], [257, 300, 139]] as const;
  for (const [rows, cols, l] of shapes) {
    it(`spmm and gramApply, ${rows}×${cols}, l = ${l}`, () => {
      const a = randomCsr(rows, cols, 0.15, rows * 7 + l);
      const z = randomF64(cols * l, l);
      const oj = new Float64Array(rows * l), on = new Float64Array(rows * l);
      spmmRows(a, z, l, oj, 0, rows);
      N!.spmm(a.indptr, a.indices, a.data, rows, cols, z, l, on, 0, rows);
      expect(bitsEqual(oj, on)).toBe(true);
      const z32 = Float32Array.from(z);
      for (const Out of [Float32Array, Float64Array]) {
        const fj = new Out(rows * l), fn = new Out(rows * l);
        spmmRowsF32(a, z32, l, fj, new Float64Array(l), 0, rows);
        N!.spmmF32(a.indptr, a.indices, a.data, rows, cols, z32, l, fn, 0, rows);
        expect(bitsEqual(fj, fn)).toBe(true);
      }
      const yj = randomF64(cols * l, 9), yn = Float64Array.from(yj); // accumulates into what is there
      const r0 = Math.floor(rows / 3);
      gramApplyRows(a, z, l, yj, new Float64Array(l), r0, rows);
      N!.gramApply(a.indptr, a.indices, a.data, rows, cols, z, l, yn, r0, rows);
      expect(bitsEqual(yj, yn)).toBe(true);
    });
    it(`syrk, gemmTN, gemmNN and the triangular product, n = ${rows}, l = ${l}`, () => {
      const a = randomF64(rows * l, rows + l);
      const gj = randomF64(l * l, 1), gn = Float64Array.from(gj);
      syrkUpperAcc(a, l, 1, rows, gj);
      N!.syrk(a, l, 1, rows, gn);
      expect(bitsEqual(gj, gn)).toBe(true);
      const m = Math.max(1, l - 2);
      const b = randomF64(rows * m, 3);
      const cj = new Float64Array(l * m), cn = new Float64Array(l * m);
      gemmTNAcc(a, l, b, m, 0, rows, cj);
      N!.gemmTN(a, l, b, m, 0, rows, cn);
      expect(bitsEqual(cj, cn)).toBe(true);
      const bb = randomF64(l * m, 4);
      const pj = new Float64Array(rows * m), pn = new Float64Array(rows * m);
      gemmNNRows(a, l, bb, m, pj, 0, rows, false);
      N!.gemmNN(a, l, bb, m, pn, 0, rows, false);
      expect(bitsEqual(pj, pn)).toBe(true);
      const up = randomF64(l * l, 5);
      for (let i = 0; i < l; i++) for (let j = 0; j < i; j++) up[i * l + j] = 0;
      const nj = Float64Array.from(a), cn2 = Float64Array.from(a);
      for (let i = 0; i < rows; i++) nj[i * l] = cn2[i * l] = 0; // a zero column stays as it is
      normalizeColumns(nj, rows, l);
      N!.normalizeColumns(cn2, rows, l);
      expect(bitsEqual(nj, cn2)).toBe(true);
      const zj = Float64Array.from(a), zn = Float64Array.from(a); // in place, as trmm runs it
      gemmNNRows(zj, l, up, l, zj, 0, rows, true);
      N!.gemmNN(zn, l, up, l, zn, 0, rows, true);
      expect(bitsEqual(zj, zn)).toBe(true);
    });
  }
});

describe.runIf(built)('the SVD, the recommender and the evaluation give the same answers on either path', () => {
  const log = syntheticInteractions({ users: 900, items: 700, events: 20_000, seed: 11 });
  const X = log.toMatrix();
  for (const threads of [1, 2]) {
    it(`randomizedSvd, ${threads} thread(s): identical s and V, and it reports the path`, () => {
      const j = randomizedSvd(X.csr, 24, { seed: 3, threads, kernels: 'js' });
      const n = randomizedSvd(X.csr, 24, { seed: 3, threads, kernels: 'native' });
      expect(j.kernels).toBe('js');
      expect(n.kernels).toBe(`native:${nativeInfo().isa}`);
      expect(bitsEqual(j.s, n.s)).toBe(true);
      expect(bitsEqual(j.v, n.v)).toBe(true);
      expect(bitsEqual(j.u, n.u)).toBe(true);
    });
  }
  for (const scoring of ['ease', 'puresvd'] as const) {
    it(`SvdRecommender (${scoring}): recommend, recommendBatch and evaluate agree exactly`, () => {
      const mj = new SvdRecommender<number, number>({ factors: 16, scoring, kernels: 'js', order: 'off' }).fit(X);
      const mn = new SvdRecommender<number, number>({ factors: 16, scoring, kernels: 'native', order: 'off' }).fit(X);
      expect(mj.kernels).toEqual({ scoring: 'js', fit: 'js' });
      expect(mn.kernels.scoring).toBe(`native:${nativeInfo().isa}`);
      const users = [0, 5, 17, 123, 456, 899];
      const bj = mj.recommendBatch(users, { n: 40 });
      const bn = mn.recommendBatch(users, { n: 40 });
      for (let u = 0; u < users.length; u++) {
        expect(bn[u].ids).toEqual(bj[u].ids);
        expect(bitsEqual(bn[u].scores, bj[u].scores)).toBe(true);
        const one = mn.recommend(users[u], { n: 40 });
        expect(one.ids).toEqual(bj[u].ids);
        expect(bitsEqual(one.scores, bj[u].scores)).toBe(true);
      }
      // a new user (fold-in) and the candidate-restricted path (JavaScript) against native full ranking
      const fresh = { items: [1, 2, 3, 50] };
      expect(mn.recommend(fresh, { n: 10 }).ids).toEqual(mj.recommend(fresh, { n: 10 }).ids);
      const full = mn.recommend(5, { n: 10 });
      const cand = mn.recommend(5, { n: 10, candidates: full.ids });
      expect(bitsEqual(cand.scores, full.scores)).toBe(true);
    });
  }
  it('evaluate() on a leave-last-out split: the same metrics on either path', () => {
    const split = leaveLastOut(log);
    const mj = new SvdRecommender<number, number>({ factors: 16, kernels: 'js', order: 'off' }).fit(split.train);
    const mn = new SvdRecommender<number, number>({ factors: 16, kernels: 'native', order: 'off' }).fit(split.train);
    expect(evaluate(mn, split)).toEqual(evaluate(mj, split));
  });
});

describe.runIf(built)('bad arguments are typed errors, never out-of-bounds access', () => {
  const a = randomCsr(20, 10, 0.3, 1);
  const z = new Float64Array(10 * 4);
  const out = new Float64Array(20 * 4);
  it('an out-of-range column index', () => {
    const bad = Int32Array.from(a.indices); bad[bad.length - 1] = 10;
    expect(() => N!.spmm(a.indptr, bad, a.data, 20, 10, z, 4, out, 0, 20)).toThrow(RangeError);
    expect(() => N!.gramApply(a.indptr, bad, a.data, 20, 10, z, 4, new Float64Array(40), 0, 20)).toThrow(/column index/);
    bad[bad.length - 1] = -1;
    expect(() => N!.spmm(a.indptr, bad, a.data, 20, 10, z, 4, out, 0, 20)).toThrow(RangeError);
  });
  it('a broken row pointer, short outputs, a row range outside the matrix, the wrong element type', () => {
    const ptr = Int32Array.from(a.indptr); ptr[5] = 1_000_000;
    expect(() => N!.spmm(ptr, a.indices, a.data, 20, 10, z, 4, out, 0, 20)).toThrow(/indptr/);
    expect(() => N!.spmm(a.indptr, a.indices, a.data, 20, 10, z, 4, new Float64Array(79), 0, 20)).toThrow(/too short/);
    expect(() => N!.spmm(a.indptr, a.indices, a.data, 20, 10, new Float64Array(39), 4, out, 0, 20)).toThrow(/too short/);
    expect(() => N!.spmm(a.indptr, a.indices, a.data, 20, 10, z, 4, out, 0, 21)).toThrow(/row range/);
    expect(() => N!.spmm(a.indptr, a.indices, a.data, 20, 10, new Float32Array(40) as never, 4, out, 0, 20)).toThrow(TypeError);
    expect(() => N!.syrk(new Float64Array(10), 4, 0, 3, new Float64Array(16))).toThrow(/shapes/);
    expect(() => N!.gemmNN(new Float64Array(8), 4, new Float64Array(15), 4, new Float64Array(8), 0, 2, false)).toThrow(/shapes/);
    expect(() => N!.gemmTN(new Float64Array(8), 4, new Float64Array(8), 4, 0, 2, new Float64Array(15))).toThrow(/shapes/);
    expect(() => N!.score(new Float64Array(8), 2, 4, new Float32Array(4 * 100 - 1), 100, 100, null, new Float32Array(200))).toThrow(/shapes/);
    expect(() => N!.score(new Float64Array(8), 2, 4, new Float32Array(400), 100, 100, new Float64Array(199), new Float32Array(200))).toThrow(/base/);
    expect(() => N!.score(new Float64Array(8), 2, 4, new Float32Array(400), 99, 100, null, new Float32Array(200))).toThrow(/shapes/);
    expect(() => N!.spmm(a.indptr, a.indices, a.data, -1, 10, z, 4, out, 0, 20)).toThrow(/rows/);
    const gptr = Int32Array.from([0, 1, 2]), gind = Int32Array.from([0, 1]), gdat = Float32Array.from([1, 2]), scale = new Float32Array(2);
    expect(() => N!.sparseBase(Int32Array.from([0, 1]), Int32Array.from([5]), new Float32Array(1), 1, gptr, gind, gdat, 2, scale, 2, new Float64Array(2))).not.toThrow(); // a pin beyond G's rows adds nothing
    expect(() => N!.sparseBase(Int32Array.from([0, 1]), Int32Array.from([-1]), new Float32Array(1), 1, gptr, gind, gdat, 2, scale, 2, new Float64Array(2))).toThrow(/out of range/);
    expect(() => N!.sparseBase(Int32Array.from([0, 1]), Int32Array.from([1]), new Float32Array(1), 1, gptr, Int32Array.from([0, 7]), gdat, 2, scale, 2, new Float64Array(2))).toThrow(/out of range/);
    expect(() => N!.sparseBase(Int32Array.from([0, 2]), Int32Array.from([1]), new Float32Array(1), 1, gptr, gind, gdat, 2, scale, 2, new Float64Array(2))).toThrow(/shapes|row pointer/);
    const bad = Int32Array.from(a.indices); bad[0] = 99;
    expect(() => N!.spmmF32(a.indptr, bad, a.data, 20, 10, new Float32Array(40), 4, new Float32Array(80), 0, 20)).toThrow(/column index/);
    expect(() => N!.spmmF32(a.indptr, a.indices, a.data, 20, 10, new Float32Array(40), 4, new Int32Array(80) as never, 0, 20)).toThrow(TypeError);
    expect(() => N!.spmmF32(a.indptr, a.indices, a.data, 20, 10, new Float32Array(39), 4, new Float32Array(80), 0, 20)).toThrow(/too short/);
  });
});

describe('without the addon', () => {
  it('PINREC_NATIVE=0: nativeInfo says why, the JavaScript kernels run, and kernels: native is refused by name', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'test', 'native', 'fixtures', 'no-addon.mts')], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PINREC_NATIVE: '0' } });
    expect(r.status, `${r.signal ?? ''} ${r.stderr}`).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { info: { available: boolean; reason: string }; kernels: unknown; refused: string };
    expect(out.info).toEqual({ available: false, reason: 'disabled by PINREC_NATIVE=0' });
    expect(out.kernels).toEqual({ scoring: 'js', fit: 'js' });
    expect(out.refused).toMatch(/InvalidParameterError: .*kernels.*PINREC_NATIVE=0/);
  });
  it("an unknown choice is an InvalidParameterError naming 'kernels'", () => {
    expect(() => new SvdRecommender({ kernels: 'fast' as never })).toThrow(InvalidParameterError);
    expect(() => new SvdRecommender({ kernels: 'fast' as never })).toThrow(/kernels/);
  });
});
