/**
 * The 32-bit hash placement puts on its ring: FNV-1a over the string's UTF-16
 * code units, then MurmurHash3's 32-bit finalizer. FNV-1a alone spreads
 * short keys that differ in their last characters (`cam1`, `cam2`, `node#7`)
 * poorly across the high bits a ring is ordered by; the finalizer makes every
 * input bit reach every output bit. Neither is cryptographic: keys and node
 * ids come from the config and registered nodes, not from a party who could
 * gain by choosing colliding names. A node:crypto SHA-1 of the same strings
 * costs several times more per key (loadtests/mesh measures both).
 */

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** An unsigned 32-bit hash of `text`, the same in every process and on every run. */
export function hash32(text: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, FNV_PRIME);
  }
  return mix32(hash);
}

/** MurmurHash3's fmix32: an invertible mix of a 32-bit value, unsigned result. */
export function mix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
