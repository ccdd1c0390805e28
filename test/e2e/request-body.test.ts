// What crosses the boundary when the gateway changes a body (the usage request on streams,
// the upstream's own model name): the client's other bytes, numbers included, as written;
// the configured URL's query; hop-by-hop headers dropped on the way back.
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { listenLocal } from '../helpers/ports.js'

let upstream: Server
let gw: GatewayProcess
const received: string[] = []
const urls: string[] = []
const auths: (string | undefined)[] = []

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (d: string) => (body += d))
    req.on('end', () => {
      received.push(body)
      urls.push(req.url!)
      auths.push(req.headers.authorization)
      res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive, x-up-hop', 'x-up-hop': 'drop', 'http2-settings': 'AAA', 'x-up-kept': 'kept' })
      res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: 'stop' }] })}\n\n`)
      res.end('data: [DONE]\n\n')
    })
  })
  const url = `${await listenLocal(upstream)}/v1`
  gw = await startGateway({
    models: [
      { name: 'same', upstreams: [{ url, name: 'same' }] },
      { name: 'renamed', upstreams: [{ url, name: 'renamed', model: 'served-name' }] },
      // Azure's shape: a deployment path and an api-version every request must carry.
      { name: 'azure', upstreams: [{ url: `${url.replace(/\/v1$/, '')}/openai/deployments/d1?api-version=2024-06-01`, name: 'azure' }] },
      // A server behind basic auth: the URL's credentials go as Authorization: Basic.
      { name: 'basic', upstreams: [{ url: url.replace('http://', 'http://svc:p%40ss@'), name: 'basic' }] },
    ],
  })
})

afterAll(async () => {
  await gw?.stop()
  upstream?.close()
})

async function send(text: string): Promise<string> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text })
  expect(res.status).toBe(200)
  // Hop-by-hop on the way back: what the upstream's Connection names, and HTTP2-Settings.
  expect(res.headers.get('x-up-hop')).toBeNull()
  expect(res.headers.get('http2-settings')).toBeNull()
  expect(res.headers.get('x-up-kept')).toBe('kept')
  await res.text()
  return received.at(-1)!
}

const NUMBERS = '"seed":9007199254740993,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"integer","maximum":1e400}}}'
const MESSAGES = '"messages":[{"role":"user","content":"Hello"}]'

it('a stream without stream_options gets the usage request; everything else arrives as the client wrote it', async () => {
  const text = `{"model":"same", "stream":true,${NUMBERS},${MESSAGES}}`
  const got = await send(text)
  expect(got).toBe(`{"stream_options":{"include_usage":true},${text.slice(1)}`)
})

it("a renamed model or the client's own stream_options: written again, with the client's numbers kept", async () => {
  const renamed = await send(`{"model":"renamed","stream":true,${NUMBERS},${MESSAGES}}`)
  expect(JSON.parse(renamed)).toMatchObject({ model: 'served-name', stream_options: { include_usage: true } })
  const own = await send(`{"model":"same","stream":true,"stream_options":{"include_usage":false},${NUMBERS},${MESSAGES}}`)
  for (const got of [renamed, own]) {
    // JSON.parse read the seed as …992 and the maximum as Infinity: the text shows what was sent.
    expect(got).toContain('"seed":9007199254740993')
    expect(got).toContain('"maximum":1e400')
  }
  expect(JSON.parse(own)).toMatchObject({ stream_options: { include_usage: true } })
})

it("a query in an upstream's URL goes with every request, over the client's parameter of the same name", async () => {
  const text = `{"model":"azure",${MESSAGES}}`
  for (const [search, expected] of [
    ['', '/openai/deployments/d1/chat/completions?api-version=2024-06-01'],
    ['?api-version=evil&trace=1', '/openai/deployments/d1/chat/completions?api-version=2024-06-01&trace=1'],
  ] as const) {
    const res = await fetch(`${gw.url}/v1/chat/completions${search}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text })
    expect(res.status).toBe(200)
    await res.text()
    expect(urls.at(-1)).toBe(expected)
  }
})

it("credentials in an upstream's URL are sent as Basic auth", async () => {
  await send(`{"model":"basic",${MESSAGES}}`)
  expect(auths.at(-1)).toBe(`Basic ${Buffer.from('svc:p@ss').toString('base64')}`)
  await send(`{"model":"same",${MESSAGES}}`)
  expect(auths.at(-1)).toBeUndefined()
})
