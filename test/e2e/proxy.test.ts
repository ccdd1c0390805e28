// The core gateway end to end: a real gateway process, real simulators, the openai SDK.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { registerSecrets } from '../helpers/secret-scan.js'
import { simStats, startSims } from '../helpers/sim.js'

const UPSTREAM_SECRET = 'sk-upstream-secret-4f1d9c'
const CLIENT_KEY = 'sk-client-key-77aa01'

let sims: SimServer[]
let gw: GatewayProcess
let client: OpenAI

beforeAll(async () => {
  await registerSecrets(CLIENT_KEY)
  sims = await startSims(3)
  const upstreams = sims.map((s, i) => ({ url: `${s.url}/v1`, name: `u${i}`, model: 'sim-model', api_key: UPSTREAM_SECRET }))
  gw = await startGateway({
    server: { max_body: '64KiB' },
    models: [
      { name: 'chat-small', strategy: 'round-robin', upstreams },
      {
        name: 'chat-weighted',
        strategy: 'weighted',
        upstreams: upstreams.map((u, i) => ({ ...u, weight: i === 0 ? 5 : 1 })),
      },
      { name: 'chat-lor', strategy: 'least-outstanding', upstreams },
      // Configured headers, for the replacement test below.
      { name: 'chat-org', upstreams: [{ url: `${sims[0]!.url}/v1`, name: 'org', model: 'sim-model', headers: { 'OpenAI-Organization': 'org-gateway', 'x-tenant': 'tenant-gateway' } }] },
    ],
  })
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 })
})

afterAll(async () => {
  await gw?.stop()
  await Promise.all(sims?.map((s) => s.close()) ?? [])
})

async function received(): Promise<number[]> {
  return Promise.all(sims.map(async (s) => (await simStats(s)).received))
}

describe('OpenAI-compatible proxying', () => {
  it('serves a non-streaming chat completion and names the upstream', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'chat-small', messages: [{ role: 'user', content: 'Hello there' }] })
      .withResponse()
    expect(data.object).toBe('chat.completion')
    expect(data.choices[0]!.message.content!.length).toBeGreaterThan(0)
    expect(data.usage!.completion_tokens).toBeGreaterThan(0)
    expect(response.headers.get('x-switchyard-upstream')).toMatch(/^u[012]$/)
    expect(response.headers.get('x-request-id')).toBeTruthy()
  })

  it('streams the same text as the non-streaming answer, with no usage chunk unless asked', async () => {
    const messages = [{ role: 'user' as const, content: 'Tell me a story' }]
    const whole = await client.chat.completions.create({ model: 'chat-small', messages })
    const stream = await client.chat.completions.create({ model: 'chat-small', messages, stream: true })
    let text = ''
    let sawUsage = false
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? ''
      if (chunk.usage) sawUsage = true
    }
    expect(text).toBe(whole.choices[0]!.message.content)
    expect(sawUsage).toBe(false)

    const withUsage = await client.chat.completions.create({
      model: 'chat-small',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    })
    let usage: OpenAI.CompletionUsage | null | undefined
    for await (const chunk of withUsage) if (chunk.usage) usage = chunk.usage
    expect(usage?.completion_tokens).toBe(whole.usage!.completion_tokens)
  })

  it('sends SSE with anti-buffering headers', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-small', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    })
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(res.headers.get('cache-control')).toBe('no-cache')
    expect(res.headers.get('x-accel-buffering')).toBe('no')
    const body = await res.text()
    expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true)
  })

  it('serves completions, embeddings and the models list', async () => {
    const c = await client.completions.create({ model: 'chat-small', prompt: 'Once upon', max_tokens: 5 })
    expect(c.object).toBe('text_completion')
    expect(c.choices[0]!.finish_reason).toBe('length')
    const e = await client.embeddings.create({ model: 'chat-small', input: ['a', 'b'] })
    expect(e.data).toHaveLength(2)
    expect(e.data[0]!.embedding.length).toBeGreaterThan(0)
    const models = await client.models.list()
    expect(models.data.map((m) => m.id).sort()).toEqual(['chat-lor', 'chat-org', 'chat-small', 'chat-weighted'])
    const one = await client.models.retrieve('chat-small')
    expect(one.id).toBe('chat-small')
  })
})

