// Composition root: builds everything from a Config, swaps snapshots on reload, and owns
// the start/stop of every listener and background task.
import type { AddressInfo } from 'node:net'
import { AdminServer } from './admin/server.js'
import type { Config } from './config/schema.js'
import { buildSnapshot, type Snapshot } from './config/snapshot.js'
import { accessLogHook, type AccessLogSink } from './observability/access-log.js'
import { LineWriter } from './observability/line-writer.js'
import { createLogger, flushLogger, type Logger } from './observability/logger.js'
import { Metrics } from './observability/metrics.js'
import { OtlpExporter, resolveExporterOptions } from './observability/otlp-exporter.js'
import { RequestMetrics } from './observability/request-metrics.js'
import { encodingFor, loadEncoding } from './observability/token-estimate.js'
import { Tracer } from './observability/tracing.js'
import { usageFallbackHook } from './observability/usage-fallback.js'
import { UsageRecorder } from './observability/usage-recorder.js'
import { openUsageStore } from './observability/usage-store.js'
import type { Upstream } from './routing/upstream.js'
import { createHandler, type HandlerState } from './server/handler.js'
import { emptyHooks, type Hooks } from './server/hooks.js'
import { Listener } from './server/listener.js'

export interface GatewayOptions {
  /** Process log (startup, reloads, warnings). Defaults to stderr at the configured level. */
  readonly logger?: Logger
  /** Access log; defaults to what `logging.access_log` says. */
  readonly accessLog?: AccessLogSink | null
}

export class Gateway implements HandlerState {
  snapshot: Snapshot
  readonly hooks: Hooks = emptyHooks()
  draining = false
  readonly log: Logger
  private readonly accessLog: AccessLogSink | null
  private readonly accessLogWriter: LineWriter | undefined
  private readonly listener: Listener
  /** The admin port: admin API, metrics, dashboard. Features register their routes on it. */
  readonly admin: AdminServer
  /** Prometheus metrics (undefined when `metrics.enabled` is false); served at the admin port's /metrics. */
  readonly metrics: Metrics | undefined
  /** The usage recorder, once started (undefined when `usage.enabled` is false). */
  usage: UsageRecorder | undefined
  /** The OTLP span exporter when tracing is on. */
  readonly traceExporter: OtlpExporter | undefined
  private address: AddressInfo | undefined
  private flushTimer: NodeJS.Timeout | undefined

  constructor(config: Config, options: GatewayOptions = {}) {
    this.log = options.logger ?? createLogger({ level: config.logging.level })
    this.accessLogWriter = options.accessLog === undefined ? openAccessLog(config) : undefined
    this.accessLog = options.accessLog !== undefined ? options.accessLog : (this.accessLogWriter ?? null)
    this.snapshot = buildSnapshot(config).snapshot
    const s = config.server
    this.admin = new AdminServer({ host: config.admin.host, port: config.admin.port, token: config.admin.token, log: this.log })
    // Reporting hooks, in order: usage is completed first so every reporter sees the same figures.
    this.hooks.onResponse.push(usageFallbackHook)
    if (this.accessLog !== null) this.hooks.onResponse.push(accessLogHook(this.accessLog))
    if (config.metrics.enabled) {
      const metrics = new Metrics({
        snapshot: () => this.snapshot,
        usage: () => this.usage,
        traces: () => this.traceExporter,
        accessLogDropped: () => this.accessLogWriter?.dropped,
      })
      this.metrics = metrics
      this.hooks.onResponse.push(new RequestMetrics(metrics).record)
      this.admin.route('GET', '/metrics', async ({ res }) => {
        const text = await metrics.text()
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' })
        res.end(text)
        return undefined
      }, { public: true })
    }
    const exporterOptions = resolveExporterOptions(config.tracing)
    if (exporterOptions !== undefined) {
      this.traceExporter = new OtlpExporter(exporterOptions, this.log)
      const tracer = new Tracer({ sink: this.traceExporter, sampleRatio: config.tracing?.sample_ratio ?? 1 })
      // First on both ends: the span covers every other hook, including ones that refuse.
      this.hooks.onRequest.unshift(tracer.begin)
      this.hooks.onResponse.push(tracer.end)
    }
    this.listener = new Listener(createHandler(() => this), {
      host: s.host,
      port: s.port,
      keepAliveTimeout: s.keep_alive_timeout,
    })
  }

  get config(): Config {
    return this.snapshot.config
  }

  /** The data-plane URL once started, e.g. http://127.0.0.1:8080. */
  get url(): string {
    if (this.address === undefined) throw new Error('gateway not started')
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address
    return `http://${host}:${this.address.port}`
  }

  async start(): Promise<void> {
    preloadTokenizers(this.config)
    const usage = this.config.usage
    if (usage.enabled) {
      this.usage = new UsageRecorder(await openUsageStore(usage), usage, this.log)
      this.usage.start()
      this.hooks.onResponse.push(this.usage.hook)
    }
    this.traceExporter?.start()
    this.address = await this.listener.listen()
    await this.admin.start()
    // The access log is written in batches; a quiet gateway still shows its lines within a second.
    const writer = this.accessLogWriter
    if (writer !== undefined) this.flushTimer = setInterval(() => writer.flush(), 1000).unref()
    this.log.info({ url: this.url, admin_url: this.admin.url, models: this.snapshot.routes.names }, 'switchyard listening')
  }

  /**
   * Swaps in a new config for new requests; in-flight requests finish on the snapshot they
   * started with, and upstreams that are gone are closed once their requests end.
   */
  apply(config: Config): void {
    const { snapshot, removed } = buildSnapshot(config, this.snapshot)
    this.snapshot = snapshot
    this.metrics?.configReloads.inc({ result: 'success' })
    for (const u of removed) void retire(u, this.log)
    this.log.info({ models: snapshot.routes.names, removed: removed.length }, 'config applied')
  }

  /** Graceful stop: no new requests, in-flight ones run up to the drain timeout. */
  async stop(drainMs = this.config.server.drain_timeout): Promise<void> {
    if (this.draining) return
    this.draining = true
    this.log.info({ drain_ms: drainMs }, 'draining')
    const { cut } = await this.listener.close(drainMs)
    clearInterval(this.flushTimer)
    await Promise.all([this.usage?.stop(), this.traceExporter?.stop(), this.accessLogWriter?.end()])
    await this.admin.close()
    if (cut) this.log.warn('drain timeout reached; remaining connections were closed')
    await Promise.all(this.snapshot.upstreams.map((u) => u.destroy()))
    flushLogger(this.log)
  }
}

async function retire(u: Upstream, log: Logger): Promise<void> {
  try {
    await u.close()
  } catch (err) {
    log.warn({ upstream: u.id, err: String(err) }, 'closing a removed upstream failed')
  }
}

/** Loads the tokenizer of each configured model it knows now, not on a request. */
function preloadTokenizers(config: Config): void {
  for (const m of config.models) {
    for (const name of [m.name, ...m.upstreams.map((u) => u.model)]) {
      const encoding = encodingFor(name)
      if (encoding !== undefined) loadEncoding(encoding)
    }
  }
}

function openAccessLog(config: Config): LineWriter | undefined {
  const target = config.logging.access_log
  if (target === 'off') return undefined
  return LineWriter.open(target === 'stdout' ? 1 : target === 'stderr' ? 2 : target)
}
