// A fallback model's own limits (limits.per_model) hold for requests that fall back to it: a
// model kept to a few requests per minute is not flooded by the traffic of a model that failed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { eventually, setFault, simStats, startSims } from '../helpers/sim.js'

let small: SimServer
let large: SimServer
let gw: GatewayProcess

beforeAll(async () => {
  ;[small, large] = await startSims(2)
  gw = await startGateway({
    logging: { access_log: 'off' },
    limits: { per_model: { 'chat-large': { requests_per_minute: 3, concurrency: 1 } } },
    models: [
      { name: 'chat-small', upstreams: [{ url: `${small.url}/v1` }], retries: { attempts: 0 }, fallback: ['chat-large'] },
      { name: 'chat-large', upstreams: [{ url: `${large.url}/v1` }] },
    ],
  })
  await setFault(small, { mode: 'down' })
})

afterAll(async () => {
  await gw?.stop()
  await small?.close()
  await large?.close()
})

function ask(model: string, url = gw.url, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, max_tokens: 5, messages: [{ role: 'user', content: 'Hello' }] }),
    signal,
  })
}

describe("a fallback model's own limits", () => {
  it('count the requests that fall back to it, free its concurrency slot after each, and refuse past its limit with 429', async () => {
    const before = (await simStats(large)).received
    // One at a time: each needs the single slot the one before held (freed as it ended).
    for (let i = 0; i < 3; i++) {
      const r = await ask('chat-small')
      expect(r.status).toBe(200)
      expect(r.headers.get('x-switchyard-model')).toBe('chat-large')
      // The fallback model's figures: its limit is the only requests limit that applies.
      expect(r.headers.get('x-ratelimit-limit-requests')).toBe('3')
      expect(r.headers.get('x-ratelimit-remaining-requests')).toBe(String(2 - i))
      await r.text()
    }
    const refused = await ask('chat-small')
    expect(refused.status).toBe(429)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    const body = (await refused.json()) as { error: { code: string; type: string; message: string } }
    expect(body.error.code).toBe('rate_limit_exceeded')
    expect(body.error.type).toBe('rate_limit_error')
    expect(body.error.message).toContain('model chat-large')
    // The model's own clients share the same limit.
    expect((await ask('chat-large')).status).toBe(429)
    expect((await simStats(large)).received - before).toBe(3)
  })
})

describe('a model a request fell back from', () => {
  let small2: SimServer
  let large2: SimServer
  let gw2: GatewayProcess

  beforeAll(async () => {
    ;[small2, large2] = await startSims(2)
    gw2 = await startGateway({
      logging: { access_log: 'off' },
      limits: { per_model: { 'chat-small': { concurrency: 1 } } },
      models: [
        { name: 'chat-small', upstreams: [{ url: `${small2.url}/v1` }], retries: { attempts: 0 }, fallback: ['chat-large'] },
        { name: 'chat-large', upstreams: [{ url: `${large2.url}/v1` }], timeouts: { first_token: '60s' } },
      ],
    })
  })

  afterAll(async () => {
    await gw2?.stop()
    await small2?.close()
    await large2?.close()
  })

  it('frees its concurrency slot as the fallback takes over, not when the fallback answer ends', async () => {
    await setFault(small2, { mode: 'down' })
    await setFault(large2, { mode: 'hang' })
    // Falls back to chat-large, which holds it (no answer yet).
    const held = new AbortController()
    const first = ask('chat-small', gw2.url, held.signal).catch(() => undefined)
    await eventually(async () => (await simStats(large2)).received === 1)
    // chat-small answers again: its one slot is free for its own clients.
    await setFault(small2, { mode: 'ok' })
    const r = await ask('chat-small', gw2.url)
    const text = await r.text()
    expect(r.status, text).toBe(200)
    expect(r.headers.get('x-switchyard-model')).toBe('chat-small')
    held.abort()
    await first
    // The held request's end frees nothing twice: still one request at a time.
    await eventually(async () => (await simStats(large2)).cancelled === 1)
    await setFault(small2, { mode: 'slow', latency_ms: 500 })
    const two = await Promise.all(
      [1, 2].map(() => ask('chat-small', gw2.url).then(async (res) => [res.status, await res.text()] as const))
    )
    expect(two.map(([status]) => status).sort()).toEqual([200, 429])
  })
})
