import { describe, expect, it } from 'vitest'
import { formatReset, pushRateLimitHeaders } from '../../src/limits/rate-limit-headers.js'
import type { Check } from '../../src/limits/store.js'

describe('OpenAI rate-limit headers', () => {
  it('formats reset times as OpenAI does', () => {
    expect(formatReset(0)).toBe('0ms')
    expect(formatReset(20)).toBe('20ms')
    expect(formatReset(1000)).toBe('1s')
    expect(formatReset(1500)).toBe('1.5s')
    expect(formatReset(360_000)).toBe('6m0s')
    expect(formatReset(3_723_500)).toBe('1h2m3.5s')
  })

  it('reports the tightest request and token limits', () => {
    const rate = (id: string, dim: 'requests' | 'tokens', limit: number): Check => ({ kind: 'rate', id, dim, limit, periodMs: 60_000, cost: 1 })
    const checks: Check[] = [
      rate('key', 'requests', 60),
      rate('ip', 'requests', 600),
      { kind: 'concurrency', id: 'c', dim: 'concurrency', limit: 2, ttlMs: 1 },
      rate('model', 'tokens', 1000),
    ]
    const out: string[] = []
    pushRateLimitHeaders(out, checks, [
      { ok: true, remaining: 59, resetMs: 1000 },
      { ok: true, remaining: 10, resetMs: 59_000 },
      { ok: true, remaining: 1, resetMs: 0 },
      { ok: true, remaining: 900, resetMs: 6000 },
    ])
    expect(out).toEqual([
      'x-ratelimit-limit-requests', '600', 'x-ratelimit-remaining-requests', '10', 'x-ratelimit-reset-requests', '59s',
      'x-ratelimit-limit-tokens', '1000', 'x-ratelimit-remaining-tokens', '900', 'x-ratelimit-reset-tokens', '6s',
    ])
  })
})
