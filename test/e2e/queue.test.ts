// Admission control end to end: max_concurrency per upstream, the bounded FIFO queue per pool,
// and its limits (503 with Retry-After), against real simulators.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { eventually, setFault, simStats, startSims } from '../helpers/sim.js'
import { post, received, sleep } from '../helpers/requests.js'

let wait: SimServer[]
let limit: SimServer[]
let leave: SimServer[]
let spill: SimServer[]
let turns: SimServer[]
let drained: SimServer[]
let gw: GatewayProcess

const ADMIN_TOKEN = 'queue-admin-token-5f1c'

/** The value of the series `name` whose labels include every `labels` pair, from the admin port's /metrics (0: none). */
async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`)).text()
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/** switchyard_retries_total for `model`. */
function retriesOf(model: string): Promise<number> {
  return metric('switchyard_retries_total', { gen_ai_request_model: model })
}
const ask = { messages: [{ role: 'user', content: 'q' }], max_tokens: 1 }

beforeAll(async () => {
  wait = await startSims(2, { ttftMs: 300 })
  limit = await startSims(2, { ttftMs: 1500 })
  leave = await startSims(1, { ttftMs: 1000 })
  spill = await startSims(2, { ttftMs: 500 })
  turns = await startSims(2, { ttftMs: 100, tokensPerSecond: 100 })
  drained = await startSims(2, { ttftMs: 50, tokensPerSecond: 100 })
  const ups = (sims: SimServer[], max: number) => sims.map((s, i) => ({ url: `${s.url}/v1`, name: `s${i}`, max_concurrency: max }))
  gw = await startGateway({
    admin: { token: ADMIN_TOKEN },
    models: [
      { name: 'wait', upstreams: ups(wait, 2), queue: { max: 100, timeout: '5s' } },
      { name: 'limit', upstreams: ups(limit, 1), queue: { max: 2, timeout: '400ms' } },
      { name: 'leave', upstreams: ups(leave, 1), queue: { max: 1, timeout: '5s' } },
      { name: 'busy', upstreams: ups(spill.slice(0, 1), 1), queue: { max: 0 }, fallback: ['overflow'] },
      { name: 'overflow', upstreams: ups(spill.slice(1), 1) },
      {
        // 'good' serves one request at a time; 'bad' is made to refuse (429) in the test.
        // The retry budget is the floor alone: 10 retries per 10 s.
        name: 'turns',
        upstreams: [
          { url: `${turns[0]!.url}/v1`, name: 'good', max_concurrency: 1 },
          { url: `${turns[1]!.url}/v1`, name: 'bad', max_concurrency: 100 },
        ],
        retries: { attempts: 1, budget_percent: 0 },
        outlier: { max_ejection_percent: 0 },
        queue: { max: 100, timeout: '8s' },
      },
      { name: 'drained', upstreams: ups(drained.slice(0, 1), 1), queue: { max: 100, timeout: '8s' }, fallback: ['spare'] },
      { name: 'spare', upstreams: ups(drained.slice(1), 100) },
    ],
  })
})

afterAll(async () => {
  await gw?.stop()
  await Promise.all([...wait, ...limit, ...leave, ...spill, ...turns, ...drained].map((s) => s.close()))
})

describe('admission queue', () => {
  it('over-capacity requests wait, then succeed; no upstream ever exceeds max_concurrency', async () => {
    let peak = 0
    let polling = true
    const poll = (async () => {
      while (polling) {
        for (const s of wait) peak = Math.max(peak, (await simStats(s)).inflight)
        await sleep(10)
      }
    })()
    const t0 = Date.now()
    const replies = await Promise.all(Array.from({ length: 10 }, () => post(gw.url, { model: 'wait', ...ask })))
    const elapsed = Date.now() - t0
    polling = false
    await poll
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200))
    expect(peak).toBeLessThanOrEqual(2)
    expect(peak).toBeGreaterThan(0)
    // Four slots, ten requests of 300 ms: three rounds.
    expect(elapsed).toBeGreaterThanOrEqual(850)
    expect((await received(wait)).reduce((a, b) => a + b)).toBe(10)
  })

  it('past queue.max → 503 queue_full at once; past queue.timeout → 503 queue_timeout; both with Retry-After', async () => {
    const t0 = Date.now()
    const timed = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const r = await post(gw.url, { model: 'limit', ...ask })
        return { r, ms: Date.now() - t0 }
      })
    )
    const ok = timed.filter((t) => t.r.status === 200)
    const full = timed.filter((t) => (t.r.json as { error?: { code?: string } })?.error?.code === 'queue_full')
    const late = timed.filter((t) => (t.r.json as { error?: { code?: string } })?.error?.code === 'queue_timeout')
    expect(ok).toHaveLength(2)
    expect(full).toHaveLength(2)
    expect(late).toHaveLength(2)
    for (const t of [...full, ...late]) {
      expect(t.r.status).toBe(503)
      expect(t.r.headers.get('retry-after')).toMatch(/^[1-9]\d*$/)
    }
    for (const t of late) {
      expect(t.ms).toBeGreaterThanOrEqual(380)
      expect(t.ms).toBeLessThan(3000)
    }
    // Refused at once, not after waiting.
    for (const t of full) expect(t.ms).toBeLessThan(Math.min(...late.map((l) => l.ms)))
    // Refused requests never reached a simulator.
    expect((await received(limit)).reduce((a, b) => a + b)).toBe(2)
  })

  it('a client that disconnects while queued leaves the queue at once', async () => {
    const first = post(gw.url, { model: 'leave', ...ask })
    await sleep(100)
    expect(await metric('switchyard_queue_depth', { model: 'leave' })).toBe(0)
    const controller = new AbortController()
    const queued = post(gw.url, { model: 'leave', ...ask }, {}, undefined, controller.signal).catch((e: unknown) => e)
    await sleep(100)
    // The waiting request shows in the queue's gauge.
    expect(await metric('switchyard_queue_depth', { model: 'leave' })).toBe(1)
    controller.abort()
    await queued
    await sleep(50)
    // Its place is free again: this one queues (the queue holds one) rather than being refused.
    const next = post(gw.url, { model: 'leave', ...ask })
    expect((await first).status).toBe(200)
    expect((await next).status).toBe(200)
    expect((await simStats(leave[0]!)).received).toBe(2)
  })

  it('when the queue cannot admit a request, a fallback model serves it', async () => {
    const [a, b] = await Promise.all([post(gw.url, { model: 'busy', ...ask }), post(gw.url, { model: 'busy', ...ask })])
    expect([a.status, b.status]).toEqual([200, 200])
    expect([a.headers.get('x-switchyard-model'), b.headers.get('x-switchyard-model')].sort()).toEqual(['busy', 'overflow'])
  })

  it('a woken waiter that will not take its slot (retry budget spent) hands the turn on: nobody waits out the timeout', async () => {
    const [good, bad] = turns as [SimServer, SimServer]
    // Nine of the budget's ten retries are spent first: 'bad' answers 500 and 'good' serves
    // the retry, one request at a time, until the gateway counts nine.
    await setFault(bad, { mode: 'error' })
    while ((await retriesOf('turns')) < 9) expect((await post(gw.url, { model: 'turns', ...ask })).status).toBe(200)
    // A long request holds 'good' ('bad' answers normally meanwhile, so it cannot spend a retry).
    await setFault(bad, { mode: 'ok' })
    const long = { model: 'turns', messages: [{ role: 'user', content: 'q' }], max_tokens: 100 }
    const holders = [post(gw.url, long)]
    await eventually(async () => (await simStats(good)).inflight + (await simStats(bad)).inflight === 1)
    if ((await simStats(good)).inflight === 0) holders.push(post(gw.url, long))
    await eventually(async () => (await simStats(good)).inflight === 1)
    // Now 'bad' refuses (429, and cools down for 30 s): the short requests that meet it queue
    // to retry on 'good' (those that come after wait there for their first try). Woken one by
    // one, the first retrying one takes the last retry; the next relays its 429 instead, and
    // must wake the one behind it, since nothing else is in flight to free a slot.
    await setFault(bad, { mode: 'rate-limit', retry_after: 30 })
    const t0 = Date.now()
    const rest = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const r = await post(gw.url, { model: 'turns', ...ask })
        return { status: r.status, code: (r.json as { error?: { code?: string } })?.error?.code, ms: Date.now() - t0 }
      })
    )
    for (const h of await Promise.all(holders)) expect(h.status).toBe(200)
    const served = rest.filter((r) => r.status === 200)
    const relayed = rest.filter((r) => r.status === 429)
    expect(served.length + relayed.length, JSON.stringify(rest)).toBe(20)
    // The budget ran out while they waited: the later retrying ones relayed 'bad''s answer.
    expect(relayed.length, JSON.stringify(rest)).toBeGreaterThan(0)
    for (const r of relayed) expect(r.code).toBe('rate_limit_exceeded')
    // Served one after another at about 110 ms each: far sooner than the queue's 8 s timeout.
    for (const r of rest) expect(r.ms, JSON.stringify(rest)).toBeLessThan(6000)
    expect(await retriesOf('turns')).toBe(10)
  }, 30_000)

  it('waiters woken to a pool with nothing usable left (its upstream drained) go to the fallback at once, all of them', async () => {
    const [only, spare] = drained as [SimServer, SimServer]
    const holder = post(gw.url, { model: 'drained', messages: [{ role: 'user', content: 'q' }], max_tokens: 60 })
    await eventually(async () => (await simStats(only)).inflight === 1)
    const t0 = Date.now()
    const waiting = Array.from({ length: 5 }, async () => {
      const r = await post(gw.url, { model: 'drained', ...ask })
      return { status: r.status, model: r.headers.get('x-switchyard-model'), ms: Date.now() - t0 }
    })
    await sleep(100)
    const drain = await fetch(`${gw.adminUrl}/admin/upstreams/drained/s0/drain`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    expect(drain.status).toBe(202)
    // Still finishing its request: shown as draining, its request still in flight.
    expect(await metric('switchyard_upstream_state', { model: 'drained', upstream: 's0', state: 'draining' })).toBe(1)
    expect(await metric('switchyard_upstream_requests_in_flight', { model: 'drained', upstream: 's0' })).toBe(1)
    expect((await holder).status).toBe(200)
    const replies = await Promise.all(waiting)
    // The first woken finds nothing up and moves on to 'spare'; each hands the turn to the next.
    expect(replies.map((r) => [r.status, r.model]), JSON.stringify(replies)).toEqual(Array(5).fill([200, 'spare']))
    for (const r of replies) expect(r.ms).toBeLessThan(6000)
    expect((await simStats(spare)).received).toBe(5)
  }, 20_000)
})
