// An upstream that sends OpenAI's own x-ratelimit-* headers (OpenAI and Azure do, for the
// account behind them): where the gateway applies limits, its headers replace the upstream's;
// where it applies none, the upstream's pass through unchanged.
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { listenLocal } from '../helpers/ports.js'
import { testKey } from '../helpers/keys.js'

const UPSTREAM_LIMITS: Record<string, string> = {
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-reset-requests': '6ms',
  'x-ratelimit-limit-tokens': '30000000',
  'x-ratelimit-remaining-tokens': '29999990',
  'x-ratelimit-reset-tokens': '0s',
}
const USAGE = { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 }

let upstream: Server
let upstreamUrl: string
const gateways: GatewayProcess[] = []

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (d: string) => (body += d))
    req.on('end', () => {
      const stream = (JSON.parse(body) as { stream?: boolean }).stream === true
      if (!stream) {
        res.writeHead(200, { ...UPSTREAM_LIMITS, 'content-type': 'application/json', 'x-upstream-own': 'kept' })
        res.end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }], usage: USAGE }))
        return
      }
      res.writeHead(200, { ...UPSTREAM_LIMITS, 'content-type': 'text/event-stream', 'x-upstream-own': 'kept' })
      const chunk = (extra: object) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', ...extra })}\n\n`
      res.write(chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }] }))
      res.write(chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }))
      res.write(chunk({ choices: [], usage: USAGE }))
      res.end('data: [DONE]\n\n')
    })
  })
  upstreamUrl = `${await listenLocal(upstream)}/v1`
})

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  upstream?.close()
})

async function gateway(extra: Record<string, unknown>): Promise<GatewayProcess> {
  const gw = await startGateway({ logging: { access_log: 'off' }, models: [{ name: 'chat', upstreams: [{ url: upstreamUrl, name: 'openai' }] }], ...extra })
  gateways.push(gw)
  return gw
}

function ask(gw: GatewayProcess, stream: boolean, key?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (key !== undefined) headers.authorization = `Bearer ${key}`
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ model: 'chat', stream, max_tokens: 10, messages: [{ role: 'user', content: 'Hello' }] }),
  })
}

/** Every x-ratelimit-* header of a response (a name sent twice reads "a, b" through fetch). */
function limitHeaders(res: Response): Record<string, string> {
  const out: Record<string, string> = {}
  res.headers.forEach((value, name) => {
    if (name.startsWith('x-ratelimit-')) out[name] = value
  })
  return out
}

describe("the upstream's x-ratelimit-* headers", () => {
  it("are replaced by the gateway's own where it applies limits (answers and streams)", async () => {
    const a = testKey('limited', { limits: { requests_per_minute: 60, tokens_per_minute: 100_000 } })
    const gw = await gateway({ auth: { keys: [a.entry] } })
    for (const stream of [false, true]) {
      const res = await ask(gw, stream, a.key)
      expect(res.status).toBe(200)
      await res.text()
      const h = limitHeaders(res)
      expect(h).toMatchObject({ 'x-ratelimit-limit-requests': '60', 'x-ratelimit-limit-tokens': '100000' })
      expect(h['x-ratelimit-remaining-requests']).toMatch(/^5\d$/)
      expect(Object.keys(h).sort()).toEqual(Object.keys(UPSTREAM_LIMITS).sort())
      for (const value of Object.values(h)) expect(value).not.toContain(',')
      // Only the rate-limit family is the gateway's: the upstream's other headers pass.
      expect(res.headers.get('x-upstream-own')).toBe('kept')
    }
  })

  it('pass through unchanged where the gateway applies none', async () => {
    const open = await gateway({})
    const concurrencyOnly = testKey('conc', { limits: { concurrency: 4 } })
    const keyed = await gateway({ auth: { keys: [concurrencyOnly.entry] } })
    for (const [gw, key] of [
      [open, undefined],
      [keyed, concurrencyOnly.key],
    ] as const) {
      for (const stream of [false, true]) {
        const res = await ask(gw, stream, key)
        expect(res.status).toBe(200)
        await res.text()
        expect(limitHeaders(res)).toEqual(UPSTREAM_LIMITS)
      }
    }
  })
})
