// HTTP/2 abuse at the HTTPS edge, with a raw frame client (helpers/raw-h2.ts) and a scripted
// upstream that counts the requests the gateway starts: rapid reset (CVE-2023-44487), and
// floods of control frames.
import { mkdtemp, readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect as h2connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { listenLocal } from '../helpers/ports.js'
import { scrape, sum } from '../helpers/prometheus.js'
import { END_HEADERS, END_STREAM, frame, FRAME, goawayCode, headerBlock, postFrames, RawH2, requestFrame, resetFrame } from '../helpers/raw-h2.js'
import { eventually } from '../helpers/sim.js'
import { makeCert, type TestCert } from '../helpers/tls-cert.js'

/** Requests the upstream has seen begin, and how many of them are open now. */
const upstream = { started: 0, open: 0, peak: 0 }
let upstreamServer: Server
let upstreamUrl: string
let cert: TestCert
let gw: GatewayProcess

const BODY = JSON.stringify({ model: 'chat', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] })

beforeAll(async () => {
  // Answers after 200 ms, so a request the gateway starts is still open when its client resets.
  upstreamServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    upstream.started++
    upstream.peak = Math.max(upstream.peak, ++upstream.open)
    res.once('close', () => upstream.open--)
    req.resume()
    const timer = setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', model: 'chat', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] }))
    }, 200)
    res.once('close', () => clearTimeout(timer))
  })
  upstreamUrl = await listenLocal(upstreamServer)
  cert = await makeCert(await mkdtemp(join(tmpdir(), 'switchyard-h2-abuse-')), 'switchyard-h2-abuse')
  gw = await startGateway({
    server: { tls: { cert: cert.certFile, key: cert.keyFile } },
    models: [{ name: 'chat', upstreams: [{ url: `${upstreamUrl}/v1` }], retries: { attempts: 0 } }],
  })
})

afterAll(async () => {
  await gw?.stop()
  upstreamServer?.closeAllConnections()
  await new Promise((r) => upstreamServer?.close(r))
})

/**
 * Sends up to `rounds` POSTs on one connection, each reset (RST_STREAM CANCEL) right after it
 * is written, in a separate write: the reset lands after the gateway has read the request, as
 * it does when an attacker's frames cross a network. Stops when the connection closes or
 * after `ms`. Returns how many were sent.
 */
async function rapidReset(h2: RawH2, rounds: number, ms: number): Promise<number> {
  const authority = new URL(gw.url).host
  const until = Date.now() + ms
  let sent = 0
  while (sent < rounds && !h2.closed && Date.now() < until) {
    const id = 2 * sent + 1
    h2.send(postFrames(id, authority, '/v1/chat/completions', BODY, false))
    await new Promise((r) => setImmediate(r))
    h2.send(resetFrame(id, constants.NGHTTP2_CANCEL))
    sent++
  }
  return sent
}

function h2Session(): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = h2connect(gw.url, { ca: cert.pem })
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

function post(session: ClientHttp2Session): ClientHttp2Stream {
  const req = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' })
  req.on('error', () => {})
  req.end(BODY)
  return req
}

function status(req: ClientHttp2Stream): Promise<number> {
  return new Promise((resolve, reject) => {
    req.once('response', (h) => resolve(Number(h[':status'])))
    req.once('close', () => reject(new Error(`stream closed (${req.rstCode})`)))
    req.resume()
  })
}

