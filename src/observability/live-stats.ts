// The live dashboard's in-process collector: fed once per finished request by an
// onResponse hook, O(1) per request, fixed memory (≈0.5 MB for an hour of per-second
// buckets, plus ≤ maxKeys small key entries). Read by the admin dashboard routes.
import type { RequestContext } from '../server/context.js'
import { errorType, reportedStatus } from './access-log.js'
import { KeyUsage, type KeyUsageRow } from './key-usage.js'
import { LiveSeries, type Percentiles, type SeriesPoint, type Totals } from './live-series.js'
import { RecentRequests, type RecentRequest } from './recent-requests.js'
import { UpstreamThroughput, type UpstreamRates } from './upstream-throughput.js'

/** What the collector is told about one finished request. */
export interface FinishedRequest extends Omit<RecentRequest, 'seq'> {
  /** Status ≥ 500 or an errored outcome. */
  readonly failed: boolean
  /** Identity of the upstream that served (the Upstream object), for its rates. */
  readonly upstreamRef: object | undefined
}

export interface LiveStatsOptions {
  /** Seconds of per-second history. Defaults to 3600. */
  readonly windowSeconds?: number
  /** Finished requests kept for "recent requests". Defaults to 100. */
  readonly recentSize?: number
  /** Keys tracked for "top keys". Defaults to 1000. */
  readonly maxKeys?: number
  /** Epoch ms. Defaults to Date.now (tests inject their own). */
  readonly now?: () => number
}

export class LiveStats {
  readonly windowSeconds: number
  readonly now: () => number
  private readonly series: LiveSeries
  private readonly recentRing: RecentRequests
  private readonly keys: KeyUsage
  private readonly throughput = new UpstreamThroughput()

  constructor(options: LiveStatsOptions = {}) {
    this.windowSeconds = options.windowSeconds ?? 3600
    this.now = options.now ?? Date.now
    this.series = new LiveSeries(this.windowSeconds)
    this.recentRing = new RecentRequests(options.recentSize ?? 100)
    this.keys = new KeyUsage({ windowSeconds: this.windowSeconds, maxKeys: options.maxKeys })
  }

  /** Counts a request that has just finished (at now()). */
  record(r: FinishedRequest): void {
    const now = this.now()
    const sec = Math.floor(now / 1000)
    const completion = r.completion_tokens ?? 0
    const tokens = completion + (r.prompt_tokens ?? 0)
    const ttft = r.ttft_ms === null ? -1 : r.ttft_ms
    this.series.add(sec, r.failed, completion, ttft)
    this.keys.add(r.key, sec, tokens, r.failed)
    if (r.upstreamRef !== undefined) {
      // Generation runs from the first token (for a stream) or the start to the end.
      const genStart = now - r.duration_ms + (r.ttft_ms ?? 0)
      this.throughput.add(r.upstreamRef, now, genStart, completion, r.failed)
    }
    this.recentRing.push(r)
  }

  /** The current second (epoch seconds). */
  nowSec(): number {
    return Math.floor(this.now() / 1000)
  }

  /** Requests, errors and completion tokens over the last `seconds`. */
  totals(seconds: number): Totals {
    const now = this.nowSec()
    return this.series.totals(now - seconds + 1, now, now)
  }

  /** TTFT percentiles (ms) over the last `seconds`. */
  ttft(seconds: number): Percentiles {
    const now = this.nowSec()
    return this.series.percentiles(now - seconds + 1, now, now)
  }

  /** The window in steps of `step` seconds, from the step holding `sinceMs` (default: all). */
  points(step: number, sinceMs = 0): SeriesPoint[] {
    return this.series.points(step, Math.floor(sinceMs / 1000), this.nowSec())
  }

  /** Finished requests newer than `afterSeq`, newest first. */
  recent(afterSeq = 0): RecentRequest[] {
    return this.recentRing.since(afterSeq)
  }

  get recentSeq(): number {
    return this.recentRing.last
  }

  topKeys(n = 10): KeyUsageRow[] {
    return this.keys.top(n, this.nowSec())
  }

  /** Tokens, requests and errors per second on one upstream over the last 10 s. */
  upstreamRates(upstream: object): UpstreamRates {
    return this.throughput.rates(upstream, this.now())
  }
}

/** The onResponse hook feeding the collector; only proxied API calls count (not /healthz). */
export function liveStatsHook(stats: LiveStats): (ctx: RequestContext) => void {
  return function liveStats(ctx: RequestContext): void {
    if (ctx.endpoint === undefined) return
    const status = reportedStatus(ctx)
    const usage = ctx.usage
    stats.record({
      id: ctx.id,
      time: ctx.startTime,
      key: ctx.keyName ?? null,
      model: ctx.model ?? null,
      served_model: ctx.servedModel ?? null,
      upstream: ctx.upstream?.id ?? null,
      status,
      stream: ctx.stream,
      prompt_tokens: usage?.prompt_tokens ?? null,
      completion_tokens: usage?.completion_tokens ?? null,
      // For a non-streaming answer the first byte is the whole generation: not a TTFT.
      // Successful streams only, as the metrics and `switchyard usage` report it.
      ttft_ms: ctx.stream && ctx.firstByteMs >= 0 && status < 400 && ctx.outcome === 'ok' ? Math.round(ctx.firstByteMs * 10) / 10 : null,
      duration_ms: Math.round(ctx.elapsedMs() * 10) / 10,
      // As the access log names it: the gateway's code, upstream_<status>, client_closed.
      error: errorType(ctx),
      failed: status >= 500 || ctx.outcome === 'error',
      upstreamRef: ctx.upstream,
    })
  }
}
