/**
 * The `pinrec` command run as a user runs it: in a temporary directory, on files made there, checking stdout,
 * stderr, exit codes and the files left behind. The built bin (dist/cli/main.js, as `npm run build` makes it)
 * is used when it exists, else the TypeScript source through tsx.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const BUILT = path.join(ROOT, 'dist', 'cli', 'main.js');
const SOURCE = path.join(ROOT, 'src', 'cli', 'main.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pinrec(...args: string[]) {
  const argv = existsSync(BUILT) ? [BUILT, ...args] : ['--import', 'tsx', SOURCE, ...args];
  const r = spawnSync(process.execPath, argv, { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// a small sequence file: 300 users in 6 taste groups over 60 pins
const lines: string[] = [];
for (let u = 0; u < 300; u++) {
  const g = u % 6;
  const pins = Array.from({ length: 6 }, (_, t) => `p${g * 10 + ((u + t * 3) % 10)}`);
  lines.push([`u${u}`, ...new Set(pins)].join(' '));
}
writeFileSync(path.join(dir, 'seq.txt'), lines.join('\n') + '\n');

describe('pinrec fit and recommend', () => {
  it('fits a sequence file into a model file, with a one-line summary and --json', () => {
    const r = pinrec('fit', 'seq.txt', '--factors', '8', '--out', 'model.pinrec', '--json');
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out.trim());
    expect(s).toMatchObject({ out: 'model.pinrec', users: 300, pins: 60, factors: 8, scoring: 'ease' });
    expect(existsSync(path.join(dir, 'model.pinrec'))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]); // nothing half-written left
    const plain = pinrec('fit', 'seq.txt', '--factors', '8', '--scoring', 'puresvd', '--out', 'pure.pinrec');
    expect(plain.code, plain.err).toBe(0);
    expect(plain.out).toMatch(/^fitted 300 users × 60 pins .*puresvd.* → pure\.pinrec\n$/);
  });
  it('recommends for users given on the line or in a file, as TSV, JSON or JSON lines', () => {
    const tsv = pinrec('recommend', 'model.pinrec', '--user', 'u0', '--user', 'u7', '--n', '3');
    expect(tsv.code, tsv.err).toBe(0);
    const rows = tsv.out.trim().split('\n').map((l) => l.split('\t'));
    expect(rows).toHaveLength(6);
    expect(rows.map((r) => r[0])).toEqual(['u0', 'u0', 'u0', 'u7', 'u7', 'u7']);
    expect(rows.map((r) => r[1])).toEqual(['1', '2', '3', '1', '2', '3']);
    // u0 is in group 0: its unseen pins of the same group come first
    expect(Number(rows[0][2].slice(1))).toBeLessThan(10);
    writeFileSync(path.join(dir, 'users.txt'), 'u0\n\nu7\n');
    const file = pinrec('recommend', 'model.pinrec', '--users', 'users.txt', '--n', '3', '--out', 'recs.jsonl', '--json');
    expect(file.code, file.err).toBe(0);
    expect(JSON.parse(file.out)).toEqual({ out: 'recs.jsonl', users: 2, rows: 6 });
    const jl = readFileSync(path.join(dir, 'recs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { user: string; rank: number; pin: string });
    expect(jl.map((r) => [r.user, r.rank, r.pin])).toEqual(rows.map((r) => [r[0], Number(r[1]), r[2]]));
    const json = pinrec('recommend', 'model.pinrec', '--user', 'u0', '--n', '2', '--json');
    expect((JSON.parse(json.out) as { results: unknown[] }).results).toHaveLength(2);
  });
});

describe('errors: one line, naming the file, parameter and value, with distinct exit codes', () => {
  it('bad usage exits 2', () => {
    for (const args of [[], ['frobnicate'], ['fit', 'seq.txt'], ['fit', 'seq.txt', '--out', 'm', '--factors', 'zero'], ['fit', '--bogus'], ['recommend', 'model.pinrec']]) {
      const r = pinrec(...args);
      expect(r.code, args.join(' ')).toBe(2);
    }
    const r = pinrec('fit', 'seq.txt', '--out', 'm', '--factors', 'zero');
    expect(r.err).toBe('pinrec fit: --factors must be an integer in [1, 4096] (got "zero")\n');
  });
  it('bad input exits 3: a missing file, a corrupt model, an unknown user', () => {
    const missing = pinrec('fit', 'nope.txt', '--out', 'm.pinrec');
    expect(missing.code).toBe(3);
    expect(missing.err).toBe('pinrec fit: nope.txt: cannot be read (ENOENT)\n');
    writeFileSync(path.join(dir, 'bad.pinrec'), 'not a model');
    const bad = pinrec('recommend', 'bad.pinrec', '--user', 'u0');
    expect(bad.code).toBe(3);
    expect(bad.err.split('\n')).toHaveLength(2); // one line and the final newline
    expect(bad.err).toMatch(/^pinrec recommend: .*bad\.pinrec/);
    const unknown = pinrec('recommend', 'model.pinrec', '--user', 'nobody');
    expect(unknown.code).toBe(3);
    expect(unknown.err).toBe('pinrec recommend: user: unknown id "nobody"\n');
  });
  it('--help for the command and each subcommand exits 0', () => {
    for (const c of [['--help'], ['fit', '--help'], ['recommend', '--help'], ['demo', '--help']]) {
      const r = pinrec(...c);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Usage: pinrec/);
    }
  });
});

describe('pinrec demo', () => {
  it('runs with no arguments: fit, evaluation and recommendations on a seeded synthetic catalogue', () => {
    const r = pinrec('demo', '--json');
    expect(r.code, r.err).toBe(0);
    const o = JSON.parse(r.out.trim()) as { hr10: number; user0: number[]; seconds: number };
    expect(o.hr10).toBeGreaterThan(0.05);
    expect(o.user0).toHaveLength(5);
    expect(o.seconds).toBeLessThan(60);
  });
});
