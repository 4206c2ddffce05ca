/**
 * hnswlib graph headers edited and re-sealed with a recomputed checksum (whoever can write the file can do
 * that): each file is loaded and searched in its own child process, which must exit 0 with either a typed
 * FileFormatError or a working index — never a native crash, an abort or a runaway allocation.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HnswIndex } from '../../src/ann/index.js';
import { readContainer, writeContainer, type SectionArray } from '../../src/core/container.js';
import { Rng } from '../../src/core/rng.js';

const ROOT = path.resolve(__dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-crafted-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEADER = 96;
let good = '';
let sections: Map<string, SectionArray>;
let meta: Record<string, unknown>, kind = '', version = 0;
let levels: number[] = [];

beforeAll(async () => {
  const rng = new Rng(5);
  const index = new HnswIndex<number>({ metric: 'l2', dim: 8, M: 4, seed: 3 });
  index.addItems(Array.from({ length: 400 }, (_, i) => i), Float32Array.from({ length: 400 * 8 }, () => rng.normal()));
  good = path.join(dir, 'good.hnsw');
  await index.save(good);
  const c = await readContainer<Record<string, unknown>>(good);
  sections = c.sections; meta = c.meta; kind = c.kind; version = c.version;
  // node levels from the upper-level section (M 4: 4 links + a 4-byte count per level)
  const g = sections.get('graph') as Uint8Array;
  const v = new DataView(g.buffer, g.byteOffset, g.byteLength);
  const count = Number(v.getBigUint64(16, true)), per = Number(v.getBigUint64(24, true));
  let pos = HEADER + count * per;
  for (let i = 0; i < count; i++) { const size = v.getUint32(pos, true); levels.push(size / 20); pos += 4 + size; }
});

async function craft(name: string, edit: (v: DataView, g: Uint8Array) => void): Promise<string> {
  const g = (sections.get('graph') as Uint8Array).slice();
  edit(new DataView(g.buffer, g.byteOffset, g.byteLength), g);
  const file = path.join(dir, `${name}.hnsw`);
  await writeContainer(file, kind, version, meta, Object.fromEntries([...sections, ['graph', g]]));
  return file;
}

function loadInChild(file: string): { status: number | null; out: { ok?: boolean; error?: string; rssMb?: number; found?: number }; stderr: string } {
  const script = path.join(dir, 'load.mts');
  writeFileSync(script, `
    import { HnswIndex } from ${JSON.stringify(path.join(ROOT, 'src/ann/index.ts'))};
    const rss0 = process.memoryUsage().rss;
    try {
      const index = await HnswIndex.load(process.argv[2]);
      const r = index.search(new Float32Array(8).fill(0.1), 10);
      console.log(JSON.stringify({ ok: true, found: r.ids.length, rssMb: (process.memoryUsage().rss - rss0) / 2 ** 20 }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, error: e.name + ': ' + e.message }));
    }
  `);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  return { status: r.status, out: JSON.parse(last.startsWith('{') ? last : '{}'), stderr: r.stderr };
}

describe('crafted hnswlib graph headers never crash the process', () => {
  it('the untouched file loads and searches', () => {
    const r = loadInChild(good);
    expect(r.status).toBe(0);
    expect(r.out).toMatchObject({ ok: true, found: 10 });
  });

  it('maxElements = 2^32 − 1: loads with memory bounded by the file (capacity field rewritten)', async () => {
    const r = loadInChild(await craft('max-u32', (v) => v.setBigUint64(8, 2n ** 32n - 1n, true)));
    expect(r.status).toBe(0);
    expect(r.out.ok).toBe(true);
    expect(r.out.rssMb!).toBeLessThan(200);
  });

  it('maxElements = 2e7 in a small file: no 938 MB allocation', async () => {
    const r = loadInChild(await craft('max-2e7', (v) => v.setBigUint64(8, 20_000_000n, true)));
    expect(r.status).toBe(0);
    expect(r.out.ok).toBe(true);
    expect(r.out.rssMb!).toBeLessThan(200);
  });

  it('maxLevel = 64: FileFormatError (no "cand error" abort at search)', async () => {
    const r = loadInChild(await craft('maxlevel-64', (v) => v.setInt32(48, 64, true)));
    expect(r.status).toBe(0);
    expect(r.out.ok).toBe(false);
    expect(r.out.error).toMatch(/^FileFormatError: .*max level 64 disagrees/);
  });

  it('entry point on a node below the top level: FileFormatError (no segfault at search)', async () => {
    const low = levels.findIndex((l) => l < Math.max(...levels));
    const r = loadInChild(await craft('entry-low', (v) => v.setUint32(52, low, true)));
    expect(r.status).toBe(0);
    expect(r.out.ok).toBe(false);
    expect(r.out.error).toMatch(/^FileFormatError: .*entry point/);
  });

  it('an upper-level link to a node without that level: FileFormatError', async () => {
    const top = Math.max(...levels);
    const hi = levels.findIndex((l) => l === top);
    const low = levels.findIndex((l) => l === 0);
    const r = loadInChild(await craft('link-level', (v, g) => {
      const count = Number(v.getBigUint64(16, true)), per = Number(v.getBigUint64(24, true));
      let pos = HEADER + count * per;
      for (let i = 0; i < hi; i++) pos += 4 + v.getUint32(pos, true);
      pos += 4; // node hi's level-1 link list: [count u16, flags u16][4 links]
      v.setUint16(pos, Math.max(1, v.getUint16(pos, true)), true);
      v.setUint32(pos + 4, low, true);
      void g;
    }));
    expect(r.status).toBe(0);
    expect(r.out.ok).toBe(false);
    expect(r.out.error).toMatch(/^FileFormatError: .*which has no such level/);
  });
});
