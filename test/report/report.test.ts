/**
 * Benchmark reports (benchmarks/report.ts, `report()` in benchmarks/lib.ts): from a small fixed result with two
 * plots and a table, built in a temp folder by calling the helpers directly (no benchmark runs). The SVGs must be
 * valid (sharp/librsvg rasterises them) and carry their data marks; the HTML page must inline them, show the
 * tables escaped, hold the machine record and the command line, and load nothing from the network. Last, the
 * page is rendered in headless Chromium and the screenshot must not be blank.
 *
 * Chromium: `chromium` (or $CHROMIUM) on PATH. Missing, the screenshot test is skipped outside CI and fails in
 * CI (`CI` set), where .ci/run installs it.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { beginOutput, benchFile, endOutput, packageRoot, printTable, report } from '../../benchmarks/lib.js';
import {
  addPlot, barChart, collected, dotChart, escapeHtml, lineChart, melt, prefixSvgIds, renderSvg, resetReport, tidyTables, writeReport,
  type Plot, type Table,
} from '../../benchmarks/report.js';
import { benchmarkNames } from '../../benchmarks/run.js';

const dir = mkdtempSync(path.join(tmpdir(), 'pinrec-report-'));
afterAll(() => { if (!process.env.PINREC_KEEP_REPORT_TEST) rmSync(dir, { recursive: true, force: true }); });

// ---- the fixed result: two backends' recall/QPS sweeps, and latency percentiles of three stages
const sweep = [
  { backend: 'hnsw', ef: 10, recall: 0.81, qps: 41000 }, { backend: 'hnsw', ef: 20, recall: 0.9, qps: 26000 },
  { backend: 'hnsw', ef: 40, recall: 0.96, qps: 15000 }, { backend: 'hnsw', ef: 80, recall: 0.99, qps: 8200 },
  { backend: 'usearch', ef: 10, recall: 0.84, qps: 52000 }, { backend: 'usearch', ef: 20, recall: 0.92, qps: 33000 },
  { backend: 'usearch', ef: 40, recall: 0.97, qps: 19000 }, { backend: 'usearch', ef: 80, recall: 0.995, qps: 10500 },
];
const latency = [
  { stage: 'score <columns>', p50: 0.42, p99: 0.9 },
  { stage: 'top-k & caps', p50: 0.12, p99: 0.31 },
  { stage: 'whole feed', p50: 2.1, p99: 5.6 },
];
const plots: Plot[] = [
  { name: 'recall-qps', title: 'recall@10 against QPS', spec: lineChart(sweep, { title: 'recall@10 against QPS', x: 'recall', y: { field: 'qps', log: true }, color: 'backend' }) },
  { name: 'latency', title: 'latency <p50 & p99>', spec: barChart(melt(latency, { columns: ['p50', 'p99'], keep: ['stage'], key: 'percentile' }), { category: 'stage', value: { field: 'value', title: 'ms' }, color: 'percentile' }) },
];
const tables: Table[] = [
  { title: 'sweep <per ef> & backend', rows: sweep },
  { title: 'latency', rows: [{ stage: '<script>alert(1)</script>', p50: 0.42, note: { nested: true } }] },
];
const machine = { cpu: 'Test CPU <x86>', cores: 2, memGiB: 8, os: 'linux test', node: 'v20.0.0', date: '2026-12-01T00:00:00.000Z' };
const doc = { benchmark: 'fixture', machine, quick: true, sweep, latency };
const command = "node --import tsx benchmarks/run.ts fixture --quick --label '<a&b>'";

/** Children of the first `<g class="mark-<kind> role-mark …">` group (one path per data mark). */
function marks(svg: string, kind: string): number {
  const m = new RegExp(`<g class="mark-${kind} role-mark[^"]*"[^>]*>(.*?)</g>`, 's').exec(svg);
  return m ? (m[1].match(/<path\b/g) ?? []).length : 0;
}

function allMarks(svg: string, kind: string): number {
  let n = 0;
  for (const m of svg.matchAll(new RegExp(`<g class="mark-${kind} role-mark[^"]*"[^>]*>(.*?)</g>`, 'gs'))) n += (m[1].match(/<path\b/g) ?? []).length;
  return n;
}

const base = path.join(dir, 'fixture');
let written: Awaited<ReturnType<typeof writeReport>>;

