// RequestMetrics on hand-made contexts: the counters the e2e traffic does not reach
// (the gateway's own 429s, fallbacks, retries) and what is left out (local endpoints).
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { buildSnapshot } from '../../src/config/snapshot.js'
import { RateLimitedError } from '../../src/errors.js'
import { Metrics } from '../../src/observability/metrics.js'
import { RequestMetrics } from '../../src/observability/request-metrics.js'
import type { RequestContext } from '../../src/server/context.js'
import { parseMetrics, sum } from '../helpers/prometheus.js'

const config = parseConfig({
  models: [
    { name: 'a', upstreams: [{ url: 'http://127.0.0.1:1/v1', name: 'a0' }], fallback: ['b'] },
    { name: 'b', upstreams: [{ url: 'http://127.0.0.1:2/v1', name: 'b0' }] },
  ],
})
const snapshot = buildSnapshot(config).snapshot

function ctx(over: Partial<RequestContext>): RequestContext {
  return {
    endpoint: 'chat',
    route: snapshot.routes.resolve('a'),
    servedModel: undefined,
    upstream: undefined,
    status: 200,
    outcome: 'ok',
    error: undefined,
    stream: false,
    firstByteMs: -1,
    durationMs: 12,
    usage: undefined,
    retries: 0,
    ...over,
  } as RequestContext
}

describe('RequestMetrics', () => {
  it("counts the gateway's own 429s, fallbacks and retries; skips local endpoints", async () => {
    const metrics = new Metrics({ snapshot: () => snapshot })
    const record = new RequestMetrics(metrics).record
    const b0 = snapshot.routes.resolve('b')!.pool.members[0]!
    record(ctx({ status: 429, outcome: 'error', error: new RateLimitedError('slow down', 3) }))
    record(ctx({ status: 429, outcome: 'error', error: new RateLimitedError('no budget', 60, 'insufficient_quota') }))
    record(ctx({ servedModel: 'b', upstream: b0, retries: 2, usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } }))
    record(ctx({ endpoint: undefined, route: undefined }))
    const s = parseMetrics(await metrics.text())
    expect(sum(s, 'switchyard_rate_limited_total', { gen_ai_request_model: 'a', reason: 'rate_limit_exceeded' })).toBe(1)
    expect(sum(s, 'switchyard_rate_limited_total', { reason: 'insufficient_quota' })).toBe(1)
    expect(sum(s, 'switchyard_fallbacks_total', { gen_ai_request_model: 'a', gen_ai_response_model: 'b' })).toBe(1)
    expect(sum(s, 'switchyard_retries_total', { gen_ai_request_model: 'a' })).toBe(2)
    expect(sum(s, 'switchyard_requests_total')).toBe(3)
    expect(sum(s, 'switchyard_requests_total', { status_class: '4xx', error_type: 'rate_limit_exceeded' })).toBe(1)
    expect(sum(s, 'gen_ai_client_token_usage_sum', { gen_ai_response_model: 'b', upstream: 'b0', gen_ai_token_type: 'input' })).toBe(7)
    // Non-streaming answers have no time to first token.
    expect(sum(s, 'gen_ai_server_time_to_first_token_seconds_count')).toBe(0)
  })
})
