#!/usr/bin/env node
/**
 * The `pinrec` command (package `bin`): the library's main jobs from a shell.
 *
 *   pinrec fit <interactions> [--format seq|ratings-csv|arrow] [--factors 64] [--scoring ease|puresvd] --out model.pinrec
 *   pinrec recommend <model> (--user ID … | --users FILE) [--n 20] [--out recs.jsonl]
 *   pinrec demo
 *   pinrec <command> --help
 *
 * Progress bars (cli-progress, fed by the library's onProgress callbacks) go to stderr, and only when stderr
 * is a terminal; `--json` prints one JSON object on stdout. Exit codes: 0 done, 2 bad usage, 3 bad input (a
 * file that cannot be read, a bad option value, an unknown id), 1 an internal failure. Errors are one line
 * naming the command, and the file, parameter and value the library's typed error names. Files are written
 * atomically (a temporary file renamed into place), so Ctrl-C never leaves a half-written one.
 */
import { createWriteStream, readFileSync, realpathSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { FileFormatError, InvalidParameterError, UnknownIdError } from '../core/errors.js';
import type { ProgressCallback } from '../core/types.js';
import { SvdRecommender, readArrowFile, readRatingsCsv, readSequenceFile, syntheticInteractions, leaveLastOut, evaluate } from '../cf/index.js';
import type { InteractionLog } from '../cf/index.js';
import { nativeInfo } from '../native/index.js';

/** A usage error: exit code 2. */
class UsageError extends Error {}

const EXIT = { ok: 0, internal: 1, usage: 2, input: 3 } as const;

const HELP: Record<string, string> = {
  main: `pinrec — recommendation and visual search for Node

Usage: pinrec <command> [options]

Commands:
  fit        fit a CF model on an interactions file
  recommend  top-n pins for users of a fitted model
  demo       fit, evaluate and recommend on a seeded synthetic catalogue (no arguments)

pinrec <command> --help shows a command's options. Exit codes: 0 done, 2 bad usage, 3 bad input, 1 internal.`,
  fit: `Usage: pinrec fit <interactions> --out <model.pinrec> [options]

  <interactions>         a sequence file (user then pins, one user per line), a ratings CSV or an Arrow IPC file
  --format <f>           seq | ratings-csv | arrow (default: from the extension: .csv, .arrow, else seq)
  --factors <k>          latent factors (default 64)
  --scoring <s>          ease | puresvd (default ease)
  --out <file>           where the model goes (written atomically)
  --json                 print one JSON object (the fit's summary) on stdout`,
  recommend: `Usage: pinrec recommend <model.pinrec> (--user <id> … | --users <file>) [options]

  --user <id>            a user id (repeatable)
  --users <file>         a file of user ids, one per line
  --n <n>                pins per user (default 20)
  --out <file>           write JSON lines ({user, rank, pin, score}) to this file (atomically) instead of stdout
  --json                 print one JSON object ({results: [...]}) on stdout`,
  demo: `Usage: pinrec demo [--json]

  Fits the recommender on a seeded synthetic catalogue (5,000 users, 2,000 pins), evaluates it leave-last-out,
  and recommends for one user — in a few seconds, with nothing to download.`,
};

/** A progress bar on stderr when it is a terminal; otherwise nothing. */
function progress(enabled: boolean): { onProgress: ProgressCallback | undefined; stop(): void } {
  if (!enabled || !process.stderr.isTTY) return { onProgress: undefined, stop() {} };
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format: ' {stage} [{bar}] {value}/{total} | ETA {eta}s', hideCursor: true }, cliProgress.Presets.shades_classic);
  let started = false;
  let stage = '';
  return {
    onProgress: (p) => {
      if (!started) { bar.start(p.total, p.done, { stage: p.stage }); started = true; stage = p.stage; }
      else if (p.stage !== stage) { bar.setTotal(p.total); stage = p.stage; }
      bar.update(p.done, { stage: p.stage });
    },
    stop: () => { if (started) bar.stop(); },
  };
}

