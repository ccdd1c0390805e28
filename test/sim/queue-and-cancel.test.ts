import { request } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { Agent, fetch as undiciFetch } from 'undici'
import { describe, expect, it } from 'vitest'
import { startSim } from '../../src/sim/server.js'
import { call, chatBody, metric, simHarness, sleep, stats, waitFor } from './helpers.js'

const sims = simHarness()

/** Starts a streaming chat request and resolves once the response headers are in. */
function openStream(url: string, body: Record<string, unknown>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    })
    req.on('error', reject)
    req.on('response', resolve)
    req.end(JSON.stringify({ ...body, stream: true }))
  })
}

describe('queueing beyond maxConcurrency', () => {
  it('shows queued requests in the waiting gauge, then runs them all in FIFO order', async () => {
    const sim = await sims({ maxConcurrency: 1, ttftMs: 0, tokensPerSecond: 1000 })
    // A long stream holds the only slot until the queue has been inspected.
    const hold = chatBody('hold', { max_tokens: 1e6, ignore_eos: true })
    const holder = await openStream(sim.url, hold)
    holder.resume()
    const finished: number[] = []
    const requests = []
    for (let i = 0; i < 3; i++) {
      const body = chatBody(`queued ${i}`, { max_tokens: 5 })
      requests.push(
        call(`${sim.url}/v1/chat/completions`, { body }).then((reply) => {
          finished.push(i)
          return reply.status
        })
      )
      // Let each arrive before the next, so arrival order is known.
      await waitFor(async () => (await stats(sim)).waiting === i + 1, 2000, `request ${i}`)
    }
    expect(await metric(sim, 'vllm:num_requests_running')).toBe(1)
    expect(await metric(sim, 'vllm:num_requests_waiting', 'model_name="sim-model"')).toBe(3)
    holder.destroy()
    expect(await Promise.all(requests)).toEqual([200, 200, 200])
    expect(finished).toEqual([0, 1, 2])
    expect(await metric(sim, 'vllm:num_requests_waiting')).toBe(0)
    expect(await metric(sim, 'vllm:request_success_total', 'finished_reason="length"')).toBe(3)
  })

  it('removes a queued request whose client leaves and counts it cancelled', async () => {
    const sim = await sims({ maxConcurrency: 1, ttftMs: 0, tokensPerSecond: 100 })
    // The first request holds the only slot until this test lets it go.
    const first = await openStream(sim.url, chatBody('a', { max_tokens: 1e6, ignore_eos: true }))
    first.resume()
    const controller = new AbortController()
    const second = fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chatBody('b')),
      signal: controller.signal,
    })
    await waitFor(async () => (await stats(sim)).waiting === 1, 2000, 'second queued')
    controller.abort()
    await expect(second).rejects.toThrow()
    await waitFor(async () => (await stats(sim)).waiting === 0, 1000, 'queue emptied')
    expect(await stats(sim)).toMatchObject({ cancelled: 1, inflight: 1, waiting: 0 })
    // The cancelled request never started generating: only the first one's prompt counts.
    expect(await metric(sim, 'vllm:prompt_tokens_total')).toBe(1)
    first.destroy()
    await waitFor(async () => (await stats(sim)).cancelled === 2, 1000, 'first cancelled')
    // The slot is free again.
    const third = await call(`${sim.url}/v1/chat/completions`, { body: chatBody('c') })
    expect(third.status).toBe(200)
    expect(await stats(sim)).toMatchObject({ completed: 1, cancelled: 2, inflight: 0 })
  })
})

