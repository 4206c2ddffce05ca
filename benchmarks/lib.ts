/** Shared benchmark plumbing: argument parsing, machine record, tables, JSON output, timing. */
import { cpus, totalmem, platform, release, arch } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export type Args = Record<string, string | boolean>;

/** Parse `--key value`, `--key=value` and bare `--flag` arguments. */
export function parseArgs(argv: string[], booleans: string[] = []): Args {
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

/** Print an aligned table. */
export function printTable(rows: Record<string, unknown>[], title?: string): void {
  if (title) console.log(`\n${title}`);
  if (rows.length === 0) { console.log('(no rows)'); return; }
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (typeof v === 'number' ? fmt(v) : v === undefined ? '' : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => '| ' + vals.map((v, i) => v.padEnd(widths[i])).join(' | ') + ' |';
  console.log(line(cols));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))));
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(3);
  return v.toPrecision(4);
}

/** Write a result JSON (with the machine record) and return the path. */
export function writeJson(name: string, args: Args, result: Record<string, unknown>): string {
  const out = str(args, 'out') ?? path.join('bench-results', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  writeFileSync(out, JSON.stringify({ benchmark: name, machine: machine(), ...result }, null, 2) + '\n');
  return out;
}

/** Seconds since `t0` (from `performance.now()`). */
export function since(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** Median and percentiles of samples. */
export function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
  return { n: s.length, min: s[0], median: q(0.5), p90: q(0.9), p99: q(0.99), max: s[s.length - 1] };
}
