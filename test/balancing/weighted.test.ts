import { describe, expect, it } from 'vitest'
import { weighted } from '../../src/balancing/weighted.js'
import { balancerSuite } from '../suites/balancer.suite.js'
import {
  acceptAll,
  acceptWhere,
  makeTargets,
  seededRandom,
  tally,
  type TestTarget,
} from '../suites/balance-fixtures.js'

balancerSuite('weighted', weighted)

function withWeights(weights: Record<string, number>): TestTarget[] {
  return Object.entries(weights).map(([id, weight]) => ({
    id,
    weight,
    inflight: 0,
    latencyEwma: 0,
  }))
}

describe('weighted', () => {
  it("interleaves smoothly: nginx's a a b a c a a for 5:1:1", () => {
    // random 0: no tie-break offsets, so b and c tie in list order as in nginx.
    const b = weighted(withWeights({ a: 5, b: 1, c: 1 }), { random: () => 0 })
    const seq = Array.from({ length: 14 }, () => b.pick(acceptAll())?.id).join(' ')
    expect(seq).toBe('a a b a c a a a a b a c a a')
  })

  it('matches 5:1:1 exactly over 7000 picks', () => {
    const counts = tally(weighted(withWeights({ a: 5, b: 1, c: 1 })), acceptAll(), 7000)
    expect(Object.fromEntries(counts)).toEqual({ a: 5000, b: 1000, c: 1000 })
  })

  it('matches uneven ratios exactly over a whole cycle', () => {
    const counts = tally(weighted(withWeights({ a: 3, b: 2, c: 4, d: 1 })), acceptAll(), 1000)
    expect(Object.fromEntries(counts)).toEqual({ a: 300, b: 200, c: 400, d: 100 })
  })

  it('reads weights at pick time', () => {
    const targets = withWeights({ a: 1, b: 1 })
    const b = weighted(targets)
    expect(Object.fromEntries(tally(b, acceptAll(), 100))).toEqual({ a: 50, b: 50 })
    targets[0]!.weight = 3 // e.g. slow start finishing
    expect(Object.fromEntries(tally(b, acceptAll(), 400))).toEqual({ a: 300, b: 100 })
  })

  it('splits by weight among the accepted members only', () => {
    const targets = withWeights({ a: 5, b: 1, c: 2 })
    const counts = tally(
      weighted(targets),
      acceptWhere<TestTarget>((t) => t.id !== 'a'),
      300
    )
    expect(Object.fromEntries(counts)).toEqual({ b: 100, c: 200 })
  })

  it('breaks ties at random, not by list order: fresh balancers over equal weights start at different members', () => {
    // Pools are rebuilt on every membership change and gateways run as replicas: starting
    // every fresh rotation at the first member would send each one's first request there.
    const random = seededRandom(11)
    const firsts = new Set<string>()
    for (let i = 0; i < 40; i++) firsts.add(weighted(makeTargets(['a', 'b', 'c', 'd']), { random }).pick(acceptAll())!.id)
    expect([...firsts].sort()).toEqual(['a', 'b', 'c', 'd'])
  })

  it('spreads equal weights evenly', () => {
    const counts = tally(weighted(makeTargets(4)), acceptAll(), 400)
    expect([...counts.values()]).toEqual([100, 100, 100, 100])
  })
})
