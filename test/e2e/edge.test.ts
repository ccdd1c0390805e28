// Edge protection end to end (plain HTTP): slow clients are cut off, ambiguous framing is
// refused, connection caps hold, X-Forwarded-For is believed only from trusted proxies, and
// CORS answers browsers only when configured.
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { rawRequest } from '../helpers/raw-http.js'
import { eventually, simStats, startSims } from '../helpers/sim.js'

/** A second loopback address: connections from it come from a trusted proxy. */
const PROXY = '127.0.0.2'
const ORIGIN = 'https://app.example.com'

let sim: SimServer
let gw: GatewayProcess
/** No CORS, no trusted proxies: the defaults. */
let plain: GatewayProcess

beforeAll(async () => {
  sim = (await startSims(1))[0]!
  const models = [{ name: 'chat', upstreams: [{ url: `${sim!.url}/v1` }] }]
  gw = await startGateway({
    server: {
      headers_timeout: '2s',
      request_timeout: '3s',
      max_header_size: '4KiB',
      max_connections_per_ip: 3,
      trusted_proxies: [`${PROXY}/32`, '10.0.0.0/8', 'fd00::/8'],
      cors: { origins: [ORIGIN], max_age: '5m' },
    },
    models,
  })
  plain = await startGateway({ models })
})

afterAll(async () => {
  await gw?.stop()
  await plain?.stop()
  await sim?.close()
})

const CHAT = JSON.stringify({ model: 'chat', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] })

