import { describe, expect, it } from 'vitest'
import { retryAfterMs } from '../../src/resilience/retry-after.js'

describe('retryAfterMs', () => {
  it('reads Retry-After in seconds or as an HTTP date', () => {
    expect(retryAfterMs({ 'retry-after': '7' })).toBe(7000)
    expect(retryAfterMs({ 'retry-after': '0.5' })).toBe(500)
    const inTen = new Date(Date.now() + 10_000).toUTCString()
    expect(retryAfterMs({ 'retry-after': inTen })).toBeGreaterThan(8_000)
    expect(retryAfterMs({ 'retry-after': new Date(Date.now() - 60_000).toUTCString() })).toBe(0)
  })

  it("falls back to OpenAI's x-ratelimit-reset-* durations", () => {
    expect(retryAfterMs({ 'x-ratelimit-reset-requests': '6m0s' })).toBe(360_000)
    expect(retryAfterMs({ 'x-ratelimit-reset-tokens': '1h2m3.5s' })).toBe(3_723_500)
    expect(retryAfterMs({ 'x-ratelimit-reset-requests': '20ms' })).toBe(20)
  })

  it("reads Azure OpenAI's retry-after-ms first, as the openai SDKs do", () => {
    expect(retryAfterMs({ 'retry-after-ms': '6000' })).toBe(6000)
    expect(retryAfterMs({ 'retry-after-ms': '1500', 'retry-after': '2' })).toBe(1500)
    // Unusable: the next header decides.
    expect(retryAfterMs({ 'retry-after-ms': 'soon', 'retry-after': '2' })).toBe(2000)
    expect(retryAfterMs({ 'retry-after-ms': '', 'retry-after': '3' })).toBe(3000)
    expect(retryAfterMs({ 'retry-after-ms': '-5', 'retry-after': '3' })).toBe(3000)
  })

  it('is 0 when nothing usable is there', () => {
    expect(retryAfterMs({})).toBe(0)
    expect(retryAfterMs({ 'retry-after': 'soon' })).toBe(0)
  })
})
