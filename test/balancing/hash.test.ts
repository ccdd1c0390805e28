import { describe, expect, it } from 'vitest'
import { hashString, mix32 } from '../../src/balancing/hash.js'
import { chiSquareUniform } from '../suites/balance-fixtures.js'

describe('hashString', () => {
  it('is a stable unsigned 32-bit value', () => {
    for (const s of ['', 'a', 'session-1', 'ünïcode ✓', 'x'.repeat(10_000)]) {
      const h = hashString(s)
      expect(h).toBe(hashString(s))
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true)
    }
  })

  it('separates near-identical keys', () => {
    const seen = new Set<number>()
    for (let i = 0; i < 10_000; i++) seen.add(hashString(`user-${i}`))
    expect(seen.size).toBe(10_000)
  })

  it('fills buckets evenly from sequential keys', () => {
    const ids = Array.from({ length: 16 }, (_, i) => String(i))
    const counts = new Map<string, number>()
    for (let i = 0; i < 16_000; i++) {
      // Top bits: FNV-1a without the finaliser is weakest there on short keys.
      const bucket = String(hashString(`user-${i}`) >>> 28)
      counts.set(bucket, (counts.get(bucket) ?? 0) + 1)
    }
    // df = 15: p = 0.001 is at 37.7.
    expect(chiSquareUniform(counts, ids)).toBeLessThan(50)
  })
})

describe('mix32', () => {
  it('flips about half the output bits for a one-bit input change', () => {
    let flipped = 0
    for (let i = 0; i < 1000; i++) {
      const d = (mix32(i) ^ mix32(i ^ 1)) >>> 0
      flipped += d.toString(2).replaceAll('0', '').length
    }
    expect(flipped / 1000).toBeGreaterThan(12)
    expect(flipped / 1000).toBeLessThan(20)
  })
})
