/**
 * usearch index bytes edited and re-sealed with a recomputed checksum (whoever can write the file can do that):
 * each file is loaded, searched and added to in a child process, which must exit 0 with either a typed
 * FileFormatError or a working index — never a native crash, an abort or a hang. Targeted edits name the
 * check that catches them; a seeded mutation corpus (one to four random bytes or words anywhere in the
 * usearch section) runs in one child.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsearchIndex } from '../../src/ann/index.js';
import { readContainer, writeContainer, type SectionArray } from '../../src/core/container.js';
import { Rng } from '../../src/core/rng.js';

const ROOT = path.resolve(__dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-crafted-usearch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DIM = 8, M = 4;
let good = '';
let sections: Map<string, SectionArray>;
let meta: Record<string, unknown>, kind = '', version = 0;
/** Offsets in the usearch section: dense header, graph header, level table, node starts; node levels. */
let head = 0, graphAt = 0, levelsAt = 0;
let nodeAt: number[] = [];
let levels: number[] = [];

beforeAll(async () => {
  const rng = new Rng(5);
  const index = new UsearchIndex<number>({ metric: 'l2', dim: DIM, M, threads: 1 });
  index.addItems(Array.from({ length: 400 }, (_, i) => i), Float32Array.from({ length: 400 * DIM }, () => rng.normal()));
  index.markDeleted(17);
  good = path.join(dir, 'good.usearch');
  await index.save(good);
  const c = await readContainer<Record<string, unknown>>(good);
  sections = c.sections; meta = c.meta; kind = c.kind; version = c.version;
  const g = sections.get('graph') as Uint8Array;
  const v = new DataView(g.buffer, g.byteOffset, g.byteLength);
  const rows = v.getUint32(0, true), cols = v.getUint32(4, true);
  head = 8 + rows * cols;
  graphAt = head + 64;
  levelsAt = graphAt + 40;
  const size = Number(v.getBigUint64(graphAt, true));
  let pos = levelsAt + 2 * size;
  levels = []; nodeAt = [];
  for (let i = 0; i < size; i++) {
    const l = v.getInt16(levelsAt + 2 * i, true);
    levels.push(l); nodeAt.push(pos);
    pos += 10 + (4 + 8 * M) + l * (4 + 4 * M);
  }
});

async function craft(name: string, edit: (v: DataView, g: Uint8Array) => Uint8Array | void): Promise<string> {
  const g0 = (sections.get('graph') as Uint8Array).slice();
  const g = edit(new DataView(g0.buffer, g0.byteOffset, g0.byteLength), g0) ?? g0;
  const file = path.join(dir, `${name}.usearch`);
  await writeContainer(file, kind, version, meta, Object.fromEntries([...sections, ['graph', g]]));
  return file;
}

const PROBE = `
  const rss0 = process.memoryUsage().rss;
  async function probe(file) {
    try {
      const index = await UsearchIndex.load(file);
      const q = new Float32Array(${DIM}).fill(0.1);
      const r = index.search(q, 10);
      await index.searchBatch(new Float32Array(${DIM} * 8).fill(0.2), 5, { threads: 2 });
      index.search(q, 5, { filter: (id) => id % 3 === 0 });
      index.addItems([5000, 5001, 3], new Float32Array(${DIM} * 3).fill(0.3));
      index.search(q, 10);
      return { ok: true, found: r.ids.length, rssMb: (process.memoryUsage().rss - rss0) / 2 ** 20 };
    } catch (e) {
      return { ok: false, error: e.name + ': ' + e.message };
    }
  }`;

