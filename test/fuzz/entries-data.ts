/** Entry points: interactions, Arrow readers, IdMap, container. */
import fc from 'fast-check';
import { tableFromArrays } from 'apache-arrow';
import { createHash } from 'node:crypto';
import { interactionsFromColumns, interactionsFromRecords, interactionsFromArrow } from '../../src/cf/index.js';
import { columnsFromArrow, toBatch, rerank } from '../../src/ranking/index.js';
import { IdMap } from '../../src/core/ids.js';
import { decodeContainer, encodeContainer } from '../../src/core/container.js';
import { FileFormatError, InvalidParameterError, PinrecError } from '../../src/core/errors.js';
import { anyId, edgeNumber, garbage, loneSurrogate, protoName, sameId, validId } from './arbitraries.js';
import { type EntryPoint, check } from './harness.js';
import { KNOWN_BUGS } from './known.js';

// ---------------------------------------------------------------------------------------------------------
// interactionsFromColumns / interactionsFromRecords

const TYPES = ['create', 'pin_create', 'repin', 'save', 'closeup', 'close_up', 'click'];
const typeName = fc.oneof({ weight: 20, arbitrary: fc.constantFrom(...TYPES) }, { weight: 2, arbitrary: protoName }, { weight: 1, arbitrary: fc.constantFrom<unknown>('CLICK', 'unknown', 5, null, undefined) });
const weight = fc.oneof({ weight: 10, arbitrary: fc.double({ min: 0, max: 100, noNaN: true }) }, { weight: 3, arbitrary: edgeNumber }, { weight: 1, arbitrary: fc.constantFrom<unknown>(5n, '1', null, undefined) });

interface InteractionsCase {
  users: unknown[]; items: unknown[]; mode: 'none' | 'types' | 'weights'; types: unknown[]; weights: unknown[];
  timestamps?: unknown[]; typeWeights?: unknown; lengthSkew: number; typed: boolean; combine: unknown;
}

const interactionsArb = (quick: boolean): fc.Arbitrary<InteractionsCase> => fc.integer({ min: 0, max: 12 }).chain((n) => fc.record({
  users: fc.array(anyId(quick), { minLength: n, maxLength: n }),
  items: fc.array(anyId(quick), { minLength: n, maxLength: n }),
  mode: fc.constantFrom('none' as const, 'types' as const, 'weights' as const),
  types: fc.array(typeName, { minLength: n, maxLength: n }),
  weights: fc.array(weight, { minLength: n, maxLength: n }),
  timestamps: fc.option(fc.array(fc.oneof(fc.integer(), edgeNumber), { minLength: n, maxLength: n }), { nil: undefined }),
  typeWeights: fc.option(fc.oneof(
    fc.dictionary(fc.oneof(fc.constantFrom(...TYPES), protoName), fc.oneof(fc.double({ min: 0, max: 10, noNaN: true }), edgeNumber), { maxKeys: 4 }),
    fc.constantFrom<unknown>(null, [], 'click', new Map([['click', 1]])),
  ), { nil: undefined, freq: 3 }),
  lengthSkew: fc.oneof({ weight: 15, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1) }),
  typed: fc.boolean(),
  combine: fc.constantFrom<unknown>('sum', 'max', 'last', 'binary', 'sum', 'bogus', undefined),
}));

