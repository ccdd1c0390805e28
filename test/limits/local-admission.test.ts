// The memory store's fused path (local-admission.ts) against the generic path (checks,
// admit(), results, settle ops) that the store conformance suite covers: the same random
// traffic through two limiters, one on each path, on one test clock. Every admission,
// refusal (message, status, Retry-After), header and settlement must come out the same.
import type { IncomingMessage, ServerResponse } from 'node:http'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { VirtualKey } from '../../src/auth/keys.js'
import { parseConfig } from '../../src/config/load.js'
import { buildSnapshot } from '../../src/config/snapshot.js'
import { GatewayError } from '../../src/errors.js'
import { MemoryStore } from '../../src/limits/memory-store.js'
import { RateLimiter } from '../../src/limits/rate-limiter.js'
import { SpendLedger } from '../../src/limits/spend-ledger.js'
import type { RateLimitStore } from '../../src/limits/store.js'
import type { Upstream } from '../../src/routing/upstream.js'
import { RequestContext } from '../../src/server/context.js'
import { TokenEstimator } from '../../src/tokens/token-estimate.js'
import { testClock } from '../suites/rate-limit-store.suite.js'

const log = pino({ level: 'silent' })

/** Deterministic randomness (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Two configs the traffic switches between, as reloads would: tight limits on every scope. */
function snapshots() {
  const make = (ipRpm: number, modelTpm: number) =>
    buildSnapshot(
      parseConfig({
        server: { port: 0 },
        models: [
          { name: 'm1', upstreams: [{ url: 'http://127.0.0.1:9/v1' }] },
          { name: 'm2', upstreams: [{ url: 'http://127.0.0.1:9/v1' }] },
        ],
        limits: { per_ip: { requests_per_minute: ipRpm, concurrency: 4 }, per_model: { m1: { tokens_per_minute: modelTpm } } },
        prices: { m1: { input: 200, output: 400 }, m2: { input: 100, output: 100 } },
      })
    ).snapshot
  return [make(12, 3000), make(7, 900)]
}

const KEYS: (VirtualKey | undefined)[] = [
  undefined,
  { name: 'a', hash: 'x', models: undefined, limits: { requests_per_minute: 9, tokens_per_minute: 1500, concurrency: 3 }, budgetUsd: 2, expiresAt: undefined, revokedAt: undefined, source: 'config' },
  { name: 'b', hash: 'y', models: undefined, limits: { tokens_per_minute: 700 }, budgetUsd: undefined, expiresAt: undefined, revokedAt: undefined, source: 'config' },
  { name: 'c', hash: 'z', models: undefined, limits: undefined, budgetUsd: 0.5, expiresAt: undefined, revokedAt: undefined, source: 'config' },
]

interface Outcome {
  readonly refused?: { message: string; status: number; code: string; headers: unknown }
  readonly headers: string[]
}

/** One path: a limiter on its own memory store (the generic one sees the store through a wrapper). */
function side(clock: { now: number }, fused: boolean) {
  const store = new MemoryStore({ now: () => clock.now, sweepMs: 0 })
  const seen: RateLimitStore = fused
    ? store
    : { admit: (c) => store.admit(c), settle: (o, at) => store.settle(o, at), close: () => store.close() }
  const limiter = new RateLimiter({ store: seen, ledger: new SpendLedger(undefined, log), estimator: new TokenEstimator(log), log })
  return {
    store,
    admit(ctx: RequestContext): Outcome {
      try {
        void limiter.admit(ctx)
      } catch (err) {
        if (!(err instanceof GatewayError)) throw err
        return { refused: { message: err.message, status: err.status, code: err.code, headers: err.headers }, headers: [...ctx.responseHeaders] }
      }
      const h: string[] = []
      ctx.pushResponseHeaders(h)
      return { headers: h }
    },
    settle: (ctx: RequestContext) => limiter.settle(ctx),
    stats: () => limiter.stats,
  }
}

/** A store's counters, by id: rate buckets' arrival times and spacings, leases held, quota sums. */
function counters(store: MemoryStore): Record<string, number> {
  const out: Record<string, number> = {}
  const inside = store as unknown as { rates: Map<string, { tat: number; interval: number }>; holders: Map<string, { size: number }>; quotas: Map<string, { sum: number }> }
  for (const [id, c] of inside.rates) {
    out[id] = c.tat
    out[`${id} interval`] = c.interval
  }
  for (const [id, h] of inside.holders) out[id] = h.size
  for (const [id, q] of inside.quotas) out[id] = q.sum
  return out
}

const req = (ip: string) => ({ headers: {}, socket: { remoteAddress: ip } }) as unknown as IncomingMessage

