// One JSON line per request, written after the response has ended, built from the context.
import type { RequestContext } from '../server/context.js'
import type { Logger } from './logger.js'

/** nginx's code for "client closed the request". */
export const CLIENT_CLOSED = 499

/** The status the log and metrics report: 499 for a client that left early. */
export function reportedStatus(ctx: RequestContext): number {
  return ctx.outcome === 'cancelled' ? CLIENT_CLOSED : ctx.status
}

export function accessLogHook(log: Logger): (ctx: RequestContext) => void {
  return function accessLog(ctx: RequestContext): void {
    const usage = ctx.usage
    log.info({
      type: 'access',
      request_id: ctx.id,
      time: new Date(ctx.startTime).toISOString(),
      key: ctx.keyName ?? null,
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
      ttft_ms: ctx.firstByteMs >= 0 ? round(ctx.firstByteMs) : null,
      duration_ms: round(ctx.elapsedMs()),
      attempts: ctx.attempts,
      retries: ctx.retries,
      bytes_out: ctx.bytesOut,
      error: ctx.error?.code ?? null,
    })
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100
}
