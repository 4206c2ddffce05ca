import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  Rng, IdMap, encodeContainer, decodeContainer, writeContainer, readContainer, FileFormatError, InvalidParameterError, topK,
} from '../../src/core/index.js';

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42), b = new Rng(42), c = new Rng(43);
    const xa = Array.from({ length: 5 }, () => a.nextU32());
    const xb = Array.from({ length: 5 }, () => b.nextU32());
    const xc = Array.from({ length: 5 }, () => c.nextU32());
    expect(xa).toEqual(xb);
    expect(xa).not.toEqual(xc);
  });
  it('draws uniforms in [0,1) and normals with mean 0, variance 1', () => {
    const r = new Rng(1);
    let s = 0, s2 = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) { const u = r.next(); expect(u).toBeGreaterThanOrEqual(0); expect(u).toBeLessThan(1); }
    for (let i = 0; i < n; i++) { const z = r.normal(); s += z; s2 += z * z; }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.05);
  });
  it('rejects a non-finite seed', () => {
    expect(() => new Rng(NaN)).toThrow(InvalidParameterError);
  });
});

describe('IdMap', () => {
  it('keeps strings, numbers and bigints distinct and round-trips them', () => {
    const m = new IdMap();
    expect(m.add('1')).toBe(0);
    expect(m.add(1)).toBe(1);
    expect(m.add(1n)).toBe(2);
    expect(m.add('1')).toBe(0);
    const back = IdMap.decode(m.encode());
    expect(back.ids()).toEqual(['1', 1, 1n]);
    expect(back.index(1n)).toBe(2);
  });
  it('rejects NaN and object ids', () => {
    const m = new IdMap<never>();
    expect(() => m.add(NaN as never)).toThrow(/finite number/);
    expect(() => m.add({} as never)).toThrow(InvalidParameterError);
  });
});

describe('container', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-core-'));
  it('round-trips sections and meta', async () => {
    const f = path.join(dir, 'a.bin');
    await writeContainer(f, 'test.kind', 3, { a: 1, big: 5n }, { x: Float32Array.of(1, 2, 3), y: Int32Array.of(-1, 7) });
    const c = await readContainer(f, 'test.kind');
    expect(c.version).toBe(3);
    expect(c.meta).toEqual({ a: 1, big: 5n });
    expect(Array.from(c.sections.get('x') as Float32Array)).toEqual([1, 2, 3]);
    expect(Array.from(c.sections.get('y') as Int32Array)).toEqual([-1, 7]);
  });
  it('rejects truncated, altered and foreign files with FileFormatError', async () => {
    const buf = encodeContainer('k', 1, {}, { x: Float64Array.of(1, 2) });
    expect(() => decodeContainer(buf.subarray(0, buf.length - 5), 't')).toThrow(FileFormatError);
    const altered = Buffer.from(buf); altered[40] ^= 0xff;
    expect(() => decodeContainer(altered, 't')).toThrow(/checksum/);
    expect(() => decodeContainer(Buffer.from('hello world, this is not a pinrec file at all, no no no'), 't')).toThrow(/magic/);
    expect(() => decodeContainer(buf, 't', 'other.kind')).toThrow(/expected a 'other.kind'/);
    const f = path.join(dir, 'missing.bin');
    await expect(readContainer(f)).rejects.toThrow(FileFormatError);
  });
  it('replaces the file atomically and leaves no temp files', async () => {
    const f = path.join(dir, 'b.bin');
    await writeContainer(f, 'k', 1, { v: 1 }, {});
    await writeContainer(f, 'k', 1, { v: 2 }, {});
    expect((await readContainer<{ v: number }>(f)).meta.v).toBe(2);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp') || n.endsWith('.pinrec-tmp'))).toEqual([]);
    writeFileSync(f, readFileSync(f).subarray(0, 20));
    await expect(readContainer(f)).rejects.toThrow(FileFormatError);
  });
});

describe('topK', () => {
  it('matches a full sort with deterministic ties on random inputs', () => {
    const r = new Rng(5);
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + r.int(200);
      const s = Float32Array.from({ length: n }, () => (r.next() < 0.2 ? -Infinity : Math.round(r.next() * 20)));
      const k = 1 + r.int(30);
      const expected = Array.from({ length: n }, (_, i) => i)
        .filter((i) => s[i] > -Infinity)
        .sort((a, b) => s[b] - s[a] || a - b)
        .slice(0, k);
      expect(Array.from(topK(s, k))).toEqual(expected);
    }
  });
});
