// Rate limits, token limits with reconciliation, concurrency and budgets, with the memory
// store: real gateway processes, a simulator, the openai SDK.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { estimatePromptTokens } from '../../src/tokens/token-estimate.js'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { expectExactBurst, tally, testKey } from '../helpers/keys.js'
import { eventually, simStats, startSims } from '../helpers/sim.js'

let sim: SimServer
const gateways: GatewayProcess[] = []

beforeAll(async () => {
  sim = (await startSims(1, { ttftMs: 2, tokensPerSecond: 0 }))[0]!
})
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await sim?.close()
})

async function gateway(extra: Record<string, unknown>, models = ['chat-small']): Promise<GatewayProcess> {
  const gw = await startGateway({
    logging: { access_log: 'off' },
    models: models.map((name) => ({ name, upstreams: [{ url: `${sim.url}/v1`, model: 'sim-model' }] })),
    ...extra,
  })
  gateways.push(gw)
  return gw
}

function client(gw: GatewayProcess, apiKey = 'none'): OpenAI {
  return new OpenAI({ baseURL: `${gw.url}/v1`, apiKey, maxRetries: 0 })
}

const HELLO = [{ role: 'user' as const, content: 'Hello' }]

describe('requests per minute', () => {
  it('limit 60, 100 concurrent requests → exactly 60 succeed; the rest get 429 with Retry-After', async () => {
    const a = testKey('team-a', { limits: { requests_per_minute: 60 } })
    const warm = testKey('warm')
    const gw = await gateway({ auth: { keys: [a.entry, warm.entry] } })
    // Open the connections first, so the burst is only requests (the bucket refills one a second).
    const w = client(gw, warm.key)
    await Promise.all(Array.from({ length: 100 }, () => w.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO })))
    const c = client(gw, a.key)
    const t0 = performance.now()
    const calls = Array.from({ length: 100 }, () =>
      c.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO }).withResponse()
    )
    const t = await tally(calls)
    expectExactBurst(t.ok, 60, performance.now() - t0)
    expect(t).toMatchObject({ refused: 100 - t.ok, codes: { rate_limit_exceeded: 100 - t.ok }, other: [] })

    const refused = await c.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError)
    const h = (refused as InstanceType<typeof OpenAI.RateLimitError>).headers
    expect(Number(h.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(h.get('x-ratelimit-limit-requests')).toBe('60')
    expect(h.get('x-ratelimit-remaining-requests')).toBe('0')
    expect((refused as Error).message).toContain('key team-a')
  })

  it('success responses carry OpenAI rate-limit headers', async () => {
    const a = testKey('hdr', { limits: { requests_per_minute: 10, tokens_per_minute: 10_000 } })
    const gw = await gateway({ auth: { keys: [a.entry] } })
    const { response } = await client(gw, a.key).chat.completions.create({ model: 'chat-small', max_tokens: 5, messages: HELLO }).withResponse()
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('10')
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('9')
    expect(response.headers.get('x-ratelimit-reset-requests')).toBe('6s')
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('10000')
    expect(Number(response.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThan(10_000)
    expect(response.headers.get('x-ratelimit-reset-tokens')).toMatch(/^\d+(\.\d+)?m?s$/)
  })

  it('per client IP and per model, without keys', async () => {
    const gw = await gateway({ limits: { per_ip: { requests_per_minute: 5 }, per_model: { metered: { requests_per_minute: 2 } } } }, ['chat-small', 'metered'])
    const c = client(gw)
    const m = await tally(Array.from({ length: 4 }, () => c.chat.completions.create({ model: 'metered', max_tokens: 1, messages: HELLO })))
    expect(m).toMatchObject({ ok: 2, refused: 2 })
    // The IP's limit counted those 2 admitted requests; 3 more fit.
    const ip = await tally(Array.from({ length: 5 }, () => c.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO })))
    expect(ip).toMatchObject({ ok: 3, refused: 2 })
    const err = await c.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO }).catch((e: unknown) => e)
    expect((err as Error).message).toContain('client 127.0.0.1')
  })

  it('counts IPv6 clients by their /64 (server.client_ipv6_prefix), so rotating addresses gains nothing', async () => {
    const limits = { per_ip: { requests_per_minute: 2 } }
    const ask = (gw: GatewayProcess, ip: string): Promise<Response> =>
      fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
        body: JSON.stringify({ model: 'chat-small', max_tokens: 1, messages: HELLO }),
      })
    const grouped = await gateway({ server: { trusted_proxies: ['127.0.0.1/32'] }, limits })
    const statuses: number[] = []
    for (const ip of ['2001:db8:1:2::a', '2001:db8:1:2:ffff::b', '2001:db8:1:2::c']) statuses.push((await ask(grouped, ip)).status)
    expect(statuses).toEqual([200, 200, 429])
    const refused = (await (await ask(grouped, '2001:db8:1:2:1:2:3:4')).json()) as { error: { message: string; code: string } }
    expect(refused.error.code).toBe('rate_limit_exceeded')
    expect(refused.error.message).toContain('client 2001:db8:1:2::/64')
    // Another /64 is another client; IPv4 clients are counted by address as before.
    expect((await ask(grouped, '2001:db8:1:3::a')).status).toBe(200)
    expect((await ask(grouped, '203.0.113.7')).status).toBe(200)

    const each = await gateway({ server: { trusted_proxies: ['127.0.0.1/32'], client_ipv6_prefix: 128 }, limits })
    const one: number[] = []
    for (const ip of ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2::c']) one.push((await ask(each, ip)).status)
    expect(one).toEqual([200, 200, 200])
  })
})

