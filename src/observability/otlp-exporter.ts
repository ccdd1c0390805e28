// OTLP/HTTP JSON span export in batches (OpenTelemetry's BatchSpanProcessor semantics:
// a bounded queue, a schedule delay, one export at a time), configured by the standard
// OTEL_* environment variables. No OpenTelemetry SDK: two spans per request and this
// encoder are all the gateway needs, and the SDK's context propagation would cost every request.
import { request } from 'undici'
import type { TracingConfig } from '../config/observability.js'
import type { Logger } from './logger.js'
import type { AttributeValue, SpanRecord } from './tracing.js'

/** Where finished spans go (the exporter, or a test's collector). */
export interface SpanSink {
  add(spans: readonly SpanRecord[]): void
}

export interface OtlpExporterOptions {
  /** Full URL spans are POSTed to, e.g. http://collector:4318/v1/traces. */
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly resource: Readonly<Record<string, string>>
  readonly timeoutMs: number
  readonly scheduleDelayMs: number
  readonly maxQueueSize: number
  readonly maxBatchSize: number
}

type Env = Readonly<Record<string, string | undefined>>

/** `k=v,k2=v2` (values URL-encoded), as OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES write them. */
export function parseKeyValues(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (text === undefined) return out
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=')
    if (eq <= 0) continue
    try {
      out[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim())
    } catch {
      // A malformed escape: skip the pair rather than refuse to start.
    }
  }
  return out
}

function intEnv(env: Env, names: readonly string[], fallback: number): number {
  for (const name of names) {
    const n = Number(env[name])
    if (env[name] !== undefined && env[name] !== '' && Number.isFinite(n) && n >= 0) return n
  }
  return fallback
}

function tracesUrl(base: string): string {
  const trimmed = base.replace(/\/+$/, '')
  return trimmed.endsWith('/v1/traces') ? trimmed : `${trimmed}/v1/traces`
}

/**
 * The exporter settings from the config and the standard environment variables, or
 * undefined when tracing is off (no endpoint anywhere, or OTEL_SDK_DISABLED / OTEL_TRACES_EXPORTER=none).
 */
export function resolveExporterOptions(config: TracingConfig | undefined, env: Env = process.env): OtlpExporterOptions | undefined {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return undefined
  let url: string | undefined
  if (config !== undefined && config.otlp_endpoint !== '') url = tracesUrl(config.otlp_endpoint)
  else if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  else if (env.OTEL_EXPORTER_OTLP_ENDPOINT) url = tracesUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT)
  if (url === undefined) return undefined
  const resource = parseKeyValues(env.OTEL_RESOURCE_ATTRIBUTES)
  resource['service.name'] = config?.service_name ?? env.OTEL_SERVICE_NAME ?? resource['service.name'] ?? 'switchyard'
  return {
    url,
    headers: {
      ...parseKeyValues(env.OTEL_EXPORTER_OTLP_HEADERS),
      ...parseKeyValues(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
      ...config?.headers,
    },
    resource,
    timeoutMs: intEnv(env, ['OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT'], 10_000),
    scheduleDelayMs: intEnv(env, ['OTEL_BSP_SCHEDULE_DELAY'], 5_000),
    maxQueueSize: Math.max(1, intEnv(env, ['OTEL_BSP_MAX_QUEUE_SIZE'], 2_048)),
    maxBatchSize: Math.max(1, intEnv(env, ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE'], 512)),
  }
}

const KIND = { server: 2, client: 3 } as const

function attributes(attrs: Readonly<Record<string, AttributeValue | undefined>>): object[] {
  const out: object[] = []
  for (const key in attrs) {
    const v = attrs[key]
    if (v === undefined) continue
    const value =
      typeof v === 'string'
        ? { stringValue: v }
        : typeof v === 'boolean'
          ? { boolValue: v }
          : Number.isInteger(v)
            ? { intValue: String(v) }
            : { doubleValue: v }
    out.push({ key, value })
  }
  return out
}

/** Epoch ms (fractional) → unix nanoseconds as a decimal string, as OTLP/JSON writes int64. */
function nanos(ms: number): string {
  return (BigInt(Math.round(ms * 1000)) * 1000n).toString()
}

/** One OTLP/JSON ExportTraceServiceRequest. */
export function encodeSpans(spans: readonly SpanRecord[], resource: Readonly<Record<string, string>>): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: attributes(resource) },
        scopeSpans: [
          {
            scope: { name: 'switchyard' },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId !== undefined ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: KIND[s.kind],
              startTimeUnixNano: nanos(s.startMs),
              endTimeUnixNano: nanos(s.endMs),
              attributes: attributes(s.attributes),
              status: { code: s.error ? 2 : 0 },
            })),
          },
        ],
      },
    ],
  })
}

export class OtlpExporter implements SpanSink {
  /** Spans refused because the queue was full. */
  dropped = 0
  /** Batches that could not be delivered (their spans are dropped, as the SDK does). */
  failedExports = 0
  exported = 0
  private queue: SpanRecord[] = []
  private timer: NodeJS.Timeout | undefined
  private exporting: Promise<void> | undefined
  private lastWarn = 0

  constructor(
    readonly options: OtlpExporterOptions,
    private readonly log: Logger
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), Math.max(10, this.options.scheduleDelayMs)).unref()
  }

  add(spans: readonly SpanRecord[]): void {
    const room = this.options.maxQueueSize - this.queue.length
    if (room < spans.length) {
      this.dropped += spans.length - Math.max(0, room)
      this.warn('trace queue full; spans dropped', { dropped_total: this.dropped })
      if (room <= 0) return
      spans = spans.slice(0, room)
    }
    for (let i = 0; i < spans.length; i++) this.queue.push(spans[i]!)
    if (this.queue.length >= this.options.maxBatchSize) setImmediate(() => this.kick())
  }

  /** Exports everything queued (on shutdown), within the export timeout per batch. */
  async flush(): Promise<void> {
    while (this.exporting !== undefined) await this.exporting
    while (this.queue.length > 0) await this.exportBatch()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }

  private kick(): void {
    if (this.exporting !== undefined || this.queue.length === 0) return
    this.exporting = this.exportAll().finally(() => (this.exporting = undefined))
  }

  private async exportAll(): Promise<void> {
    while (this.queue.length > 0) await this.exportBatch()
  }

  private async exportBatch(): Promise<void> {
    const batch = this.queue.length <= this.options.maxBatchSize ? this.queue : this.queue.slice(0, this.options.maxBatchSize)
    this.queue = batch === this.queue ? [] : this.queue.slice(batch.length)
    try {
      const res = await request(this.options.url, {
        method: 'POST',
        headers: { ...this.options.headers, 'content-type': 'application/json' },
        body: encodeSpans(batch, this.options.resource),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      })
      await res.body.dump()
      if (res.statusCode >= 300) throw new Error(`collector answered ${res.statusCode}`)
      this.exported += batch.length
    } catch (err) {
      this.failedExports++
      this.warn('trace export failed; batch dropped', { url: this.options.url, spans: batch.length, err: String(err) })
    }
  }

  /** At most one warning per 10 s: an outage must not flood the process log. */
  private warn(msg: string, fields: Record<string, unknown>): void {
    const now = Date.now()
    if (now - this.lastWarn < 10_000) return
    this.lastWarn = now
    this.log.warn(fields, msg)
  }
}
