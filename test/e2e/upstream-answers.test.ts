// What the gateway makes of an upstream's answer before the first byte: a JSON body that comes
// long after its headers, an error answer it may retry (read whole, so the connection is
// reused; relayed as it came when no retry happens), and a redirect (never relayed).
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { listenLocal } from '../helpers/ports.js'
import { post } from '../helpers/requests.js'
import { eventually } from '../helpers/sim.js'

const UPSTREAM_KEY = 'sk-upstream-echo-5f2a9c'
const ORG_SECRET = 'org-secret-77b1e4'
const ERROR_BODY = JSON.stringify({ error: { message: 'the model server is overloaded', type: 'server_error', code: 'overloaded' } })
const ANSWER = JSON.stringify({
  id: 'x',
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content: 'late' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
})

/** A model server scripted by the client's `x-mode` header (forwarded by the gateway). */
interface Scripted {
  readonly url: string
  readonly server: Server
  connections: number
  requests: number
}

async function scripted(): Promise<Scripted> {
  const s = { connections: 0, requests: 0 } as Scripted
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      s.requests++
      switch (req.headers['x-mode']) {
        case '500':
          res.writeHead(500, { 'content-type': 'application/json', 'x-upstream-own': 'kept' })
          res.end(ERROR_BODY)
          return
        case '429':
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' })
          res.end(ERROR_BODY)
          return
        case '401':
          // OpenAI's answer to a bad key quotes a masked fragment of it.
          res.writeHead(401, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { message: 'Incorrect API key provided: sk-proj-****wxyz.', type: 'invalid_request_error', code: 'invalid_api_key' } }))
          return
        case 'echo-400':
        case 'echo-500': {
          // A careless server that quotes the credentials it was sent in its error.
          const body = JSON.stringify({ error: { message: `bad request from ${req.headers.authorization} / ${String(req.headers['x-org-secret'])}`, type: 'invalid_request_error' } })
          res.writeHead(req.headers['x-mode'] === 'echo-400' ? 400 : 500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
          res.end(body)
          return
        }
        case 'echo-stream': {
          // llama.cpp's way: a 200 stream, then an error event quoting the credentials.
          res.writeHead(200, { 'content-type': 'text/event-stream' })
          res.write('data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"A"},"finish_reason":null}]}\n\n')
          const error = JSON.stringify({ error: { message: `bad request from ${req.headers.authorization} / ${String(req.headers['x-org-secret'])}`, type: 'server_error' } })
          setTimeout(() => res.end(`data: ${error}\n\n`), 30)
          return
        }
        case 'redirect':
          res.writeHead(302, { location: 'http://10.1.2.3:8000/internal/v1/chat/completions', 'content-type': 'text/plain' })
          res.end('moved')
          return
        case 'late-body':
          // Headers at once, the JSON once the answer is ready (some servers flush early).
          res.writeHead(200, { 'content-type': 'application/json' })
          res.flushHeaders()
          setTimeout(() => res.end(ANSWER), 2000)
          return
        case 'slow-body': {
          // Never idle for long (a byte every 100 ms), but the whole answer takes 1.5 s.
          res.writeHead(200, { 'content-type': 'application/json' })
          let i = 0
          const t = setInterval(() => {
            if (i < 15) res.write(' ')
            else {
              clearInterval(t)
              res.end(ANSWER)
            }
            i++
          }, 100)
          res.on('close', () => clearInterval(t))
          return
        }
        default:
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(ANSWER)
      }
    })
  })
  server.on('connection', () => s.connections++)
  server.keepAliveTimeout = 30_000
  Object.assign(s, { server, url: `${await listenLocal(server)}/v1` })
  return s
}

let solo: Scripted
let pair: Scripted[]
let redirect: Scripted
let gw: GatewayProcess

