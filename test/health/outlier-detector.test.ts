import { describe, expect, it } from 'vitest'
import { OutlierDetector, DEFAULT_COOLDOWN_MS, MAX_EJECTION_MS } from '../../src/health/outlier-detector.js'
import type { AttemptOutcome } from '../../src/routing/upstream.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { makeUpstreams } from '../helpers/upstreams.js'

const config = { consecutive_failures: 5, base_ejection_time: 30_000, max_ejection_percent: 50 }

function setup(n = 4, cfg = config) {
  const clock = new ManualClock()
  const members = makeUpstreams(n)
  const detector = new OutlierDetector({ members }, cfg, clock)
  const hit = (i: number, outcome: AttemptOutcome, times = 1, retryAfter = 0) => {
    for (let k = 0; k < times; k++) detector.observe(members[i]!, outcome, retryAfter)
  }
  return { clock, members, detector, hit }
}

describe('OutlierDetector', () => {
  it('ejects after 5 consecutive failures of any upstream kind, for base_ejection_time', () => {
    for (const kind of ['http_error', 'connect_error', 'timeout', 'broken'] as const) {
      const { clock, members, hit } = setup()
      hit(0, kind, 4)
      expect(members[0]!.state(clock.now())).toBe('healthy')
      hit(0, kind)
      expect(members[0]!.state(clock.now())).toBe('ejected')
      expect(members[0]!.ejectedUntil).toBe(clock.now() + 30_000)
      clock.advance(29_999)
      expect(members[0]!.isUp(clock.now())).toBe(false)
      clock.advance(1)
      expect(members[0]!.isUp(clock.now())).toBe(true)
    }
  })

  it('a success or a 4xx resets the streak; cancelled and client errors never count', () => {
    const { clock, members, hit } = setup()
    hit(0, 'http_error', 4)
    hit(0, 'success')
    hit(0, 'http_error', 4)
    hit(0, 'client_error')
    hit(0, 'client_error', 20)
    hit(0, 'http_error', 4)
    hit(0, 'cancelled', 20)
    expect(members[0]!.isUp(clock.now())).toBe(true)
    hit(0, 'connect_error') // the 5th in a row: cancelled ones in between did not reset it
    expect(members[0]!.isUp(clock.now())).toBe(false)
  })

  it('each further ejection lasts base × times ejected, capped', () => {
    const { clock, members, detector, hit } = setup()
    const u = members[0]!
    hit(0, 'http_error', 5)
    expect(u.ejectedUntil - clock.now()).toBe(30_000)
    clock.advance(30_000)
    hit(0, 'http_error', 5)
    expect(u.ejectedUntil - clock.now()).toBe(60_000)
    clock.advance(60_000)
    hit(0, 'http_error', 5)
    expect(u.ejectedUntil - clock.now()).toBe(90_000)
    expect(detector.timesEjected(u)).toBe(3)
    for (let i = 0; i < 20; i++) {
      clock.advance(u.ejectedUntil - clock.now())
      hit(0, 'http_error', 5)
    }
    expect(u.ejectedUntil - clock.now()).toBe(MAX_EJECTION_MS)
  })

  it('the multiplier decays while the upstream behaves', () => {
    const { clock, members, detector, hit } = setup()
    const u = members[0]!
    hit(0, 'http_error', 5)
    clock.advance(30_000)
    hit(0, 'http_error', 5)
    expect(detector.timesEjected(u)).toBe(2)
    // Back at ejectedUntil; two quiet base periods later the count is back to 0, then +1.
    clock.advance(60_000 + 60_000)
    hit(0, 'http_error', 5)
    expect(detector.timesEjected(u)).toBe(1)
    expect(u.ejectedUntil - clock.now()).toBe(30_000)
  })

  it('failures of requests still finishing on an ejected upstream are not counted', () => {
    const { clock, members, detector, hit } = setup()
    hit(0, 'http_error', 5)
    hit(0, 'http_error', 50)
    expect(detector.timesEjected(members[0]!)).toBe(1)
    clock.advance(30_000)
    hit(0, 'http_error', 4)
    expect(members[0]!.isUp(clock.now())).toBe(true)
  })

  it('never ejects more than max_ejection_percent of the pool', () => {
    const { clock, members, hit } = setup(4)
    for (let i = 0; i < 4; i++) hit(i, 'connect_error', 5)
    expect(members.filter((u) => !u.isUp(clock.now()))).toHaveLength(2)
    // The streak goes on, so the next failure after a slot frees up ejects at once.
    clock.advance(30_000)
    expect(members.filter((u) => !u.isUp(clock.now()))).toHaveLength(0)
    hit(2, 'connect_error')
    hit(3, 'connect_error')
    expect(members.filter((u) => !u.isUp(clock.now())).map((u) => u.id)).toEqual(['u2', 'u3'])
  })

  it('with three upstreams and 50%, only one is ejected at a time', () => {
    const { clock, members, hit } = setup(3)
    for (let i = 0; i < 3; i++) hit(i, 'http_error', 5)
    expect(members.filter((u) => !u.isUp(clock.now()))).toHaveLength(1)
  })

  it('a single-upstream pool is never ejected at 50% (panic would route to it anyway)', () => {
    const { clock, members, hit } = setup(1)
    hit(0, 'http_error', 50)
    expect(members[0]!.isUp(clock.now())).toBe(true)
    const full = setup(1, { ...config, max_ejection_percent: 100 })
    full.hit(0, 'http_error', 5)
    expect(full.members[0]!.isUp(full.clock.now())).toBe(false)
  })

  it('a 429 puts the upstream in cooldown for its Retry-After', () => {
    const { clock, members, hit } = setup()
    const u = members[1]!
    hit(1, 'rate_limited', 1, 7_000)
    expect(u.state(clock.now())).toBe('cooling-down')
    expect(u.cooldownUntil).toBe(clock.now() + 7_000)
    clock.advance(6_999)
    expect(u.isUp(clock.now())).toBe(false)
    clock.advance(1)
    expect(u.isUp(clock.now())).toBe(true)
    // No Retry-After: a short default cooldown. 429s never count towards ejection.
    hit(1, 'rate_limited', 10)
    expect(u.cooldownUntil).toBe(clock.now() + DEFAULT_COOLDOWN_MS)
    expect(u.ejectedUntil).toBe(0)
  })

  it('a shorter Retry-After never cuts an existing cooldown short', () => {
    const { clock, members, hit } = setup()
    hit(0, 'rate_limited', 1, 10_000)
    hit(0, 'rate_limited', 1, 1_000)
    expect(members[0]!.cooldownUntil).toBe(clock.now() + 10_000)
  })

  it('records carry over to a new detector (a reload)', () => {
    const { members, detector, hit } = setup()
    hit(0, 'http_error', 4)
    const next = new OutlierDetector({ members }, config, new ManualClock(), detector.records)
    next.observe(members[0]!, 'http_error', 0)
    expect(next.timesEjected(members[0]!)).toBe(1)
  })
})
