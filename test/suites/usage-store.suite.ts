// The conformance suite every UsageStore passes: SQLite and PostgreSQL give the same
// figures for the same rows, percentiles included (percentile_cont's interpolation).
import { describe, expect, it } from 'vitest'
import { usageRows } from '../../src/observability/usage-batch.js'
import type { UsageRecord, UsageStore } from '../../src/observability/usage-store.js'

const HOUR = 3_600_000
const now = Date.now()

export function row(over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    time: now - 1000,
    request_id: 'r',
    key_name: 'team-a',
    endpoint: 'chat',
    model: 'chat-small',
    served_model: 'chat-small',
    upstream: 'a',
    stream: true,
    status: 200,
    error: null,
    prompt_tokens: 10,
    completion_tokens: 20,
    usage_estimated: false,
    cost_usd: 0.001,
    ttft_ms: 100,
    duration_ms: 500,
    retries: 0,
    ...over,
  }
}

/** percentile_cont(p) over values, the reference the stores must match. */
function percentileCont(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  const pos = p * (s.length - 1)
  const lo = Math.floor(pos)
  return s[lo]! + (pos - lo) * ((s[lo + 1] ?? s[lo]!) - s[lo]!)
}

export function usageStoreSuite(name: string, create: () => Promise<UsageStore>): void {
  describe(name, () => {
    it('reports nothing before the table exists', async () => {
      const store = await create()
      expect(await store.report({ by: 'model', since: 0 })).toEqual([])
      await store.close()
    })

    it('sums requests, tokens, cost and errors per group; 499 is not an error', async () => {
      const store = await create()
      await store.init()
      await store.init()
      const ttfts = [120, 80, 300, 95, 101, 250, 90]
      const rows: UsageRecord[] = ttfts.map((t, i) => row({ request_id: `s${i}`, ttft_ms: t, prompt_tokens: 10 + i, completion_tokens: 20 + i, cost_usd: 0.001 * (i + 1) }))
      rows.push(row({ request_id: 'e1', status: 502, error: 'upstream_unavailable', stream: false, ttft_ms: null, prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 }))
      rows.push(row({ request_id: 'c1', status: 499, error: 'client_closed', usage_estimated: true, ttft_ms: 5000 }))
      rows.push(row({ request_id: 'b1', model: 'chat-large', served_model: 'chat-large', upstream: 'b', key_name: null, stream: false, ttft_ms: 700 }))
      rows.push(row({ request_id: 'old', time: now - 48 * HOUR }))
      await store.insert(usageRows(rows.slice(0, 5)))
      await store.insert(usageRows(rows.slice(5)))

      const report = await store.report({ by: 'model', since: now - 24 * HOUR })
      expect(report.map((r) => r.group)).toEqual(['chat-large', 'chat-small'])
      const small = report[1]!
      expect(small).toMatchObject({ requests: 9, errors: 1, estimated: 1 })
      expect(small.prompt_tokens).toBe(ttfts.reduce((a, _, i) => a + 10 + i, 0) + 10)
      expect(small.completion_tokens).toBe(ttfts.reduce((a, _, i) => a + 20 + i, 0) + 20)
      expect(small.cost_usd).toBeCloseTo(0.001 * 28 + 0.001, 9)
      expect(small.error_rate).toBeCloseTo(1 / 9, 9)
      // Only successful streams count for time to first token.
      expect(small.ttft_p50_ms).toBeCloseTo(percentileCont(ttfts, 0.5), 6)
      expect(small.ttft_p95_ms).toBeCloseTo(percentileCont(ttfts, 0.95), 6)
      expect(report[0]).toMatchObject({ requests: 1, ttft_p50_ms: null, ttft_p95_ms: null })
      await store.close()
    })

    it('groups by key, upstream and day', async () => {
      const store = await create()
      await store.init()
      await store.insert(
        usageRows([
          row({ request_id: '1' }),
          row({ request_id: '2', key_name: 'team-b', upstream: 'b' }),
          row({ request_id: '3', key_name: null, served_model: null, upstream: null, status: 404, error: 'model_not_found' }),
        ])
      )
      const byKey = await store.report({ by: 'key', since: 0 })
      expect(byKey.map((r) => [r.group, r.requests])).toEqual([['-', 1], ['team-a', 1], ['team-b', 1]])
      const byUpstream = await store.report({ by: 'upstream', since: 0 })
      expect(byUpstream.map((r) => r.group)).toEqual(['-/-', 'chat-small/a', 'chat-small/b'])
      const byDay = await store.report({ by: 'day', since: 0 })
      expect(byDay).toHaveLength(1)
      expect(byDay[0]!.group).toBe(new Date(now - 1000).toISOString().slice(0, 10))
      await store.close()
    })

    it('deletes rows older than the retention', async () => {
      const store = await create()
      await store.init()
      await store.insert(usageRows([row({ request_id: 'new' }), row({ request_id: 'old1', time: now - 40 * 86_400_000 }), row({ request_id: 'old2', time: now - 31 * 86_400_000 })]))
      expect(await store.deleteBefore(now - 30 * 86_400_000)).toBe(2)
      const left = await store.report({ by: 'model', since: 0 })
      expect(left[0]!.requests).toBe(1)
      await store.close()
    })

    it('keeps every value in its row, whatever the batch size', async () => {
      const store = await create()
      await store.init()
      const rows: UsageRecord[] = []
      // Sizes around any multi-row statement size a store may use.
      for (const size of [1, 24, 25, 26, 60]) {
        const batch = Array.from({ length: size }, (_, j) => {
          const i = rows.length + j
          return row({ request_id: `r-${i}`, key_name: i % 4 === 3 ? null : `k${i % 4}`, prompt_tokens: i, completion_tokens: 2 * i + 1, status: i % 5 === 0 ? 500 : 200 })
        })
        await store.insert(usageRows(batch))
        rows.push(...batch)
      }
      const report = await store.report({ by: 'key', since: 0 })
      const expected = new Map<string, { requests: number; prompt: number; completion: number; errors: number }>()
      for (const r of rows) {
        const g = r.key_name ?? '-'
        const e = expected.get(g) ?? { requests: 0, prompt: 0, completion: 0, errors: 0 }
        e.requests++
        e.prompt += r.prompt_tokens
        e.completion += r.completion_tokens
        if (r.status >= 400) e.errors++
        expected.set(g, e)
      }
      expect(report.length).toBe(expected.size)
      for (const g of report) {
        const e = expected.get(g.group)!
        expect([g.group, g.requests, g.prompt_tokens, g.completion_tokens, g.errors]).toEqual([g.group, e.requests, e.prompt, e.completion, e.errors])
      }
      await store.close()
    })

    it('writes a large batch in one call', async () => {
      const store = await create()
      await store.init()
      await store.insert(usageRows(Array.from({ length: 5000 }, (_, i) => row({ request_id: `bulk-${i}` }))))
      expect((await store.report({ by: 'model', since: 0 }))[0]!.requests).toBe(5000)
      await store.close()
    })
  })
}
