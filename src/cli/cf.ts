/**
 * The CF commands: `fit`, `recommend`, `similar`, `factors`, `evaluate`.
 */
import * as path from 'node:path';
import { UnknownIdError } from '../core/errors.js';
import type { Id } from '../core/types.js';
import {
  SvdRecommender, evaluate, exportInteractions, leaveLastOut, readArrowFile, readParquetFile, readRatingsCsv, readSequenceFile, writeFactorsArrow,
} from '../cf/index.js';
import type { InteractionLog } from '../cf/index.js';
import { choiceOption, emitResults, intOption, parse, progress, readIdList, seconds, trackOutput, typedIds, UsageError, EXIT, type Command, type ResultRow } from './common.js';

const FORMATS = ['seq', 'ratings-csv', 'arrow', 'parquet'] as const;

/** Read an interactions file in the format given or named by its extension (.csv, .arrow/.ipc, .parquet, else seq). */
export async function loadInteractions(file: string, format: string | undefined): Promise<InteractionLog> {
  const ext = path.extname(file).toLowerCase();
  const f = choiceOption('format', format, ext === '.csv' ? 'ratings-csv' : ext === '.arrow' || ext === '.ipc' ? 'arrow' : ext === '.parquet' ? 'parquet' : 'seq', FORMATS);
  if (f === 'seq') return readSequenceFile(file) as Promise<InteractionLog>;
  if (f === 'ratings-csv') return readRatingsCsv(file) as Promise<InteractionLog>;
  if (f === 'arrow') return readArrowFile(file);
  return readParquetFile(file);
}

const INTERACTIONS_HELP = `  <interactions>         a sequence file (a user then their pins, one user per line), a ratings CSV
                         (userId,movieId,rating,timestamp), an Arrow IPC file or a Parquet file (user, item columns)
  --format <f>           seq | ratings-csv | arrow | parquet (default: from the extension)`;

