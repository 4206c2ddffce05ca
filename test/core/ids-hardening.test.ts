/** Id tables (hardening): every string id, lone surrogates included, comes back from save/load exactly. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IdMap, Rng, decodeIds, encodeIds } from '../../src/core/index.js';
import { ExactIndex } from '../../src/ann/exact.js';
import type { Id } from '../../src/core/types.js';

const LONE = ['\uD800', '\uDFFF', 'a\uD83D', '\uDE00b', '\uD83D\uD83D', 'x\uDFFF\uD800y', '\uD83D\uDE00', 'plain', ''];

/** Fast random strings over code units chosen to hit surrogates (lone, paired, reversed) often. */
function randomStrings(n: number, seed: number): string[] {
  const r = new Rng(seed);
  const units = [0x61, 0x7f, 0xe9, 0x4e2d, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xd83d, 0xde00, 0xfffd, 0xffff, 0];
  const out = new Set<string>();
  while (out.size < n) {
    const len = r.int(6);
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(r.next() < 0.7 ? units[r.int(units.length)] : r.int(0x10000));
    out.add(s);
  }
  return [...out];
}

describe('id table encoding', () => {
  it('round-trips lone surrogates exactly (encodeIds / decodeIds and IdMap)', () => {
    const ids: Id[] = [...new Set([...LONE, ...randomStrings(2000, 7)]), 1, -0, 2.5, 10n];
    const back = decodeIds(encodeIds(ids));
    expect(back.length).toBe(ids.length);
    for (let i = 0; i < ids.length; i++) expect(Object.is(back[i], ids[i])).toBe(true);
    const m = IdMap.from(ids);
    const again = IdMap.decode(m.encode());
    expect(again.ids()).toEqual(m.ids());
    for (const s of LONE) expect(again.index(s)).toBe(m.index(s));
  });

  it('keeps well-formed strings in the original UTF-8 records (old files read, old readers read new files)', () => {
    // An id table written by the previous encoder: [u32 n] then [tag u8][len u32][utf8].
    const rec = (tag: number, s: string) => {
      const b = Buffer.from(s, 'utf8');
      const h = Buffer.alloc(5);
      h.writeUInt8(tag, 0);
      h.writeUInt32LE(b.length, 1);
      return Buffer.concat([h, b]);
    };
    const n = Buffer.alloc(4);
    n.writeUInt32LE(4, 0);
    const old = Buffer.concat([n, rec(1, 'pin:é'), rec(1, '😀'), rec(2, '-0'), rec(3, '123')]);
    const back = decodeIds(old);
    expect(back[0]).toBe('pin:é');
    expect(back[1]).toBe('😀');
    expect(Object.is(back[2], -0)).toBe(true);
    expect(back[3]).toBe(123n);
    expect(encodeIds(['pin:é', '😀', -0, 123n]).equals(old)).toBe(true);
  });

  it('rejects a malformed UTF-16 record', () => {
    const ids = encodeIds(['\uD800']);
    expect(() => decodeIds(ids.subarray(0, ids.length - 1))).toThrow(/truncated|malformed/);
  });
});

describe('indexes keep lone-surrogate ids across save/load', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-ids-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ExactIndex', async () => {
    const ids = [...new Set([...LONE, ...randomStrings(300, 11)])];
    const index = new ExactIndex<string>({ metric: 'l2', dim: 2 });
    index.addItems(ids, Float32Array.from({ length: ids.length * 2 }, (_, i) => i));
    const f = path.join(dir, 'lone.exact');
    await index.save(f);
    const back = await ExactIndex.load<string>(f);
    expect(back.liveIds()).toEqual(ids);
    for (const s of LONE) expect(back.has(s)).toBe(true);
  });
});
