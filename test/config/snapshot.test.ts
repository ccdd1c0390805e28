// Snapshots carry live upstreams across a change; members that join a running gateway are
// ramped in over slow_start, the ones present at start are not.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { buildSnapshot } from '../../src/config/snapshot.js'

function config(names: string[], slowStart = '10s') {
  return parseConfig({
    models: [{ name: 'chat', health: { slow_start: slowStart }, upstreams: names.map((name, i) => ({ name, url: `http://127.0.0.1:${9 + i}/v1` })) }],
  })
}

describe('buildSnapshot', () => {
  it('ramps in a member added at run time; members kept or present at start take their full share', () => {
    const first = buildSnapshot(config(['a', 'b'])).snapshot
    const [a, b] = first.routes.resolve('chat')!.pool.members
    expect([a!.warmup, b!.warmup]).toEqual([1, 1])
    const second = buildSnapshot(config(['a', 'b', 'c']), first).snapshot
    const members = second.routes.resolve('chat')!.pool.members
    expect(members[0]).toBe(a)
    expect(members[1]).toBe(b)
    expect([members[0]!.warmup, members[1]!.warmup]).toEqual([1, 1])
    // Just joined: 10% of its weight, rising over slow_start.
    expect(members[2]!.warmup).toBeCloseTo(0.1, 1)
    expect(members[2]!.weight).toBeLessThan(0.2)
  })

  it('adds a member at full share when slow_start is off', () => {
    const first = buildSnapshot(config(['a'], '0s')).snapshot
    const second = buildSnapshot(config(['a', 'b'], '0s'), first).snapshot
    expect(second.routes.resolve('chat')!.pool.members[1]!.warmup).toBe(1)
  })

  it('keeps the upstreams when only the connect timeout changes, and gives them the new one', () => {
    const withConnect = (connect: string) =>
      parseConfig({ models: [{ name: 'chat', timeouts: { connect }, upstreams: [{ name: 'a', url: 'http://127.0.0.1:9/v1' }] }] })
    const first = buildSnapshot(withConnect('5s')).snapshot
    const a = first.upstreams[0]!
    a.observeLatency(40)
    expect(a.connectTimeout).toBe(5_000)
    const change = buildSnapshot(withConnect('2s'), first)
    expect(change.snapshot.upstreams[0]).toBe(a)
    expect(change.removed).toEqual([])
    expect(a.connectTimeout).toBe(2_000)
    expect(a.latencyEwma).toBeGreaterThan(0)
  })
})

describe('memory across swaps', () => {
  it('a snapshot is collected once two newer ones replaced it (none holds the one before it)', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const config = parseConfig({ models: [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:9001/v1', name: 'a' }] }] })
    let current = buildSnapshot(config).snapshot
    const ref = new WeakRef(current.routes)
    const upstream = current.upstreams[0]
    for (let i = 0; i < 4; i++) current = buildSnapshot(config, current).snapshot
    // WeakRefs hold their target until the current job ends.
    await new Promise((r) => setImmediate(r))
    gc()
    expect(ref.deref()).toBeUndefined()
    // The upstream carried over is the same object throughout.
    expect(current.upstreams[0]).toBe(upstream)
  })
})
