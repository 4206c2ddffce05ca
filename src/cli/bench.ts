/**
 * `pinrec bench`: the package's benchmark scripts (the same ones as `npm run bench` in a clone), compiled into
 * `dist/bench/` at build time. Each writes its JSON result, its plots (SVG) and an HTML page next to each other.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EXIT, UsageError, type Command } from './common.js';

/** The package's root folder (two levels above this file, in src/cli/ or dist/cli/). */
function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** The benchmark runner module: compiled (dist/bench/benchmarks/run.js), or the source when run from source. */
function runnerFile(): string | undefined {
  const root = packageRoot();
  const fromSource = import.meta.url.endsWith('.ts');
  const candidates = fromSource
    ? [path.join(root, 'benchmarks', 'run.ts'), path.join(root, 'dist', 'bench', 'benchmarks', 'run.js')]
    : [path.join(root, 'dist', 'bench', 'benchmarks', 'run.js')];
  return candidates.find((f) => existsSync(f));
}

export const bench: Command = {
  name: 'bench',
  summary: 'run a benchmark (ann, cf, embeddings, feed, …): a table, JSON, SVG plots and an HTML page',
  help: `Usage: pinrec bench <name> [--quick] [--json] [--out <file.json>] [options]

  Runs one of the package's benchmarks. Each prints a table and writes, by default into bench-results/, its result
  JSON (with the machine record), one SVG plot per chart and an HTML page that gathers the tables and plots.
  --quick                the short mode CI runs
  --json                 stdout is exactly one line, the result JSON
  --out <file>           where the JSON goes (the .svg and .html files go beside it)
  pinrec bench           (no name) lists the benchmarks; pinrec bench <name> --help shows a benchmark's options
  Data sets are read from $PINREC_DATA (default ../shared/datasets); a benchmark says what it skips without them.`,
  async run(argv) {
    const file = runnerFile();
    if (!file) throw new UsageError(`the benchmarks are not built in this install (looked for dist/bench/benchmarks/run.js under ${packageRoot()}); run \`npm run build\` in a clone`);
    if (argv[0] === '--help' || argv[0] === '-h') {
      process.stdout.write(this.help + '\n');
      return EXIT.ok;
    }
    const mod = (await import(pathToFileURL(file).href)) as { runBenchmark(name: string | undefined, argv: string[]): Promise<number> };
    return mod.runBenchmark(argv[0], argv.slice(1));
  },
};