describe('writeReport', () => {
  it('writes one SVG per plot and the HTML page next to the JSON', async () => {
    written = await writeReport(`${base}.json`, { name: 'fixture', doc, plots, tables, command, cwd: '/work/main' });
    expect(written.failed).toEqual([]);
    expect(written.notes).toEqual([]);
    expect(written.html).toBe(`${base}.html`);
    expect(written.svgs).toEqual([`${base}-recall-qps.svg`, `${base}-latency.svg`]);
    for (const f of [written.html, ...written.svgs]) expect(existsSync(f)).toBe(true);
  });

  it('SVGs are valid SVG documents with their data marks', async () => {
    const line = readFileSync(`${base}-recall-qps.svg`, 'utf8');
    const bars = readFileSync(`${base}-latency.svg`, 'utf8');
    for (const svg of [line, bars]) {
      expect(svg.trimStart().startsWith('<svg')).toBe(true);
      expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
      // librsvg (through sharp) parses and rasterises it: well-formed, with a size
      const meta = await sharp(Buffer.from(svg)).metadata();
      expect(meta.format).toBe('svg');
      expect(meta.width).toBeGreaterThan(300);
    }
    expect(allMarks(line, 'line')).toBe(2); // one line per backend
    expect(allMarks(line, 'symbol')).toBe(sweep.length); // one point per sweep row
    expect(marks(bars, 'rect')).toBe(latency.length * 2); // one bar per stage and percentile
    // axis titles and the escaped category labels are text in the SVG
    expect(line).toContain('>recall<');
    expect(bars).toContain('score &lt;columns&gt;');
    expect(bars).toContain('top-k &amp; caps');
    // the log axis: tick labels over several decades of QPS
    expect(line).toMatch(/>10,000</);
  });

  it('the page inlines the SVGs, shows the tables escaped, the machine record and the command line', () => {
    const html = readFileSync(written.html, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect((html.match(/<svg\b/g) ?? []).length).toBe(2);
    expect(html).toContain('mark-symbol role-mark');
    expect(html).toContain('mark-rect role-mark');
    expect(html).toContain('<h3>sweep &lt;per ef&gt; &amp; backend</h3>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('{&quot;nested&quot;:true}');
    expect(html).not.toMatch(/<script/i); // no scripts at all, and no cell let through raw
    expect(html).toContain('Test CPU &lt;x86&gt;');
    expect(html).toContain(escapeHtml(command));
    expect(html).toContain('latency &lt;p50 &amp; p99&gt;');
    // a sweep row, formatted as printTable formats it
    expect(html).toMatch(/<td class="num">41,000<\/td>/);
    // links to the files beside it, relative; nothing from the network (the only URLs are XML namespaces)
    expect(html).toContain('href="fixture.json"');
    expect(html).toContain('href="fixture-recall-qps.svg"');
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(\s*["']?https?:/i);
    expect([...html.matchAll(/https?:\/\/[^\s"'<>]+/g)].map((m) => m[0]).every((u) => u.startsWith('http://www.w3.org/'))).toBe(true);
  });

  it('without vega / vega-lite: no SVGs, a note on the page and a line on stderr, no error', async () => {
    const missing = async (s: string) => {
      const e = new Error(`Cannot find package '${s}' imported from report.ts`) as NodeJS.ErrnoException;
      e.code = 'ERR_MODULE_NOT_FOUND';
      throw e;
    };
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const r = await writeReport(path.join(dir, 'novega.json'), { name: 'novega', doc, plots, tables }, { importer: missing });
      expect(r.svgs).toEqual([]);
      expect(r.failed).toEqual([]);
      expect(r.notes[0]).toMatch(/Plots not rendered: vega and vega-lite are not installed/);
      const html = readFileSync(r.html, 'utf8');
      expect(html).toContain('Plots not rendered: vega and vega-lite are not installed');
      expect(html).not.toMatch(/<svg\b/);
      expect(html).toContain('<h3>sweep &lt;per ef&gt; &amp; backend</h3>');
      expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(/report: 2 plot\(s\) not rendered: vega and vega-lite are not installed/);
    } finally {
      stderr.mockRestore();
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('novega') && f.endsWith('.svg'))).toEqual([]);
  });

  it('a plot whose spec is wrong is reported (page, stderr, failed), the other plots still render', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const bad: Plot = { name: 'bad', title: 'bad', spec: { mark: 'no-such-mark', data: { values: [] } } };
      const r = await writeReport(path.join(dir, 'bad.json'), { name: 'bad', doc, plots: [bad, plots[0]], tables });
      expect(r.failed.map((f) => f.name)).toEqual(['bad']);
      expect(r.svgs).toEqual([path.join(dir, 'bad-recall-qps.svg')]);
      expect(readFileSync(r.html, 'utf8')).toContain('class="error"');
    } finally {
      stderr.mockRestore();
    }
  });
});

describe('spec builders and tables', () => {
  it('melt turns columns into series; builders drop rows a scale cannot show', async () => {
    expect(melt([{ stage: 'a', p50: 1, p99: 2, junk: 'x' }], { columns: { median: 'p50', p99: 'p99' }, keep: ['stage'] }))
      .toEqual([{ stage: 'a', series: 'median', value: 1 }, { stage: 'a', series: 'p99', value: 2 }]);
    const spec = lineChart([{ x: 1, y: 0 }, { x: 2, y: 10 }, { x: 3, y: Number.NaN }, { x: 4, y: 100 }], { x: 'x', y: { field: 'y', log: true } });
    expect((spec.data as { values: unknown[] }).values).toHaveLength(2);
    const svg = await renderSvg(dotChart([{ s: 'a', v: 1 }, { s: 'b', v: 10 }], { category: 's', value: { field: 'v', log: true } }));
    expect(marks(svg, 'symbol')).toBe(2);
  });

  it('ids are prefixed so several SVGs can share a page', () => {
    expect(prefixSvgIds('<clipPath id="clip1"/><g clip-path="url(#clip1)"/><use href="#clip1"/>', 'p0-'))
      .toBe('<clipPath id="p0-clip1"/><g clip-path="url(#p0-clip1)"/><use href="#p0-clip1"/>');
  });

  it('rows printed one at a time join into one table, dropped when a titled table repeats them', () => {
    const r1 = { k: 1, v: 0.5 }, r2 = { k: 2, v: 0.6 };
    expect(tidyTables([{ rows: [r1] }, { rows: [r2] }, { title: 'all', rows: [r1, r2] }])).toEqual([{ title: 'all', rows: [r1, r2] }]);
    expect(tidyTables([{ rows: [r1] }, { rows: [r2] }, { title: 'other', rows: [{ z: 1 }] }])).toEqual([{ title: undefined, rows: [r1, r2] }, { title: 'other', rows: [{ z: 1 }] }]);
  });

  it('addPlot names are file-safe and unique', () => {
    resetReport();
    addPlot('Recall / QPS: sift', 't', {});
    addPlot('recall-qps-sift', 't', {});
    expect(collected().plots.map((p) => p.name)).toEqual(['recall-qps-sift', 'recall-qps-sift-2']);
    resetReport();
  });
});

describe('report() in lib.ts', () => {
  it('writes the JSON, the page with the tables printed and one SVG per plot registered', async () => {
    const out = path.join(dir, 'lib', 'run.json');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      beginOutput([], { command: 'npm run bench -- fixture' });
      printTable(sweep, 'the sweep');
      addPlot('recall-qps', 'recall against QPS', plots[0].spec);
      expect(await report('fixture', { out }, { sweep })).toBe(out);
      endOutput();
    } finally {
      log.mockRestore();
    }
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ benchmark: 'fixture', machine: { cores: expect.any(Number) }, sweep });
    const html = readFileSync(path.join(dir, 'lib', 'run.html'), 'utf8');
    expect(html).toContain('<h3>the sweep</h3>');
    expect(html).toContain('npm run bench -- fixture');
    expect(existsSync(path.join(dir, 'lib', 'run-recall-qps.svg'))).toBe(true);
  });

  it('benchFile finds files beside the benchmarks; the runner lists benchmarks, not helpers', () => {
    expect(existsSync(benchFile('anchors/svd_compare.py'))).toBe(true);
    expect(readFileSync(path.join(packageRoot()!, 'package.json'), 'utf8')).toContain('"name": "pinrec"');
    const names = benchmarkNames();
    expect(names).toContain('ranking');
    expect(names).toContain('ann');
    for (const helper of ['lib', 'run', 'report']) expect(names).not.toContain(helper);
  });
});

// ---- the page in a real browser

function findChromium(): string | undefined {
  const names = process.env.CHROMIUM ? [process.env.CHROMIUM] : ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
  for (const n of names) {
    const candidates = n.includes('/') ? [n] : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, n));
    for (const c of candidates) {
      try { accessSync(c, constants.X_OK); return c; } catch { /* next */ }
    }
  }
  return undefined;
}

