// A small fast non-crypto string hash (FNV-1a 32-bit + murmur3 finaliser) for affinity.

const FNV_OFFSET = 0x811c9dc5
const FNV_PRIME = 0x01000193

/**
 * Hashes a string to an unsigned 32-bit integer. Works on UTF-16 code units rather than UTF-8
 * bytes: nothing outside this process has to agree with it, and it saves an encode per call.
 */
export function hashString(value: string): number {
  let h = FNV_OFFSET
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i)
    h = Math.imul(h, FNV_PRIME)
  }
  return mix32(h)
}

/**
 * MurmurHash3's fmix32: avalanches every input bit over the output. FNV-1a alone leaves short,
 * similar keys ('user-1', 'user-2') with correlated high bits, and mixing two hashes by XOR
 * (as rendezvous scoring does) needs a finaliser to look random again.
 */
export function mix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