describe('cancellation and backpressure', () => {
  it('counts a client abort mid-stream as cancelled within 1 s and stops generating', async () => {
    const sim = await sims({ ttftMs: 0, tokensPerSecond: 200 })
    const body = chatBody('abort me', { max_tokens: 200_000, ignore_eos: true })
    const res = await openStream(sim.url, body)
    let received = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => (received += chunk))
    await waitFor(() => received.split('\n\n').length > 5, 2000, 'some chunks')
    res.destroy()
    const aborted = Date.now()
    await waitFor(async () => (await stats(sim)).cancelled === 1, 1000, 'cancelled')
    expect(Date.now() - aborted).toBeLessThan(1000)
    const tokens = await metric(sim, 'vllm:generation_tokens_total')
    await sleep(100)
    expect(await metric(sim, 'vllm:generation_tokens_total')).toBe(tokens)
    expect(await stats(sim)).toMatchObject({ inflight: 0, completed: 0, cancelled: 1 })
  })

  it('blocks generation while the client does not read, and finishes once it does', async () => {
    const sim = await sims({ ttftMs: 0, tokensPerSecond: 0 })
    const total = 200_000
    const body = chatBody('slow reader', { max_tokens: total, ignore_eos: true })
    const res = await openStream(sim.url, body)
    res.pause()
    // Give an unblocked generator ample time to write every token; on a busy machine the
    // socket buffers take longer to fill, so wait until the count stops moving.
    await sleep(500)
    let stalled = await metric(sim, 'vllm:generation_tokens_total')
    for (let i = 0; i < 20; i++) {
      await sleep(100)
      const now = await metric(sim, 'vllm:generation_tokens_total')
      if (now === stalled) break
      stalled = now
    }
    expect(stalled).toBeGreaterThan(0)
    expect(stalled).toBeLessThan(total)
    await sleep(100)
    expect(await metric(sim, 'vllm:generation_tokens_total')).toBe(stalled)
    let tail = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => (tail = (tail + chunk).slice(-200)))
    res.resume()
    await new Promise((resolve) => res.on('end', resolve))
    expect(tail.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(await metric(sim, 'vllm:generation_tokens_total')).toBe(total)
  })
})

describe('stats and lifecycle', () => {
  it('records the last /v1 request with headers and parsed body, and resets', async () => {
    const sim = await sims()
    const body = chatBody('remember me', { max_tokens: 2 })
    await call(`${sim.url}/v1/chat/completions?trace=1`, { body, headers: { 'x-trace': 'abc' } })
    await call(`${sim.url}/health`)
    const seen = await stats(sim)
    expect(seen.received).toBe(1)
    expect(seen.completed).toBe(1)
    expect(seen.byPath).toEqual({ '/v1/chat/completions': 1, '/health': 1 })
    expect(seen.lastRequest).toMatchObject({
      method: 'POST',
      path: '/v1/chat/completions',
      url: '/v1/chat/completions?trace=1',
      body,
    })
    expect(seen.lastRequest!.headers['x-trace']).toBe('abc')
    expect(seen.lastRequest!.headers['content-type']).toBe('application/json')
    await call(`${sim.url}/v1/completions`, { raw: 'plain text' })
    expect((await stats(sim)).lastRequest!.body).toBe('plain text')
    expect((await call(`${sim.url}/sim/reset`, { method: 'POST' })).status).toBe(200)
    expect(await stats(sim)).toEqual({
      received: 0,
      completed: 0,
      cancelled: 0,
      dropped: 0,
      inflight: 0,
      waiting: 0,
      byPath: {},
      lastRequest: null,
    })
  })

  it('keeps connections alive and closes promptly with idle and busy sockets open', async () => {
    const sim = await startSim({ ttftMs: 0, tokensPerSecond: 50 })
    const agent = new Agent({ keepAliveTimeout: 60_000 })
    try {
      for (let i = 0; i < 3; i++) {
        const res = await undiciFetch(`${sim.url}/health`, { dispatcher: agent })
        expect(res.headers.get('keep-alive')).toMatch(/timeout=65/)
        await res.text()
      }
      // One stream still running, too.
      const body = chatBody('busy', { max_tokens: 1000, ignore_eos: true })
      const busy = await openStream(sim.url, body)
      busy.on('error', () => {})
      busy.resume()
      const started = Date.now()
      await sim.close()
      expect(Date.now() - started).toBeLessThan(500)
      await sim.close()
      await expect(fetch(`${sim.url}/health`)).rejects.toThrow()
    } finally {
      await agent.close()
    }
  })

  it('rejects invalid options', async () => {
    await expect(startSim({ tokensPerSecond: -1 })).rejects.toThrow(RangeError)
    await expect(startSim({ maxConcurrency: 1.5 })).rejects.toThrow(RangeError)
    await expect(startSim({ name: 'bad\nname' })).rejects.toThrow(TypeError)
  })
})
