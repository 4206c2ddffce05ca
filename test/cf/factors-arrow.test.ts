/**
 * An SvdRecommender's factors as Arrow files (src/cf/factors-arrow.ts): read back they equal the model's own
 * factors bit for bit, and the documented dot products reproduce the model's scores.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SvdRecommender, interactionsFromColumns, syntheticInteractions } from '../../src/cf/index.js';
import { readFactorsArrow, writeFactorsArrow } from '../../src/cf/factors-arrow.js';
import { readArrowTable } from '../../src/core/arrow-out.js';
import { InvalidParameterError, NotFittedError } from '../../src/core/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-factors-arrow-'));
let seq = 0;
const tmpFile = () => path.join(dir, `f${seq++}.arrow`);

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, k: number): number {
  let s = 0;
  for (let f = 0; f < k; f++) s += a[ao + f] * b[bo + f];
  return s;
}

const log = syntheticInteractions({ users: 300, items: 120, events: 6000, clusters: 6, seed: 5 });
const pure = new SvdRecommender<number, number>({ factors: 8, scoring: 'puresvd', order: 'off', seed: 1 }).fit(log.toMatrix());

/** Users on a ring of 40 pins, each with a window of 3 neighbours: far pins share no user, but the factors link them. */
function ringModel(): SvdRecommender<string, string> {
  const users: string[] = [], items: string[] = [], weights: number[] = [];
  for (let u = 0; u < 160; u++) {
    const start = u % 40;
    for (let d = 0; d < 3; d++) { users.push(`u${u}`); items.push(`p${(start + d) % 40}`); weights.push(1 + ((u + d) % 3)); }
  }
  return new SvdRecommender<string, string>({ factors: 10, scoring: 'ease', order: 'off', seed: 2 }).fit(interactionsFromColumns({ users, items, weights }).toMatrix());
}

describe('writeFactorsArrow / readFactorsArrow', () => {
  it('pin factors read back equal the model’s, bit for bit (scoring vectors and V), in several batches', async () => {
    for (const vectors of ['scoring', 'factors'] as const) {
      const f = tmpFile();
      const s = await writeFactorsArrow(pure, f, { which: 'items', vectors, batchRows: 50 });
      expect(s).toMatchObject({ rows: 120, batches: 3 });
      const back = await readFactorsArrow<number>(f);
      const want = vectors === 'scoring' ? pure.scoringFactors() : pure.itemFactors();
      expect(back.ids).toEqual(want.ids);
      expect(back.dim).toBe(8);
      expect(bits(back.vectors).equals(bits(want.factors))).toBe(true);
      expect(back).toMatchObject({ which: 'items', vectorKind: vectors, scoring: 'puresvd' });
      expect(Array.from(back.singularValues!)).toEqual(Array.from(pure.singularValues));
      expect(back.metadata.get('pinrec.kind')).toBe('factors');
      expect(back.metadata.get('pinrec.dim')).toBe('8');
      const t = await readArrowTable(f);
      expect(t.schema.fields.map((x) => `${x.name}: ${x.type}`)).toEqual(['id: Int32', 'factors: FixedSizeList[8]<Float32>']);
      expect(t.batches.length).toBe(3);
    }
    // for PureSVD the scoring vectors are V
    expect(bits(pure.scoringFactors().factors).equals(bits(pure.itemFactors().factors))).toBe(true);
  });

  it('user factors read back equal model.userFactors for every user', async () => {
    const f = tmpFile();
    const progress: number[] = [];
    await writeFactorsArrow(pure, f, { which: 'users', batchRows: 64, onProgress: (p) => progress.push(p.done) });
    expect(progress).toEqual([64, 128, 192, 256, 300]);
    const back = await readFactorsArrow<number>(f);
    expect(back.ids).toEqual(pure.userIds());
    expect(back).toMatchObject({ which: 'users', vectorKind: 'user', dim: 8 });
    for (let u = 0; u < back.ids.length; u++) {
      expect(bits(back.vectors.subarray(u * 8, (u + 1) * 8)).equals(bits(pure.userFactors(back.ids[u])))).toBe(true);
    }
  });

  it('PureSVD: user row · pin row is the model’s score of every pin (up to float32 rounding)', async () => {
    const uf = tmpFile(), pf = tmpFile();
    await writeFactorsArrow(pure, uf, { which: 'users' });
    await writeFactorsArrow(pure, pf, { which: 'items' });
    const users = await readFactorsArrow<number>(uf);
    const pins = await readFactorsArrow<number>(pf);
    const pinRow = new Map(pins.ids.map((id, j) => [id, j]));
    let checked = 0;
    for (const u of [0, 1, 17, 42, 123, 299]) {
      const ui = users.ids.indexOf(u);
      const rec = pure.recommend(u, { n: 120 });
      const scale = Math.max(...Array.from(rec.scores, Math.abs));
      rec.ids.forEach((pin, t) => {
        const s = dot(users.vectors, ui * 8, pins.vectors, pinRow.get(pin)! * 8, 8);
        expect(Math.abs(s - rec.scores[t])).toBeLessThanOrEqual(1e-5 * scale);
        checked++;
      });
    }
    expect(checked).toBeGreaterThan(300);
  });

  it('EASE: user row · scoring row is the score of every pin that shares no user with the user’s pins', async () => {
    const model = ringModel();
    const uf = tmpFile(), pf = tmpFile();
    await writeFactorsArrow(model, uf, { which: 'users' });
    await writeFactorsArrow(model, pf, { which: 'items' });
    const users = await readFactorsArrow<string>(uf);
    const pins = await readFactorsArrow<string>(pf);
    expect(pins.scoring).toBe('ease');
    const k = pins.dim;
    // user u0 has pins 0, 1, 2; pins within distance 2 of them co-occur with them (38, 39, 0..4)
    const ui = users.ids.indexOf('u0');
    const far = Array.from({ length: 40 }, (_, j) => j).filter((j) => j >= 5 && j <= 37).map((j) => `p${j}`);
    const rec = model.recommend('u0', { n: 40, allowItems: far });
    expect(rec.ids.length).toBe(far.length);
    const scale = Math.max(...Array.from(rec.scores, Math.abs));
    expect(scale).toBeGreaterThan(0);
    rec.ids.forEach((pin, t) => {
      const s = dot(users.vectors, ui * k, pins.vectors, pins.ids.indexOf(pin) * k, k);
      expect(Math.abs(s - rec.scores[t])).toBeLessThanOrEqual(1e-5 * scale);
    });
    expect(pins.ids.every((id) => typeof id === 'string')).toBe(true);
    expect(String((await readArrowTable(pf)).schema.fields[0].type)).toBe('Utf8');
  });

  it('refuses an unfitted model and bad options, leaving no file', async () => {
    const f = tmpFile();
    await expect(writeFactorsArrow(new SvdRecommender(), f)).rejects.toBeInstanceOf(NotFittedError);
    await expect(writeFactorsArrow(pure, f, { which: 'pins' as never })).rejects.toThrow(/which must be one of 'items', 'users' \(got "pins"\)/);
    await expect(writeFactorsArrow(pure, f, { which: 'users', vectors: 'factors' })).rejects.toBeInstanceOf(InvalidParameterError);
    await expect(writeFactorsArrow({} as never, f)).rejects.toThrow(/model must be an SvdRecommender/);
    expect(readdirSync(dir)).not.toContain(path.basename(f));
    expect(readdirSync(dir).filter((n) => n.endsWith('.pinrec-tmp'))).toEqual([]);
  });
});
