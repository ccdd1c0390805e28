// Packed usage rows arrive as the same values the insert binds: nulls, empty and non-ASCII
// text, fractions and NaN-free numbers, in USAGE_COLUMNS order.
import { describe, expect, it } from 'vitest'
import { packRows, unpackRows } from '../../src/observability/usage-pack.js'
import { rowValues } from '../../src/observability/usage-sql.js'
import type { UsageRecord } from '../../src/observability/usage-store.js'

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

describe('packRows / unpackRows', () => {
  it('round-trips every column, nulls and awkward text included', () => {
    const rows: UsageRecord[] = [
      base,
      { ...base, request_id: '', key_name: null, model: null, served_model: null, upstream: null, error: 'client_closed', stream: false, status: 499, ttft_ms: null, usage_estimated: true, retries: 0 },
      { ...base, request_id: 'é€😀\u0000\u0001|x', model: 'naïve "model"', error: 'upstream_503', cost_usd: 0, prompt_tokens: 0, completion_tokens: 0 },
    ]
    const packed = packRows(rows)
    // What the worker receives: a structured clone, with the numbers' buffer transferred.
    const copy = structuredClone(packed, { transfer: [packed.numbers.buffer as ArrayBuffer] })
    expect(unpackRows(copy)).toEqual(rows.map(rowValues))
  })

  it('packs an empty batch', () => {
    expect(unpackRows(packRows([]))).toEqual([])
  })
})
