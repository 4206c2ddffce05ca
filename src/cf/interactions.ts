/**
 * Interactions in: from JS arrays, typed arrays, records or Arrow, into an {@link InteractionLog} (one row per
 * event, ids mapped to dense indices once) and from there into a sparse {@link InteractionMatrix} (CSR).
 */
import { InvalidParameterError } from '../core/errors.js';
import { IdMap, checkIdType } from '../core/ids.js';
import type { Id } from '../core/types.js';
import { CsrMatrix } from './csr.js';
import type { Transitions } from './order.js';

/**
 * Default weight of each interaction type, from the seed: pin creation 5, repin (save) 3, close-up 2, click 1.
 * `save` is an alias of `repin`, `closeup`/`close_up` of the close-up view, `create`/`pin_create` of pin creation.
 * A frozen null-prototype object, so `DEFAULT_WEIGHTS[type]` is `undefined` for `'toString'`, `'__proto__'`...
 */
/** The largest finite float32: weights are stored as float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

export const DEFAULT_WEIGHTS: Readonly<Record<string, number>> = Object.freeze(Object.assign(Object.create(null) as Record<string, number>, {
  create: 5,
  pin_create: 5,
  repin: 3,
  save: 3,
  closeup: 2,
  close_up: 2,
  click: 1,
}));

/** How duplicate (user, pin) pairs combine into one matrix entry. */
export type CombineRule = 'sum' | 'max' | 'last' | 'binary';

/** Column-wise interactions. Give either `types` or `weights` (or neither: every event weighs 1). */
export interface InteractionColumns<U extends Id = Id, I extends Id = Id> {
  /** User id of each event. */
  users: ArrayLike<U>;
  /** Pin (item) id of each event. */
  items: ArrayLike<I>;
  /** Interaction type of each event (`'create' | 'repin' | 'save' | 'closeup' | 'click'` by default). */
  types?: ArrayLike<string>;
  /** Explicit weight of each event (finite, ≥ 0). */
  weights?: ArrayLike<number>;
  /** Optional timestamp of each event (any finite number, e.g. epoch ms), used by time-based splits. */
  timestamps?: ArrayLike<number>;
}

/** One interaction as a record. */
export interface InteractionRecord<U extends Id = Id, I extends Id = Id> {
  user: U;
  item: I;
  type?: string;
  weight?: number;
  timestamp?: number;
}

/** Options for building interactions. */
export interface InteractionOptions {
  /**
   * Weight per interaction type (own enumerable properties only; each finite, >= 0). Type names that are
   * `Object.prototype` members (`'toString'`, `'__proto__'`, `'constructor'`...) are rejected. @default DEFAULT_WEIGHTS
   */
  typeWeights?: Readonly<Record<string, number>>;
}

/**
 * Interaction events with ids mapped to dense indices. The id maps are shared with every matrix built from it,
 * so results come back in the caller's ids.
 */
export class InteractionLog<U extends Id = Id, I extends Id = Id> {
  constructor(
    /** User ids ↔ row indices. */
    readonly users: IdMap<U>,
    /** Pin ids ↔ column indices. */
    readonly items: IdMap<I>,
    /** Row index of each event. */
    readonly user: Int32Array,
    /** Column index of each event. */
    readonly item: Int32Array,
    /** Weight of each event. */
    readonly weight: Float32Array,
    /** Timestamp of each event, when given. */
    readonly time?: Float64Array,
  ) {}

  /** Number of events. */
  get length(): number {
    return this.user.length;
  }

  /**
   * Build the user × pin CSR matrix. Duplicate (user, pin) pairs combine by `combine`:
   * `'sum'` adds weights (default), `'max'` keeps the largest, `'last'` keeps the latest event (by timestamp,
   * then input order), `'binary'` sets every present pair to 1.
   *
   * @example
   * const X = log.toMatrix({ combine: 'max' });
   */
  toMatrix(options: MatrixOptions = {}): InteractionMatrix<U, I> {
    const o = options ?? {};
    const combine = o.combine ?? 'sum';
    if (!['sum', 'max', 'last', 'binary'].includes(combine)) {
      throw new InvalidParameterError('combine', "one of 'sum', 'max', 'last', 'binary'", combine);
    }
    let weight = this.weight;
    if (o.halfLife !== undefined) {
      const halfLife = o.halfLife;
      if (typeof halfLife !== 'number' || !(halfLife > 0) || !Number.isFinite(halfLife)) throw new InvalidParameterError('halfLife', 'a finite number > 0 (in timestamp units)', halfLife);
      if (!this.time) throw new InvalidParameterError('halfLife', 'a log with timestamps (time decay needs them)', halfLife);
      const now = o.now ?? maxOf(this.time, o.keep);
      if (typeof now !== 'number' || !Number.isFinite(now)) throw new InvalidParameterError('now', 'a finite timestamp', now);
      weight = decayWeights(this.weight, this.time, halfLife, now);
    }
    const out: { last?: Float64Array } = {};
    const csr = buildCsr(this.users.size, this.items.size, this.user, this.item, weight, this.time, combine, o.keep, out);
    return new InteractionMatrix(this.users, this.items, csr, out.last, this.time !== undefined, { log: this, keep: o.keep });
  }
}

