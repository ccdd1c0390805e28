// Several replicas sharing state: two gateway processes, one real redis-server, a store file
// shared by both or one each, keys made at run time through the admin API, the openai SDK.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatKeyHash } from '../../src/auth/keys.js'
import type { SimServer } from '../../src/sim/server.js'
import { adminClient, type AdminCall } from '../helpers/admin.js'
import { configText, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { testKey } from '../helpers/keys.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { eventually, startSims } from '../helpers/sim.js'

const ADMIN_TOKEN = 'admin-token-replica-tests'
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

interface Replica {
  readonly gw: GatewayProcess
  readonly admin: AdminCall
}

async function replica(sqlite: string, state: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Replica> {
  const gw = await startGateway({
    admin: { token: ADMIN_TOKEN },
    logging: { access_log: 'off' },
    models: [{ name: 'chat-small', upstreams: [{ url: `${sim.url}/v1`, model: 'sim-model' }] }],
    auth: { keys: [] },
    store: { sqlite },
    // A loaded machine can hold a Redis reply past the default 250 ms, and on_error: open then
    // admits unchecked, by design: these tests are about what replicas share, not that timeout.
    state: { timeout: '5s', ...state },
    ...extra,
  })
  gateways.push(gw)
  return { gw, admin: adminClient(gw.adminUrl, ADMIN_TOKEN) }
}

async function storeFile(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'switchyard-replicas-')), 'switchyard.db')
}

function client(r: Replica, key: string): OpenAI {
  return new OpenAI({ baseURL: `${r.gw.url}/v1`, apiKey: key, maxRetries: 0 })
}

const small = (c: OpenAI) => c.chat.completions.create({ model: 'chat-small', max_tokens: 4, messages: HELLO })

const LONG = { model: 'chat-small', stream: true as const, max_tokens: 100_000, ignore_eos: true, messages: HELLO }

async function listedSpend(r: Replica, name: string): Promise<number> {
  const rows = (await r.admin('GET', '/admin/keys')).body.data as { name: string; spent_usd: number }[]
  return rows.find((k) => k.name === name)!.spent_usd
}

async function status(p: Promise<unknown>): Promise<number> {
  return p.then(
    () => 200,
    (e: unknown) => (e as { status?: number }).status ?? -1
  )
}

describe('two replicas sharing one Redis and one store file', () => {
  it('a key made on one works on the other within a second; revoked on one, refused by both', async () => {
    const file = await storeFile()
    const r1 = await replica(file, { redis: redis.url })
    const r2 = await replica(file, { redis: redis.url })
    const made = await r1.admin('POST', '/admin/keys', { name: 'shared-file-key' })
    expect(made.status).toBe(201)
    const key = made.body.key as string
    expect(await status(small(client(r1, key)))).toBe(200)
    const t0 = Date.now()
    await eventually(async () => (await status(small(client(r2, key)))) === 200, 3000)
    expect(Date.now() - t0).toBeLessThan(2000)

    expect((await r1.admin('DELETE', '/admin/keys/shared-file-key')).status).toBe(200)
    expect(await status(small(client(r1, key)))).toBe(401)
    const t1 = Date.now()
    await eventually(async () => (await status(small(client(r2, key)))) === 401, 3000)
    expect(Date.now() - t1).toBeLessThan(2000)
  })

  it('a budget is enforced together: spend from both counts', async () => {
    const file = await storeFile()
    const prices = { prices: { 'chat-small': { input: 1000, output: 1000 } } }
    const r1 = await replica(file, { redis: redis.url }, prices)
    const r2 = await replica(file, { redis: redis.url }, prices)
    const made = await r1.admin('POST', '/admin/keys', { name: 'shared-file-budget', budget_usd: 0.05 })
    const key = made.body.key as string
    await eventually(async () => (await status(client(r2, key).models.list())) === 200, 3000)
    let spent = 0
    let i = 0
    for (; spent < 0.05 && i < 100; i++) {
      const r = await small(client(i % 2 === 0 ? r1 : r2, key))
      spent += r.usage!.total_tokens * 0.001
    }
    await new Promise((r) => setTimeout(r, 50))
    for (const r of [r1, r2]) await expect(small(client(r, key))).rejects.toMatchObject({ status: 429, code: 'insufficient_quota' })
    // Written to the file: both list the same spend, every request's cost counted once.
    await new Promise((r) => setTimeout(r, 2200))
    for (const r of [r1, r2]) expect(await listedSpend(r, 'shared-file-budget')).toBeCloseTo(spent, 6)
  })

  it('a concurrency limit of a stored key is shared, and slots come back on abort', async () => {
    const file = await storeFile()
    const r1 = await replica(file, { redis: redis.url })
    const r2 = await replica(file, { redis: redis.url })
    const made = await r1.admin('POST', '/admin/keys', { name: 'shared-file-conc', limits: { concurrency: 2 } })
    const key = made.body.key as string
    await eventually(async () => (await status(client(r2, key).models.list())) === 200, 3000)
    const aborts = [new AbortController(), new AbortController()]
    const streams = await Promise.all([
      client(r1, key).chat.completions.create(LONG, { signal: aborts[0]!.signal }),
      client(r2, key).chat.completions.create(LONG, { signal: aborts[1]!.signal }),
    ])
    expect(await status(small(client(r1, key)))).toBe(429)
    expect(await status(small(client(r2, key)))).toBe(429)
    for (const ac of aborts) ac.abort()
    await Promise.allSettled(streams.map(async (s) => { for await (const _ of s); }))
    await eventually(async () => (await status(small(client(r1, key)))) === 200 && (await status(small(client(r2, key)))) === 200, 3000)
  })
})

