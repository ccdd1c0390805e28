// Membership: the plan of each pool, and how run-time changes meet a new config.
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import type { ConfigInput, UpstreamConfig } from '../../src/config/schema.js'
import { Membership } from '../../src/routing/membership.js'

function config(models: ConfigInput['models']) {
  return parseConfig({ models })
}

const spec = (url: string, extra: Partial<UpstreamConfig> = {}): UpstreamConfig => ({ url, weight: 1, stream_usage: true, ...extra })

function membership(addresses: Record<string, string[]> = {}): Membership {
  return new Membership({ addresses: (host) => addresses[host] })
}

const ids = (m: Membership, cfg: ReturnType<typeof config>, i = 0) => m.plan(cfg.models[i]!).map((s) => s.id)

describe('Membership', () => {
  const base = config([{ name: 'chat', upstreams: [{ url: 'http://a:1/v1', name: 'a' }, { url: 'http://b:1/v1' }] }])

  it('plans the configured upstreams, by name or index', () => {
    const m = membership()
    expect(m.plan(base.models[0]!).map((s) => [s.id, s.source])).toEqual([
      ['a', 'config'],
      ['1', 'config'],
    ])
  })

  it('keeps a run-time upstream across a reload, until its model goes', () => {
    const m = membership()
    m.add('chat', 'c', spec('http://c:1/v1', { name: 'c' }))
    const reloaded = config([{ name: 'chat', upstreams: [{ url: 'http://a:1/v1', name: 'a' }], timeouts: { connect: '1s' } }])
    expect(m.retain(reloaded)).toEqual([])
    expect(ids(m, reloaded)).toEqual(['a', 'c'])
    const without = config([{ name: 'other', upstreams: [{ url: 'http://a:1/v1' }] }])
    expect(m.retain(without)).toEqual(['chat/c: its model was removed'])
    // The model coming back does not bring the run-time upstream back.
    expect(m.retain(base)).toEqual([])
    expect(ids(m, base)).toEqual(['a', '1'])
  })

  it('lets the file win when it defines a run-time upstream name', () => {
    const m = membership()
    m.add('chat', 'c', spec('http://c:1/v1', { name: 'c' }))
    const clash = config([{ name: 'chat', upstreams: [{ url: 'http://other:1/v1', name: 'c' }] }])
    expect(m.retain(clash)).toEqual(['chat/c: the config now defines an upstream of that name'])
    expect(m.plan(clash.models[0]!).map((s) => [s.id, s.spec.url, s.source])).toEqual([['c', 'http://other:1/v1', 'config']])
  })

  it('keeps a removed configured upstream out while the file lists it unchanged', () => {
    const m = membership()
    m.remove('chat', m.locate(base.models[0]!, 'a')!)
    expect(ids(m, base)).toEqual(['1'])
    const same = config([{ name: 'chat', upstreams: [{ url: 'http://a:1/v1', name: 'a' }, { url: 'http://b:1/v1' }], retries: { attempts: 1 } }])
    m.retain(same)
    expect(ids(m, same)).toEqual(['1'])
    const edited = config([{ name: 'chat', upstreams: [{ url: 'http://a:2/v1', name: 'a' }, { url: 'http://b:1/v1' }] }])
    m.retain(edited)
    expect(ids(m, edited)).toEqual(['a', '1'])
  })

  it('adds a run-time upstream in place of a removed configured one of that name, never reviving the old', () => {
    const m = membership()
    m.remove('chat', m.locate(base.models[0]!, 'a')!)
    m.add('chat', 'a', spec('http://other:1/v1', { name: 'a', weight: 3 }))
    const view = () => m.plan(base.models[0]!).map((s) => [s.id, s.spec.url, s.spec.weight, s.source])
    expect(view()).toEqual([
      ['1', 'http://b:1/v1', 1, 'config'],
      ['a', 'http://other:1/v1', 3, 'runtime'],
    ])
    m.patch('chat', m.locate(base.models[0]!, 'a')!, { weight: 5 })
    // A reload leaving the file's entry alone keeps both the removal and the run-time one.
    expect(m.retain(base)).toEqual([])
    expect(view()).toEqual([
      ['1', 'http://b:1/v1', 1, 'config'],
      ['a', 'http://other:1/v1', 5, 'runtime'],
    ])
    expect(m.describe()).toMatchObject({ added: ['chat/a'], removed: ['chat/a'] })
    // Deleting the run-time one leaves the configured one out.
    m.remove('chat', m.locate(base.models[0]!, 'a')!)
    expect(ids(m, base)).toEqual(['1'])
    // Added again, then the file edits its own 'a': the file wins.
    m.add('chat', 'a', spec('http://other:1/v1', { name: 'a' }))
    const edited = config([{ name: 'chat', upstreams: [{ url: 'http://a:2/v1', name: 'a' }, { url: 'http://b:1/v1' }] }])
    expect(m.retain(edited)).toEqual(['chat/a: its drain or delete no longer applies (the file changed its entry)', 'chat/a: the config now defines an upstream of that name'])
    expect(m.plan(edited.models[0]!).map((s) => [s.id, s.spec.url, s.source])).toEqual([
      ['a', 'http://a:2/v1', 'config'],
      ['1', 'http://b:1/v1', 'config'],
    ])
    expect(m.describe()).toEqual({ added: [], removed: [], patched: {} })
  })

  it('says when a reload drops a drain, delete or PATCH (the file changed the entry, or no longer lists it)', () => {
    const m = membership()
    m.remove('chat', m.locate(base.models[0]!, 'a')!)
    m.patch('chat', m.locate(base.models[0]!, '1')!, { weight: 5 })
    expect(m.retain(base)).toEqual([])
    const edited = config([{ name: 'chat', upstreams: [{ url: 'http://a:2/v1', name: 'a' }, { url: 'http://b:1/v1', weight: 2 }] }])
    expect(m.retain(edited)).toEqual([
      'chat/a: its drain or delete no longer applies (the file changed its entry)',
      'chat/1: its PATCH no longer applies (the file changed its entry)',
    ])
    expect(m.describe()).toEqual({ added: [], removed: [], patched: {} })
    m.remove('chat', m.locate(edited.models[0]!, 'a')!)
    const gone = config([{ name: 'chat', upstreams: [{ url: 'http://b:1/v1', weight: 2, name: 'b' }] }])
    expect(m.retain(gone)).toEqual(['chat/a: its drain or delete no longer applies (the file no longer lists it)'])
  })

  it('follows an unnamed upstream renumbered by an entry inserted above it: a deleted one stays out, a PATCH stays on', () => {
    const three = config([{ name: 'm3', upstreams: [{ url: 'http://a:1/v1' }, { url: 'http://b:1/v1' }, { url: 'http://c:1/v1' }] }])
    const m = membership()
    m.remove('m3', m.locate(three.models[0]!, '1')!)
    m.patch('m3', m.locate(three.models[0]!, '2')!, { weight: 7 })
    const urls = (cfg: ReturnType<typeof config>) => m.plan(cfg.models[0]!).map((s) => [s.id, s.spec.url, s.spec.weight])
    expect(urls(three)).toEqual([
      ['0', 'http://a:1/v1', 1],
      ['2', 'http://c:1/v1', 7],
    ])
    const grown = config([{ name: 'm3', upstreams: [{ url: 'http://new:1/v1' }, { url: 'http://a:1/v1' }, { url: 'http://b:1/v1' }, { url: 'http://c:1/v1' }] }])
    expect(m.retain(grown)).toEqual([])
    expect(urls(grown)).toEqual([
      ['0', 'http://new:1/v1', 1],
      ['1', 'http://a:1/v1', 1],
      ['3', 'http://c:1/v1', 7],
    ])
    expect(m.describe()).toEqual({ added: [], removed: ['m3/2'], patched: { 'm3/3': { weight: 7 } } })
    // Two deleted side by side, then another entry on top: each moves onto the other's old id.
    const m2 = membership()
    m2.remove('m3', m2.locate(three.models[0]!, '1')!)
    m2.remove('m3', m2.locate(three.models[0]!, '2')!)
    expect(m2.retain(grown)).toEqual([])
    expect(m2.plan(grown.models[0]!).map((s) => s.spec.url)).toEqual(['http://new:1/v1', 'http://a:1/v1'])
    // And back down: the entry above removed, the marks follow again.
    expect(m.retain(three)).toEqual([])
    expect(urls(three)).toEqual([
      ['0', 'http://a:1/v1', 1],
      ['2', 'http://c:1/v1', 7],
    ])
  })

  it('applies a patch until the file changes that entry', () => {
    const m = membership()
    m.patch('chat', m.locate(base.models[0]!, 'a')!, { weight: 4, max_concurrency: 2 })
    m.patch('chat', m.locate(base.models[0]!, 'a')!, { max_concurrency: null })
    m.retain(base)
    const a = m.plan(base.models[0]!)[0]!
    expect([a.spec.weight, a.spec.max_concurrency]).toEqual([4, undefined])
    const edited = config([{ name: 'chat', upstreams: [{ url: 'http://a:1/v1', name: 'a', weight: 2 }, { url: 'http://b:1/v1' }] }])
    m.retain(edited)
    expect(m.plan(edited.models[0]!)[0]!.spec.weight).toBe(2)
  })

  it('expands a DNS entry to one member per address, each removable and patchable', () => {
    const dns = config([
      { name: 'chat', upstreams: [{ url: 'http://sim.internal:9001/v1', name: 'b', discovery: 'dns', discovery_interval: '2s' }] },
    ])
    const m = membership({ 'sim.internal': ['10.0.0.5', '10.0.0.6'] })
    expect(m.plan(dns.models[0]!).map((s) => [s.id, s.address, s.parent, s.source])).toEqual([
      ['b@10.0.0.5', '10.0.0.5', 'b', 'dns'],
      ['b@10.0.0.6', '10.0.0.6', 'b', 'dns'],
    ])
    expect(m.hosts(dns)).toEqual(new Map([['sim.internal', 2000]]))
    m.patch('chat', m.locate(dns.models[0]!, 'b')!, { weight: 3 })
    m.remove('chat', m.locate(dns.models[0]!, 'b@10.0.0.5')!)
    m.retain(dns)
    expect(m.plan(dns.models[0]!).map((s) => [s.id, s.spec.weight])).toEqual([['b@10.0.0.6', 3]])
    m.remove('chat', m.locate(dns.models[0]!, 'b')!)
    expect(m.plan(dns.models[0]!)).toEqual([])
    expect(m.hosts(dns).size).toBe(0)
  })

  it('has no endpoints for a DNS entry before the first answer', () => {
    const dns = config([{ name: 'chat', upstreams: [{ url: 'http://sim.internal:9001/v1', discovery: 'dns' }] }])
    expect(membership().plan(dns.models[0]!)).toEqual([])
    expect(membership().hosts(dns)).toEqual(new Map([['sim.internal', 10_000]]))
  })
})

describe('Membership, discovered endpoints', () => {
  it('forgets an endpoint drain once DNS stops returning its address', () => {
    const answers: Record<string, string[]> = { 'sim.internal': ['10.0.0.5', '10.0.0.6'] }
    const m = new Membership({ addresses: (host) => answers[host] })
    const dns = config([{ name: 'chat', upstreams: [{ url: 'http://sim.internal:9001/v1', name: 'b', discovery: 'dns' }] }])
    m.remove('chat', m.locate(dns.models[0]!, 'b@10.0.0.5')!)
    m.retain(dns)
    expect(m.plan(dns.models[0]!).map((s) => s.id)).toEqual(['b@10.0.0.6'])
    answers['sim.internal'] = ['10.0.0.6']
    m.retain(dns)
    answers['sim.internal'] = ['10.0.0.5', '10.0.0.6']
    expect(m.plan(dns.models[0]!).map((s) => s.id)).toEqual(['b@10.0.0.5', 'b@10.0.0.6'])
    expect(m.describe().removed).toEqual([])
  })
})