export const interactionsEntry: EntryPoint<InteractionsCase> = {
  name: 'cf.interactionsFromColumns+Records',
  quickRuns: 300,
  arb: interactionsArb,
  run(c) {
    const n = c.users.length;
    const items = c.lengthSkew === 0 ? c.items : c.lengthSkew > 0 ? [...c.items, 'extra'] : c.items.slice(1);
    const cols: Record<string, unknown> = { users: c.users, items };
    if (c.mode === 'types') cols.types = c.types;
    if (c.mode === 'weights') cols.weights = c.typed ? Float32Array.from(c.weights.map((w) => (typeof w === 'number' ? w : 0))) : c.weights;
    if (c.timestamps) cols.timestamps = c.timestamps;
    const options = c.typeWeights === undefined ? {} : { typeWeights: c.typeWeights as Record<string, number> };
    let fromCols: ReturnType<typeof interactionsFromColumns> | undefined;
    let colErr: unknown;
    try { fromCols = interactionsFromColumns(cols as never, options); } catch (e) { colErr = e; }
    // The same data as records.
    const records = c.users.map((u, k) => {
      const r: Record<string, unknown> = { user: u, item: items[k] };
      if (c.mode === 'types') r.type = c.types[k];
      if (c.mode === 'weights') r.weight = (cols.weights as ArrayLike<unknown>)[k];
      if (c.timestamps) r.timestamp = c.timestamps[k];
      return r;
    });
    let fromRecs: ReturnType<typeof interactionsFromRecords> | undefined;
    let recErr: unknown;
    try { fromRecs = interactionsFromRecords(records as never, options); } catch (e) { recErr = e; }
    if (colErr !== undefined && !(colErr instanceof PinrecError)) throw colErr;
    if (recErr !== undefined && !(recErr instanceof PinrecError)) throw recErr;
    // records built from columns only differ when the first record decides the fields differently
    const firstDecides = c.mode === 'none' || (c.mode === 'types' ? c.types[0] !== undefined && c.types.every((t) => t !== undefined)
      : (cols.weights as ArrayLike<unknown>)[0] !== undefined && Array.from(cols.weights as ArrayLike<unknown>).every((w) => w !== undefined))
      && (c.timestamps === undefined || (c.timestamps[0] !== undefined && c.timestamps.every((t) => t !== undefined)));
    if (c.lengthSkew === 0 && firstDecides) check((colErr === undefined) === (recErr === undefined), () => `columns ${colErr ? 'threw' : 'succeeded'} but records ${recErr ? `threw ${(recErr as Error).message}` : 'succeeded'}`);
    if (!fromCols) return;
    check(c.lengthSkew === 0, 'accepted mismatched column lengths');
    check(fromCols.length === n, 'log length');
    for (let k = 0; k < n; k++) {
      check(sameId(fromCols.users.id(fromCols.user[k]), c.users[k]), () => `users[${k}] maps back to another id`);
      check(sameId(fromCols.items.id(fromCols.item[k]), items[k]), () => `items[${k}] maps back to another id`);
      const w = fromCols.weight[k];
      check(Number.isFinite(w) && w >= 0, () => `weight[${k}] = ${w}`);
      if (c.mode === 'weights') check(Object.is(w, Math.fround((cols.weights as ArrayLike<number>)[k])) || w === Math.fround((cols.weights as ArrayLike<number>)[k]), () => `weight[${k}] ${w} != input`);
      if (c.mode === 'none') check(w === 1, 'default weight is 1');
    }
    if (fromRecs) {
      check(fromRecs.length === n, 'records log length');
      for (let k = 0; k < n; k++) check(fromRecs.weight[k] === fromCols.weight[k] && fromRecs.user[k] === fromCols.user[k] && fromRecs.item[k] === fromCols.item[k], 'records != columns');
    }
    let m;
    try { m = fromCols.toMatrix({ combine: c.combine as 'sum' }); } catch (e) { if (e instanceof PinrecError) return; throw e; }
    check(m.nUsers === fromCols.users.size && m.nItems === fromCols.items.size, 'matrix shape');
    check(m.nnz <= n && m.nnz >= 1, 'matrix nnz');
    const { indptr, indices } = m.csr;
    for (let r = 0; r < m.nUsers; r++) for (let p = indptr[r] + 1; p < indptr[r + 1]; p++) check(indices[p] > indices[p - 1], 'row columns not strictly increasing');
  },
};

// ---------------------------------------------------------------------------------------------------------
// Arrow readers: interactionsFromArrow, columnsFromArrow

type ColKind = 'str' | 'num' | 'bigint' | 'f64typed' | 'bool';
interface ArrowCol { kind: ColKind; values: unknown[] }
const arrowCol = (n: number, nullFreq: number): fc.Arbitrary<ArrowCol> => fc.constantFrom<ColKind>('str', 'num', 'bigint', 'f64typed', 'str', 'num', 'bool').chain((kind) => {
  const base: fc.Arbitrary<unknown> = kind === 'str' ? fc.constantFrom('a', 'b', 'click', 'save', '__proto__', '\uD800', '')
    : kind === 'num' ? fc.oneof(fc.integer({ min: -2, max: 5 }), fc.constantFrom(0.5, 1e30, NaN, Infinity))
    : kind === 'bigint' ? fc.bigInt({ min: -2n, max: 5n })
    : kind === 'bool' ? fc.boolean()
    : fc.double({ min: 0, max: 1, noNaN: true });
  const v = kind === 'f64typed' ? base : fc.oneof({ weight: nullFreq, arbitrary: fc.constant(null) }, { weight: 8, arbitrary: base });
  return fc.array(v, { minLength: n, maxLength: n }).map((values) => ({ kind, values }));
});

interface ArrowCase { n: number; cols: Record<string, ArrowCol>; names: Record<string, string | undefined> }
const arrowArb = (): fc.Arbitrary<ArrowCase> => fc.integer({ min: 1, max: 8 }).chain((n) => fc.record({
  n: fc.constant(n),
  cols: fc.dictionary(fc.constantFrom('user', 'item', 'type', 'weight', 'timestamp', 'id', 'similarity', 'quality', 'category', 'creator', 'engagements', 'impressions', 'x'),
    arrowCol(n, 1), { minKeys: 1, maxKeys: 9 }),
  names: fc.record({ user: fc.option(fc.constantFrom('user', 'id', 'nope'), { nil: undefined, freq: 4 }), item: fc.option(fc.constantFrom('item', 'x', 'nope'), { nil: undefined, freq: 4 }) }, { requiredKeys: [] }),
}));

