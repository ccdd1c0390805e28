// DNS discovery end to end: an in-process gateway whose resolver the test controls, in front
// of real simulators on two loopback addresses sharing one port. New addresses get traffic,
// vanished ones drain (their streams finish) and leave, a failing resolver changes nothing.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { Gateway } from '../../src/gateway.js'
import { createLogger } from '../../src/observability/logger.js'
import type { Resolver } from '../../src/routing/dns-discovery.js'
import { startSim, type SimServer } from '../../src/sim/server.js'
import { adminClient, type AdminCall } from '../helpers/admin.js'
import { eventually, simStats } from '../helpers/sim.js'

class FakeResolver implements Resolver {
  answer: string[] | Error = ['127.0.0.1']
  readonly asked: string[] = []
  async resolve(host: string): Promise<string[]> {
    this.asked.push(host)
    if (this.answer instanceof Error) throw this.answer
    return this.answer
  }
}

const TOKEN = 'dns-test-token'
const resolver = new FakeResolver()
let sims: SimServer[] = []
let gateway: Gateway
let admin: AdminCall
let client: OpenAI

beforeAll(async () => {
  const first = await startSim({ host: '127.0.0.1', ttftMs: 5, tokensPerSecond: 40, name: 'one' })
  const second = await startSim({ host: '127.0.0.2', port: first.port, ttftMs: 5, tokensPerSecond: 40, name: 'two' })
  sims = [first, second]
  const config = parseConfig({
    admin: { port: 0, token: TOKEN },
    server: { port: 0 },
    // No usage store: this file is about membership, and the default would write ./switchyard.db.
    usage: { enabled: false },
    models: [
      {
        name: 'm',
        strategy: 'round-robin',
        upstreams: [{ url: `http://sim.test.internal:${first.port}/v1`, name: 'pool', discovery: 'dns', discovery_interval: '100ms' }],
      },
    ],
  })
  gateway = new Gateway(config, { resolver, logger: createLogger({ level: 'silent' }), accessLog: null })
  await gateway.start()
  admin = adminClient(gateway.admin.url, TOKEN)
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'x', maxRetries: 0 })
})

afterAll(async () => {
  await gateway?.stop(1000)
  await Promise.all(sims.map((s) => s.close()))
})

const members = () => gateway.snapshot.routes.resolve('m')!.pool.members.map((u) => u.id)

async function served(): Promise<{ upstream: string; sim: string }> {
  const { response } = await client.chat.completions
    .create({ model: 'm', max_tokens: 2, messages: [{ role: 'user', content: 'where' }] })
    .withResponse()
  return { upstream: response.headers.get('x-switchyard-upstream')!, sim: response.headers.get('x-sim-name')! }
}

