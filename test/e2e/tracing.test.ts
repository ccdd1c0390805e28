// Tracing end to end: the gateway exports OTLP/HTTP JSON to a tiny receiver in this test,
// continues a client's trace, and sends W3C traceparent upstream naming its attempt span.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { eventually, setFault, simStats, startSims } from '../helpers/sim.js'

interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  startTimeUnixNano: string
  endTimeUnixNano: string
  attributes: { key: string; value: Record<string, unknown> }[]
  status: { code: number }
}

let receiver: Server
const spans: OtlpSpan[] = []
const exports: { headers: Record<string, unknown>; resource: unknown }[] = []
let sims: SimServer[]
let gw: GatewayProcess
let client: OpenAI

function attr(span: OtlpSpan, key: string): unknown {
  const v = span.attributes.find((a) => a.key === key)?.value
  return v === undefined ? undefined : Object.values(v)[0]
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (d: string) => (body += d))
    req.on('end', () => {
      const msg = JSON.parse(body) as { resourceSpans: { resource: unknown; scopeSpans: { spans: OtlpSpan[] }[] }[] }
      for (const rs of msg.resourceSpans) {
        exports.push({ headers: req.headers, resource: rs.resource })
        for (const ss of rs.scopeSpans) spans.push(...ss.spans)
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
  const port = (receiver.address() as AddressInfo).port
  sims = await startSims(2, { ttftMs: 2 })
  gw = await startGateway(
    {
      tracing: { otlp_endpoint: '${OTEL_EXPORTER_OTLP_ENDPOINT}' },
      models: [{ name: 'traced', upstreams: sims.map((s, i) => ({ url: `${s.url}/v1`, name: `u${i}`, model: 'sim-model' })), strategy: 'round-robin' }],
    },
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=abc%20123',
      OTEL_SERVICE_NAME: 'gateway-under-test',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    }
  )
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
})

afterAll(async () => {
  await gw?.stop()
  await Promise.all(sims?.map((s) => s.close()) ?? [])
  receiver?.close()
})

describe('tracing', () => {
  it("continues the client's trace and propagates traceparent upstream", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const parent = '00f067aa0ba902b7'
    const { response } = await client.chat.completions
      .create({ model: 'traced', max_tokens: 3, messages: [{ role: 'user', content: 'trace me' }] }, { headers: { traceparent: `00-${traceId}-${parent}-01`, 'x-request-id': 'traced-1' } })
      .withResponse()
    const served = Number(response.headers.get('x-switchyard-upstream')!.slice(1))
    const seen = (await simStats(sims[served]!)).lastRequest!.headers.traceparent!
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(seen)!
    expect(m[1]).toBe(traceId)
    expect(m[2]).not.toBe(parent)

    await eventually(() => spans.filter((s) => s.traceId === traceId).length === 2)
    const server = spans.find((s) => s.traceId === traceId && s.kind === 2)!
    const attempt = spans.find((s) => s.traceId === traceId && s.kind === 3)!
    expect(server.parentSpanId).toBe(parent)
    expect(attempt.parentSpanId).toBe(server.spanId)
    // The upstream saw the attempt span as its parent.
    expect(attempt.spanId).toBe(m[2])
    expect(server.name).toBe('chat traced')
    expect(attempt.name).toBe('chat sim-model')
    expect(attr(server, 'gen_ai.operation.name')).toBe('chat')
    expect(attr(server, 'gen_ai.request.model')).toBe('traced')
    expect(attr(server, 'gen_ai.usage.output_tokens')).toBe('3')
    expect(attr(server, 'http.response.status_code')).toBe('200')
    expect(attr(server, 'switchyard.request_id')).toBe('traced-1')
    expect(attr(attempt, 'server.address')).toBe('127.0.0.1')
    expect(attr(attempt, 'switchyard.upstream')).toBe(`u${served}`)
    expect(BigInt(attempt.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(server.startTimeUnixNano))
    expect(BigInt(attempt.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(server.endTimeUnixNano))
    expect(exports[0]!.headers['x-collector-key']).toBe('abc 123')
    expect(JSON.stringify(exports[0]!.resource)).toContain('gateway-under-test')
  })

  it('starts a new trace without a traceparent, with a span per attempt on a retry', async () => {
    // One upstream answers 500: the retry goes to the other, under the same trace.
    await setFault(sims[0]!, { mode: 'error' })
    for (let i = 0; i < 2; i++) {
      await client.chat.completions.create({ model: 'traced', max_tokens: 2, messages: [{ role: 'user', content: 'new trace' }] }, { headers: { 'x-request-id': `fresh-${i}` } })
    }
    await setFault(sims[0]!, { mode: 'ok' })
    await eventually(() => spans.filter((s) => s.kind === 2 && attr(s, 'switchyard.request_id')?.toString().startsWith('fresh-')).length === 2)
    const servers = spans.filter((s) => s.kind === 2 && String(attr(s, 'switchyard.request_id')).startsWith('fresh-'))
    const retried = servers.find((s) => attr(s, 'switchyard.retries') === '1')!
    expect(retried.parentSpanId).toBeUndefined()
    await eventually(() => spans.filter((s) => s.traceId === retried.traceId && s.kind === 3).length === 2)
    const attempts = spans.filter((s) => s.traceId === retried.traceId && s.kind === 3)
    expect(attempts.map((a) => attr(a, 'switchyard.attempt.outcome')).sort()).toEqual(['http_error', 'success'])
    expect(attempts.find((a) => attr(a, 'switchyard.attempt.outcome') === 'http_error')!.status.code).toBe(2)
    // The access log carries the trace id, so a log line leads to its trace.
    await eventually(() => gw.accessLines().some((l) => l.trace_id === retried.traceId))
  })
})
