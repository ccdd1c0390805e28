import { performance } from 'node:perf_hooks'
import { describe, expect, it } from 'vitest'
import { isPremature, tooManyPremature } from '../../src/server/premature-resets.js'

const limits = { http2PrematureResetStreams: 200, http2PrematureResetLifetime: 1000 }

describe('premature resets (Envoy premature_reset_total_stream_count)', () => {
  it('before the stream count, trips once premature resets reach half of it', () => {
    expect(tooManyPremature(99, 99, limits)).toBe(false)
    expect(tooManyPremature(100, 100, limits)).toBe(true)
    expect(tooManyPremature(150, 100, limits)).toBe(true)
  })

  it('from the stream count on, trips at a 50% share', () => {
    expect(tooManyPremature(400, 199, limits)).toBe(false)
    expect(tooManyPremature(400, 200, limits)).toBe(true)
    expect(tooManyPremature(10_000, 99, limits)).toBe(false)
  })

  it('0 turns it off', () => {
    expect(tooManyPremature(1000, 1000, { ...limits, http2PrematureResetStreams: 0 })).toBe(false)
  })

  it('a stream is premature when it closes young without an answer', () => {
    const now = performance.now()
    expect(isPremature({ headersSent: false }, now, limits)).toBe(true)
    expect(isPremature({ headersSent: true }, now, limits)).toBe(false)
    expect(isPremature({ headersSent: false }, now - 1500, limits)).toBe(false)
  })
})