function post(
  base: string,
  headers: Record<string, string> = {},
  options: { localAddress?: string; method?: string; body?: string } = {}
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const preflight = options.method === 'OPTIONS'
    const body = preflight ? '' : (options.body ?? CHAT)
    const req = request(`${base}/v1/chat/completions`, {
      method: options.method ?? 'POST',
      localAddress: options.localAddress,
      headers: preflight ? headers : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
    })
    req.on('response', (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('slow clients', () => {
  it('a slowloris client (one header byte a second) is cut off after headers_timeout', async () => {
    const r = await rawRequest(gw.url, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(30)}\r\n\r\n`, { byteDelayMs: 1000, timeoutMs: 15_000 })
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(1900)
    expect(r.closedAfterMs).toBeLessThan(5000)
    expect(r.status).toBe(408)
    expect(r.json).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', code: 'request_timeout', param: null } })
  })

  it('a connection that never sends a request is closed too', async () => {
    const r = await rawRequest(gw.url, '', { timeoutMs: 15_000 })
    expect(r.closedAfterMs).toBeLessThan(5000)
  })

  it('a body trickled slower than request_timeout allows is cut off', async () => {
    const body = CHAT
    const r = await rawRequest(
      gw.url,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      { byteDelayMs: 40, timeoutMs: 15_000 }
    )
    expect(r.closedAfterMs).toBeLessThan(6000)
    expect(r.status === 408 || r.status === 0).toBe(true)
  })
})

describe('request smuggling and malformed framing', () => {
  const smuggled = 'GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n'
  it.each([
    ['Content-Length with Transfer-Encoding', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`, 'invalid_framing'],
    ['Transfer-Encoding with Content-Length', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${smuggled}`, 'invalid_framing'],
    ['two different Content-Lengths', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd${smuggled}`, 'invalid_framing'],
    ['two equal Content-Lengths', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd`, 'invalid_framing'],
    ['a Content-Length list', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\nabcd`, 'invalid_framing'],
    ['Transfer-Encoding by obs-fold', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`, 'malformed_request'],
    ['an obs-folded header', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nContent-Length: 4\r\n\r\nabcd`, 'malformed_request'],
    ['chunked not last', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, 'invalid_framing'],
    ['an unknown transfer coding', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 'invalid_framing'],
    ['space before the colon', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length : 4\r\n\r\nabcd`, 'malformed_request'],
    ['bare LF line endings', `POST /v1/chat/completions HTTP/1.1\nHost: x\nContent-Length: 4\n\nabcd`, 'malformed_request'],
    ['a bad chunk size line', `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\nabcd\r\n0\r\n\r\n`, 'malformed_request'],
    ['two Host headers', `POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: ${CHAT.length}\r\n\r\n${CHAT}`, 'invalid_host'],
  ])('%s → 400, connection closed, nothing reaches upstream', async (_name, bytes, code) => {
    const before = (await simStats(sim)).received
    const r = await rawRequest(gw.url, bytes)
    expect(r.status).toBe(400)
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code, param: null })
    // Exactly one response: the smuggled request after the body was never answered.
    expect(r.text.match(/^HTTP\/1\.1 \d{3}/gm)).toHaveLength(1)
    expect(r.closedAfterMs).toBeLessThan(2000)
    expect((await simStats(sim)).received).toBe(before)
  })

  it('HTTP/1.1 without Host → 400 JSON, connection closed; HTTP/1.0 may omit it', async () => {
    const r = await rawRequest(gw.url, 'GET /v1/models HTTP/1.1\r\n\r\n')
    expect(r.status).toBe(400)
    expect(r.json).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', code: 'invalid_host', param: null } })
    expect(r.closedAfterMs).toBeLessThan(2000)
    const old = await rawRequest(gw.url, 'GET /v1/models HTTP/1.0\r\n\r\n')
    expect(old.text).toMatch(/^HTTP\/1\.1 200 /)
  })

  it('headers over max_header_size → 431 JSON', async () => {
    const r = await rawRequest(gw.url, `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`)
    expect(r.status).toBe(431)
    expect(r.json.error.code).toBe('headers_too_large')
  })

  it('a request line of another HTTP version → 505 JSON, connection closed, and the gateway lives on', async () => {
    // (llhttp itself refuses versions it does not know, 3.0 say: 400 malformed_request.)
    for (const version of ['2.0', '0.9']) {
      const r = await rawRequest(gw.url, `GET /healthz HTTP/${version}\r\nHost: a\r\nHost: b\r\n\r\n`)
      expect(r.status, version).toBe(505)
      expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'http_version_not_supported', param: null })
      expect(r.closedAfterMs).toBeLessThan(2000)
    }
    // Pipelined after a normal request: that one is answered first, then the 505.
    const both = await rawRequest(gw.url, 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/2.0\r\nHost: a\r\n\r\n')
    expect(both.text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 505'])
    expect((await post(gw.url)).status).toBe(200)
  })

  it.each([
    ['a coding before chunked', 'Transfer-Encoding: gzip, chunked'],
    ['two Transfer-Encoding lines', 'Transfer-Encoding: identity\r\nTransfer-Encoding: chunked'],
  ])('%s → 501 unsupported_transfer_encoding, connection closed, nothing reaches upstream', async (_name, te) => {
    const before = (await simStats(sim)).received
    const chunk = `${CHAT.length.toString(16)}\r\n${CHAT}\r\n0\r\n\r\n`
    const r = await rawRequest(gw.url, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${te}\r\n\r\n${chunk}`)
    expect(r.status).toBe(501)
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'unsupported_transfer_encoding' })
    expect(r.closedAfterMs).toBeLessThan(2000)
    expect((await simStats(sim)).received).toBe(before)
  })

  it('a compressed request body (Content-Encoding) → 415 before it is read; identity is fine', async () => {
    const before = (await simStats(sim)).received
    const r = await post(gw.url, { 'content-encoding': 'gzip' })
    expect(r.status).toBe(415)
    expect(JSON.parse(r.body).error).toMatchObject({ code: 'unsupported_media_type' })
    expect((await simStats(sim)).received).toBe(before)
    expect((await post(gw.url, { 'content-encoding': 'identity' })).status).toBe(200)
  })

  it('Expect: 100-continue: a body too large, or a refused request, is answered without 100; a good one gets 100, then its answer', async () => {
    const big = await rawRequest(gw.url, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n')
    expect(big.status).toBe(413)
    expect(big.text).not.toContain('100 Continue')
    const text = await rawRequest(gw.url, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`)
    expect(text.status).toBe(415)
    expect(text.text).not.toContain('100 Continue')
    // A good one: 100 first, the body only then (as curl does), then the answer.
    const answer = await new Promise<string>((resolve) => {
      let got = ''
      let sent = false
      const socket = connect(Number(new URL(gw.url).port), '127.0.0.1', () =>
        socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${CHAT.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`)
      )
      socket.setEncoding('utf8')
      socket.on('data', (d: string) => {
        got += d
        if (!sent && got.includes('100 Continue\r\n\r\n')) {
          sent = true
          socket.write(CHAT)
        }
      })
      socket.on('close', () => resolve(got))
    })
    expect(answer).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /)
  })

  it('Expect other than 100-continue → 417 JSON; CONNECT → 405 JSON, connection closed', async () => {
    const r = await rawRequest(gw.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nConnection: close\r\n\r\n')
    expect(r.status).toBe(417)
    expect(r.json.error).toMatchObject({ code: 'expectation_failed', type: 'invalid_request_error' })
    const c = await rawRequest(gw.url, `CONNECT ${new URL(sim.url).host} HTTP/1.1\r\nHost: ${new URL(sim.url).host}\r\n\r\n`)
    expect(c.status).toBe(405)
    expect(c.json.error).toMatchObject({ code: 'method_not_allowed' })
    expect(c.closedAfterMs).toBeLessThan(2000)
  })

  it('a clean keep-alive request after a rejected one still works on a new connection', async () => {
    expect((await post(gw.url)).status).toBe(200)
  })
})

