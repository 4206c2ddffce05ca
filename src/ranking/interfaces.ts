/**
 * What the ranking pipelines need from other modules: the core contracts (`core/interfaces.ts`) under the
 * names ranking has always used, plus pin metadata. `pinrec/ann` indexes, `pinrec/embeddings` embedders and
 * `pinrec/cf` models satisfy them as they are; tests use fakes.
 */
import type { Id, Metric } from '../core/types.js';
import type { Embedder, SearchHits, VectorSearcher } from '../core/interfaces.js';

export type { SearchHits, VectorSearcher };

/** Anything that turns an input into an embedding: the core {@link Embedder} contract. */
export type EmbedderLike<In = unknown> = Embedder<In>;

export type { PinMetadata, PinMetadataSource } from '../core/interfaces.js';

/** Convert hits to similarities under `metric` (see the table in `signals.ts`); returns raw values. */
export function hitSimilarity(hits: SearchHits, i: number, metric: Metric): number {
  if (metric === 'l2') {
    if (hits.distances) return 1 / (1 + Math.max(0, hits.distances[i]));
    return 1 / (1 + Math.max(0, -hits.similarities![i]));
  }
  if (hits.similarities) return hits.similarities[i];
  return 1 - hits.distances![i];
}
