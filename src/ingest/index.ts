/**
 * pinrec/ingest: one call from an upload to a searchable pin — validate, store the original, hash and check
 * for near-duplicates, renditions, analysis, embedding, index — with a bounded queue and retries.
 *
 * @example
 * import { Ingestor, InMemoryPinRecords } from 'pinrec/ingest';
 * import { FileSystemStore } from 'pinrec/images';
 * const ingestor = new Ingestor({ store: new FileSystemStore('./media'), records: new InMemoryPinRecords() });
 * const { id, record } = await ingestor.ingest('photo.jpg', { category: 'decor' });
 */
export { Ingestor } from './ingest.js';
export type { IngestorOptions, IngestRequest, IngestResult, IngestProgress, DuplicateMode, ObjectDetector, ObjectOptions } from './ingest.js';
export { InMemoryPinRecords, INGEST_STEPS, objectId, parentPin } from './records.js';
export { FilePinRecords } from './file-records.js';
export type { PinRecord, PinRecordStore, PinObject, StepOutcome, StoredBlob, IngestStep } from './records.js';
export { BoundedQueue } from './queue.js';
export type { WhenFull, QueueOptions } from './queue.js';
export { BusyError } from '../core/errors.js';
