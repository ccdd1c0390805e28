import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LineWriter } from '../../src/observability/line-writer.js'
import { accessLogHook } from '../../src/observability/access-log.js'
import type { RequestContext } from '../../src/server/context.js'

/** A finished request's context, with only what the access log reads. */
function context(over: Partial<Record<string, unknown>> = {}): RequestContext {
  return {
    id: 'req-1',
    startTime: Date.now() - 2000,
    keyName: 'team-a',
    clientIp: '10.0.0.7',
    req: { method: 'POST' },
    path: '/v1/chat/completions',
    model: 'chat-small',
    servedModel: 'chat-small',
    upstream: { id: 'chat-small#0' },
    status: 200,
    outcome: 'ok',
    stream: true,
    usage: { prompt_tokens: 12, completion_tokens: 34, total_tokens: 46 },
    usageEstimated: false,
    firstByteMs: 12.3456,
    durationMs: 1234.5,
    attempts: 2,
    retries: 1,
    bytesOut: 5120,
    error: undefined,
    trace: { traceId: '0af7651916cd43dd8448eb211c80319c' },
    ...over,
  } as unknown as RequestContext
}

/** The line the hook must write for `ctx`: JSON.stringify of the same fields, in order. */
function expected(ctx: RequestContext, time: string, status: number, error: string | null): string {
  const r = (ms: number): number => Math.round(ms * 100) / 100
  return (
    JSON.stringify({
      level: 30,
      time,
      type: 'access',
      request_id: ctx.id,
      key_name: ctx.keyName ?? null,
      client_ip: ctx.clientIp,
      method: ctx.req.method,
      path: ctx.path,
      model: ctx.model ?? null,
      served_model: ctx.servedModel ?? null,
      upstream: ctx.upstream?.id ?? null,
      status,
      outcome: ctx.outcome,
      stream: ctx.stream,
      prompt_tokens: ctx.usage?.prompt_tokens ?? null,
      completion_tokens: ctx.usage?.completion_tokens ?? null,
      usage_estimated: ctx.usageEstimated,
      ttft_ms: ctx.firstByteMs >= 0 ? r(ctx.firstByteMs) : null,
      duration_ms: r(ctx.durationMs),
      attempts: ctx.attempts,
      retries: ctx.retries,
      bytes_out: ctx.bytesOut,
      error,
      trace_id: ctx.trace?.traceId ?? null,
    }) + '\n'
  )
}

function lineFor(ctx: RequestContext): string {
  const lines: string[] = []
  accessLogHook({ write: (l: string) => lines.push(l) })(ctx)
  expect(lines).toHaveLength(1)
  return lines[0]!
}

describe('access log line', () => {
  it('is exactly the JSON of its fields, in order', () => {
    const ctx = context()
    const line = lineFor(ctx)
    const time = (JSON.parse(line) as { time: string }).time
    // The end of the request: its wall-clock start plus its duration.
    expect(time).toBe(new Date(Math.floor(ctx.startTime + ctx.durationMs)).toISOString())
    expect(Date.parse(time)).toBeGreaterThan(Date.now() - 60_000)
    expect(line).toBe(expected(ctx, time, 200, null))
  })

  it('writes the end time exactly as Date#toISOString, across second turns and out of order', () => {
    const base = Date.UTC(2026, 10, 25, 9, 59, 59, 990)
    const ends: number[] = []
    // Requests ending around second (and minute, hour) turns, in an order that goes back and forth.
    for (let i = 0; i < 200; i++) ends.push(base + ((i * 7919) % 40) - 5 + (i % 3) * 0.4)
    for (let i = 0; i < 200; i++) ends.push(1_000_000_000_000 + Math.random() * 4e12)
    for (const end of ends) {
      const ctx = context({ startTime: Math.floor(end) - 1000, durationMs: 1000 + (end - Math.floor(end)) })
      const time = (JSON.parse(lineFor(ctx)) as { time: string }).time
      expect(time).toBe(new Date(Math.floor(end)).toISOString())
    }
  })

  it('escapes what a client controls and writes null for what is missing', () => {
    const ctx = context({
      id: 'id-"quoted"\\',
      keyName: undefined,
      clientIp: '::1',
      path: '/v1/chat/completions\u0000\n',
      model: 'modèle "x" 😀 \ud800',
      servedModel: undefined,
      upstream: undefined,
      status: 502,
      stream: false,
      usage: undefined,
      firstByteMs: -1,
      durationMs: 0.004,
      attempts: 0,
      retries: 0,
      bytesOut: 0,
      trace: undefined,
      error: { code: 'upstream_unavailable' },
    })
    const line = lineFor(ctx)
    const time = (JSON.parse(line) as { time: string }).time
    expect(line).toBe(expected(ctx, time, 502, 'upstream_unavailable'))
  })

  it('reports a client that left as 499 client_closed, and an upstream error answer by its status', () => {
    const gone = context({ outcome: 'cancelled', status: 200 })
    const l1 = lineFor(gone)
    expect(l1).toBe(expected(gone, (JSON.parse(l1) as { time: string }).time, 499, 'client_closed'))
    const upstream429 = context({ status: 429 })
    const l2 = lineFor(upstream429)
    expect(l2).toBe(expected(upstream429, (JSON.parse(l2) as { time: string }).time, 429, 'upstream_429'))
  })

  it('holds long client-controlled values whole (the room reserved grows with them)', () => {
    const ctx = context({ id: '\u0001'.repeat(128), model: 'é'.repeat(5000), path: '/v1/' + 'x'.repeat(9000) })
    const line = lineFor(ctx)
    expect(line).toBe(expected(ctx, (JSON.parse(line) as { time: string }).time, 200, null))
  })
})

describe('access log through a LineWriter', () => {
  it('encodes lines in place across buffer boundaries, whole and in order', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'switchyard-access-')), 'access.log')
    // Buffers smaller than one line's reserved room: each line gets a buffer of its own size.
    const w = LineWriter.open(file, { chunk: 256 })
    const hook = accessLogHook(w)
    const contexts = Array.from({ length: 300 }, (_, i) => context({ id: `req-${i}`, model: i % 7 === 0 ? `modèle-${i}` : `m-${i}`, bytesOut: i }))
    for (const ctx of contexts) hook(ctx)
    await w.end()
    const lines = readFileSync(file, 'utf8').split('\n')
    expect(lines.pop()).toBe('')
    expect(lines).toHaveLength(300)
    lines.forEach((line, i) => expect(line + '\n').toBe(expected(contexts[i]!, (JSON.parse(line) as { time: string }).time, 200, null)))
    expect(w.dropped).toBe(0)
  })
})
