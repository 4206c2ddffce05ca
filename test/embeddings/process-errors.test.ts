/**
 * Once the wasm backend has loaded, the user's own uncaught errors must still be printed the way Node prints
 * them (short, pointing at the user's code), not re-thrown from inside the backend's emscripten glue (which makes
 * Node print ~30 KB of minified source and exit with code 7). Each case runs in a child Node process.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const INDEX = pathToFileURL(path.join(ROOT, 'src/embeddings/index.ts')).href;

interface Run { code: number | null; stdout: string; stderr: string }

function runNode(script: string, args: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      });
  });
}

/** What a readable crash report looks like: the marker, a stack line into the script, nothing huge. */
function expectReadable(r: Run, script: string): void {
  expect(r.code, r.stderr.slice(0, 500)).not.toBe(0);
  expect(r.code).not.toBeNull();
  expect(r.stderr).toContain('boom-marker');
  expect(r.stderr).toMatch(new RegExp(`\\n\\s+at .*${path.basename(script).replace('.', '\\.')}:\\d+:\\d+`));
  expect(r.stderr.length).toBeLessThan(4000);
  for (const line of r.stderr.split('\n')) expect(line.length).toBeLessThan(1000);
  expect(r.stderr).not.toContain('tfjs-backend-wasm');
}

describe('process-level error handling after the backend loads', () => {
  let dir: string;
  let script: string;

  beforeAll(async () => {
    dir = await tempDir('proc-errors');
    script = path.join(dir, 'boom.mjs');
    await fsp.writeFile(script, [
      `import { initBackend } from ${JSON.stringify(INDEX)};`,
      `const [pref, mode] = process.argv.slice(2);`,
      `let mine = 0;`,
      `const pending = initBackend(pref);`,
      // A handler the program adds while the backend is still starting must survive.
      `if (mode === 'own-handler') process.on('uncaughtException', (e) => { mine++; process.stderr.write('own handler: ' + e.message + '\\n'); process.exitCode = 3; });`,
      `const h = await pending;`,
      `process.stdout.write(JSON.stringify({ backend: h.backend, ue: process.listenerCount('uncaughtException'), ur: process.listenerCount('unhandledRejection') }) + '\\n');`,
      `if (mode === 'reject') Promise.reject(new Error('boom-marker'));`,
      `else setTimeout(() => { throw new Error('boom-marker'); }, 0);`,
      '',
    ].join('\n'));
  });
  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('an uncaught exception after initBackend("wasm") is printed briefly, with its stack', async () => {
    const r = await runNode(script, ['wasm', 'throw']);
    expectReadable(r, script);
    expect(r.code).toBe(1);
    // The backend leaves no process-level handlers behind.
    expect(JSON.parse(r.stdout.split('\n')[0])).toEqual({ backend: 'wasm', ue: 0, ur: 0 });
  });

  it('an unhandled rejection after initBackend("wasm") is printed briefly, with its stack', async () => {
    const r = await runNode(script, ['wasm', 'reject']);
    expectReadable(r, script);
    expect(r.code).toBe(1);
  });

  it("the program's own uncaughtException handler, added while the backend starts, is kept and runs", async () => {
    const r = await runNode(script, ['wasm', 'own-handler']);
    expect(JSON.parse(r.stdout.split('\n')[0])).toEqual({ backend: 'wasm', ue: 1, ur: 0 });
    expect(r.stderr).toContain('own handler: boom-marker');
    expect(r.stderr.length).toBeLessThan(4000);
    expect(r.code).toBe(3);
  });

  it('the same holds with the default backend choice', async () => {
    const r = await runNode(script, ['auto', 'throw']);
    expectReadable(r, script);
  });
});
