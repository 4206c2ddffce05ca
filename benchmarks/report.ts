/**
 * Benchmark reports: plots and one HTML page per run, next to the result JSON (see `report()` in lib.ts).
 *
 * - Plots are vega-lite specs made by the small builders here ({@link lineChart}, {@link barChart},
 *   {@link dotChart}; {@link melt} turns several columns into series). A benchmark registers them with
 *   {@link addPlot} before `report()`; each becomes `<out>-<name>.svg`, rendered headless (vega-lite → vega →
 *   `View.toSVG()`, no browser, no canvas).
 * - Tables: `printTable` (lib.ts) records every table it prints here ({@link recordTable}); the page shows them.
 * - The page `<out>.html` holds the plots (inline SVG), the tables, the machine record, the command line and
 *   the result JSON; it is self-contained (no scripts, no network).
 *
 * vega and vega-lite are optional peer dependencies (dev dependencies here), loaded lazily: without them (a
 * production install) the SVGs are skipped, the page says so, a line goes to stderr, and the benchmark still
 * succeeds.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export type Row = Record<string, unknown>;
/** A vega-lite specification (JSON). */
export type VegaLiteSpec = Record<string, unknown>;

/** A plot registered for the report: `name` becomes part of its file name, `title` heads it on the page. */
export interface Plot { name: string; title: string; spec: VegaLiteSpec }
/** A table as printed: its rows (a snapshot when printed) and its title. */
export interface Table { title?: string; rows: Row[] }

// ---------------------------------------------------------------------------------------------------------
// Collected during a run

let plots: Plot[] = [];
let tables: Table[] = [];

/**
 * Register a plot for this run's report. `name` is made file-safe (`[a-z0-9-]`) and unique within the run.
 * @example
 * addPlot('recall-qps', 'recall@10 against QPS', lineChart(rows, { x: 'recall', y: { field: 'qps', log: true }, color: 'backend' }));
 */
export function addPlot(name: string, title: string, spec: VegaLiteSpec): void {
  let safe = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'plot';
  if (plots.some((p) => p.name === safe)) {
    let i = 2;
    while (plots.some((p) => p.name === `${safe}-${i}`)) i++;
    safe = `${safe}-${i}`;
  }
  plots.push({ name: safe, title, spec });
}

/** Record a table for the page (printTable does this for every table it prints). Rows are copied. */
export function recordTable(rows: Row[], title?: string): void {
  tables.push({ title, rows: rows.map((r) => ({ ...r })) });
}

/** What this run registered so far. */
export function collected(): { plots: Plot[]; tables: Table[] } {
  return { plots: [...plots], tables: [...tables] };
}

/** Forget the plots and tables collected (a new run starts; lib.ts's beginOutput calls it). */
export function resetReport(): void {
  plots = [];
  tables = [];
}

// ---------------------------------------------------------------------------------------------------------
// Spec builders

/** A column of the data: its key in the rows and how to show it. */
export interface Field {
  field: string;
  /** Axis or legend title. @default the field name */
  title?: string;
  /** Log scale (rows with values ≤ 0 are left out). @default false */
  log?: boolean;
  /** Include zero in a linear scale. @default false for line charts, true for bars */
  zero?: boolean;
  /** d3-format of the axis labels, e.g. `'.0%'` or `'~s'`. */
  format?: string;
  /** Force the kind of scale; by default numbers are quantitative and anything else ordinal (in data order). */
  type?: 'quantitative' | 'ordinal' | 'nominal';
}
type F = string | Field;

export interface ChartOptions {
  title?: string;
  subtitle?: string;
  /** Plot area width in pixels. @default 520 */
  width?: number;
  /** Plot area height in pixels. @default 300 (line charts); from the number of categories (bar and dot charts) */
  height?: number;
  /** Colours of the series, in order (default: vega's tableau10). */
  colors?: string[];
}

/** Colours for latency percentiles, light to dark (p50, p90, p99, p99.9, max). */
export const PERCENTILE_COLORS = ['#9ecae1', '#4292c6', '#08519c', '#d94801', '#7f2704'];

const field = (f: F): Field => (typeof f === 'string' ? { field: f } : f);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** Distinct values in order of appearance (as they are: a number stays a number, to match the data). */
const distinct = (xs: unknown[]): (string | number)[] => {
  const seen = new Set<string>();
  const out: (string | number)[] = [];
  for (const x of xs) {
    const key = String(x);
    if (!seen.has(key)) { seen.add(key); out.push(typeof x === 'number' ? x : key); }
  }
  return out;
};

