// UsageRecorder: batches off the request path, survives store outages without losing
// what fits its buffer, and counts what it had to drop.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { UsageRecorder } from '../../src/observability/usage-recorder.js'
import { recordsOf, type UsageRows } from '../../src/observability/usage-batch.js'
import type { ReportRow, UsageRecord, UsageStore } from '../../src/observability/usage-store.js'
import { eventually } from '../helpers/sim.js'
import { row } from '../suites/usage-store.suite.js'

class FakeStore implements UsageStore {
  readonly kind = 'sqlite'
  readonly rows: UsageRecord[] = []
  readonly batches: number[] = []
  down = false
  closed = false
  async init(): Promise<void> {
    if (this.down) throw new Error('store down')
  }
  async insert(batch: UsageRows): Promise<void> {
    // Read late, after a wait: the recorder must leave a batch alone until its insert settles.
    await new Promise((r) => setTimeout(r, 1))
    if (this.down) throw new Error('store down')
    const rows = recordsOf(batch)
    this.batches.push(rows.length)
    this.rows.push(...rows)
  }
  async deleteBefore(): Promise<number> {
    return 0
  }
  async report(): Promise<ReportRow[]> {
    return []
  }
  async close(): Promise<void> {
    this.closed = true
  }
}

function recorder(store: UsageStore, options: Partial<{ batch_size: number; buffer: number; flush_interval: number }> = {}) {
  const lines: Record<string, unknown>[] = []
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) })
  const r = new UsageRecorder(store, { batch_size: 10, buffer: 100, flush_interval: 20, retention: 30 * 86_400_000, ...options }, log)
  r.start()
  return { r, lines }
}

const rows = (n: number, prefix = 'r') => Array.from({ length: n }, (_, i) => row({ request_id: `${prefix}${i}` }))

describe('UsageRecorder', () => {
  it('writes on the timer, or at once when a batch is full, in batches, in order', async () => {
    const store = new FakeStore()
    const { r } = recorder(store, { flush_interval: 1_500 })
    await r.flush()
    for (const x of rows(5, 'a')) r.record(x)
    await new Promise((res) => setTimeout(res, 100))
    // Less than a batch waits for the timer...
    expect(store.rows).toHaveLength(0)
    await eventually(() => store.rows.length === 5)
    // ...full batches do not (the timer is up to 1.5 s away); the rest waits for the timer,
    // so a loaded gateway writes whole batches.
    const t0 = Date.now()
    for (const x of rows(25)) r.record(x)
    await eventually(() => store.rows.length === 25)
    expect(Date.now() - t0).toBeLessThan(1_000)
    await new Promise((res) => setTimeout(res, 200))
    expect(store.rows).toHaveLength(25)
    expect(r.buffered).toBe(5)
    await eventually(() => store.rows.length === 30, 3_000)
    expect(store.batches).toEqual([5, 10, 10, 5])
    await r.stop()
    expect(store.rows.map((x) => x.request_id)).toEqual([...rows(5, 'a'), ...rows(25)].map((x) => x.request_id))
    expect(store.batches.every((b) => b <= 10)).toBe(true)
    expect(store.closed).toBe(true)
  })

  it('keeps filling other batches while one is being written, and reuses written ones intact', async () => {
    const store = new FakeStore()
    const { r } = recorder(store, { batch_size: 10, buffer: 1_000, flush_interval: 5 })
    const all = rows(203, 'x')
    for (let i = 0; i < all.length; i++) {
      r.record(all[i]!)
      // Let writes start and finish between rows, so batches are in flight while others fill.
      if (i % 7 === 6) await new Promise((res) => setTimeout(res, 1))
    }
    await r.stop()
    expect(store.rows.map((x) => x.request_id)).toEqual(all.map((x) => x.request_id))
    expect(store.rows).toEqual(all)
    expect(r.written).toBe(203)
    expect(r.buffered).toBe(0)
  })

  it('keeps rows through a store outage and writes them once it is back', async () => {
    const store = new FakeStore()
    store.down = true
    const { r, lines } = recorder(store)
    for (const x of rows(30)) r.record(x)
    await eventually(() => r.failedWrites >= 2)
    expect(store.rows).toHaveLength(0)
    expect(r.buffered).toBe(30)
    expect(lines.filter((l) => l.msg === 'usage store write failed; rows kept for retry')).toHaveLength(1)
    store.down = false
    await eventually(() => store.rows.length === 30, 5_000)
    expect(store.rows.map((x) => x.request_id)).toEqual(rows(30).map((x) => x.request_id))
    expect(r.dropped).toBe(0)
    expect(r.written).toBe(30)
    await r.stop()
  })

  it('drops and counts rows beyond the buffer, warning once', async () => {
    const store = new FakeStore()
    store.down = true
    const { r, lines } = recorder(store, { buffer: 10 })
    for (const x of rows(15)) r.record(x)
    expect(r.dropped).toBe(5)
    expect(r.buffered).toBe(10)
    expect(lines.filter((l) => l.msg === 'usage buffer full; rows dropped')).toHaveLength(1)
    store.down = false
    await eventually(() => store.rows.length === 10, 5_000)
    await r.stop()
  })

  it('stops within its timeout when the store stays down', async () => {
    const store = new FakeStore()
    store.down = true
    const { r, lines } = recorder(store)
    r.record(row())
    const t0 = Date.now()
    await r.stop(300)
    expect(Date.now() - t0).toBeLessThan(2_000)
    expect(store.closed).toBe(true)
    expect(lines.some((l) => l.msg === 'usage store unreachable at shutdown; rows not written')).toBe(true)
  })
})
