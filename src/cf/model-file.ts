/**
 * The SVD recommender's saved file: writing the fitted state, reading it back, and the structural checks a
 * checksum cannot promise.
 */
import { readContainer, requireSection, writeContainer, type SectionArray } from '../core/container.js';
import { FileFormatError } from '../core/errors.js';
import { IdMap } from '../core/ids.js';
import { CsrMatrix } from './csr.js';
import { ORDER_OFF, type OrderSettings } from './order.js';
import type { FittedState } from './state.js';

const KIND = 'pinrec.svd-recommender';
/** 2: adds when each entry happened, the transition counts and the order-aware settings. Reads 1 and 2. */
const VERSION = 2;

interface Meta { options: unknown; k: number; nUsers: number; nItems: number; lambdaUsed?: number; weightScale?: number; timed?: boolean; order?: OrderSettings }

/** Write a compacted state (`cap` = pins, no pending updates) and the model's options (atomic, checksummed). */
export async function writeModelFile(path: string, st: FittedState, options: unknown): Promise<void> {
  const sections: Record<string, SectionArray> = {
    users: st.users.encode(),
    items: st.items.encode(),
    xIndptr: st.x.indptr,
    xIndices: st.x.indices,
    xData: st.x.data,
    s: st.s,
    v: st.v,
    wt: st.wt,
    popularity: st.popularity,
    itemNorm: st.itemNorm,
  };
  if (st.xKey) sections.xKey = st.xKey;
  if (st.trans) {
    sections.tIndptr = st.trans.counts.indptr;
    sections.tIndices = st.trans.counts.indices;
    sections.tData = st.trans.counts.data;
    sections.tRowSum = st.trans.rowSum;
  }
  if (st.g && st.itemScale) {
    sections.gIndptr = st.g.indptr;
    sections.gIndices = st.g.indices;
    sections.gData = st.g.data;
    sections.itemScale = st.itemScale;
  }
  const meta: Meta = { options, k: st.k, nUsers: st.users.size, nItems: st.items.size, lambdaUsed: st.lambdaUsed, weightScale: st.weightScale, timed: st.timed, order: st.order };
  await writeContainer(path, KIND, VERSION, meta, sections);
}

/**
 * Read a file written by {@link writeModelFile}: the options as stored (the caller validates them) and a
 * checked state with `cap` = pins.
 * @throws FileFormatError when the file is missing, truncated, altered, of another kind or version, or malformed.
 */
export async function readModelFile(path: string): Promise<{ options: never; state: FittedState }> {
  const c = await readContainer<Meta>(path, KIND);
  if (c.version !== 1 && c.version !== VERSION) throw new FileFormatError(path, `unsupported svd-recommender version ${c.version} (this build reads 1 and ${VERSION})`);
  const meta = c.meta;
  const sec = <T extends SectionArray>(name: string, ctor: new (...a: never[]) => T) => requireSection(c, name, ctor, path);
  let users: IdMap, items: IdMap;
  try {
    users = IdMap.decode(sec('users', Uint8Array));
    items = IdMap.decode(sec('items', Uint8Array));
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw new FileFormatError(path, `id table is malformed (${(e as Error).message})`);
  }
  const k = meta.k;
  const nU = users.size, nI = items.size;
  const x = new CsrMatrix(nU, nI, sec('xIndptr', Int32Array), sec('xIndices', Int32Array), sec('xData', Float32Array));
  const s = sec('s', Float64Array), v = sec('v', Float32Array), wt = sec('wt', Float32Array);
  if (x.indptr.length !== nU + 1 || s.length !== k || v.length !== nI * k || wt.length !== nI * k) {
    throw new FileFormatError(path, 'section sizes do not match the header');
  }
  let g: CsrMatrix | undefined, itemScale: Float32Array | undefined;
  if (c.sections.has('gIndptr')) {
    g = new CsrMatrix(nI, nI, sec('gIndptr', Int32Array), sec('gIndices', Int32Array), sec('gData', Float32Array));
    itemScale = sec('itemScale', Float32Array);
  }
  const state: FittedState = {
    users, items, x, k, s, v, wt, g, itemScale,
    popularity: sec('popularity', Float64Array),
    itemNorm: sec('itemNorm', Float32Array),
    lambdaUsed: meta.lambdaUsed === undefined ? 0 : (meta.lambdaUsed as number),
    weightScale: meta.weightScale === undefined ? 1 : meta.weightScale,
    timed: meta.timed === true,
    ownsIds: true,
    order: loadedOrder(path, meta.order),
    xKey: c.sections.has('xKey') ? sec('xKey', Float64Array) : undefined,
    cap: nI,
    trans: c.sections.has('tIndptr')
      ? { counts: new CsrMatrix(nI, nI, sec('tIndptr', Int32Array), sec('tIndices', Int32Array), sec('tData', Float32Array)), rowSum: sec('tRowSum', Float64Array) }
      : undefined,
  };
  checkLoadedState(path, state, meta);
  return { options: meta.options as never, state };
}