function buildTable(c: ArrowCase) {
  const data: Record<string, unknown> = {};
  for (const [k, col] of Object.entries(c.cols)) {
    if (col.kind === 'f64typed') data[k] = Float64Array.from(col.values as number[]);
    else if (col.kind === 'bigint' && col.values.every((v) => v !== null)) data[k] = BigInt64Array.from(col.values as bigint[]);
    else data[k] = col.values;
  }
  try { return tableFromArrays(data as never); } catch { return undefined; } // arrow itself may refuse a mix
}

export const arrowEntry: EntryPoint<ArrowCase> = {
  name: 'arrow.interactionsFromArrow+columnsFromArrow',
  quickRuns: 200,
  arb: arrowArb,
  run(c) {
    const table = buildTable(c);
    if (!table) return;
    const names = Object.fromEntries(Object.entries(c.names).filter(([, v]) => v !== undefined));
    const uName = (names.user ?? 'user') as string, iName = (names.item ?? 'item') as string;
    try {
      const log = interactionsFromArrow(table as never, names);
      const read = [uName, iName, ...(c.cols.type ? ['type'] : c.cols.weight ? ['weight'] : []), ...(c.cols.timestamp ? ['timestamp'] : [])];
      for (const r of read) check(table.getChild(r)!.nullCount === 0, `accepted a null in column ${r}`);
      check(log.length === table.numRows, 'log length');
      const uCol = table.getChild(uName)!;
      for (let k = 0; k < log.length; k++) check(sameId(log.users.id(log.user[k]), uCol.get(k)), `user ${k} differs from the table`);
    } catch (e) { if (!(e instanceof PinrecError)) throw e; }
    try {
      const cols = columnsFromArrow(table);
      check(cols.ids.length === table.numRows, 'ids length');
      check(table.getChild('id')!.nullCount === 0, 'accepted null ids');
      for (const f of ['similarity', 'quality', 'engagements', 'impressions'] as const) {
        const v = table.getChild(f);
        const col = cols[f];
        if (!v || !col) continue;
        const mask = cols.present?.[f];
        for (let i = 0; i < v.length; i++) if (!v.isValid(i)) check(mask !== undefined && mask[i] === 0, `null ${f}[${i}] not marked missing`);
      }
      const b = toBatch(cols);
      check(b.n === table.numRows, 'batch n');
      rerank(cols, { limit: 5 });
    } catch (e) { if (!(e instanceof PinrecError)) throw e; }
  },
};

// ---------------------------------------------------------------------------------------------------------
// IdMap encode/decode

export const idMapEntry: EntryPoint<unknown[]> = {
  name: 'core.IdMap.encode/decode',
  quickRuns: 500,
  arb: (quick) => fc.array(fc.oneof(
    { weight: 20, arbitrary: validId(false, quick && KNOWN_BUGS.idMapLoneSurrogates) },
    { weight: quick && KNOWN_BUGS.idMapLoneSurrogates ? 0 : 3, arbitrary: loneSurrogate },
    { weight: 2, arbitrary: fc.bigInt() }, { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
    { weight: 1, arbitrary: garbage },
  ), { maxLength: 12 }),
  run(ids) {
    let m: IdMap;
    try { m = IdMap.from(ids as never); } catch (e) { if (e instanceof InvalidParameterError) return; throw e; }
    for (let i = 0; i < ids.length; i++) check(m.index(ids[i] as never) === i, 'index');
    const back = IdMap.decode(m.encode());
    check(back.size === m.size, () => `decoded ${back.size} ids, encoded ${m.size}`);
    for (let i = 0; i < m.size; i++) {
      const a = m.id(i), b = back.id(i);
      check(typeof a === typeof b && Object.is(a, b), () => `id ${i}: ${JSON.stringify(String(a))} (${typeof a}) came back as ${JSON.stringify(String(b))} (${typeof b})`);
    }
  },
};

// ---------------------------------------------------------------------------------------------------------
// Container encode/decode with byte damage

interface ContainerCase {
  kind: string; version: number; meta: unknown; sections: [string, number, number[]][];
  damage: { mode: 'none' | 'flip' | 'truncate' | 'extend' | 'reseal-bytes' | 'reseal-header'; at: number[]; bytes: number[]; header: unknown };
}
const CTORS = [Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array];
const headerGarbage = fc.constantFrom<unknown>(null, -8, -1, 1.5, 1e20, 2 ** 32, '__proto__', 'constructor', 'toString', 'f32', 'u64', {}, [], [null], [{}], { $bigint: 'x' }, { $bigint: '12' }, true);

const containerArb = (): fc.Arbitrary<ContainerCase> => fc.record({
  kind: fc.oneof(fc.string({ maxLength: 6 }), protoName),
  version: fc.integer({ min: 0, max: 3 }),
  meta: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant({ n: 12n }), fc.constant(JSON.parse('{"__proto__": {"0": 1}}'))),
  sections: fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 4 }), protoName), fc.integer({ min: 0, max: CTORS.length - 1 }), fc.array(fc.integer({ min: -100, max: 100 }), { maxLength: 9 })), { maxLength: 4 }),
  damage: fc.record({
    mode: fc.constantFrom('none' as const, 'flip' as const, 'truncate' as const, 'extend' as const, 'reseal-bytes' as const, 'reseal-header' as const, 'reseal-header' as const),
    at: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }),
    header: fc.tuple(fc.constantFrom('kind', 'version', 'meta', 'sections', 's.name', 's.dtype', 's.byteLength', 's', 'root', 'extra-section'), headerGarbage),
  }),
});

