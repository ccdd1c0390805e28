import { describe, expect, it } from 'vitest'
import { figuresText, formatReset, pushFigures, pushRateLimitHeaders, type RateLimitFigures } from '../../src/limits/rate-limit-headers.js'
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

  it('as head lines, says what the header list says, whichever limits come in turn', () => {
    const cases: RateLimitFigures[] = [
      { requestsLimit: 60, requestsRemaining: 59, requestsResetMs: 1000, tokensLimit: 1000, tokensRemaining: 900, tokensResetMs: 6000 },
      { requestsLimit: 60, requestsRemaining: 58, requestsResetMs: 2000, tokensLimit: -1, tokensRemaining: 0, tokensResetMs: 0 },
      { requestsLimit: 600, requestsRemaining: 10, requestsResetMs: 59_000, tokensLimit: 1000, tokensRemaining: 0, tokensResetMs: 3_723_500 },
      { requestsLimit: -1, requestsRemaining: 0, requestsResetMs: 0, tokensLimit: 2000, tokensRemaining: 1999, tokensResetMs: 20 },
      { requestsLimit: 60, requestsRemaining: 0, requestsResetMs: 0, tokensLimit: 1000, tokensRemaining: 1, tokensResetMs: 999 },
      { requestsLimit: -1, requestsRemaining: 0, requestsResetMs: 0, tokensLimit: -1, tokensRemaining: 0, tokensResetMs: 0 },
    ]
    for (const f of cases) {
      const list: string[] = []
      pushFigures(f, list)
      let expected = ''
      for (let i = 0; i < list.length; i += 2) expected += `${list[i]}: ${list[i + 1]}\r\n`
      expect(figuresText(f)).toBe(expected)
    }
    expect(figuresText(cases[0]!)).toBe(
      'x-ratelimit-limit-requests: 60\r\nx-ratelimit-remaining-requests: 59\r\nx-ratelimit-reset-requests: 1s\r\n' +
        'x-ratelimit-limit-tokens: 1000\r\nx-ratelimit-remaining-tokens: 900\r\nx-ratelimit-reset-tokens: 6s\r\n'
    )
  })
})
