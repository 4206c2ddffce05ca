/**
 * `pinrec feed`: home feeds from a fitted model (CF candidates, trending pins, and visual neighbours of the
 * user's pins when an embeddings index is given), merged, blended and capped by the `FeedGenerator`.
 */
import { UnknownIdError } from '../core/errors.js';
import type { Id } from '../core/types.js';
import type { GroupKey } from '../core/interfaces.js';
import { ExactIndex, HnswIndex } from '../ann/index.js';
import type { VectorIndex } from '../ann/index.js';
import { SvdRecommender } from '../cf/index.js';
import { FilePinRecords } from '../ingest/index.js';
import { CfCandidateSource, FeedGenerator, InMemoryPinMetadata, PopularSource, VisualNeighborsSource } from '../ranking/index.js';
import type { CandidateSource, FeedResult, PinMetadataSource, PopularPin } from '../ranking/index.js';
import { emitResults, intOption, parse, readIdList, typedIds, UsageError, EXIT, type Command, type ResultRow } from './common.js';
import { loadAnyIndex } from './images.js';

/** What a feed is built from: a model, optional pin records (category, creator, quality) and an embeddings index. */
export interface FeedParts {
  model: SvdRecommender<Id, Id>;
  metadata?: PinMetadataSource<Id>;
  /** Category of a pin for the trending source (from the records); `'all'` without them. */
  categoryOf?: (pin: Id) => GroupKey | null | undefined;
  visualIndex?: VectorIndex<Id>;
  /** Per-source time budget, ms. @default 200 */
  timeoutMs?: number;
}

/**
 * Build the feed generator the command uses: `cf` (the model scoring the top 500 of an inner-product index over
 * its scoring factors: HNSW from 20,000 pins, exact below), `trending` (pins by how many users engaged, per
 * category), and `visual` (neighbours of the user's pins) when an embeddings index is given. The user's own
 * pins are excluded by the caller.
 */
export function buildFeed(parts: FeedParts): { feed: FeedGenerator<Id, Id>; historyOf: (user: Id) => Id[] } {
  const { model } = parts;
  const snap = model.snapshot();
  const csr = snap.csr;
  const historyOf = (user: Id): Id[] => {
    if (!snap.users.has(user)) return [];
    const r = snap.users.get(user);
    const out: { pin: Id; t: number }[] = [];
    for (let p = csr.indptr[r]; p < csr.indptr[r + 1]; p++) out.push({ pin: snap.items.id(csr.indices[p]), t: snap.lastEvent ? snap.lastEvent[p] : p });
    return out.sort((a, b) => b.t - a.t).map((o) => o.pin); // most recent first
  };
  const sf = model.scoringFactors();
  const ipIndex: VectorIndex<Id> = sf.ids.length >= 20_000 ? new HnswIndex<Id>({ metric: 'ip', dim: sf.dim, capacity: sf.ids.length }) : new ExactIndex<Id>({ metric: 'ip', dim: sf.dim });
  ipIndex.addItems(sf.ids, sf.factors);
  const counts = new Float64Array(csr.cols);
  for (let p = 0; p < csr.nnz; p++) counts[csr.indices[p]]++;
  const popular: PopularPin<Id>[] = [];
  for (let j = 0; j < csr.cols; j++) {
    const id = snap.items.id(j);
    popular.push({ id, category: parts.categoryOf?.(id) ?? 'all', engagements: counts[j], impressions: csr.rows });
  }
  const sources: CandidateSource<Id, Id>[] = [
    new CfCandidateSource<Id, Id>({ model, index: ipIndex, k: 500 }),
    new PopularSource<Id, Id>({ pins: popular, perCategory: 50 }),
  ];
  if (parts.visualIndex) sources.push(new VisualNeighborsSource<Id, Id>({ recent: historyOf, index: parts.visualIndex }));
  const feed = new FeedGenerator<Id, Id>({ sources, metadata: parts.metadata ?? new InMemoryPinMetadata<Id>([]), timeoutMs: parts.timeoutMs ?? 200 });
  return { feed, historyOf };
}