describe('connection caps', () => {
  function open(url: string, localAddress?: string): Promise<Socket> {
    const { hostname, port } = new URL(url)
    return new Promise((resolve, reject) => {
      const s = connect({ host: hostname, port: Number(port), localAddress }, () => resolve(s))
      s.on('error', reject)
    })
  }
  const closed = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())))

  it('max_connections_per_ip refuses the connection over the limit, and frees the slot on close', async () => {
    const held = await Promise.all([open(gw.url), open(gw.url), open(gw.url)])
    const fourth = await open(gw.url)
    await closed(fourth) // closed by the gateway before any byte
    held[0].destroy()
    await new Promise((r) => setTimeout(r, 100))
    expect((await post(gw.url)).status).toBe(200)
    for (const s of held) s.destroy()
  })

  it('trusted proxies are exempt from it', async () => {
    const held = await Promise.all(Array.from({ length: 5 }, () => open(gw.url, PROXY)))
    expect((await post(gw.url, {}, { localAddress: PROXY })).status).toBe(200)
    for (const s of held) s.destroy()
  })
})

describe('trusted proxies and X-Forwarded-For', () => {
  async function forwarded(headers: Record<string, string>, localAddress?: string): Promise<{ xff: string; clientIp: unknown }> {
    const id = `xff-${Math.random().toString(36).slice(2)}`
    const r = await post(gw.url, { 'x-request-id': id, ...headers }, { localAddress })
    expect(r.status).toBe(200)
    const xff = (await simStats(sim)).lastRequest!.headers['x-forwarded-for']!
    await eventually(() => gw.accessLines().some((l) => l.request_id === id))
    return { xff, clientIp: gw.accessLines().find((l) => l.request_id === id)!.client_ip }
  }

  it('an untrusted peer: its X-Forwarded-For is ignored and replaced', async () => {
    expect(await forwarded({ 'x-forwarded-for': '1.2.3.4' })).toEqual({ xff: '127.0.0.1', clientIp: '127.0.0.1' })
  })

  it('a trusted peer: the client is the right-most untrusted address; the chain gains the peer', async () => {
    expect(await forwarded({ 'x-forwarded-for': '203.0.113.9, 10.1.1.1' }, PROXY)).toEqual({
      xff: `203.0.113.9, 10.1.1.1, ${PROXY}`,
      clientIp: '203.0.113.9',
    })
  })

  it('a spoofed left part of the chain is not believed', async () => {
    expect((await forwarded({ 'x-forwarded-for': '6.6.6.6, 198.51.100.7' }, PROXY)).clientIp).toBe('198.51.100.7')
  })

  it('IPv6 CIDRs and ported entries', async () => {
    expect((await forwarded({ 'x-forwarded-for': '[2001:db8::1]:443, fd00::5' }, PROXY)).clientIp).toBe('2001:db8::1')
  })

  it('a trusted peer without X-Forwarded-For is the client', async () => {
    expect(await forwarded({}, PROXY)).toEqual({ xff: PROXY, clientIp: PROXY })
  })

  it("X-Forwarded-Proto: a trusted peer's is passed on (TLS ended before it), anyone else's is replaced", async () => {
    const proto = async (headers: Record<string, string>, localAddress?: string): Promise<string | undefined> => {
      expect((await post(gw.url, headers, { localAddress })).status).toBe(200)
      return (await simStats(sim)).lastRequest!.headers['x-forwarded-proto']
    }
    expect(await proto({ 'x-forwarded-proto': 'https' }, PROXY)).toBe('https')
    expect(await proto({ 'x-forwarded-proto': 'HTTPS, http' }, PROXY)).toBe('https')
    expect(await proto({ 'x-forwarded-proto': 'javascript' }, PROXY)).toBe('http')
    expect(await proto({}, PROXY)).toBe('http')
    expect(await proto({ 'x-forwarded-proto': 'https' })).toBe('http')
  })
})