export const fit: Command = {
  name: 'fit',
  summary: 'fit a CF model on an interactions file',
  help: `Usage: pinrec fit <interactions> --out <model.pinrec> [options]

${INTERACTIONS_HELP}
  --factors <k>          latent factors (default 64)
  --scoring <s>          ease | puresvd (default ease)
  --out <file>           where the model goes (written atomically)
  --json                 print one JSON object (the fit's summary) on stdout

Example: pinrec fit interactions.txt --format seq --factors 64 --out model.pinrec`,
  async run(argv) {
    const a = parse(this, argv, { format: { type: 'string' }, factors: { type: 'string' }, scoring: { type: 'string' }, out: { type: 'string' } });
    if (!a) return EXIT.ok;
    const { values, positionals } = a;
    if (positionals.length !== 1) throw new UsageError('fit takes one interactions file (see pinrec fit --help)');
    if (!values.out) throw new UsageError('fit needs --out <model file>');
    const scoring = choiceOption('scoring', values.scoring, 'ease', ['ease', 'puresvd'] as const);
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
    const untrack = trackOutput(values.out);
    try { await model.save(values.out); } finally { untrack(); }
    const summary = { out: values.out, users: matrix.nUsers, pins: matrix.nItems, interactions: matrix.nnz, factors: model.factors, scoring, kernels: model.kernels, seconds: seconds(t0) };
    if (values.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else process.stdout.write(`fitted ${summary.users} users × ${summary.pins} pins (${summary.interactions} interactions, ${summary.factors} factors, ${scoring}, kernels ${model.kernels.scoring}) in ${summary.seconds} s → ${values.out}\n`);
    return EXIT.ok;
  },
};

/** Ids from repeated `--<one>` options and a `--<many>` file. */
function idsFrom(one: string[] | undefined, many: string | undefined): string[] {
  let ids = one ?? [];
  if (many) ids = ids.concat(readIdList(many));
  return ids;
}

export const recommend: Command = {
  name: 'recommend',
  summary: 'top-n pins for users of a fitted model',
  help: `Usage: pinrec recommend <model.pinrec> (--user <id> … | --users <file>) [options]

  --user <id>            a user id (repeatable)
  --users <file>         a file of user ids, one per line
  --n <n>                pins per user (default 20)
  --out <file>           write the results (user, rank, pin, score) to this file, atomically, in the format of its
                         extension: .arrow (Arrow IPC, streamed in record batches), .jsonl, .json, else TSV
  --json                 print one JSON object on stdout ({results} without --out, else a summary)

Example: pinrec recommend model.pinrec --users users.txt --n 20 --out recs.arrow`,
  async run(argv) {
    const a = parse(this, argv, { user: { type: 'string', multiple: true }, users: { type: 'string' }, n: { type: 'string' }, out: { type: 'string' } });
    if (!a) return EXIT.ok;
    const { values, positionals } = a;
    if (positionals.length !== 1) throw new UsageError('recommend takes one model file (see pinrec recommend --help)');
    const n = intOption('n', values.n, 20, 1, 100_000);
    const users = idsFrom(values.user, values.users);
    if (users.length === 0) throw new UsageError('recommend needs --user <id> or --users <file>');
    const model = await SvdRecommender.load<Id, Id>(positionals[0]);
    const asked = typedIds(users, model.userIds());
    for (let i = 0; i < asked.length; i++) if (!model.hasUser(asked[i])) throw new UnknownIdError('user', users[i]);
    const bar = progress(!values.json && values.out !== undefined);
    // users in blocks of 1,024: the rows are written as they are made
    function* rows(): Generator<ResultRow> {
      for (let s = 0; s < asked.length; s += 1024) {
        const lists = model.recommendBatch(asked.slice(s, s + 1024), { n });
        for (let i = 0; i < lists.length; i++) {
          const r = lists[i];
          for (let j = 0; j < r.ids.length; j++) yield { user: asked[s + i], rank: j + 1, pin: r.ids[j], score: r.scores[j], reason: 'cf' };
        }
        bar.onProgress?.({ stage: 'recommend', done: Math.min(asked.length, s + 1024), total: asked.length });
      }
    }
    try { await emitResults(rows(), values.out, !!values.json, { users: users.length }); } finally { bar.stop(); }
    return EXIT.ok;
  },
};

export const similar: Command = {
  name: 'similar',
  summary: 'pins similar to given pins (item-item CF)',
  help: `Usage: pinrec similar <model.pinrec> (--pin <id> … | --pins <file>) [options]

  --pin <id>             a pin id (repeatable)
  --pins <file>          a file of pin ids, one per line
  --n <n>                similar pins per query pin (default 20)
  --out <file>           results (user = the query pin, rank, pin, score, reason 'similar') as .arrow, .jsonl,
                         .json or TSV, written atomically
  --json                 print one JSON object on stdout`,
  async run(argv) {
    const a = parse(this, argv, { pin: { type: 'string', multiple: true }, pins: { type: 'string' }, n: { type: 'string' }, out: { type: 'string' } });
    if (!a) return EXIT.ok;
    const { values, positionals } = a;
    if (positionals.length !== 1) throw new UsageError('similar takes one model file (see pinrec similar --help)');
    const n = intOption('n', values.n, 20, 1, 100_000);
    const pins = idsFrom(values.pin, values.pins);
    if (pins.length === 0) throw new UsageError('similar needs --pin <id> or --pins <file>');
    const model = await SvdRecommender.load<Id, Id>(positionals[0]);
    const asked = typedIds(pins, model.itemIds());
    for (let i = 0; i < asked.length; i++) if (!model.hasItem(asked[i])) throw new UnknownIdError('pin', pins[i]);
    function* rows(): Generator<ResultRow> {
      for (let s = 0; s < asked.length; s += 1024) {
        const lists = model.similarItemsBatch(asked.slice(s, s + 1024), { n });
        for (let i = 0; i < lists.length; i++) {
          const r = lists[i];
          for (let j = 0; j < r.ids.length; j++) yield { user: asked[s + i], rank: j + 1, pin: r.ids[j], score: r.scores[j], reason: 'similar' };
        }
      }
    }
    await emitResults(rows(), values.out, !!values.json, { pins: pins.length });
    return EXIT.ok;
  },
};

export const factors: Command = {
  name: 'factors',
  summary: "write a model's item or user factors as an Arrow file",
  help: `Usage: pinrec factors <model.pinrec> --out <factors.arrow> [--which items|users]

  --which <w>            items (default) or users
  --out <file>           Arrow IPC file: id, factors (FixedSizeList<Float32>), streamed in record batches
  --json                 print one JSON object (a summary) on stdout`,
  async run(argv) {
    const a = parse(this, argv, { which: { type: 'string' }, out: { type: 'string' } });
    if (!a) return EXIT.ok;
    const { values, positionals } = a;
    if (positionals.length !== 1) throw new UsageError('factors takes one model file (see pinrec factors --help)');
    if (!values.out) throw new UsageError('factors needs --out <file.arrow>');
    const which = choiceOption('which', values.which, 'items', ['items', 'users'] as const);
    const model = await SvdRecommender.load<Id, Id>(positionals[0]);
    const untrack = trackOutput(values.out);
    try { await writeFactorsArrow(model, values.out, { which }); } finally { untrack(); }
    const summary = { out: values.out, which, rows: which === 'items' ? model.itemIds().length : model.userIds().length, dim: model.factors };
    if (values.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else process.stdout.write(`wrote ${summary.rows} ${which} × ${summary.dim} factors → ${values.out}\n`);
    return EXIT.ok;
  },
};

export const evaluateCmd: Command = {
  name: 'evaluate',
  summary: 'leave-last-out HR@k and NDCG@k of a CF fit on an interactions file',
  help: `Usage: pinrec evaluate <interactions> [options]

  Holds out each user's last interaction, fits on the rest, and ranks every pin for every user (full ranking).
${INTERACTIONS_HELP}
  --factors <k>          latent factors (default 64)
  --scoring <s>          ease | puresvd (default ease)
  --k <k>                cut-off of HR@k and NDCG@k (default 10)
  --json                 print one JSON object on stdout`,
  async run(argv) {
    const a = parse(this, argv, { format: { type: 'string' }, factors: { type: 'string' }, scoring: { type: 'string' }, k: { type: 'string' } });
    if (!a) return EXIT.ok;
    const { values, positionals } = a;
    if (positionals.length !== 1) throw new UsageError('evaluate takes one interactions file (see pinrec evaluate --help)');
    const scoring = choiceOption('scoring', values.scoring, 'ease', ['ease', 'puresvd'] as const);
    const factorsK = intOption('factors', values.factors, 64, 1, 4096);
    const k = intOption('k', values.k, 10, 1, 1000);
    const t0 = performance.now();
    const log = await loadInteractions(positionals[0], values.format);
    const split = leaveLastOut(log);
    const bar = progress(!values.json);
    let m: ReturnType<typeof evaluate>;
    let model: SvdRecommender;
    try {
      model = new SvdRecommender({ factors: factorsK, scoring }).fit(split.train, { onProgress: bar.onProgress });
      m = evaluate(model, split, { k, onProgress: bar.onProgress });
    } finally {
      bar.stop();
    }
    const out = { users: split.train.nUsers, pins: split.train.nItems, factors: model.factors, scoring, k, hr: +m.hr.toFixed(5), ndcg: +m.ndcg.toFixed(5), evaluated: m.users, kernels: model.kernels, seconds: seconds(t0) };
    if (values.json) process.stdout.write(JSON.stringify(out) + '\n');
    else process.stdout.write(`leave-last-out on ${out.evaluated} users, ${out.pins} pins (${scoring}, ${out.factors} factors): HR@${k} ${out.hr}, NDCG@${k} ${out.ndcg} (${out.seconds} s)\n`);
    return EXIT.ok;
  },
};

export const exportCmd: Command = {
  name: 'export',
  summary: 'interactions → partitioned Arrow or Parquet files for Spark, Dask, Ray or DuckDB',
  help: `Usage: pinrec export <interactions> --out <folder> [options]

  Writes part-00000.<ext> … and _manifest.json: columns user, item, weight (and time when the input has one),
  each user's rows in one partition (fnv1a32(String(user)) mod partitions), every file written atomically.
${INTERACTIONS_HELP}
  --partitions <n>       number of files (default 8)
  --to <f>               arrow (default) | parquet (needs the optional parquet-wasm)
  --out <folder>         created when missing
  --json                 print one JSON object (the manifest) on stdout`,
  async run(argv) {
    const a = parse(this, argv, { format: { type: 'string' }, partitions: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' } });
    if (!a) return EXIT.ok;
    const { values, positionals } = a;
    if (positionals.length !== 1) throw new UsageError('export takes one interactions file (see pinrec export --help)');
    if (!values.out) throw new UsageError('export needs --out <folder>');
    const partitions = intOption('partitions', values.partitions, 8, 1, 65_536);
    const to = choiceOption('to', values.to, 'arrow', ['arrow', 'parquet'] as const);
    const t0 = performance.now();
    const log = await loadInteractions(positionals[0], values.format);
    const bar = progress(!values.json);
    let m;
    try { m = await exportInteractions(log, values.out, { partitions, format: to, onProgress: bar.onProgress }); } finally { bar.stop(); }
    if (values.json) process.stdout.write(JSON.stringify(m) + '\n');
    else process.stdout.write(`exported ${m.rows} interactions in ${m.partitions.length} ${to} partitions (${seconds(t0)} s) → ${values.out}\n`);
    return EXIT.ok;
  },
};