describe('tokens per minute', () => {
  it('estimates before the call and reconciles with the reported usage after it', async () => {
    const a = testKey('tok', { limits: { tokens_per_minute: 1000 } })
    const gw = await gateway({ auth: { keys: [a.entry] } })
    const c = client(gw, a.key)
    const est = (body: Record<string, unknown>): number => estimatePromptTokens('chat', body) + ((body.max_tokens as number) ?? 0)
    const remaining = (r: Response): number => Number(r.headers.get('x-ratelimit-remaining-tokens'))
    const t0 = performance.now()

    // 1. max_tokens 400 reserves 400 output tokens; the sim answers with far fewer.
    const b1 = { model: 'chat-small', max_tokens: 400, messages: HELLO }
    const r1 = await c.chat.completions.create(b1).withResponse()
    expect(remaining(r1.response)).toBe(1000 - est(b1))
    const used1 = r1.data.usage!.total_tokens
    expect(used1).toBeLessThan(est(b1) - 300)

    // 2. The next request sees only what the first really used (plus a little refill).
    const b2 = { model: 'chat-small', max_tokens: 1, messages: HELLO }
    const t2 = performance.now()
    const r2 = await c.chat.completions.create(b2).withResponse()
    const refill = Math.ceil(((performance.now() - t0) * 1000) / 60_000)
    const expected2 = 1000 - used1 - est(b2)
    expect(remaining(r2.response)).toBeGreaterThanOrEqual(expected2)
    expect(remaining(r2.response)).toBeLessThanOrEqual(expected2 + refill)

    // 3. A stream without max_tokens reserves only its prompt and is charged its real usage
    //    when it ends (read from the usage event the gateway asks for, and strips).
    //    Same prompt, no cap: the sim answers it exactly as it answered request 1.
    const b3 = { model: 'chat-small', stream: true as const, messages: HELLO }
    let text = ''
    for await (const chunk of await c.chat.completions.create(b3)) text += chunk.choices[0]?.delta?.content ?? ''
    expect(text).toBe(r1.data.choices[0]!.message.content)
    const r4 = await c.chat.completions.create(b2).withResponse()
    // r2 settles to its usage, the stream to request 1's, r4 reserves what r2 did.
    const expected4 = remaining(r2.response) - r2.data.usage!.total_tokens - used1
    expect(remaining(r4.response)).toBeGreaterThanOrEqual(expected4)
    expect(remaining(r4.response)).toBeLessThanOrEqual(expected4 + Math.ceil(((performance.now() - t2) * 1000) / 60_000))
  })

  it('a stream the client leaves before its first token keeps only its prompt, not its reserved output', async () => {
    // The model behind 'slow' takes 30 s to its first token; 'fast' answers at once. One key, one tokens limit.
    const [slowSim] = await startSims(1, { ttftMs: 30_000 })
    try {
      const a = testKey('left', { limits: { tokens_per_minute: 1000 } })
      const gw = await startGateway({
        logging: { access_log: 'off' },
        auth: { keys: [a.entry] },
        models: [
          { name: 'slow', upstreams: [{ url: `${slowSim.url}/v1`, model: 'sim-model' }] },
          { name: 'fast', upstreams: [{ url: `${sim.url}/v1`, model: 'sim-model' }] },
        ],
      })
      gateways.push(gw)
      const c = client(gw, a.key)
      const b1 = { model: 'slow', stream: true as const, max_tokens: 400, messages: HELLO }
      const ac = new AbortController()
      const t0 = performance.now()
      const left = c.chat.completions.create(b1, { signal: ac.signal }).catch((e: unknown) => e)
      await eventually(async () => (await simStats(slowSim)).inflight === 1)
      ac.abort()
      expect(await left).toBeInstanceOf(OpenAI.APIUserAbortError)
      // The gateway cancelled the model's work: the reservation is settled by then.
      await eventually(async () => (await simStats(slowSim)).cancelled === 1)

      const b2 = { model: 'fast', max_tokens: 1, messages: HELLO }
      const r2 = await c.chat.completions.create(b2).withResponse()
      const prompt1 = estimatePromptTokens('chat', b1)
      const expected = 1000 - prompt1 - (estimatePromptTokens('chat', b2) + 1)
      const remaining = Number(r2.response.headers.get('x-ratelimit-remaining-tokens'))
      // Plus the refill since the first request (1000 a minute); kept, the 400 reserved would be far below.
      expect(remaining).toBeGreaterThanOrEqual(expected)
      expect(remaining).toBeLessThanOrEqual(expected + Math.ceil(((performance.now() - t0) * 1000) / 60_000))
    } finally {
      await slowSim.close()
    }
  })

  it('refuses what does not fit, and a prompt over the whole limit for good', async () => {
    const a = testKey('tok2', { limits: { tokens_per_minute: 1000 } })
    const gw = await gateway({ auth: { keys: [a.entry] } })
    const c = client(gw, a.key)
    await c.chat.completions.create({ model: 'chat-small', max_tokens: 100, messages: HELLO })
    // max_tokens above the limit reserves the whole limit, which is no longer free.
    const full = await c.chat.completions.create({ model: 'chat-small', max_tokens: 5000, messages: HELLO }).catch((e: unknown) => e)
    expect(full).toMatchObject({ status: 429, code: 'rate_limit_exceeded' })
    const huge = await c.chat.completions
      .create({ model: 'chat-small', max_tokens: 1, messages: [{ role: 'user', content: 'word '.repeat(2000) }] })
      .catch((e: unknown) => e)
    expect(huge).toMatchObject({ status: 429, code: 'rate_limit_exceeded' })
    expect((huge as InstanceType<typeof OpenAI.RateLimitError>).headers.get('x-should-retry')).toBe('false')
    expect((huge as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBeNull()
    expect((huge as Error).message).toContain('too large')
  })
})

describe('concurrency', () => {
  it('a slot held by a stream is released when the client aborts', async () => {
    const a = testKey('conc', { limits: { concurrency: 2 } })
    const gw = await gateway({ auth: { keys: [a.entry] } })
    const c = client(gw, a.key)
    const long = { model: 'chat-small', stream: true as const, max_tokens: 100_000, ignore_eos: true, messages: HELLO }
    const aborts = [new AbortController(), new AbortController()]
    const streams = await Promise.all(aborts.map((ac) => c.chat.completions.create(long, { signal: ac.signal })))
    // Both slots are taken: a third request is refused.
    const third = await c.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO }).catch((e: unknown) => e)
    expect(third).toMatchObject({ status: 429, code: 'rate_limit_exceeded' })
    expect((third as Error).message).toContain('2 concurrent requests')
    for (const ac of aborts) ac.abort()
    await Promise.allSettled(streams.map(async (s) => { for await (const _ of s); }))
    await eventually(async () => {
      const r = await c.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO }).catch(() => undefined)
      return r !== undefined
    }, 3000)
    // And both slots are back, not just one.
    const two = await tally([0, 1].map(() => c.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO })))
    expect(two.ok).toBe(2)
  })
})

