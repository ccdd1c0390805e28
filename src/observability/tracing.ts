// Tracing: one SERVER span per proxied request and one CLIENT span per upstream attempt,
// named and attributed after the OpenTelemetry GenAI semantic conventions. The hot path
// only fills plain records; encoding and export happen in batches (otlp-exporter.ts).
import { performance } from 'node:perf_hooks'
import type { AttemptOutcome, Upstream } from '../routing/upstream.js'
import type { RequestContext } from '../server/context.js'
import type { Endpoint } from '../types.js'
import { errorType, reportedStatus } from './access-log.js'
import type { SpanSink } from './otlp-exporter.js'
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent, sampledByRatio } from './trace-context.js'

export type AttributeValue = string | number | boolean

/** A finished span, as the exporter receives it (times in epoch ms, sub-ms precision). */
export interface SpanRecord {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  readonly kind: 'server' | 'client'
  readonly startMs: number
  readonly endMs: number
  readonly attributes: Record<string, AttributeValue | undefined>
  readonly error: boolean
}

/** The view the data path has of a request's trace (RequestContext.trace). */
export interface RequestTrace {
  readonly traceId: string
  /** The traceparent to send upstream: names the attempt in progress as the parent. */
  readonly traceparent: string
  /** Opens the span of an attempt on `upstream`, which is asked for `model`. */
  startAttempt(upstream: Upstream, model: string): void
  /** Closes the open attempt span. */
  endAttempt(outcome: AttemptOutcome, status: number): void
}

/** OpenTelemetry's gen_ai.operation.name for each endpoint. */
export const OPERATION: Record<Endpoint, string> = { chat: 'chat', completions: 'text_completion', embeddings: 'embeddings' }

/** server.address / server.port of each upstream, computed once. */
const peers = new WeakMap<Upstream, { readonly address: string; readonly port: number }>()

function peerOf(u: Upstream): { readonly address: string; readonly port: number } {
  let peer = peers.get(u)
  if (peer === undefined) {
    const url = new URL(u.origin)
    peer = { address: url.hostname, port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80) }
    peers.set(u, peer)
  }
  return peer
}

function nowMs(): number {
  return performance.timeOrigin + performance.now()
}

class Trace implements RequestTrace {
  traceparent: string
  readonly spanId = newSpanId()
  readonly spans: SpanRecord[] = []
  private attempt: { spanId: string; upstream: Upstream; model: string; startMs: number } | undefined

  constructor(
    readonly traceId: string,
    readonly parentSpanId: string | undefined,
    private readonly operation: string
  ) {
    this.traceparent = formatTraceparent(traceId, this.spanId, true)
  }

  startAttempt(upstream: Upstream, model: string): void {
    const spanId = newSpanId()
    this.attempt = { spanId, upstream, model, startMs: nowMs() }
    this.traceparent = formatTraceparent(this.traceId, spanId, true)
  }

  endAttempt(outcome: AttemptOutcome, status: number): void {
    const a = this.attempt
    if (a === undefined) return
    this.attempt = undefined
    const ok = outcome === 'success' || outcome === 'client_error'
    const peer = peerOf(a.upstream)
    this.spans.push({
      traceId: this.traceId,
      spanId: a.spanId,
      parentSpanId: this.spanId,
      name: `${this.operation} ${a.model}`,
      kind: 'client',
      startMs: a.startMs,
      endMs: nowMs(),
      attributes: {
        'gen_ai.operation.name': this.operation,
        'gen_ai.request.model': a.model,
        'server.address': peer.address,
        'server.port': peer.port,
        'http.response.status_code': status > 0 ? status : undefined,
        'switchyard.upstream': a.upstream.id,
        'switchyard.attempt.outcome': outcome,
        'error.type': ok || outcome === 'cancelled' ? undefined : outcome,
      },
      error: !ok && outcome !== 'cancelled',
    })
  }
}

export interface TracerOptions {
  readonly sink: SpanSink
  /** Share of new root traces kept; a client's sampled flag is always followed. */
  readonly sampleRatio: number
}

/** Starts a trace per proxied request (onRequest) and hands finished spans to the sink (onResponse). */
export class Tracer {
  constructor(private readonly options: TracerOptions) {}

  readonly begin = (ctx: RequestContext): void => {
    const parent = parseTraceparent(ctx.headers.traceparent)
    const traceId = parent?.traceId ?? newTraceId()
    const sampled = parent !== undefined ? parent.sampled : sampledByRatio(traceId, this.options.sampleRatio)
    // An unsampled request keeps the client's traceparent untouched on its way upstream.
    if (!sampled) return
    ctx.trace = new Trace(traceId, parent?.spanId, OPERATION[ctx.endpoint ?? 'chat'])
  }

  readonly end = (ctx: RequestContext): void => {
    const trace = ctx.trace
    if (!(trace instanceof Trace)) return
    trace.endAttempt('cancelled', 0)
    const status = reportedStatus(ctx)
    const operation = OPERATION[ctx.endpoint ?? 'chat']
    const usage = ctx.usage
    trace.spans.push({
      traceId: trace.traceId,
      spanId: trace.spanId,
      parentSpanId: trace.parentSpanId,
      name: ctx.model === undefined ? operation : `${operation} ${ctx.model}`,
      kind: 'server',
      startMs: performance.timeOrigin + ctx.startedAt,
      endMs: performance.timeOrigin + ctx.startedAt + ctx.durationMs,
      attributes: {
        'gen_ai.operation.name': operation,
        'gen_ai.request.model': ctx.model,
        'gen_ai.response.model': ctx.servedModel,
        'gen_ai.usage.input_tokens': usage?.prompt_tokens,
        'gen_ai.usage.output_tokens': usage?.completion_tokens,
        'http.request.method': ctx.req.method,
        'url.path': ctx.path,
        'http.response.status_code': status > 0 ? status : undefined,
        'client.address': ctx.clientIp,
        'error.type': errorType(ctx) ?? undefined,
        'switchyard.request_id': ctx.id,
        'switchyard.key': ctx.keyName,
        'switchyard.upstream': ctx.upstream?.id,
        'switchyard.stream': ctx.stream,
        'switchyard.retries': ctx.retries,
        'switchyard.usage_estimated': ctx.usageEstimated || undefined,
      },
      // HTTP's rule for server spans (5xx), and a stream that broke after its 200: the answer failed.
      error: status >= 500 || (status < 400 && ctx.outcome === 'error'),
    })
    this.options.sink.add(trace.spans)
  }
}
