import { describe, expect, it } from 'vitest'
import { leastOutstanding } from '../../src/balancing/least-outstanding.js'
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

balancerSuite('least-outstanding', leastOutstanding)

function withInflight(inflight: Record<string, number>): TestTarget[] {
  return Object.entries(inflight).map(([id, n]) => ({ id, weight: 1, inflight: n, latencyEwma: 0 }))
}

describe('least-outstanding', () => {
  it('picks the member with the fewest requests in flight', () => {
    const b = leastOutstanding(withInflight({ a: 3, b: 1, c: 2, d: 7 }), {
      random: seededRandom(1),
    })
    expect(Object.fromEntries(tally(b, acceptAll(), 100))).toEqual({ b: 100 })
  })

  it('picks the least busy among the accepted members', () => {
    const targets = withInflight({ a: 3, b: 1, c: 2, d: 7 })
    const b = leastOutstanding(targets, { random: seededRandom(2) })
    const noB = acceptWhere<TestTarget>((t) => t.id !== 'b')
    expect(Object.fromEntries(tally(b, noB, 100))).toEqual({ c: 100 })
  })

  it('spreads ties uniformly, not to the first member', () => {
    const ids = ['a', 'b', 'c', 'd']
    const n = 8000
    const b = leastOutstanding(makeTargets(ids), { random: seededRandom(3) })
    const counts = tally(b, acceptAll(), n)
    // df = 3: p = 0.001 is at 16.3; 30 is generous and still catches any order bias.
    expect(chiSquareUniform(counts, ids)).toBeLessThan(30)
    expect(counts.get('a')).toBeLessThan(n * 0.3)
    for (const id of ids) expect(counts.get(id)).toBeGreaterThan(n * 0.2)
  })

  it('breaks ties at random with the default Math.random too', () => {
    const counts = tally(leastOutstanding(makeTargets(4)), acceptAll(), 400)
    // All four tied: order-based tie-breaking would give one id.
    expect(counts.size).toBe(4)
  })

  it('spreads only over the tied minimum', () => {
    const ids = ['a', 'c', 'd']
    const counts = tally(
      leastOutstanding(withInflight({ a: 0, b: 5, c: 0, d: 0 }), { random: seededRandom(4) }),
      acceptAll(),
      6000
    )
    expect(counts.has('b')).toBe(false)
    expect(chiSquareUniform(counts, ids)).toBeLessThan(25)
  })

  it('keeps load level when picks add load', () => {
    const targets = makeTargets(5)
    const b = leastOutstanding(targets, { random: seededRandom(5) })
    for (let i = 0; i < 103; i++) b.pick(acceptAll())!.inflight++
    const loads = targets.map((t) => t.inflight)
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(1)
  })

  it('scales load by weight: (inflight + 1) / weight', () => {
    const targets = makeTargets(['big', 'small'])
    targets[0]!.weight = 2
    const b = leastOutstanding(targets, { random: seededRandom(6) })
    // Idle: the heavier member goes first (1/2 < 1/1).
    expect(b.pick(acceptAll())?.id).toBe('big')
    // Fed back as load, the weight-2 member carries twice the concurrency.
    for (let i = 0; i < 300; i++) b.pick(acceptAll())!.inflight++
    expect(targets[0]!.inflight / targets[1]!.inflight).toBeCloseTo(2, 1)
  })
})