/**
 * Structural checks on a loaded model, so a file whose checksum was recomputed after editing it cannot give
 * NaN scores or out-of-range reads: every section's length matches the header, CSR pointers are monotone and
 * in range, indices in range, and every stored number is finite.
 */
export function checkLoadedState(path: string, st: FittedState, meta: { k: number; nUsers: number; nItems: number; weightScale?: number }): void {
  const bad = (why: string): never => { throw new FileFormatError(path, why); };
  const { k } = st;
  const nU = st.users.size, nI = st.items.size;
  if (!Number.isInteger(k) || k < 1 || k > nI) bad(`header k ${k} is not an integer in [1, ${nI}]`);
  if (meta.nUsers !== nU || meta.nItems !== nI) bad('id tables disagree with the header');
  if (!(st.weightScale > 0) || !Number.isFinite(st.weightScale)) bad(`weightScale ${st.weightScale} is not a finite number > 0`);
  if (!(st.lambdaUsed >= 0) || !Number.isFinite(st.lambdaUsed)) bad(`lambdaUsed ${st.lambdaUsed} is not a finite number >= 0`);
  const csr = (name: string, m: CsrMatrix, rows: number, cols: number) => {
    if (m.indptr.length !== rows + 1 || m.indptr[0] !== 0) bad(`${name}: row pointers malformed`);
    for (let r = 0; r < rows; r++) if (!(m.indptr[r + 1] >= m.indptr[r])) bad(`${name}: row pointers not monotone at row ${r}`);
    const nnz = m.indptr[rows];
    if (m.indices.length !== nnz || m.data.length !== nnz) bad(`${name}: ${m.indices.length} indices and ${m.data.length} values for ${nnz} entries`);
    for (let p = 0; p < nnz; p++) {
      const j = m.indices[p];
      if (!(j >= 0 && j < cols)) bad(`${name}: column index ${j} out of range at entry ${p}`);
      if (!Number.isFinite(m.data[p])) bad(`${name}: non-finite value at entry ${p}`);
    }
  };
  csr('interactions', st.x, nU, nI);
  for (let p = 0; p < st.x.data.length; p++) if (st.x.data[p] < 0) bad(`interactions: negative weight at entry ${p}`);
  const finite = (name: string, a: ArrayLike<number>, len: number) => {
    if (a.length !== len) bad(`${name}: ${a.length} values, expected ${len}`);
    for (let i = 0; i < len; i++) if (!Number.isFinite(a[i])) bad(`${name}: non-finite value at ${i}`);
  };
  finite('s', st.s, k);
  finite('v', st.v, nI * k);
  finite('wt', st.wt, nI * k);
  finite('popularity', st.popularity, nI);
  finite('itemNorm', st.itemNorm, nI);
  if (st.xKey) finite('xKey', st.xKey, st.x.nnz);
  if (st.trans) {
    csr('transitions', st.trans.counts, nI, nI);
    finite('transition totals', st.trans.rowSum, nI);
    for (let i = 0; i < nI; i++) {
      let t = 0;
      for (let e = st.trans.counts.indptr[i]; e < st.trans.counts.indptr[i + 1]; e++) { if (!(st.trans.counts.data[e] >= 0)) bad(`transitions: negative count at entry ${e}`); t += st.trans.counts.data[e]; }
      if (Math.abs(t - st.trans.rowSum[i]) > 1e-6 * Math.max(1, t)) bad(`transitions: row ${i} total ${st.trans.rowSum[i]} is not the sum of its counts (${t})`);
    }
  }
  if (st.g || st.itemScale) {
    if (!st.g || !st.itemScale) bad('the co-occurrence sections are incomplete');
    csr('gram', st.g!, nI, nI);
    finite('itemScale', st.itemScale!, nI);
  }
}

/** The order settings of a loaded file (version 1 files have none: plain scoring). */
function loadedOrder(path: string, o: unknown): OrderSettings {
  if (o === undefined) return { ...ORDER_OFF };
  const r = o as OrderSettings;
  const ok = r !== null && typeof r === 'object' && typeof r.decay === 'number' && r.decay > 0 && r.decay <= 1
    && (r.halfLife === null || (typeof r.halfLife === 'number' && r.halfLife > 0 && Number.isFinite(r.halfLife)))
    && typeof r.transitions === 'number' && r.transitions >= 0 && Number.isFinite(r.transitions);
  if (!ok) throw new FileFormatError(path, 'header holds invalid order settings');
  return { decay: r.decay, halfLife: r.halfLife, transitions: r.transitions };
}
