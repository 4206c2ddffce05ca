/**
 * Pin records: what ingest knows about each pin (its content hash, where its original and renditions are,
 * the analysis, the perceptual hash, which steps failed and why), behind a small store interface with an
 * in-memory default. The in-memory store is also a {@link PinMetadataSource}, so `VisualSearch` and the feed
 * read a just-ingested pin's quality, category and embedding from it at once.
 */
import type { GroupKey, PinMetadata, PinMetadataSource } from '../core/interfaces.js';
import { InvalidParameterError } from '../core/errors.js';
import type { Box } from '../images/crop.js';

/** The steps of ingest, in order. */
export const INGEST_STEPS = ['original', 'hash', 'renditions', 'analysis', 'embedding', 'index', 'objects'] as const;
/** One step of ingest. */
export type IngestStep = (typeof INGEST_STEPS)[number];

/** How one step went. */
export interface StepOutcome {
  ok: boolean;
  /** Milliseconds it took (the last attempt). */
  ms: number;
  /** Attempts so far. */
  attempts: number;
  /** Why it failed: the error's `code` (e.g. `'IMAGE_DECODE'`) and message. */
  error?: { code: string; message: string };
  /** Set when the step was not run because it does not apply (no embedder, no index). */
  skipped?: true;
}

/** One object detected in a pin's image (ingest with a `detector`). */
export interface PinObject {
  /** Its id in the index: `objectId(pin, k)` = `'<pin>#<k>'`, k = 0, 1, ... by detection score. */
  id: string;
  /** In pixels of the image as displayed. */
  box: Box;
  /** Detector score, 0–1. */
  score: number;
  /** The detector's class (e.g. a COCO name such as `'chair'`) and its index. */
  className: string;
  classId: number;
  /** Whether its own embedding is in the index (as a child of the pin). */
  indexed: boolean;
}

/**
 * The index id of object `k` of pin `pin`: `'<pin>#<k>'` (a pin id never contains `#`, so the two never clash).
 *
 * @example
 * objectId('pin_ab12', 0); // 'pin_ab12#0'
 */
export function objectId(pin: string, k: number): string {
  if (typeof pin !== 'string' || pin.length === 0 || pin.includes('#')) throw new InvalidParameterError('pin', 'a pin id without "#"', pin);
  if (!Number.isInteger(k) || k < 0) throw new InvalidParameterError('k', 'an integer >= 0', k);
  return `${pin}#${k}`;
}

/**
 * The pin an index id belongs to: `'pin_ab12'` for the object id `'pin_ab12#3'`, `undefined` for a pin id (or any
 * id that is not an object's). What `VisualSearch`'s `parentOf` option takes to group hits by pin.
 *
 * @example
 * parentPin('pin_ab12#3'); // 'pin_ab12'
 * parentPin('pin_ab12');   // undefined
 */
export function parentPin(id: unknown): string | undefined {
  if (typeof id !== 'string') return undefined;
  const at = id.lastIndexOf('#');
  if (at <= 0 || at === id.length - 1) return undefined;
  for (let i = at + 1; i < id.length; i++) { const c = id.charCodeAt(i); if (c < 48 || c > 57) return undefined; }
  return id.slice(0, at);
}

/** A stored blob as the record keeps it. */
export interface StoredBlob {
  key: string;
  width: number;
  height: number;
  format: string;
  contentType: string;
  byteSize: number;
}

/** Everything ingest records about a pin. */
export interface PinRecord {
  id: string;
  /** SHA-256 of the original bytes (hex): the idempotency key. */
  contentHash: string;
  /** `complete`: every step ok; `partial`: some failed (see `steps`, and retry); `duplicate`: a near-duplicate skipped. */
  status: 'complete' | 'partial' | 'duplicate';
  createdAt: number;
  updatedAt: number;
  original: StoredBlob;
  renditions: (StoredBlob & { name: string })[];
  steps: Partial<Record<IngestStep, StepOutcome>>;
  /** Quality score in [0, 1] (the blend's `quality` signal), once analysed. */
  quality?: number;
  /** Dominant colour and palette, once analysed. */
  dominant?: string;
  palette?: { hex: string; share: number }[];
  /** The perceptual hash (hex) and its kind. */
  hash?: { kind: 'phash' | 'dhash'; hex: string };
  /** The pin this one nearly duplicates, with the Hamming distance. */
  duplicateOf?: { id: string; distance: number };
  category?: GroupKey | null;
  creator?: GroupKey | null;
  /** Whether the pin's embedding is in the index. */
  indexed: boolean;
  /** The objects detected in its image (with a `detector`), by score; each can have its own index entry. */
  objects?: PinObject[];
  /** How the detector ran: its mode (`'light'` when over budget) and time. */
  detection?: { mode: string; ms: number };
  /** Milliseconds of the validating decode (the pixels every derived step reuses). */
  decodeMs?: number;
}

