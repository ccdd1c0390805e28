// DnsDiscovery with a fake resolver: changes are reported, failures keep the last answer.
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/observability/logger.js'
import { DnsDiscovery, type Resolver } from '../../src/routing/dns-discovery.js'
import { eventually } from '../helpers/sim.js'

const log = createLogger({ level: 'silent' })

class FakeResolver implements Resolver {
  answers = new Map<string, string[] | Error>()
  calls = 0
  async resolve(host: string): Promise<string[]> {
    this.calls++
    const a = this.answers.get(host)
    if (a instanceof Error) throw a
    return a ?? []
  }
}

let discovery: DnsDiscovery | undefined
afterEach(() => discovery?.stop())

function start(resolver: Resolver) {
  const changes: string[] = []
  discovery = new DnsDiscovery({ resolver, log, onChange: (host) => changes.push(host) })
  return { d: discovery, changes }
}

describe('DnsDiscovery', () => {
  it('primes, then reports only changes of the address set', async () => {
    const r = new FakeResolver()
    r.answers.set('svc', ['10.0.0.6', '10.0.0.5', '10.0.0.5'])
    const { d, changes } = start(r)
    await d.prime(['svc'], 1000)
    expect(d.addresses('svc')).toEqual(['10.0.0.5', '10.0.0.6'])
    expect(changes).toEqual(['svc'])
    d.track(new Map([['svc', 100]]))
    await eventually(() => r.calls >= 3)
    expect(changes).toEqual(['svc'])
    r.answers.set('svc', ['10.0.0.7'])
    await eventually(() => changes.length === 2)
    expect(d.addresses('svc')).toEqual(['10.0.0.7'])
  })

  it('keeps the last addresses when a lookup fails, and empties on an empty answer', async () => {
    const r = new FakeResolver()
    r.answers.set('svc', ['10.0.0.5'])
    const { d, changes } = start(r)
    d.track(new Map([['svc', 100]]))
    await eventually(() => changes.length === 1)
    r.answers.set('svc', new Error('SERVFAIL'))
    const before = r.calls
    await eventually(() => r.calls >= before + 2)
    expect(d.addresses('svc')).toEqual(['10.0.0.5'])
    r.answers.set('svc', [])
    await eventually(() => changes.length === 2)
    expect(d.addresses('svc')).toEqual([])
  })

  it('forgets hosts that are no longer tracked and stops resolving them', async () => {
    const r = new FakeResolver()
    r.answers.set('svc', ['10.0.0.5'])
    const { d } = start(r)
    d.track(new Map([['svc', 50]]))
    await eventually(() => d.addresses('svc') !== undefined)
    d.track(new Map())
    expect(d.addresses('svc')).toBeUndefined()
    const calls = r.calls
    await new Promise((res) => setTimeout(res, 200))
    expect(r.calls).toBe(calls)
  })

  it('does not wait longer than the prime timeout for a slow resolver', async () => {
    const { d } = start({ resolve: () => new Promise(() => undefined) })
    const t0 = Date.now()
    await d.prime(['slow'], 100)
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(d.addresses('slow')).toBeUndefined()
  })
})
