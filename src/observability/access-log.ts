// One JSON line per request, written after the response has ended, built from the context.
// The line has pino's shape (level, time, fields) but is serialised with JSON.stringify and
// written through a LineWriter: pino's generic serialiser and redaction were most of the
// access log's cost per request, and a line built field by field has no secret to redact.
import type { RequestContext } from '../server/context.js'

/** Where access lines go (a LineWriter, or a test's collector). */
export interface AccessLogSink {
  write(line: string): unknown
}

/** pino's number for `info`. */
const INFO = 30

let isoMs = 0
let isoText = ''

/** The current time as ISO 8601, formatted once per millisecond however many lines share it. */
function isoNow(): string {
  const now = Date.now()
  if (now !== isoMs) {
    isoMs = now
    isoText = new Date(now).toISOString()
  }
  return isoText
}

/** nginx's code for "client closed the request". */
export const CLIENT_CLOSED = 499

/** The status the log and metrics report: 499 for a client that left early. */
export function reportedStatus(ctx: RequestContext): number {
  return ctx.outcome === 'cancelled' ? CLIENT_CLOSED : ctx.status
}

/**
 * Why a request failed, as one low-cardinality word (OpenTelemetry's `error.type`): the
 * gateway's error code, `client_closed`, or `upstream_<status>` for an upstream's own error
 * answer that was relayed; null when it succeeded.
 */
export function errorType(ctx: RequestContext): string | null {
  if (ctx.outcome === 'cancelled') return 'client_closed'
  if (ctx.error !== undefined) return ctx.error.code
  return ctx.status >= 400 ? upstreamErrorType(ctx.status) : null
}

const UPSTREAM_ERROR_TYPES = new Map<number, string>()

function upstreamErrorType(status: number): string {
  let t = UPSTREAM_ERROR_TYPES.get(status)
  if (t === undefined) UPSTREAM_ERROR_TYPES.set(status, (t = `upstream_${status}`))
  return t
}

export function accessLogHook(sink: AccessLogSink): (ctx: RequestContext) => void {
  return function accessLog(ctx: RequestContext): void {
    const usage = ctx.usage
    const line = JSON.stringify({
      level: INFO,
      time: isoNow(),
      type: 'access',
      request_id: ctx.id,
      // The key's name only; a key itself never reaches the context.
      key_name: ctx.keyName ?? null,
      client_ip: ctx.clientIp,
      method: ctx.req.method,
      path: ctx.path,
      model: ctx.model ?? null,
      served_model: ctx.servedModel ?? null,
      upstream: ctx.upstream?.id ?? null,
      status: reportedStatus(ctx),
      outcome: ctx.outcome,
      stream: ctx.stream,
      prompt_tokens: usage?.prompt_tokens ?? null,
      completion_tokens: usage?.completion_tokens ?? null,
      usage_estimated: ctx.usageEstimated,
      ttft_ms: ctx.firstByteMs >= 0 ? round(ctx.firstByteMs) : null,
      duration_ms: round(ctx.durationMs),
      attempts: ctx.attempts,
      retries: ctx.retries,
      bytes_out: ctx.bytesOut,
      error: errorType(ctx),
      trace_id: ctx.trace?.traceId ?? null,
    })
    sink.write(`${line}\n`)
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100
}
