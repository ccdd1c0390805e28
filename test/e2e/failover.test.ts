// High availability end to end: a real gateway process in front of in-process simulators
// that die, hang, fail and rate-limit. Clients must not notice what retries can hide.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { eventually, setFault, simStats, startSims } from '../helpers/sim.js'
import { post, received, sleep } from '../helpers/requests.js'

const groups: Record<string, SimServer[]> = {}
let gw: GatewayProcess
let client: OpenAI

const FAST_HEALTH = { path: '/health', interval: '150ms', timeout: '150ms', healthy_threshold: 2, unhealthy_threshold: 2 }

function model(name: string, sims: SimServer[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    strategy: 'round-robin',
    upstreams: sims.map((s, i) => ({ url: `${s.url}/v1`, name: `${name}-${i}` })),
    ...extra,
  }
}

beforeAll(async () => {
  for (const [name, n] of Object.entries({ kill: 3, killstream: 3, hang: 2, ratelimit: 2, eject: 3, primary: 2, backup: 1, lonely: 2, storm: 3, panic: 2, allthrottled: 2 })) {
    groups[name] = await startSims(n, name === 'killstream' ? { ttftMs: 5, tokensPerSecond: 100 } : {})
  }
  const g = groups
  gw = await startGateway({
    models: [
      // Short ejections: the health-check test below must see the return within its bound
      // even when passive ejection caught the upstream first.
      model('kill', g.kill!, { health: FAST_HEALTH, outlier: { base_ejection_time: '1s' } }),
      model('killstream', g.killstream!),
      model('hang', g.hang!, { timeouts: { first_token: '500ms' } }),
      model('ratelimit', g.ratelimit!),
      model('allthrottled', g.allthrottled!),
      model('eject', g.eject!, { outlier: { consecutive_failures: 3, base_ejection_time: '1s', max_ejection_percent: 50 } }),
      model('primary', g.primary!, { fallback: ['backup'] }),
      model('backup', g.backup!),
      model('lonely', g.lonely!, { health: FAST_HEALTH, timeouts: { connect: '1s' } }),
      // A health path the simulator does not serve: every check fails, so every upstream is out.
      model('panic', g.panic!, { health: { ...FAST_HEALTH, path: '/not-there' } }),
      model('storm', g.storm!, {
        retries: { attempts: 2, budget_percent: 20 },
        outlier: { consecutive_failures: 100_000 },
      }),
    ],
  })
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
})

afterAll(async () => {
  await gw?.stop()
  await Promise.all(Object.values(groups).flat().map((s) => s.close()))
})

describe('a simulator dies', () => {
  it('under steady non-streaming load: zero failed client requests', async () => {
    const sims = groups.kill!
    let ok = 0
    let okAfterKill = 0
    let killed = false
    const failures: string[] = []
    let stop = false
    const worker = async (): Promise<void> => {
      while (!stop) {
        const r = await post(gw.url, { model: 'kill', max_tokens: 8, messages: [{ role: 'user', content: 'steady' }] })
        if (r.status !== 200) failures.push(`${r.status} ${r.text}`)
        else if (killed) okAfterKill++
        else ok++
      }
    }
    const workers = Array.from({ length: 12 }, worker)
    await sleep(1000)
    const before = await received(sims)
    await sims[0]!.close()
    killed = true
    await sleep(1500)
    const after = await Promise.all(sims.slice(1).map(async (s) => (await simStats(s)).received))
    stop = true
    await Promise.all(workers)
    expect(failures).toEqual([])
    // Thresholds stay low: a busy machine may serve few requests, but none may fail.
    expect(ok).toBeGreaterThan(10)
    expect(okAfterKill).toBeGreaterThan(10)
    // The survivors took the traffic on.
    expect(after[0]! - before[1]!).toBeGreaterThan(3)
    expect(after[1]! - before[2]!).toBeGreaterThan(3)
  })

  it('streams on it end with the SSE error event; streams on the others are undisturbed', async () => {
    const sims = groups.killstream!
    const streams = await Promise.all(
      Array.from({ length: 9 }, () =>
        client.chat.completions
          .create({ model: 'killstream', stream: true, max_tokens: 150, messages: [{ role: 'user', content: 'long' }], ...{ ignore_eos: true } })
          .withResponse()
      )
    )
    const outcomes = streams.map(async ({ data, response }) => {
      const upstream = response.headers.get('x-switchyard-upstream')!
      let chunks = 0
      let finish: string | null | undefined
      try {
        for await (const c of data) {
          chunks++
          finish = c.choices[0]?.finish_reason ?? finish
        }
        return { upstream, chunks, finish, error: undefined }
      } catch (err) {
        return { upstream, chunks, finish, error: err }
      }
    })
    await sleep(400)
    await sims[0]!.close()
    const results = await Promise.all(outcomes)
    const onDead = results.filter((r) => r.upstream === 'killstream-0')
    const onLive = results.filter((r) => r.upstream !== 'killstream-0')
    expect(onDead).toHaveLength(3)
    for (const r of onDead) {
      expect(r.error).toBeInstanceOf(OpenAI.APIError)
      expect(r.chunks).toBeGreaterThan(5)
      expect(r.finish).toBeUndefined()
    }
    for (const r of onLive) {
      expect(r.error).toBeUndefined()
      expect(r.finish).toBe('length')
      expect(r.chunks).toBeGreaterThanOrEqual(150)
    }
  })
})

