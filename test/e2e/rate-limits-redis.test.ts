// Limits shared through Redis: TWO gateway processes and one real redis-server, the openai SDK.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { expectExactBurst, tally, testKey, type TestKey } from '../helpers/keys.js'
import { scriptCalls, startRedis, type RedisServer } from '../helpers/redis.js'
import { eventually, startSims } from '../helpers/sim.js'

const ADMIN_TOKEN = 'admin-token-redis-tests'
const HELLO = [{ role: 'user' as const, content: 'Hello' }]

let sim: SimServer
let redis: RedisServer
const gateways: GatewayProcess[] = []

beforeAll(async () => {
  sim = (await startSims(1, { ttftMs: 2, tokensPerSecond: 0 }))[0]!
  redis = await startRedis()
})
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await sim?.close()
  await redis?.stop()
})

async function gateway(keys: TestKey[], state: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<GatewayProcess> {
  const gw = await startGateway({
    admin: { token: ADMIN_TOKEN },
    logging: { access_log: 'off' },
    models: [{ name: 'chat-small', upstreams: [{ url: `${sim.url}/v1`, model: 'sim-model' }] }],
    auth: { keys: keys.map((k) => k.entry) },
    state,
    ...extra,
  })
  gateways.push(gw)
  return gw
}

/** Two replicas on the same Redis and the same keys. */
async function pair(keys: TestKey[], extra: Record<string, unknown> = {}): Promise<[GatewayProcess, GatewayProcess]> {
  // A loaded machine can hold a Redis reply past the default 250 ms, and on_error: open then
  // admits unchecked, by design: these tests are about the shared counters, not that timeout.
  const state = { redis: redis.url, timeout: '5s' }
  return [await gateway(keys, state, extra), await gateway(keys, state, extra)]
}

function client(gw: GatewayProcess, key: TestKey): OpenAI {
  return new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key.key, maxRetries: 0 })
}

const small = (c: OpenAI) => c.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO })

