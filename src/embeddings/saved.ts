/**
 * The embedder file format written by {@link Embedder.save} and read by {@link loadSavedEmbedder}: a checksummed
 * pinrec container (`kind: 'pinrec.embedder'`, version 1) holding the settings needed to load the same model the
 * same way, the raw feature dimension, and the projection's sections. Model weights are not stored. A stored
 * `modelUrl` is data: {@link loadSavedEmbedder} downloads it only when its caller passes `allowStoredUrl: true`.
 * Internal.
 */
import { FileFormatError } from '../core/errors.js';
import { readContainer, writeContainer } from '../core/container.js';
import type { Pooling } from './models.js';
import { PcaProjection } from './pca.js';
import type { PreprocessingOptions } from './preprocess.js';
// For {@link} links in the doc comments only.
import type { Embedder } from './embedder.js';
import type { loadSavedEmbedder } from './load.js';

export const SAVE_KIND = 'pinrec.embedder';
export const SAVE_VERSION = 1;

/** The settings part of a saved embedder (what {@link writeSavedEmbedder} gets from the embedder). */
export type SavedSettings = Omit<SavedMeta, 'rawDim' | 'pca'>;

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
}

/** Write an embedder file (settings, raw dimension, optional projection). */
export async function writeSavedEmbedder(file: string, settings: SavedSettings, rawDim: number, projection: PcaProjection | undefined): Promise<void> {
  const p = projection?.toSections();
  await writeContainer(file, SAVE_KIND, SAVE_VERSION, { ...settings, rawDim, pca: p?.meta ?? null }, p?.sections ?? {});
}

/**
 * Read and check an embedder file.
 * @throws {FileFormatError} for a file that is not an embedder file, another version, or malformed metadata
 */
export async function readSavedEmbedder(file: string): Promise<{ meta: SavedMeta; projection?: PcaProjection }> {
  const c = await readContainer<SavedMeta>(file, SAVE_KIND);
  if (c.version !== SAVE_VERSION) throw new FileFormatError(file, `unsupported embedder file version ${c.version}`);
  const m = c.meta;
  if (!m || typeof m.model !== 'string' || typeof m.rawDim !== 'number') throw new FileFormatError(file, 'embedder metadata is malformed');
  // The stored URL is only ever used as the caller allows (see loadSavedEmbedder), but it must at least be one.
  if (m.modelUrl !== null && m.modelUrl !== undefined && (typeof m.modelUrl !== 'string' || !/^https?:\/\//i.test(m.modelUrl))) {
    throw new FileFormatError(file, 'embedder metadata is malformed (modelUrl is not an http(s) URL)');
  }
  const projection = m.pca ? PcaProjection.fromSections(m.pca, c.sections, file) : undefined;
  return { meta: m, ...(projection ? { projection } : {}) };
}
