/**
 * Pin records that survive a restart: the in-memory store plus an append-only JSON Lines log, one record per
 * line (the last line of an id wins). A crash can only cut the last line short, and that line is dropped on
 * open; any other unreadable line is a typed error naming the file and the line. `compact()` rewrites the log
 * atomically with one line per pin.
 */
import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from '../core/container.js';
import { FileFormatError, InvalidParameterError } from '../core/errors.js';
import { InMemoryPinRecords, type PinRecord } from './records.js';

const VERSION = 1;

function isRecord(x: unknown): x is PinRecord {
  const r = x as PinRecord;
  return typeof r === 'object' && r !== null && typeof r.id === 'string' && typeof r.contentHash === 'string'
    && /^[0-9a-f]{64}$/.test(r.contentHash) && ['complete', 'partial', 'duplicate'].includes(r.status)
    && typeof r.original === 'object' && r.original !== null && typeof r.original.key === 'string'
    && Array.isArray(r.renditions) && typeof r.steps === 'object' && r.steps !== null && typeof r.indexed === 'boolean';
}

/**
 * @example
 * const records = await FilePinRecords.open('media/pins.jsonl');
 * const ingestor = new Ingestor({ store: new FileSystemStore('media'), records, embedder, index });
 * // after a restart: the same file, and ingestor.retry(id) finishes what failed
 */
export class FilePinRecords extends InMemoryPinRecords {
  /** The log file. */
  readonly file: string;
  private tail: Promise<void> = Promise.resolve();
  private lines = 0;

  private constructor(file: string) {
    super();
    this.file = file;
  }

  /**
   * Open (or create) a log and load its records.
   *
   * @throws {FileFormatError} for a line other than a cut-short last one that is not a version-1 pin record
   */
  static async open(file: string): Promise<FilePinRecords> {
    if (typeof file !== 'string' || file === '') throw new InvalidParameterError('file', 'a file path', file);
    const store = new FilePinRecords(file);
    let text = '';
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const lines = text.split('\n');
    const complete = text.endsWith('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line === '') continue;
      const last = i === lines.length - 1;
      let parsed: { v?: number; record?: unknown };
      try {
        parsed = JSON.parse(line);
      } catch {
        if (last && !complete) break; // a write cut short by a crash: the step it recorded runs again
        throw new FileFormatError(file, `line ${i + 1} is not JSON`);
      }
      if (parsed?.v !== VERSION || !isRecord(parsed.record)) {
        if (last && !complete) break;
        throw new FileFormatError(file, `line ${i + 1} is not a version-${VERSION} pin record`);
      }
      InMemoryPinRecords.prototype.put.call(store, parsed.record);
      store.lines++;
    }
    if (text !== '' && !complete) {
      // drop the cut-short tail so the next append starts on a fresh line
      await store.compact();
    }
    return store;
  }

  /** Lines in the log (one per `put` since the last compaction). */
  get logLines(): number {
    return this.lines;
  }

  override put(record: PinRecord, embedding?: Float32Array): Promise<void> {
    super.put(record, embedding);
    const line = `${JSON.stringify({ v: VERSION, record })}\n`;
    const next = this.tail.then(() => fsp.appendFile(this.file, line));
    this.tail = next.catch(() => undefined);
    this.lines++;
    return next;
  }

  /** Resolve when every `put` so far is written. */
  flush(): Promise<void> {
    return this.tail;
  }

  /** Rewrite the log with one line per pin, atomically. */
  async compact(): Promise<void> {
    await this.flush();
    const body = [...this.all()].map((record) => JSON.stringify({ v: VERSION, record })).join('\n');
    const run = this.tail.then(() => writeFileAtomic(this.file, Buffer.from(body === '' ? '' : `${body}\n`)));
    this.tail = run.catch(() => undefined);
    await run;
    this.lines = this.size;
  }
}