describe('balancing across three simulators', () => {
  it('round-robin gives each the same share', async () => {
    const before = await received()
    for (let i = 0; i < 30; i++) {
      await client.chat.completions.create({ model: 'chat-small', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 2 })
    }
    const after = await received()
    expect(after.map((n, i) => n - before[i]!)).toEqual([10, 10, 10])
  })

  it('weighted respects 5:1:1', async () => {
    const before = await received()
    for (let i = 0; i < 70; i++) {
      await client.chat.completions.create({ model: 'chat-weighted', messages: [{ role: 'user', content: 'w' }], max_tokens: 1 })
    }
    const after = await received()
    expect(after.map((n, i) => n - before[i]!)).toEqual([50, 10, 10])
  })

  it('least-outstanding spreads sequential requests (ties at random, not list order)', async () => {
    const before = await received()
    for (let i = 0; i < 60; i++) {
      await client.chat.completions.create({ model: 'chat-lor', messages: [{ role: 'user', content: 'l' }], max_tokens: 1 })
    }
    const shares = (await received()).map((n, i) => n - before[i]!)
    expect(shares.reduce((a, b) => a + b)).toBe(60)
    for (const s of shares) expect(s).toBeGreaterThanOrEqual(5)
  })

  it('least-outstanding avoids a busy upstream', async () => {
    // Hold 6 long streams open; they must spread 2/2/2, never pile onto one.
    const streams = await Promise.all(
      Array.from({ length: 6 }, () =>
        client.chat.completions
          .create({ model: 'chat-lor', stream: true, max_tokens: 400, messages: [{ role: 'user', content: 'long' }], ...{ ignore_eos: true } })
          .withResponse()
      )
    )
    const ids = streams.map((s) => s.response.headers.get('x-switchyard-upstream')).sort()
    expect(ids).toEqual(['u0', 'u0', 'u1', 'u1', 'u2', 'u2'])
    await Promise.all(streams.map(async (s) => { for await (const _ of s.data); }))
  })
})