async function loadInteractions(file: string, format: string | undefined): Promise<InteractionLog> {
  const f = format ?? (file.endsWith('.csv') ? 'ratings-csv' : file.endsWith('.arrow') ? 'arrow' : 'seq');
  if (f === 'seq') return readSequenceFile(file) as Promise<InteractionLog>;
  if (f === 'ratings-csv') return readRatingsCsv(file) as Promise<InteractionLog>;
  if (f === 'arrow') return readArrowFile(file);
  throw new UsageError(`--format must be seq, ratings-csv or arrow (got ${JSON.stringify(f)})`);
}

function intOption(name: string, value: string | undefined, dflt: number, lo: number, hi: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < lo || n > hi) throw new UsageError(`--${name} must be an integer in [${lo}, ${hi}] (got ${JSON.stringify(value)})`);
  return n;
}

async function fit(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: {
    format: { type: 'string' }, factors: { type: 'string' }, scoring: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' },
  } });
  if (values.help) { process.stdout.write(HELP.fit + '\n'); return EXIT.ok; }
  if (positionals.length !== 1) throw new UsageError('fit takes one interactions file (see pinrec fit --help)');
  if (!values.out) throw new UsageError('fit needs --out <model file>');
  const scoring = values.scoring ?? 'ease';
  if (scoring !== 'ease' && scoring !== 'puresvd') throw new UsageError(`--scoring must be ease or puresvd (got ${JSON.stringify(scoring)})`);
  const factors = intOption('factors', values.factors, 64, 1, 4096);
  const t0 = performance.now();
  const log = await loadInteractions(positionals[0], values.format);
  const matrix = log.toMatrix();
  const bar = progress(!values.json);
  let model: SvdRecommender;
  try {
    model = new SvdRecommender({ factors, scoring }).fit(matrix, { onProgress: bar.onProgress });
  } finally {
    bar.stop();
  }
  await model.save(values.out);
  const summary = { out: values.out, users: matrix.nUsers, pins: matrix.nItems, interactions: matrix.nnz, factors, scoring, kernels: model.kernels, seconds: +((performance.now() - t0) / 1000).toFixed(3) };
  if (values.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else process.stdout.write(`fitted ${summary.users} users × ${summary.pins} pins (${summary.interactions} interactions, ${factors} factors, ${scoring}, kernels ${model.kernels.scoring}) in ${summary.seconds} s → ${values.out}\n`);
  return EXIT.ok;
}