/** Run chromium headless to screenshot `url`; kill its process group (by its PID) after `timeoutMs`. */
function screenshot(bin: string, url: string, png: string, timeoutMs = 60_000): Promise<{ code: number | null; stderr: string; timedOut: boolean }> {
  const home = mkdtempSync(path.join(tmpdir(), 'pinrec-chromium-home-'));
  const profile = path.join(home, 'profile');
  mkdirSync(profile);
  return new Promise((resolve) => {
    const child = spawn(bin, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--hide-scrollbars',
      `--user-data-dir=${profile}`, `--screenshot=${png}`, '--window-size=1200,1600', url,
    ], { env: { ...process.env, HOME: home }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '', timedOut = false;
    child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-20_000); });
    const kill = () => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { try { child.kill('SIGKILL'); } catch { /* gone */ } } };
    const timer = setTimeout(() => { timedOut = true; kill(); }, timeoutMs);
    child.once('error', (e) => { clearTimeout(timer); stderr += String(e); resolve({ code: -1, stderr, timedOut }); });
    child.once('exit', (code) => {
      clearTimeout(timer);
      kill(); // a helper process the wrapper script left behind (same group)
      rmSync(home, { recursive: true, force: true });
      resolve({ code, stderr, timedOut });
    });
  });
}

