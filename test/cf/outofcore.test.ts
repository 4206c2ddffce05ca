/**
 * Training data for a distributed engine and back: partitioned Arrow/Parquet exports (read by DuckDB, an
 * independent reader), the out-of-core SVD over them (checked against the in-memory randomized SVD on the same
 * matrix), and FactorModel serving factors trained elsewhere (checked against SvdRecommender's PureSVD scores).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  FactorModel, SvdRecommender, exportInteractions, fitFactorsOutOfCore, interactionsFromColumns, randomizedSvd, readPartition,
  readPartitionManifest, syntheticInteractions, writeFactorsArrow,
} from '../../src/cf/index.js';
import { FileFormatError, InvalidParameterError, UnknownIdError } from '../../src/core/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-ooc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const log = syntheticInteractions({ users: 1500, items: 400, events: 30_000, seed: 5 });

async function duck(sql: string): Promise<unknown[][]> {
  const c = await (await DuckDBInstance.create(':memory:')).connect();
  return (await c.runAndReadAll(sql)).getRowsJson() as unknown[][];
}

describe('exportInteractions', () => {
  it('partitions by user (each user in one file), keeps every row, and writes a manifest', async () => {
    const out = path.join(dir, 'arrow');
    const m = await exportInteractions(log, out, { partitions: 5, batchRows: 1000 });
    expect(m.partitions).toHaveLength(5);
    expect(m.rows).toBe(log.length);
    expect(m.partitions.reduce((a, p) => a + p.rows, 0)).toBe(log.length);
    expect(readPartitionManifest(out)).toEqual(m);
    const owner = new Map<unknown, number>();
    let rows = 0;
    for (let p = 0; p < 5; p++) {
      const part = await readPartition(out, m, p);
      rows += part.length;
      for (const u of part.users.ids()) {
        expect(owner.has(u), `user ${String(u)} in two partitions`).toBe(false);
        owner.set(u, p);
      }
    }
    expect(rows).toBe(log.length);
    expect(owner.size).toBe(log.users.size);
    expect(readdirSync(out).filter((f) => f.includes('tmp'))).toEqual([]);
  });
  it('Parquet partitions and the item attributes, read by DuckDB', async () => {
    const out = path.join(dir, 'parquet');
    const items = log.items.ids().map((id) => ({ id, category: `c${Number(id) % 7}`, creator: null }));
    const m = await exportInteractions(log, out, { partitions: 3, format: 'parquet', items });
    expect(m.items).toBe('items.parquet');
    const [[count, users, wsum]] = await duck(`select count(*), count(distinct "user"), sum(weight) from read_parquet('${out}/part-*.parquet')`);
    expect(Number(count)).toBe(log.length);
    expect(Number(users)).toBe(log.users.size);
    expect(Number(wsum)).toBeCloseTo(log.weight.reduce((a, b) => a + b, 0), 3);
    // no user spans two files
    const [[spanning]] = await duck(`select count(*) from (select "user" from read_parquet('${out}/part-*.parquet', filename = true) group by "user" having count(distinct filename) > 1)`);
    expect(Number(spanning)).toBe(0);
    const [[nItems, nCat]] = await duck(`select count(*), count(distinct category) from read_parquet('${out}/items.parquet')`);
    expect([Number(nItems), Number(nCat)]).toEqual([log.items.size, 7]);
  });
  it('refuses bad options and a foreign manifest by name', async () => {
    await expect(exportInteractions(log, path.join(dir, 'x'), { partitions: 0 })).rejects.toThrow(InvalidParameterError);
    await expect(exportInteractions(log, path.join(dir, 'x'), { format: 'csv' as never })).rejects.toThrow(/format/);
    expect(() => readPartitionManifest(path.join(dir, 'nope'))).toThrow(FileFormatError);
  });
});

describe('fitFactorsOutOfCore', () => {
  it('finds the singular values and subspace of the in-memory randomized SVD on the same matrix', async () => {
    const out = path.join(dir, 'arrow');
    const k = 12;
    const r = await fitFactorsOutOfCore(out, { factors: k, nIter: 6 });
    expect(r.stats).toMatchObject({ partitions: 5, users: log.users.size, passes: 8 });
    // the same matrix in memory (same combine rule: the partition keeps each user whole)
    const matrix = log.toMatrix();
    const ref = randomizedSvd(matrix.csr, k, { nIter: 10, seed: 3 });
    for (let c = 0; c < k; c++) expect(Math.abs(r.singularValues[c] - ref.s[c]) / ref.s[c]).toBeLessThan(2e-3);
    // top columns agree up to sign: |v_c · ref_c| ≈ 1 (ids mapped by name)
    const refIds = matrix.items.ids();
    const pos = new Map(r.itemIds.map((id, i) => [id, i]));
    for (let c = 0; c < 4; c++) {
      let dot = 0;
      for (let j = 0; j < refIds.length; j++) dot += ref.v[j * k + c] * r.itemFactors[pos.get(refIds[j])! * k + c];
      expect(Math.abs(dot)).toBeGreaterThan(0.99);
    }
    // orthonormal columns
    const n = r.itemIds.length;
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += r.itemFactors[i * k + a] * r.itemFactors[i * k + b];
      expect(s).toBeCloseTo(a === b ? 1 : 0, 4);
    }
  });
  it('does not depend on how the users are partitioned', async () => {
    const one = path.join(dir, 'one');
    await exportInteractions(log, one, { partitions: 1 });
    const a = await fitFactorsOutOfCore(one, { factors: 8, seed: 1, nIter: 8 });
    const b = await fitFactorsOutOfCore(path.join(dir, 'arrow'), { factors: 8, seed: 1, nIter: 8 });
    // the item order (hence the random start) differs; the answer agrees to the method's own accuracy
    for (let c = 0; c < 8; c++) expect(Math.abs(a.singularValues[c] - b.singularValues[c]) / b.singularValues[c]).toBeLessThan(1e-4);
  });
  it('serves through FactorModel: a user folded in from history ranks like PureSVD', async () => {
    const r = await fitFactorsOutOfCore(path.join(dir, 'arrow'), { factors: 16, nIter: 6 });
    const model = FactorModel.fromOutOfCore(r);
    const matrix = log.toMatrix();
    const ref = new SvdRecommender({ factors: 16, scoring: 'puresvd', popularityPenalty: 0, order: 'off' }).fit(matrix);
    // user 0's history
    const csr = matrix.csr;
    const items = [];
    for (let p = csr.indptr[0]; p < csr.indptr[1]; p++) items.push(matrix.items.id(csr.indices[p]));
    const got = model.recommend({ items, weights: items.map((_, t) => csr.data[csr.indptr[0] + t]) }, { n: 10 });
    const want = ref.recommend(matrix.users.id(0), { n: 10 });
    const overlap = got.ids.filter((id) => want.ids.includes(id)).length;
    expect(overlap).toBeGreaterThanOrEqual(8); // same method, independent random starts
  });
});

describe('FactorModel', () => {
  const users = ['a', 'a', 'b', 'b', 'c', 'c', 'd', 'd', 'e'];
  const pins = ['p1', 'p2', 'p2', 'p3', 'p1', 'p3', 'p4', 'p5', 'p4'];
  it('imports factors written as Arrow and reproduces the model\'s scores for stored user vectors', async () => {
    const m = new SvdRecommender({ factors: 2, scoring: 'puresvd', popularityPenalty: 0, order: 'off' }).fit(interactionsFromColumns({ users, items: pins }).toMatrix());
    await writeFactorsArrow(m, path.join(dir, 'items.arrow'), { which: 'items' });
    await writeFactorsArrow(m, path.join(dir, 'users.arrow'), { which: 'users' });
    const fm = await FactorModel.fromArrow<string, string>(path.join(dir, 'items.arrow'), { users: path.join(dir, 'users.arrow') });
    expect(fm.hasUser('a')).toBe(true);
    const want = m.recommend('a', { n: 3 });
    const got = fm.recommend('a', { n: 3, filterItems: ['p1', 'p2'] });
    expect(got.ids).toEqual(want.ids);
    for (let i = 0; i < got.ids.length; i++) expect(got.scores[i]).toBeCloseTo(want.scores[i], 4);
    // save/load round trip
    await fm.save(path.join(dir, 'fm.pinrec'));
    const back = await FactorModel.load<string, string>(path.join(dir, 'fm.pinrec'));
    expect(back.recommend('a', { n: 3, filterItems: ['p1', 'p2'] })).toEqual(got);
  });
  it('exact answers on a small case: fold-in, exclusions, candidates, similar items, errors', () => {
    const fm = new FactorModel<string, string>({ itemIds: ['a', 'b', 'c', 'd'], itemFactors: Float32Array.of(1, 0, 0, 1, 0.8, 0.6, -1, 0), dim: 2, lambda: 0 });
    // VᵀV = [[2.64, .48], [.48, 1.36]]; history {a}: u = (VᵀV)⁻¹ (1, 0)
    const u = fm.tryUserFactors({ items: ['a'] })!;
    const det = 2.64 * 1.36 - 0.48 * 0.48;
    expect(u[0]).toBeCloseTo(1.36 / det, 5);
    expect(u[1]).toBeCloseTo(-0.48 / det, 5);
    expect(fm.recommend({ items: ['a'] }, { n: 3 }).ids).toEqual(['c', 'b', 'd']);
    expect(fm.recommend({ items: ['a'] }, { n: 3, candidates: ['b', 'd'] }).ids).toEqual(['b', 'd']);
    expect(fm.similarItems('a', { n: 2 }).ids).toEqual(['c', 'b']);
    expect(() => fm.recommend('nobody')).toThrow(UnknownIdError);
    expect(fm.recommend('nobody', { fallback: 'popular' }).ids).toEqual([]);
    expect(() => new FactorModel({ itemIds: ['a'], itemFactors: Float32Array.of(NaN), dim: 1 })).toThrow(/itemFactors\[0\]/);
    expect(() => new FactorModel({ itemIds: ['a', 'a'], itemFactors: new Float32Array(2), dim: 1 })).toThrow(/unique/);
  });
});