beforeAll(async () => {
  solo = await scripted()
  pair = [await scripted(), await scripted()]
  redirect = await scripted()
  gw = await startGateway({
    models: [
      // One member and retries allowed: nothing else can be picked.
      { name: 'solo', upstreams: [{ url: solo.url, name: 'solo' }], retries: { attempts: 2 }, timeouts: { first_token: '1s', idle: '200ms' } },
      { name: 'late', upstreams: [{ url: solo.url, name: 'solo' }], timeouts: { first_token: '3s', idle: '1s' } },
      { name: 'solo-quick', upstreams: [{ url: solo.url, name: 'solo' }], timeouts: { first_token: '300ms' } },
      {
        name: 'pair',
        strategy: 'round-robin',
        upstreams: pair.map((p, i) => ({ url: p.url, name: `p${i}` })),
        retries: { attempts: 1 },
        outlier: { consecutive_failures: 1000 },
      },
      { name: 'redirect', upstreams: [{ url: redirect.url, name: 'r' }] },
      {
        name: 'keyed',
        upstreams: [{ url: solo.url, name: 'k', api_key: UPSTREAM_KEY, headers: { 'x-org-secret': ORG_SECRET } }],
        retries: { attempts: 1 },
      },
      { name: 'redirect-once', upstreams: [{ url: redirect.url, name: 'r' }], retries: { attempts: 0 } },
      // Its own pool: 'solo' cools down after the 429 test, and then gets nothing.
      { name: 'creds', upstreams: [{ url: solo.url, name: 'solo' }], retries: { attempts: 2 } },
    ],
  })
})

afterAll(async () => {
  await gw?.stop()
  for (const s of [solo, ...(pair ?? []), redirect]) s?.server.close()
})

const ask = (model: string, mode: string) => post(gw.url, { model, messages: [{ role: 'user', content: 'q' }] }, { 'x-mode': mode })

describe('non-streaming answers and the timeouts', () => {
  it('headers sent at once do not start the idle timeout: the JSON that follows within first_token is served', async () => {
    const r = await ask('late', 'late-body')
    expect(r.status).toBe(200)
    expect(r.json).toMatchObject({ choices: [{ message: { content: 'late' } }] })
  })

  it('first_token covers the whole non-streaming answer: headers alone are not an answer', async () => {
    const r = await ask('solo-quick', 'late-body')
    expect(r.status).toBe(504)
    expect(r.json).toMatchObject({ error: { code: 'first_token_timeout' } })
    // The record names the upstream that failed, so per-upstream error rates can see it.
    const line = () => gw.accessLines().find((l) => l.model === 'solo-quick' && l.error === 'first_token_timeout')
    await eventually(async () => line() !== undefined)
    expect(line()).toMatchObject({ status: 504, upstream: 'solo', served_model: 'solo-quick' })
  })

  it('an answer still unfinished at the first_token deadline is cut, never passed off as whole', async () => {
    const t0 = Date.now()
    const err = await ask('solo', 'slow-body').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    expect(Date.now() - t0).toBeLessThan(1450)
  })
})

describe('an upstream error answer that quotes the credentials the gateway sent it', () => {
  it.each(['echo-400', 'echo-500'])('%s: relayed with them masked, byte for byte', async (mode) => {
    const r = await ask('keyed', mode)
    expect(r.status).toBe(mode === 'echo-400' ? 400 : 500)
    expect(r.text).not.toContain(UPSTREAM_KEY)
    expect(r.text).not.toContain(ORG_SECRET)
    expect(r.text).toContain(`bad request from Bearer ${'*'.repeat(UPSTREAM_KEY.length)} / ${'*'.repeat(ORG_SECRET.length)}`)
    expect(JSON.parse(r.text).error.type).toBe('invalid_request_error')
  })
})

