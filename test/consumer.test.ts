/**
 * The published package, as a consumer sees it: build, `npm pack`, install the tarball into a fresh project
 * (offline: extracted, dependencies symlinked from this repository), type-check a file importing every
 * subpath with strict / nodenext / no skipLibCheck, and run a script that imports `pinrec/cf` with plain Node.
 * Helpers: test/consumer/project.ts; the consumer's sources: test/consumer/fixture/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, errorsByFile, externalTypeImports, makeConsumer, pack, runScript, typecheck } from './consumer/project.js';

const SUBPATHS = ['', 'cf', 'ann', 'embeddings', 'images', 'ingest', 'ranking', 'diversity'];

describe('consumer project (npm pack → install → tsc → node)', () => {
  let work = '';
  let consumer = '';
  let files: string[] = [];
  let buildOutput = '';

  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'pinrec-pack-'));
    const b = build();
    buildOutput = b.ok ? '' : b.output; // tsc emits even with errors; the type-check test reports them
    const p = pack(work);
    files = p.files;
    consumer = makeConsumer(p.tarball, path.join(work, 'consumer'));
  }, 600_000);
  afterAll(() => { if (work) rmSync(work, { recursive: true, force: true }); });

  it('npm run build succeeds', () => {
    expect(buildOutput, `npm run build failed:\n${buildOutput}`).toBe('');
  });

  it('the tarball holds the entry points and declarations of every subpath', () => {
    for (const s of SUBPATHS) {
      const dir = s ? `dist/${s}/` : 'dist/';
      expect(files).toContain(`${dir}index.js`);
      expect(files).toContain(`${dir}index.d.ts`);
    }
    expect(files).toContain('package.json');
  });

  it('type-checks with strict, nodenext and no skipLibCheck', () => {
    const r = typecheck(consumer);
    if (!r.ok) {
      const byFile = errorsByFile(r.output, consumer);
      const summary = Object.entries(byFile).map(([f, errs]) => `  ${f}: ${errs.length} error(s), e.g. ${errs[0]}`).join('\n');
      const leaks = Object.entries(externalTypeImports(consumer)).map(([f, specs]) => `  ${f} imports types from ${specs.join(', ')}`).join('\n');
      expect.fail(`tsc --noEmit in the consumer failed (${Object.values(byFile).flat().length} errors in ${Object.keys(byFile).length} files)\n${summary}\n` +
        `pinrec declarations that pull in other packages' types:\n${leaks || '  (none)'}\n\n--- full tsc output ---\n${r.output}`);
    }
  }, 300_000);

  it("runs a plain-Node script importing 'pinrec/cf' through the exports map", () => {
    const r = runScript(consumer);
    expect(r.status, `node run-cf.mjs failed:\n${r.stderr}`).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ids: number[]; users: number; resolved: string; deep: string };
    expect(out.ids).toHaveLength(5);
    expect(out.resolved).toMatch(/node_modules\/pinrec\/dist\/cf\/index\.js$/);
    expect(out.deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  }, 120_000);
});
