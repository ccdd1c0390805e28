// Records one finished request into the metrics (an onResponse hook). The label children
// of each (operation, model, served model, upstream) are bound once and cached in nested
// maps, so a request costs a few map lookups and observations: no label objects, no strings.
import type { CounterSeries, HistogramSeries } from './bound-metrics.js'
import type { RequestContext } from '../server/context.js'
import { errorType, reportedStatus } from './access-log.js'
import type { Metrics } from './metrics.js'
import { OPERATION } from './tracing.js'


/** The bound children of one (operation, model, served model, upstream). */
interface Series {
  readonly labels: readonly [string, string, string, string]
  /** status → error type → requests counter. */
  readonly requests: Map<number, Map<string, CounterSeries>>
  readonly duration: HistogramSeries
  readonly ttft: HistogramSeries
  readonly tpot: HistogramSeries
  readonly inputTokens: HistogramSeries
  readonly outputTokens: HistogramSeries
}

type Level<T> = Map<string, T>

const STATUS_CLASS = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx']

/** The map under `key`, created on first use. */
function level<K, V>(map: Map<K, Map<string, V>>, key: K): Map<string, V> {
  let v = map.get(key)
  if (v === undefined) map.set(key, (v = new Map<string, V>()))
  return v
}

export class RequestMetrics {
  private readonly tree: Level<Level<Level<Level<Series>>>> = new Map()

  constructor(private readonly m: Metrics) {}

  /** The onResponse hook. */
  readonly record = (ctx: RequestContext): void => {
    const endpoint = ctx.endpoint
    // Local endpoints (/healthz, /v1/models) and unknown paths are not model requests.
    if (endpoint === undefined) return
    const requestModel = ctx.route?.name ?? ''
    const served = ctx.upstream === undefined ? '' : (ctx.servedModel ?? '')
    const s = this.series(OPERATION[endpoint], requestModel, served, ctx.upstream?.id ?? '')
    const status = reportedStatus(ctx)
    const err = errorType(ctx) ?? ''
    const byError = level(s.requests, status)
    let counter = byError.get(err)
    if (counter === undefined) {
      counter = this.m.requests.labels(...s.labels, STATUS_CLASS[Math.floor(status / 100)] ?? 'other', err)
      byError.set(err, counter)
    }
    counter.inc()

    const elapsedMs = ctx.durationMs
    s.duration.observe(elapsedMs / 1000)
    // A stream that broke after its 200 is no successful stream (OpenTelemetry's TTFT and TPOT are over those).
    const ok = status >= 200 && status < 300 && ctx.outcome === 'ok'
    const usage = ctx.usage
    if (ctx.stream && ok && ctx.firstByteMs >= 0) {
      s.ttft.observe(ctx.firstByteMs / 1000)
      if (usage !== undefined && usage.completion_tokens > 1) {
        s.tpot.observe((elapsedMs - ctx.firstByteMs) / 1000 / (usage.completion_tokens - 1))
      }
    }
    if (usage !== undefined) {
      s.inputTokens.observe(usage.prompt_tokens)
      if (endpoint !== 'embeddings') s.outputTokens.observe(usage.completion_tokens)
    }
    if (ctx.retries > 0) this.m.retries.inc({ gen_ai_request_model: requestModel }, ctx.retries)
    if (served !== '' && served !== requestModel) {
      this.m.fallbacks.inc({ gen_ai_request_model: requestModel, gen_ai_response_model: served })
    }
    const error = ctx.error
    if (error !== undefined && error.status === 429 && error.source !== 'upstream') {
      this.m.rateLimited.inc({ gen_ai_request_model: requestModel, reason: error.code })
    }
  }

  /** The last series used: consecutive requests mostly share it (compared by its four strings). */
  private last: Series | undefined = undefined

  private series(operation: string, requestModel: string, served: string, upstream: string): Series {
    const last = this.last
    if (last !== undefined) {
      const l = last.labels
      if (l[0] === operation && l[1] === requestModel && l[2] === served && l[3] === upstream) return last
    }
    const byUpstream = level(level(level(this.tree, operation), requestModel), served)
    let s = byUpstream.get(upstream)
    if (s === undefined) byUpstream.set(upstream, (s = this.bind(operation, requestModel, served, upstream)))
    this.last = s
    return s
  }

  private bind(operation: string, requestModel: string, served: string, upstream: string): Series {
    const labels = [operation, requestModel, served, upstream] as const
    const m = this.m
    return {
      labels,
      requests: new Map(),
      duration: m.requestDuration.labels(...labels),
      ttft: m.timeToFirstToken.labels(...labels),
      tpot: m.timePerOutputToken.labels(...labels),
      inputTokens: m.tokenUsage.labels(...labels, 'input'),
      outputTokens: m.tokenUsage.labels(...labels, 'output'),
    }
  }
}