/** Feed items as result rows (`reason`: the sources that proposed the pin, joined by `+`). */
export function feedRows(user: Id, res: FeedResult<Id>): ResultRow[] {
  return res.items.map((it, i) => ({ user, rank: i + 1, pin: it.id, score: it.score, reason: it.sources.join('+') }));
}

export const feedCmd: Command = {
  name: 'feed',
  summary: 'home feeds: CF, trending and visual candidates, blended and capped',
  help: `Usage: pinrec feed <model.pinrec> (--user <id> … | --users <file>) [options]

  Sources: cf (the model over an inner-product index of its factors), trending (pins by engaged users, per
  category) and, with --visual-index, visual (neighbours of the user's pins). Candidates are merged, blended
  (similarity 0.6, engagement 0.2, quality 0.2) and capped (no category over 30%, no creator over 20%).
  The user's own pins are excluded.
  --user <id>            a user id (repeatable)
  --users <file>         a file of user ids, one per line
  --n <n>                feed length (default 25)
  --records <pins.jsonl> pin records (pinrec ingest) for category, creator and quality
  --visual-index <file>  an embeddings index (pinrec index / pinrec ingest) over the same pin ids
  --timeout-ms <ms>      budget per source (default 200)
  --out <file>           results (user, rank, pin, score, reason = sources) as .arrow, .jsonl, .json or TSV
  --json                 print one JSON object on stdout (with each feed's source reports)`,
  async run(argv) {
    const a = parse(this, argv, { user: { type: 'string', multiple: true }, users: { type: 'string' }, n: { type: 'string' }, records: { type: 'string' }, 'visual-index': { type: 'string' }, 'timeout-ms': { type: 'string' }, out: { type: 'string' } });
    if (!a) return EXIT.ok;
    const { values, positionals } = a;
    if (positionals.length !== 1) throw new UsageError('feed takes one model file (see pinrec feed --help)');
    const n = intOption('n', values.n, 25, 1, 10_000);
    const timeoutMs = intOption('timeout-ms', values['timeout-ms'], 200, 1, 600_000);
    let users = values.user ?? [];
    if (values.users) users = users.concat(readIdList(values.users));
    if (users.length === 0) throw new UsageError('feed needs --user <id> or --users <file>');
    const model = await SvdRecommender.load<Id, Id>(positionals[0]);
    const asked = typedIds(users, model.userIds());
    for (let i = 0; i < asked.length; i++) if (!model.hasUser(asked[i])) throw new UnknownIdError('user', users[i]);
    const records = values.records ? await FilePinRecords.open(values.records) : undefined;
    const visualIndex = values['visual-index'] ? await loadAnyIndex(values['visual-index']) : undefined;
    try {
      const { feed, historyOf } = buildFeed({
        model, visualIndex, timeoutMs,
        metadata: records as unknown as PinMetadataSource<Id> | undefined,
        categoryOf: records ? (pin) => records.get(String(pin))?.category : undefined,
      });
      const rows: ResultRow[] = [];
      const reports: { user: Id; sources: { name: string; status: string; candidates: number }[]; contributors: string[] }[] = [];
      for (const u of asked) {
        const res = await feed.generate(u, { limit: n, exclude: historyOf(u) });
        rows.push(...feedRows(u, res));
        reports.push({ user: u, sources: res.sources.map((s) => ({ name: s.name, status: s.status, candidates: s.candidates })), contributors: res.contributors });
      }
      if (!values.json && !values.out) {
        for (const r of reports) process.stderr.write(`feed for ${r.user}: ${r.sources.map((s) => `${s.name} ${s.status} (${s.candidates})`).join(', ')}\n`);
      }
      await emitResults(rows, values.out, !!values.json, { users: users.length, reports });
    } finally {
      await visualIndex?.close();
    }
    return EXIT.ok;
  },
};
