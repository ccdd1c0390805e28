import { request } from 'node:http'
import OpenAI from 'openai'
import { describe, expect, it } from 'vitest'
import { call, chatBody, setFault, simHarness, sleep, sseData, stats, waitFor } from './helpers.js'

const sims = simHarness()
const client = (url: string) => new OpenAI({ baseURL: url + '/v1', apiKey: 'x', maxRetries: 0 })
const chat = (url: string, extra: Record<string, unknown> = {}) =>
  call(`${url}/v1/chat/completions`, { body: chatBody('fault test', extra) })

interface RawReply {
  status: number
  text: string
  error?: Error
}

/** Reads a response with node:http, resolving with what arrived and how it ended. */
function rawPost(url: string, body: unknown): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } })
    req.on('error', reject)
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      res.on('error', (error) => resolve({ status: res.statusCode ?? 0, text, error }))
    })
    req.end(JSON.stringify(body))
  })
}

describe('fault injection', () => {
  it('starts in mode ok and reports the current fault with defaults filled in', async () => {
    const sim = await sims()
    expect((await call(`${sim.url}/sim/fault`)).body).toEqual({ mode: 'ok' })
    await setFault(sim, { mode: 'slow' })
    expect((await call(`${sim.url}/sim/fault`)).body).toEqual({ mode: 'slow', latency_ms: 2000 })
    await setFault(sim, { mode: 'drop-mid-stream' })
    expect((await call(`${sim.url}/sim/fault`)).body).toEqual({
      mode: 'drop-mid-stream',
      after_chunks: 3,
    })
  })

  it('down: 503 on /v1/* and /health, and back to 200 after ok', async () => {
    const sim = await sims()
    await setFault(sim, { mode: 'down' })
    const reply = await chat(sim.url)
    expect(reply.status).toBe(503)
    expect((reply.body as { error: { type: string } }).error.type).toBe('server_error')
    expect((await call(`${sim.url}/health`)).status).toBe(503)
    expect((await call(`${sim.url}/v1/models`)).status).toBe(503)
    // Control and metrics endpoints are not affected.
    expect((await call(`${sim.url}/metrics`)).status).toBe(200)
    await setFault(sim, { mode: 'ok' })
    expect((await chat(sim.url)).status).toBe(200)
    expect((await call(`${sim.url}/health`)).status).toBe(200)
  })

  it('error: 500 with an OpenAI error body', async () => {
    const sim = await sims()
    await setFault(sim, { mode: 'error' })
    await expect(client(sim.url).chat.completions.create(chatBody('x'))).rejects.toBeInstanceOf(
      OpenAI.InternalServerError
    )
    expect((await call(`${sim.url}/health`)).status).toBe(200)
  })

  it('rate-limit: 429 with Retry-After and type rate_limit_exceeded', async () => {
    const sim = await sims()
    await setFault(sim, { mode: 'rate-limit', retry_after: 7 })
    const reply = await chat(sim.url)
    expect(reply.status).toBe(429)
    expect(reply.headers.get('retry-after')).toBe('7')
    const error = (reply.body as { error: Record<string, unknown> }).error
    expect(error.type).toBe('rate_limit_exceeded')
    expect(typeof error.message).toBe('string')
  })

  it('slow: adds latency before the first token, streaming or not', async () => {
    const sim = await sims({ ttftMs: 0 })
    await setFault(sim, { mode: 'slow', latency_ms: 250 })
    let started = performance.now()
    expect((await chat(sim.url, { max_tokens: 1 })).status).toBe(200)
    expect(performance.now() - started).toBeGreaterThanOrEqual(240)
    started = performance.now()
    const res = await fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chatBody('x', { stream: true, max_tokens: 1 })),
    })
    // Headers come at once; the tokens wait.
    expect(performance.now() - started).toBeLessThan(200)
    await res.text()
    expect(performance.now() - started).toBeGreaterThanOrEqual(240)
  })

  it('hang: never answers, and a client that gives up is counted cancelled', async () => {
    const sim = await sims()
    await setFault(sim, { mode: 'hang' })
    const controller = new AbortController()
    const pending = fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chatBody('x')),
      signal: controller.signal,
    })
    await waitFor(async () => (await stats(sim)).inflight === 1, 2000, 'the hung request')
    await sleep(100)
    controller.abort()
    await expect(pending).rejects.toThrow()
    await waitFor(async () => (await stats(sim)).cancelled === 1, 1000, 'cancelled')
    const after = await stats(sim)
    expect(after.inflight).toBe(0)
    expect(after.completed).toBe(0)
  })

  it('drop-mid-stream: sends the headers and N chunks, then cuts the connection', async () => {
    const sim = await sims()
    await setFault(sim, { mode: 'drop-mid-stream', after_chunks: 3 })
    const res = await rawPost(`${sim.url}/v1/chat/completions`, chatBody('x', { stream: true }))
    expect(res.status).toBe(200)
    expect(res.error).toBeDefined()
    expect(sseData(res.text)).toHaveLength(3)
    const stream = await client(sim.url).chat.completions.create({
      ...chatBody('x'),
      stream: true,
    })
    await expect(async () => {
      for await (const chunk of stream) void chunk
    }).rejects.toThrow()
    await waitFor(async () => (await stats(sim)).dropped === 2, 1000, 'dropped')
    expect((await stats(sim)).cancelled).toBe(0)
  })

  it('drop-mid-stream: cuts a stream shorter than N, and non-stream requests at once', async () => {
    const sim = await sims()
    await setFault(sim, { mode: 'drop-mid-stream', after_chunks: 100 })
    const res = await rawPost(
      `${sim.url}/v1/chat/completions`,
      chatBody('x', { stream: true, max_tokens: 2 })
    )
    expect(res.error).toBeDefined()
    expect(res.text).not.toContain('[DONE]')
    expect(sseData(res.text)).toHaveLength(4) // role, 2 tokens, finish
    await expect(rawPost(`${sim.url}/v1/chat/completions`, chatBody('x'))).rejects.toThrow()
  })

  it('rejects invalid fault JSON with 400 and keeps the current fault', async () => {
    const sim = await sims()
    await setFault(sim, { mode: 'error' })
    const bad = [
      { raw: 'nope' },
      { body: { mode: 'explode' } },
      { body: { mode: 'slow', latency_ms: -5 } },
      { body: { mode: 'slow', latencyMs: 5 } },
      { body: { mode: 'down', after_chunks: 2 } },
      { body: { mode: 'rate-limit', retry_after: 1.5 } },
    ]
    for (const init of bad) {
      const reply = await call(`${sim.url}/sim/fault`, init)
      expect(reply.status, JSON.stringify(init)).toBe(400)
      expect((reply.body as { error: { message: string } }).error.message).toMatch(/fault/i)
    }
    expect((await call(`${sim.url}/sim/fault`)).body).toEqual({ mode: 'error' })
  })
})
