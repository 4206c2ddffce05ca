/**
 * Redis Cluster's key → hash slot mapping (CRC16-XMODEM of the key, or of its hash tag, mod 16384), so the
 * store can tell which keys share a slot (and a master) without asking the server.
 */

/** Number of hash slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** CRC16-XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster hashes keys with. */
function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]) & 0xff];
  return crc;
}

/**
 * The hash slot of a key, as `CLUSTER KEYSLOT` computes it: when the key holds a `{` followed later by a `}`
 * with at least one byte between them, only the bytes between the first `{` and the next `}` (the hash tag)
 * are hashed; otherwise the whole key. Strings are hashed as UTF-8.
 *
 * @example
 * keySlot('pinrec:{u:ana}:seen') === keySlot('pinrec:{u:ana}:recent'); // true: same hash tag
 * keySlot('foo');                                                       // 12182, as CLUSTER KEYSLOT foo
 */
export function keySlot(key: string | Uint8Array): number {
  const b = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const open = b.indexOf(0x7b);
  if (open >= 0) {
    const close = b.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(b, open + 1, close) % CLUSTER_SLOTS;
  }
  return crc16(b, 0, b.length) % CLUSTER_SLOTS;
}
