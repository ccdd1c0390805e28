// HTTP/2 abuse at the HTTPS edge, with a raw frame client (helpers/raw-h2.ts) and a scripted
// upstream that counts the requests the gateway starts: rapid reset (CVE-2023-44487), and
// floods of control frames.
import { mkdtemp } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect as h2connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { listenLocal } from '../helpers/ports.js'
import { scrape, sum } from '../helpers/prometheus.js'
import { FRAME, goawayCode, postFrames, RawH2, resetFrame } from '../helpers/raw-h2.js'
import { eventually } from '../helpers/sim.js'
import { makeCert, type TestCert } from '../helpers/tls-cert.js'

/** Requests the upstream has seen begin, and how many of them are open now. */
const upstream = { started: 0, open: 0 }
let upstreamServer: Server
let upstreamUrl: string
let cert: TestCert
let gw: GatewayProcess

const BODY = JSON.stringify({ model: 'chat', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] })

beforeAll(async () => {
  // Answers after 200 ms, so a request the gateway starts is still open when its client resets.
  upstreamServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    upstream.started++
    upstream.open++
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
    expect(sum(await scrape(gw.adminUrl), 'switchyard_http2_premature_reset_closes_total')).toBe(1)
    const warnings = gw.stderr().split('\n').filter((l) => l.includes('reset too many streams'))
    expect(warnings).toHaveLength(1)
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40, client: '127.0.0.1', premature_resets: 100 })
    // Other connections are served.
    const session = await h2Session()
    expect(await status(post(session))).toBe(200)
    session.close()
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
