/**
 * Benchmark entry point: `npm run bench -- <name> [options]` runs `benchmarks/<name>.ts`.
 * Every benchmark prints a table, writes JSON (to --out, default bench-results/<name>-<date>.json),
 * records the machine, and has a `--quick` mode that CI runs. With `--json`, stdout is exactly one line, the
 * result JSON; everything else goes to stderr (see lib.ts).
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as path from 'node:path';
import { beginOutput, endOutput } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const names = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'lib.ts'].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || !names.includes(name)) {
  console.log(`usage: npm run bench -- <${names.join('|')}> [--quick] [--json] [--out file] [options]\n` +
    `       npm run bench -- <name> --help   for a benchmark's own options`);
  process.exit(name && name !== '--help' ? 2 : 0);
}
const mod = (await import(pathToFileURL(path.join(here, `${name}.ts`)).href)) as { main(argv: string[]): Promise<void> };
beginOutput(rest);
await mod.main(rest);
if (!rest.includes('--help')) endOutput();
