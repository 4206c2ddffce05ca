/**
 * A throwaway consumer project for the packed package: `npm run build`, `npm pack`, the tarball extracted into
 * `<consumer>/node_modules/pinrec`, pinrec's dependencies (and @types/node, typescript) symlinked from the
 * repository's node_modules — no registry access — then `tsc --noEmit` (strict, nodenext, no skipLibCheck)
 * and plain `node` on a script.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixture');

export interface Step { ok: boolean; output: string }

function run(cmd: string, args: string[], cwd: string, timeoutMs = 300_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 26, env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' } });
}
const text = (r: SpawnSyncReturns<string>) => `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim();

/** `npm run build` in the repository (writes dist/, as CI does). */
export function build(): Step {
  const r = run('npm', ['run', '--silent', 'build'], REPO);
  return { ok: r.status === 0, output: text(r) };
}

/** `npm pack` into `dest`; returns the tarball path and the packed file list. */
export function pack(dest: string): { tarball: string; files: string[] } {
  const r = run('npm', ['pack', '--json', '--pack-destination', dest], REPO);
  if (r.status !== 0) throw new Error(`npm pack failed:\n${text(r)}`);
  const info = JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  return { tarball: path.join(dest, info[0].filename), files: info[0].files.map((f) => f.path) };
}

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2022'], types: ['node'],
    strict: true, noEmit: true, skipLibCheck: false, esModuleInterop: true,
  },
  files: ['index.ts'],
};

/** A consumer folder with the tarball installed (offline) and the fixture sources. */
export function makeConsumer(tarball: string, root = mkdtempSync(path.join(tmpdir(), 'pinrec-consumer-'))): string {
  const nm = path.join(root, 'node_modules');
  const pkgDir = path.join(nm, 'pinrec');
  mkdirSync(pkgDir, { recursive: true });
  const x = run('tar', ['-xzf', tarball, '-C', pkgDir, '--strip-components=1'], root);
  if (x.status !== 0) throw new Error(`tar failed: ${text(x)}`);
  const manifest = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const links = [...Object.keys(manifest.dependencies ?? {}), '@types/node', 'typescript'];
  for (const dep of links) {
    const to = path.join(nm, dep);
    mkdirSync(path.dirname(to), { recursive: true });
    symlinkSync(path.join(REPO, 'node_modules', dep), to, 'dir');
  }
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'pinrec-consumer', private: true, type: 'module', dependencies: { pinrec: `file:${tarball}` } }, null, 2));
  writeFileSync(path.join(root, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  copyFileSync(path.join(FIXTURE, 'consumer.ts.in'), path.join(root, 'index.ts'));
  copyFileSync(path.join(FIXTURE, 'run-cf.mjs'), path.join(root, 'run-cf.mjs'));
  return root;
}

/** `tsc --noEmit -p <consumer>` with the repository's TypeScript. */
export function typecheck(consumer: string): Step {
  const r = run(path.join(REPO, 'node_modules', '.bin', 'tsc'), ['-p', consumer, '--pretty', 'false'], consumer);
  return { ok: r.status === 0, output: text(r) };
}

/**
 * Errors of a tsc run grouped by file, paths shown as `<repo>/node_modules/…` (the symlinked dependencies) or
 * relative to the consumer (`node_modules/pinrec/dist/…`, `index.ts`).
 */
export function errorsByFile(output: string, consumer: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of output.split('\n')) {
    const m = /^(.+?)\(\d+,\d+\): error (TS\d+: .*)$/.exec(line.trim());
    if (!m) continue;
    const abs = path.resolve(consumer, m[1]);
    const shown = abs.startsWith(consumer + path.sep) ? path.relative(consumer, abs) : abs.startsWith(REPO + path.sep) ? `<repo>/${path.relative(REPO, abs)}` : abs;
    (out[shown] ??= []).push(m[2]);
  }
  return out;
}

/** Which of the installed package's declaration files import other packages' types, and which packages. */
export function externalTypeImports(consumer: string): Record<string, string[]> {
  const dist = path.join(consumer, 'node_modules', 'pinrec', 'dist');
  const out: Record<string, string[]> = {};
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.name.endsWith('.d.ts')) {
        const src = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, ''); // not the @example comments
        const specs = new Set<string>();
        for (const m of src.matchAll(/(?:from\s+|import\s*\(\s*)['"]([^'"]+)['"]/g)) if (!/^(\.|node:|pinrec(\/|$))/.test(m[1])) specs.add(m[1]);
        if (specs.size) out[path.relative(consumer, f)] = [...specs].sort();
      }
    }
  };
  walk(dist);
  return out;
}

/** `node run-cf.mjs` in the consumer. */
export function runScript(consumer: string, script = 'run-cf.mjs'): SpawnSyncReturns<string> {
  return run(process.execPath, [script], consumer, 120_000);
}
