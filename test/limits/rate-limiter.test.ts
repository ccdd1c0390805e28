// The limiter's own bookkeeping, scope by scope: what admit takes is what settle gives back
// (a lease freed, tokens corrected from usage), for the key's, the client IP's and the
// model's limits alike. The stores' semantics have their own suite; this is the wiring.
import type { IncomingMessage, ServerResponse } from 'node:http'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { buildSnapshot } from '../../src/config/snapshot.js'
import { RateLimitedError } from '../../src/errors.js'
import { MemoryStore } from '../../src/limits/memory-store.js'
import { RateLimiter } from '../../src/limits/rate-limiter.js'
import { SpendLedger } from '../../src/limits/spend-ledger.js'
import type { RateLimitStore } from '../../src/limits/store.js'
import type { Upstream } from '../../src/routing/upstream.js'
import { RequestContext } from '../../src/server/context.js'
import { TokenEstimator } from '../../src/tokens/token-estimate.js'
import type { VirtualKey } from '../../src/auth/keys.js'

const log = pino({ level: 'silent' })
const LIMITS = { tokens_per_minute: 1000, concurrency: 1 }
const scopes = ['key', 'client IP', 'model'] as const

function setup(scope: (typeof scopes)[number]) {
  const config = parseConfig({
    server: { port: 0 },
    models: [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:9/v1' }] }],
    ...(scope === 'client IP' && { limits: { per_ip: LIMITS } }),
    ...(scope === 'model' && { limits: { per_model: { m: LIMITS } } }),
  })
  const snapshot = buildSnapshot(config).snapshot
  const route = snapshot.routes.resolve('m')!
  // A frozen clock: no refill between steps, so every token is accounted for.
  const store = new MemoryStore({ now: () => 1_000_000, sweepMs: 0 })
  const limiter = new RateLimiter({ store, ledger: new SpendLedger(undefined, log), estimator: new TokenEstimator(log), log })
  const key: VirtualKey | undefined =
    scope === 'key'
      ? { name: 'team', hash: 'x', models: undefined, limits: LIMITS, budgetUsd: undefined, expiresAt: undefined, revokedAt: undefined, source: 'config' }
      : undefined
  const req = { headers: {}, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage
  /** A request for `maxTokens` output tokens, through admit. */
  const admit = (maxTokens: number, extra: Record<string, unknown> = {}): RequestContext => {
    const ctx = new RequestContext(req, {} as ServerResponse, snapshot, '/v1/chat/completions', '')
    ctx.endpoint = 'chat'
    ctx.body = { model: 'm', max_tokens: maxTokens, messages: [{ role: 'user', content: 'Hello there' }], ...extra }
    ctx.model = 'm'
    ctx.route = route
    ctx.key = key
    void limiter.admit(ctx)
    return ctx
  }
  const header = (ctx: RequestContext, name: string): string | undefined => {
    const h: string[] = []
    ctx.pushResponseHeaders(h)
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1]
    return undefined
  }
  /** The request ends: served, with the upstream's usage. */
  const finish = (ctx: RequestContext, totalTokens: number): void => {
    ctx.attempts = 1
    ctx.upstream = {} as Upstream
    ctx.status = 200
    ctx.usage = { prompt_tokens: totalTokens - 1, completion_tokens: 1, total_tokens: totalTokens }
    ctx.durationMs = 1
    limiter.settle(ctx)
  }
  return { admit, finish, header }
}

describe('RateLimiter settlement', () => {
  for (const scope of scopes) {
    it(`frees the ${scope}'s concurrency lease and corrects its tokens from usage`, () => {
      const { admit, finish, header } = setup(scope)
      const first = admit(500)
      const reserved = 1000 - Number(header(first, 'x-ratelimit-remaining-tokens'))
      expect(reserved).toBeGreaterThan(500)
      // One slot: a second request waits for the first to end.
      expect(() => admit(10)).toThrow(RateLimitedError)
      finish(first, 20)
      // The slot is free, and only the 20 tokens used stay taken (the rest came back).
      const next = admit(500)
      expect(1000 - 20 - Number(header(next, 'x-ratelimit-remaining-tokens'))).toBe(reserved)
    })
  }
})

describe('RateLimiter token reservation', () => {
  it('reserves max_tokens for each of n choices, capped at the limit', () => {
    const { admit, finish, header } = setup('key')
    const remaining = (ctx: RequestContext): number => Number(header(ctx, 'x-ratelimit-remaining-tokens'))
    const one = admit(100)
    const prompt = 1000 - remaining(one) - 100
    finish(one, 0)
    const four = admit(100, { n: 4 })
    expect(1000 - remaining(four)).toBe(prompt + 400)
    finish(four, 0)
    // 20 × 100 is over the limit: capped at it, as a large max_tokens is.
    expect(remaining(admit(100, { n: 20 }))).toBe(0)
  })
})

describe('RateLimiter across a reload that changes a limit', () => {
  const snapshotWith = (rpm: number) =>
    buildSnapshot(
      parseConfig({
        server: { port: 0 },
        models: [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:9/v1' }] }],
        limits: { per_ip: { requests_per_minute: rpm } },
      })
    ).snapshot
  const req = { headers: {}, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage

  for (const path of ['fused', 'generic'] as const) {
    it(`keeps the requests used (${path} path): 3 → 30 after 3 leaves 27, 30 → 1 after 5 leaves none`, () => {
      let now = 1_000_000
      const store = new MemoryStore({ now: () => now, sweepMs: 0 })
      const seen: RateLimitStore = path === 'fused' ? store : { admit: (c) => store.admit(c), settle: (o, at) => store.settle(o, at), close: () => store.close() }
      const limiter = new RateLimiter({ store: seen, ledger: new SpendLedger(undefined, log), estimator: new TokenEstimator(log), log })
      const admit = (snapshot: ReturnType<typeof snapshotWith>, ip = '127.0.0.1'): string | undefined => {
        const ctx = new RequestContext({ ...req, socket: { remoteAddress: ip } } as unknown as IncomingMessage, {} as ServerResponse, snapshot, '/v1/chat/completions', '')
        ctx.endpoint = 'chat'
        ctx.body = { model: 'm', messages: [{ role: 'user', content: 'Hi' }] }
        ctx.model = 'm'
        ctx.route = snapshot.routes.resolve('m')!
        void limiter.admit(ctx)
        const h: string[] = []
        ctx.pushResponseHeaders(h)
        return h[h.indexOf('x-ratelimit-remaining-requests') + 1]
      }
      const [three, thirty, one] = [snapshotWith(3), snapshotWith(30), snapshotWith(1)]
      for (let i = 0; i < 3; i++) admit(three)
      expect(() => admit(three)).toThrow(RateLimitedError)
      expect(admit(thirty)).toBe('26')
      // Another client: 5 used at 30, then the limit drops to 1: 5 minutes owed at the new
      // pace. Read at the old spacing the 5 would be refilled in 10 s.
      for (let i = 0; i < 5; i++) admit(thirty, '10.0.0.2')
      expect(() => admit(one, '10.0.0.2')).toThrow(/1 requests per minute/)
      now += 30_000
      expect(() => admit(one, '10.0.0.2')).toThrow(/1 requests per minute/)
    })
  }
})

describe('RateLimiter refusals', () => {
  const snapshot = buildSnapshot(parseConfig({ server: { port: 0 }, models: [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:9/v1' }] }] })).snapshot
  const key: VirtualKey = {
    name: 'small',
    hash: 'x',
    models: undefined,
    limits: { requests_per_minute: 1, tokens_per_minute: 100 },
    budgetUsd: undefined,
    expiresAt: undefined,
    revokedAt: undefined,
    source: 'config',
  }
  const req = { headers: {}, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage
  const refusalOf = (limiter: RateLimiter, content: string): RateLimitedError => {
    const ctx = new RequestContext(req, {} as ServerResponse, snapshot, '/v1/chat/completions', '')
    ctx.endpoint = 'chat'
    ctx.body = { model: 'm', messages: [{ role: 'user', content }] }
    ctx.model = 'm'
    ctx.route = snapshot.routes.resolve('m')!
    ctx.key = key
    try {
      void limiter.admit(ctx)
    } catch (err) {
      return err as RateLimitedError
    }
    throw new Error('admitted')
  }

  for (const spent of [false, true]) {
    it(`a prompt over the tokens-per-minute limit is refused for good, without Retry-After${spent ? ', even when the requests limit is spent too' : ''}`, () => {
      const limiter = new RateLimiter({ store: new MemoryStore({ now: () => 1_000_000, sweepMs: 0 }), ledger: new SpendLedger(undefined, log), estimator: new TokenEstimator(log), log })
      if (spent) expect(() => refusalOf(limiter, 'Hi')).toThrow('admitted')
      const err = refusalOf(limiter, 'word '.repeat(1000))
      expect(err).toBeInstanceOf(RateLimitedError)
      expect(err.message).toMatch(/^Request too large for key small/)
      expect(err.headers).toEqual({ 'x-should-retry': 'false' })
      expect(limiter.stats.refused).toMatchObject({ requests: 0, tokens: 1 })
    })
  }
})

describe('RateLimiter and fallback models', () => {
  const LIMIT = { tokens_per_minute: 1000, concurrency: 1 }
  const snapshot = buildSnapshot(
    parseConfig({
      server: { port: 0 },
      models: [
        { name: 'm', upstreams: [{ url: 'http://127.0.0.1:9/v1' }], fallback: ['f'] },
        { name: 'f', upstreams: [{ url: 'http://127.0.0.1:9/v1' }] },
      ],
      limits: { per_model: { m: LIMIT, f: LIMIT } },
    })
  ).snapshot
  const req = { headers: {}, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage

  for (const path of ['memory', 'asynchronous'] as const) {
    it(`a fallback takes its own model's limits and frees the slot of the model it left; at the end the model that did not serve gets back every token it reserved (${path} store)`, async () => {
      const store = new MemoryStore({ now: () => 1_000_000, sweepMs: 0 })
      // A store that answers later, as Redis does: the limiter's generic path.
      const seen: RateLimitStore =
        path === 'memory' ? store : { admit: (c) => Promise.resolve(store.admit(c)), settle: (o, at) => store.settle(o, at), close: () => store.close() }
      const limiter = new RateLimiter({ store: seen, ledger: new SpendLedger(undefined, log), estimator: new TokenEstimator(log), log })
      const request = (model: string): RequestContext => {
        const ctx = new RequestContext(req, {} as ServerResponse, snapshot, '/v1/chat/completions', '')
        ctx.endpoint = 'chat'
        ctx.body = { model, max_tokens: 100, messages: [{ role: 'user', content: 'Hello there' }] }
        ctx.model = model
        ctx.route = snapshot.routes.resolve(model)!
        return ctx
      }
      const remaining = (ctx: RequestContext): number => {
        const h: string[] = []
        ctx.pushResponseHeaders(h)
        return Number(h[h.indexOf('x-ratelimit-remaining-tokens') + 1])
      }
      const ctx = request('m')
      await limiter.admit(ctx)
      const reserved = 1000 - remaining(ctx)
      expect(reserved).toBeGreaterThan(100)
      await limiter.admitFallback(ctx, 'f')
      // m is done with it (forward never goes back): m's one slot is free for m's own clients.
      const onMMeanwhile = request('m')
      await limiter.admit(onMMeanwhile)
      onMMeanwhile.durationMs = 1
      limiter.settle(onMMeanwhile)
      // f's single slot is held by the fallback: a request for f itself waits for it.
      await expect(async () => limiter.admit(request('f'))).rejects.toThrow(/1 concurrent requests/)
      // Served by f, 20 tokens.
      ctx.attempts = 2
      ctx.servedModel = 'f'
      ctx.upstream = {} as Upstream
      ctx.status = 200
      ctx.usage = { prompt_tokens: 19, completion_tokens: 1, total_tokens: 20 }
      ctx.durationMs = 1
      limiter.settle(ctx)
      // m did not serve: all of its reservation is back. f keeps the 20 used, and its slot is free.
      const onM = request('m')
      await limiter.admit(onM)
      expect(remaining(onM)).toBe(1000 - reserved)
      const onF = request('f')
      await limiter.admit(onF)
      expect(remaining(onF)).toBe(1000 - 20 - reserved)
    })
  }

  it('a fallback over its model limit is refused with 429 and holds nothing', async () => {
    const store = new MemoryStore({ now: () => 1_000_000, sweepMs: 0 })
    const limiter = new RateLimiter({ store, ledger: new SpendLedger(undefined, log), estimator: new TokenEstimator(log), log })
    const ctx = (model: string): RequestContext => {
      const c = new RequestContext(req, {} as ServerResponse, snapshot, '/v1/chat/completions', '')
      c.endpoint = 'chat'
      c.body = { model, messages: [{ role: 'user', content: 'Hi' }] }
      c.model = model
      c.route = snapshot.routes.resolve(model)!
      return c
    }
    const holder = ctx('f')
    void limiter.admit(holder)
    const falling = ctx('m')
    void limiter.admit(falling)
    expect(() => limiter.admitFallback(falling, 'f')).toThrow(RateLimitedError)
    expect(falling.fallbackAdmissions).toBeUndefined()
    expect(limiter.stats.refused.concurrency).toBe(1)
  })
})
