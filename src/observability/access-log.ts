// One JSON line per request, written after the response has ended, built from the context.
// The line has pino's shape (level, time, fields) but is built here and written through a
// LineWriter: pino's generic serialiser, redaction and destination were most of the access
// log's cost per request, and a line built field by field has no secret to redact.
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

/** A JSON string, or null. */
function str(v: string | null | undefined): string {
  return v === null || v === undefined ? 'null' : JSON.stringify(v)
}

/** A JSON number, or null (JSON has no NaN or Infinity). */
function num(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'null' : String(v)
}

export function accessLogHook(sink: AccessLogSink): (ctx: RequestContext) => void {
  return function accessLog(ctx: RequestContext): void {
    const usage = ctx.usage
    // Written out field by field (half the cost of JSON.stringify on an object); every
    // string that can come from a client goes through JSON.stringify. The key's name only:
    // a key itself never reaches the context.
    sink.write(
      `{"level":${INFO},"time":"${isoNow()}","type":"access","request_id":${str(ctx.id)},"key_name":${str(ctx.keyName)}` +
        `,"client_ip":${str(ctx.clientIp)},"method":${str(ctx.req.method)},"path":${str(ctx.path)},"model":${str(ctx.model)}` +
        `,"served_model":${str(ctx.servedModel)},"upstream":${str(ctx.upstream?.id)},"status":${reportedStatus(ctx)}` +
        `,"outcome":"${ctx.outcome}","stream":${ctx.stream},"prompt_tokens":${num(usage?.prompt_tokens)}` +
        `,"completion_tokens":${num(usage?.completion_tokens)},"usage_estimated":${ctx.usageEstimated}` +
        `,"ttft_ms":${ctx.firstByteMs >= 0 ? round(ctx.firstByteMs) : 'null'},"duration_ms":${round(ctx.durationMs)}` +
        `,"attempts":${ctx.attempts},"retries":${ctx.retries},"bytes_out":${ctx.bytesOut},"error":${str(errorType(ctx))}` +
        `,"trace_id":${str(ctx.trace?.traceId)}}\n`
    )
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100
}
