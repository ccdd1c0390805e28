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
    const sizes = (): number[] => [(store as any).tats.size, (store as any).leases.size]
    store.sweep()
    expect(sizes()).toEqual([1, 1])
    clock.advance(10_001)
    store.sweep()
    expect(sizes()).toEqual([0, 0])
    await store.close()
  })
})
