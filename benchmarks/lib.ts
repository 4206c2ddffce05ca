/**
 * Shared benchmark plumbing: argument parsing, machine record, tables, statistics, the result JSON.
 *
 * Output contract (every benchmark, through benchmarks/run.ts):
 * - Each run ends with exactly one {@link report}: the result `{ benchmark, machine, ...result }` is written to
 *   `--out` (default `bench-results/<name>-<date>.json`), and `wrote <file>` is logged.
 * - Without `--json`, tables and logs go to stdout. With `--json`, stdout carries exactly one line — that same
 *   JSON object, written when the benchmark returns — and everything else (tables, logs, library output) goes
 *   to stderr. So `npm run --silent bench -- <name> --json | tail -n 1` is always the result.
 * - Next to the JSON, {@link report} writes `<out without .json>.html` (the tables printed, the plots, the machine
 *   record and the command line) and one `<out without .json>-<plot>.svg` per plot registered with
 *   `addPlot` (benchmarks/report.ts). Without vega / vega-lite (optional peer dependencies) the SVGs are skipped and the
 *   page says so; the benchmark does not fail for it.
 * - Timing summaries come from {@link stats} (one definition of median / p99 / spread for every benchmark).
 */
import { cpus, totalmem, platform, release, arch } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collected, formatCell, recordTable, resetReport, writeReport } from './report.js';

/** The folder of this file: benchmarks/, or the compiled copy's folder (e.g. dist/bench/benchmarks/). */
const HERE = path.dirname(fileURLToPath(import.meta.url));
/** `.ts` when running from source (through tsx), `.js` when compiled. */
const EXT = path.extname(fileURLToPath(import.meta.url));

export type Args = Record<string, string | boolean>;

/** Flags every benchmark understands as booleans (never followed by a value). */
export const COMMON_FLAGS = ['quick', 'json', 'help'];

/** Parse `--key value`, `--key=value` and bare `--flag` arguments (`booleans` and {@link COMMON_FLAGS} take no value). */
export function parseArgs(argv: string[], booleans: string[] = []): Args {
  booleans = [...COMMON_FLAGS, ...booleans];
  const out: Args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) { out[a.slice(2, eq)] = a.slice(eq + 1); continue; }
    const key = a.slice(2);
    if (booleans.includes(key) || i + 1 >= argv.length || argv[i + 1].startsWith('--')) out[key] = true;
    else out[key] = argv[++i];
  }
  return out;
}

