import { describe, expect, it } from 'vitest'
import { roundRobin } from '../../src/balancing/round-robin.js'
import { balancerSuite } from '../suites/balancer.suite.js'
import {
  acceptAll,
  acceptWhere,
  makeTargets,
  seededRandom,
  tally,
  type TestTarget,
} from '../suites/balance-fixtures.js'

balancerSuite('round-robin', roundRobin)

describe('round-robin', () => {
  const pickIds = (n: number, pick: () => { id: string } | undefined): string[] =>
    Array.from({ length: n }, () => pick()?.id ?? '')

  it('rotates through the members in order', () => {
    const b = roundRobin(makeTargets(['a', 'b', 'c']), { random: () => 0 })
    expect(pickIds(7, () => b.pick(acceptAll()))).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a'])
  })

  it('starts the rotation at a random member', () => {
    const b = roundRobin(makeTargets(['a', 'b', 'c', 'd']), { random: () => 0.5 })
    expect(pickIds(5, () => b.pick(acceptAll()))).toEqual(['c', 'd', 'a', 'b', 'c'])
  })

  it('skips members that are not accepted and resumes after them', () => {
    const targets = makeTargets(['a', 'b', 'c', 'd'])
    const b = roundRobin(targets, { random: () => 0 })
    const noB = acceptWhere<TestTarget>((t) => t.id !== 'b')
    expect(pickIds(6, () => b.pick(noB))).toEqual(['a', 'c', 'd', 'a', 'c', 'd'])
    // b is back: the rotation carries on from where it was.
    expect(pickIds(4, () => b.pick(acceptAll()))).toEqual(['a', 'b', 'c', 'd'])
  })

  it('ignores weight, load and latency', () => {
    const targets = makeTargets(['a', 'b', 'c'])
    targets[0]!.inflight = 100
    targets[1]!.weight = 50
    targets[2]!.latencyEwma = 9000
    const b = roundRobin(targets, { random: () => 0 })
    expect(pickIds(6, () => b.pick(acceptAll()))).toEqual(['a', 'b', 'c', 'a', 'b', 'c'])
  })
})

describe('round-robin slow start', () => {
  it('a warming-up member gets about its warmup share of turns, and is still used when alone', () => {
    const targets = makeTargets(['a', 'b', 'c']).map((t) => ({ ...t, warmup: 1 }))
    targets[2]!.warmup = 0.2
    const b = roundRobin(targets, { random: seededRandom(3) })
    const counts = tally(b, acceptAll(), 3000)
    // a and b get their full turns; c about a fifth of its turns.
    expect(counts.get('c')! / counts.get('a')!).toBeGreaterThan(0.1)
    expect(counts.get('c')! / counts.get('a')!).toBeLessThan(0.3)
    const only = acceptWhere((t: (typeof targets)[number]) => t.id === 'c')
    for (let i = 0; i < 20; i++) expect(b.pick(only)?.id).toBe('c')
  })
})