describe('an error event in a 200 stream that quotes the credentials the gateway sent', () => {
  it('is relayed with them masked, and the request recorded as failed', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mode': 'echo-stream', 'x-request-id': 'echo-stream-1' },
      body: JSON.stringify({ model: 'keyed', stream: true, messages: [{ role: 'user', content: 'q' }] }),
    })
    const text = await res.text()
    expect(res.status).toBe(200)
    expect(text).not.toContain(UPSTREAM_KEY)
    expect(text).not.toContain(ORG_SECRET)
    expect(text).toContain(`bad request from Bearer ${'*'.repeat(UPSTREAM_KEY.length)} / ${'*'.repeat(ORG_SECRET.length)}`)
    await eventually(async () => gw.accessLines().some((l) => l.request_id === 'echo-stream-1'))
    expect(gw.accessLines().find((l) => l.request_id === 'echo-stream-1')).toMatchObject({ outcome: 'error', error: 'upstream_stream_error' })
  })
})

describe('upstream error answers that may be retried', () => {
  it('are relayed as they came when no other member can be picked, and no retry is logged', async () => {
    const r = await ask('solo', '500')
    expect(r.status).toBe(500)
    expect(r.text).toBe(ERROR_BODY)
    expect(r.headers.get('x-upstream-own')).toBe('kept')
    expect(r.headers.get('x-switchyard-upstream')).toBe('solo')
    const r429 = await ask('solo', '429')
    expect(r429.status).toBe(429)
    expect(r429.text).toBe(ERROR_BODY)
    expect(r429.headers.get('retry-after')).toBe('7')
    // Its Retry-After holds: the lone member cools down, and nothing reaches it meanwhile.
    const seen = solo.requests
    const cooling = await ask('solo', '500')
    expect(cooling.status).toBe(503)
    expect(cooling.json).toMatchObject({ error: { code: 'no_healthy_upstream' } })
    expect(Number(cooling.headers.get('retry-after'))).toBeGreaterThanOrEqual(6)
    expect(solo.requests).toBe(seen)
    // The access log is written once a second.
    const solo500 = () => gw.accessLines().filter((l) => l.model === 'solo' && l.error === 'upstream_500')
    await eventually(async () => solo500().length > 0)
    const lines = solo500()
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ status: 500, attempts: 1, retries: 0 })
  })

  it('keep the connection: a failing upstream is not reconnected on every attempt', async () => {
    for (let i = 0; i < 4; i++) {
      const r = await ask('pair', '500')
      // Both tried; the last one's own answer is relayed.
      expect(r.status).toBe(500)
      expect(r.text).toBe(ERROR_BODY)
    }
    expect(pair.map((p) => p.requests)).toEqual([4, 4])
    expect(pair.map((p) => p.connections)).toEqual([1, 1])
    await eventually(async () => gw.accessLines().filter((l) => l.model === 'pair').length === 4)
    const lines = gw.accessLines().filter((l) => l.model === 'pair')
    expect(lines.map((l) => l.retries)).toEqual([1, 1, 1, 1])
  })
})

describe("an upstream that refuses the gateway's credentials", () => {
  it('is a 502 of the gateway: not the client\'s key, and its body (quoting the upstream key) never shown', async () => {
    for (const model of ['creds', 'redirect-once']) {
      const r = await post(gw.url, { model, messages: [{ role: 'user', content: 'q' }] }, { 'x-mode': '401' })
      expect(r.status).toBe(502)
      expect(r.json).toMatchObject({ error: { code: 'upstream_auth_error', type: 'api_error' } })
      expect(r.text).not.toContain('wxyz')
    }
  })
})

describe('an upstream redirect', () => {
  it.each(['redirect', 'redirect-once'])('%s: is a 502 of the gateway, its Location never shown', async (model) => {
    const r = await ask(model, 'redirect')
    expect(r.status).toBe(502)
    expect(r.headers.get('location')).toBeNull()
    expect(r.text).not.toContain('10.1.2.3')
    expect(r.json).toMatchObject({ error: { code: 'upstream_error', type: 'api_error' } })
  })
})