describe('CORS', () => {
  it('answers a preflight from an allowed origin', async () => {
    const r = await post(gw.url, { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, x-stainless-os' }, { method: 'OPTIONS' })
    expect(r.status).toBe(204)
    expect(r.headers).toMatchObject({
      'access-control-allow-origin': ORIGIN,
      'access-control-allow-methods': 'GET, HEAD, POST, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type, x-stainless-os',
      'access-control-max-age': '300',
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    })
  })

  it('refuses a preflight from another origin with 403 JSON', async () => {
    const r = await post(gw.url, { origin: 'https://evil.example', 'access-control-request-method': 'POST' }, { method: 'OPTIONS' })
    expect(r.status).toBe(403)
    expect(JSON.parse(r.body).error).toMatchObject({ type: 'permission_error', code: 'cors_origin_not_allowed' })
    expect(r.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('marks actual responses (proxied and errors) for an allowed origin', async () => {
    const ok = await post(gw.url, { origin: ORIGIN })
    expect(ok.status).toBe(200)
    expect(ok.headers['access-control-allow-origin']).toBe(ORIGIN)
    expect(ok.headers['access-control-expose-headers']).toContain('x-request-id')
    const bad = await post(gw.url, { origin: ORIGIN }, { body: '{"model":"nope","messages":[{"role":"user","content":"x"}]}' })
    expect(bad.status).toBe(404)
    expect(bad.headers['access-control-allow-origin']).toBe(ORIGIN)
  })

  it('adds nothing for other origins or requests without Origin', async () => {
    expect((await post(gw.url, { origin: 'https://evil.example' })).headers['access-control-allow-origin']).toBeUndefined()
    expect((await post(gw.url)).headers['access-control-allow-origin']).toBeUndefined()
  })

  it('refuses a body with no Content-Type from a page of another origin (no preflight vetted it), CORS on or off', async () => {
    const noType = (base: string, headers: Record<string, string>): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-length': Buffer.byteLength(CHAT), ...headers } })
        req.on('response', (res) => {
          let text = ''
          res.setEncoding('utf8').on('data', (d: string) => (text += d))
          res.on('end', () => resolve({ status: res.statusCode!, body: text }))
        })
        req.on('error', reject)
        req.end(CHAT)
      })
    const before = (await simStats(sim)).received
    for (const base of [gw.url, plain.url]) {
      const r = await noType(base, { origin: 'https://evil.example' })
      expect(r.status).toBe(403)
      expect(JSON.parse(r.body).error).toMatchObject({ type: 'permission_error', code: 'cors_origin_not_allowed' })
    }
    expect((await simStats(sim)).received).toBe(before)
    // An allowed origin, and a client that is no browser (no Origin), may leave it out.
    expect((await noType(gw.url, { origin: ORIGIN })).status).toBe(200)
    expect((await noType(plain.url, {})).status).toBe(200)
  })

  it('is off when not configured: OPTIONS → 405, no CORS headers', async () => {
    const pre = await post(plain.url, { origin: ORIGIN, 'access-control-request-method': 'POST' }, { method: 'OPTIONS' })
    expect(pre.status).toBe(405)
    const r = await post(plain.url, { origin: ORIGIN })
    expect(r.status).toBe(200)
    expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([])
  })
})