/** Options of {@link InteractionLog.toMatrix}. */
export interface MatrixOptions {
  /** How duplicate (user, pin) pairs combine. @default 'sum' */
  combine?: CombineRule;
  /** `keep[e] = 0` drops event e (used by the splits). @default every event */
  keep?: Uint8Array;
  /**
   * Time decay: each event's weight is multiplied by 0.5^((now − t) / halfLife) before duplicates combine, so
   * an interaction `halfLife` old counts half (timestamp units, e.g. ms). Needs timestamps. @default no decay
   */
  halfLife?: number;
  /** The reference time of the decay. @default the latest kept timestamp */
  now?: number;
}

/** w · 0.5^((now − t) / halfLife) per event (events after `now` weigh more, capped at float32's largest value). */
export function decayWeights(w: Float32Array, t: Float64Array, halfLife: number, now: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let e = 0; e < w.length; e++) out[e] = Math.min(FLOAT32_MAX, w[e] * Math.pow(0.5, (now - t[e]) / halfLife));
  return out;
}

function maxOf(t: Float64Array, keep?: Uint8Array): number {
  let m = -Infinity;
  for (let e = 0; e < t.length; e++) if ((!keep || keep[e]) && t[e] > m) m = t[e];
  return m;
}

/** A user × pin interaction matrix in CSR form, with the id maps of its rows and columns. */
export class InteractionMatrix<U extends Id = Id, I extends Id = Id> {
  constructor(
    readonly users: IdMap<U>,
    readonly items: IdMap<I>,
    readonly csr: CsrMatrix,
    /**
     * When each stored (user, pin) entry last happened, parallel to `csr.data`: the latest event's timestamp
     * when the log has timestamps, else its position in the input (so within a user, larger = more recent).
     * Order-aware scoring ranks a user's pins by it. Absent for matrices built by hand.
     */
    readonly lastEvent?: Float64Array,
    /** Whether `lastEvent` holds timestamps (`true`) or input positions (`false`). */
    readonly timed = false,
    /**
     * Where the next-pin counts of order-aware scoring come from: the log and kept events this matrix was
     * built from, or counts already made (a model's snapshot).
     */
    readonly source?: { log: InteractionLog<U, I>; keep?: Uint8Array } | { transitions: Transitions },
  ) {}
  /** Number of users (rows). */
  get nUsers(): number { return this.csr.rows; }
  /** Number of pins (columns). */
  get nItems(): number { return this.csr.cols; }
  /** Number of stored (user, pin) pairs. */
  get nnz(): number { return this.csr.nnz; }
}

/**
 * Build an {@link InteractionLog} from columns (JS arrays or typed arrays).
 *
 * @throws InvalidParameterError for mismatched lengths, bad ids, unknown types, NaN/infinite/negative weights,
 * or an empty input.
 * @example
 * const log = interactionsFromColumns({
 *   users: ['u1', 'u1', 'u2'], items: ['p1', 'p2', 'p1'], types: ['repin', 'click', 'create'],
 * });
 * const X = log.toMatrix();
 */
