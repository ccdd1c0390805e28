// Admission control end to end: max_concurrency per upstream, the bounded FIFO queue per pool,
// and its limits (503 with Retry-After), against real simulators.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { simStats, startSims } from '../helpers/sim.js'
import { post, received, sleep } from '../helpers/requests.js'

let wait: SimServer[]
let limit: SimServer[]
let leave: SimServer[]
let spill: SimServer[]
let gw: GatewayProcess

const ask = { messages: [{ role: 'user', content: 'q' }], max_tokens: 1 }

beforeAll(async () => {
  wait = await startSims(2, { ttftMs: 300 })
  limit = await startSims(2, { ttftMs: 1500 })
  leave = await startSims(1, { ttftMs: 1000 })
  spill = await startSims(2, { ttftMs: 500 })
  const ups = (sims: SimServer[], max: number) => sims.map((s, i) => ({ url: `${s.url}/v1`, name: `s${i}`, max_concurrency: max }))
  gw = await startGateway({
    models: [
      { name: 'wait', upstreams: ups(wait, 2), queue: { max: 100, timeout: '5s' } },
      { name: 'limit', upstreams: ups(limit, 1), queue: { max: 2, timeout: '400ms' } },
      { name: 'leave', upstreams: ups(leave, 1), queue: { max: 1, timeout: '5s' } },
      { name: 'busy', upstreams: ups(spill.slice(0, 1), 1), queue: { max: 0 }, fallback: ['overflow'] },
      { name: 'overflow', upstreams: ups(spill.slice(1), 1) },
    ],
  })
})

afterAll(async () => {
  await gw?.stop()
  await Promise.all([...wait, ...limit, ...leave, ...spill].map((s) => s.close()))
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
    const controller = new AbortController()
    const queued = post(gw.url, { model: 'leave', ...ask }, {}, undefined, controller.signal).catch((e: unknown) => e)
    await sleep(100)
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
})
