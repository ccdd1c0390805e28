// Deadlines: before the first byte a timeout is a 504 (or a retry); after it, the stream
// ends with an in-band error event and the upstream request is aborted.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { eventually, setFault, simStats, startSims } from '../helpers/sim.js'

let trickle: SimServer
let sleepy: SimServer
let steady: SimServer
let gw: GatewayProcess
let client: OpenAI

beforeAll(async () => {
  ;[trickle] = await startSims(1, { ttftMs: 0, tokensPerSecond: 1 })
  ;[sleepy] = await startSims(1, { ttftMs: 0, tokensPerSecond: 1000 })
  // 20 tokens a second: never idle for long, but a 100-token answer takes 5 s.
  ;[steady] = await startSims(1, { ttftMs: 0, tokensPerSecond: 20 })
  await setFault(sleepy!, { mode: 'slow', latency_ms: 5000 })
  gw = await startGateway({
    models: [
      { name: 'trickle', upstreams: [{ url: `${trickle!.url}/v1` }], timeouts: { idle: '300ms' }, retries: { attempts: 0 } },
      { name: 'sleepy', upstreams: [{ url: `${sleepy!.url}/v1` }], timeouts: { first_token: '300ms' }, retries: { attempts: 0 } },
      { name: 'steady', upstreams: [{ url: `${steady!.url}/v1` }], timeouts: { first_token: '300ms', idle: '1s', total: '1200ms' }, retries: { attempts: 0 } },
      { name: 'sleepy-total', upstreams: [{ url: `${sleepy!.url}/v1` }], timeouts: { first_token: '10s', total: '400ms' }, retries: { attempts: 0 } },
    ],
  })
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
})

afterAll(async () => {
  await gw?.stop()
  await trickle?.close()
  await sleepy?.close()
  await steady?.close()
})

/** Streams exactly `tokens` tokens unless cut; counts the chunks and catches how it ended. */
async function readStream(model: string, tokens: number): Promise<{ chunks: number; err: unknown }> {
  const stream = await client.chat.completions.create({
    model,
    stream: true,
    max_tokens: tokens,
    messages: [{ role: 'user', content: 'x' }],
    ...{ ignore_eos: true },
  })
  let chunks = 0
  const err = await (async () => {
    for await (const _ of stream) chunks++
  })().catch((e: unknown) => e)
  return { chunks, err }
}

describe('timeouts', () => {
  it('first_token: a silent upstream gives 504 first_token_timeout', async () => {
    const t0 = Date.now()
    const err = await client.chat.completions
      .create({ model: 'sleepy', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(504)
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('first_token_timeout')
    expect(Date.now() - t0).toBeLessThan(4000)
    await eventually(async () => (await simStats(sleepy)).inflight === 0)
  })

  it('idle: a stream that stalls ends with an SSE error event, and the upstream is aborted', async () => {
    const { chunks, err } = await readStream('trickle', 50)
    expect(chunks).toBeGreaterThan(0)
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('idle_timeout')
    await eventually(async () => (await simStats(trickle)).inflight === 0)
  })

  it('total: a stream still flowing past the total deadline ends with an SSE error event, and the upstream is aborted', async () => {
    // The first-token deadline (300 ms) passes mid-stream without effect; the total one (1.2 s) ends it.
    const t0 = Date.now()
    const { chunks, err } = await readStream('steady', 100)
    const elapsed = Date.now() - t0
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('total_timeout')
    expect(chunks).toBeGreaterThan(5)
    expect(chunks).toBeLessThan(100)
    expect(elapsed).toBeGreaterThanOrEqual(1000)
    expect(elapsed).toBeLessThan(4500)
    await eventually(async () => (await simStats(steady)).inflight === 0)
  })

  it('total: a deadline shorter than first_token gives 504 total_timeout before the first byte', async () => {
    const err = await client.chat.completions
      .create({ model: 'sleepy-total', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(504)
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('total_timeout')
    await eventually(async () => (await simStats(sleepy)).inflight === 0)
  })
})