export function interactionsFromColumns<U extends Id = Id, I extends Id = Id>(
  columns: InteractionColumns<U, I>,
  options: InteractionOptions = {},
): InteractionLog<U, I> {
  if (!columns || typeof columns !== 'object') throw new InvalidParameterError('columns', 'an object with users and items', columns);
  const { users, items, types, weights, timestamps } = columns;
  if (!isArrayLike(users)) throw new InvalidParameterError('users', 'an array or typed array', users);
  if (!isArrayLike(items)) throw new InvalidParameterError('items', 'an array or typed array', items);
  const n = users.length;
  if (n === 0) throw new InvalidParameterError('users', 'a non-empty list of interactions', users);
  if (items.length !== n) throw new InvalidParameterError('items.length', `equal to users.length (${n})`, items.length);
  if (types !== undefined && weights !== undefined) {
    throw new InvalidParameterError('types', 'absent when weights are given (give types or weights, not both)', 'both given');
  }
  if (types !== undefined && (!isArrayLike(types) || types.length !== n)) {
    throw new InvalidParameterError('types.length', `equal to users.length (${n})`, isArrayLike(types) ? types.length : types);
  }
  if (weights !== undefined && (!isArrayLike(weights) || weights.length !== n)) {
    throw new InvalidParameterError('weights.length', `equal to users.length (${n})`, isArrayLike(weights) ? weights.length : weights);
  }
  if (timestamps !== undefined && (!isArrayLike(timestamps) || timestamps.length !== n)) {
    throw new InvalidParameterError('timestamps.length', `equal to users.length (${n})`, isArrayLike(timestamps) ? timestamps.length : timestamps);
  }
  const typeWeights = checkTypeWeights(options.typeWeights ?? DEFAULT_WEIGHTS);
  const userMap = new IdMap<U>();
  const itemMap = new IdMap<I>();
  const u = new Int32Array(n);
  const it = new Int32Array(n);
  const w = new Float32Array(n);
  const t = timestamps ? new Float64Array(n) : undefined;
  for (let k = 0; k < n; k++) {
    const uid = users[k];
    const iid = items[k];
    checkIdType(`users[${k}]`, uid);
    checkIdType(`items[${k}]`, iid);
    u[k] = userMap.add(uid);
    it[k] = itemMap.add(iid);
    let wk: number;
    if (types) {
      const ty = types[k];
      const tw = typeof ty === 'string' ? typeWeights.get(ty) : undefined;
      if (tw === undefined) {
        throw new InvalidParameterError(`types[${k}]`, `a known interaction type (${[...typeWeights.keys()].join(', ')})`, ty);
      }
      wk = tw;
    } else if (weights) {
      wk = weights[k];
      if (typeof wk !== 'number' || !Number.isFinite(wk) || wk < 0 || wk > FLOAT32_MAX) {
        throw new InvalidParameterError(`weights[${k}]`, 'a finite number >= 0 that float32 holds (<= 3.4e38)', wk);
      }
    } else {
      wk = 1;
    }
    w[k] = wk;
    if (t) {
      const tk = Number(timestamps![k]);
      if (!Number.isFinite(tk)) throw new InvalidParameterError(`timestamps[${k}]`, 'a finite number', timestamps![k]);
      t[k] = tk;
    }
  }
  return new InteractionLog(userMap, itemMap, u, it, w, t);
}

/**
 * Build an {@link InteractionLog} from records `{user, item, type?, weight?, timestamp?}`. Every record must
 * use the same fields (all `type` or all `weight`).
 *
 * @example
 * const log = interactionsFromRecords([{ user: 1, item: 'p9', type: 'save' }]);
 */
export function interactionsFromRecords<U extends Id = Id, I extends Id = Id>(
  records: readonly InteractionRecord<U, I>[],
  options: InteractionOptions = {},
): InteractionLog<U, I> {
  if (!Array.isArray(records)) throw new InvalidParameterError('records', 'an array of interaction records', records);
  if (records.length === 0) throw new InvalidParameterError('records', 'a non-empty array', records);
  const first = records[0] ?? {};
  const hasType = first.type !== undefined;
  const hasWeight = first.weight !== undefined;
  const hasTime = first.timestamp !== undefined;
  const users: U[] = new Array(records.length);
  const items: I[] = new Array(records.length);
  const types: string[] | undefined = hasType ? new Array(records.length) : undefined;
  const weights: number[] | undefined = hasWeight ? new Array(records.length) : undefined;
  const times: number[] | undefined = hasTime ? new Array(records.length) : undefined;
  for (let k = 0; k < records.length; k++) {
    const r = records[k];
    if (!r || typeof r !== 'object') throw new InvalidParameterError(`records[${k}]`, 'an object {user, item, ...}', r);
    users[k] = r.user;
    items[k] = r.item;
    if (types) types[k] = r.type as string;
    if (weights) weights[k] = r.weight as number;
    if (times) times[k] = r.timestamp as number;
  }
  return interactionsFromColumns({ users, items, types, weights, timestamps: times }, options);
}