describe('the fused memory path', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`agrees with the generic path on random traffic (seed ${seed})`, () => {
      const rnd = random(seed)
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
      const clock = testClock()
      const fused = side(clock, true)
      const generic = side(clock, false)
      const snaps = snapshots()
      let snap = snaps[0]!
      const inFlight: [RequestContext, RequestContext][] = []
      let admitted = 0
      let refused = 0
      const codes = new Set<string>()

      const request = (): RequestContext[] => {
        const model = pick(['m1', 'm2'])
        const ip = pick(['10.0.0.1', '10.0.0.2', '10.0.0.3'])
        const key = pick(KEYS)
        const body = { model, max_tokens: Math.floor(rnd() * 400), messages: [{ role: 'user', content: 'word '.repeat(Math.floor(rnd() * rnd() * 1200)) }] }
        return [0, 1].map(() => {
          const ctx = new RequestContext(req(ip), {} as ServerResponse, snap, '/v1/chat/completions', '')
          ctx.endpoint = 'chat'
          ctx.body = structuredClone(body)
          ctx.model = model
          ctx.route = snap.routes.resolve(model)!
          ctx.key = key
          return ctx
        })
      }

      /** How a request ends: with usage, without, cancelled, failed, never sent. */
      const finish = (pair: RequestContext[]): void => {
        const how = Math.floor(rnd() * 5)
        const total = 1 + Math.floor(rnd() * 600)
        for (const ctx of pair) {
          ctx.attempts = how === 4 ? 0 : 1
          ctx.status = how === 3 ? 502 : 200
          ctx.upstream = how === 3 ? undefined : ({} as Upstream)
          if (how === 0) ctx.usage = { prompt_tokens: total - 1, completion_tokens: 1, total_tokens: total }
          if (how === 2) ctx.cancel()
          ctx.durationMs = 1
        }
        fused.settle(pair[0]!)
        generic.settle(pair[1]!)
      }

      for (let step = 0; step < 3000; step++) {
        const r = rnd()
        if (r < 0.55) {
          const pair = request()
          const a = fused.admit(pair[0]!)
          const b = generic.admit(pair[1]!)
          expect(a, `step ${step}`).toEqual(b)
          if (a.refused === undefined) {
            admitted++
            inFlight.push(pair as [RequestContext, RequestContext])
          } else {
            refused++
            codes.add(a.refused.message.split(' ').slice(0, 3).join(' '))
          }
        } else if (r < 0.85) {
          if (inFlight.length > 0) finish(inFlight.splice(Math.floor(rnd() * inFlight.length), 1)[0]!)
        } else if (r < 0.97) {
          clock.advance(Math.floor(rnd() * 4000))
        } else if (r < 0.99) {
          fused.store.sweep()
          generic.store.sweep()
        } else {
          snap = snap === snaps[0] ? snaps[1]! : snaps[0]!
        }
        if (step % 100 === 0) expect(counters(fused.store), `step ${step}`).toEqual(counters(generic.store))
      }
      for (const pair of inFlight.splice(0)) finish(pair)
      expect(fused.stats()).toEqual(generic.stats())
      const end = counters(fused.store)
      expect(end).toEqual(counters(generic.store))
      // Every lease was given back.
      for (const [id, n] of Object.entries(end)) if (id.endsWith(':conc')) expect(n, id).toBe(0)
      // The traffic exercised both outcomes and every kind of refusal.
      expect(admitted).toBeGreaterThan(200)
      expect(refused).toBeGreaterThan(200)
      expect([...codes].sort()).toEqual(['Rate limit reached', 'Request too large', 'The budget of'])
    })
  }

  it('keeps the counters a sweep leaves alone, and finds the live ones again after it drops some', () => {
    const clock = testClock()
    const fused = side(clock, true)
    const snap = snapshots()[1]!
    const ctxFor = () => {
      const ctx = new RequestContext(req('10.0.0.9'), {} as ServerResponse, snap, '/v1/chat/completions', '')
      ctx.endpoint = 'chat'
      ctx.body = { model: 'm2', messages: [{ role: 'user', content: 'hi' }] }
      ctx.model = 'm2'
      ctx.route = snap.routes.resolve('m2')!
      return ctx
    }
    const end = (ctx: RequestContext): void => {
      ctx.attempts = 1
      ctx.status = 200
      ctx.durationMs = 1
      fused.settle(ctx)
    }
    const held = Array.from({ length: 4 }, () => {
      const ctx = ctxFor()
      expect(fused.admit(ctx).refused).toBeUndefined()
      return ctx
    })
    // Four leases held: the IP's concurrency (4) is full, and a sweep must not forget them.
    clock.advance(61_000)
    fused.store.sweep()
    expect(fused.admit(ctxFor()).refused?.message).toMatch(/4 concurrent requests/)
    held.forEach(end)
    // Released through the holder the ids kept; the requests bucket (full again) was dropped
    // and is looked up anew: 7 per minute, and the 8th refused.
    for (let i = 0; i < 7; i++) {
      const ctx = ctxFor()
      expect(fused.admit(ctx).refused, `request ${i}`).toBeUndefined()
      end(ctx)
    }
    expect(fused.admit(ctxFor()).refused?.message).toMatch(/7 requests per minute/)
  })
})
