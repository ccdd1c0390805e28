import { describe, expect, it } from 'vitest'
import { strategyNames } from '../../src/balancing/registry.js'
import { Pool } from '../../src/routing/pool.js'
import type { Upstream } from '../../src/routing/upstream.js'
import { makeUpstreams } from '../helpers/upstreams.js'

function share(pool: Pool, target: Upstream, n: number, keyed: boolean): number {
  let hits = 0
  for (let i = 0; i < n; i++) if (pool.pick(undefined, keyed ? `session-${i}` : undefined) === target) hits++
  return hits / n
}

describe('Pool', () => {
  it.each(strategyNames)('%s: a member in slow start gets a reduced share', (strategy) => {
    const members = makeUpstreams(3)
    for (const u of members) u.observeLatency(10)
    const warming = members[2]!
    warming.slowStartMs = 10_000
    warming.recoveredAt = Date.now() - 1_000 // 10% into the ramp
    const pool = new Pool('m', members, { strategy })
    const s = share(pool, warming, 3000, strategy === 'affinity')
    expect(s).toBeLessThan(1 / 3 / 2)
    warming.recoveredAt = Date.now() - 10_000 // ramp over
    expect(share(pool, warming, 3000, strategy === 'affinity')).toBeGreaterThan(0.25)
  })

  it('skips members that are down, ejected, cooling down, draining, full or already tried', () => {
    const members = makeUpstreams(6, { max_concurrency: 1 })
    const [ok, down, ejected, cooling, draining, full] = members as [Upstream, Upstream, Upstream, Upstream, Upstream, Upstream]
    down.healthy = false
    ejected.ejectedUntil = Date.now() + 60_000
    cooling.cooldownUntil = Date.now() + 60_000
    draining.draining = true
    full.begin()
    const pool = new Pool('m', members, { strategy: 'round-robin' })
    for (let i = 0; i < 20; i++) expect(pool.pick()).toBe(ok)
    expect(pool.pick([ok])).toBeUndefined()
    expect(pool.upCount()).toBe(2)
  })

  it('isSaturated: every up member is at max_concurrency (down ones do not count)', () => {
    const members = makeUpstreams(2, { max_concurrency: 1 })
    const pool = new Pool('m', members, { strategy: 'least-outstanding' })
    expect(pool.isSaturated()).toBe(false)
    members[0]!.begin()
    expect(pool.isSaturated()).toBe(false)
    members[1]!.begin()
    expect(pool.isSaturated()).toBe(true)
    expect(pool.pick()).toBeUndefined()
    members[1]!.healthy = false
    expect(pool.isSaturated()).toBe(true)
    members[0]!.healthy = false
    expect(pool.isSaturated()).toBe(false) // nothing up: not a queueing matter
  })

  it('panic mode picks among every non-draining member, only when none is up', () => {
    const members = makeUpstreams(3)
    const pool = new Pool('m', members, { strategy: 'round-robin' })
    expect(pool.pickPanic()).toBeUndefined()
    members[0]!.healthy = false
    members[1]!.healthy = false
    expect(pool.pickPanic()).toBeUndefined() // members[2] is still up
    members[2]!.healthy = false
    const seen = new Set<Upstream | undefined>()
    for (let i = 0; i < 30; i++) seen.add(pool.pickPanic())
    expect(seen).toEqual(new Set(members))
    members[2]!.draining = true
    expect(pool.pickPanic([members[0]!, members[1]!])).toBeUndefined()
  })

  it('panic mode prefers members only the health checks hold out over ejected or cooling ones', () => {
    const members = makeUpstreams(3)
    const pool = new Pool('m', members, { strategy: 'round-robin' })
    for (const u of members) u.healthy = false
    members[1]!.ejectedUntil = Date.now() + 60_000
    members[2]!.cooldownUntil = Date.now() + 60_000
    for (let i = 0; i < 10; i++) expect(pool.pickPanic()).toBe(members[0])
    // Then the ejected one; never the one a 429 asked for a pause.
    for (let i = 0; i < 10; i++) expect(pool.pickPanic([members[0]!])).toBe(members[1])
    expect(pool.pickPanic([members[0]!, members[1]!])).toBeUndefined()
  })

  it('panic mode sends nothing to members cooling down after a 429: all of them cooling is no pick at all', () => {
    const members = makeUpstreams(3)
    const pool = new Pool('m', members, { strategy: 'round-robin' })
    for (const u of members) u.cooldownUntil = Date.now() + 60_000
    expect(pool.upCount()).toBe(0)
    expect(pool.pickPanic()).toBeUndefined()
    members[1]!.cooldownUntil = Date.now() - 1
    expect(pool.pick()).toBe(members[1])
  })

  it('hands its observer to every member, including ones added later', () => {
    const members = makeUpstreams(2)
    const pool = new Pool('m', members, { strategy: 'round-robin' })
    const seen: string[] = []
    pool.observer = (u, outcome) => seen.push(`${u.id}:${outcome}`)
    const [extra] = makeUpstreams(1, { name: 'x' })
    pool.add(extra!)
    for (const u of pool.members) {
      u.begin()
      u.end('success')
    }
    expect(seen).toEqual(['u0:success', 'u1:success', 'u0:success'])
  })
})
