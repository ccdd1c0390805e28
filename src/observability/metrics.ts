// Every Prometheus metric of the gateway is defined here, and nowhere else. Names follow
// the OpenTelemetry GenAI semantic conventions where one exists (gen_ai.server.* →
// gen_ai_server_*_seconds); the gateway's own are prefixed switchyard_. Per-request values
// are recorded by request-metrics.ts; state (upstreams, queues, buffers) is read at scrape
// time by collect callbacks, so it costs the request path nothing. Read the values (the
// dashboard, tests) through `registry` (getMetricsAsJSON / metrics()).
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import { BoundCounter, BoundHistogram } from './bound-metrics.js'
import type { Snapshot } from '../config/snapshot.js'
import type { Upstream, UpstreamState } from '../routing/upstream.js'

/** Labels of the per-request series (OpenTelemetry attribute names, dots as underscores). */
export const REQUEST_LABELS = ['gen_ai_operation_name', 'gen_ai_request_model', 'gen_ai_response_model', 'upstream'] as const

/** Seconds, 5 ms to 11 minutes: OpenTelemetry's advice for gen_ai.server.request.duration, extended for long generations. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84, 327.68, 655.36]
/** Seconds, 1 ms to 3 minutes (OpenTelemetry's advice up to 10 s, then long reasoning pauses). */
export const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160]
/** Seconds per token, 1 ms (fast small models) to 2.5 s (OpenTelemetry's advice plus the fast end). */
export const TPOT_BUCKETS = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5]
/** Tokens, OpenTelemetry's advice for gen_ai.client.token.usage (powers of 4). */
export const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304]

export const UPSTREAM_STATES: readonly UpstreamState[] = ['healthy', 'unhealthy', 'ejected', 'cooling-down', 'draining']

/** Counters kept by background components, read at scrape time. */
export interface UsageRecorderStats {
  readonly buffered: number
  readonly written: number
  readonly dropped: number
  readonly failedWrites: number
}
export interface TraceExporterStats {
  readonly exported: number
  readonly dropped: number
  readonly failedExports: number
}

export interface MetricsSources {
  /** The live snapshot (upstream states, in flight, queues). */
  snapshot(): Snapshot
  usage?(): UsageRecorderStats | undefined
  traces?(): TraceExporterStats | undefined
  /** Access log lines dropped because the destination could not keep up. */
  accessLogDropped?(): number | undefined
  /** HTTP/2 connections closed for too many premature stream resets. */
  http2PrematureResetCloses?(): number | undefined
  /** Upstreams still finishing requests after they left their pool (drained, removed), with their model. */
  retiring?(): ReadonlyMap<Upstream, { readonly model: string }>
}

/** A counter whose value lives elsewhere (a component's own count), copied in at scrape time. */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number | undefined): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read()
      this.reset()
      if (v !== undefined) this.inc(v)
    },
  })
}

export class Metrics {
  readonly registry = new Registry()

