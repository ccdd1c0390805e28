// HTTPS termination end to end, against a self-signed certificate the test makes: the openai
// SDK over HTTP/1.1 and over HTTP/2, a raw node:http2 client (streaming, client abort that
// cancels the upstream), the redirect listener, certificate reload, and the edge timeouts
// on both protocols.
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { connect as h2connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import OpenAI from 'openai'
import { Agent, fetch as undiciFetch } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { configText, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { RawH2, requestFrame } from '../helpers/raw-h2.js'
import { rawRequest } from '../helpers/raw-http.js'
import { eventually, resetSim, simStats, startSims } from '../helpers/sim.js'
import { makeCert, type TestCert } from '../helpers/tls-cert.js'

let sim: SimServer
/** Generates as fast as it is read. */
let fast: SimServer
let gw: GatewayProcess
let dir: string
let first: TestCert
let second: TestCert
let certFile: string
let keyFile: string

beforeAll(async () => {
  sim = (await startSims(1, { ttftMs: 10, tokensPerSecond: 200 }))[0]!
  fast = (await startSims(1, { ttftMs: 0, tokensPerSecond: 0 }))[0]!
  dir = await mkdtemp(join(tmpdir(), 'switchyard-tls-'))
  first = await makeCert(dir, 'switchyard-first')
  second = await makeCert(dir, 'switchyard-second')
  certFile = join(dir, 'server.cert.pem')
  keyFile = join(dir, 'server.key.pem')
  await copyFile(first.certFile, certFile)
  await copyFile(first.keyFile, keyFile)
  gw = await startGateway({
    server: { tls: { cert: certFile, key: keyFile }, redirect_http_port: 0, headers_timeout: '2s', request_timeout: '3s', keep_alive_timeout: '3s', max_body: '16KiB', max_header_size: '8KiB', http2_max_streams: 64 },
    models: [
      { name: 'chat', upstreams: [{ url: `${sim!.url}/v1` }], retries: { attempts: 0 } },
      { name: 'firehose', upstreams: [{ url: `${fast!.url}/v1` }] },
    ],
  })
})

afterAll(async () => {
  await gw?.stop()
  await sim?.close()
  await fast?.close()
})

function sdk(allowH2: boolean): OpenAI {
  const dispatcher = new Agent({ allowH2, connect: { ca: first.pem } })
  return new OpenAI({
    baseURL: `${gw.url}/v1`,
    apiKey: 'x',
    maxRetries: 0,
    fetch: undiciFetch as unknown as typeof fetch,
    fetchOptions: { dispatcher },
  })
}

interface H2Response {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

function h2Request(session: ClientHttp2Session, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': body === undefined ? 'GET' : 'POST',
      ':path': path,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    })
    let status = 0
    let resHeaders: IncomingHttpHeaders = {}
    let text = ''
    req.on('response', (h) => {
      status = Number(h[':status'])
      resHeaders = h
    })
    req.setEncoding('utf8')
    req.on('data', (d: string) => (text += d))
    req.on('end', () => resolve({ status, headers: resHeaders, body: text }))
    req.on('error', reject)
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

function h2Session(): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = h2connect(gw.url, { ca: first.pem })
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

const ask = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'chat', max_tokens: 8, messages: [{ role: 'user' as const, content }], ...extra })

describe('the openai SDK over HTTPS', () => {
  it.each([
    ['HTTP/1.1', false],
    ['HTTP/2', true],
  ])('%s: a completion and a stream, certificate verified against the test CA', async (_name, allowH2) => {
    const client = sdk(allowH2)
    const whole = await client.chat.completions.create(ask('hello over tls'))
    expect(whole.choices[0]!.message.content).toBeTruthy()
    const stream = await client.chat.completions.create({ ...ask('hello over tls'), stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
    expect(text).toBe(whole.choices[0]!.message.content)
    expect((await simStats(sim)).lastRequest!.headers['x-forwarded-proto']).toBe('https')
  })

  it('refuses a client that does not trust the certificate', async () => {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0, fetch: undiciFetch as unknown as typeof fetch })
    await expect(client.models.list()).rejects.toThrow()
  })
})

