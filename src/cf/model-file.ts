/** Structural validation of a loaded SVD recommender: what a checksum cannot promise. */
import { FileFormatError } from '../core/errors.js';
import type { CsrMatrix } from './csr.js';
import type { FittedState } from './state.js';

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
