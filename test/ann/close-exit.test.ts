/** `await index.close()` at the top level of a program settles (the closing workers keep the process alive). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { expect, it } from 'vitest';

it('a script that searches in batch and awaits close() exits 0 with all its output', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-close-'));
  try {
    const script = path.join(dir, 'main.mts');
    writeFileSync(script, `
      import { HnswIndex } from ${JSON.stringify(path.resolve(__dirname, '../../src/ann/index.ts'))};
      const dim = 16, n = 2000;
      const v = Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i));
      const index = new HnswIndex({ metric: 'cosine', dim });
      index.addItems(Array.from({ length: n }, (_, i) => i), v);
      const r = await index.searchBatch(v.subarray(0, 100 * dim), 10, { threads: 2 });
      await index.close();
      console.log('closed', r.length);
    `);
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('closed 100');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
