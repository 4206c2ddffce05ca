/**
 * Benchmark entry point: `npm run bench -- <name> [options]` runs `benchmarks/<name>.ts`.
 * Every benchmark prints a table, writes JSON (to --out, default bench-results/<name>-<date>.json) with an HTML
 * page and SVG plots beside it, records the machine, and has a `--quick` mode that CI runs. With `--json`,
 * stdout is exactly one line, the result JSON; everything else goes to stderr (see lib.ts).
 *
 * Works compiled too: the benchmarks are the `.ts` or `.js` files beside this one (so a compiled copy, e.g.
 * dist/bench/benchmarks/, lists its `.js` files). Other programs (the `pinrec bench` command) import
 * {@link runBenchmark}; the top level only runs when this file is the script Node was started with.
 */
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as path from 'node:path';
import { abortOutput, beginOutput, endOutput, reportSettled } from './lib.js';

const self = fileURLToPath(import.meta.url);
const here = path.dirname(self);
const ext = path.extname(self);

/** Modules beside the benchmarks that are not benchmarks. */
export const HELPER_MODULES = ['run', 'lib', 'report'];

/** The benchmarks in this folder: every `<name>.ts` / `<name>.js` except the helpers (declarations excluded). */
export function benchmarkNames(): string[] {
  const names = readdirSync(here)
    .filter((f) => (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.endsWith('.js'))
    .map((f) => f.replace(/\.(ts|js)$/, ''))
    .filter((n) => !HELPER_MODULES.includes(n));
  return [...new Set(names)].sort();
}

function usage(names: string[]): string {
  const prog = isMain() ? 'npm run bench --' : 'pinrec bench'; // run directly, or imported by the command
  return `usage: ${prog} <${names.join('|')}> [--quick] [--json] [--out file] [options]\n` +
    `       ${prog} <name> --help   for a benchmark's own options\n` +
    'Writes <out>.json, <out>.html (tables, plots, machine, command line) and <out>-<plot>.svg (default out: bench-results/<name>-<date>).';
}

/**
 * Run benchmark `name` with its options `argv` in this process; resolves to an exit code (0 ok, 1 the benchmark
 * failed — its error is printed to stderr —, 2 unknown benchmark). `--help` (or no name) prints usage and gives 0.
 * @param opts.command the command line the HTML page shows (default: this process's)
 * @example
 * process.exitCode = await runBenchmark('ranking', ['--quick', '--out', 'bench-results/ranking.json']);
 */
export async function runBenchmark(name: string | undefined, argv: string[], opts: { command?: string } = {}): Promise<number> {
  const names = benchmarkNames();
  if (!name || name === '--help' || name === '-h') { console.log(usage(names)); return 0; }
  if (HELPER_MODULES.includes(name)) {
    // (CI loops over benchmarks/*.ts: a helper module is reported, not run)
    console.error(`benchmarks/${name}${ext} is a helper module, not a benchmark: nothing to run`);
    return 0;
  }
  if (!names.includes(name)) { console.error(`unknown benchmark '${name}'\n${usage(names)}`); return 2; }
  const file = [`${name}${ext}`, `${name}.js`, `${name}.ts`].map((f) => path.join(here, f)).find((f) => existsSync(f))!;
  const mod = (await import(pathToFileURL(file).href)) as { main(argv: string[]): Promise<void> };
  beginOutput(argv, opts);
  try {
    await mod.main(argv);
    await reportSettled();
    if (!argv.includes('--help')) endOutput();
    return 0;
  } catch (e) {
    abortOutput();
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    return 1;
  }
}

/** Is this file the script Node was started with (realpath: a symlinked bin counts)? */
function isMain(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return realpathSync(path.resolve(argv1)) === realpathSync(self);
  } catch {
    return false;
  }
}

if (isMain()) {
  const [name, ...rest] = process.argv.slice(2);
  const code = await runBenchmark(name, rest);
  // a failed run ends here, as an uncaught error would (open handles must not keep it alive); a good one drains
  if (code !== 0) process.exit(code);
  process.exitCode = code;
}
