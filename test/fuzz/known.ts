/**
 * Bugs the fuzz found that are not fixed yet (see the fuzz report). The quick suite in `npm test` steers its
 * inputs around them so it stays green; the long mode (`npm run fuzz`) always exercises them and counts them.
 * When a bug is fixed, set its flag to false: the quick suite then covers those inputs again.
 */
export const KNOWN_BUGS = {
  /** IdMap.encode writes strings as UTF-8, so lone surrogates come back as U+FFFD (or collide). */
  idMapLoneSurrogates: false, // fixed in src/core/ids.ts (tag 4, UTF-16LE)
  /** HnswIndex (cosine) leaves normalisation to hnswlib's float32 code: |x| ~1e20+ stores a zero vector, tiny ones are not normalised. */
  hnswCosineExtremeMagnitudes: false,
  /** A bigint value in Candidate.features throws a TypeError in toBatch. */
  bigintFeature: false,
  /** checkCaps([null]) throws a TypeError. */
  checkCapsNullItem: false,
  /** decodeContainer trusts the (checksummed) header: a null section or a negative byteLength gives a TypeError/RangeError. */
  containerMalformedHeader: false,
};
