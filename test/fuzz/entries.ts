/** Every fuzzed entry point, by name. */
import type { EntryPoint } from './harness.js';
import { arrowEntry, containerEntry, idMapEntry, interactionsEntry } from './entries-data.js';
import { annEntry, svdEntry } from './entries-models.js';
import { capsEntry, feedEntry, rankingEntry } from './entries-ranking.js';
import { imagesEntry } from './entries-images.js';

export const ENTRY_POINTS: EntryPoint<any>[] = [interactionsEntry, arrowEntry, idMapEntry, containerEntry, svdEntry, annEntry, rankingEntry, capsEntry, feedEntry, imagesEntry];