async function recommend(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: {
    user: { type: 'string', multiple: true }, users: { type: 'string' }, n: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' },
  } });
  if (values.help) { process.stdout.write(HELP.recommend + '\n'); return EXIT.ok; }
  if (positionals.length !== 1) throw new UsageError('recommend takes one model file (see pinrec recommend --help)');
  const n = intOption('n', values.n, 20, 1, 100_000);
  let users: string[] = values.user ?? [];
  if (values.users) {
    let text: string;
    try { text = readFileSync(values.users, 'utf8'); } catch (e) { throw new FileFormatError(values.users, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
    users = users.concat(text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0));
  }
  if (users.length === 0) throw new UsageError('recommend needs --user <id> or --users <file>');
  const model = await SvdRecommender.load(positionals[0]);
  // ids in the file are strings; a model fitted on numeric ids is asked with numbers
  const known = new Set(model.userIds().map(String));
  const numeric = model.userIds().length > 0 && typeof model.userIds()[0] === 'number';
  for (const u of users) if (!known.has(u)) throw new UnknownIdError('user', u);
  const rows: { user: string; rank: number; pin: string | number; score: number }[] = [];
  const lists = model.recommendBatch(users.map((u) => (numeric ? Number(u) : u)), { n });
  for (let i = 0; i < users.length; i++) {
    const r = lists[i];
    for (let j = 0; j < r.ids.length; j++) rows.push({ user: users[i], rank: j + 1, pin: r.ids[j] as string | number, score: r.scores[j] });
  }
  if (values.out) {
    const tmp = `${values.out}.${process.pid}.tmp`;
    try {
      await new Promise<void>((resolve, reject) => {
        const s = createWriteStream(tmp);
        s.on('error', reject);
        for (const row of rows) s.write(JSON.stringify(row) + '\n');
        s.end(resolve);
      });
      await rename(tmp, values.out);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new FileFormatError(values.out, `cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (values.json) process.stdout.write(JSON.stringify({ out: values.out, users: users.length, rows: rows.length }) + '\n');
  } else if (values.json) process.stdout.write(JSON.stringify({ results: rows }) + '\n');
  else for (const row of rows) process.stdout.write(`${row.user}\t${row.rank}\t${row.pin}\t${row.score.toPrecision(6)}\n`);
  return EXIT.ok;
}

async function demo(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, allowPositionals: false, strict: true, options: { json: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help) { process.stdout.write(HELP.demo + '\n'); return EXIT.ok; }
  const t0 = performance.now();
  const log = syntheticInteractions({ users: 5000, items: 2000, events: 100_000, seed: 1 });
  const split = leaveLastOut(log);
  const bar = progress(!values.json);
  let model: SvdRecommender<number, number>;
  try {
    model = new SvdRecommender<number, number>({ factors: 32 }).fit(split.train, { onProgress: bar.onProgress });
  } finally {
    bar.stop();
  }
  const m = evaluate(model, split, { k: 10 });
  const recs = model.recommend(0, { n: 5 });
  const out = { users: 5000, pins: 2000, events: 100_000, factors: 32, hr10: +m.hr.toFixed(4), ndcg10: +m.ndcg.toFixed(4), user0: Array.from(recs.ids), kernels: model.kernels, native: nativeInfo(), seconds: +((performance.now() - t0) / 1000).toFixed(2) };
  if (values.json) process.stdout.write(JSON.stringify(out) + '\n');
  else {
    process.stdout.write(`synthetic catalogue: ${out.users} users, ${out.pins} pins, ${out.events} events (seed 1)\n`);
    process.stdout.write(`SVD-EASE, ${out.factors} factors, kernels ${model.kernels.scoring}: leave-last-out HR@10 ${out.hr10}, NDCG@10 ${out.ndcg10}\n`);
    process.stdout.write(`top 5 pins for user 0: ${out.user0.join(', ')}\n`);
    process.stdout.write(`(${out.seconds} s; feeds, caps and visual search come with the next commands — see the README)\n`);
  }
  return EXIT.ok;
}

/** Run the command line `argv` (without node and the script); resolves with the exit code. */
export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(HELP.main + '\n');
      return cmd === undefined ? EXIT.usage : EXIT.ok;
    }
    if (cmd === 'fit') return await fit(rest);
    if (cmd === 'recommend') return await recommend(rest);
    if (cmd === 'demo') return await demo(rest);
    throw new UsageError(`unknown command ${JSON.stringify(cmd)} (commands: fit, recommend, demo)`);
  } catch (e) {
    const err = e as Error & { code?: string };
    const where = cmd ?? 'pinrec';
    if (e instanceof UsageError || err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      process.stderr.write(`pinrec ${where}: ${err.message}\n`);
      return EXIT.usage;
    }
    if (e instanceof FileFormatError || e instanceof InvalidParameterError || e instanceof UnknownIdError) {
      process.stderr.write(`pinrec ${where}: ${err.message.split('\n')[0]}\n`);
      return EXIT.input;
    }
    process.stderr.write(`pinrec ${where}: internal error: ${err?.stack ?? String(e)}\n`);
    return EXIT.internal;
  }
}

// Run when executed (the package bin, a symlink to this file, or `node dist/cli/main.js`), not when imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.on('SIGINT', () => process.exit(130)); // files are written atomically: nothing half-written stays
  run(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