describe('two replicas sharing one Redis, each with its own store file', () => {
  it('a key made on one is unknown to the other until registered there by its hash; then the budget is shared, through a Redis restart too', async () => {
    const prices = { prices: { 'chat-small': { input: 1000, output: 1000 } } }
    // closed: while Redis is away nothing is admitted unchecked (503), so any 200 after it is back is the floor's fault.
    const state = { redis: redis.url, on_error: 'closed' }
    const r1 = await replica(await storeFile(), state, prices)
    const r2 = await replica(await storeFile(), state, prices)
    const made = await r1.admin('POST', '/admin/keys', { name: 'own-files-budget', budget_usd: 0.05 })
    const key = made.body.key as string
    await new Promise((r) => setTimeout(r, 1500))
    expect(await status(client(r2, key).models.list())).toBe(401)
    // The README's setup for separate files: the same key registered on each replica by its hash.
    const registered = await r2.admin('POST', '/admin/keys', { name: 'own-files-budget', hash: formatKeyHash(key), budget_usd: 0.05 })
    expect(registered.status).toBe(201)
    expect(registered.body.key).toBeNull()

    let spent = 0
    for (let i = 0; spent < 0.05 && i < 100; i++) {
      const r = await small(client(i % 2 === 0 ? r1 : r2, key))
      spent += r.usage!.total_tokens * 0.001
    }
    await new Promise((r) => setTimeout(r, 50))
    for (const r of [r1, r2]) await expect(small(client(r, key))).rejects.toMatchObject({ status: 429, code: 'insufficient_quota' })
    // Each file holds only its replica's part; Redis the sum, and each replica lists that.
    for (const r of [r1, r2]) expect(await listedSpend(r, 'own-files-budget')).toBeCloseTo(spent, 6)

    // Redis restarts empty: what it held comes back from the replicas, not just each one's own part.
    await redis.restart()
    for (const r of [r1, r2]) {
      await eventually(async () => {
        const e = await small(client(r, key)).catch((err: unknown) => err as { status?: number; code?: string })
        if ((e as { status?: number }).status === 503) return false
        expect(e).toMatchObject({ status: 429, code: 'insufficient_quota' })
        return true
      }, 10_000)
    }
    for (const r of [r1, r2]) expect(await listedSpend(r, 'own-files-budget')).toBeCloseTo(spent, 6)
  })
})

describe('a limit reloaded on one replica only', () => {
  it('both keep counting one bucket: the units used stay, each replica reads them at its own limit', async () => {
    const k = testKey('reloaded-rpm')
    const cfg = (rpm: number) => ({
      admin: { token: ADMIN_TOKEN },
      logging: { access_log: 'off' },
      models: [{ name: 'chat-small', upstreams: [{ url: `${sim.url}/v1`, model: 'sim-model' }] }],
      auth: { keys: [{ ...k.entry, limits: { requests_per_minute: rpm } }] },
      state: { redis: redis.url },
    })
    const g1 = await startGateway(cfg(6), {}, ['--no-watch'])
    const g2 = await startGateway(cfg(6), {}, ['--no-watch'])
    gateways.push(g1, g2)
    const c1 = new OpenAI({ baseURL: `${g1.url}/v1`, apiKey: k.key, maxRetries: 0 })
    const c2 = new OpenAI({ baseURL: `${g2.url}/v1`, apiKey: k.key, maxRetries: 0 })
    const bucket = async () => String(await redis.command('GET', 'switchyard:k:reloaded-rpm:rpm'))
    const t0 = Date.now()
    for (let i = 0; i < 3; i++) await small(i % 2 === 0 ? c1 : c2)
    await writeFile(g1.configFile, configText(cfg(60)))
    g1.proc.kill('SIGHUP')
    await g1.waitForLog(/config reloaded/)

    // g1 (60 a minute) sees the 3 used: 57 left before its request, 56 after.
    const { response } = await c1.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO }).withResponse()
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('60')
    expect(Number(response.headers.get('x-ratelimit-remaining-requests'))).toBe(56)
    expect(await bucket()).toMatch(/^\d+(\.\d+)? 1000$/)
    // g2 (still 6 a minute) sees 4 used: 2 more, then refused, however the two alternate.
    let admitted = 0
    for (let i = 0; i < 4; i++) {
      if ((await status(small(c2))) === 200) admitted++
      expect(await bucket()).toMatch(/^\d+(\.\d+)? (1000|10000)$/)
    }
    // One request refills every 10 s at 6 a minute: a slow machine may rightly admit one more.
    const refills = Math.floor((Date.now() - t0) / 10_000)
    expect(admitted).toBeGreaterThanOrEqual(2)
    expect(admitted).toBeLessThanOrEqual(2 + refills)
    await expect(small(c2)).rejects.toMatchObject({ status: 429, code: 'rate_limit_exceeded' })
    // And g1 reads the same units: 6 used (and never less), at its 60.
    const again = await c1.chat.completions.create({ model: 'chat-small', max_tokens: 1, messages: HELLO }).withResponse()
    expect(Number(again.response.headers.get('x-ratelimit-remaining-requests'))).toBeLessThanOrEqual(53 + refills)
  })
})
