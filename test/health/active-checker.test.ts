import { describe, expect, it } from 'vitest'
import { ActiveHealthChecker } from '../../src/health/active-checker.js'
import type { Probe } from '../../src/health/health-checker.js'
import type { Upstream } from '../../src/routing/upstream.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { makeUpstreams } from '../helpers/upstreams.js'

const config = { path: '/health', interval: 2_000, timeout: 1_000, healthy_threshold: 2, unhealthy_threshold: 3 }

function setup(n = 3) {
  const clock = new ManualClock()
  const members = makeUpstreams(n)
  const up = new Map<Upstream, boolean>(members.map((u) => [u, true]))
  const probes: string[] = []
  const probe: Probe = async (u, path) => {
    probes.push(`${u.id}${path}`)
    return up.get(u)!
  }
  const transitions: string[] = []
  const checker = new ActiveHealthChecker({ model: 'm', members }, config, {
    clock,
    probe,
    random: () => 0.5,
    onTransition: (u, t) => transitions.push(`${u.id}:${t}`),
  })
  return { clock, members, up, probes, checker, transitions }
}

describe('ActiveHealthChecker', () => {
  it('probes every member each interval, on the configured path', async () => {
    const { clock, probes, checker } = setup()
    checker.start()
    await clock.advanceAsync(999)
    expect(probes).toEqual([])
    await clock.advanceAsync(1) // first round at interval × random
    expect(probes).toEqual(['u0/health', 'u1/health', 'u2/health'])
    await clock.advanceAsync(2_000)
    expect(probes).toHaveLength(6)
    await checker.stop()
    await clock.advanceAsync(10_000)
    expect(probes).toHaveLength(6)
    expect(clock.pending).toBe(0)
  })

  it('marks an upstream down after unhealthy_threshold failures and back after healthy_threshold passes', async () => {
    const { clock, members, up, checker, transitions } = setup()
    const u = members[1]!
    checker.start()
    await clock.advanceAsync(1_000)
    up.set(u, false)
    await clock.advanceAsync(2_000 * 2)
    expect(u.healthy).toBe(true)
    await clock.advanceAsync(2_000)
    expect(u.healthy).toBe(false)
    expect(u.state(clock.now())).toBe('unhealthy')
    expect(transitions).toEqual(['u1:became-unhealthy'])
    up.set(u, true)
    await clock.advanceAsync(2_000)
    expect(u.healthy).toBe(false)
    await clock.advanceAsync(2_000)
    expect(u.healthy).toBe(true)
    expect(u.recoveredAt).toBe(clock.now())
    expect(transitions).toEqual(['u1:became-unhealthy', 'u1:became-healthy'])
    await checker.stop()
  })

  it('a returning upstream ramps up over slow_start', async () => {
    const { clock, members, checker } = setup()
    const u = members[0]!
    u.slowStartMs = 10_000
    u.healthy = false
    checker.apply(u, true)
    checker.apply(u, true)
    expect(u.healthy).toBe(true)
    // Upstream.weight reads the wall clock; recoveredAt came from the test clock.
    u.recoveredAt = Date.now()
    expect(u.warmup).toBeCloseTo(0.1, 1)
    expect(u.weight).toBeCloseTo(0.1, 1)
    u.recoveredAt = Date.now() - 5_000
    expect(u.warmup).toBeCloseTo(0.5, 1)
    u.recoveredAt = Date.now() - 10_000
    expect(u.weight).toBe(1)
    await checker.stop()
    void clock
  })

  it('bounds probes in flight and times none out itself (the probe owns its timeout)', async () => {
    const clock = new ManualClock()
    const members = makeUpstreams(20)
    let inflight = 0
    let peak = 0
    const probe: Probe = async () => {
      inflight++
      peak = Math.max(peak, inflight)
      await new Promise((r) => setImmediate(r))
      inflight--
      return true
    }
    const checker = new ActiveHealthChecker({ model: 'm', members }, config, { clock, probe, concurrency: 4 })
    await checker.runRound()
    expect(peak).toBe(4)
  })

  it('a probe that throws counts as a failure; draining members are skipped', async () => {
    const clock = new ManualClock()
    const members = makeUpstreams(2)
    members[1]!.draining = true
    const seen: string[] = []
    const probe: Probe = async (u) => {
      seen.push(u.id)
      throw new Error('boom')
    }
    const checker = new ActiveHealthChecker({ model: 'm', members }, config, { clock, probe })
    for (let i = 0; i < 3; i++) await checker.runRound()
    expect(seen).toEqual(['u0', 'u0', 'u0'])
    expect(members[0]!.healthy).toBe(false)
  })

  it('reads membership every round (members added later are checked)', async () => {
    const clock = new ManualClock()
    const pool = { model: 'm', members: makeUpstreams(1) }
    const seen: string[] = []
    const probe: Probe = async (u) => {
      seen.push(u.id)
      return true
    }
    const checker = new ActiveHealthChecker(pool, config, { clock, probe })
    await checker.runRound()
    pool.members = makeUpstreams(2)
    await checker.runRound()
    expect(seen).toEqual(['u0', 'u0', 'u1'])
  })
})
