import { describe, expect, it } from 'vitest'
import { affinity } from '../../src/balancing/affinity.js'
import type { Balancer } from '../../src/balancing/balancer.js'
import { balancerSuite } from '../suites/balancer.suite.js'
import {
  acceptAll,
  acceptWhere,
  makeTargets,
  seededRandom,
  tally,
  type TestTarget,
} from '../suites/balance-fixtures.js'

balancerSuite('affinity', affinity)

const keys = Array.from({ length: 2000 }, (_, i) => `session-${i}`)

function homes(b: Balancer<TestTarget>): Map<string, string> {
  return new Map(keys.map((k) => [k, b.pick(acceptAll(k))!.id]))
}

describe('affinity', () => {
  it('keeps a key on the same member', () => {
    const b = affinity(makeTargets(5))
    for (const key of keys.slice(0, 50)) {
      const counts = tally(b, acceptAll(key), 20)
      expect(counts.size).toBe(1)
    }
  })

  it('places a key by member id, not list position', () => {
    const targets = makeTargets(5)
    const before = homes(affinity(targets))
    expect(homes(affinity([...targets].reverse()))).toEqual(before)
  })

  it('spreads keys evenly across members', () => {
    const counts = new Map<string, number>()
    for (const id of homes(affinity(makeTargets(4))).values()) {
      counts.set(id, (counts.get(id) ?? 0) + 1)
    }
    expect(counts.size).toBe(4)
    for (const n of counts.values()) expect(n).toBeGreaterThan(keys.length / 4 - 120)
    for (const n of counts.values()) expect(n).toBeLessThan(keys.length / 4 + 120)
  })

  it('moves a key when its member is not accepted, and back when it is', () => {
    const b = affinity(makeTargets(5))
    const key = 'session-42'
    const home = b.pick(acceptAll(key))!
    const notHome = acceptWhere<TestTarget>((t) => t !== home, key)
    const away = b.pick(notHome)!
    expect(away).not.toBe(home)
    // The fallback is stable too (the key's second choice), not random.
    for (let i = 0; i < 10; i++) expect(b.pick(notHome)).toBe(away)
    expect(b.pick(acceptAll(key))).toBe(home)
  })

  it('skips a hot member above the load bound, to the key’s next choice', () => {
    const targets = makeTargets(4)
    const b = affinity(targets)
    const key = 'session-7'
    const home = b.pick(acceptAll(key))!
    const second = b.pick(acceptWhere<TestTarget>((t) => t !== home, key))!
    // 10 in flight on it, none elsewhere: cap = ceil(1.25 × 11 / 4) = 4 < 11.
    home.inflight = 10
    expect(b.pick(acceptAll(key))).toBe(second)
    home.inflight = 0
    expect(b.pick(acceptAll(key))).toBe(home)
  })

  it('keeps a key on its member while within the bound', () => {
    const targets = makeTargets(4, { inflight: 1 })
    const b = affinity(targets)
    const key = 'session-9'
    const home = b.pick(acceptAll(key))!
    // Total 4 in flight: cap = ceil(1.25 × 5 / 4) = 2, and 1 + 1 <= 2.
    expect(b.pick(acceptAll(key))).toBe(home)
    home.inflight = 2 // total 5: cap = ceil(1.25 × 6 / 4) = 2 < 3
    expect(b.pick(acceptAll(key))).not.toBe(home)
  })

  it('honours maxLoadFactor', () => {
    const targets = makeTargets(4, { inflight: 2 })
    const key = 'session-3'
    const home = affinity(targets).pick(acceptAll(key))!
    home.inflight = 6 // total 12
    // 1.25: cap = ceil(1.25 × 13 / 4) = 5 < 7. 2: cap = ceil(2 × 13 / 4) = 7.
    expect(affinity(targets).pick(acceptAll(key))).not.toBe(home)
    expect(affinity(targets, { maxLoadFactor: 2 }).pick(acceptAll(key))).toBe(home)
  })

  it('bounds the load of one hot key spread over the pool', () => {
    const targets = makeTargets(4)
    const b = affinity(targets)
    for (let i = 0; i < 400; i++) b.pick(acceptAll('the-one-hot-session'))!.inflight++
    for (const t of targets) expect(t.inflight).toBeLessThanOrEqual(Math.ceil((1.25 * 400) / 4))
  })

  it('moves only the keys of a removed member when rebuilt without it', () => {
    const targets = makeTargets(5)
    const before = homes(affinity(targets))
    const removed = 't2'
    const after = homes(affinity(targets.filter((t) => t.id !== removed)))
    let moved = 0
    for (const key of keys) {
      if (before.get(key) === removed) {
        expect(after.get(key)).not.toBe(removed)
        moved++
      } else {
        expect(after.get(key)).toBe(before.get(key))
      }
    }
    expect(moved).toBeGreaterThan(0)
  })

  it('moves only keys onto a member that is added', () => {
    const targets = makeTargets(5)
    const before = homes(affinity(targets.slice(0, 4)))
    const after = homes(affinity(targets))
    for (const key of keys) {
      if (after.get(key) !== 't4') expect(after.get(key)).toBe(before.get(key))
    }
  })

  it('gives members keys in proportion to weight', () => {
    const targets = makeTargets(['big', 'small'])
    targets[0]!.weight = 3
    let big = 0
    for (const id of homes(affinity(targets)).values()) if (id === 'big') big++
    expect(big / keys.length).toBeCloseTo(0.75, 1)
  })

  it('behaves as least-outstanding without a key', () => {
    const targets = makeTargets(['a', 'b', 'c', 'd'])
    targets[0]!.inflight = 3
    targets[2]!.inflight = 2
    targets[3]!.inflight = 1
    const b = affinity(targets, { random: seededRandom(1) })
    expect(Object.fromEntries(tally(b, acceptAll(), 50))).toEqual({ b: 50 })
    targets[1]!.inflight = 1 // b and d tie: both get picks
    expect(tally(b, acceptAll(), 200).size).toBe(2)
  })

  it('treats an empty key as none', () => {
    const counts = tally(affinity(makeTargets(4), { random: seededRandom(2) }), acceptAll(''), 400)
    expect(counts.size).toBe(4)
  })
})
