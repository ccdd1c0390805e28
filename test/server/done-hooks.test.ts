// The onResponse hooks run in a batch per event-loop turn (server/done-hooks.ts): every
// request's hooks, in order, once; a throwing hook stops nothing; and a client that sends its
// next request after reading the last answer finds that answer settled (its concurrency slot
// free), streaming or not, on one kept-alive HTTP/1.1 connection and on one HTTP/2 session.
import { mkdtemp } from 'node:fs/promises'
import { connect as h2connect, type ClientHttp2Session } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Agent, request } from 'undici'
import { flushDoneHooks, runDoneHooksSoon } from '../../src/server/done-hooks.js'
import type { RequestContext } from '../../src/server/context.js'
import type { DoneHook } from '../../src/server/hooks.js'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { startSims } from '../helpers/sim.js'
import { makeCert } from '../helpers/tls-cert.js'

function fakeCtx(id: number): RequestContext {
  return { id } as unknown as RequestContext
}

describe('runDoneHooksSoon', () => {
  it("runs each request's hooks in order, later in the same turn, all of them even when one throws", async () => {
    const seen: string[] = []
    const hooks: DoneHook[] = [
      (ctx) => seen.push(`a${(ctx as unknown as { id: number }).id}`),
      (ctx) => {
        if ((ctx as unknown as { id: number }).id === 1) throw new Error('a reporting hook failed')
        seen.push(`b${(ctx as unknown as { id: number }).id}`)
      },
      (ctx) => seen.push(`c${(ctx as unknown as { id: number }).id}`),
    ]
    runDoneHooksSoon(hooks, fakeCtx(1))
    runDoneHooksSoon(hooks, fakeCtx(2))
    expect(seen).toEqual([])
    await new Promise((resolve) => setImmediate(resolve))
    // Hook by hook across the batch; per request, the configured order.
    expect(seen).toEqual(['a1', 'a2', 'b2', 'c1', 'c2'])
  })

  it("runs two gateways' lists each for its own requests, and a request that ends inside a hook in the next batch", async () => {
    const seen: string[] = []
    const second: DoneHook[] = [() => seen.push('late')]
    const one: DoneHook[] = [
      () => {
        seen.push('one')
        runDoneHooksSoon(second, fakeCtx(3))
      },
    ]
    const two: DoneHook[] = [() => seen.push('two')]
    runDoneHooksSoon(one, fakeCtx(1))
    runDoneHooksSoon(two, fakeCtx(2))
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual(['one', 'two'])
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual(['one', 'two', 'late'])
  })

  it('flushDoneHooks runs what is waiting at once (a stopping gateway, before its reporters close), and only once', async () => {
    let runs = 0
    runDoneHooksSoon([() => runs++], fakeCtx(1))
    flushDoneHooks()
    expect(runs).toBe(1)
    await new Promise((resolve) => setImmediate(resolve))
    expect(runs).toBe(1)
  })
})

describe('a client on one connection, one request after another, under a concurrency limit of 1', () => {
  let sim: SimServer
  let gw: GatewayProcess
  let agent: Agent

  beforeAll(async () => {
    ;[sim] = await startSims(1)
    gw = await startGateway({
      logging: { access_log: 'off' },
      limits: { per_ip: { concurrency: 1 } },
      models: [{ name: 'chat-small', upstreams: [{ url: `${sim.url}/v1` }] }],
    })
    // One connection: each request goes out only after the answer before it was read.
    agent = new Agent({ connections: 1, pipelining: 1 })
  })

  afterAll(async () => {
    await agent?.close()
    await gw?.stop()
    await sim?.close()
  })

  it('finds the slot of the answer it just read free every time, streaming or not', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 40; i++) {
      const stream = i % 2 === 1
      const r = await request(`${gw.url}/v1/chat/completions`, {
        dispatcher: agent,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat-small', max_tokens: 3, stream, messages: [{ role: 'user', content: `hi ${i}` }] }),
      })
      const text = await r.body.text()
      statuses.push(r.statusCode)
      if (r.statusCode !== 200) throw new Error(`request ${i}: ${r.statusCode} ${text}`)
      if (stream) expect(text).toContain('data: [DONE]')
    }
    expect(statuses.every((s) => s === 200)).toBe(true)
  })
})

describe('a client on one HTTP/2 session, one stream after another, under a concurrency limit of 1', () => {
  let sim: SimServer
  let gw: GatewayProcess
  let session: ClientHttp2Session

  beforeAll(async () => {
    ;[sim] = await startSims(1)
    const cert = await makeCert(await mkdtemp(join(tmpdir(), 'switchyard-done-')), 'switchyard-done')
    gw = await startGateway({
      server: { tls: { cert: cert.certFile, key: cert.keyFile } },
      logging: { access_log: 'off' },
      limits: { per_ip: { concurrency: 1 } },
      models: [{ name: 'chat-small', upstreams: [{ url: `${sim.url}/v1` }] }],
    })
    session = h2connect(gw.url, { ca: cert.pem })
  })

  afterAll(async () => {
    session?.close()
    await gw?.stop()
    await sim?.close()
  })

  function ask(stream: boolean, i: number): Promise<[number, string]> {
    return new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' })
      let status = 0
      let text = ''
      req.on('response', (h) => (status = Number(h[':status'])))
      req.setEncoding('utf8')
      req.on('data', (chunk: string) => (text += chunk))
      req.on('end', () => resolve([status, text]))
      req.on('error', reject)
      req.end(JSON.stringify({ model: 'chat-small', max_tokens: 3, stream, messages: [{ role: 'user', content: `hi ${i}` }] }))
    })
  }

  it('finds the slot of the stream it just read free every time', async () => {
    for (let i = 0; i < 30; i++) {
      const [status, text] = await ask(i % 2 === 1, i)
      if (status !== 200) throw new Error(`stream ${i}: ${status} ${text}`)
    }
    expect(session.alpnProtocol).toBe('h2')
  })
})
