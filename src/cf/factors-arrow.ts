/**
 * An `SvdRecommender`'s factors as Arrow IPC files (see `core/arrow-out.ts` and docs/arrow.md): one row per pin
 * or per user, `id` and `factors` (`FixedSizeList<Float32>(k)`), written atomically in record batches.
 *
 * What the vectors are, so that a user's row · a pin's row is the model's score:
 * - users: q = x·V, the user's (scaled, recency-weighted) interaction row times the item factors — what
 *   `model.userFactors(user)` returns; a user without interactions gets zeros.
 * - pins, `vectors: 'scoring'` (default): the item side of the model's own scoring, `model.scoringFactors()`.
 *   For `'puresvd'` that is V itself, and q · V_j is the PureSVD score x·V·V_jᵀ of every pin. For `'ease'` it is
 *   −V·E/dg (E = diag(s⁴/(s²+λ)), dg the low-rank estimate of EASE's diagonal), and q · row_j is the EASE score of
 *   every pin j that shares no user with the user's pins (the co-occurrence term, which a dot product cannot
 *   hold, is 0 there).
 * - pins, `vectors: 'factors'`: V, the orthonormal right singular vectors (`model.itemFactors()`), for callers
 *   that want the raw factorisation; the singular values are in the metadata (`pinrec.singular_values`), so
 *   V·Σ or V·Σ^{1/2} is a per-column scale away.
 *
 * "Is the score" holds up to float32 rounding (the model sums in float64), with `popularityPenalty` 0 and no
 * next-pin transitions (`model.order.transitions === 0`): both are applied after the dot product.
 */
import { FileFormatError, InvalidParameterError } from '../core/errors.js';
import {
  DEFAULT_BATCH_ROWS, MAX_BATCH_ROWS, idColumn, idColumnType, readEmbeddingsArrow, writeVectorBatches,
  type ArrowWriteOptions, type ArrowWriteSummary, type EmbeddingsArrow,
} from '../core/arrow-out.js';
import type { Id } from '../core/types.js';
import { checkInt, checkOneOf } from '../core/validate.js';
import { SvdRecommender } from './model.js';

/** Options of {@link writeFactorsArrow}. */
export interface FactorsArrowOptions extends ArrowWriteOptions {
  /** `'items'`: one row per pin; `'users'`: one row per user. @default 'items' */
  which?: 'items' | 'users';
  /** Pins only: `'scoring'` (the scoring's item side, V for PureSVD) or `'factors'` (V). @default 'scoring' */
  vectors?: 'scoring' | 'factors';
}

/**
 * Write a fitted model's pin or user factors as an Arrow IPC file: columns `id` (Utf8 | Int32 | Float64 |
 * Int64 by the ids, see `idColumnType`) and `factors` (`FixedSizeList<Float32>(k)`), atomically, in batches of
 * `batchRows` rows (user vectors are computed batch by batch, so memory holds one batch of them). Metadata:
 * `pinrec.kind = factors`, `pinrec.version`, `pinrec.dim` (k), `pinrec.which` (`items` | `users`),
 * `pinrec.vectors` (`scoring` | `factors` | `user`), `pinrec.scoring` (`ease` | `puresvd`),
 * `pinrec.singular_values` (JSON array), `pinrec.weight_scale`, `pinrec.lambda`. The module doc says exactly
 * what the vectors are.
 *
 * @throws {NotFittedError} before `fit` or `load`
 * @throws {InvalidParameterError} for a bad option
 * @example
 * await writeFactorsArrow(model, 'pins.arrow', { which: 'items' });
 * await writeFactorsArrow(model, 'users.arrow', { which: 'users' });
 * const pins = await readFactorsArrow('pins.arrow'); // { ids, vectors, dim, which: 'items', ... }
 */
