// Stream keep-alive before the first token (timeouts.keepalive): SSE comments hold an idle
// connection open through a long prefill; once they committed the stream, a failure ends it
// with the SSE error event and is never retried.
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { estimatePromptTokens } from '../../src/tokens/token-estimate.js'
import { adminClient } from '../helpers/admin.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { testKey } from '../helpers/keys.js'
import { scrape, sum } from '../helpers/prometheus.js'
import { eventually, setFault, simStats, startSims } from '../helpers/sim.js'

let slow: SimServer
let stuck: SimServer
let spare: SimServer
let gw: GatewayProcess

beforeAll(async () => {
  ;[slow, stuck, spare] = await startSims(3)
  await setFault(slow!, { mode: 'slow', latency_ms: 1000 })
  await setFault(stuck!, { mode: 'hang' })
  gw = await startGateway({
    models: [
      { name: 'pings', upstreams: [{ url: `${slow!.url}/v1`, name: 'slow' }], timeouts: { keepalive: '200ms' } },
      {
        name: 'stuck',
        strategy: 'weighted',
        // The hanging upstream takes every first attempt; the spare would serve a retry.
        upstreams: [
          { url: `${stuck!.url}/v1`, name: 'stuck', weight: 1000 },
          { url: `${spare!.url}/v1`, name: 'spare', weight: 1 },
        ],
        timeouts: { keepalive: '150ms', first_token: '700ms' },
      },
      { name: 'nopings', upstreams: [{ url: `${slow!.url}/v1`, name: 'slow' }] },
      // The simulator sends its headers at once and the first token a second later, as vLLM does.
      { name: 'prefill', upstreams: [{ url: `${slow!.url}/v1`, name: 'slow' }], timeouts: { idle: '300ms' }, retries: { attempts: 0 } },
    ],
  })
})

afterAll(async () => {
  await gw?.stop()
  await Promise.all([slow, stuck, spare].map((s) => s?.close()))
})

