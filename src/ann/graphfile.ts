/**
 * Structural check of hnswlib's serialised index bytes before they are handed to the native loader.
 *
 * Why: hnswlib-node's `readIndex` deletes its current graph before parsing, and when parsing throws it
 * leaves a dangling pointer that is freed again when the object is garbage-collected (a crash at a random
 * later moment). So pinrec only calls it on bytes that hnswlib will accept, and that are safe to search:
 * consistent sizes, link counts within M, neighbour ids in range, dense labels, deleted marks as recorded.
 */

const HEADER = 96; // 6 size_t, int maxlevel, u32 entry point, 3 size_t, double mult, size_t efConstruction

/** Why `bytes` is not a graph of `labels` vectors of dimension `dim` built with `M`, or null when it is. */
export function checkGraphBytes(bytes: Uint8Array, dim: number, M: number, labels: number, deleted: ReadonlySet<number>): string | null {
  if (bytes.byteLength < HEADER) return `graph is too short (${bytes.byteLength} bytes)`;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u64 = (o: number) => {
    const x = v.getBigUint64(o, true);
    return x > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(x);
  };
  const offsetLevel0 = u64(0), maxElements = u64(8), count = u64(16), sizePerElement = u64(24);
  const labelOffset = u64(32), offsetData = u64(40), maxLevel = v.getInt32(48, true), entry = v.getUint32(52, true);
  const maxM = u64(56), maxM0 = u64(64), m = u64(72), mult = v.getFloat64(80, true);
  const linksLevel0 = maxM0 * 4 + 4, linksUpper = maxM * 4 + 4;
  if (offsetLevel0 !== 0 || m !== M || maxM !== M || maxM0 !== 2 * M) return 'graph header does not match M';
  if (offsetData !== linksLevel0 || labelOffset !== linksLevel0 + dim * 4 || sizePerElement !== linksLevel0 + dim * 4 + 8) {
    return 'graph element layout does not match the dimension';
  }
  if (count !== labels || maxElements < count || maxElements > 0xffffffff) return 'graph element count does not match the id table';
  if (count > 0xffffffff / 2) return 'graph is larger than pinrec loads';
  if (!(mult > 0) || !Number.isFinite(mult)) return 'graph level multiplier is invalid';
  if (count > 0 ? (entry >= count || maxLevel < 0 || maxLevel > 64) : maxLevel > 0) return 'graph entry point is invalid';
  let pos = HEADER + count * sizePerElement;
  if (pos > bytes.byteLength) return 'graph is truncated';
  // Upper levels first: each node's level and where its links start, so that every link can be checked
  // against the level of the node it points to (hnswlib reads a neighbour's links at the same level).
  const level = new Int32Array(count);
  const upperAt = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    if (pos + 4 > bytes.byteLength) return 'graph upper levels are truncated';
    const size = v.getUint32(pos, true);
    pos += 4;
    if (size % linksUpper !== 0 || size / linksUpper > maxLevel) return `graph node ${i} has an invalid upper-level size`;
    if (pos + size > bytes.byteLength) return 'graph upper levels are truncated';
    level[i] = size / linksUpper;
    upperAt[i] = pos;
    pos += size;
  }
  if (count > 0) {
    let top = 0;
    for (let i = 0; i < count; i++) if (level[i] > top) top = level[i];
    if (top !== maxLevel) return `graph max level ${maxLevel} disagrees with its nodes (${top})`;
    if (level[entry] !== maxLevel) return `graph entry point ${entry} is not on the top level`;
  }
  const seen = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const base = HEADER + i * sizePerElement;
    const n = v.getUint16(base, true);
    if (n > maxM0) return `graph node ${i} has too many links`;
    for (let j = 0; j < n; j++) if (v.getUint32(base + 4 + 4 * j, true) >= count) return `graph node ${i} links out of range`;
    const isDeleted = (v.getUint8(base + 2) & 1) === 1;
    const label = u64(base + labelOffset);
    if (label < 0 || label >= count || seen[label] === 1) return `graph node ${i} has an invalid label`;
    seen[label] = 1;
    if (isDeleted !== deleted.has(label)) return `graph deleted marks disagree with the deleted list (label ${label})`;
    for (let l = 0; l < level[i]; l++) {
      const o = upperAt[i] + l * linksUpper;
      const k = v.getUint16(o, true);
      if (k > maxM) return `graph node ${i} has too many upper-level links`;
      for (let j = 0; j < k; j++) {
        const t = v.getUint32(o + 4 + 4 * j, true);
        if (t >= count) return `graph node ${i} upper-level links out of range`;
        if (level[t] < l + 1) return `graph node ${i} links on level ${l + 1} to node ${t}, which has no such level`;
      }
    }
  }
  if (pos !== bytes.byteLength) return 'graph has trailing bytes';
  return null;
}

/**
 * A copy of checked graph bytes whose capacity field (`maxElements`) is the element count: hnswlib allocates
 * `maxElements` slots when it reads a graph, so this bounds the memory a load can claim by the file's own
 * size (a 316 KB file can no longer ask for 938 MB). The index grows again as items are added.
 */
export function withCapacityOfCount(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const count = v.getBigUint64(16, true);
  v.setBigUint64(8, count > 0n ? count : 1n, true);
  return out;
}