function axisOf(f: Field, values: unknown[], zeroDefault: boolean, axisExtra: Record<string, unknown> = {}) {
  const quantitative = f.type ? f.type === 'quantitative' : values.length > 0 && values.every(isNum);
  const enc: Record<string, unknown> = { field: f.field, title: f.title ?? f.field };
  if (quantitative) {
    enc.type = 'quantitative';
    enc.scale = f.log ? { type: 'log' } : { zero: f.zero ?? zeroDefault };
    enc.axis = { ...(f.format ? { format: f.format } : {}), ...axisExtra };
  } else {
    enc.type = f.type === 'nominal' ? 'nominal' : 'ordinal';
    enc.scale = { domain: distinct(values) };
    enc.sort = null;
    enc.axis = { labelLimit: 1000, ...axisExtra };
  }
  return { enc, quantitative };
}

// (text widths are estimated without a canvas, ~0.8 × font size per character, wider than drawn: hence the
// generous label limits; labels here are ours, never unbounded)

/** Legend columns: many short labels side by side, long ones two per line. */
function legendColumns(labels: (string | number)[]): number {
  const longest = Math.max(0, ...labels.map((l) => String(l).length));
  return Math.max(1, Math.min(labels.length, longest <= 12 ? 6 : longest <= 28 ? 3 : 2));
}

function colorEnc(f: Field | undefined, values: unknown[], colors?: string[]) {
  if (!f) return undefined;
  const domain = distinct(values);
  return {
    field: 'color', type: 'nominal', title: f.title ?? f.field, sort: null,
    scale: { domain, ...(colors ? { range: colors.slice(0, Math.max(domain.length, 1)) } : {}) },
    legend: { orient: 'bottom', direction: 'horizontal', columns: legendColumns(domain), labelLimit: 1000, symbolStrokeWidth: 2 },
  };
}

function base(o: ChartOptions, values: Row[], width: number, height: number): VegaLiteSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(o.title ? { title: o.subtitle ? { text: o.title, subtitle: o.subtitle } : o.title } : {}),
    width, height,
    background: 'white',
    padding: 10,
    data: { values },
    config: {
      font: 'sans-serif',
      title: { anchor: 'start', fontSize: 14, subtitleFontSize: 11, subtitleColor: '#555' },
      axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
      legend: { labelFontSize: 11, titleFontSize: 11 },
      view: { stroke: '#ccc' },
    },
  };
}

/** Rows reduced to the channels a chart uses (plain keys, no field-name escaping), without unusable values. */
function pick(data: Row[], ch: Record<string, Field | undefined>, numeric: string[]): Row[] {
  const out: Row[] = [];
  for (const r of data) {
    const o: Row = {};
    let ok = true;
    for (const [k, f] of Object.entries(ch)) {
      if (!f) continue;
      const v = r[f.field];
      if (numeric.includes(k)) {
        if (!isNum(v) || (f.log && v <= 0)) { ok = false; break; }
      } else if (v === undefined || v === null) { ok = false; break; }
      o[k] = typeof v === 'number' || typeof v === 'string' ? v : String(v);
    }
    if (ok) out.push(o);
  }
  return out;
}

/**
 * Lines with points: `y` against a numeric (or ordered) `x`, one line per value of `color` (and of `dash`, drawn
 * with different dash patterns), each line's points in x order.
 * @example
 * lineChart(sweep, { x: { field: 'recall', title: 'recall@10' }, y: { field: 'qps', log: true }, color: 'backend', dash: 'filter' })
 */