/**
 * A type → weight table as a `Map`: lookups by the caller's type strings never reach `Object.prototype`,
 * and names of its members (`'toString'`, `'__proto__'`, `'constructor'`...) are rejected as type names, so
 * a JSON config cannot declare them. Weights must be finite numbers >= 0.
 */
function checkTypeWeights(tw: Readonly<Record<string, number>>, parameter = 'typeWeights'): Map<string, number> {
  if (!tw || typeof tw !== 'object' || Array.isArray(tw)) throw new InvalidParameterError(parameter, 'an object of type → weight', tw);
  const m = new Map<string, number>();
  for (const [k, v] of Object.entries(tw)) {
    if (Object.hasOwn(Object.prototype, k)) {
      throw new InvalidParameterError(`${parameter}.${k}`, 'an interaction type name that is not an Object.prototype member (toString, __proto__, constructor...)', k);
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > FLOAT32_MAX) {
      throw new InvalidParameterError(`${parameter}.${k}`, 'a finite number >= 0', v);
    }
    m.set(k, v);
  }
  if (m.size === 0) throw new InvalidParameterError(parameter, 'a non-empty object', tw);
  return m;
}

function isArrayLike(x: unknown): x is ArrayLike<unknown> {
  return Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView));
}

/**
 * Build a CSR matrix from events; columns within a row are sorted and duplicates combined. Two stable
 * counting sorts (by column, then by row) make this O(events) with no comparisons. `keep[k] = 0` drops
 * event k (used by splits). For `'last'`, the event with the largest timestamp wins (ties: later in input).
 */
export function buildCsr(
  rows: number, cols: number, u: Int32Array, it: Int32Array, w: Float32Array, time: Float64Array | undefined,
  combine: CombineRule, keep?: Uint8Array, out?: { last?: Float64Array },
): CsrMatrix {
  const n = u.length;
  // Pass 1: stable bucket by column.
  const ccount = new Int32Array(cols + 1);
  let total = 0;
  for (let k = 0; k < n; k++) if (!keep || keep[k]) { ccount[it[k] + 1]++; total++; }
  if (total > 2 ** 31 - 1) throw new InvalidParameterError('interactions', 'fewer than 2^31 events', total);
  for (let c = 0; c < cols; c++) ccount[c + 1] += ccount[c];
  const byCol = new Int32Array(total);
  for (let k = 0; k < n; k++) if (!keep || keep[k]) byCol[ccount[it[k]]++] = k;
  // Pass 2: stable bucket by row; within a row, events come out sorted by column, then input order.
  const rcount = new Int32Array(rows + 1);
  for (let q = 0; q < total; q++) rcount[u[byCol[q]] + 1]++;
  for (let r = 0; r < rows; r++) rcount[r + 1] += rcount[r];
  const rowStart = rcount.slice();
  const order = new Int32Array(total);
  for (let q = 0; q < total; q++) { const k = byCol[q]; order[rcount[u[k]]++] = k; }
  const indptr = new Int32Array(rows + 1);
  const indices = new Int32Array(total);
  const data = new Float32Array(total);
  const last = out ? new Float64Array(total) : undefined;
  let nz = 0;
  for (let r = 0; r < rows; r++) {
    const e = rowStart[r + 1];
    let q = rowStart[r];
    while (q < e) {
      const k0 = order[q];
      const c = it[k0];
      let val = w[k0];
      let bestT = time ? time[k0] : 0;
      let lastKey = time ? time[k0] : k0;
      q++;
      while (q < e && it[order[q]] === c) {
        const k = order[q];
        const wk = w[k];
        const key = time ? time[k] : k;
        if (key >= lastKey) lastKey = key;
        if (combine === 'sum') val += wk;
        else if (combine === 'max') { if (wk > val) val = wk; }
        else if (combine === 'last') {
          if (!time || time[k] >= bestT) { val = wk; if (time) bestT = time[k]; }
        }
        q++;
      }
      indices[nz] = c;
      data[nz] = combine === 'binary' ? 1 : val;
      if (last) last[nz] = lastKey;
      nz++;
    }
    indptr[r + 1] = nz;
  }
  if (out && last) out.last = last.slice(0, nz);
  return new CsrMatrix(rows, cols, indptr, indices.slice(0, nz), data.slice(0, nz));
}
