/**
 * What every `pinrec` command shares: usage errors and exit codes, option parsing helpers, progress bars, id
 * lists, and output files written atomically in the format their extension names. Internal to the command.
 */
import { createWriteStream, readdirSync, readFileSync, rmSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import cliProgress from 'cli-progress';
import { FileFormatError } from '../core/errors.js';
import type { Id, ProgressCallback } from '../core/types.js';
import { writeResultsArrow } from '../core/arrow-out.js';

/** A usage error (a missing or malformed option): exit code 2. */
export class UsageError extends Error {}

/** Exit codes: 0 done, 1 internal failure, 2 bad usage, 3 bad input (a file, a value, an id), 130 interrupted. */
export const EXIT = { ok: 0, internal: 1, usage: 2, input: 3, interrupted: 130 } as const;

/** One command of the CLI. */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  help: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** `util.parseArgs` with `--help` and `--json` added; prints the help and returns undefined for `--help`. */
export function parse<O extends Options>(cmd: Command, argv: string[], options: O, positionals = true) {
  const r = parseArgs({ args: argv, allowPositionals: positionals, strict: true, options: { ...options, help: { type: 'boolean' }, json: { type: 'boolean' } } });
  if ((r.values as { help?: boolean }).help) {
    process.stdout.write(cmd.help + '\n');
    return undefined;
  }
  return r as { values: { [K in keyof O]?: O[K] extends { multiple: true } ? string[] : O[K] extends { type: 'boolean' } ? boolean : string } & { json?: boolean }; positionals: string[] };
}

/** An integer option in [lo, hi], or `dflt` when absent. */
export function intOption(name: string, value: string | undefined, dflt: number, lo: number, hi: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < lo || n > hi) throw new UsageError(`--${name} must be an integer in [${lo}, ${hi}] (got ${JSON.stringify(value)})`);
  return n;
}

/** One of `allowed`, or `dflt` when absent. */
export function choiceOption<T extends string>(name: string, value: string | undefined, dflt: T, allowed: readonly T[]): T {
  if (value === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} must be ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  return value as T;
}

/** Read a file of ids (one per line; blank lines and `#` comments skipped). */
export function readIdList(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FileFormatError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0 && !s.startsWith('#'));
}

/**
 * Ids typed on the command line are strings; a model or index built on numeric ids is asked with numbers.
 * `known` is the model's own id list (its first element decides).
 */
export function typedIds(ids: readonly string[], known: readonly Id[]): Id[] {
  const numeric = known.length > 0 && typeof known[0] === 'number';
  return ids.map((s) => (numeric && s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : s));
}

/** A progress bar (cli-progress) on stderr when it is a terminal and not `--json`; otherwise nothing. */
export function progress(enabled: boolean): { onProgress: ProgressCallback | undefined; stop(): void } {
  if (!enabled || !process.stderr.isTTY) return { onProgress: undefined, stop() {} };
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: ' {stage} [{bar}] {value}/{total} | {rate}/s | ETA {eta_formatted}',
    hideCursor: true,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  let stage = '';
  let t0 = 0;
  let base = 0;
  return {
    onProgress: (p) => {
      const now = performance.now();
      if (!started || p.stage !== stage) {
        if (!started) bar.start(p.total, p.done, { stage: p.stage, rate: '-' });
        else { bar.setTotal(p.total); }
        started = true;
        stage = p.stage;
        t0 = now;
        base = p.done;
      }
      const secs = (now - t0) / 1000;
      const rate = secs > 0.05 ? Math.round((p.done - base) / secs) : '-';
      bar.update(p.done, { stage: p.stage, rate });
    },
    stop: () => { if (started) bar.stop(); },
  };
}

// ---- files written atomically, and removed on Ctrl-C ----

const pending = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function onSignal(sig: NodeJS.Signals): void {
  removePartialOutputs();
  process.exit(sig === 'SIGINT' ? EXIT.interrupted : 143);
}

/**
 * Register an output file while it is being written. While any output is pending, SIGINT/SIGTERM remove this
 * process's temporary files for them (`<out>.<pid>.*`, `.<out>.<pid>.*`) and exit with 130/143, so an
 * interrupted command leaves no half-written file; outside writes the signals keep their default (the process
 * stops at once, even inside a long synchronous fit, and nothing has been written yet). Returns the function
 * that unregisters the file.
 */