const chromium = findChromium();
const ci = !!process.env.CI;

describe('the page in headless Chromium', () => {
  it.skipIf(!chromium && !ci)(`renders plots and tables (not blank)${chromium || ci ? '' : ' — skipped: chromium not installed (apt-get install chromium; required in CI)'}`, async () => {
    if (!chromium) expect.fail('chromium is not installed (or not on PATH; set $CHROMIUM): CI must install it (apt-get install chromium)');
    written ??= await writeReport(`${base}.json`, { name: 'fixture', doc, plots, tables, command, cwd: '/work/main' }); // (when run alone, -t)
    const png = path.join(dir, 'page.png');
    const r = await screenshot(chromium, `file://${written.html}`, png);
    expect(r.timedOut, `chromium did not finish in 60 s:\n${r.stderr.slice(-3000)}`).toBe(false);
    expect(existsSync(png), `no screenshot (exit ${r.code}):\n${r.stderr.slice(-3000)}`).toBe(true);
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBe(1200);
    const n = info.width * info.height;
    // background: the most common colour
    const counts = new Map<number, number>();
    for (let i = 0; i < data.length; i += 3) {
      const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const bg = [...counts].sort((a, b) => b[1] - a[1])[0][0];
    const [br, bgG, bb] = [bg >> 16, (bg >> 8) & 255, bg & 255];
    let differ = 0, plotBlue = 0;
    const coarse = new Set<number>();
    for (let i = 0; i < data.length; i += 3) {
      const [r0, g0, b0] = [data[i], data[i + 1], data[i + 2]];
      if (Math.max(Math.abs(r0 - br), Math.abs(g0 - bgG), Math.abs(b0 - bb)) > 48) differ++;
      coarse.add(((r0 >> 4) << 8) | ((g0 >> 4) << 4) | (b0 >> 4));
      // vega's first series colour (#4c78a8): the plots were drawn, not only the text
      if (Math.abs(r0 - 0x4c) < 24 && Math.abs(g0 - 0x78) < 24 && Math.abs(b0 - 0xa8) < 24) plotBlue++;
    }
    expect(differ / n, 'share of pixels that differ clearly from the background').toBeGreaterThan(0.02);
    expect(coarse.size, 'distinct colours (4 bits per channel)').toBeGreaterThanOrEqual(8);
    expect(plotBlue, 'pixels in the plots\' first series colour').toBeGreaterThan(200);
  }, 90_000);
});
