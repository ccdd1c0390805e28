// Streaming guarantees: client disconnects cancel upstream work, slow readers exert
// backpressure instead of growing memory, SIGTERM lets streams finish.
import { request } from 'node:http'
import { readFile } from 'node:fs/promises'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { eventually, resetSim, setFault, simStats, startSims } from '../helpers/sim.js'

let sim: SimServer
let fast: SimServer
let gw: GatewayProcess
let client: OpenAI
/** vLLM's flag, honoured by the simulator: generate exactly max_tokens. */
const LONG = { ignore_eos: true }

beforeAll(async () => {
  ;[sim] = await startSims(1, { ttftMs: 20, tokensPerSecond: 100 })
  ;[fast] = await startSims(1, { ttftMs: 0, tokensPerSecond: 0 })
  gw = await startGateway({
    models: [
      { name: 'm', upstreams: [{ url: `${sim!.url}/v1` }], retries: { attempts: 0 } },
      { name: 'firehose', upstreams: [{ url: `${fast!.url}/v1` }] },
    ],
  })
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
})

afterAll(async () => {
  await gw?.stop()
  await sim?.close()
  await fast?.close()
})

describe('client disconnects cancel the upstream request', () => {
  it('mid-stream', async () => {
    await resetSim(sim)
    const stream = await client.chat.completions.create({
      model: 'm',
      stream: true,
      max_tokens: 5000,
      messages: [{ role: 'user', content: 'long' }],
      ...LONG,
    })
    let chunks = 0
    // Leaving the loop early makes the SDK abort its HTTP request.
    for await (const _ of stream) if (++chunks === 5) break
    expect(chunks).toBe(5)
    const t0 = Date.now()
    await eventually(async () => (await simStats(sim)).cancelled === 1, 1000)
    expect(Date.now() - t0).toBeLessThan(1000)
    expect((await simStats(sim)).inflight).toBe(0)
  })

  it('while waiting for the first token', async () => {
    await resetSim(sim)
    await setFault(sim, { mode: 'slow', latency_ms: 10_000 })
    const controller = new AbortController()
    const pending = client.chat.completions.create(
      { model: 'm', stream: true, messages: [{ role: 'user', content: 'wait' }] },
      { signal: controller.signal }
    )
    await eventually(async () => (await simStats(sim)).inflight === 1)
    controller.abort()
    await expect(pending).rejects.toThrow()
    await eventually(async () => (await simStats(sim)).cancelled === 1, 1000)
    await resetSim(sim)
  })

  it('while waiting for a non-streaming answer, logged as 499', async () => {
    await resetSim(sim)
    await setFault(sim, { mode: 'hang' })
    const controller = new AbortController()
    const pending = client.chat.completions.create(
      { model: 'm', messages: [{ role: 'user', content: 'hang' }] },
      { signal: controller.signal, headers: { 'x-request-id': 'abort-nonstream-1' } }
    )
    await eventually(async () => (await simStats(sim)).inflight === 1)
    controller.abort()
    await expect(pending).rejects.toThrow()
    await eventually(async () => (await simStats(sim)).cancelled === 1, 1000)
    await resetSim(sim)
    await eventually(() => gw.stdout().includes('abort-nonstream-1'), 5000)
    const line = gw.accessLines().find((l) => l.request_id === 'abort-nonstream-1')!
    expect(line.status).toBe(499)
    expect(line.outcome).toBe('cancelled')
  })
})

describe('backpressure', () => {
  async function rssKb(pid: number): Promise<number> {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    return Number(/VmRSS:\s+(\d+)/.exec(status)![1])
  }

  it('a client that reads a huge stream very slowly does not grow gateway memory', async () => {
    const pid = gw.proc.pid!
    const before = await rssKb(pid)
    // ~1M tokens generated as fast as the sim can: ~150 MB if anything buffered it all.
    const body = JSON.stringify({ model: 'firehose', stream: true, max_tokens: 1_000_000, messages: [{ role: 'user', content: 'flood' }], ...LONG })
    let received = 0
    const req = request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } })
    const done = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        res.on('data', (d: Buffer) => {
          received += d.length
          // Read one chunk, then stall for good: the TCP window fills and must stop the gateway.
          res.pause()
          setTimeout(() => resolve(), 3000)
        })
      })
    })
    req.end(body)
    await done
    const stalled = await simStats(fast)
    const after = await rssKb(pid)
    await new Promise((r) => setTimeout(r, 1000))
    const later = await simStats(fast)
    req.destroy()
    // The sim is blocked too: it made (almost) no progress while the client did not read.
    expect(later.inflight).toBe(1)
    expect(after - before).toBeLessThan(40 * 1024)
    expect(received).toBeLessThan(10 * 1024 * 1024)
    expect(stalled.completed).toBe(later.completed)
    await eventually(async () => (await simStats(fast)).inflight === 0, 2000)
  })
})
