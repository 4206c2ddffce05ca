/**
 * The embedder file format written by {@link Embedder.save} and read by {@link loadSavedEmbedder}: a checksummed
 * pinrec container (`kind: 'pinrec.embedder'`) holding the settings needed to load the same model the same way,
 * the raw feature dimension, the projection's sections and (version 2) the embedding head's sections. Version 2
 * is written; versions 1 (no head) and 2 are read. Model weights are not stored. A stored
 * `modelUrl` is data: {@link loadSavedEmbedder} downloads it only when its caller passes `allowStoredUrl: true`.
 * Internal.
 */
import { FileFormatError } from '../core/errors.js';
import { readContainer, writeContainer } from '../core/container.js';
import type { Pooling } from './models.js';
import { EmbeddingHead } from './head.js';
import { PcaProjection } from './pca.js';
import type { PreprocessingOptions } from './preprocess.js';
// For {@link} links in the doc comments only.
import type { Embedder } from './embedder.js';
import type { loadSavedEmbedder } from './load.js';

export const SAVE_KIND = 'pinrec.embedder';
export const SAVE_VERSION = 2;
/** Versions {@link readSavedEmbedder} reads (1: before embedding heads). */
export const READ_VERSIONS: readonly number[] = [1, 2];

/** The settings part of a saved embedder (what {@link writeSavedEmbedder} gets from the embedder). */
export type SavedSettings = Omit<SavedMeta, 'rawDim' | 'pca' | 'head'>;

/** The metadata of a saved embedder file. */
export interface SavedMeta {
  model: string;
  modelUrl: string | null;
  featureLayer: string;
  pooling: Pooling;
  gemP: number;
  preprocessing: PreprocessingOptions;
  flip: boolean;
  powerNorm: number;
  rawDim: number;
  pca: Record<string, unknown> | null;
  /** Version 2: the embedding head's metadata (`null` or absent: none). */
  head?: Record<string, unknown> | null;
}

/** Write an embedder file (settings, raw dimension, optional projection, optional head). */
export async function writeSavedEmbedder(file: string, settings: SavedSettings, rawDim: number, projection: PcaProjection | undefined, head?: EmbeddingHead): Promise<void> {
  const p = projection?.toSections();
  const h = head?.toSections();
  await writeContainer(file, SAVE_KIND, SAVE_VERSION, { ...settings, rawDim, pca: p?.meta ?? null, head: h?.meta ?? null }, { ...(p?.sections ?? {}), ...(h?.sections ?? {}) });
}

/**
 * Read and check an embedder file.
 * @throws {FileFormatError} for a file that is not an embedder file, another version, or malformed metadata
 */
export async function readSavedEmbedder(file: string): Promise<{ meta: SavedMeta; projection?: PcaProjection; head?: EmbeddingHead }> {
  const c = await readContainer<SavedMeta>(file, SAVE_KIND);
  if (!READ_VERSIONS.includes(c.version)) throw new FileFormatError(file, `unsupported embedder file version ${c.version}`);
  const m = c.meta;
  if (!m || typeof m.model !== 'string' || typeof m.rawDim !== 'number') throw new FileFormatError(file, 'embedder metadata is malformed');
  // The stored URL is only ever used as the caller allows (see loadSavedEmbedder), but it must at least be one.
  if (m.modelUrl !== null && m.modelUrl !== undefined && (typeof m.modelUrl !== 'string' || !/^https?:\/\//i.test(m.modelUrl))) {
    throw new FileFormatError(file, 'embedder metadata is malformed (modelUrl is not an http(s) URL)');
  }
  const projection = m.pca ? PcaProjection.fromSections(m.pca, c.sections, file) : undefined;
  const head = c.version >= 2 && m.head ? EmbeddingHead.fromSections(m.head, c.sections, file) : undefined;
  const inDim = projection ? projection.dim : m.rawDim;
  if (head && head.inputDim !== inDim) throw new FileFormatError(file, `the embedding head takes ${head.inputDim}-d input but the embedder's output before it is ${inDim}-d`);
  return { meta: m, ...(projection ? { projection } : {}), ...(head ? { head } : {}) };
}
