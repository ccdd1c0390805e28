// The contract every RateLimitStore keeps (memory and Redis): GCRA rates, leases with a TTL,
// quotas with a floor, all-or-nothing admission, settlements visible to the next admit.
import { afterEach, describe, expect, it } from 'vitest'
import type { Check, RateLimitStore } from '../../src/limits/store.js'

export interface TestClock {
  now: number
  advance(ms: number): void
}

export function testClock(start = 1_000_000): TestClock {
  return {
    now: start,
    advance(ms: number) {
      this.now += ms
    },
  }
}

const MINUTE = 60_000

function rate(id: string, limit: number, cost = 1): Check {
  return { kind: 'rate', id, dim: cost === 1 ? 'requests' : 'tokens', limit, periodMs: MINUTE, cost }
}
function conc(id: string, limit: number, ttlMs = 60_000): Check {
  return { kind: 'concurrency', id, dim: 'concurrency', limit, ttlMs }
}
function quota(id: string, limit: number, floor = 0): Check {
  return { kind: 'quota', id, dim: 'budget', limit, floor }
}

export function rateLimitStoreSuite(name: string, create: (clock: TestClock) => Promise<RateLimitStore>): void {
  describe(`RateLimitStore conformance: ${name}`, () => {
    let store: RateLimitStore
    let clock: TestClock

    async function fresh(): Promise<RateLimitStore> {
      clock = testClock()
      store = await create(clock)
      return store
    }

    afterEach(async () => {
      await store?.close()
    })

    it('admits a full minute of requests at once, then one more per interval', async () => {
      await fresh()
      for (let i = 0; i < 60; i++) {
        const r = await store.admit([rate('a', 60)])
        expect(r.allowed).toBe(true)
        expect(r.results[0]!.remaining).toBe(59 - i)
      }
      const refused = await store.admit([rate('a', 60)])
      expect(refused).toMatchObject({ allowed: false, retryAfterMs: 1000 })
      expect(refused.results[0]).toMatchObject({ ok: false, remaining: 0 })
      clock.advance(999)
      expect((await store.admit([rate('a', 60)])).allowed).toBe(false)
      clock.advance(1)
      expect((await store.admit([rate('a', 60)])).allowed).toBe(true)
    })

    it('admits the whole burst when the interval is not a whole number of ms (float error: 7, 14, 19, … per minute)', async () => {
      await fresh()
      for (const limit of [7, 9, 11, 13, 14, 18, 19, 27, 31, 43, 44]) {
        for (let i = 0; i < limit; i++) expect((await store.admit([rate(`n${limit}`, limit)])).allowed, `${limit}: ${i + 1}`).toBe(true)
        expect((await store.admit([rate(`n${limit}`, limit)])).allowed, `${limit}: one more`).toBe(false)
      }
    })

    it('reports the time until the bucket is full again, and refills continuously', async () => {
      await fresh()
      const first = await store.admit([rate('b', 60)])
      expect(first.results[0]).toEqual({ ok: true, remaining: 59, resetMs: 1000 })
      for (let i = 0; i < 59; i++) await store.admit([rate('b', 60)])
      clock.advance(30_000)
      let admitted = 0
      while ((await store.admit([rate('b', 60)])).allowed) admitted++
      expect(admitted).toBe(30)
    })

    it('takes a cost in units; a cost that does not fit waits, one over the limit never fits', async () => {
      await fresh()
      const a = await store.admit([rate('t', 100, 80)])
      expect(a.results[0]).toMatchObject({ ok: true, remaining: 20 })
      const b = await store.admit([rate('t', 100, 30)])
      expect(b.allowed).toBe(false)
      expect(b.retryAfterMs).toBe(6000) // 10 units short, 600 ms each
      expect(b.results[0]!.remaining).toBe(20)
      const c = await store.admit([rate('t', 100, 150)])
      expect(c).toMatchObject({ allowed: false, retryAfterMs: MINUTE })
    })

    it('a refund gives units back; a charge goes into debt and delays the next admit', async () => {
      await fresh()
      await store.admit([rate('r', 100, 80)])
      store.settle([{ kind: 'refund', id: 'r', limit: 100, periodMs: MINUTE, amount: 50 }])
      const after = await store.admit([rate('r', 100, 1)])
      expect(after.results[0]!.remaining).toBe(69)
      store.settle([{ kind: 'refund', id: 'r', limit: 100, periodMs: MINUTE, amount: -200 }])
      const broke = await store.admit([rate('r', 100, 1)])
      expect(broke.allowed).toBe(false)
      expect(broke.results[0]!.remaining).toBe(0)
      clock.advance(broke.retryAfterMs)
      expect((await store.admit([rate('r', 100, 1)])).allowed).toBe(true)
    })

    it('a refund never fills a bucket past its limit', async () => {
      await fresh()
      await store.admit([rate('f', 10, 2)])
      store.settle([{ kind: 'refund', id: 'f', limit: 10, periodMs: MINUTE, amount: 50 }])
      const r = await store.admit([rate('f', 10, 1)])
      expect(r.results[0]!.remaining).toBe(9)
    })

    it('a new limit keeps what was used, in units: raised 3 → 30 after 3 leaves 27', async () => {
      await fresh()
      for (let i = 0; i < 3; i++) expect((await store.admit([rate('up', 3)])).allowed).toBe(true)
      expect((await store.admit([rate('up', 3)])).allowed).toBe(false)
      const raised = await store.admit([rate('up', 30)])
      expect(raised.allowed).toBe(true)
      expect(raised.results[0]).toMatchObject({ ok: true, remaining: 26 })
      for (let i = 0; i < 26; i++) expect((await store.admit([rate('up', 30)])).allowed, `request ${i + 5}`).toBe(true)
      expect((await store.admit([rate('up', 30)])).allowed).toBe(false)
    })

    it('a lowered limit keeps what was used, in units: 30 → 1 after 5 waits for 5 units at the new pace', async () => {
      await fresh()
      for (let i = 0; i < 5; i++) await store.admit([rate('down', 30)])
      const lowered = await store.admit([rate('down', 1)])
      expect(lowered).toMatchObject({ allowed: false, retryAfterMs: 5 * MINUTE })
      expect(lowered.results[0]).toMatchObject({ ok: false, remaining: 0 })
      clock.advance(5 * MINUTE - 1)
      expect((await store.admit([rate('down', 1)])).allowed).toBe(false)
      clock.advance(1)
      expect((await store.admit([rate('down', 1)])).allowed).toBe(true)
      expect((await store.admit([rate('down', 1)])).allowed).toBe(false)
    })

    it('a new limit refills at its own pace from the request that first sees it, refused or not', async () => {
      await fresh()
      for (let i = 0; i < 10; i++) await store.admit([rate('pace', 10)])
      // 10 used of 20: refused at cost 15; from here the 10 refill at 20 per minute.
      expect((await store.admit([rate('pace', 20, 15)])).allowed).toBe(false)
      clock.advance(15_000)
      // 5 refilled (at 10 per minute it would have been 2.5): 15 free.
      expect((await store.admit([rate('pace', 20)])).results[0]).toMatchObject({ ok: true, remaining: 14 })
    })

    it('tokens: a reserve taken under one limit is given back in tokens under the next', async () => {
      await fresh()
      await store.admit([rate('tpm', 1000, 900)])
      const raised = await store.admit([rate('tpm', 10_000, 100)])
      expect(raised.results[0]).toMatchObject({ ok: true, remaining: 9000 })
      // The first request settles (it used 100 of its 900) with the limit it was admitted under.
      store.settle([{ kind: 'refund', id: 'tpm', limit: 1000, periodMs: MINUTE, amount: 800 }])
      expect((await store.admit([rate('tpm', 10_000, 1)])).results[0]).toMatchObject({ ok: true, remaining: 9799 })
      // A charge likewise: 200 tokens more than reserved.
      store.settle([{ kind: 'refund', id: 'tpm', limit: 1000, periodMs: MINUTE, amount: -200 }])
      expect((await store.admit([rate('tpm', 10_000, 1)])).results[0]).toMatchObject({ ok: true, remaining: 9598 })
    })

    it('concurrency: leases up to the limit; a release frees one', async () => {
      await fresh()
      const first = (await store.admit([conc('c', 2)])).results[0]!
      expect(first).toMatchObject({ ok: true, remaining: 1 })
      expect(first.lease).toBeDefined()
      expect((await store.admit([conc('c', 2)])).results[0]).toMatchObject({ ok: true, remaining: 0 })
      const refused = await store.admit([conc('c', 2)])
      expect(refused).toMatchObject({ allowed: false, retryAfterMs: 1000 })
      expect(refused.results[0]!.lease).toBeUndefined()
      store.settle([{ kind: 'release', id: 'c', lease: first.lease }])
      const again = await store.admit([conc('c', 2)])
      expect(again.allowed).toBe(true)
      // Releasing the same lease twice frees one slot, not two.
      store.settle([{ kind: 'release', id: 'c', lease: first.lease }])
      expect((await store.admit([conc('c', 2)])).allowed).toBe(false)
      store.settle([{ kind: 'release', id: 'c', lease: again.results[0]!.lease }])
      expect((await store.admit([conc('c', 2)])).allowed).toBe(true)
    })

    it('a lease that is never released expires after its TTL', async () => {
      await fresh()
      expect((await store.admit([conc('ttl', 1, 5000)])).allowed).toBe(true)
      clock.advance(4999)
      expect((await store.admit([conc('ttl', 1, 5000)])).allowed).toBe(false)
      clock.advance(2)
      expect((await store.admit([conc('ttl', 1, 5000)])).allowed).toBe(true)
    })

    it('quota: admitted while the sum is under the limit; the floor counts', async () => {
      await fresh()
      expect((await store.admit([quota('q', 1)])).allowed).toBe(true)
      store.settle([{ kind: 'add', id: 'q', amount: 0.6, floor: 0 }])
      expect((await store.admit([quota('q', 1)])).allowed).toBe(true)
      store.settle([{ kind: 'add', id: 'q', amount: 0.5, floor: 0 }])
      expect((await store.admit([quota('q', 1)])).allowed).toBe(false)
      // A sum the store does not have (lost data) is restored from what the caller knows.
      expect((await store.admit([quota('q2', 1, 1.5)])).allowed).toBe(false)
      store.settle([{ kind: 'add', id: 'q3', amount: 0.35, floor: 0.7 }])
      expect((await store.admit([quota('q3', 1)])).allowed).toBe(false)
    })

    it('quota: the floor a check carries is kept, refused or not (spend a replica knew of reaches the others)', async () => {
      await fresh()
      expect((await store.admit([quota('qf', 1, 1.5)])).allowed).toBe(false)
      const later = await store.admit([quota('qf', 2)])
      expect(later.allowed).toBe(true)
      expect(later.results[0]!.remaining).toBeCloseTo(0.5, 12)
    })

    it('quota: remaining is the limit minus the sum, to the cent and below (spend is in fractions of a dollar)', async () => {
      await fresh()
      store.settle([{ kind: 'add', id: 'qr', amount: 0.0123, floor: 0 }])
      const open = await store.admit([quota('qr', 0.05)])
      expect(open.allowed).toBe(true)
      expect(open.results[0]!.remaining).toBeCloseTo(0.05 - 0.0123, 12)
      store.settle([{ kind: 'add', id: 'qr', amount: 0.04, floor: 0 }])
      const spent = await store.admit([quota('qr', 0.05)])
      expect(spent.allowed).toBe(false)
      // Overspent: negative, so limit − remaining is the sum the store holds.
      expect(spent.results[0]!.remaining).toBeCloseTo(0.05 - 0.0523, 12)
      // The floor counts here too.
      expect((await store.admit([quota('qr2', 3, 1.25)])).results[0]!.remaining).toBeCloseTo(1.75, 12)
    })

    it('all or nothing: a refused check leaves the others untaken', async () => {
      await fresh()
      expect((await store.admit([rate('x', 5), conc('xc', 1)])).allowed).toBe(true)
      const refused = await store.admit([rate('x', 5), conc('xc', 1)])
      expect(refused.allowed).toBe(false)
      expect(refused.results.map((r) => r.ok)).toEqual([true, false])
      // Results describe the state after the call: the passing rate was not taken.
      expect(refused.results[0]!.remaining).toBe(4)
      // Only the first admit took from the rate: 5 - 1 - this one = 3.
      expect((await store.admit([rate('x', 5)])).results[0]!.remaining).toBe(3)
    })

    it('counters are independent by id', async () => {
      await fresh()
      for (let i = 0; i < 3; i++) await store.admit([rate('p', 3)])
      expect((await store.admit([rate('p', 3)])).allowed).toBe(false)
      expect((await store.admit([rate('p2', 3)])).allowed).toBe(true)
    })

    it('is exact under concurrency: 100 simultaneous admits against 60 → 60', async () => {
      await fresh()
      const results = await Promise.all(Array.from({ length: 100 }, async () => store.admit([rate('burst', 60), conc('burst-c', 1000)])))
      expect(results.filter((r) => r.allowed)).toHaveLength(60)
    })
  })
}
