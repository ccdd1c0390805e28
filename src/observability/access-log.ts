// One JSON line per request, written after the response has ended, built from the context.
import type { RequestContext } from '../server/context.js'
import type { Logger } from './logger.js'

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

export function accessLogHook(log: Logger): (ctx: RequestContext) => void {
  return function accessLog(ctx: RequestContext): void {
    const usage = ctx.usage
    log.info({
      type: 'access',
      request_id: ctx.id,
      start_time: new Date(ctx.startTime).toISOString(),
      // The key's name only: the logger redacts any field called `key`, and a secret never gets here.
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
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100
}