describe('budgets', () => {
  it('spend from prices and usage; over budget → 429 insufficient_quota, kept across a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-budget-'))
    const a = testKey('spender', { budget_usd: 0.02 })
    const config = {
      auth: { keys: [a.entry] },
      store: { sqlite: join(dir, 'switchyard.db') },
      prices: { 'chat-small': { input: 1000, output: 1000 } }, // $0.001 a token
    }
    const gw = await gateway(config)
    const c = client(gw, a.key)
    let spent = 0
    let served = 0
    while (spent < 0.02) {
      const r = await c.chat.completions.create({ model: 'chat-small', max_tokens: 4, messages: HELLO })
      spent += r.usage!.total_tokens * 0.001
      served++
    }
    expect(served).toBeGreaterThan(1)
    const err = await c.chat.completions.create({ model: 'chat-small', max_tokens: 4, messages: HELLO }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.RateLimitError)
    expect(err).toMatchObject({ status: 429, code: 'insufficient_quota', type: 'insufficient_quota' })
    const h = (err as InstanceType<typeof OpenAI.RateLimitError>).headers
    expect(h.get('x-should-retry')).toBe('false')
    expect(h.get('retry-after')).toBeNull()

    // Spend is in the store: a restarted gateway still refuses.
    expect(await gw.stop()).toBe(0)
    const again = await gateway(config)
    const still = await client(again, a.key).chat.completions.create({ model: 'chat-small', max_tokens: 4, messages: HELLO }).catch((e: unknown) => e)
    expect(still).toMatchObject({ status: 429, code: 'insufficient_quota' })
  })
})
