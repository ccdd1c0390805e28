// The proxied response head (src/server/response-head.ts): on HTTP/1.1 the rate-limit
// headers are appended as text to the head Node assembled; on HTTP/2 they go through the
// usual path. Either way each response carries each header once, in a head that frames
// the body right (two requests on one connection prove the second was not misread).
import { createServer, type Server } from 'node:http'
import { connect as h2connect } from 'node:http2'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appendableHeads } from '../../src/server/response-head.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { testKey, type TestKey } from '../helpers/keys.js'
import { listenLocal } from '../helpers/ports.js'
import { rawRequest } from '../helpers/raw-http.js'
import { makeCert } from '../helpers/tls-cert.js'

const LIMIT_HEADERS = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
]
const ANSWER = JSON.stringify({
  id: 'x',
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
})
const BODY = JSON.stringify({ model: 'chat', max_tokens: 10, messages: [{ role: 'user', content: 'Hello' }] })

let upstream: Server
let key: TestKey
let plain: GatewayProcess
let tls: GatewayProcess
let ca: string

beforeAll(async () => {
  // An upstream whose answers carry Expect, a request header: relayed, it would make Node
  // send the head before the gateway's own headers were in it.
  upstream = createServer((req, res) => {
    req.resume().on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER), expect: '100-continue', 'x-upstream-own': 'kept' })
      res.end(ANSWER)
    })
  })
  const url = `${await listenLocal(upstream)}/v1`
  key = testKey('team', { limits: { requests_per_minute: 600, tokens_per_minute: 100_000 } })
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-head-'))
  const cert = await makeCert(dir, 'switchyard-head')
  ca = cert.pem
  const config = { logging: { access_log: 'off' }, auth: { keys: [key.entry] }, models: [{ name: 'chat', upstreams: [{ url }] }] }
  plain = await startGateway(config)
  tls = await startGateway({ ...config, server: { tls: { cert: cert.certFile, key: cert.keyFile } } })
})

afterAll(async () => {
  await plain?.stop()
  await tls?.stop()
  upstream?.close()
})

/** Each header line of a raw head, as [name, value] (names lowercased). */
function headLines(head: string): [string, string][] {
  return head
    .split('\r\n')
    .slice(1)
    .map((line) => {
      const colon = line.indexOf(':')
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as [string, string]
    })
}

describe('the response head', () => {
  it("is Node's assembled head with the late headers appended, on this Node", () => {
    // If a Node release stops keeping the head as text, the gateway falls back to writeHead
    // for every header (correct, a little slower): this says which path the suite tests.
    expect(appendableHeads).toBe(true)
  })

  it('carries each rate-limit header once on HTTP/1.1, and frames the body right on a reused connection', async () => {
    const request = (last: boolean): string =>
      `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${key.key}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(BODY)}\r\n${last ? 'connection: close\r\n' : ''}\r\n${BODY}`
    const r = await rawRequest(plain.url, request(false) + request(true))
    // Two whole responses: head, then exactly content-length bytes of JSON.
    let rest = r.text
    const remaining: number[] = []
    for (let i = 0; i < 2; i++) {
      const end = rest.indexOf('\r\n\r\n')
      expect(end).toBeGreaterThan(0)
      const head = rest.slice(0, end)
      expect(head.startsWith('HTTP/1.1 200')).toBe(true)
      const lines = headLines(head)
      for (const name of LIMIT_HEADERS) expect(lines.filter(([n]) => n === name), name).toHaveLength(1)
      expect(lines.some(([n]) => n === 'expect')).toBe(false)
      expect(lines.find(([n]) => n === 'x-upstream-own')?.[1]).toBe('kept')
      const length = Number(lines.find(([n]) => n === 'content-length')?.[1])
      const body = rest.slice(end + 4, end + 4 + length)
      expect(JSON.parse(body)).toMatchObject({ usage: { total_tokens: 7 } })
      remaining.push(Number(lines.find(([n]) => n === 'x-ratelimit-remaining-requests')?.[1]))
      expect(lines.find(([n]) => n === 'x-ratelimit-limit-requests')?.[1]).toBe('600')
      expect(lines.find(([n]) => n === 'x-ratelimit-limit-tokens')?.[1]).toBe('100000')
      rest = rest.slice(end + 4 + length)
    }
    expect(rest).toBe('')
    expect(remaining[1]).toBe(remaining[0]! - 1)
  })

  it('carries each rate-limit header once on HTTP/2', async () => {
    const session = h2connect(tls.url, { ca })
    try {
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': '/v1/chat/completions',
          authorization: `Bearer ${key.key}`,
          'content-type': 'application/json',
        })
        stream.on('response', (h) => {
          stream.resume()
          resolve(h)
        })
        stream.on('error', reject)
        stream.end(BODY)
      })
      expect(headers[':status']).toBe(200)
      for (const name of LIMIT_HEADERS) expect(typeof headers[name], name).toBe('string')
      expect(headers['x-ratelimit-limit-requests']).toBe('600')
      expect(headers.expect).toBeUndefined()
    } finally {
      session.close()
    }
  })
})
