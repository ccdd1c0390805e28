// Graceful shutdown: SIGTERM stops new work, lets in-flight streams finish, exits 0.
import { connect } from 'node:net'
import OpenAI from 'openai'
import { afterAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway } from '../helpers/gateway-process.js'
import { post } from '../helpers/requests.js'
import { eventually, setFault, simStats, startSims } from '../helpers/sim.js'

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

describe('/readyz during the drain', () => {
  it('answers 503 draining, so a load balancer stops sending new work (asked on a connection kept busy by a stream)', async () => {
    const [sim] = await startSims(1, { ttftMs: 20, tokensPerSecond: 100 })
    sims.push(sim)
    const gw = await startGateway({ models: [{ name: 'm', upstreams: [{ url: `${sim.url}/v1` }] }] })
    const { hostname, port } = new URL(gw.url)
    const socket = connect({ host: hostname, port: Number(port) })
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (text += d))
    const closed = new Promise((r) => socket.on('close', r))
    const body = JSON.stringify({ model: 'm', stream: true, max_tokens: 50, messages: [{ role: 'user', content: 'drain' }], ignore_eos: true })
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    await eventually(() => text.includes('data: '))
    const exit = gw.stop('SIGTERM')
    await gw.waitForLog(/"msg":"draining"/)
    // Pipelined behind the stream: answered once it ends, from the draining gateway.
    socket.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n')
    await closed
    expect(text).toContain('data: [DONE]')
    const second = text.slice(text.lastIndexOf('HTTP/1.1 '))
    expect(second).toMatch(/^HTTP\/1\.1 503 /)
    expect(JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 'not_ready', draining: true })
    expect(await exit).toBe(0)
  })
})

describe('SIGHUP during the drain', () => {
  it('is ignored: the stream finishes and the process exits 0 (it used to kill the process, cutting every stream)', async () => {
    const [sim] = await startSims(1, { ttftMs: 20, tokensPerSecond: 100 })
    sims.push(sim)
    const gw = await startGateway({ models: [{ name: 'm', upstreams: [{ url: `${sim.url}/v1` }] }] })
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
    const stream = await client.chat.completions.create({
      model: 'm',
      stream: true,
      max_tokens: 80,
      messages: [{ role: 'user', content: 'drain' }],
      ...{ ignore_eos: true },
    })
    const exit = gw.stop('SIGTERM')
    await gw.waitForLog(/"msg":"draining"/)
    gw.proc.kill('SIGHUP')
    let n = 0
    for await (const c of stream) n += c.choices[0]?.delta?.content ? 1 : 0
    expect(n).toBe(80)
    expect(await exit).toBe(0)
    expect(gw.stderr()).toMatch(/SIGHUP ignored: shutting down/)
  })
})

describe('SIGTERM past server.drain_timeout', () => {
  it('ends a live stream with an SSE error event and answers requests still waiting (upstream or queue) 503, then exits 0', async () => {
    const [slow, silent] = await startSims(2, { ttftMs: 20, tokensPerSecond: 20 })
    sims.push(slow, silent)
    await setFault(silent, { mode: 'hang' })
    const gw = await startGateway({
      server: { drain_timeout: '1s' },
      models: [
        { name: 'slow', upstreams: [{ url: `${slow.url}/v1` }] },
        { name: 'silent', upstreams: [{ url: `${silent.url}/v1`, max_concurrency: 1 }], timeouts: { first_token: '60s' }, queue: { max: 10, timeout: '60s' } },
      ],
    })
    // A stream that needs about 5 s, and a request whose upstream never sends a byte.
    const stream = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow', stream: true, max_tokens: 100, ignore_eos: true, messages: [{ role: 'user', content: 'long' }] }),
    })
    expect(stream.status).toBe(200)
    const waiting = post(gw.url, { model: 'silent', messages: [{ role: 'user', content: 'never' }] })
    // Awaited below; without the answer it rejects (connection cut) before that.
    waiting.catch(() => undefined)
    await eventually(async () => (await simStats(silent)).received === 1)
    // The upstream's one slot is taken: this one waits in the admission queue.
    const queued = post(gw.url, { model: 'silent', messages: [{ role: 'user', content: 'queued' }] })
    queued.catch(() => undefined)
    await new Promise((r) => setTimeout(r, 200))
    const started = Date.now()
    const exit = gw.stop('SIGTERM')

    const text = await stream.text()
    const events = text.split('\n\n').filter((e) => e.startsWith('data: '))
    expect(events.length).toBeGreaterThan(1)
    expect(events.at(-1)).not.toBe('data: [DONE]')
    expect(JSON.parse(events.at(-1)!.slice(6))).toMatchObject({ error: { code: 'shutting_down', type: 'server_error' } })
    const answer = await waiting
    expect(answer.status).toBe(503)
    expect(answer.json).toMatchObject({ error: { code: 'shutting_down', type: 'server_error', param: null } })
    expect(answer.headers.get('retry-after')).toBe('1')
    const fromQueue = await queued
    expect(fromQueue.status).toBe(503)
    expect(fromQueue.json).toMatchObject({ error: { code: 'shutting_down', type: 'server_error' } })
    expect(await exit).toBe(0)
    expect(Date.now() - started).toBeLessThan(4_000)
    // Both upstream requests were aborted, not left to run on.
    expect((await simStats(slow)).cancelled).toBe(1)
    expect((await simStats(silent)).cancelled).toBe(1)
    const lines = gw.accessLines()
    expect(lines.map((l) => [l.model, l.outcome, l.error]).sort()).toEqual([
      ['silent', 'error', 'shutting_down'],
      ['silent', 'error', 'shutting_down'],
      ['slow', 'error', 'shutting_down'],
    ])
    // The queued request never reached the upstream.
    expect((await simStats(silent)).received).toBe(1)
  })
})