export function lineChart(data: Row[], o: ChartOptions & { x: F; y: F; color?: F; dash?: F; points?: boolean }): VegaLiteSpec {
  const x = field(o.x), y = field(o.y), c = o.color ? field(o.color) : undefined, d = o.dash ? field(o.dash) : undefined;
  const xs = data.map((r) => r[x.field]).filter((v) => v !== undefined && v !== null);
  const xNumeric = x.type ? x.type === 'quantitative' : xs.every(isNum);
  const values = pick(data, { x, y, color: c, dash: d }, xNumeric ? ['x', 'y'] : ['y']);
  // a single x value (a quick run's one size) reads better as one labelled position than as a degenerate scale
  const single = !x.type && new Set(values.map((r) => r.x)).size < 2;
  const xTitle = x.title ?? x.field;
  const xa = axisOf({ ...x, field: 'x', title: single ? xTitle.replace(/ \(log\)$/, '') : xTitle, ...(single ? { type: 'ordinal' as const, log: false } : {}) }, values.map((r) => r.x), false, { labelAngle: 0 });
  const ya = axisOf({ ...y, field: 'y', title: y.title ?? y.field }, values.map((r) => r.y), false);
  const enc: Record<string, unknown> = { x: xa.enc, y: ya.enc };
  const color = colorEnc(c, values.map((r) => r.color), o.colors);
  if (color) enc.color = color;
  if (d) {
    const dd = distinct(values.map((r) => r.dash));
    enc.strokeDash = {
      field: 'dash', type: 'nominal', title: d.title ?? d.field, sort: null, scale: { domain: dd },
      legend: { orient: 'bottom', direction: 'horizontal', columns: legendColumns(dd), labelLimit: 1000, symbolType: 'stroke', symbolStrokeWidth: 2, symbolSize: 500,
        encode: { symbols: { update: { stroke: { value: '#444' }, fill: { value: 'transparent' } } } } },
    };
  }
  // one line per series; a series with a single point still shows its point
  const detail = [c ? 'color' : null, d ? 'dash' : null].filter(Boolean);
  if (detail.length) enc.detail = detail.map((f) => ({ field: f, type: 'nominal' }));
  if (xa.quantitative) enc.order = { field: 'x', type: 'quantitative' };
  return {
    ...base(o, values, o.width ?? 520, o.height ?? 300),
    mark: { type: 'line', strokeWidth: 2, point: o.points === false ? false : { filled: true, size: 45 } },
    encoding: enc,
  };
}

/**
 * Bars: one bar per `category` (in data order), its length `value`; with `color`, grouped bars, one per series.
 * Horizontal by default (long category names stay readable).
 * @example
 * barChart(melt(rows, { columns: ['hr10', 'ndcg10'], keep: ['scoring'] }), { category: 'scoring', value: 'value', color: 'series' })
 */
export function barChart(data: Row[], o: ChartOptions & { category: F; value: F; color?: F; horizontal?: boolean }): VegaLiteSpec {
  const cat = field(o.category), val = field(o.value), c = o.color ? field(o.color) : undefined;
  const values = pick(data, { cat, val, color: c }, ['val']);
  const horizontal = o.horizontal !== false;
  const cats = distinct(values.map((r) => r.cat));
  const series = c ? distinct(values.map((r) => r.color)).length : 1;
  const catAxis = { field: 'cat', type: 'nominal', title: cat.title ?? cat.field, sort: null, scale: { domain: cats }, axis: { labelLimit: 1000, ...(horizontal ? {} : { labelAngle: cats.some((s) => String(s).length > 8) ? -30 : 0 }) } };
  const valAxis = { field: 'val', type: 'quantitative', title: val.title ?? val.field, scale: val.log ? { type: 'log' } : { zero: val.zero ?? true }, axis: val.format ? { format: val.format } : {} };
  const enc: Record<string, unknown> = horizontal ? { y: catAxis, x: valAxis } : { x: catAxis, y: valAxis };
  const color = colorEnc(c, values.map((r) => r.color), o.colors);
  if (color) {
    enc.color = color;
    enc[horizontal ? 'yOffset' : 'xOffset'] = { field: 'color', type: 'nominal', sort: null, scale: { domain: color.scale.domain } };
  }
  const band = Math.max(1, cats.length) * (series * 12 + 10);
  return {
    ...base(o, values, horizontal ? (o.width ?? 520) : (o.width ?? Math.max(240, band)), horizontal ? (o.height ?? Math.max(60, band)) : (o.height ?? 280)),
    mark: { type: 'bar' },
    encoding: enc,
  };
}

/**
 * A dot plot: one row per `category` (in data order), a dot per series at `value` — for latency percentiles
 * (one colour per percentile), where a log scale suits better than bars.
 * @example
 * dotChart(melt(rows, { columns: { p50: 'median_ms', p99: 'p99_ms' }, keep: ['stage'] }), { category: 'stage', value: { field: 'value', log: true }, color: 'series' })
 */