function runChild(body: string, args: string[]): { status: number | null; signal: NodeJS.Signals | null; last: string; stderr: string } {
  const script = path.join(dir, `child-${Math.random().toString(36).slice(2)}.mts`);
  writeFileSync(script, `import { UsearchIndex } from ${JSON.stringify(path.join(ROOT, 'src/ann/index.ts'))};\n${PROBE}\n${body}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' });
  return { status: r.status, signal: r.signal, last: r.stdout.trim().split('\n').pop() ?? '', stderr: r.stderr };
}

function loadInChild(file: string): { status: number | null; out: { ok?: boolean; error?: string; found?: number; rssMb?: number } } {
  const r = runChild('console.log(JSON.stringify(await probe(process.argv[2])));', [file]);
  return { status: r.status, out: JSON.parse(r.last.startsWith('{') ? r.last : '{}') };
}

describe('crafted usearch index bytes never crash the process', () => {
  it('the untouched file loads, searches and takes new vectors', () => {
    const r = loadInChild(good);
    expect(r.status).toBe(0);
    expect(r.out).toMatchObject({ ok: true, found: 10 });
  });

  const cases: [string, (v: DataView, g: Uint8Array) => Uint8Array | void, RegExp][] = [
    ['base link count above 2·M', (v) => v.setUint32(nodeAt[0] + 10, 2 * M + 1, true), /has 9 base links \(at most 8\)/],
    ['base link count 2^32 − 1', (v) => v.setUint32(nodeAt[3] + 10, 0xffffffff, true), /base links \(at most 8\)/],
    ['base link out of range', (v) => v.setUint32(nodeAt[1] + 14, 400, true), /base links out of range/],
    ['upper link count above M', (v) => { const i = levels.findIndex((l) => l >= 1); v.setUint32(nodeAt[i] + 10 + 4 + 8 * M, M + 1, true); }, /links on level 1 \(at most 4\)/],
    ['upper link to a node without that level', (v) => {
      const i = levels.findIndex((l) => l >= 1), low = levels.findIndex((l) => l === 0);
      const o = nodeAt[i] + 10 + 4 + 8 * M;
      v.setUint32(o, Math.max(1, v.getUint32(o, true)), true);
      v.setUint32(o + 4, low, true);
    }, /which has no such level/],
    ['entry slot below the top level', (v) => v.setBigUint64(graphAt + 32, BigInt(levels.findIndex((l) => l === 0)), true), /entry slot \d+ is not on the top level/],
    ['entry slot out of range', (v) => v.setBigUint64(graphAt + 32, 10_000n, true), /entry slot 10000 is out of range/],
    ['max level 64', (v) => v.setBigUint64(graphAt + 24, 64n, true), /max level 64 disagrees with its nodes/],
    ['max level 2^64 − 1', (v) => v.setBigUint64(graphAt + 24, 2n ** 64n - 1n, true), /max level -1 is invalid/],
    ['negative level in the table', (v) => v.setInt16(levelsAt + 2 * 5, -3, true), /node 5 has level -3/],
    ['level table above the node head', (v) => { const i = levels.findIndex((l) => l === 0); v.setInt16(levelsAt + 2 * i, 1, true); }, /truncated|disagrees with the level table/],
    ['node head level disagrees', (v) => v.setInt16(nodeAt[2] + 8, 3, true), /node 2 level disagrees with the level table/],
    ['graph size 2^40', (v) => v.setBigUint64(graphAt, 2n ** 40n, true), /graph size \d+ does not match the 400 stored vectors/],
    ['matrix rows 2^32 − 1', (v) => v.setUint32(0, 0xffffffff, true), /truncated/],
    ['dimensions in the dense header', (v) => v.setBigUint64(head + 33, 1_000_000n, true), /dimensions 1000000 do not match dim 8/],
    ['metric kind cosine', (v, g) => { g[head + 13] = 0x63; }, /metric kind 99 does not match/],
    ['scalar kind f16', (v, g) => { g[head + 14] = 12; }, /scalar, key or slot kind/],
    ['multi-key flag', (v, g) => { g[head + 41] = 1; }, /multi-key/],
    ['version 3.0', (v) => v.setUint16(head + 7, 3, true), /version 3\.\d+ is not read/],
    ['pre-2.10 version', (v) => v.setUint16(head + 9, 9, true), /version 2\.9 is not read/],
    ['no magic', (v, g) => { g[head] = 0x55; }, /no "usearch" magic/],
    ['connectivity 1024', (v) => v.setBigUint64(graphAt + 8, 1024n, true), /connectivity 1024\/8 does not match M 4/],
    ['present count off by one', (v) => v.setBigUint64(head + 17, 400n, true), /present and deleted counts disagree/],
    ['a key twice', (v) => v.setBigUint64(nodeAt[1], v.getBigUint64(nodeAt[0], true), true), /holds label \d+ twice/],
    ['a key outside the id table', (v) => v.setBigUint64(nodeAt[4], 1n << 40n, true), /not a label of the id table/],
    ['a deleted label in the graph', (v) => { const free = nodeAt.findIndex((o) => v.getBigUint64(o, true) === 2n ** 64n - 1n); v.setBigUint64(nodeAt[free], 17n, true); v.setBigUint64(nodeAt[0], 2n ** 64n - 1n, true); }, /label 17, which the deleted list says is deleted/],
    ['NaN vector component', (v) => v.setFloat32(8 + 4 * 13, NaN, true), /slot 1 has component 5 = NaN/],
    ['huge vector component', (v) => v.setFloat32(8, 3e38, true), /slot 0 has component 0/],
    ['truncated by one byte', (v, g) => g.slice(0, g.length - 1), /truncated/],
    ['a trailing byte', (v, g) => { const b = new Uint8Array(g.length + 1); b.set(g); return b; }, /trailing bytes/],
  ];

  it.each(cases)('%s: FileFormatError', async (name, edit, re) => {
    const r = loadInChild(await craft(name.replace(/\W+/g, '-'), edit));
    expect(r.status).toBe(0);
    expect(r.out.ok).toBe(false);
    expect(r.out.error).toMatch(/^FileFormatError: /);
    expect(r.out.error).toMatch(re);
  });

  it('a seeded corpus of 300 random mutations: every file is a FileFormatError or a working index, and the process exits 0', async () => {
    const rng = new Rng(11);
    const g0 = sections.get('graph') as Uint8Array;
    const files: string[] = [];
    for (let t = 0; t < 300; t++) {
      files.push(await craft(`mut-${t}`, (v, g) => {
        const edits = 1 + rng.int(4);
        for (let e = 0; e < edits; e++) {
          // half the edits land in the headers and level table, where one byte changes the most
          const at = rng.int(2) === 0 ? head + rng.int(Math.min(g0.length, nodeAt[0]) - head) : rng.int(g.length - 4);
          const what = rng.int(3);
          if (what === 0) g[at] ^= 1 << rng.int(8);
          else if (what === 1) v.setUint32(at, rng.int(2) === 0 ? rng.int(1000) : 0xffffffff - rng.int(4), true);
          else g[at] = rng.int(256);
        }
      }));
    }
    writeFileSync(path.join(dir, 'corpus.json'), JSON.stringify(files));
    const r = runChild(`
      const files = JSON.parse((await import('node:fs')).readFileSync(process.argv[2], 'utf8'));
      let ok = 0, rejected = 0, other = [];
      for (const f of files) {
        const p = await probe(f);
        if (p.ok) ok++;
        else if (p.error.startsWith('FileFormatError: ')) rejected++;
        else other.push(p.error);
      }
      console.log(JSON.stringify({ ok, rejected, other }));
    `, [path.join(dir, 'corpus.json')]);
    expect(r.signal).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.last) as { ok: number; rejected: number; other: string[] };
    expect(out.other).toEqual([]);
    expect(out.ok + out.rejected).toBe(300);
    expect(out.rejected).toBeGreaterThan(100);
  });
});
