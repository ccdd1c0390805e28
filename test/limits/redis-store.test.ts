import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisStore } from '../../src/limits/redis-store.js'
import { scriptCalls, startRedis, type RedisServer } from '../helpers/redis.js'
import { eventually } from '../helpers/sim.js'
import { rateLimitStoreSuite } from '../suites/rate-limit-store.suite.js'

let redis: RedisServer
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

async function connected(options: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}): Promise<RedisStore> {
  const store = new RedisStore({ url: redis.url, prefix: `t-${randomUUID()}:`, ...options })
  expect(await store.connect()).toBe(true)
  return store
}

rateLimitStoreSuite('RedisStore', (clock) => connected({ now: () => clock.now }))

describe('RedisStore', () => {
  it('one round trip per admit, with the settlements of finished requests riding along', async () => {
    // A long settle delay: every release waits for the next admit, whatever the machine's load.
    const store = await connected({ settleDelayMs: 10_000 })
    const check = { kind: 'concurrency', id: 'c', dim: 'concurrency', limit: 5, ttlMs: 60_000 } as const
    await store.admit([check])
    const before = await scriptCalls(redis)
    for (let i = 0; i < 20; i++) {
      const r = await store.admit([check])
      expect(r.allowed).toBe(true)
      store.settle([{ kind: 'release', id: 'c', lease: r.results[0]!.lease }])
    }
    // 20 admits, each carrying the previous release: 20 calls (INFO itself is not a script).
    expect((await scriptCalls(redis)) - before).toBe(20)
    await store.close()
  })

  it('admissions asked for in the same turn share one call, each all-or-nothing on its own', async () => {
    const store = await connected()
    const rate = { kind: 'rate', id: 'shared', dim: 'requests', limit: 3, periodMs: 60_000, cost: 1 } as const
    const conc = { kind: 'concurrency', id: 'shared-c', dim: 'concurrency', limit: 10, ttlMs: 60_000 } as const
    const before = await scriptCalls(redis)
    const results = await Promise.all(Array.from({ length: 5 }, () => store.admit([rate, conc])))
    expect((await scriptCalls(redis)) - before).toBe(1)
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false, false])
    // The refused ones took no concurrency slot: 3 held, 7 left.
    expect(results[2]!.results[1]!.remaining).toBe(7)
    expect(results[3]!.results[1]!).toMatchObject({ ok: true, remaining: 7 })
    await store.close()
  })

  it('settlements nobody carries are sent on their own shortly after', async () => {
    const store = await connected({ settleDelayMs: 5 })
    const check = { kind: 'concurrency', id: 'solo', dim: 'concurrency', limit: 1, ttlMs: 60_000 } as const
    const taken = await store.admit([check])
    store.settle([{ kind: 'release', id: 'solo', lease: taken.results[0]!.lease }])
    await new Promise((r) => setTimeout(r, 50))
    const other = await connected({ prefix: (store as any).prefix })
    expect((await other.admit([check])).allowed).toBe(true)
    await Promise.all([store.close(), other.close()])
  })

  it('a rate key written before keys held their spacing (the TAT alone) is read at the current limit, then moves with it', async () => {
    const now = 1_000_000
    const prefix = `t-${randomUUID()}:`
    const store = await connected({ prefix, now: () => now })
    const rate = (limit: number) => ({ kind: 'rate', id: 'old', dim: 'requests', limit, periodMs: 60_000, cost: 1 }) as const
    // 30 of 60 used, as the script used to write it.
    await redis.command('SET', `${prefix}old`, String(now + 30_000), 'PX', '30000')
    expect((await store.admit([rate(60)])).results[0]).toMatchObject({ ok: true, remaining: 29 })
    // 31 used now, kept when the limit doubles.
    expect((await store.admit([rate(120)])).results[0]).toMatchObject({ ok: true, remaining: 88 })
    // A refund to an old key counts at the spacing it names.
    await redis.command('SET', `${prefix}old-t`, String(now + 30_000), 'PX', '30000')
    store.settle([{ kind: 'refund', id: 'old-t', limit: 60, periodMs: 60_000, amount: 10 }])
    await store.flush()
    expect((await store.admit([{ ...rate(60), id: 'old-t' }])).results[0]).toMatchObject({ ok: true, remaining: 39 })
    await store.close()
  })

  it('fails fast while Redis is away and works again once it is back', async () => {
    const own = await startRedis()
    const store = new RedisStore({ url: own.url, timeoutMs: 200 })
    expect(await store.connect()).toBe(true)
    const check = { kind: 'rate', id: 'r', dim: 'requests', limit: 10, periodMs: 60_000, cost: 1 } as const
    expect((await store.admit([check])).allowed).toBe(true)
    await own.kill()
    const t0 = performance.now()
    await expect(store.admit([check])).rejects.toThrow()
    expect(performance.now() - t0).toBeLessThan(500)
    await own.restart()
    const until = Date.now() + 5000
    let ok = false
    while (!ok && Date.now() < until) {
      ok = await store.admit([check]).then(
        (r) => r.allowed,
        () => false
      )
      if (!ok) await new Promise((r) => setTimeout(r, 100))
    }
    expect(ok).toBe(true)
    await store.close()
    await own.stop()
  })

  it('an admission Redis answers too late fails on time, and what it took is given back once the answer comes', async () => {
    const own = await startRedis()
    const store = new RedisStore({ url: own.url, timeoutMs: 150, settleDelayMs: 1 })
    expect(await store.connect()).toBe(true)
    const requests = { kind: 'rate', id: 'late', dim: 'requests', limit: 3, periodMs: 60_000, cost: 1 } as const
    const tokens = { kind: 'rate', id: 'late-t', dim: 'tokens', limit: 1000, periodMs: 60_000, cost: 400 } as const
    const slot = { kind: 'concurrency', id: 'late-c', dim: 'concurrency', limit: 1, ttlMs: 60_000 } as const
    expect((await store.admit([requests, tokens])).results[1]!.remaining).toBe(600)
    own.freeze()
    try {
      const t0 = performance.now()
      await expect(store.admit([requests, tokens, slot])).rejects.toThrow(/did not answer within 150 ms/)
      expect(performance.now() - t0).toBeLessThan(1000)
    } finally {
      own.thaw()
    }
    // Redis runs the call when it resumes: the request, the tokens and the slot go back.
    await eventually(() => store.stats.undone === 3)
    await store.flush()
    const after = await store.admit([requests, tokens, slot])
    expect(after.allowed).toBe(true)
    const [req, tok, conc] = after.results.map((r) => r.remaining)
    expect([req, conc]).toEqual([1, 0])
    // 1000 − 400 − 400, plus what refilled meanwhile (1000 a minute: a few a second).
    expect(tok).toBeGreaterThanOrEqual(200)
    expect(tok).toBeLessThan(300)
    await store.close()
    await own.stop()
  })

  it('spend that could not be written while Redis was away is written once it is back (as the total it made)', async () => {
    const own = await startRedis()
    const store = new RedisStore({ url: own.url, timeoutMs: 150, settleDelayMs: 1 })
    expect(await store.connect()).toBe(true)
    await own.kill()
    store.settle([{ kind: 'add', id: 'spend', amount: 0.25, floor: 0.5 }])
    await store.flush()
    // Back empty (no persistence): the retried write restores the total this replica knew.
    await own.restart()
    const quota = { kind: 'quota', id: 'spend', dim: 'budget', limit: 1, floor: 0 } as const
    let remaining: number | undefined
    await eventually(async () => {
      remaining = await store.admit([quota]).then(
        (r) => r.results[0]!.remaining,
        () => undefined
      )
      return remaining !== undefined
    }, 10_000)
    expect(remaining).toBeCloseTo(0.25, 12)
    await store.close()
    await own.stop()
  })
})