export function str(args: Args, key: string, def: string): string;
export function str(args: Args, key: string): string | undefined;
export function str(args: Args, key: string, def?: string): string | undefined {
  const v = args[key];
  return typeof v === 'string' ? v : def;
}
export function num(args: Args, key: string, def: number): number {
  const v = args[key];
  if (typeof v !== 'string') return def;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${key} must be a number (got ${v})`);
  return n;
}
export function nums(args: Args, key: string, def: number[]): number[] {
  const v = args[key];
  return typeof v === 'string' ? v.split(',').map(Number) : def;
}

/**
 * The pinrec package root: the nearest folder at or above `from` (default: this file's folder) holding a
 * package.json whose name is "pinrec"; undefined when there is none.
 */
export function packageRoot(from: string = HERE): string | undefined {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown }).name === 'pinrec') return dir;
      } catch { /* not a readable package.json: keep looking */ }
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * A file that ships beside the benchmarks (e.g. `anchors/svd_compare.py`): the one in this script's own folder,
 * else the one in `<package root>/benchmarks/` (a compiled copy under dist/ has only the .js files). When
 * neither exists, the own-folder path (so the error that follows names it).
 */
export function benchFile(rel: string): string {
  const own = path.join(HERE, rel);
  if (existsSync(own)) return own;
  const root = packageRoot();
  const shipped = root ? path.join(root, 'benchmarks', rel) : undefined;
  return shipped && existsSync(shipped) ? shipped : own;
}

/**
 * Node arguments that run the script `rel` (relative to this folder, without its extension, e.g.
 * `'../examples/feed-service/src/main'`): its `.ts` through tsx from source, its `.js` when compiled.
 */
export function scriptArgs(rel: string): string[] {
  const file = path.join(HERE, `${rel}${EXT}`);
  return EXT === '.ts' ? ['--import', 'tsx', file] : [file];
}

/**
 * Node arguments that start a benchmark in a fresh process: `['--import', 'tsx', '<dir>/run.ts']` from source,
 * `['<dir>/run.js']` compiled. Append the benchmark name and its options.
 */
export function runnerArgs(): string[] {
  return scriptArgs('run');
}

/** Where shared datasets live: $PINREC_DATA or ../shared/datasets. */
export function dataRoot(): string {
  return process.env.PINREC_DATA ?? path.resolve(process.cwd(), '../shared/datasets');
}

/** The machine a result was measured on. */
export function machine() {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** Print an aligned table (and record it for the run's HTML page). */
export function printTable(rows: Record<string, unknown>[], title?: string): void {
  recordTable(rows, title);
  if (title) console.log(`\n${title}`);
  if (rows.length === 0) { console.log('(no rows)'); return; }
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = formatCell;
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => '| ' + vals.map((v, i) => v.padEnd(widths[i])).join(' | ') + ' |';
  console.log(line(cols));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))));
}

/** Write a result JSON (with the machine record) and return the path. Benchmarks call {@link report} instead. */
export function writeJson(name: string, args: Args, result: Record<string, unknown>): string {
  return writeResult(name, args, { benchmark: name, machine: machine(), ...result });
}

function writeResult(name: string, args: Args, doc: Record<string, unknown>): string {
  const out = str(args, 'out') ?? path.join('bench-results', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
  return out;
}

// ---- the --json stdout contract ----

let jsonMode = false;
let realStdoutWrite: typeof process.stdout.write | undefined;
let reported: { name: string; doc: Record<string, unknown> } | undefined;
let pendingReport: Promise<unknown> | undefined;
let commandLine: string | undefined;

/**
 * Start a benchmark's output (benchmarks/run.ts calls it before `main`). With `--json` in `argv`, every write
 * to stdout from here on (console.log, printTable, libraries) is sent to stderr instead. Tables and plots
 * collected for the report start empty. `command` is the command line the page shows (default: this process's).
 */
export function beginOutput(argv: string[], opts: { command?: string } = {}): void {
  jsonMode = argv.includes('--json');
  reported = undefined;
  pendingReport = undefined;
  resetReport();
  commandLine = opts.command ?? [process.execPath, ...process.execArgv, ...process.argv.slice(1)].map(shellQuote).join(' ');
  if (jsonMode && !realStdoutWrite) {
    realStdoutWrite = process.stdout.write.bind(process.stdout) as typeof process.stdout.write;
    process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  }
}

/** A shell word, quoted when it needs to be. */
function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The benchmark's result: written to `--out` (see {@link writeJson}) and, with `--json`, printed as the one
 * stdout line by {@link endOutput}; then the report beside it: `<out without .json>.html` and one
 * `<out without .json>-<plot>.svg` per plot registered with `addPlot` (benchmarks/report.ts). Call it once per
 * run, last, and await it. Resolves to the JSON file written.
 *
 * @throws when a registered plot fails to render (its spec is wrong: a bug); the JSON and the page (which shows
 * the error) are written first. Missing vega / vega-lite is not an error: the page and stderr say so.
 */
export async function report(name: string, args: Args, result: Record<string, unknown>): Promise<string> {
  if (reported) throw new Error(`benchmark ${name}: report() called twice (already reported ${reported.name}); combine the results into one`);
  const doc = { benchmark: name, machine: machine(), ...result };
  const out = writeResult(name, args, doc);
  reported = { name, doc };
  console.log(`wrote ${out}`);
  const task = (async () => {
    const { plots, tables } = collected();
    const files = await writeReport(out, { name, doc, plots, tables, command: commandLine, cwd: process.cwd() });
    console.log(`wrote ${files.html}`);
    for (const f of files.svgs) console.log(`wrote ${f}`);
    if (files.failed.length > 0) throw new Error(`report: ${files.failed.length} plot(s) failed to render: ${files.failed.map((f) => `${f.name} (${f.error})`).join('; ')}`);
  })();
  pendingReport = task.catch(() => {}); // the caller's await sees the error; this only lets the runner wait
  await task;
  return out;
}

/** Resolves when the report started by {@link report} is written (the runner waits for it before finishing). */
export async function reportSettled(): Promise<void> {
  await pendingReport;
}

/** Undo {@link beginOutput}'s redirection without printing anything (a benchmark failed). */
export function abortOutput(): void {
  if (realStdoutWrite) {
    process.stdout.write = realStdoutWrite;
    realStdoutWrite = undefined;
  }
  jsonMode = false;
}

/** Finish the output: with `--json`, print the reported result as the single stdout line (an error if none). */
export function endOutput(): void {
  if (!jsonMode) return;
  if (!reported) throw new Error('benchmark finished without report(): no JSON result to print');
  const line = JSON.stringify(reported.doc) + '\n';
  const write = realStdoutWrite!;
  process.stdout.write = write;
  realStdoutWrite = undefined;
  write(line);
}

/** Seconds since `t0` (from `performance.now()`). */
export function since(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** Summary of a set of samples (e.g. ms per call), the one definition every benchmark reports. */
export interface Stats {
  /** Number of samples. */
  samples: number;
  mean: number;
  median: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  /** Sample standard deviation (n − 1). */
  sd: number;
  /** Relative interquartile range, (p75 − p25) / median: 0.1 means the middle half lies within ±5 % of the median. */
  spread: number;
}

/** The `p` quantile (0..1) of ascending `sorted` values, linear interpolation between ranks (numpy's default). */
export function quantile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * Math.min(1, Math.max(0, p));
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** {@link Stats} of `samples` (not modified). Empty input gives `samples: 0` and NaN elsewhere. */
export function stats(samples: ArrayLike<number>): Stats {
  const s = Float64Array.from(samples).sort();
  const n = s.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  const mean = n ? sum / n : NaN;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (s[i] - mean) ** 2;
  const median = quantile(s, 0.5);
  return {
    samples: n, mean, median, p90: quantile(s, 0.9), p99: quantile(s, 0.99), min: n ? s[0] : NaN, max: n ? s[n - 1] : NaN,
    sd: n > 1 ? Math.sqrt(ss / (n - 1)) : 0,
    spread: n ? (quantile(s, 0.75) - quantile(s, 0.25)) / median : NaN,
  };
}

/** Time `fn` `iters` times (after `warmup` untimed calls) and return the samples in milliseconds. */
export function timeMs(iters: number, fn: () => unknown, warmup = Math.min(200, iters)): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/** A labelled image folder: `labels.csv` (path,label) under `root`. */
export interface LabelledImages { root: string; paths: string[]; labels: string[] }

/** Read `root/labels.csv` (a header line, then `relative/path,label` per image). */
export function readLabels(root: string): LabelledImages {
  const lines = readFileSync(path.join(root, 'labels.csv'), 'utf8').trim().split('\n');
  const paths: string[] = [], labels: string[] = [];
  for (const line of lines.slice(1)) {
    const comma = line.lastIndexOf(',');
    paths.push(path.join(root, line.slice(0, comma)));
    labels.push(line.slice(comma + 1));
  }
  return { root, paths, labels };
}
