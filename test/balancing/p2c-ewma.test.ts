import { describe, expect, it } from 'vitest'
import { p2cEwma } from '../../src/balancing/p2c-ewma.js'
import { balancerSuite } from '../suites/balancer.suite.js'
import {
  acceptAll,
  acceptWhere,
  chiSquareUniform,
  makeTargets,
  seededRandom,
  tally,
  type TestTarget,
} from '../suites/balance-fixtures.js'

balancerSuite('p2c-ewma', p2cEwma)

function withLatency(latency: Record<string, number>): TestTarget[] {
  return Object.entries(latency).map(([id, latencyEwma]) => ({
    id,
    weight: 1,
    inflight: 0,
    latencyEwma,
  }))
}

describe('p2c-ewma', () => {
  it('sends almost everything to the fast members when one is slow', () => {
    const b = p2cEwma(withLatency({ fast1: 10, fast2: 12, slow: 400 }), { random: seededRandom(1) })
    const counts = tally(b, acceptAll(), 3000)
    expect((counts.get('fast1') ?? 0) + (counts.get('fast2') ?? 0)).toBeGreaterThan(3000 * 0.9)
  })

  it('prefers the fast members under load and still uses the slow one when they are busy', () => {
    // Requests last as long as each member's latency; one arrives per millisecond.
    const targets = withLatency({ fast1: 10, fast2: 10, slow: 100 })
    const b = p2cEwma(targets, { random: seededRandom(2) })
    const finishing: Array<{ at: number; t: TestTarget }> = []
    const picks = new Map<string, number>()
    for (let now = 0; now < 5000; now++) {
      for (let i = finishing.length - 1; i >= 0; i--) {
        if (finishing[i]!.at <= now) finishing.splice(i, 1)[0]!.t.inflight--
      }
      const t = b.pick(acceptAll())!
      t.inflight++
      finishing.push({ at: now + t.latencyEwma, t })
      picks.set(t.id, (picks.get(t.id) ?? 0) + 1)
    }
    const fast = (picks.get('fast1') ?? 0) + (picks.get('fast2') ?? 0)
    expect(fast / 5000).toBeGreaterThan(0.9)
  })

  it('shifts away from a member whose load makes it the costlier', () => {
    const targets = withLatency({ a: 10, b: 10 })
    targets[0]!.inflight = 4 // 10 × 5 = 50 against 10 × 1
    expect(Object.fromEntries(tally(p2cEwma(targets), acceptAll(), 200))).toEqual({ b: 200 })
  })

  it('probes a member with unknown latency while it is idle', () => {
    const targets = withLatency({ a: 20, b: 25, c: 30, fresh: 0 })
    const counts = tally(p2cEwma(targets, { random: seededRandom(3) }), acceptAll(), 2000)
    // Cheapest whenever drawn: in half of all pairs of four members.
    expect(counts.get('fresh')).toBeGreaterThan(2000 * 0.4)
  })

  it('does not pile requests onto an unmeasured member before its first response', () => {
    const targets = withLatency({ a: 20, b: 25, fresh: 0 })
    const fresh = targets[2]!
    const b = p2cEwma(targets, { random: seededRandom(4) })
    for (let i = 0; i < 200; i++) b.pick(acceptAll())!.inflight++
    // The first request to it is in flight and unanswered: it is not chosen again meanwhile.
    expect(fresh.inflight).toBe(1)
  })

  it('spreads evenly over several unmeasured idle members', () => {
    const ids = ['a', 'b', 'c', 'd']
    const counts = tally(p2cEwma(makeTargets(ids), { random: seededRandom(5) }), acceptAll(), 8000)
    expect(chiSquareUniform(counts, ids)).toBeLessThan(30)
  })

  it('breaks cost ties at random between the two drawn', () => {
    const b = p2cEwma(withLatency({ a: 10, b: 10 }), { random: seededRandom(6) })
    const counts = tally(b, acceptAll(), 4000)
    expect(counts.get('a')).toBeGreaterThan(1600)
    expect(counts.get('b')).toBeGreaterThan(1600)
  })

  it('draws pairs uniformly among the accepted members', () => {
    // Accepted costs 10 < 20 < 30: the cheapest wins 2 of 3 pairs, the middle 1, the dearest none.
    const targets = withLatency({ down1: 1, x: 10, down2: 1, y: 20, z: 30 })
    const up = acceptWhere<TestTarget>((t) => !t.id.startsWith('down'))
    const counts = tally(p2cEwma(targets, { random: seededRandom(7) }), up, 6000)
    expect(counts.get('z')).toBeUndefined()
    expect(counts.get('x')! / 6000).toBeCloseTo(2 / 3, 1)
    expect(counts.get('y')! / 6000).toBeCloseTo(1 / 3, 1)
  })
})

describe('p2c-ewma slow start', () => {
  it('a warming-up member looks dearer by 1 / warmup', () => {
    const targets = makeTargets(['a', 'b'], { latencyEwma: 10 }).map((t) => ({ ...t, warmup: 1 }))
    targets[1]!.warmup = 0.1
    const counts = tally(p2cEwma(targets, { random: seededRandom(5) }), acceptAll(), 1000)
    expect(counts.get('a')).toBe(1000)
    targets[1]!.warmup = 1
    const even = tally(p2cEwma(targets, { random: seededRandom(5) }), acceptAll(), 1000)
    expect(even.get('b')).toBeGreaterThan(300)
  })
})
