/**
 * Complete structural check of usearch's serialised index bytes (`index_dense_gt::save`, usearch 2.x, `f32`
 * vectors, `u64` keys, `u32` slots, 32-bit matrix dimensions) before they are handed to the native loader.
 *
 * Why: usearch's loader trusts the file. It takes the metric and dimension from the file's own header, sizes
 * each node from a separate level table, and its searches read neighbour lists of the nodes they reach at the
 * level they are on — so a neighbour count above the list's capacity, a neighbour id past the end, a node
 * linked on a level it does not have, an entry point below the top level, or a level table that disagrees with
 * the node heads make it read outside its buffers (a crash, or garbage, at a random later moment). pinrec only
 * calls the loader on bytes that pass every check below; anything else is reported as a reason string, which
 * the caller turns into a `FileFormatError`.
 *
 * Layout (all little-endian), with what is checked:
 *
 * 1. Vector matrix: `u32 rows, u32 cols`, then `rows` vectors of `cols` bytes in slot order. `cols` must be
 *    `dim · 4` (f32) and `rows` the graph's node count; every component finite and at most `bound` in
 *    magnitude (so no distance overflows float32), and live vectors of a cosine index of unit length.
 * 2. Dense header, 64 bytes: magic `usearch`, `u16` version major/minor/patch (major 2, minor ≥ 10: older
 *    files take a different native path), `u8` metric kind (`'i'` inner product for cosine and ip, `'e'`
 *    squared Euclidean for l2), scalar kind 11 (f32), key kind 14 (u64), slot kind 15 (u32), `u64` present
 *    count (the live labels), `u64` deleted count (the free slots), `u64` dimensions (`dim`), `u8` multi (0).
 *    The remaining 22 bytes are padding the loader never reads.
 * 3. Graph header, 40 bytes: `u64` size (= rows), connectivity (= M), base connectivity (= 2·M), max level,
 *    entry slot. An empty graph (size 0) must end there.
 * 4. Level table: `size` × `i16`, each in `[0, max level]`; the highest equals the max level and the entry
 *    slot is on it.
 * 5. Nodes, in slot order: `u64` key, `i16` level (equal to the table's), then the base list
 *    (`u32` count ≤ 2·M, 2·M `u32` slots) and one list per upper level (`u32` count ≤ M, M `u32` slots).
 *    Every listed slot is `< size`, and on level `l ≥ 1` it names a node whose level is at least `l`. A key is
 *    either usearch's free marker (2^64 − 1, a removed node kept in the graph) or a live label: `< labels`,
 *    not in the deleted list, and never twice; the live keys are exactly the labels not deleted.
 * 6. Nothing after the last node.
 *
 * Self-links and a slot listed twice in one list are accepted: usearch's traversals keep a visited set, so
 * they cost nothing, and a multi-threaded build can produce a self-link legitimately. Slots past a list's
 * count are never read by usearch and are not checked.
 */
import { maxComponent } from './vectors.js';

/** What a file must agree with: the container's header and id table. */
export interface UsearchFileExpect {
  /** The index's metric: usearch stores cosine indexes as inner product over normalised vectors. */
  metric: 'cosine' | 'ip' | 'l2';
  dim: number;
  M: number;
  /** Labels in the id table (live + deleted). */
  labels: number;
  /** Deleted labels (not in the graph). */
  deleted: ReadonlySet<number>;
  /** How the vectors are stored. @default 'f32' */
  quantization?: 'f32' | 'f16';
}

/** What a checked file holds, for the caller to rebuild its JS-side state. */
export interface UsearchFileLayout {
  /** Graph nodes (live + removed slots). */
  size: number;
  /** Per slot, the label stored there, or -1 for a removed slot. */
  slotLabel: Float64Array;
  /** The vector matrix, `size × dim` floats in slot order (a copy). */
  vectors: Float32Array;
}

/** usearch's key for a removed slot (`default_free_value<u64>`). */
const FREE_KEY = 0xffffffffffffffffn;
const DENSE_HEAD = 64;
const GRAPH_HEAD = 40;
const NODE_HEAD = 10; // u64 key + i16 level
const METRIC_IP = 0x69; // 'i'
const METRIC_L2SQ = 0x65; // 'e'
const SCALAR_F32 = 11, SCALAR_F16 = 12, SCALAR_U64 = 14, SCALAR_U32 = 15;

