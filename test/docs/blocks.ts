/**
 * Code blocks of the Markdown docs, for the docs test (test/docs.test.ts) and scripts/doc-blocks.ts.
 *
 * A block is a fenced ```ts / ```typescript block. Marker comments on the lines just above the fence (blank
 * lines between are not allowed) control it:
 *
 *   <!-- docs-test: skip (needs network: downloads a model) -->   not run; the reason is reported
 *   <!-- docs-test: env PINREC_DATA -->                           run only when every named variable is set (and,
 *                                                                  when its value looks like a path, that path exists)
 *   <!-- docs-test: timeout 180 -->                                seconds (default: DEFAULT_TIMEOUT_S)
 *
 * Several directives may share one comment, separated by ';'. ```sh / ```bash blocks run under bash (see run.ts:
 * `npx pinrec` is this repository's command); other fences (```, ```json …) are never run.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_TIMEOUT_S = 120;

/** The package's subpaths and the source file each one means (never the built dist/). */
export const SUBPATHS: Record<string, string> = {
  'pinrec': 'src/index.ts',
  'pinrec/cf': 'src/cf/index.ts',
  'pinrec/ann': 'src/ann/index.ts',
  'pinrec/embeddings': 'src/embeddings/index.ts',
  'pinrec/images': 'src/images/index.ts',
  'pinrec/ingest': 'src/ingest/index.ts',
  'pinrec/ranking': 'src/ranking/index.ts',
  'pinrec/diversity': 'src/diversity/index.ts',
  'pinrec/store': 'src/store/index.ts',
  'pinrec/workload': 'src/workload/index.ts',
  'pinrec/cli': 'src/cli/main.ts',
  'pinrec/shopping': 'src/shopping/index.ts',
};

export interface DocBlock {
  /** Repository-relative Markdown file, e.g. `docs/ann.md`. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  /** Set when the block must not run (a `skip` marker, or a missing `env` need). */
  skip?: string;
  /** Environment variables the block needs (from `env` markers). */
  env: string[];
  timeoutS: number;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)[^\n]*$/;
const MARKER = /^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$/;
const RUN_LANGS = new Set(['ts', 'typescript', 'sh', 'bash']);

/** The doc files under test: README.md and docs/*.md. */
export function docFiles(): string[] {
  const docs = path.join(REPO, 'docs');
  const names = existsSync(docs) ? readdirSync(docs).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`) : [];
  return ['README.md', ...names];
}

/** Every fenced block of one Markdown file that is TypeScript, with its markers applied. */
export function extractBlocks(file: string, text = readFileSync(path.join(REPO, file), 'utf8'), env: NodeJS.ProcessEnv = process.env): DocBlock[] {
  const lines = text.split('\n');
  const out: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = FENCE.exec(lines[i]);
    if (!m) continue;
    const [, indent, fence, langRaw] = m;
    // find the closing fence: same character, at least as long, nothing else on the line
    let j = i + 1;
    while (j < lines.length && !(lines[j].trim().startsWith(fence) && /^[`~]+$/.test(lines[j].trim()) && lines[j].trim().length >= fence.length)) j++;
    const lang = langRaw.toLowerCase();
    if (RUN_LANGS.has(lang)) {
      const body = lines.slice(i + 1, j).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l));
      const block: DocBlock = { file, line: i + 1, lang, code: body.join('\n') + '\n', env: [], timeoutS: DEFAULT_TIMEOUT_S };
      applyMarkers(block, markersAbove(lines, i), env);
      out.push(block);
    }
    i = j; // skip the block body (a ``` inside a block is not a fence)
  }
  return out;
}

/** Directives of the marker comments directly above line `i` (nearest last). */
function markersAbove(lines: string[], i: number): string[] {
  const found: string[] = [];
  for (let k = i - 1; k >= 0; k--) {
    const m = MARKER.exec(lines[k]);
    if (!m) break;
    found.unshift(...m[1].split(';').map((s) => s.trim()).filter(Boolean));
  }
  return found;
}

function applyMarkers(block: DocBlock, directives: string[], env: NodeJS.ProcessEnv): void {
  for (const d of directives) {
    const [word, ...rest] = d.split(/\s+/);
    const arg = rest.join(' ').trim();
    if (word === 'skip') {
      block.skip = arg.replace(/^\((.*)\)$/, '$1') || 'marked skip';
    } else if (word === 'env') {
      for (const name of arg.split(/[\s,]+/).filter(Boolean)) {
        block.env.push(name);
        const v = env[name];
        if (!block.skip && (v === undefined || v === '')) block.skip = `needs ${name} (not set)`;
        else if (!block.skip && v && looksLikePath(v) && !existsSync(v)) block.skip = `needs ${name} (${v} does not exist)`;
      }
    } else if (word === 'timeout') {
      const s = Number(arg);
      if (!Number.isFinite(s) || s <= 0) throw new Error(`${block.file}:${block.line}: bad docs-test timeout '${arg}'`);
      block.timeoutS = s;
    } else {
      throw new Error(`${block.file}:${block.line}: unknown docs-test directive '${d}' (skip | env | timeout)`);
    }
  }
}

function looksLikePath(v: string): boolean {
  return v.startsWith('/') || v.startsWith('./') || v.startsWith('../');
}

/**
 * Point `pinrec` and `pinrec/<module>` imports (static, dynamic, `export … from`, `import type`) at the
 * repository's source files, so a block tests src/ and never a stale dist/. Anything else is left alone.
 */
export function rewriteImports(code: string, repo = REPO): string {
  return code.replace(/((?:\bfrom|\bimport)\s*\(?\s*)(['"])(pinrec(?:\/[\w-]+)?)\2/g, (all, pre: string, q: string, spec: string) => {
    const target = SUBPATHS[spec];
    if (!target) throw new Error(`unknown pinrec subpath '${spec}' (known: ${Object.keys(SUBPATHS).join(', ')})`);
    return `${pre}${q}${pathToFileURL(path.join(repo, target)).href}${q}`;
  });
}

/** A file-system-safe name for a block: `docs-ann.md-12`. */
export function blockId(b: Pick<DocBlock, 'file' | 'line'>): string {
  return `${b.file.replace(/[\\/]/g, '-')}-${b.line}`;
}