  // Per-request series: bound children (bound-metrics.ts), the hot path's few additions.
  readonly requests: BoundCounter
  readonly requestDuration: BoundHistogram
  readonly timeToFirstToken: BoundHistogram
  readonly timePerOutputToken: BoundHistogram
  readonly tokenUsage: BoundHistogram
  readonly retries: Counter<'gen_ai_request_model'>
  readonly fallbacks: Counter<'gen_ai_request_model' | 'gen_ai_response_model'>
  readonly rateLimited: Counter<'gen_ai_request_model' | 'reason'>
  readonly configReloads: Counter<'result'>

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry]
    const labelNames = REQUEST_LABELS
    const r = this.registry
    this.requests = new BoundCounter(
      'switchyard_requests_total',
      'Requests to the model endpoints, by model, upstream, status class (499 counts as 4xx) and error type',
      [...labelNames, 'status_class', 'error_type'],
      r
    )
    this.requestDuration = new BoundHistogram(
      'gen_ai_server_request_duration_seconds',
      'Time from the request to the end of its response (gen_ai.server.request.duration)',
      labelNames,
      DURATION_BUCKETS,
      r
    )
    this.timeToFirstToken = new BoundHistogram(
      'gen_ai_server_time_to_first_token_seconds',
      'Time from the request to the first response byte of a successful stream (gen_ai.server.time_to_first_token)',
      labelNames,
      TTFT_BUCKETS,
      r
    )
    this.timePerOutputToken = new BoundHistogram(
      'gen_ai_server_time_per_output_token_seconds',
      'Time per output token after the first, for successful streams (gen_ai.server.time_per_output_token)',
      labelNames,
      TPOT_BUCKETS,
      r
    )
    this.tokenUsage = new BoundHistogram(
      'gen_ai_client_token_usage',
      'Tokens per request: gen_ai_token_type="input" (prompt) or "output" (completion) (gen_ai.client.token.usage)',
      [...labelNames, 'gen_ai_token_type'],
      TOKEN_BUCKETS,
      r
    )
    this.retries = new Counter({
      name: 'switchyard_retries_total',
      help: 'Attempts made again on another upstream after a failure before the first byte',
      labelNames: ['gen_ai_request_model'],
      registers,
    })
    this.fallbacks = new Counter({
      name: 'switchyard_fallbacks_total',
      help: 'Requests served by a fallback model instead of the one asked for',
      labelNames: ['gen_ai_request_model', 'gen_ai_response_model'],
      registers,
    })
    this.rateLimited = new Counter({
      name: 'switchyard_rate_limited_total',
      help: "Requests the gateway's own limits refused with 429 (reason: rate_limit_exceeded or insufficient_quota)",
      labelNames: ['gen_ai_request_model', 'reason'],
      registers,
    })
    this.configReloads = new Counter({
      name: 'switchyard_config_reloads_total',
      help: 'Config reloads by result (success, failure)',
      labelNames: ['result'],
      registers,
    })
    this.defineStateGauges()
    this.defineBackgroundCounters()
    collectDefaultMetrics({ register: this.registry })
  }

  /** The text exposition for GET /metrics. */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  private defineStateGauges(): void {
    const sources = this.sources
    const registers = [this.registry]
    new Gauge({
      name: 'switchyard_upstream_state',
      help: 'Upstream state: 1 for the state it is in (healthy, unhealthy, ejected, cooling-down, draining), else 0',
      labelNames: ['model', 'upstream', 'state'],
      registers,
      collect() {
        this.reset()
        const now = Date.now()
        const routes = sources.snapshot().routes
        for (const route of routes.routes) {
          for (const u of route.pool.members) {
            const state = u.state(now)
            for (const s of UPSTREAM_STATES) this.set({ model: route.name, upstream: u.id, state: s }, s === state ? 1 : 0)
          }
        }
        // Draining after they left the pool: shown as draining until their last request ends
        // (unless a member of the same name has taken the series over).
        for (const [u, { model }] of sources.retiring?.() ?? []) {
          if (routes.resolve(model)?.pool.members.some((m) => m.id === u.id) === true) continue
          for (const s of UPSTREAM_STATES) this.set({ model, upstream: u.id, state: s }, s === 'draining' ? 1 : 0)
        }
      },
    })
    new Gauge({
      name: 'switchyard_upstream_requests_in_flight',
      help: 'Requests in progress on each upstream',
      labelNames: ['model', 'upstream'],
      registers,
      collect() {
        this.reset()
        for (const route of sources.snapshot().routes.routes) {
          for (const u of route.pool.members) this.set({ model: route.name, upstream: u.id }, u.inflight)
        }
        // Requests still running on upstreams that left their pool count too (added to a
        // member of the same name, if one came back meanwhile).
        for (const [u, { model }] of sources.retiring?.() ?? []) this.inc({ model, upstream: u.id }, u.inflight)
      },
    })
    new Gauge({
      name: 'switchyard_upstream_latency_ewma_seconds',
      help: "Peak-EWMA of each upstream's time to first byte (what p2c-ewma balances on)",
      labelNames: ['model', 'upstream'],
      registers,
      collect() {
        this.reset()
        for (const route of sources.snapshot().routes.routes) {
          for (const u of route.pool.members) this.set({ model: route.name, upstream: u.id }, u.latencyEwma / 1000)
        }
      },
    })
    new Gauge({
      name: 'switchyard_queue_depth',
      help: 'Requests waiting for a free upstream in each model pool',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset()
        for (const route of sources.snapshot().routes.routes) this.set({ model: route.name }, route.queue.length)
      },
    })
  }

  private defineBackgroundCounters(): void {
    const { registry, sources } = this
    new Gauge({
      name: 'switchyard_usage_buffered_records',
      help: 'Usage rows waiting to be written to the usage store',
      registers: [registry],
      collect() {
        this.set(sources.usage?.()?.buffered ?? 0)
      },
    })
    mirroredCounter(registry, 'switchyard_usage_records_written_total', 'Usage rows written to the usage store', () => sources.usage?.()?.written)
    mirroredCounter(registry, 'switchyard_usage_records_dropped_total', 'Usage rows dropped because the buffer was full (the store was down or slow too long)', () => sources.usage?.()?.dropped)
    mirroredCounter(registry, 'switchyard_usage_write_failures_total', 'Usage store writes that failed (the rows stay buffered and are retried)', () => sources.usage?.()?.failedWrites)
    mirroredCounter(registry, 'switchyard_access_log_lines_dropped_total', 'Access log lines dropped because the file or pipe could not keep up', () => sources.accessLogDropped?.())
    mirroredCounter(
      registry,
      'switchyard_http2_premature_reset_closes_total',
      'HTTP/2 connections closed with GOAWAY because their client reset too many streams before an answer (rapid reset, CVE-2023-44487)',
      () => sources.http2PrematureResetCloses?.()
    )
    mirroredCounter(registry, 'switchyard_trace_spans_exported_total', 'Spans delivered to the OTLP endpoint', () => sources.traces?.()?.exported)
    mirroredCounter(registry, 'switchyard_trace_spans_dropped_total', 'Spans dropped because the export queue was full', () => sources.traces?.()?.dropped)
    mirroredCounter(registry, 'switchyard_trace_export_failures_total', 'OTLP export batches that failed', () => sources.traces?.()?.failedExports)
  }
}

