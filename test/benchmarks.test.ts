/**
 * The benchmarks' shared contracts (benchmarks/lib.ts): one statistics helper, and `--json` = exactly one JSON
 * object on stdout, as its last line, equal to the file written to `--out`, with the machine record.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs, quantile, stats } from '../benchmarks/lib.js';

describe('benchmarks/lib stats', () => {
  it('median, percentiles (linear interpolation), mean, sd, spread, sample count', () => {
    const s = stats([5, 1, 4, 2, 3]);
    expect(s).toMatchObject({ samples: 5, min: 1, max: 5, median: 3, mean: 3 });
    expect(s.p90).toBeCloseTo(4.6, 12);
    expect(s.p99).toBeCloseTo(4.96, 12);
    expect(s.sd).toBeCloseTo(Math.sqrt(2.5), 12);
    expect(s.spread).toBeCloseTo((4 - 2) / 3, 12);
    expect(stats([1, 2]).median).toBe(1.5); // numpy / statistics.median agree
    expect(quantile(Float64Array.of(7), 0.99)).toBe(7);
    expect(stats([]).samples).toBe(0);
  });
  it('parses --json, --quick and --help as flags everywhere', () => {
    expect(parseArgs(['--json', '--n', '5', '--quick', '--m=1'])).toEqual({ json: true, n: '5', quick: true, m: '1' });
  });
});

describe('benchmark --json', () => {
  it('ranking --quick --json: one JSON line on stdout, last, with the machine record', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-bench-json-'));
    try {
      const out = path.join(dir, 'ranking.json');
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'benchmarks/run.ts', 'ranking', '--quick', '--json', '--out', out], { encoding: 'utf8', timeout: 180_000 });
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
      const last = JSON.parse(lines[lines.length - 1]) as Record<string, unknown> & { machine: Record<string, unknown>; rows: Record<string, unknown>[] };
      const objects = lines.filter((l) => { try { return typeof JSON.parse(l) === 'object'; } catch { return false; } });
      expect(objects).toHaveLength(1);
      expect(last.benchmark).toBe('ranking');
      expect(last.machine).toMatchObject({ cores: expect.any(Number), cpu: expect.any(String), node: process.version });
      expect(last.rows[0]).toMatchObject({ median_ms: expect.any(Number), p99_ms: expect.any(Number), mean_ms: expect.any(Number), spread: expect.any(Number), samples: 300 });
      expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(last);
      expect(r.stderr).toContain(`wrote ${out}`); // the tables and logs went to stderr
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 200_000);
});
