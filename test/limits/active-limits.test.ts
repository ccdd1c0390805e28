// Limit sets in the limiter's one shape: whatever the config or a stored key names, the
// limiter gets the same three fields in the same order (one hidden class for V8), and no set
// at all when nothing is limited.
import { describe, expect, it } from 'vitest'
import { activeLimits, ConfigLimits } from '../../src/limits/active-limits.js'

describe('activeLimits', () => {
  it('gives every set the same three fields, in one order, with their values', () => {
    const sets = [{ requests_per_minute: 60 }, { tokens_per_minute: 1000 }, { concurrency: 2, requests_per_minute: 5 }]
    const shaped = sets.map((s) => activeLimits(s)!)
    for (const s of shaped) expect(Object.keys(s)).toEqual(['requests_per_minute', 'tokens_per_minute', 'concurrency'])
    expect(shaped.map((s) => [s.requests_per_minute, s.tokens_per_minute, s.concurrency])).toEqual([
      [60, undefined, undefined],
      [undefined, 1000, undefined],
      [5, undefined, 2],
    ])
  })

  it('gives no set when nothing is limited', () => {
    expect(activeLimits(undefined)).toBeUndefined()
    expect(activeLimits({})).toBeUndefined()
  })
})

describe('ConfigLimits', () => {
  it('keeps the per-IP set and only the models that limit something', () => {
    const c = new ConfigLimits({ per_ip: { concurrency: 4 }, per_model: { a: { tokens_per_minute: 10 }, b: {} } })
    expect(c.perIp?.concurrency).toBe(4)
    expect([...c.perModel.keys()]).toEqual(['a'])
    expect(c.perModel.get('a')?.tokens_per_minute).toBe(10)
    expect(new ConfigLimits({ per_ip: {}, per_model: {} }).perIp).toBeUndefined()
  })
})