async function limitsStatus(gw: GatewayProcess): Promise<any> {
  const res = await fetch(`${gw.adminUrl}/admin/limits`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  return res.json()
}

describe('two gateways sharing one Redis', () => {
  it('limit 60 rpm, 100 concurrent requests split over both → exactly 60 succeed', async () => {
    const a = testKey('shared-rpm', { limits: { requests_per_minute: 60 } })
    const warm = testKey('warm')
    const [g1, g2] = await pair([a, warm])
    // Open the connections first, so the burst is only requests (the bucket refills one a second).
    await Promise.all(Array.from({ length: 100 }, (_, i) => small(client(i % 2 === 0 ? g1 : g2, warm))))
    const c1 = client(g1, a)
    const c2 = client(g2, a)
    const t0 = performance.now()
    const t = await tally(Array.from({ length: 100 }, (_, i) => small(i % 2 === 0 ? c1 : c2)))
    expectExactBurst(t.ok, 60, performance.now() - t0)
    expect(t).toMatchObject({ refused: 100 - t.ok, codes: { rate_limit_exceeded: 100 - t.ok }, other: [] })
  })

  it('a concurrency slot taken on one replica counts on the other, and is freed on abort', async () => {
    const a = testKey('shared-conc', { limits: { concurrency: 2 } })
    const [g1, g2] = await pair([a])
    const long = { model: 'chat-small', stream: true as const, max_tokens: 100_000, ignore_eos: true, messages: HELLO }
    const aborts = [new AbortController(), new AbortController()]
    const streams = await Promise.all([
      client(g1, a).chat.completions.create(long, { signal: aborts[0]!.signal }),
      client(g2, a).chat.completions.create(long, { signal: aborts[1]!.signal }),
    ])
    await expect(small(client(g1, a))).rejects.toMatchObject({ status: 429 })
    await expect(small(client(g2, a))).rejects.toMatchObject({ status: 429 })
    for (const ac of aborts) ac.abort()
    await Promise.allSettled(streams.map(async (s) => { for await (const _ of s); }))
    await eventually(async () => (await tally([small(client(g1, a)), small(client(g2, a))])).ok === 2, 3000)
  })

  it('spend is shared: a budget used up through one replica is refused by both', async () => {
    const a = testKey('shared-budget', { budget_usd: 0.02 })
    const [g1, g2] = await pair([a], { prices: { 'chat-small': { input: 1000, output: 1000 } } })
    let spent = 0
    for (let i = 0; spent < 0.02; i++) {
      const r = await client(i % 2 === 0 ? g1 : g2, a).chat.completions.create({ model: 'chat-small', max_tokens: 4, messages: HELLO })
      spent += r.usage!.total_tokens * 0.001
    }
    // Spend is added once a response has ended (within the store's settle delay of 5 ms).
    await new Promise((r) => setTimeout(r, 50))
    for (const g of [g1, g2]) await expect(small(client(g, a))).rejects.toMatchObject({ status: 429, code: 'insufficient_quota' })
  })

  it('one Redis round trip per request', async () => {
    const rpm = testKey('trips-rpm', { limits: { requests_per_minute: 100_000 } })
    const all = testKey('trips-all', { limits: { requests_per_minute: 100_000, tokens_per_minute: 10_000_000, concurrency: 50 }, budget_usd: 1000 })
    const [g1] = await pair([rpm, all], { prices: { 'chat-small': { input: 1, output: 1 } } })
    const c = client(g1, rpm)
    await small(c)
    // One after another: exactly one script call each (a request limit has nothing to settle).
    let before = await scriptCalls(redis)
    for (let i = 0; i < 50; i++) await small(c)
    expect((await scriptCalls(redis)) - before).toBe(50)
    // All at once: requests that arrive together share one call, so never more than one each.
    before = await scriptCalls(redis)
    await Promise.all(Array.from({ length: 100 }, () => small(c)))
    const burst = (await scriptCalls(redis)) - before
    expect(burst).toBeGreaterThan(0)
    expect(burst).toBeLessThanOrEqual(100)

    // With token, concurrency and budget limits there is a settlement too; it rides on the
    // next call, or goes alone when none comes within 5 ms: between 1 and 2 calls a request.
    const ca = client(g1, all)
    await small(ca)
    await new Promise((r) => setTimeout(r, 50))
    before = await scriptCalls(redis)
    for (let i = 0; i < 50; i++) await small(ca)
    await new Promise((r) => setTimeout(r, 50))
    const calls = (await scriptCalls(redis)) - before
    expect(calls).toBeGreaterThanOrEqual(50)
    expect(calls).toBeLessThanOrEqual(100)
  })
})

describe('Redis going away', () => {
  it('on_error open admits, closed refuses with 503 (and /readyz says not ready); no crash; both recover when it returns', async () => {
    const own = await startRedis()
    const a = testKey('outage', { limits: { requests_per_minute: 1000 } })
    const open = await gateway([a], { redis: own.url, on_error: 'open', timeout: '200ms' })
    const closed = await gateway([a], { redis: own.url, on_error: 'closed', timeout: '200ms' })
    const co = client(open, a)
    const cc = client(closed, a)
    for (const c of [co, cc]) {
      const { response } = await c.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO }).withResponse()
      expect(response.headers.get('x-ratelimit-limit-requests')).toBe('1000')
    }

    const ready = async (g: typeof open): Promise<{ status: number; body: Record<string, unknown> }> => {
      const r = await fetch(`${g.url}/readyz`)
      return { status: r.status, body: (await r.json()) as Record<string, unknown> }
    }
    expect((await ready(closed)).status).toBe(200)

    await own.kill()
    // closed: every request would be refused, so not ready (a load balancer sends its
    // traffic to a replica that can serve); open: still serving, so ready.
    await eventually(async () => (await ready(closed)).status === 503)
    expect((await ready(closed)).body).toEqual({ status: 'not_ready', limits_store: 'unavailable' })
    expect(await ready(open)).toEqual({ status: 200, body: { status: 'ready' } })
    // open: served, unchecked (no rate-limit headers); closed: 503 limits_unavailable, quickly.
    const t0 = performance.now()
    const served = await co.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO }).withResponse()
    expect(served.response.headers.get('x-ratelimit-limit-requests')).toBeNull()
    const refused = await small(cc).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(OpenAI.InternalServerError)
    expect(refused).toMatchObject({ status: 503, code: 'limits_unavailable' })
    expect((refused as InstanceType<typeof OpenAI.APIError>).headers!.get('retry-after')).toBe('1')
    expect(performance.now() - t0).toBeLessThan(2000)
    for (let i = 0; i < 10; i++) {
      await small(co)
      await small(cc).catch(() => undefined)
    }
    const so = await limitsStatus(open)
    expect(so).toMatchObject({ store: 'redis', on_error: 'open', degraded: true })
    expect(so.storeErrors).toBeGreaterThan(0)
    expect(so.admittedUnchecked).toBeGreaterThan(0)
    expect((await limitsStatus(closed)).storeErrors).toBeGreaterThan(0)
    expect(open.proc.exitCode).toBeNull()
    expect(closed.proc.exitCode).toBeNull()
    await open.waitForLog(/rate limit store unavailable: admitting requests without limits/)
    await closed.waitForLog(/rate limit store unavailable: refusing requests/)

    await own.restart()
    // ioredis reconnects by itself; limits are enforced again (the headers are back).
    for (const c of [co, cc]) {
      await eventually(async () => {
        const r = await c.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO }).withResponse().catch(() => undefined)
        return r?.response.headers.get('x-ratelimit-limit-requests') === '1000'
      }, 10_000)
    }
    expect((await limitsStatus(closed)).degraded).toBe(false)
    await closed.waitForLog(/limits enforced/)
    expect((await ready(closed)).status).toBe(200)
    await own.stop()
  })
})