/**
 * Where pin records live. The in-memory {@link InMemoryPinRecords} is the default; a database-backed one
 * implements the same four methods.
 */
export interface PinRecordStore {
  get(id: string): PinRecord | undefined | Promise<PinRecord | undefined>;
  /** The id of the pin with these exact bytes. */
  idByContentHash(hash: string): string | undefined | Promise<string | undefined>;
  put(record: PinRecord, embedding?: Float32Array): void | Promise<void>;
  /** Every record's id and perceptual hash (to rebuild the near-duplicate index at start). */
  hashes(): Iterable<{ id: string; hash: { kind: 'phash' | 'dhash'; hex: string } }> | Promise<Iterable<{ id: string; hash: { kind: 'phash' | 'dhash'; hex: string } }>>;
}

/**
 * Pin records in memory; also a {@link PinMetadataSource} (category, creator, quality, embedding).
 *
 * @example
 * const records = new InMemoryPinRecords();
 * const ingestor = new Ingestor({ store, records, embedder, index });
 * const vs = new VisualSearch({ embedder, index, metadata: records });
 */
export class InMemoryPinRecords implements PinRecordStore, PinMetadataSource<string> {
  private readonly records = new Map<string, PinRecord>();
  private readonly byHash = new Map<string, string>();
  private readonly vectors = new Map<string, Float32Array>();

  /** Number of records. */
  get size(): number {
    return this.records.size;
  }

  get(id: string): PinRecord | undefined;
  get(ids: readonly string[]): (PinMetadata<string> | undefined)[];
  get(idOrIds: string | readonly string[]): PinRecord | undefined | (PinMetadata<string> | undefined)[] {
    if (typeof idOrIds === 'string') {
      const r = this.records.get(idOrIds);
      return r ? structuredClone(r) : undefined;
    }
    if (!Array.isArray(idOrIds)) throw new InvalidParameterError('ids', 'a pin id or an array of them', idOrIds);
    return idOrIds.map((id) => {
      const r = this.records.get(id) ?? this.records.get(parentPin(id) ?? '');
      if (!r || r.status === 'duplicate') return undefined;
      const m: PinMetadata<string> = { id };
      if (r.category !== undefined) m.category = r.category;
      if (r.creator !== undefined) m.creator = r.creator;
      if (r.quality !== undefined) m.quality = r.quality;
      return m;
    });
  }

  idByContentHash(hash: string): string | undefined {
    return this.byHash.get(hash);
  }

  put(record: PinRecord, embedding?: Float32Array): void {
    const prev = this.byHash.get(record.contentHash);
    if (prev !== undefined && prev !== record.id) {
      throw new InvalidParameterError('record.contentHash', `a hash not already recorded for pin ${prev}`, record.contentHash);
    }
    this.records.set(record.id, structuredClone(record));
    this.byHash.set(record.contentHash, record.id);
    if (embedding) this.vectors.set(record.id, Float32Array.from(embedding));
  }

  embedding(id: string): Float32Array | undefined {
    return this.vectors.get(id);
  }

  *hashes(): Iterable<{ id: string; hash: { kind: 'phash' | 'dhash'; hex: string } }> {
    for (const r of this.records.values()) if (r.hash && r.status !== 'duplicate') yield { id: r.id, hash: r.hash };
  }

  /** Every record (copies). */
  *all(): Iterable<PinRecord> {
    for (const r of this.records.values()) yield structuredClone(r);
  }
}