describe('a simulator hangs', () => {
  it('non-streaming: first-token timeout, then served by the other', async () => {
    const [hung, good] = groups.hang!
    await setFault(hung!, { mode: 'hang' })
    for (let i = 0; i < 4; i++) {
      const t0 = Date.now()
      const r = await post(gw.url, { model: 'hang', messages: [{ role: 'user', content: `h${i}` }] })
      expect(r.status).toBe(200)
      expect(r.headers.get('x-switchyard-upstream')).toBe('hang-1')
      expect(Date.now() - t0).toBeLessThan(2000)
    }
    expect((await simStats(good!)).completed).toBeGreaterThanOrEqual(4)
    await setFault(hung!, { mode: 'ok' })
  })

  it('streaming: headers but no first token counts as a hang too', async () => {
    const [slow] = groups.hang!
    await setFault(slow!, { mode: 'slow', latency_ms: 10_000 })
    for (let i = 0; i < 4; i++) {
      const stream = await client.chat.completions.create({ model: 'hang', stream: true, max_tokens: 5, messages: [{ role: 'user', content: 's' }] }).withResponse()
      expect(stream.response.headers.get('x-switchyard-upstream')).toBe('hang-1')
      let n = 0
      for await (const _ of stream.data) n++
      expect(n).toBeGreaterThan(0)
    }
    await setFault(slow!, { mode: 'ok' })
  })
})

describe('a simulator rate-limits', () => {
  it('429 → the request is served elsewhere and the upstream cools down for Retry-After', async () => {
    const [limited, other] = groups.ratelimit!
    await setFault(limited!, { mode: 'rate-limit', retry_after: 2 })
    // Round-robin: within two requests one meets the 429 and is retried on the other.
    for (let i = 0; i < 2; i++) {
      const r = await post(gw.url, { model: 'ratelimit', messages: [{ role: 'user', content: 'r' }] })
      expect(r.status).toBe(200)
      expect(r.headers.get('x-switchyard-upstream')).toBe('ratelimit-1')
    }
    const hitAt = Date.now()
    const seen = (await simStats(limited!)).received
    expect(seen).toBe(1)
    await setFault(limited!, { mode: 'ok' })
    // During the cooldown nothing goes to it, even though it would answer now.
    while (Date.now() - hitAt < 1200) {
      const r = await post(gw.url, { model: 'ratelimit', messages: [{ role: 'user', content: 'c' }] })
      expect(r.headers.get('x-switchyard-upstream')).toBe('ratelimit-1')
    }
    expect((await simStats(limited!)).received).toBe(seen)
    await sleep(2100 - (Date.now() - hitAt))
    const back = new Set<string>()
    for (let i = 0; i < 4; i++) {
      const r = await post(gw.url, { model: 'ratelimit', messages: [{ role: 'user', content: 'b' }] })
      back.add(r.headers.get('x-switchyard-upstream')!)
    }
    expect(back).toEqual(new Set(['ratelimit-0', 'ratelimit-1']))
    expect((await simStats(other!)).received).toBeGreaterThan(5)
  })
})

describe('every simulator rate-limits', () => {
  it('their Retry-After holds in panic too: 503 no_healthy_upstream with Retry-After, and nothing more reaches them', async () => {
    const sims = groups.allthrottled!
    for (const s of sims) await setFault(s, { mode: 'rate-limit', retry_after: 30 })
    // The first request meets both 429s (one retry); the last 429 is relayed.
    const first = await post(gw.url, { model: 'allthrottled', messages: [{ role: 'user', content: 'r' }] })
    expect(first.status).toBe(429)
    const seen = await Promise.all(sims.map(async (s) => (await simStats(s)).received))
    expect(seen).toEqual([1, 1])
    for (let i = 0; i < 5; i++) {
      const r = await post(gw.url, { model: 'allthrottled', messages: [{ role: 'user', content: 'again' }] })
      expect(r.status).toBe(503)
      expect((r.json as { error: { code: string } }).error.code).toBe('no_healthy_upstream')
      const retryAfter = Number(r.headers.get('retry-after'))
      expect(retryAfter).toBeGreaterThanOrEqual(25)
      expect(retryAfter).toBeLessThanOrEqual(30)
    }
    // Panic mode used to try every member again on every request: 5 more each.
    expect(await Promise.all(sims.map(async (s) => (await simStats(s)).received))).toEqual(seen)
    for (const s of sims) await setFault(s, { mode: 'ok' })
  })
})

