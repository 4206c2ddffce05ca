/** Saved models whose checksum was recomputed after editing: structurally impossible files are refused. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SvdRecommender, syntheticInteractions } from '../../src/cf/index.js';
import { readContainer, writeContainer, type SectionArray } from '../../src/core/container.js';
import { FileFormatError } from '../../src/core/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-model-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SvdRecommender.load refuses crafted files', async () => {
  const model = new SvdRecommender({ factors: 6 }).fit(syntheticInteractions({ users: 120, items: 60, events: 1500, seed: 3 }).toMatrix());
  const file = path.join(dir, 'good.pinrec');
  await model.save(file);
  const c = await readContainer<Record<string, unknown>>(file);
  const edits: [string, (s: Map<string, SectionArray>, m: Record<string, unknown>) => void][] = [
    ['NaN in the item factors', (s) => { const v = (s.get('v') as Float32Array).slice(); v[7] = NaN; s.set('v', v); }],
    ['Infinity in the scoring matrix', (s) => { const v = (s.get('wt') as Float32Array).slice(); v[0] = Infinity; s.set('wt', v); }],
    ['a shrunk popularity section', (s) => s.set('popularity', (s.get('popularity') as Float64Array).slice(1))],
    ['a column index out of range', (s) => { const v = (s.get('xIndices') as Int32Array).slice(); v[3] = 1e6; s.set('xIndices', v); }],
    ['row pointers going backwards', (s) => { const v = (s.get('xIndptr') as Int32Array).slice(); v[5] = v[4] - 1; s.set('xIndptr', v); }],
    ['a negative weight', (s) => { const v = (s.get('xData') as Float32Array).slice(); v[2] = -1; s.set('xData', v); }],
    ['a Gram index out of range', (s) => { const v = (s.get('gIndices') as Int32Array).slice(); v[0] = -3; s.set('gIndices', v); }],
    ['k larger than the catalogue', (_s, m) => { m.k = 10_000; }],
    ['a zero weight scale', (_s, m) => { m.weightScale = 0; }],
    ['a NaN lambda', (_s, m) => { m.lambdaUsed = 'x'; }],
  ];
  for (const [what, edit] of edits) {
    it(what, async () => {
      const sections = new Map(c.sections);
      const meta = structuredClone(c.meta);
      edit(sections, meta);
      const crafted = path.join(dir, `${what.replace(/\W+/g, '-')}.pinrec`);
      await writeContainer(crafted, c.kind, c.version, meta, Object.fromEntries(sections));
      await expect(SvdRecommender.load(crafted)).rejects.toThrow(FileFormatError);
    });
  }
  it('the untouched file loads and answers as the model', async () => {
    const again = await SvdRecommender.load(file);
    expect(again.recommend(0, { n: 5 })).toEqual(model.recommend(0, { n: 5 }));
  });
});