describe('a node:http2 client', () => {
  it('HTTP/2 with Expect: 100-continue: 100 once the request may send its body, then the answer', async () => {
    const session = await h2Session()
    const body = JSON.stringify(ask('h2 expect'))
    const req = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', expect: '100-continue' })
    let continued = false
    let status = 0
    let text = ''
    req.on('continue', () => {
      continued = true
      req.end(body)
    })
    req.on('response', (h) => (status = Number(h[':status'])))
    req.setEncoding('utf8').on('data', (d: string) => (text += d))
    await new Promise((resolve, reject) => {
      req.on('end', resolve)
      req.on('error', reject)
    })
    expect(continued).toBe(true)
    expect(status).toBe(200)
    expect(JSON.parse(text).object).toBe('chat.completion')
    session.close()
  })

  it('negotiates h2 by ALPN and is served; pseudo-headers never go upstream', async () => {
    const session = await h2Session()
    expect(session.alpnProtocol).toBe('h2')
    const r = await h2Request(session, '/v1/chat/completions', ask('h2 plain'), { 'x-request-id': 'h2-plain-1' })
    expect(r.status).toBe(200)
    expect(r.headers['x-request-id']).toBe('h2-plain-1')
    expect(JSON.parse(r.body).object).toBe('chat.completion')
    const seen = (await simStats(sim)).lastRequest!
    expect(Object.keys(seen.headers).filter((h) => h.startsWith(':'))).toEqual([])
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1')
    session.close()
  })

  it('multiplexes concurrent streams on one connection, as many as server.http2_max_streams', async () => {
    const session = h2connect(gw.url, { ca: first.pem })
    const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve, reject) => {
      session.once('remoteSettings', resolve)
      session.once('error', reject)
    })
    expect(settings.maxConcurrentStreams).toBe(64)
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => h2Request(session, '/v1/chat/completions', ask(`multiplex ${i}`, { stream: true })))
    )
    for (const r of results) {
      expect(r.status).toBe(200)
      expect(r.headers['content-type']).toMatch(/^text\/event-stream/)
      expect(r.body.trimEnd().endsWith('data: [DONE]')).toBe(true)
    }
    session.close()
  })

  it('a client that resets its stream mid-answer cancels the upstream request', async () => {
    await resetSim(sim)
    const session = await h2Session()
    const req = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' })
    req.end(JSON.stringify(ask('long', { stream: true, max_tokens: 5000, ignore_eos: true })))
    let chunks = 0
    await new Promise<void>((resolve) => {
      req.on('data', () => {
        if (++chunks === 3) resolve()
      })
    })
    req.close(constants.NGHTTP2_CANCEL)
    const t0 = Date.now()
    await eventually(async () => (await simStats(sim)).cancelled === 1, 2000)
    expect(Date.now() - t0).toBeLessThan(1000)
    expect((await simStats(sim)).inflight).toBe(0)
    // The connection itself is still good.
    expect((await h2Request(session, '/v1/models')).status).toBe(200)
    session.close()
  })

  it('a stalled reader holds the upstream back (flow control), and a resumed one gets the whole stream', async () => {
    await resetSim(fast)
    const session = await h2Session()
    const req = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' })
    req.end(JSON.stringify({ model: 'firehose', stream: true, max_tokens: 20_000, ignore_eos: true, messages: [{ role: 'user', content: 'flood' }] }))
    let text = ''
    req.setEncoding('utf8')
    await new Promise<void>((resolve) => req.once('data', (d: string) => ((text += d), resolve())))
    req.pause()
    await new Promise((r) => setTimeout(r, 500))
    const stalled = await simStats(fast)
    await new Promise((r) => setTimeout(r, 500))
    expect((await simStats(fast)).completed).toBe(stalled.completed)
    expect((await simStats(fast)).inflight).toBe(1)
    req.on('data', (d: string) => (text += d))
    req.resume()
    await new Promise<void>((resolve) => req.on('end', () => resolve()))
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
    expect(text.split('"finish_reason":"length"').length).toBe(2)
    session.close()
  })

  it('errors arrive as OpenAI JSON, connection-specific headers left out (RFC 9113 §8.2.2)', async () => {
    const session = await h2Session()
    const missing = await h2Request(session, '/v1/chat/completions', ask('x', { model: 'nope' }))
    expect(missing.status).toBe(404)
    expect(JSON.parse(missing.body).error.code).toBe('model_not_found')
    const big = await h2Request(session, '/v1/chat/completions', ask('x'.repeat(20_000)))
    expect(big.status).toBe(413)
    expect(JSON.parse(big.body).error.code).toBe('payload_too_large')
    expect(big.headers.connection).toBeUndefined()
    const bad = await h2Request(session, '/v1/chat/completions', ask('x', { temperature: 9 }))
    expect(JSON.parse(bad.body).error).toMatchObject({ code: 'decimal_above_max_value', param: 'temperature' })
    expect((await h2Request(session, '/v1/models')).status).toBe(200)
    session.close()
    expect(gw.stderr()).not.toContain('UnsupportedWarning')
  })
})