describe('HTTP/2 rapid reset (CVE-2023-44487)', () => {
  it('a connection that resets its streams as it opens them gets GOAWAY ENHANCE_YOUR_CALM; few reach the upstream', async () => {
    const before = upstream.started
    const h2 = await RawH2.open(gw.url)
    await h2.ackSettings()
    await rapidReset(h2, 900, 10_000)
    const goaway = await h2.until((f) => f.type === FRAME.GOAWAY, 5000)
    expect(goaway).toBeDefined()
    expect(goawayCode(goaway!)).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM)
    await h2.until(() => false, 2000) // until the gateway closes the connection
    expect(h2.closed).toBe(true)
    // Closed at 100 premature resets (half of the default 200), long before nghttp2's own
    // limit (1000 resets); without the guard the 900 rounds start hundreds of upstream requests.
    expect(upstream.started - before).toBeLessThanOrEqual(100)
    await eventually(() => upstream.open === 0, 3000)
    expect(sum(await scrape(gw.adminUrl), 'switchyard_http2_premature_reset_closes_total')).toBeGreaterThanOrEqual(1)
    const warnings = gw.stderr().split('\n').filter((l) => l.includes('reset too many streams'))
    expect(warnings).toHaveLength(1)
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, client: '127.0.0.1', premature_resets: 100 })
    // Other connections are served.
    const session = await h2Session()
    expect(await status(post(session))).toBe(200)
    session.close()
  })

  it('requests the gateway itself resets (header lists over max_header_size) count too', async () => {
    // Unacknowledged SETTINGS: nghttp2 lets the big header lists through and admit() resets
    // the streams (once acknowledged, nghttp2 refuses them before any handler runs).
    const h2 = await RawH2.open(gw.url)
    const authority = new URL(gw.url).host
    // 20 KB of headers: a HEADERS frame and a CONTINUATION (frames stay under 16 KiB).
    const big = (id: number) =>
      Buffer.concat([
        frame(FRAME.HEADERS, END_STREAM, id, headerBlock([[':method', 'GET'], [':scheme', 'https'], [':path', '/v1/models'], [':authority', authority], ['x-big-1', 'a'.repeat(10_000)]])),
        frame(FRAME.CONTINUATION, END_HEADERS, id, headerBlock([['x-big-2', 'a'.repeat(10_000)]])),
      ])
    const closes = async () => sum(await scrape(gw.adminUrl), 'switchyard_http2_premature_reset_closes_total')
    const before = await closes()
    for (let i = 0; i < 400 && !h2.closed; i++) h2.send(big(2 * i + 1))
    await h2.until(() => false, 5000)
    // Closed by the guard (a GOAWAY may be lost to the TCP reset while the client still writes).
    expect(h2.closed).toBe(true)
    expect(await closes()).toBe(before + 1)
    const goaway = h2.frames.find((f) => f.type === FRAME.GOAWAY)
    if (goaway !== undefined) expect(goawayCode(goaway)).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM)
    h2.close()
  })

  it('a client that cancels a few streams before their answer keeps its connection', async () => {
    const session = await h2Session()
    let goaway = false
    session.once('goaway', () => (goaway = true))
    for (let i = 0; i < 40; i++) post(session).close(constants.NGHTTP2_CANCEL)
    expect(await status(post(session))).toBe(200)
    expect(goaway).toBe(false)
    expect(session.closed || session.destroyed).toBe(false)
    session.close()
  })
})