export function trackOutput(file: string): () => void {
  const abs = path.resolve(file);
  if (pending.size === 0) for (const sig of SIGNALS) process.on(sig, onSignal);
  pending.add(abs);
  return () => {
    if (!pending.delete(abs)) return;
    if (pending.size === 0) for (const sig of SIGNALS) process.off(sig, onSignal);
  };
}

/** Remove the temporary files of every output still being written (synchronous: called from a signal handler). */
export function removePartialOutputs(): void {
  for (const out of pending) {
    const dir = path.dirname(out);
    // `<out>.<pid>.…` (the command's and the Arrow writer's) and `.<out>.<pid>.…` (the container's)
    const prefixes = [`${path.basename(out)}.${process.pid}.`, `.${path.basename(out)}.${process.pid}.`];
    let names: string[] = [];
    try { names = readdirSync(dir); } catch { continue; }
    for (const n of names) if (prefixes.some((p) => n.startsWith(p))) rmSync(path.join(dir, n), { force: true });
  }
}

/** Write text lines to `file` atomically (temporary file, then rename). */
export async function writeLinesAtomic(file: string, lines: Iterable<string>): Promise<void> {
  const untrack = trackOutput(file);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const s = createWriteStream(tmp);
    const failed = new Promise<never>((_, reject) => s.on('error', reject));
    failed.catch(() => {});
    for (const line of lines) {
      if (!s.write(line)) await Promise.race([new Promise<void>((r) => s.once('drain', () => r())), failed]);
    }
    await Promise.race([new Promise<void>((resolve) => s.end(resolve)), failed]);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new FileFormatError(file, `cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    untrack();
  }
}

/** A result row: recommendations, similar pins, search hits, feed items. */
export interface ResultRow {
  user?: Id;
  rank: number;
  pin: Id;
  score: number;
  reason?: string;
}

/** Output formats of result files, by extension. */
export type ResultFormat = 'arrow' | 'jsonl' | 'json' | 'tsv';

/** The format an output path names: `.arrow`/`.ipc`/`.feather` Arrow IPC, `.json`, `.jsonl`/`.ndjson`, else TSV. */
export function formatOf(file: string): ResultFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.arrow' || ext === '.ipc' || ext === '.feather') return 'arrow';
  if (ext === '.json') return 'json';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  return 'tsv';
}

function* mapRows<T>(rows: Iterable<ResultRow>, f: (r: ResultRow) => T, count: { n: number }): Generator<T> {
  for (const r of rows) { count.n++; yield f(r); }
}

/**
 * Write result rows to `out` (atomically, in the format of its extension), or print them: one JSON object
 * `{results}` with `--json`, else TSV lines. `rows` may be a generator: Arrow, JSON lines and TSV outputs are
 * written as the rows come (Arrow in record batches), so a long result list never sits in memory; only `.json`
 * and `--json` without `--out` gather the rows first.
 */
export async function emitResults(rows: Iterable<ResultRow>, out: string | undefined, json: boolean, extra: Record<string, unknown> = {}): Promise<void> {
  const cols = (r: ResultRow) => [String(r.user ?? ''), r.rank, String(r.pin), r.score.toPrecision(6), r.reason ?? ''].join('\t');
  const count = { n: 0 };
  if (out) {
    const fmt = formatOf(out);
    if (fmt === 'arrow') {
      const untrack = trackOutput(out);
      try { await writeResultsArrow(out, mapRows(rows, (r) => r, count)); } finally { untrack(); }
    } else if (fmt === 'jsonl') await writeLinesAtomic(out, mapRows(rows, (r) => JSON.stringify(r) + '\n', count));
    else if (fmt === 'json') { const all = [...mapRows(rows, (r) => r, count)]; await writeLinesAtomic(out, [JSON.stringify(all) + '\n']); }
    else await writeLinesAtomic(out, (function* () { yield 'user\trank\tpin\tscore\treason\n'; yield* mapRows(rows, (r) => cols(r) + '\n', count); })());
    if (json) process.stdout.write(JSON.stringify({ ...extra, out, format: fmt, rows: count.n }) + '\n');
    else process.stderr.write(`wrote ${count.n} rows (${fmt}) → ${out}\n`);
    return;
  }
  if (json) process.stdout.write(JSON.stringify({ ...extra, results: [...rows] }) + '\n');
  else for (const r of rows) process.stdout.write(cols(r) + '\n');
}

/** Seconds since `t0` (performance.now()), to 3 decimals. */
export function seconds(t0: number): number {
  return +((performance.now() - t0) / 1000).toFixed(3);
}