describe('max_header_size over HTTP/2', () => {
  const base = [[':method', 'GET'], [':scheme', 'https'], [':path', '/v1/models'], [':authority', 'localhost']] as const

  it.each([
    ['before', false],
    ['after', true],
  ])('a header list over it %s the client acknowledges our SETTINGS: the stream is reset, the connection serves on', async (_when, ack) => {
    const h2 = await RawH2.open(gw.url)
    if (ack) await h2.ackSettings()
    h2.send(requestFrame(1, [...base, ['x-big', 'a'.repeat(10_000)]]))
    expect(await h2.outcome(1)).toEqual({ kind: 'reset', code: constants.NGHTTP2_ENHANCE_YOUR_CALM })
    // Under the limit (8 KiB, counted as RFC 7541 §4.1 does): served.
    h2.send(requestFrame(3, [...base, ['x-fits', 'a'.repeat(7000)]]))
    expect(await h2.outcome(3)).toEqual({ kind: 'response' })
    h2.close()
  })

  it('a reload that raises it applies to new HTTP/2 connections', async () => {
    const config = (size: string) => ({
      server: { tls: { cert: first.certFile, key: first.keyFile }, max_header_size: size },
      models: [{ name: 'chat', upstreams: [{ url: `${sim.url}/v1` }] }],
    })
    const reloading = await startGateway(config('8KiB'))
    try {
      await writeFile(reloading.configFile, configText(config('16KiB')))
      await reloading.waitForLog(/config reloaded/)
      const h2 = await RawH2.open(reloading.url)
      await h2.ackSettings()
      h2.send(requestFrame(1, [...base, ['x-big', 'a'.repeat(10_000)]]))
      expect(await h2.outcome(1)).toEqual({ kind: 'response' })
      h2.close()
    } finally {
      await reloading.stop()
    }
  })
})

describe('edge timeouts over TLS', () => {
  it('HTTP/1.1 over TLS: a slowloris client is cut off after headers_timeout', async () => {
    const r = await rawRequest(gw.url, `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(20)}\r\n\r\n`, {
      tls: { alpn: ['http/1.1'] },
      byteDelayMs: 1000,
      timeoutMs: 15_000,
    })
    expect(r.closedAfterMs).toBeLessThan(5000)
    expect(r.status).toBe(408)
  })

  it('HTTP/2: a connection that opens no stream is closed after headers_timeout', async () => {
    const r = await rawRequest(gw.url, '', { tls: { alpn: ['h2'] }, timeoutMs: 15_000 })
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(1900)
    expect(r.closedAfterMs).toBeLessThan(5000)
  })

  it('HTTP/2: a request body still arriving after request_timeout gets 408 JSON, then its stream is reset (NO_ERROR)', async () => {
    const session = await h2Session()
    const req = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' })
    req.on('error', () => {})
    let status = 0
    let text = ''
    req.on('response', (h) => (status = Number(h[':status'])))
    req.setEncoding('utf8').on('data', (d: string) => (text += d))
    req.write('{"model":"chat",')
    const t0 = Date.now()
    await new Promise((resolve) => req.once('close', resolve))
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2500)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(status).toBe(408)
    expect(JSON.parse(text).error).toMatchObject({ code: 'request_timeout', type: 'invalid_request_error' })
    expect(req.rstCode).toBe(constants.NGHTTP2_NO_ERROR)
    // The gateway carries on, on the same connection.
    expect((await h2Request(session, '/healthz')).status).toBe(200)
    session.close()
  })

  it('HTTP/2: an idle session is closed after keep_alive_timeout', async () => {
    const session = await h2Session()
    expect((await h2Request(session, '/v1/models')).status).toBe(200)
    const t0 = Date.now()
    await new Promise((resolve) => session.once('close', resolve))
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2500)
    expect(Date.now() - t0).toBeLessThan(6000)
  })
})