describe('bad input gets OpenAI error JSON', () => {
  async function post(path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
    const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })
    return { status: res.status, json: await res.json() }
  }

  it('unknown model → 404 model_not_found', async () => {
    const r = await post('/v1/chat/completions', JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }))
    expect(r.status).toBe(404)
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'model_not_found', param: 'model' })
    expect(r.json.error.message).toContain('nope')
  })

  it('malformed JSON → 400', async () => {
    const r = await post('/v1/chat/completions', '{"model": "chat-small", "messages": [')
    expect(r.status).toBe(400)
    expect(r.json.error.code).toBe('invalid_json')
  })

  it('a body that is not UTF-8 → 400 invalid_json, never sent upstream', async () => {
    const before = await received()
    const body = Buffer.concat([
      Buffer.from('{"model":"chat-small","messages":[{"role":"user","content":"ign'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('ore"}]}'),
    ])
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: { message: 'The request body is not valid UTF-8.', type: 'invalid_request_error', code: 'invalid_json', param: null } })
    expect(await received()).toEqual(before)
  })

  it.each([
    ['text/plain;charset=UTF-8'],
    ['application/x-www-form-urlencoded'],
    ['multipart/form-data; boundary=x'],
  ])('a body sent as %s → 415 unsupported_media_type, never sent upstream', async (type) => {
    // The types a browser sends cross-origin without a preflight (and curl -d's default).
    const before = await received()
    const r = await post('/v1/chat/completions', JSON.stringify({ model: 'chat-small', messages: [{ role: 'user', content: 'x' }] }), { 'content-type': type })
    expect(r.status).toBe(415)
    expect(r.json).toEqual({ error: { message: expect.stringContaining('application/json'), type: 'invalid_request_error', code: 'unsupported_media_type', param: null } })
    expect(await received()).toEqual(before)
  })

  it('JSON media types are served whatever their parameters and case', async () => {
    for (const type of ['application/json; charset=utf-8', 'Application/JSON', 'application/vnd.x+json']) {
      const r = await post('/v1/embeddings', JSON.stringify({ model: 'chat-small', input: 'x' }), { 'content-type': type })
      expect(r.status, type).toBe(200)
    }
  })

  it('missing model or messages/prompt/input → 400 naming the field', async () => {
    const a = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }))
    expect(a.status).toBe(400)
    expect(a.json.error.param).toBe('model')
    const b = await post('/v1/chat/completions', JSON.stringify({ model: 'chat-small' }))
    expect(b.json.error.param).toBe('messages')
    const c = await post('/v1/completions', JSON.stringify({ model: 'chat-small' }))
    expect(c.json.error.param).toBe('prompt')
    const d = await post('/v1/embeddings', JSON.stringify({ model: 'chat-small' }))
    expect(d.json.error.param).toBe('input')
  })

  it('oversize body → 413', async () => {
    const big = JSON.stringify({ model: 'chat-small', messages: [{ role: 'user', content: 'x'.repeat(70_000) }] })
    const r = await post('/v1/chat/completions', big)
    expect(r.status).toBe(413)
    expect(r.json.error.code).toBe('payload_too_large')
  })

  it('unknown path → 404, wrong method → 405', async () => {
    const a = await fetch(`${gw.url}/v1/nothing-here`)
    expect(a.status).toBe(404)
    expect(((await a.json())).error.type).toBe('invalid_request_error')
    const b = await fetch(`${gw.url}/v1/chat/completions`)
    expect(b.status).toBe(405)
    expect(b.headers.get('allow')).toBe('POST')
    expect(((await b.json())).error.code).toBe('method_not_allowed')
  })

  it('the SDK surfaces gateway errors as APIError with status', async () => {
    await expect(
      client.chat.completions.create({ model: 'missing-model', messages: [{ role: 'user', content: 'x' }] })
    ).rejects.toMatchObject({ status: 404 })
  })
})

describe('headers and secrets', () => {
  it('never forwards the client key; sends the upstream key; propagates ids', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${CLIENT_KEY}`,
        'x-api-key': CLIENT_KEY,
        'x-request-id': 'req-test-42',
        connection: 'keep-alive',
      },
      body: JSON.stringify({ model: 'chat-small', messages: [{ role: 'user', content: 'secret test' }] }),
    })
    const text = await res.text()
    expect(res.headers.get('x-request-id')).toBe('req-test-42')
    const served = Number(res.headers.get('x-switchyard-upstream')!.slice(1))
    const seen = (await simStats(sims[served]!)).lastRequest!
    expect(seen.headers.authorization).toBe(`Bearer ${UPSTREAM_SECRET}`)
    expect(JSON.stringify(seen.headers)).not.toContain(CLIENT_KEY)
    expect(seen.headers['x-request-id']).toBe('req-test-42')
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(seen.headers['x-forwarded-proto']).toBe('http')
    expect((seen.body as { model: string }).model).toBe('sim-model')
    const all = text + JSON.stringify([...res.headers])
    expect(all).not.toContain(UPSTREAM_SECRET)
  })

  it("a configured upstream header replaces the client's of the same name, whatever its case (never both)", async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'openai-organization': 'org-attacker', 'X-Tenant': 'tenant-attacker', 'x-other': 'kept' },
      body: JSON.stringify({ model: 'chat-org', messages: [{ role: 'user', content: 'org test' }] }),
    })
    expect(res.status).toBe(200)
    await res.text()
    const seen = (await simStats(sims[0]!)).lastRequest!
    expect(seen.headers['openai-organization']).toBe('org-gateway')
    expect(seen.headers['x-tenant']).toBe('tenant-gateway')
    expect(seen.headers['x-other']).toBe('kept')
  })

  it('an upstream error body reaches the client without the upstream key', async () => {
    const r = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-small', messages: 'not-an-array-but-truthy' }),
    })
    expect(r.status).toBe(400)
    expect(await r.text()).not.toContain(UPSTREAM_SECRET)
  })
})
