// Graceful shutdown: SIGTERM stops new work, lets in-flight streams finish, exits 0.
import OpenAI from 'openai'
import { afterAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway } from '../helpers/gateway-process.js'
import { startSims } from '../helpers/sim.js'

let sims: SimServer[] = []

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()))
})

describe('SIGTERM', () => {
  it('lets in-flight streams finish, then exits 0', async () => {
    sims = await startSims(2, { ttftMs: 50, tokensPerSecond: 100 })
    const gw = await startGateway({ models: [{ name: 'm', upstreams: sims.map((s) => ({ url: `${s.url}/v1` })) }] })
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
    const streams = await Promise.all(
      Array.from({ length: 10 }, () =>
        client.chat.completions.create({
          model: 'm',
          stream: true,
          max_tokens: 60,
          messages: [{ role: 'user', content: 'drain' }],
          ...{ ignore_eos: true },
        })
      )
    )
    const exit = gw.stop('SIGTERM')
    const results = await Promise.all(
      streams.map(async (s) => {
        let n = 0
        let finish: string | null = null
        for await (const c of s) {
          n += c.choices[0]?.delta?.content ? 1 : 0
          finish = c.choices[0]?.finish_reason ?? finish
        }
        return { n, finish }
      })
    )
    for (const r of results) expect(r).toEqual({ n: 60, finish: 'length' })
    expect(await exit).toBe(0)
  })
})
