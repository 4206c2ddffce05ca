#!/usr/bin/env node
/**
 * The `pinrec` command (package `bin`): the library's jobs from a shell.
 *
 *   pinrec fit interactions.txt --format seq --factors 64 --out model.pinrec
 *   pinrec recommend model.pinrec --users users.txt --n 20 --out recs.arrow
 *   pinrec embed photos/ --out embeddings.arrow && pinrec index embeddings.arrow --out index.pinrec
 *   pinrec demo
 *
 * Progress bars (cli-progress, fed by the library's onProgress callbacks) go to stderr, and only when stderr
 * is a terminal and `--json` is not given; `--json` prints one JSON object on stdout. Exit codes: 0 done, 2 bad
 * usage, 3 bad input (a file that cannot be read, a bad option value, an unknown id), 1 an internal failure, 130
 * interrupted. Errors are one line naming the command, and the file, parameter and value the library's typed
 * error names. Files are written atomically (a temporary file renamed into place), and Ctrl-C during a write
 * removes the temporary files (see `trackOutput` in common.ts), so no half-written file stays.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DimensionMismatchError, FileFormatError, ImageDecodeError, InvalidParameterError, MissingDependencyError, PinrecError, UnknownIdError } from '../core/errors.js';
import { EXIT, UsageError, type Command } from './common.js';
import { evaluateCmd, exportCmd, factors, fit, recommend, similar } from './cf.js';
import { embed, index, ingest, search } from './images.js';
import { feedCmd } from './feed.js';
import { bench } from './bench.js';
import { demo } from './demo.js';

const COMMANDS: Command[] = [fit, recommend, similar, factors, evaluateCmd, exportCmd, embed, index, search, ingest, feedCmd, bench, demo];

const MAIN_HELP = `pinrec — recommendation and visual search for Node

Usage: pinrec <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join('\n')}

pinrec <command> --help shows a command's options. Every command takes --json (one JSON object on stdout).
Exit codes: 0 done, 2 bad usage, 3 bad input, 1 internal failure, 130 interrupted.`;

const INPUT_ERRORS = [FileFormatError, InvalidParameterError, UnknownIdError, DimensionMismatchError, ImageDecodeError, MissingDependencyError];

/**
 * Run the command line `argv` (without node and the script); resolves with the exit code. Never throws: an
 * error is printed as one line on stderr (an internal failure with its stack).
 *
 * @example
 * import { run } from 'pinrec/cli';
 * process.exitCode = await run(['demo', '--json']);
 */
export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(MAIN_HELP + '\n');
      return cmd === undefined ? EXIT.usage : EXIT.ok;
    }
    if (cmd === '--version' || cmd === '-v') {
      const { createRequire } = await import('node:module');
      process.stdout.write(`${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}\n`);
      return EXIT.ok;
    }
    const c = COMMANDS.find((x) => x.name === cmd);
    if (!c) throw new UsageError(`unknown command ${JSON.stringify(cmd)} (commands: ${COMMANDS.map((x) => x.name).join(', ')})`);
    return await c.run(rest);
  } catch (e) {
    const err = e as Error & { code?: string };
    const where = cmd ?? 'pinrec';
    if (e instanceof UsageError || (typeof err?.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS_'))) {
      process.stderr.write(`pinrec ${where}: ${err.message}\n`);
      return EXIT.usage;
    }
    if (INPUT_ERRORS.some((k) => e instanceof k) || (e instanceof PinrecError && err.name === 'ModelLoadError')) {
      process.stderr.write(`pinrec ${where}: ${err.message.split('\n')[0]}\n`);
      return EXIT.input;
    }
    process.stderr.write(`pinrec ${where}: internal error: ${err?.stack ?? String(e)}\n`);
    return EXIT.internal;
  }
}

// Run when executed (the package bin, a symlink to this file, or `node dist/cli/main.js`), not when imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  run(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