describe('DNS discovery', () => {
  it('starts with one endpoint per address of the first answer', async () => {
    expect(resolver.asked[0]).toBe('sim.test.internal')
    expect(members()).toEqual(['pool@127.0.0.1'])
    // Clients are told the entry's name; its addresses stay internal (logs, metrics, admin API).
    expect(await served()).toEqual({ upstream: 'pool', sim: 'one' })
    // The endpoint is reached by address, but the request still names the service's host.
    expect((await simStats(sims[0]!)).lastRequest?.headers.host).toBe(`sim.test.internal:${sims[0]!.port}`)
    const list = (await admin('GET', '/admin/upstreams')).body.data
    expect(list[0]).toMatchObject({
      id: 'm/pool@127.0.0.1',
      url: `http://127.0.0.1:${sims[0]!.port}/v1`,
      source: 'dns',
      discovery: { entry: 'pool', host: 'sim.test.internal', address: '127.0.0.1' },
    })
    expect((await admin('GET', '/admin/models')).body.data[0].discovery).toEqual([
      { name: 'pool', host: 'sim.test.internal', url: `http://sim.test.internal:${sims[0]!.port}/v1`, addresses: ['127.0.0.1'] },
    ])
  })

  it('sends traffic to a new address as soon as it is resolved', async () => {
    resolver.answer = ['127.0.0.1', '127.0.0.2']
    await eventually(() => members().length === 2)
    const seen = new Set<string>()
    for (let i = 0; i < 4; i++) seen.add((await served()).sim)
    expect([...seen].sort()).toEqual(['one', 'two'])
  })

  it('keeps the endpoints when the resolver fails', async () => {
    resolver.answer = new Error('SERVFAIL')
    const asked = resolver.asked.length
    await eventually(() => resolver.asked.length >= asked + 3)
    expect(members()).toEqual(['pool@127.0.0.1', 'pool@127.0.0.2'])
  })

  it('drains a vanished address: its streams finish, new requests go elsewhere, then it leaves', async () => {
    resolver.answer = ['127.0.0.1', '127.0.0.2']
    // A long stream on each endpoint.
    const streams = await Promise.all(
      [0, 1].map(() =>
        client.chat.completions.create({ model: 'm', stream: true, max_tokens: 40, messages: [{ role: 'user', content: 'long' }], ...{ ignore_eos: true } })
      )
    )
    const reading = streams.map(async (s) => {
      let n = 0
      for await (const c of s) n += c.choices[0]?.delta?.content ? 1 : 0
      return n
    })
    await eventually(async () => (await simStats(sims[0]!)).inflight === 1 && (await simStats(sims[1]!)).inflight === 1)
    const before = (await simStats(sims[1]!)).received

    resolver.answer = ['127.0.0.1']
    await eventually(() => members().length === 1)
    expect(members()).toEqual(['pool@127.0.0.1'])
    const leaving = (await admin('GET', '/admin/upstreams')).body.data.find((u: { name: string }) => u.name === 'pool@127.0.0.2')
    expect(leaving).toMatchObject({ state: 'draining', inflight: 1 })
    for (let i = 0; i < 3; i++) expect((await served()).sim).toBe('one')
    expect((await simStats(sims[1]!)).received).toBe(before)

    expect(await Promise.all(reading)).toEqual([40, 40])
    expect((await simStats(sims[1]!)).cancelled).toBe(0)
    await eventually(async () => (await admin('GET', '/admin/upstreams')).body.data.length === 1)
  })

  it('survives a reload with its endpoints, and an admin drain of one endpoint holds while DNS returns it', async () => {
    resolver.answer = ['127.0.0.1', '127.0.0.2']
    await eventually(() => members().length === 2)
    const kept = gateway.snapshot.routes.resolve('m')!.pool.find('pool@127.0.0.1')
    gateway.apply(parseConfig({ ...gateway.config, models: [{ ...gateway.config.models[0]!, retries: { attempts: 1 } }] }))
    expect(members()).toEqual(['pool@127.0.0.1', 'pool@127.0.0.2'])
    expect(gateway.snapshot.routes.resolve('m')!.pool.find('pool@127.0.0.1')).toBe(kept)

    expect((await admin('POST', '/admin/upstreams/pool@127.0.0.2/drain')).status).toBe(202)
    const asked = resolver.asked.length
    await eventually(() => resolver.asked.length >= asked + 2)
    expect(members()).toEqual(['pool@127.0.0.1'])
    expect((await admin('PATCH', '/admin/upstreams/pool', { weight: 4 })).body).toMatchObject({ name: 'pool@127.0.0.1', weight: 4 })
  })

  it("refuses an upstream named like one of a DNS entry's endpoints (two members with one id, each call acting on both)", async () => {
    const port = sims[0]!.port
    const url = `http://127.0.0.1:${port}/v1`
    // An address DNS does not return (yet): it would collide the moment it does.
    const r = await admin('POST', '/admin/models/m/upstreams', { url, name: 'pool@127.0.0.9' })
    expect(r.status).toBe(400)
    expect(r.body.error).toMatchObject({ code: 'invalid_upstream', param: 'name' })
    expect(r.body.error.message).toContain("endpoints DNS discovery finds for upstream 'pool'")
    // One it returns: that member exists.
    expect((await admin('POST', '/admin/models/m/upstreams', { url, name: 'pool@127.0.0.1' })).status).toBe(409)
    expect(members()).not.toContain('pool@127.0.0.9')
    // A name with '@' that is no DNS entry's is fine.
    const ok = await admin('POST', '/admin/models/m/upstreams', { url, name: 'gpu@rack1' })
    expect(ok.status).toBe(201)
    // And a DNS entry whose endpoints would take that form is refused.
    const dns = await admin('POST', '/admin/models/m/upstreams', { url: `http://sim.test.internal:${port}/v1`, name: 'gpu', discovery: 'dns' })
    expect(dns.status).toBe(409)
    expect(dns.body.error).toMatchObject({ code: 'upstream_exists', param: 'name' })
    expect((await admin('DELETE', '/admin/upstreams/gpu@rack1')).status).toBe(200)
    expect(() =>
      parseConfig({ models: [{ name: 'x', upstreams: [{ url: 'http://h.internal:1/v1', name: 'pool', discovery: 'dns' }, { url, name: 'pool@10.0.0.1' }] }] })
    ).toThrow(/models\[0\]\.upstreams\[1\]\.name: 'pool@10\.0\.0\.1' is the form of the endpoints DNS discovery finds for upstream 'pool'/)
  })
})
