// The affinity strategy end to end: a session keeps hitting one upstream (its prefix cache),
// yet no upstream takes more than max_load_factor × the average.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { startSims } from '../helpers/sim.js'
import { post } from '../helpers/requests.js'

let sims: SimServer[]
let gw: GatewayProcess

beforeAll(async () => {
  sims = await startSims(3, { ttftMs: 5, tokensPerSecond: 100 })
  gw = await startGateway({
    models: [
      {
        name: 'sticky',
        strategy: 'affinity',
        upstreams: sims.map((s, i) => ({ url: `${s.url}/v1`, name: `s${i}` })),
        affinity: { header: 'x-session-id', max_load_factor: 1.25 },
      },
    ],
  })
})

afterAll(async () => {
  await gw?.stop()
  await Promise.all(sims.map((s) => s.close()))
})

async function servedBy(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
  const r = await post(gw.url, { model: 'sticky', max_tokens: 1, ...body }, headers)
  expect(r.status).toBe(200)
  return r.headers.get('x-switchyard-upstream')!
}

describe('affinity', () => {
  it('keeps a session on one upstream: by header, by user, by conversation start', async () => {
    const msg = { messages: [{ role: 'user', content: 'hi' }] }
    for (const session of ['alpha', 'beta', 'gamma']) {
      const ids = new Set<string>()
      for (let i = 0; i < 8; i++) ids.add(await servedBy(msg, { 'x-session-id': session }))
      expect(ids.size).toBe(1)
    }
    const byUser = new Set<string>()
    for (let i = 0; i < 8; i++) byUser.add(await servedBy({ ...msg, user: 'user-42' }))
    expect(byUser.size).toBe(1)
    // A growing conversation keeps its system prompt and first message, so it keeps its upstream.
    const history: { role: string; content: string }[] = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Tell me about switchyards.' },
    ]
    const byPrefix = new Set<string>()
    for (let turn = 0; turn < 6; turn++) {
      byPrefix.add(await servedBy({ messages: history }))
      history.push({ role: 'assistant', content: `answer ${turn}` }, { role: 'user', content: `follow-up ${turn}` })
    }
    expect(byPrefix.size).toBe(1)
  })

  it('different sessions spread over the upstreams', async () => {
    const ids = new Map<string, number>()
    for (let i = 0; i < 60; i++) {
      const id = await servedBy({ messages: [{ role: 'user', content: 'x' }] }, { 'x-session-id': `session-${i}` })
      ids.set(id, (ids.get(id) ?? 0) + 1)
    }
    expect(ids.size).toBe(3)
    for (const n of ids.values()) expect(n).toBeGreaterThan(8)
  })

  it('respects the load bound: one hot session spills over instead of piling onto one upstream', async () => {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
    const n = 12
    const streams = await Promise.all(
      Array.from({ length: n }, () =>
        client.chat.completions
          .create(
            { model: 'sticky', stream: true, max_tokens: 100, messages: [{ role: 'user', content: 'hot' }], ...{ ignore_eos: true } },
            { headers: { 'x-session-id': 'hot-session' } }
          )
          .withResponse()
      )
    )
    const counts = new Map<string, number>()
    for (const s of streams) {
      const id = s.response.headers.get('x-switchyard-upstream')!
      counts.set(id, (counts.get(id) ?? 0) + 1)
    }
    await Promise.all(streams.map(async (s) => { for await (const _ of s.data); }))
    const max = Math.max(...counts.values())
    // No upstream above ceil(1.25 × n / 3); the session's own upstream still takes the most.
    expect(max).toBeLessThanOrEqual(Math.ceil((1.25 * n) / 3))
    expect(counts.size).toBeGreaterThan(1)
  })
})
