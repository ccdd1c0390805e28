import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../../src/limits/memory-store.js'
import { rateLimitStoreSuite, testClock } from '../suites/rate-limit-store.suite.js'

rateLimitStoreSuite('MemoryStore', async (clock) => new MemoryStore({ now: () => clock.now, sweepMs: 0 }))

describe('MemoryStore housekeeping', () => {
  it('sweep() drops full buckets and expired leases, keeps live ones', async () => {
    const clock = testClock()
    const store = new MemoryStore({ now: () => clock.now, sweepMs: 0 })
    store.admit([{ kind: 'rate', id: 'a', dim: 'requests', limit: 60, periodMs: 60_000, cost: 1 }])
    store.admit([{ kind: 'concurrency', id: 'c', dim: 'concurrency', limit: 5, ttlMs: 10_000 }])
    const sizes = (): number[] => [(store as any).rates.size, (store as any).holders.size]
    store.sweep()
    expect(sizes()).toEqual([1, 1])
    clock.advance(10_001)
    store.sweep()
    expect(sizes()).toEqual([0, 0])
    await store.close()
  })

  it('many distinct ids between timed sweeps: idle counters are swept by count, not left for the timer', async () => {
    const clock = testClock()
    // No timer: only the sweep by count can run (the default: past 10 000 counters).
    const store = new MemoryStore({ now: () => clock.now, sweepMs: 0 })
    const counters = (): number => (store as any).rates.size + (store as any).holders.size
    const first = store.rate('ip:first:rpm')
    // 30 000 client IPs, one request each, a millisecond apart (as a trusted proxy's clients
    // might come), each under 600 per minute and 4 at once; the request ends at once.
    for (let i = 0; i < 30_000; i++) {
      const r = store.admit([
        { kind: 'rate', id: `ip:${i}:rpm`, dim: 'requests', limit: 600, periodMs: 60_000, cost: 1 },
        { kind: 'concurrency', id: `ip:${i}:conc`, dim: 'concurrency', limit: 4, ttlMs: 60_000 },
      ])
      expect(r.allowed).toBe(true)
      store.settle([{ kind: 'release', id: `ip:${i}:conc`, lease: r.results[1]!.lease }])
      clock.advance(1)
      if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve))
      expect(counters()).toBeLessThanOrEqual(12_000)
    }
    expect(first.dropped).toBe(true)
    // What is live (the last 100 ms of buckets) is kept.
    await new Promise((resolve) => setImmediate(resolve))
    expect(store.admit([{ kind: 'rate', id: 'ip:29999:rpm', dim: 'requests', limit: 1, periodMs: 60_000, cost: 1 }]).allowed).toBe(false)
    await store.close()
  })

  it('leases beyond the first slots: every one counts, stale handles free nothing, freed slots are reused', async () => {
    const clock = testClock()
    const store = new MemoryStore({ now: () => clock.now, sweepMs: 0 })
    const check = { kind: 'concurrency', id: 'c', dim: 'concurrency', limit: 50, ttlMs: 10_000 } as const
    const take = (): unknown => {
      const r = store.admit([check])
      expect(r.allowed).toBe(true)
      return r.results[0]!.lease
    }
    const first = Array.from({ length: 50 }, take)
    expect(new Set(first).size).toBe(50)
    expect(store.admit([check]).allowed).toBe(false)
    for (const lease of first) store.settle([{ kind: 'release', id: 'c', lease }])
    const second = Array.from({ length: 50 }, take)
    // The first round's handles are stale now: releasing them again frees none of the second's.
    for (const lease of first) store.settle([{ kind: 'release', id: 'c', lease }])
    expect(store.admit([check]).allowed).toBe(false)
    store.settle([{ kind: 'release', id: 'c', lease: second[17] }])
    expect(store.admit([check]).allowed).toBe(true)
    expect(store.admit([check]).allowed).toBe(false)
    // Expiry frees them all at once, when the counter is full.
    clock.advance(10_001)
    expect(store.admit([check]).allowed).toBe(true)
    await store.close()
  })

  it('a refund after a sweep reaches the live bucket; counters at shifting positions stay apart', async () => {
    const clock = testClock()
    const store = new MemoryStore({ now: () => clock.now, sweepMs: 0 })
    const rate = { kind: 'rate', id: 'a', dim: 'requests', limit: 2, periodMs: 60_000, cost: 1 } as const
    expect(store.admit([rate]).allowed).toBe(true)
    expect(store.admit([rate]).allowed).toBe(true)
    clock.advance(60_001)
    store.sweep() // full again: dropped
    expect(store.admit([rate]).allowed).toBe(true)
    store.settle([{ kind: 'refund', id: 'a', limit: 2, periodMs: 60_000, amount: 1 }])
    // The refund gave the unit back to the bucket that admit took it from: two left.
    expect(store.admit([rate]).allowed).toBe(true)
    expect(store.admit([rate]).allowed).toBe(true)
    expect(store.admit([rate]).allowed).toBe(false)
    // Another order of the same counters, and a counter new at a remembered position.
    const other = { ...rate, id: 'b' }
    expect(store.admit([other, rate]).allowed).toBe(false)
    expect(store.admit([other]).allowed).toBe(true)
    expect(store.admit([other]).allowed).toBe(true)
    expect(store.admit([other]).allowed).toBe(false)
    await store.close()
  })

  it("settles at the caller's `at` on its default clock (performance.now), on its own clock when it has one", async () => {
    const rate = { kind: 'rate', id: 'a', dim: 'requests', limit: 1, periodMs: 60_000, cost: 1 } as const
    const refund = { kind: 'refund', id: 'a', limit: 1, periodMs: 60_000, amount: 1 } as const
    // A refund as of two minutes from now: at that time the bucket is already full, so the
    // unit given back is lost and the bucket stays spent now. On the store's own clock (now)
    // the same refund frees the unit.
    const live = new MemoryStore({ sweepMs: 0 })
    expect(live.admit([rate]).allowed).toBe(true)
    live.settle([refund], performance.now() + 120_000)
    expect(live.admit([rate]).allowed).toBe(false)
    await live.close()

    const clock = testClock()
    const own = new MemoryStore({ now: () => clock.now, sweepMs: 0 })
    expect(own.admit([rate]).allowed).toBe(true)
    // A test clock is the only clock: the caller's reading is ignored.
    own.settle([refund], clock.now + 120_000)
    expect(own.admit([rate]).allowed).toBe(true)
    await own.close()
  })
})
