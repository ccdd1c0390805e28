// Stream keep-alive before the first token (timeouts.keepalive): SSE comments hold an idle
// connection open through a long prefill; once they committed the stream, a failure ends it
// with the SSE error event and is never retried.
import { request } from 'node:http'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { setFault, simStats, startSims } from '../helpers/sim.js'

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
function rawStream(model: string): Promise<{ status: number; headers: Record<string, unknown>; chunks: { at: number; text: string }[] }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    const req = request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: { at: number; text: string }[] = []
      res.setEncoding('utf8')
      res.on('data', (d: string) => chunks.push({ at: Date.now() - t0, text: d }))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, chunks }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(JSON.stringify({ model, stream: true, max_tokens: 5, messages: [{ role: 'user', content: 'think hard' }] }))
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
    const { status, chunks } = await rawStream('stuck')
    expect(status).toBe(200)
    const body = chunks.map((c) => c.text).join('')
    expect(body).toMatch(/^(: ping\n\n)+data: \{"error":/)
    const last = JSON.parse(body.slice(body.indexOf('data: ') + 6).trim()) as { error: { code: string } }
    expect(last.error.code).toBe('first_token_timeout')
    expect((await simStats(spare!)).received).toBe(before)
    expect((await simStats(stuck!)).received).toBe(1)
  })
})