export function dotChart(data: Row[], o: ChartOptions & { category: F; value: F; color?: F }): VegaLiteSpec {
  const cat = field(o.category), val = field(o.value), c = o.color ? field(o.color) : undefined;
  const values = pick(data, { cat, val, color: c }, ['val']);
  const cats = distinct(values.map((r) => r.cat));
  const enc: Record<string, unknown> = {
    y: { field: 'cat', type: 'nominal', title: cat.title ?? cat.field, sort: null, scale: { domain: cats }, axis: { labelLimit: 1000 } },
    x: { field: 'val', type: 'quantitative', title: val.title ?? val.field, scale: val.log ? { type: 'log' } : { zero: val.zero ?? false }, axis: val.format ? { format: val.format } : {} },
  };
  const color = colorEnc(c, values.map((r) => r.color), o.colors);
  if (color) enc.color = color;
  return {
    ...base(o, values, o.width ?? 520, o.height ?? Math.max(60, cats.length * 26)),
    mark: { type: 'point', filled: true, size: 70, opacity: 0.9 },
    encoding: enc,
  };
}

/**
 * Several columns of each row as rows of one series column (`key`) and one value column (`value`) — the shape
 * the builders want for "one line / bar / dot per metric". `columns` is a list of keys, or `{label: key}`.
 * Rows without a number in a column are left out for that column.
 * @example
 * melt([{ stage: 'feed', p50: 2, p99: 5 }], { columns: ['p50', 'p99'], keep: ['stage'] })
 * // → [{ stage: 'feed', series: 'p50', value: 2 }, { stage: 'feed', series: 'p99', value: 5 }]
 */
