// Draining through the admin API while streams run on the upstream: they all finish whole,
// no new request reaches it, and it leaves the pool once its last stream is done.
import OpenAI from 'openai'
import { afterAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { adminClient } from '../helpers/admin.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { eventually, simStats, startSims } from '../helpers/sim.js'

const TOKEN = 'drain-test-token'
let sims: SimServer[] = []
let gw: GatewayProcess | undefined

afterAll(async () => {
  await gw?.stop()
  await Promise.all(sims.map((s) => s.close()))
})

describe('POST /admin/upstreams/{name}/drain', () => {
  it('lets in-flight streams finish, sends nothing new, then removes the upstream', { timeout: 60_000 }, async () => {
    sims = await startSims(2, { ttftMs: 20, tokensPerSecond: 25 })
    gw = await startGateway({
      admin: { token: TOKEN },
      logging: { access_log: 'off' },
      models: [{ name: 'm', strategy: 'round-robin', upstreams: sims.map((s, i) => ({ url: `${s.url}/v1`, name: 'ab'[i] })) }],
    })
    const admin = adminClient(gw.adminUrl, TOKEN)
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
    const streams = await Promise.all(
      Array.from({ length: 10 }, () =>
        client.chat.completions.create({
          model: 'm',
          stream: true,
          // Long enough (10 s) to outlast the checks below on a loaded machine.
          max_tokens: 250,
          messages: [{ role: 'user', content: 'drain me' }],
          ...{ ignore_eos: true },
        })
      )
    )
    const reading = streams.map(async (s) => {
      let n = 0
      let finish: string | null = null
      for await (const c of s) {
        n += c.choices[0]?.delta?.content ? 1 : 0
        finish = c.choices[0]?.finish_reason ?? finish
      }
      return { n, finish }
    })
    await eventually(async () => (await simStats(sims[0]!)).inflight === 5)

    const drained = await admin('POST', '/admin/upstreams/a/drain')
    expect(drained.status).toBe(202)
    expect(drained.body).toMatchObject({ id: 'm/a', state: 'draining', inflight: 5 })
    const listed = (await admin('GET', '/admin/upstreams')).body.data
    expect(listed.map((u: { name: string; state: string }) => [u.name, u.state])).toEqual([
      ['b', 'healthy'],
      ['a', 'draining'],
    ])

    // New requests all go elsewhere while a's streams run on.
    for (let i = 0; i < 6; i++) {
      const { response } = await client.chat.completions
        .create({ model: 'm', max_tokens: 2, messages: [{ role: 'user', content: 'new' }] })
        .withResponse()
      expect(response.headers.get('x-switchyard-upstream')).toBe('b')
    }
    expect((await simStats(sims[0]!)).received).toBe(5)
    // …and they were sent while a still had streams to finish.
    expect((await simStats(sims[0]!)).inflight).toBe(5)

    for (const r of await Promise.all(reading)) expect(r).toEqual({ n: 250, finish: 'length' })
    expect((await simStats(sims[0]!)).cancelled).toBe(0)
    await eventually(async () => (await admin('GET', '/admin/upstreams')).body.data.length === 1)
    await gw.waitForLog(/"upstream":"a","msg":"upstream drained and removed"/)
  })
})