export async function writeFactorsArrow<U extends Id, I extends Id>(model: SvdRecommender<U, I>, path: string, options: FactorsArrowOptions = {}): Promise<ArrowWriteSummary> {
  if (!(model instanceof SvdRecommender)) throw new InvalidParameterError('model', 'an SvdRecommender', model);
  if (options === null || typeof options !== 'object') throw new InvalidParameterError('options', 'an object', options);
  const which = checkOneOf('which', options.which ?? 'items', ['items', 'users'] as const);
  const vectors = checkOneOf('vectors', options.vectors ?? 'scoring', ['scoring', 'factors'] as const);
  if (which === 'users' && options.vectors !== undefined) throw new InvalidParameterError('vectors', "unset for which: 'users' (user vectors are x·V)", options.vectors);
  const o = {
    batchRows: checkInt('batchRows', options.batchRows ?? DEFAULT_BATCH_ROWS, 1, MAX_BATCH_ROWS),
    format: checkOneOf('format', options.format ?? 'file', ['file', 'stream'] as const),
    onProgress: options.onProgress,
    metadata: options.metadata,
  };
  const k = model.factors; // throws NotFittedError before fit
  const meta: Record<string, string> = {
    'pinrec.which': which,
    'pinrec.vectors': which === 'users' ? 'user' : vectors,
    'pinrec.scoring': model.options.scoring,
    'pinrec.singular_values': JSON.stringify(Array.from(model.singularValues)),
    'pinrec.weight_scale': String(model.weightScale),
    'pinrec.lambda': String(model.lambda),
  };
  const rows = o.batchRows;
  if (which === 'items') {
    // one copy of the pin matrix (the model keeps it transposed or padded); batches are views of it
    const f = vectors === 'scoring' ? model.scoringFactors() : model.itemFactors();
    const ids = f.ids;
    const t = idColumnType(ids);
    const n = ids.length;
    return writeVectorBatches(path, t, k, o, 'factors', 'id', 'factors', meta, n, (function* () {
      for (let s = 0; s < n; s += rows) {
        const e = Math.min(n, s + rows);
        yield { id: idColumn(ids, t, s, e), vectors: f.factors.subarray(s * k, e * k) };
      }
    })());
  }
  const ids = model.userIds();
  const t = idColumnType(ids);
  const n = ids.length;
  return writeVectorBatches(path, t, k, o, 'factors', 'id', 'factors', meta, n, (function* () {
    for (let s = 0; s < n; s += rows) {
      const e = Math.min(n, s + rows);
      const out = new Float32Array((e - s) * k);
      for (let u = s; u < e; u++) out.set(model.userFactors(ids[u]), (u - s) * k);
      yield { id: idColumn(ids, t, s, e), vectors: out };
    }
  })());
}

/** What {@link readFactorsArrow} returns: {@link EmbeddingsArrow} plus what the metadata says. */
export interface FactorsArrow<I extends Id = Id> extends EmbeddingsArrow<I> {
  /** `'items'` or `'users'` (`pinrec.which`), when recorded. */
  which?: 'items' | 'users';
  /** `'scoring'`, `'factors'` or `'user'` (`pinrec.vectors`), when recorded. */
  vectorKind?: 'scoring' | 'factors' | 'user';
  /** The model's scoring (`pinrec.scoring`), when recorded. */
  scoring?: 'ease' | 'puresvd';
  /** Singular values, descending (`pinrec.singular_values`), when recorded. */
  singularValues?: Float64Array;
}

/**
 * Read a factors file written by {@link writeFactorsArrow} (or any Arrow IPC file with an `id` column and a
 * `factors` column of `FixedSizeList<Float32>` / `List<Float32>`), with the checks of `readEmbeddingsArrow`.
 * @throws {FileFormatError} for a truncated file, a missing or mistyped column, a null or a non-finite value
 * (naming the file, column and row), or malformed `pinrec.*` metadata
 * @example
 * const { ids, vectors, dim, which } = await readFactorsArrow('pins.arrow');
 */
export async function readFactorsArrow<I extends Id = Id>(path: string, options: { idColumn?: string; vectorColumn?: string } = {}): Promise<FactorsArrow<I>> {
  const r: FactorsArrow<I> = await readEmbeddingsArrow<I>(path, { idColumn: options?.idColumn ?? 'id', vectorColumn: options?.vectorColumn ?? 'factors' });
  const m = r.metadata;
  const which = m.get('pinrec.which');
  if (which !== undefined) {
    if (which !== 'items' && which !== 'users') throw new FileFormatError(path, `metadata pinrec.which must be 'items' or 'users' (got ${JSON.stringify(which)})`);
    r.which = which;
  }
  const vectors = m.get('pinrec.vectors');
  if (vectors !== undefined) {
    if (vectors !== 'scoring' && vectors !== 'factors' && vectors !== 'user') throw new FileFormatError(path, `metadata pinrec.vectors must be 'scoring', 'factors' or 'user' (got ${JSON.stringify(vectors)})`);
    r.vectorKind = vectors;
  }
  const scoring = m.get('pinrec.scoring');
  if (scoring !== undefined) {
    if (scoring !== 'ease' && scoring !== 'puresvd') throw new FileFormatError(path, `metadata pinrec.scoring must be 'ease' or 'puresvd' (got ${JSON.stringify(scoring)})`);
    r.scoring = scoring;
  }
  const sv = m.get('pinrec.singular_values');
  if (sv !== undefined) {
    let a: unknown;
    try { a = JSON.parse(sv); } catch { a = undefined; }
    if (!Array.isArray(a) || !a.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new FileFormatError(path, 'metadata pinrec.singular_values must be a JSON array of finite numbers');
    r.singularValues = Float64Array.from(a as number[]);
  }
  return r;
}