export function melt(rows: Row[], o: { columns: string[] | Record<string, string>; keep?: string[]; key?: string; value?: string }): Row[] {
  const cols = Array.isArray(o.columns) ? Object.fromEntries(o.columns.map((c) => [c, c])) : o.columns;
  const key = o.key ?? 'series', value = o.value ?? 'value';
  const out: Row[] = [];
  for (const r of rows) {
    for (const [label, col] of Object.entries(cols)) {
      const v = r[col];
      if (!isNum(v)) continue;
      const row: Row = {};
      for (const k of o.keep ?? Object.keys(r).filter((k) => !Object.values(cols).includes(k))) row[k] = r[k];
      row[key] = label;
      row[value] = v;
      out.push(row);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Rendering

interface VegaModules {
  vega: { View: new (runtime: unknown, opts: { renderer: string }) => { toSVG(): Promise<string>; finalize(): void }; parse(spec: unknown): unknown };
  vl: { compile(spec: unknown): { spec: unknown } };
}

/** How modules are imported (a test can pretend they are missing). */
export type Importer = (specifier: string) => Promise<unknown>;

const defaultImporter: Importer = (s) => import(s);
let cachedVega: Promise<VegaModules | { missing: string }> | undefined;

/** vega and vega-lite, or why they could not be loaded (`missing`). */
export function loadVega(importer: Importer = defaultImporter): Promise<VegaModules | { missing: string }> {
  const load = async () => {
    try {
      // variable specifiers: TypeScript and bundlers must not insist on the (dev) packages
      const [vega, vl] = await Promise.all([importer('vega'), importer('vega-lite')]);
      return { vega, vl } as VegaModules;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const missing = err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(String(err?.message));
      if (!missing) throw e;
      return { missing: `vega and vega-lite are not installed (${String(err.message).split('\n')[0]}); they are optional peer dependencies of pinrec: \`npm install vega vega-lite\` renders the plots` };
    }
  };
  if (importer !== defaultImporter) return load();
  return (cachedVega ??= load());
}

/** Render a vega-lite spec to an SVG document (throws when vega / vega-lite are missing or the spec is wrong). */
export async function renderSvg(spec: VegaLiteSpec, importer?: Importer): Promise<string> {
  const m = await loadVega(importer);
  if ('missing' in m) throw new Error(m.missing);
  return svgOf(m, spec);
}

async function svgOf(m: VegaModules, spec: VegaLiteSpec): Promise<string> {
  const view = new m.vega.View(m.vega.parse(m.vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Give every id of an SVG (and its references) a prefix, so several SVGs can share one HTML page. */
export function prefixSvgIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${prefix}${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${prefix}${id})`)
    .replace(/(xlink:href|href)="#([^"]+)"/g, (_, a: string, id: string) => `${a}="#${prefix}${id}"`);
}

/** Escape text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A table cell as printTable shows it: numbers formatted by size, objects as JSON, undefined empty. */
export function formatCell(v: unknown): string {
  if (typeof v === 'number') return formatNumber(v);
  if (v === undefined || v === null) return v === null ? 'null' : '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(3);
  return v.toPrecision(4);
}

/**
 * The tables for the page: consecutive untitled tables with the same columns (rows printed one at a time as
 * they were measured) are joined, and such a group is left out when a later titled table repeats its rows.
 */
export function tidyTables(list: Table[]): Table[] {
  const cols = (t: Table) => [...new Set(t.rows.flatMap((r) => Object.keys(r)))].join('\u0000');
  const joined: Table[] = [];
  for (const t of list) {
    const prev = joined[joined.length - 1];
    if (!t.title && prev && !prev.title && t.rows.length > 0 && cols(prev) === cols(t)) prev.rows.push(...t.rows);
    else joined.push({ title: t.title, rows: [...t.rows] });
  }
  const same = (a: Row, b: Row) => Object.keys(a).every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
  return joined.filter((t, i) => {
    if (t.title) return true;
    if (t.rows.length === 0) return false;
    return !joined.slice(i + 1).some((u) => u.title && t.rows.every((r) => u.rows.some((s) => same(r, s))));
  });
}

/** What {@link writeReport} needs. */
export interface ReportInput {
  /** Benchmark name (the page's heading). */
  name: string;
  /** The result as written to the JSON file (with `machine`). */
  doc: Record<string, unknown>;
  plots: Plot[];
  tables: Table[];
  /** The command line that ran (shown as is). */
  command?: string;
  /** Working directory of the run. */
  cwd?: string;
}

/** What {@link writeReport} wrote. */
export interface ReportFiles {
  html: string;
  svgs: string[];
  /** Problems shown on the page (vega missing, a plot that failed). */
  notes: string[];
  /** Plots that failed to render (a bug in the spec): the page shows the error. */
  failed: { name: string; error: string }[];
}

/**
 * Write `<base>-<plot>.svg` per plot and `<base>.html` next to the result JSON `jsonPath` (`<base>.json`).
 * Never throws for missing vega / vega-lite (the page and stderr say so); a plot whose spec fails is listed in
 * `failed` and on the page.
 */
export async function writeReport(jsonPath: string, input: ReportInput, opts: { importer?: Importer } = {}): Promise<ReportFiles> {
  const baseName = jsonPath.replace(/\.json$/i, '');
  mkdirSync(path.dirname(path.resolve(baseName)), { recursive: true });
  const notes: string[] = [];
  const failed: ReportFiles['failed'] = [];
  const svgs: string[] = [];
  const rendered: { plot: Plot; svg?: string; file?: string; error?: string }[] = [];
  if (input.plots.length > 0) {
    const m = await loadVega(opts.importer);
    if ('missing' in m) {
      notes.push(`Plots not rendered: ${m.missing}.`);
      process.stderr.write(`report: ${input.plots.length} plot(s) not rendered: ${m.missing}\n`);
      for (const plot of input.plots) rendered.push({ plot });
    } else {
      for (const plot of input.plots) {
        try {
          const svg = await svgOf(m, plot.spec);
          const file = `${baseName}-${plot.name}.svg`;
          writeFileSync(file, svg.endsWith('\n') ? svg : svg + '\n');
          svgs.push(file);
          rendered.push({ plot, svg, file });
        } catch (e) {
          const error = (e as Error)?.message ?? String(e);
          failed.push({ name: plot.name, error });
          notes.push(`Plot ${plot.name} failed to render: ${error}`);
          process.stderr.write(`report: plot ${plot.name} failed to render: ${error}\n`);
          rendered.push({ plot, error });
        }
      }
    }
  }
  const html = `${baseName}.html`;
  writeFileSync(html, renderHtml(input, rendered, notes, path.basename(jsonPath)));
  return { html, svgs, notes, failed };
}

function htmlTable(rows: Row[], cls = ''): string {
  if (rows.length === 0) return '<p class="empty">(no rows)</p>';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const head = cols.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = rows.map((r) => '<tr>' + cols.map((c) => {
    const v = r[c];
    return `<td${typeof v === 'number' ? ' class="num"' : ''}>${escapeHtml(formatCell(v))}</td>`;
  }).join('') + '</tr>').join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 18px 0 6px; font-weight: 600; }
.meta { color: #555; margin: 0 0 12px; } a { color: #0b5cad; }
pre { background: #f6f8fa; border: 1px solid #e3e6ea; padding: 8px 10px; overflow-x: auto; font-size: 12px; white-space: pre-wrap; word-break: break-all; }
table { border-collapse: collapse; margin: 4px 0 12px; font-size: 12.5px; }
th, td { border: 1px solid #d8dce0; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f1f3f5; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.tables { overflow-x: auto; }
figure { margin: 12px 0 20px; } figcaption { font-weight: 600; margin-bottom: 4px; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
.note { background: #fff8e1; border: 1px solid #f0d58c; padding: 8px 10px; margin: 8px 0; }
.error { background: #fdecea; border: 1px solid #f5b7b1; padding: 8px 10px; }
.machine th { width: 8em; }
`;

function renderHtml(input: ReportInput, rendered: { plot: Plot; svg?: string; file?: string; error?: string }[], notes: string[], jsonName: string): string {
  const machine = (input.doc.machine ?? {}) as Record<string, unknown>;
  const date = typeof machine.date === 'string' ? machine.date : new Date().toISOString();
  const e = escapeHtml;
  const shown = tidyTables(input.tables);
  const parts: string[] = [];
  parts.push(`<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">`);
  parts.push(`<title>${e(`pinrec benchmark ${input.name} — ${date}`)}</title>\n<style>${CSS}</style>\n</head>\n<body>`);
  parts.push(`<h1>pinrec benchmark: ${e(input.name)}</h1>`);
  const box = [machine.cpu, machine.cores !== undefined ? `${machine.cores} cores` : undefined, machine.memGiB !== undefined ? `${machine.memGiB} GiB` : undefined, machine.node].filter((x) => x !== undefined).join(', ');
  parts.push(`<p class="meta">${e(date)}${box ? ` · ${e(box)}` : ''} · result <a href="${e(encodeURI(jsonName))}">${e(jsonName)}</a> · ${rendered.filter((r) => r.svg).length} plot(s), ${shown.length} table(s) · <a href="#command">command and machine</a></p>`);
  for (const n of notes) parts.push(`<p class="note">${e(n)}</p>`);
  if (rendered.length > 0) {
    parts.push('<h2>Plots</h2>');
    rendered.forEach((r, i) => {
      const link = r.file ? ` · <a href="${e(encodeURI(path.basename(r.file)))}">${e(path.basename(r.file))}</a>` : '';
      parts.push(`<figure id="plot-${e(r.plot.name)}">\n<figcaption>${e(r.plot.title)}${link}</figcaption>`);
      if (r.svg) parts.push(prefixSvgIds(r.svg.replace(/^<\?xml[^>]*>\s*/, ''), `p${i}-`));
      else if (r.error) parts.push(`<p class="error">${e(`not rendered: ${r.error}`)}</p>`);
      else parts.push('<p class="note">not rendered (see the note above)</p>');
      parts.push('</figure>');
    });
  }
  parts.push('<h2>Tables</h2>\n<div class="tables">');
  if (shown.length === 0) parts.push('<p class="empty">(this run printed no tables)</p>');
  for (const t of shown) {
    if (t.title) parts.push(`<h3>${e(t.title)}</h3>`);
    parts.push(htmlTable(t.rows));
  }
  parts.push('</div>');
  parts.push('<h2 id="command">Command</h2>');
  parts.push(`<pre>${e(input.command ?? '(not recorded)')}</pre>`);
  if (input.cwd) parts.push(`<p class="meta">in ${e(input.cwd)}</p>`);
  parts.push('<h2>Machine</h2>');
  parts.push(htmlTable(Object.entries(machine).map(([k, v]) => ({ field: k, value: v })), 'machine'));
  parts.push(`<h2>Result</h2>\n<details><summary>${e(jsonName)}</summary>\n<pre>${e(JSON.stringify(input.doc, null, 2))}</pre>\n</details>`);
  parts.push('</body>\n</html>\n');
  return parts.join('\n');
}
