/** Runs doc blocks (see blocks.ts) as standalone programs — `node --import tsx <block>.mts`, or `bash <block>.sh` — in a fresh temp folder. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO, blockId, rewriteImports, type DocBlock } from './blocks.js';

/**
 * Where the rewritten blocks are written: inside the repository (`.cache/`, gitignored; outside tsconfig's
 * `include`, so `npm run typecheck` never sees them), so that packages the examples
 * import (sharp, apache-arrow, …) resolve from the repository's node_modules and `"type": "module"` applies.
 */
export const BLOCK_DIR = path.join(REPO, '.cache', 'docblocks');

const TSX = pathToFileURL(createRequire(path.join(REPO, 'package.json')).resolve('tsx')).href;

/**
 * The environment a block runs in: the caller's, with the shared data and models made absolute (the
 * defaults `../shared/…` are relative to the working directory, which is a temp folder here), never the
 * network for models, and a model cache inside the block's folder.
 */
export function blockEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  delete env.NODE_OPTIONS; // vitest's, not the block's
  const data = base.PINREC_DATA ?? path.resolve(REPO, '../shared/datasets');
  if (existsSync(data)) env.PINREC_DATA = path.resolve(data);
  const models = base.PINREC_MODEL_DIR ?? path.resolve(REPO, '../shared/models');
  if (existsSync(models)) env.PINREC_MODEL_DIR = path.resolve(models);
  env.PINREC_OFFLINE = '1';
  return env;
}

export interface BlockResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
  /** The rewritten program that ran. */
  program: string;
  /** Its working directory (removed after a successful run unless `keep`). */
  cwd: string;
}

/**
 * The prelude of a shell block: `set -e` (every line must succeed), and `npx pinrec …` / `pinrec …` run this
 * repository's command (the built bin when it exists, else the source through tsx) — what they run in a
 * project that installed pinrec — and `npm …` runs in the repository (`npm run bench` …), as in a clone.
 */
function shellPrelude(): string {
  const built = path.join(REPO, 'dist', 'cli', 'main.js');
  const cmd = existsSync(built) ? `node ${JSON.stringify(built)}` : `node --import ${JSON.stringify(TSX)} ${JSON.stringify(path.join(REPO, 'src', 'cli', 'main.ts'))}`;
  return [
    'set -euo pipefail',
    `pinrec() { ${cmd} "$@"; }`,
    'npx() { if [ "${1:-}" = pinrec ]; then shift; pinrec "$@"; else command npx "$@"; fi; }',
    `npm() { (cd ${JSON.stringify(REPO)} && command npm "$@"); }`,
    '',
  ].join('\n');
}

/** Write the block (imports pointed at src/) and run it with a timeout. */
export async function runBlock(block: DocBlock, opts: { env?: NodeJS.ProcessEnv; keep?: boolean } = {}): Promise<BlockResult> {
  mkdirSync(BLOCK_DIR, { recursive: true });
  const id = blockId(block);
  const shell = block.lang === 'sh' || block.lang === 'bash';
  const program = path.join(BLOCK_DIR, `${id}.${shell ? 'sh' : 'mts'}`);
  const header = `${shell ? '#' : '//'} generated from ${block.file}:${block.line} by test/docs — edit the Markdown, not this file\n`;
  writeFileSync(program, header + (shell ? shellPrelude() + block.code : rewriteImports(block.code)));
  const cwd = mkdtempSync(path.join(tmpdir(), `pinrec-doc-${id}-`));
  const env = { ...(opts.env ?? blockEnv()) };
  env.PINREC_MODEL_CACHE ??= path.join(cwd, '.model-cache');
  const t0 = performance.now();
  const res = await new Promise<Omit<BlockResult, 'program' | 'cwd' | 'ms'>>((resolve) => {
    const child = shell ? spawn('bash', [program], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(process.execPath, ['--import', TSX, program], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, block.timeoutS * 1000);
    child.on('error', (err) => { stderr += String(err); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, timedOut, stdout, stderr }); });
  });
  const result: BlockResult = { ...res, ms: performance.now() - t0, program, cwd };
  if (result.code === 0 && !opts.keep) rmSync(cwd, { recursive: true, force: true });
  return result;
}

/** A human-readable failure report: exit status, the tail of stderr and stdout, where the program is. */
export function describeFailure(block: DocBlock, r: BlockResult, tail = 6000): string {
  const status = r.timedOut ? `timed out after ${block.timeoutS} s` : r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`;
  const cut = (s: string) => (s.length > tail ? `…${s.slice(-tail)}` : s);
  return [
    `${block.file}:${block.line}: ${status} (${(r.ms / 1000).toFixed(1)} s)`,
    `program: ${path.relative(REPO, r.program)}   cwd: ${r.cwd}`,
    `--- stderr ---\n${cut(r.stderr.trim()) || '(empty)'}`,
    `--- stdout ---\n${cut(r.stdout.trim()) || '(empty)'}`,
  ].join('\n');
}

/** At most `n` tasks at a time. */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  const next = () => {
    if (active >= n || queue.length === 0) return;
    active++;
    queue.shift()!();
  };
  return <T>(task: () => Promise<T>) => new Promise<T>((resolve, reject) => {
    queue.push(() => { task().then(resolve, reject).finally(() => { active--; next(); }); });
    next();
  });
}