/** A half-precision value (IEEE 754 binary16 bits) as a number. */
function f16(h: number): number {
  const e = (h >> 10) & 0x1f, f = h & 0x3ff, sign = h & 0x8000 ? -1 : 1;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 31) return f === 0 ? sign * Infinity : NaN;
  return sign * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * Why `bytes` is not a usearch index matching `expect`, or its layout when it is.
 *
 * @example
 * const r = checkUsearchBytes(bytes, { metric: 'l2', dim: 8, M: 16, labels: 100, deleted: new Set() });
 * if (typeof r === 'string') throw new FileFormatError(file, r);
 */
export function checkUsearchBytes(bytes: Uint8Array, expect: UsearchFileExpect): UsearchFileLayout | string {
  const { dim, M, labels, deleted } = expect;
  const half = expect.quantization === 'f16';
  const esize = half ? 2 : 4;
  const len = bytes.byteLength;
  const v = new DataView(bytes.buffer, bytes.byteOffset, len);
  const u64 = (o: number): number => {
    const x = v.getBigUint64(o, true);
    return x > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(x);
  };
  if (len < 8) return `usearch index is too short (${len} bytes)`;
  const rows = v.getUint32(0, true), cols = v.getUint32(4, true);
  if (cols !== dim * esize) return `usearch vector rows are ${cols} bytes, expected ${dim * esize} (dim ${dim}, ${half ? 'f16' : 'f32'})`;
  const headAt = 8 + rows * cols;
  if (headAt + DENSE_HEAD + GRAPH_HEAD > len) return 'usearch index is truncated (vectors or headers)';

  // 2. dense header
  const h = headAt;
  for (let i = 0; i < 7; i++) if (bytes[h + i] !== 'usearch'.charCodeAt(i)) return 'usearch index header has no "usearch" magic';
  const major = v.getUint16(h + 7, true), minor = v.getUint16(h + 9, true);
  if (major !== 2 || minor < 10) return `usearch index version ${major}.${minor} is not read (this build reads 2.10 and later 2.x)`;
  const wantMetric = expect.metric === 'l2' ? METRIC_L2SQ : METRIC_IP;
  if (bytes[h + 13] !== wantMetric) return `usearch index metric kind ${bytes[h + 13]} does not match the header's metric ${expect.metric}`;
  if (bytes[h + 14] !== (half ? SCALAR_F16 : SCALAR_F32) || bytes[h + 15] !== SCALAR_U64 || bytes[h + 16] !== SCALAR_U32) {
    return `usearch index scalar, key or slot kind is not ${half ? 'f16' : 'f32'} / u64 / u32`;
  }
  const present = u64(h + 17), freeCount = u64(h + 25), dims = u64(h + 33);
  if (dims !== dim) return `usearch index dimensions ${dims} do not match dim ${dim}`;
  if (bytes[h + 41] !== 0) return 'usearch index is a multi-key index';

  // 3. graph header
  const g = h + DENSE_HEAD;
  const size = u64(g), conn = u64(g + 8), connBase = u64(g + 16), maxLevelRaw = u64(g + 24), entry = u64(g + 32);
  if (size !== rows) return `usearch graph size ${size} does not match the ${rows} stored vectors`;
  if (conn !== M || connBase !== 2 * M) return `usearch graph connectivity ${conn}/${connBase} does not match M ${M} (base 2·M)`;
  if (present < 0 || freeCount < 0 || present + freeCount !== size) return 'usearch index present and deleted counts disagree with its size';
  if (present !== labels - deleted.size) return `usearch index holds ${present} live vectors, the id table ${labels - deleted.size}`;
  if (size >= 0xffffffff) return 'usearch graph is larger than pinrec loads';
  let pos = g + GRAPH_HEAD;
  if (size === 0) {
    if (pos !== len) return 'usearch graph has trailing bytes';
    return { size: 0, slotLabel: new Float64Array(0), vectors: new Float32Array(0) };
  }
  if (maxLevelRaw < 0 || maxLevelRaw > 0x7fff) return `usearch graph max level ${maxLevelRaw} is invalid`;
  if (entry < 0 || entry >= size) return `usearch graph entry slot ${entry} is out of range`;

  // 4. level table
  if (pos + 2 * size > len) return 'usearch graph level table is truncated';
  const level = new Int16Array(size);
  let top = 0;
  for (let i = 0; i < size; i++) {
    const l = v.getInt16(pos + 2 * i, true);
    if (l < 0 || l > maxLevelRaw) return `usearch graph node ${i} has level ${l}, outside [0, ${maxLevelRaw}]`;
    level[i] = l;
    if (l > top) top = l;
  }
  pos += 2 * size;
  if (top !== maxLevelRaw) return `usearch graph max level ${maxLevelRaw} disagrees with its nodes (${top})`;
  if (level[entry] !== maxLevelRaw) return `usearch graph entry slot ${entry} is not on the top level`;

  // 5. nodes
  const baseBytes = 4 + 4 * connBase, upperBytes = 4 + 4 * conn;
  const slotLabel = new Float64Array(size);
  const seen = new Uint8Array(labels);
  let live = 0, free = 0;
  for (let i = 0; i < size; i++) {
    const lv = level[i];
    const nodeBytes = NODE_HEAD + baseBytes + lv * upperBytes;
    if (pos + nodeBytes > len) return 'usearch graph nodes are truncated';
    const key = v.getBigUint64(pos, true);
    if (v.getInt16(pos + 8, true) !== lv) return `usearch graph node ${i} level disagrees with the level table`;
    if (key === FREE_KEY) {
      slotLabel[i] = -1;
      free++;
    } else {
      if (key >= BigInt(labels)) return `usearch graph node ${i} has key ${key}, not a label of the id table`;
      const label = Number(key);
      if (seen[label] === 1) return `usearch graph holds label ${label} twice`;
      if (deleted.has(label)) return `usearch graph holds label ${label}, which the deleted list says is deleted`;
      seen[label] = 1;
      slotLabel[i] = label;
      live++;
    }
    let o = pos + NODE_HEAD;
    const n0 = v.getUint32(o, true);
    if (n0 > connBase) return `usearch graph node ${i} has ${n0} base links (at most ${connBase})`;
    for (let j = 0; j < n0; j++) if (v.getUint32(o + 4 + 4 * j, true) >= size) return `usearch graph node ${i} base links out of range`;
    o += baseBytes;
    for (let l = 1; l <= lv; l++, o += upperBytes) {
      const n = v.getUint32(o, true);
      if (n > conn) return `usearch graph node ${i} has ${n} links on level ${l} (at most ${conn})`;
      for (let j = 0; j < n; j++) {
        const t = v.getUint32(o + 4 + 4 * j, true);
        if (t >= size) return `usearch graph node ${i} links out of range on level ${l}`;
        if (level[t] < l) return `usearch graph node ${i} links on level ${l} to node ${t}, which has no such level`;
      }
    }
    pos += nodeBytes;
  }
  // 6.
  if (pos !== len) return 'usearch graph has trailing bytes';
  if (live !== present || free !== freeCount) return 'usearch graph keys disagree with its present and deleted counts';

  // 1. vectors (checked last: the cheapest rejections come first)
  const vectors = new Float32Array(size * dim);
  if (half) for (let t = 0; t < size * dim; t++) vectors[t] = f16(v.getUint16(8 + 2 * t, true));
  else new Uint8Array(vectors.buffer).set(bytes.subarray(8, 8 + size * cols));
  const bound = expect.metric === 'cosine' ? 1.0001 : maxComponent(dim);
  for (let i = 0; i < size; i++) {
    const off = i * dim;
    let sq = 0;
    for (let j = 0; j < dim; j++) {
      const x = vectors[off + j];
      if (!(x <= bound && x >= -bound)) return `usearch vector of slot ${i} has component ${j} = ${x} (not finite, or above ${bound.toPrecision(3)} in magnitude)`;
      sq += x * x;
    }
    if (expect.metric === 'cosine' && slotLabel[i] >= 0 && Math.abs(sq - 1) > (half ? 4e-3 : 1e-3)) return `usearch vector of slot ${i} is not of unit length under cosine`;
  }
  return { size, slotLabel, vectors };
}