describe('hostile connections to the HTTPS port', () => {
  it.each([
    ['sends nothing', ''],
    ['stops inside its first TLS record', '\x16\x03\x01\x00'],
  ])('a TCP connection that %s is closed after headers_timeout (its handshake never finishes)', async (_name, bytes) => {
    const r = await rawRequest(gw.url, bytes, { timeoutMs: 15_000 })
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(1900)
    expect(r.closedAfterMs).toBeLessThan(5000)
    expect(r.text).toBe('')
  })

  it('HTTP/1.1 over TLS: a connection that sends no request is closed after headers_timeout', async () => {
    const r = await rawRequest(gw.url, '', { tls: { alpn: ['http/1.1'] }, timeoutMs: 15_000 })
    expect(r.closedAfterMs).toBeLessThan(5000)
  })

  it('plain HTTP gets a plain 400 that says so; TLS garbage and a broken HTTP/2 preface are dropped; the gateway keeps serving', async () => {
    // As nginx does: a user who typed http:// learns why, instead of an empty reply.
    for (const line of ['GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}']) {
      const plainText = await rawRequest(gw.url, line, { timeoutMs: 5000 })
      expect(plainText.status).toBe(400)
      expect(plainText.json.error).toMatchObject({ type: 'invalid_request_error', code: 'http_request_on_https_port' })
      expect(plainText.json.error.message).toContain('https://')
      expect(plainText.closedAfterMs).toBeLessThan(4000)
    }
    // Bytes that are neither TLS nor HTTP are still dropped without a word.
    const junk = await rawRequest(gw.url, 'hello there, not a protocol at all\r\n\r\n', { timeoutMs: 5000 })
    expect(junk.text).toBe('')
    expect(junk.closedAfterMs).toBeLessThan(4000)
    const badPreface = await rawRequest(gw.url, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x99\x00\x00\x00\x00\x00garbage', { tls: { alpn: ['h2'] }, timeoutMs: 5000 })
    expect(badPreface.closedAfterMs).toBeLessThan(4000)
    const badH1 = await rawRequest(gw.url, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', { tls: { alpn: ['http/1.1'] } })
    expect(badH1.status).toBe(400)
    expect(badH1.json.error.code).toBe('invalid_framing')
    const h2Line = await rawRequest(gw.url, 'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n', { tls: { alpn: ['http/1.1'] } })
    expect(h2Line.status).toBe(505)
    const connect1 = await rawRequest(gw.url, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', { tls: { alpn: ['http/1.1'] } })
    expect(connect1.status).toBe(405)
    expect(connect1.json.error.code).toBe('method_not_allowed')
    // CONNECT over HTTP/2: the same answer on its stream, and the session carries on.
    const h2 = await h2Session()
    const connect2 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = h2.request({ ':method': 'CONNECT', ':authority': 'example.com:443' })
      let status = 0
      let body = ''
      req.on('response', (h) => (status = Number(h[':status'])))
      req.setEncoding('utf8').on('data', (d: string) => (body += d))
      req.on('end', () => resolve({ status, body }))
      req.on('error', reject)
      req.end()
    })
    expect(connect2.status).toBe(405)
    expect(JSON.parse(connect2.body).error.code).toBe('method_not_allowed')
    expect((await h2Request(h2, '/healthz')).status).toBe(200)
    h2.close()
    const noHost = await rawRequest(gw.url, 'GET /v1/models HTTP/1.1\r\n\r\n', { tls: { alpn: ['http/1.1'] } })
    expect(noHost.status).toBe(400)
    expect(noHost.json.error.code).toBe('invalid_host')
    expect(gw.proc.exitCode).toBeNull()
    const session = await h2Session()
    expect((await h2Request(session, '/healthz')).status).toBe(200)
    session.close()
  })
})

describe('redirect listener', () => {
  function get(method: string, host: string): Promise<{ status: number; location: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = request(`${gw.redirectUrl}/v1/models?limit=2`, { method, headers: { host } }, (res) => {
        res.resume()
        resolve({ status: res.statusCode!, location: res.headers.location })
      })
      req.on('error', reject)
      req.end(method === 'POST' ? '{}' : undefined)
    })
  }

  it('answers 308 to the same host, path and query on the HTTPS port', async () => {
    const port = new URL(gw.url).port
    for (const method of ['GET', 'POST']) {
      expect(await get(method, 'localhost:8079')).toEqual({ status: 308, location: `https://localhost:${port}/v1/models?limit=2` })
    }
    expect(await get('GET', 'evil.example\\@x')).toEqual({ status: 308, location: `https://127.0.0.1:${port}/v1/models?limit=2` })
  })
})