function reseal(body: Buffer): Buffer {
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

export const containerEntry: EntryPoint<ContainerCase> = {
  name: 'core.container.encode/decode',
  quickRuns: 400,
  arb: (quick) => containerArb().filter((c) => !(quick && KNOWN_BUGS.containerMalformedHeader && c.damage.mode === 'reseal-header')),
  run(c) {
    const sections: Record<string, Uint8Array> = Object.create(null);
    for (const [name, t, vals] of c.sections) {
      const C = CTORS[t] as unknown as new (a: ArrayLike<number | bigint>) => Uint8Array;
      sections[name] = new C(t >= 8 ? vals.map((v) => BigInt(t === 9 ? Math.abs(v) : v)) : vals);
    }
    const buf = encodeContainer(c.kind, c.version, c.meta, sections as never);
    const good = decodeContainer(buf, 'fuzz');
    check(good.kind === c.kind && good.version === c.version, 'round trip kind/version');
    check(good.sections.size === Object.keys(sections).length, 'round trip section count');
    for (const [name, arr] of Object.entries(sections)) {
      const got = good.sections.get(name);
      check(got !== undefined && got.constructor === arr.constructor && Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength)), `section ${name} round trip`);
    }
    let damaged: Buffer = Buffer.from(buf);
    const d = c.damage;
    if (d.mode === 'none') return;
    if (d.mode === 'flip') for (let j = 0; j < d.at.length; j++) damaged[d.at[j] % damaged.length] ^= d.bytes[j % d.bytes.length] || 1;
    else if (d.mode === 'truncate') damaged = damaged.subarray(0, d.at[0] % damaged.length);
    else if (d.mode === 'extend') damaged = Buffer.concat([damaged, Buffer.from(d.bytes)]);
    else if (d.mode === 'reseal-bytes') {
      const body = Buffer.from(damaged.subarray(0, damaged.length - 32));
      for (let j = 0; j < d.at.length; j++) body[d.at[j] % body.length] ^= d.bytes[j % d.bytes.length] || 1;
      damaged = reseal(body);
    } else {
      // structured damage to the header JSON, then a valid checksum: exercises the parser behind the checksum
      const hlen = buf.readUInt32LE(12);
      const header = JSON.parse(buf.toString('utf8', 16, 16 + hlen)) as Record<string, unknown>;
      const [where, value] = d.header as [string, unknown];
      const secs = header.sections as Record<string, unknown>[];
      if (where === 'root') Object.assign(header, { sections: value });
      else if (where === 'extra-section') secs.push({ name: 'x', dtype: 'u8', byteLength: value } as never);
      else if (where.startsWith('s')) {
        if (secs.length === 0) secs.push({ name: 'x', dtype: 'u8', byteLength: 0 });
        const i = d.at[0] % secs.length;
        if (where === 's') secs[i] = value as never;
        else secs[i][where.slice(2)] = value;
      } else header[where] = value;
      const hb = Buffer.from(JSON.stringify(header), 'utf8');
      const rest = buf.subarray(16 + hlen + ((8 - ((16 + hlen) % 8)) % 8), buf.length - 32);
      const fixed = Buffer.from(buf.subarray(0, 16));
      fixed.writeUInt32LE(hb.length, 12);
      damaged = reseal(Buffer.concat([fixed, hb, Buffer.alloc((8 - ((16 + hb.length) % 8)) % 8), rest]));
    }
    try {
      decodeContainer(damaged, 'fuzz');
    } catch (e) {
      if (e instanceof FileFormatError) return;
      throw e;
    }
    // decoding a damaged file may succeed only when the damage left it a valid container
    if (d.mode === 'flip' || d.mode === 'truncate' || d.mode === 'extend') check(damaged.equals(buf), `damaged file (${d.mode}) decoded without an error`);
  },
};
