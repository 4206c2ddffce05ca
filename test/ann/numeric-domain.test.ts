/** Vectors at the edges of float32: rejected at the boundary (l2, ip) or handled exactly (cosine). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExactIndex, HnswIndex } from '../../src/ann/index.js';
import { readContainer, writeContainer } from '../../src/core/container.js';
import { FileFormatError, InvalidParameterError } from '../../src/core/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-numeric-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('numeric domain of the indexes', () => {
  it('cosine: components from 1e-30 to 1e30 give the same neighbours as unit vectors, HNSW = exact', async () => {
    const base = [[1, 0, 0], [0.8, 0.6, 0], [0, 0, 1], [0.6, 0, 0.8]];
    for (const scale of [1e-30, 1e-20, 1, 1e20, 1e30]) {
      const h = new HnswIndex<number>({ metric: 'cosine', dim: 3 });
      const e = new ExactIndex<number>({ metric: 'cosine', dim: 3 });
      const data = Float32Array.from(base.flat(), (x) => x * scale);
      h.addItems([0, 1, 2, 3], data); e.addItems([0, 1, 2, 3], data);
      const q = Float32Array.from([0.9 * scale, 0.1 * scale, 0.05 * scale]);
      expect(h.search(q, 4).ids).toEqual([0, 1, 3, 2]);
      expect(h.search(q, 4).ids).toEqual(e.search(q, 4).ids);
      expect(Array.from(h.getVector(2))).toEqual([0, 0, 1]);
      const batch = await h.searchBatch(Float32Array.from([...q, ...q, ...q, ...q]), 2, { threads: 2 });
      expect(batch.map((r) => r.ids)).toEqual([[0, 1], [0, 1], [0, 1], [0, 1]]);
      await h.close();
    }
  });

  it('l2 and ip: components whose distances would overflow float32 are a typed error naming the component', () => {
    for (const metric of ['l2', 'ip'] as const) {
      const h = new HnswIndex({ metric, dim: 4 });
      expect(() => h.addItems('a', [1e20, 0, 0, 0])).toThrow(InvalidParameterError);
      expect(() => h.addItems('a', [1e20, 0, 0, 0])).toThrow(/vectors\[0\] must be at most/);
      expect(() => h.search([0, 0, -1e20, 0], 1)).toThrow(/query\[2\]/);
      h.addItems('a', [1e17, 0, 0, 0]);
      expect(Number.isFinite(h.search([-1e17, 0, 0, 0], 1).distances[0])).toBe(true);
    }
  });

  it('ExactIndex.load refuses stored NaN, Infinity or zero cosine vectors even with a recomputed checksum', async () => {
    const e = new ExactIndex<string>({ metric: 'cosine', dim: 2 });
    e.addItems(['a', 'b'], new Float32Array([1, 0, 0, 1]));
    const file = path.join(dir, 'e.bin');
    await e.save(file);
    const c = await readContainer<Record<string, unknown>>(file);
    for (const [what, bad] of [['NaN', [NaN, 0]], ['Infinity', [Infinity, 0]], ['zero', [0, 0]]] as const) {
      const v = (c.sections.get('vectors') as Float32Array).slice();
      v.set(bad, 2);
      const crafted = path.join(dir, `e-${what}.bin`);
      await writeContainer(crafted, c.kind, c.version, c.meta, { ...Object.fromEntries(c.sections), vectors: v });
      await expect(ExactIndex.load(crafted)).rejects.toThrow(FileFormatError);
    }
  });
});
