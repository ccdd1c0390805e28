import { describe, expect, it } from 'vitest'
import { roundRobin } from '../../src/balancing/round-robin.js'
import { balancerSuite } from '../suites/balancer.suite.js'
import {
  acceptAll,
  acceptWhere,
  makeTargets,
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
