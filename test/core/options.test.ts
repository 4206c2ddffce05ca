import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExactIndex, HnswIndex } from '../../src/ann/index.js';
import { FileFormatError, InvalidParameterError } from '../../src/core/errors.js';
import { readContainer, writeContainer } from '../../src/core/container.js';
import { resolveOptions } from '../../src/core/options.js';

const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('resolveOptions (one rule table per class)', () => {
  const RULES = { metric: { oneOf: ['cosine', 'l2'] as const }, dim: { int: [1, 8] }, ef: { int: [1, 100], default: 50 }, w: { number: [0, 1], default: 0.5 }, on: { bool: true, default: false } } as const;
  it('fills defaults and checks every value, naming the option', () => {
    expect({ ...resolveOptions(RULES, { metric: 'l2', dim: 3 }) }).toEqual({ metric: 'l2', dim: 3, ef: 50, w: 0.5, on: false });
    expect(() => resolveOptions(RULES, { metric: 'ip', dim: 3 })).toThrow(/metric must be one of/);
    expect(() => resolveOptions(RULES, { metric: 'l2', dim: 9 })).toThrow('dim must be an integer in [1, 8] (got 9)');
    expect(() => resolveOptions(RULES, { metric: 'l2' })).toThrow(/dim must be given/);
    expect(() => resolveOptions(RULES, { metric: 'l2', dim: 1, w: NaN })).toThrow(InvalidParameterError);
    expect(() => resolveOptions(RULES, null)).toThrow(/options must be an object/);
    // inherited properties are not options
    expect(resolveOptions(RULES, Object.assign(Object.create({ ef: 7 }), { metric: 'l2', dim: 1 })).ef).toBe(50);
  });
});

describe('a saved index whose header holds options its constructor refuses is a FileFormatError', () => {
  for (const [name, make, load, kind] of [
    ['ExactIndex', () => new ExactIndex({ metric: 'l2', dim: 2 }), (f: string) => ExactIndex.load(f), 'pinrec.ann.exact'],
    ['HnswIndex', () => new HnswIndex({ metric: 'l2', dim: 2 }), (f: string) => HnswIndex.load(f), 'pinrec.ann.hnsw'],
  ] as const) {
    it(name, async () => {
      const index = make();
      index.addItems(['a', 'b'], new Float32Array([0, 0, 1, 1]));
      const file = path.join(dir, `${name}.bin`);
      await index.save(file);
      const c = await readContainer<Record<string, unknown>>(file);
      expect(c.kind).toBe(kind);
      for (const [field, bad] of [['dim', 0], ['metric', 'hamming'], ['dim', 1e6]] as const) {
        const crafted = path.join(dir, `${name}-${field}-${bad}.bin`);
        await writeContainer(crafted, c.kind, c.version, { ...c.meta, [field]: bad }, Object.fromEntries(c.sections));
        await expect(load(crafted)).rejects.toThrow(FileFormatError);
        await expect(load(crafted)).rejects.toThrow(new RegExp(`header meta is malformed \\(${field} must be`));
      }
      await index.close();
    });
  }
});
