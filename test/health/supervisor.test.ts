import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { buildSnapshot } from '../../src/config/snapshot.js'
import type { Probe } from '../../src/health/health-checker.js'
import { HealthSupervisor } from '../../src/health/supervisor.js'
import { ManualClock } from '../helpers/manual-clock.js'

function config(health: Record<string, unknown> | undefined) {
  return parseConfig({
    models: [
      {
        name: 'm',
        upstreams: [{ url: 'http://127.0.0.1:9101/v1', name: 'a' }, { url: 'http://127.0.0.1:9102/v1', name: 'b' }],
        ...(health === undefined ? {} : { health }),
      },
    ],
  })
}

describe('HealthSupervisor', () => {
  it('checks the pools of the live snapshot and follows reloads, keeping verdicts and streaks', async () => {
    const clock = new ManualClock()
    const failing = new Set(['a'])
    const probes: string[] = []
    const probe: Probe = async (u) => {
      probes.push(u.id)
      return !failing.has(u.id)
    }
    const supervisor = new HealthSupervisor({ clock, probe, random: () => 0.5 })
    const health = { interval: '1s', unhealthy_threshold: 3, healthy_threshold: 1 }
    const first = buildSnapshot(config(health)).snapshot
    supervisor.start(first)
    await clock.advanceAsync(2_200) // rounds at 0.5 s and 1.5 s: two failures of three
    const a = first.upstreams[0]!
    expect(a.healthy).toBe(true)
    // A reload with the same health settings: same Upstream objects, streak goes on.
    const second = buildSnapshot(config(health), first).snapshot
    expect(second.upstreams[0]).toBe(a)
    supervisor.apply(second)
    await clock.advanceAsync(2_200)
    expect(a.healthy).toBe(false)
    // Health checks removed from the config: nothing would ever bring it back, so it is up.
    const third = buildSnapshot(config(undefined), second).snapshot
    supervisor.apply(third)
    expect(a.healthy).toBe(true)
    const count = probes.length
    await clock.advanceAsync(5_000)
    expect(probes.length).toBe(count)
    await supervisor.stop()
    expect(clock.pending).toBe(0)
  })

  it('applies thresholds, interval and path changed by a reload to the upstreams it keeps', async () => {
    const clock = new ManualClock()
    const failing = new Set(['a'])
    const probes: Array<{ id: string; path: string; at: number }> = []
    const probe: Probe = async (u, path) => {
      probes.push({ id: u.id, path, at: clock.now() })
      return !failing.has(u.id)
    }
    const supervisor = new HealthSupervisor({ clock, probe, random: () => 0.5 })
    const first = buildSnapshot(config({ interval: '1s', unhealthy_threshold: 5, healthy_threshold: 5 })).snapshot
    supervisor.start(first)
    await clock.advanceAsync(1_200) // one failure of five
    const a = first.upstreams[0]!
    expect(a.healthy).toBe(true)
    const health = { interval: '2s', path: '/ready', unhealthy_threshold: 2, healthy_threshold: 1 }
    const second = buildSnapshot(config(health), first).snapshot
    expect(second.upstreams[0]).toBe(a)
    supervisor.apply(second)
    const before = probes.length
    await clock.advanceAsync(1_100) // the new checker's first round, at 1 s: the second failure
    expect(a.healthy).toBe(false)
    expect(probes.slice(before).every((p) => p.path === '/ready')).toBe(true)
    failing.clear()
    await clock.advanceAsync(2_000) // next round 2 s later: one pass is now enough
    expect(a.healthy).toBe(true)
    const rounds = [...new Set(probes.slice(before).filter((p) => p.id === 'a').map((p) => p.at))]
    expect(rounds[1]! - rounds[0]!).toBeGreaterThanOrEqual(1_800)
    await supervisor.stop()
  })

  it('stop() ends every checker', async () => {
    const clock = new ManualClock()
    let n = 0
    const supervisor = new HealthSupervisor({ clock, probe: async () => (n++, true) })
    supervisor.start(buildSnapshot(config({ interval: '1s' })).snapshot)
    await clock.advanceAsync(3_000)
    expect(n).toBeGreaterThan(0)
    await supervisor.stop()
    const seen = n
    await clock.advanceAsync(10_000)
    expect(n).toBe(seen)
  })
})