describe('outlier ejection and health checks', () => {
  it('5xx ejects an upstream (clients see no error) and it returns after the ejection time', async () => {
    const sims = groups.eject!
    await setFault(sims[0]!, { mode: 'error' })
    for (let i = 0; i < 12; i++) {
      const r = await post(gw.url, { model: 'eject', messages: [{ role: 'user', content: 'e' }] })
      expect(r.status).toBe(200)
    }
    // 3 consecutive failures eject it; later requests do not reach it.
    expect((await simStats(sims[0]!)).received).toBe(3)
    await setFault(sims[0]!, { mode: 'ok' })
    await sleep(1100)
    for (let i = 0; i < 6; i++) await post(gw.url, { model: 'eject', messages: [{ role: 'user', content: 'e' }] })
    // Back in the rotation: two of the six (error answers count as received too).
    expect((await simStats(sims[0]!)).received).toBe(3 + 2)
  })

  it('failed health checks take an upstream out; passing ones bring it back', { timeout: 60_000 }, async () => {
    const sims = groups.kill!.slice(1) // the 'kill' model checks health every 150 ms
    await setFault(sims[0]!, { mode: 'down' })
    await eventually(async () => {
      const before = (await simStats(sims[0]!)).received
      for (let i = 0; i < 4; i++) await post(gw.url, { model: 'kill', messages: [{ role: 'user', content: 'x' }] })
      return (await simStats(sims[0]!)).received === before
    }, 15_000)
    await setFault(sims[0]!, { mode: 'ok' })
    await eventually(async () => {
      const r = await post(gw.url, { model: 'kill', messages: [{ role: 'user', content: 'x' }] })
      return r.headers.get('x-switchyard-upstream') === 'kill-1'
    }, 15_000)
  })
})

describe('a whole pool is down', () => {
  it('the fallback model serves, and x-switchyard-model says so', async () => {
    for (const s of groups.primary!) await setFault(s, { mode: 'down' })
    for (let i = 0; i < 5; i++) {
      const r = await post(gw.url, { model: 'primary', messages: [{ role: 'user', content: 'f' }] })
      expect(r.status).toBe(200)
      expect(r.headers.get('x-switchyard-model')).toBe('backup')
      expect(r.headers.get('x-switchyard-upstream')).toBe('backup-0')
    }
    for (const s of groups.primary!) await setFault(s, { mode: 'ok' })
    const r = await post(gw.url, { model: 'primary', messages: [{ role: 'user', content: 'f' }] })
    expect(r.headers.get('x-switchyard-model')).toBe('primary')
  })

  it('with no fallback: a fast 503 with Retry-After, not a hang', async () => {
    const sims = groups.lonely!
    await Promise.all(sims.map((s) => s.close()))
    const t0 = Date.now()
    const first = await post(gw.url, { model: 'lonely', messages: [{ role: 'user', content: 'x' }] })
    expect(Date.now() - t0).toBeLessThan(1000)
    expect([502, 503]).toContain(first.status)
    // Once health checks have marked both down, it is a 503 no_healthy_upstream at once.
    await sleep(800)
    const t1 = Date.now()
    const r = await post(gw.url, { model: 'lonely', messages: [{ role: 'user', content: 'x' }] })
    expect(Date.now() - t1).toBeLessThan(1000)
    expect(r.status).toBe(503)
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/)
    expect((r.json as { error: { code: string } }).error.code).toBe('no_healthy_upstream')
  })
})

describe('panic mode', () => {
  it('when every upstream is out, requests go to all of them rather than failing', async () => {
    await sleep(600) // two failed rounds of health checks
    const r0 = await fetch(`${gw.url}/readyz`)
    expect(r0.status).toBe(503)
    expect(await r0.json()).toMatchObject({ models_without_upstream: expect.arrayContaining(['panic']) })
    const seen = new Set<string>()
    for (let i = 0; i < 6; i++) {
      const r = await post(gw.url, { model: 'panic', messages: [{ role: 'user', content: 'p' }] })
      expect(r.status).toBe(200)
      seen.add(r.headers.get('x-switchyard-upstream')!)
    }
    expect(seen).toEqual(new Set(['panic-0', 'panic-1']))
  })
})

describe('retry budget', () => {
  it('stops a retry storm when every upstream fails', async () => {
    const sims = groups.storm!
    for (const s of sims) await setFault(s, { mode: 'error' })
    const n = 100
    let served = 0
    for (let i = 0; i < n / 10; i++) {
      const rs = await Promise.all(Array.from({ length: 10 }, () => post(gw.url, { model: 'storm', messages: [{ role: 'user', content: 's' }] })))
      for (const r of rs) {
        expect(r.status).toBe(500)
        served++
      }
    }
    expect(served).toBe(n)
    const attempts = (await received(sims)).reduce((a, b) => a + b, 0)
    // Without a budget: 3 attempts each (300). With 20%: at most n + 20% of n + the floor of 10.
    expect(attempts).toBeLessThanOrEqual(n + 0.2 * n + 10)
    expect(attempts).toBeGreaterThan(n)
  })
})
