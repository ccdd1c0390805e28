// Usage rows held column-wise arrive as the same values the insert binds: nulls, empty and
// non-ASCII text, fractions, after a structured clone (what the SQLite worker receives), and
// straight from a request's context.
import { describe, expect, it } from 'vitest'
import { forEachRow, recordsOf, rowValueArrays, UsageBatch, usageRows } from '../../src/observability/usage-batch.js'
import type { UsageRecord } from '../../src/observability/usage-store.js'
import type { RequestContext } from '../../src/server/context.js'

const base: UsageRecord = {
  time: 1_764_000_000_123,
  request_id: 'req-1',
  key_name: 'team-a',
  endpoint: 'chat',
  model: 'chat-small',
  served_model: 'chat-large',
  upstream: 'a',
  stream: true,
  status: 200,
  error: null,
  prompt_tokens: 12,
  completion_tokens: 34,
  usage_estimated: false,
  cost_usd: 0.000123,
  ttft_ms: 12.5,
  duration_ms: 250.25,
  retries: 1,
}

/** The reference: a record as the values of USAGE_COLUMNS, in order (booleans as 0/1). */
function rowValues(r: UsageRecord): (string | number | null)[] {
  return [
    r.time,
    r.request_id,
    r.key_name,
    r.endpoint,
    r.model,
    r.served_model,
    r.upstream,
    r.stream ? 1 : 0,
    r.status,
    r.error,
    r.prompt_tokens,
    r.completion_tokens,
    r.usage_estimated ? 1 : 0,
    r.cost_usd,
    r.ttft_ms,
    r.duration_ms,
    r.retries,
  ]
}

const awkward: UsageRecord[] = [
  base,
  { ...base, request_id: '', key_name: null, model: null, served_model: null, upstream: null, error: 'client_closed', stream: false, status: 499, ttft_ms: null, usage_estimated: true, retries: 0 },
  { ...base, request_id: 'é€😀\u0000\u0001|x', model: 'naïve "model"', error: 'upstream_503', cost_usd: 0, prompt_tokens: 0, completion_tokens: 0 },
  { ...base, request_id: 'x'.repeat(128), ttft_ms: 0, duration_ms: 0 },
]

describe('UsageBatch', () => {
  it('round-trips every column through a structured clone, nulls and awkward text included', () => {
    const copy = structuredClone(usageRows(awkward))
    expect(rowValueArrays(copy)).toEqual(awkward.map(rowValues))
    expect(recordsOf(copy)).toEqual(awkward)
  })

  it('keeps each distinct text once per batch', () => {
    const rows = usageRows(Array.from({ length: 100 }, (_, i) => ({ ...base, request_id: `r${i}` })))
    expect([...rows.strings].sort()).toEqual(['a', 'chat', 'chat-large', 'chat-small', 'team-a'])
    expect(recordsOf(rows).map((r) => r.request_id)).toEqual(Array.from({ length: 100 }, (_, i) => `r${i}`))
  })

  it('grows for long request ids, and is empty and reusable after clear()', () => {
    const batch = new UsageBatch(3)
    const long = 'é'.repeat(2000)
    batch.add({ ...base, request_id: long })
    batch.add({ ...base, request_id: 'short' })
    expect(batch.full).toBe(false)
    batch.add(base)
    expect(batch.full).toBe(true)
    expect(recordsOf(batch.rows()).map((r) => r.request_id)).toEqual([long, 'short', 'req-1'])
    batch.clear()
    expect(batch.rows().count).toBe(0)
    let visited = 0
    forEachRow(batch.rows(), () => visited++)
    expect(visited).toBe(0)
    batch.add({ ...base, key_name: 'team-b' })
    expect(recordsOf(batch.rows())).toEqual([{ ...base, key_name: 'team-b' }])
    expect(batch.rows().strings).not.toContain('team-a')
  })

  it('reads a finished request from its context: served model and price only when an upstream served', () => {
    const ctx = (over: Partial<RequestContext>): RequestContext =>
      ({
        id: 'id-1',
        startTime: 1000,
        stream: false,
        status: 200,
        outcome: 'ok',
        error: undefined,
        usage: { prompt_tokens: 1_000_000, completion_tokens: 1_000_000, total_tokens: 2_000_000 },
        usageEstimated: false,
        snapshot: {
          config: { prices: { small: { input: 1, output: 2 }, large: { input: 10, output: 20 } } },
          routes: { resolve: (m: string) => (m === 'small' ? {} : undefined) },
        },
        model: 'small',
        servedModel: 'large',
        upstream: { id: 'u1' },
        firstByteMs: -1,
        durationMs: 5,
        retries: 0,
        keyName: undefined,
        endpoint: 'chat',
        ...over,
      }) as unknown as RequestContext
    const batch = new UsageBatch(4)
    batch.addRequest(ctx({}))
    batch.addRequest(ctx({ upstream: undefined, status: 503, error: { code: 'no_healthy_upstream' } as RequestContext['error'], usage: undefined }))
    batch.addRequest(ctx({ outcome: 'cancelled', firstByteMs: 2.5, stream: true, keyName: 'team-a' }))
    batch.addRequest(ctx({ model: 'made-up-by-a-client', upstream: undefined, status: 404, usage: undefined }))
    const [served, failed, cancelled, unknown] = recordsOf(batch.rows())
    expect(served).toMatchObject({ request_id: 'id-1', served_model: 'large', upstream: 'u1', cost_usd: 30, ttft_ms: null, status: 200, error: null, key_name: null })
    expect(failed).toMatchObject({ served_model: null, upstream: null, cost_usd: 0, status: 503, error: 'no_healthy_upstream', prompt_tokens: 0 })
    expect(cancelled).toMatchObject({ status: 499, error: 'client_closed', ttft_ms: 2.5, stream: true, key_name: 'team-a' })
    // A model the gateway does not serve is not kept: clients could invent any number of them.
    expect(served).toMatchObject({ model: 'small' })
    expect(unknown).toMatchObject({ model: null, status: 404 })
  })
})