describe('redirect listener limits', () => {
  const config = (server: Record<string, unknown>) => ({
    server: { tls: { cert: first.certFile, key: first.keyFile }, redirect_http_port: 0, max_connections_per_ip: 2, ...server },
    models: [{ name: 'chat', upstreams: [{ url: `${sim.url}/v1` }] }],
  })
  let redirecting: GatewayProcess
  beforeAll(async () => {
    redirecting = await startGateway(config({}))
  })
  afterAll(async () => {
    await redirecting?.stop()
  })

  function open(): Promise<Socket> {
    const { hostname, port } = new URL(redirecting.redirectUrl!)
    return new Promise((resolve, reject) => {
      const s = netConnect({ host: hostname, port: Number(port) }, () => resolve(s))
      s.on('error', reject)
    })
  }
  /** ms until the gateway closes `s`, or Infinity when it is still open after `ms`. */
  function closedWithin(s: Socket, ms: number): Promise<number> {
    const t0 = Date.now()
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(Infinity), ms)
      s.once('close', () => {
        clearTimeout(timer)
        resolve(Date.now() - t0)
      })
      s.resume()
    })
  }

  it('max_connections_per_ip holds on it too', async () => {
    const held = [await open(), await open()]
    const third = await open()
    expect(await closedWithin(third, 3000)).toBeLessThan(3000)
    for (const s of held) s.destroy()
  })

  it('a reload changes its timeouts', async () => {
    await writeFile(redirecting.configFile, configText(config({ headers_timeout: '1s', request_timeout: '1s' })))
    await redirecting.waitForLog(/config reloaded/)
    // Default headers_timeout (10 s) before the reload; an idle connection now goes within ~1 s.
    expect(await closedWithin(await open(), 8000)).toBeLessThan(4000)
  })
})

describe('certificate reload', () => {
  function peerName(): Promise<string> {
    const { hostname, port } = new URL(gw.url)
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: hostname, port: Number(port), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
        resolve(String(s.getPeerCertificate().subject.CN))
        s.destroy()
      })
      s.on('error', reject)
    })
  }

  it('SIGHUP picks up renewed certificate files for new connections', async () => {
    expect(await peerName()).toBe('switchyard-first')
    await copyFile(second.certFile, certFile)
    await copyFile(second.keyFile, keyFile)
    gw.proc.kill('SIGHUP')
    await gw.waitForLog(/TLS certificate reloaded/)
    expect(await peerName()).toBe('switchyard-second')
  })

  it('renewed files apply even when the same reload changes a setting that waits for a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-tls-renew-'))
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    await copyFile(first.certFile, cert)
    await copyFile(first.keyFile, key)
    const spec = (redirect: number) => ({ server: { tls: { cert, key }, redirect_http_port: redirect }, models: [{ name: 'm', upstreams: [{ url: `${sim.url}/v1` }] }] })
    const renewing = await startGateway(spec(0))
    try {
      await copyFile(second.certFile, cert)
      await copyFile(second.keyFile, key)
      await writeFile(renewing.configFile, configText(spec(1)))
      renewing.proc.kill('SIGHUP')
      await renewing.waitForLog(/TLS certificate reloaded/)
      expect(renewing.stdout() + renewing.stderr()).toContain('server.redirect_http_port')
    } finally {
      await renewing.stop()
    }
  })

  it('a start with a key that does not match its certificate fails, naming server.tls', async () => {
    await expect(startGateway({ server: { tls: { cert: first.certFile, key: second.keyFile } }, models: [{ name: 'm', upstreams: [{ url: sim.url }] }] })).rejects.toThrow(
      /gateway exited \(1\)[\s\S]*server\.tls: the certificate and key are not usable together/
    )
  })

  it('a broken certificate file is refused and the current one stays', async () => {
    await copyFile(first.certFile, certFile) // does not match second's key
    gw.proc.kill('SIGHUP')
    await gw.waitForLog(/TLS reload failed/)
    expect(await peerName()).toBe('switchyard-second')
  })
})

describe('graceful stop over HTTP/2', () => {
  it('SIGTERM sends GOAWAY: the open stream finishes, then the process exits 0', async () => {
    const stopping = await startGateway({
      server: { tls: { cert: second.certFile, key: second.keyFile } },
      models: [{ name: 'chat', upstreams: [{ url: `${sim.url}/v1` }] }],
    })
    const session = h2connect(stopping.url, { rejectUnauthorized: false })
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()))
    const req = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' })
    req.end(JSON.stringify(ask('drain', { stream: true, max_tokens: 100, ignore_eos: true })))
    let text = ''
    req.setEncoding('utf8')
    req.on('data', (d: string) => (text += d))
    const ended = new Promise<void>((resolve) => req.on('end', () => resolve()))
    await new Promise<void>((resolve) => req.once('response', () => resolve()))
    const exit = stopping.stop('SIGTERM')
    await goaway
    await ended
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
    expect(await exit).toBe(0)
    session.destroy()
  })
})