/** The gateway's resident memory (Linux /proc), in MiB. */
async function rssMiB(): Promise<number> {
  const text = await readFile(`/proc/${gw.proc.pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(text)![1]) / 1024
}

/** Writes `unit` again and again for up to `ms` (or until `total` bytes or the connection closes), without reading. */
async function flood(h2: RawH2, unit: Buffer, total: number, ms: number): Promise<number> {
  const chunk = Buffer.concat(Array.from({ length: Math.max(1, Math.floor(65536 / unit.length)) }, () => unit))
  const until = Date.now() + ms
  let written = 0
  while (written < total && !h2.closed && Date.now() < until) {
    if (!h2.socket.write(chunk)) await new Promise((r) => setTimeout(r, 5))
    written += chunk.length
  }
  return written
}

describe('control-frame floods', () => {
  it.each([
    ['PING', frame(FRAME.PING, 0, 0, Buffer.alloc(8))],
    ['SETTINGS', frame(FRAME.SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]))],
  ])('a %s flood from a client that reads nothing ends with the connection closed, memory bounded', async (_name, unit) => {
    const rss0 = await rssMiB()
    const h2 = await RawH2.open(gw.url)
    await h2.ackSettings()
    h2.socket.pause()
    const written = await flood(h2, unit, 64 * 1024 * 1024, 5000)
    const rss1 = await rssMiB()
    h2.socket.resume()
    await h2.until(() => false, 5000)
    // nghttp2 stops reading once 1000 ACKs wait to be sent, and the session is torn down.
    expect(h2.closed).toBe(true)
    expect(written).toBeLessThan(16 * 1024 * 1024)
    expect(rss1 - rss0).toBeLessThan(64)
    h2.close()
  })

  it('a CONTINUATION flood (a header block that never ends, CVE-2024-27316 style) ends with the connection closed, memory bounded', async () => {
    const rss0 = await rssMiB()
    const h2 = await RawH2.open(gw.url)
    await h2.ackSettings()
    const authority = new URL(gw.url).host
    h2.send(frame(FRAME.HEADERS, 0, 1, headerBlock([[':method', 'GET'], [':scheme', 'https'], [':path', '/v1/models'], [':authority', authority]])))
    let i = 0
    const unit = () => frame(FRAME.CONTINUATION, 0, 1, headerBlock([[`x-h${i++}`, 'a'.repeat(1000)]]))
    const until = Date.now() + 5000
    let written = 0
    while (!h2.closed && Date.now() < until && written < 64 * 1024 * 1024) {
      const batch = Buffer.concat(Array.from({ length: 64 }, unit))
      if (!h2.socket.write(batch)) await new Promise((r) => setTimeout(r, 5))
      written += batch.length
    }
    const rss1 = await rssMiB()
    await h2.until(() => false, 5000)
    // nghttp2 (1.61+, in Node 20.12+) caps the CONTINUATION frames of one header block.
    expect(h2.closed).toBe(true)
    expect(h2.frames.some((f) => f.type === FRAME.GOAWAY)).toBe(true)
    expect(written).toBeLessThan(16 * 1024 * 1024)
    expect(rss1 - rss0).toBeLessThan(64)
    h2.close()
  })
})

describe('stream and connection limits', () => {
  it('a client that never acknowledges our SETTINGS still cannot run more than http2_max_streams at once', async () => {
    await eventually(() => upstream.open === 0, 3000)
    upstream.peak = 0
    const h2 = await RawH2.open(gw.url) // no SETTINGS ACK: nghttp2 must hold the limit anyway
    const authority = new URL(gw.url).host
    const frames: Buffer[] = []
    for (let i = 0; i < 300; i++) frames.push(postFrames(2 * i + 1, authority, '/v1/chat/completions', BODY, false))
    h2.send(Buffer.concat(frames))
    await h2.until(() => false, 1500)
    const refused = h2.frames.filter((f) => f.type === FRAME.RST_STREAM && f.payload.readUInt32BE(0) === constants.NGHTTP2_REFUSED_STREAM).length
    const answered = new Set(h2.frames.filter((f) => f.type === FRAME.HEADERS).map((f) => f.stream)).size
    // The rest are refused (RST_STREAM REFUSED_STREAM, RFC 9113 §5.1.2) and never reach a handler.
    expect(upstream.peak).toBeLessThanOrEqual(128)
    expect(answered).toBe(128)
    expect(refused).toBe(172)
    h2.close()
  })

  it('max_connections_per_ip counts HTTP/2 connections: one over it is refused before its handshake', async () => {
    const capped = await startGateway({
      server: { tls: { cert: cert.certFile, key: cert.keyFile }, max_connections_per_ip: 2 },
      models: [{ name: 'chat', upstreams: [{ url: `${upstreamUrl}/v1` }] }],
    })
    try {
      const held = [await RawH2.open(capped.url), await RawH2.open(capped.url)]
      for (const h2 of held) await h2.ackSettings()
      await expect(RawH2.open(capped.url)).rejects.toThrow()
      held[0]!.close()
      await new Promise((r) => setTimeout(r, 200))
      const again = await RawH2.open(capped.url)
      await again.ackSettings()
      again.send(requestFrame(1, [[':method', 'GET'], [':scheme', 'https'], [':path', '/v1/models'], [':authority', new URL(capped.url).host]]))
      expect(await again.outcome(1)).toEqual({ kind: 'response' })
      again.close()
      held[1]!.close()
    } finally {
      await capped.stop()
    }
  })
})