/** Streams a request and records each chunk with its arrival time. */
function rawStream(model: string, target = gw, headers: Record<string, string> = {}, content = 'think hard'): Promise<{ status: number; headers: Record<string, unknown>; chunks: { at: number; text: string }[] }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    const req = request(`${target.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: { at: number; text: string }[] = []
      res.setEncoding('utf8')
      res.on('data', (d: string) => chunks.push({ at: Date.now() - t0, text: d }))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, chunks }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(JSON.stringify({ model, stream: true, max_tokens: 5, messages: [{ role: 'user', content }] }))
  })
}

describe('keep-alive pings before the first token', () => {
  it('sends `: ping` comments until the slow first token, then the stream as usual', async () => {
    const { status, headers, chunks } = await rawStream('pings')
    expect(status).toBe(200)
    expect(headers['content-type']).toMatch(/^text\/event-stream/)
    expect(headers['x-switchyard-upstream']).toBe('slow')
    const body = chunks.map((c) => c.text).join('')
    const firstData = body.indexOf('data:')
    const pings = body.slice(0, firstData).match(/: ping\n\n/g) ?? []
    expect(pings.length).toBeGreaterThanOrEqual(3)
    // The first ping is on the wire long before the first token.
    expect(chunks[0]!.text.startsWith(': ping')).toBe(true)
    expect(chunks[0]!.at).toBeLessThan(600)
    expect(body.slice(firstData)).not.toContain(': ping')
    expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true)
  })

  it('the openai SDK reads through the pings', async () => {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
    const stream = await client.chat.completions.create({ model: 'pings', stream: true, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })
    let text = ''
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? ''
    expect(text.length).toBeGreaterThan(0)
  })

  it('without keepalive nothing is sent before the first token', async () => {
    const { chunks } = await rawStream('nopings')
    expect(chunks[0]!.text.startsWith('data:')).toBe(true)
    expect(chunks[0]!.at).toBeGreaterThanOrEqual(900)
  })

  it('the idle timeout starts at the first byte, so a prefill longer than it is not cut', async () => {
    const { status, chunks } = await rawStream('prefill')
    expect(status).toBe(200)
    const body = chunks.map((c) => c.text).join('')
    expect(body).not.toContain('"error"')
    expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true)
  })

  it('after pings committed the stream, a first-token timeout ends it with the SSE error event, not a retry', async () => {
    const before = (await simStats(spare!)).received
    const { status, chunks } = await rawStream('stuck', gw, { 'x-request-id': 'pinged-timeout' })
    expect(status).toBe(200)
    const body = chunks.map((c) => c.text).join('')
    expect(body).toMatch(/^(: ping\n\n)+data: \{"error":/)
    const last = JSON.parse(body.slice(body.indexOf('data: ') + 6).trim()) as { error: { code: string } }
    expect(last.error.code).toBe('first_token_timeout')
    expect((await simStats(spare!)).received).toBe(before)
    expect((await simStats(stuck!)).received).toBe(1)
    // Recorded as the timeout it was, not as a 200 with estimated (billable) usage.
    await eventually(() => gw.accessLines().some((l) => l.request_id === 'pinged-timeout'))
    const line = gw.accessLines().find((l) => l.request_id === 'pinged-timeout')!
    expect(line).toMatchObject({ status: 504, outcome: 'error', error: 'first_token_timeout', prompt_tokens: null, usage_estimated: false })
  })
})

describe('an upstream error answer after pings committed the stream', () => {
  let failing: Server
  let sim: SimServer
  let gw2: GatewayProcess
  const ADMIN = 'admin-token-for-keepalive-tests'
  const key = testKey('pinged', { limits: { tokens_per_minute: 1000 } })

  beforeAll(async () => {
    // Answers 500 with an OpenAI error body once a few pings have gone out.
    failing = createServer((req, res) => {
      req.resume().on('end', () => {
        setTimeout(() => {
          res.writeHead(500, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { message: 'boom', type: 'server_error', code: null, param: null } }))
        }, 600)
      })
    })
    await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r))
    ;[sim] = await startSims(1, { ttftMs: 0, tokensPerSecond: 0 })
    gw2 = await startGateway({
      admin: { token: ADMIN },
      auth: { keys: [key.entry] },
      models: [
        {
          name: 'fails',
          upstreams: [{ url: `http://127.0.0.1:${(failing.address() as AddressInfo).port}/v1`, name: 'failing' }],
          timeouts: { keepalive: '150ms' },
          retries: { attempts: 0 },
        },
        { name: 'works', upstreams: [{ url: `${sim!.url}/v1`, name: 'sim' }] },
      ],
      prices: { fails: { input: 1000, output: 1000 }, works: { input: 1000, output: 1000 } },
    })
  })

  afterAll(async () => {
    await gw2?.stop()
    failing?.close()
    await sim?.close()
  })

  it('reaches the client as the SSE error event, and is accounted as the failure it was', async () => {
    const auth = { authorization: `Bearer ${key.key}`, 'x-request-id': 'pinged-500' }
    // A prompt far larger than what the bucket refills while the request runs (1000 a minute).
    const { status, chunks } = await rawStream('fails', gw2, auth, 'word '.repeat(300))
    expect(status).toBe(200)
    const body = chunks.map((c) => c.text).join('')
    expect(body).toMatch(/^(: ping\n\n)+data: \{"error":\{"message":"boom"/)

    await eventually(() => gw2.accessLines().some((l) => l.request_id === 'pinged-500'))
    const line = gw2.accessLines().find((l) => l.request_id === 'pinged-500')!
    expect(line).toMatchObject({ status: 500, outcome: 'error', error: 'upstream_error', prompt_tokens: null, usage_estimated: false })
    const samples = await scrape(gw2.adminUrl)
    expect(sum(samples, 'switchyard_requests_total', { gen_ai_request_model: 'fails', status_class: '5xx', error_type: 'upstream_error' })).toBe(1)
    expect(sum(samples, 'switchyard_requests_total', { gen_ai_request_model: 'fails' })).toBe(1)
    expect(sum(samples, 'gen_ai_server_time_to_first_token_seconds_count', { gen_ai_request_model: 'fails' })).toBe(0)

    // Nothing spent, and the tokens reserved for it were all given back.
    const keys = await adminClient(gw2.adminUrl, ADMIN)('GET', '/admin/keys')
    expect((keys.body as { data: unknown[] }).data).toContainEqual(expect.objectContaining({ name: 'pinged', spent_usd: 0 }))
    const b2 = { model: 'works', max_tokens: 1, messages: [{ role: 'user' as const, content: 'Hello' }] }
    const c = new OpenAI({ baseURL: `${gw2.url}/v1`, apiKey: key.key, maxRetries: 0 })
    const r2 = await c.chat.completions.create(b2).withResponse()
    expect(Number(r2.response.headers.get('x-ratelimit-remaining-tokens'))).toBe(1000 - estimatePromptTokens('chat', b2) - 1)
  })
})
