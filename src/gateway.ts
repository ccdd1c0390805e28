// Composition root: builds everything from a Config, swaps snapshots on reload, and owns
// the start/stop of every listener and background task.
import type { AddressInfo } from 'node:net'
import { registerConfigRoutes } from './admin/config-api.js'
import { registerDashboard } from './admin/dashboard.js'
import type { EventFeed } from './admin/events.js'
import { AdminServer } from './admin/server.js'
import { registerUpstreamRoutes } from './admin/upstreams-api.js'
import { Gatekeeper } from './auth/gatekeeper.js'
import { ConfigError } from './config/load.js'
import { ConfigReloader, type ReloaderOptions } from './config/reload.js'
import type { Config, ModelConfig } from './config/schema.js'
import { buildSnapshot, type Snapshot } from './config/snapshot.js'
import { filterBodyHook, filterRawHook } from './filters/pipeline.js'
import { HealthSupervisor } from './health/supervisor.js'
import { DnsDiscovery, type Resolver } from './routing/dns-discovery.js'
import { Membership } from './routing/membership.js'
import { accessLogHook, type AccessLogSink } from './observability/access-log.js'
import { LineWriter } from './observability/line-writer.js'
import { LiveStats, liveStatsHook } from './observability/live-stats.js'
import { createLogger, flushLogger, type Logger } from './observability/logger.js'
import { Metrics } from './observability/metrics.js'
import { OtlpExporter, resolveExporterOptions } from './observability/otlp-exporter.js'
import { RequestMetrics } from './observability/request-metrics.js'
import { TokenEstimator } from './tokens/token-estimate.js'
import { Tracer } from './observability/tracing.js'
import { usageFallbackHook } from './observability/usage-fallback.js'
import { UsageRecorder } from './observability/usage-recorder.js'
import { openUsageStore } from './observability/usage-store.js'
import type { Upstream } from './routing/upstream.js'
import { createHandler, type HandlerState, type ReadinessCheck } from './server/handler.js'
import { emptyHooks, type Hooks } from './server/hooks.js'
import { Listener, type EdgeLimits } from './server/listener.js'
import { flushDoneHooks } from './server/done-hooks.js'
import { LiveRequests } from './server/live-requests.js'
import { RedirectListener } from './server/redirect.js'
import { listenAs } from './server/listen-error.js'
import { readTlsMaterial } from './server/tls.js'
import { sqlitePathIssue } from './util/sqlite-path.js'

export interface GatewayOptions {
  /** Process log (startup, reloads, warnings). Defaults to stderr at the configured level. */
  readonly logger?: Logger
  /** Access log; defaults to what `logging.access_log` says. */
  readonly accessLog?: AccessLogSink | null
  /** The file the config came from: turns on hot reload (file watch, admin reload). */
  readonly configFile?: string
  /** How the file is reloaded (the CLI adds `signal: 'SIGHUP'`). */
  readonly reload?: ReloaderOptions
  /** DNS discovery's resolver; defaults to the system's. */
  readonly resolver?: Resolver
}

/** How long start, a reload or an admin add waits for the first DNS answers of new hosts. */
const DISCOVERY_PRIME_MS = 5_000

export class Gateway implements HandlerState {
  snapshot: Snapshot
  readonly hooks: Hooks = emptyHooks()
  draining = false
  /** Requests in progress (the handler keeps it), for the drain deadline. */
  readonly live = new LiveRequests()
  /** What /readyz requires besides the models' upstreams (features add to it). */
  readonly readiness: ReadinessCheck[] = []
  readonly log: Logger
  private readonly accessLog: AccessLogSink | null
  private readonly accessLogWriter: LineWriter | undefined
  private readonly listener: Listener
  /** Plain-HTTP listener redirecting to HTTPS (server.redirect_http_port). */
  private readonly redirect: RedirectListener | undefined
  /** The admin port: admin API, metrics, dashboard. Features register their routes on it. */
  readonly admin: AdminServer
  /** The live dashboard's collector (fed per request) and its event stream. */
  readonly liveStats = new LiveStats()
  private readonly dashboardFeed: EventFeed
  /** Active health checks of the live snapshot's pools. */
  readonly health: HealthSupervisor
  /** Prometheus metrics (undefined when `metrics.enabled` is false); served at the admin port's /metrics. */
  readonly metrics: Metrics | undefined
  /** The usage recorder, once started (undefined when `usage.enabled` is false). */
  usage: UsageRecorder | undefined
  /** The OTLP span exporter when tracing is on. */
  readonly traceExporter: OtlpExporter | undefined
  /** Keys, allow-lists, rate limits and budgets. */
  readonly gatekeeper: Gatekeeper
  private address: AddressInfo | undefined
  private flushTimer: NodeJS.Timeout | undefined
  /** Run-time pool changes (admin API, DNS discovery) that survive reloads. */
  readonly membership: Membership
  private readonly discovery: DnsDiscovery
  /** Hot reload of the config file; undefined for a config built in code. */
  readonly reloader: ConfigReloader | undefined
  private readonly plan = (model: ModelConfig) => this.membership.plan(model)
  /** Prompt-token estimates, for token limits and for usage an upstream did not report. */
  private readonly estimator: TokenEstimator

  constructor(config: Config, options: GatewayOptions = {}) {
    // The usage store opens in start(), in a worker: a path SQLite cannot use is refused here,
    // as store.sqlite is, instead of surfacing as writes retried forever.
    const usageIssue = config.usage.enabled && config.usage.postgres === undefined ? sqlitePathIssue(config.usage.sqlite, 'usage.sqlite') : undefined
    if (usageIssue !== undefined) throw new ConfigError('(config)', [usageIssue])
    this.log = options.logger ?? createLogger({ level: config.logging.level })
    this.estimator = new TokenEstimator(this.log)
    this.accessLogWriter = options.accessLog === undefined ? openAccessLog(config) : undefined
    this.accessLog = options.accessLog !== undefined ? options.accessLog : (this.accessLogWriter ?? null)
    this.discovery = new DnsDiscovery({
      resolver: options.resolver,
      log: this.log,
      onChange: (host) => this.refresh(`DNS answer for ${host} changed`),
    })
    this.membership = new Membership(this.discovery)
    this.health = new HealthSupervisor({ log: this.log })
    this.snapshot = buildSnapshot(config, undefined, this.plan).snapshot
    // Filters first among preHandler hooks: cheap refusals before any limit's round trip, and
    // limits that estimate tokens see max_tokens as capped.
    this.hooks.preParsing.push(filterRawHook)
    this.hooks.preHandler.push(filterBodyHook)
    const s = config.server
    this.admin = new AdminServer({ host: config.admin.host, port: config.admin.port, token: config.admin.token, log: this.log })
    // Reporting hooks, in order: usage is completed first so every reporter sees the same figures.
    this.hooks.onResponse.push(usageFallbackHook(this.estimator))
    if (this.accessLog !== null) this.hooks.onResponse.push(accessLogHook(this.accessLog))
    if (config.metrics.enabled) {
      const metrics = new Metrics({
        snapshot: () => this.snapshot,
        usage: () => this.usage,
        traces: () => this.traceExporter,
        accessLogDropped: () => this.accessLogWriter?.dropped,
        http2PrematureResetCloses: () => this.listener.prematureResetCloses,
        retiring: () => this.membership.retiring,
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
    // Keys and limits: after the filters (token estimates see a capped max_tokens) and after
    // the usage fallback among onResponse hooks (settlement sees the same figures).
    this.gatekeeper = new Gatekeeper(config, { log: this.log, hooks: this.hooks, readiness: this.readiness, admin: this.admin, config: () => this.config, estimator: this.estimator })
    this.hooks.onResponse.push(liveStatsHook(this.liveStats))
    this.dashboardFeed = registerDashboard(this.admin, { snapshot: () => this.snapshot, stats: this.liveStats })
    const limits = edgeLimits(this.snapshot)
    this.listener = new Listener(createHandler(() => this), {
      host: s.host,
      port: s.port,
      tls: s.tls === undefined ? undefined : readTlsMaterial(s.tls),
      limits,
      log: this.log,
    })
    this.redirect =
      s.redirect_http_port === undefined ? undefined : new RedirectListener({ host: s.host, port: s.redirect_http_port, limits })
    this.reloader = options.configFile === undefined ? undefined : new ConfigReloader(this, options.configFile, options.reload)
    registerUpstreamRoutes(this.admin, this)
    registerConfigRoutes(this.admin, this)
  }

  get config(): Config {
    return this.snapshot.config
  }

  /** The data-plane URL once started, e.g. http://127.0.0.1:8080. */
  get url(): string {
    if (this.address === undefined) throw new Error('gateway not started')
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address
    return `${this.listener.secure ? 'https' : 'http'}://${host}:${this.address.port}`
  }

  /** The HTTP → HTTPS redirect listener's URL, when there is one. */
  get redirectUrl(): string | undefined {
    return this.redirect?.url
  }

  async start(): Promise<void> {
    // Discovered pools get their endpoints before the first request.
    await this.prime(this.config)
    this.discovery.track(this.membership.hosts(this.config))
    // Vocabularies of the configured models load before the first request (tens of MB each:
    // only those needed); models added by a reload load on first use, by characters until then.
    await this.estimator.preload(this.config.models)
    const usage = this.config.usage
    if (usage.enabled) {
      this.usage = new UsageRecorder(await openUsageStore(usage), usage, this.log)
      this.usage.start()
      this.hooks.onResponse.push(this.usage.hook)
    }
    this.traceExporter?.start()
    await this.gatekeeper.start()
    const s = this.config.server
    const admin = this.config.admin
    this.address = await listenAs('server.port', s.host, s.port, () => this.listener.listen())
    const redirect = this.redirect
    if (redirect !== undefined) {
      redirect.httpsPort = this.address.port
      await listenAs('server.redirect_http_port', s.host, s.redirect_http_port ?? 0, () => redirect.listen())
    }
    await listenAs('admin.port', admin.host, admin.port, () => this.admin.start())
    await this.reloader?.start()
    this.health.start(this.snapshot)
    // The access log is written in batches; a quiet gateway still shows its lines within a second.
    const writer = this.accessLogWriter
    if (writer !== undefined) this.flushTimer = setInterval(() => writer.flush(), 1000).unref()
    this.log.info(
      { url: this.url, admin_url: this.admin.url, redirect_url: this.redirect?.url, models: this.snapshot.routes.names },
      'switchyard listening'
    )
  }

  /**
   * Swaps in a new config for new requests; in-flight requests finish on the snapshot they
   * started with, and upstreams that are gone drain, then close. Run-time changes are
   * re-applied (routing/membership.ts says which survive).
   */
  apply(config: Config): void {
    const previous = this.config
    const removed = this.swap(config)
    this.gatekeeper.apply(config)
    const limits = edgeLimits(this.snapshot)
    this.listener.update(limits)
    this.redirect?.update(limits)
    // Live settings; listener addresses wait for a restart (config/reload.ts reports them).
    if (config.logging.level !== previous.logging.level) this.log.level = config.logging.level
    if (config.admin.token !== previous.admin.token) this.admin.setToken(config.admin.token)
    // Listener addresses and TLS on or off wait for a restart: the reloader says which,
    // against the config the process started with (config/reload.ts). Renewed certificate
    // files apply now, to an HTTPS listener, whatever else waits.
    if (config.server.tls !== undefined) this.reloadTls()
    this.metrics?.configReloads.inc({ result: 'success' })
    this.log.info({ models: this.snapshot.routes.names, removed }, 'config applied')
  }

  reloadRejected(): void {
    this.metrics?.configReloads.inc({ result: 'failure' })
  }

  /** Rebuilds the pools after a run-time change (admin API, DNS): same config, new members. */
  refresh(reason: string): void {
    const removed = this.swap(this.config)
    this.log.info({ reason, upstreams: this.snapshot.upstreams.length, removed }, 'pools rebuilt')
  }

  /** First DNS answers for discovery hosts of `config` not resolved yet (bounded wait). */
  prime(config: Config): Promise<void> {
    return this.discovery.prime(this.membership.hosts(config).keys(), DISCOVERY_PRIME_MS)
  }

  addresses(host: string): readonly string[] | undefined {
    return this.discovery.addresses(host)
  }

  /** One snapshot swap; returns how many upstreams left (they drain in the background). */
  private swap(config: Config): number {
    for (const change of this.membership.retain(config)) this.log.warn({ change }, 'run-time change dropped by the new config')
    const previous = this.snapshot
    const { snapshot, removed } = buildSnapshot(config, previous, this.plan)
    this.snapshot = snapshot
    // Added members or raised limits may have room for requests waiting in a queue.
    for (const r of snapshot.routes.routes) r.queue.wake()
    this.health.apply(snapshot)
    if (removed.length > 0) {
      const modelOf = new Map<Upstream, string>()
      for (const r of previous.routes.routes) for (const u of r.pool.members) modelOf.set(u, r.name)
      for (const u of removed) void this.membership.retire(u, modelOf.get(u) ?? '', this.log)
    }
    this.discovery.track(this.membership.hosts(config))
    return removed.length
  }

  /**
   * Reads the configured certificate and key again and uses them for new TLS handshakes
   * (renewed certificates without a restart). A file that cannot be read, or a key that
   * does not match, is logged and the current certificate stays. Returns whether it changed.
   */
  reloadTls(): boolean {
    const tls = this.config.server.tls
    if (tls === undefined || !this.listener.secure) return false
    try {
      this.listener.setTls(readTlsMaterial(tls))
      this.log.info({ cert: tls.cert }, 'TLS certificate reloaded')
      return true
    } catch (err) {
      const issues = err instanceof ConfigError ? err.issues : [String(err)]
      this.log.error({ issues }, 'TLS reload failed; the current certificate stays in use')
      return false
    }
  }

  /** Graceful stop: no new requests, in-flight ones run up to the drain timeout. */
  async stop(drainMs = this.config.server.drain_timeout): Promise<void> {
    if (this.draining) return
    this.draining = true
    this.log.info({ drain_ms: drainMs }, 'draining')
    this.reloader?.close()
    this.discovery.stop()
    // A moment before the listener cuts what is left, requests still running end in words: an
    // SSE error event or a 503, never a connection reset the client cannot tell from a fault.
    const lead = Math.min(DRAIN_NOTICE_MS, drainMs / 10)
    const notice = setTimeout(endLive, Math.max(0, drainMs - lead), this)
    const { cut } = await this.listener.close(drainMs)
    clearTimeout(notice)
    await this.redirect?.close()
    await this.health.stop()
    clearInterval(this.flushTimer)
    this.dashboardFeed.close()
    // The requests the drain ended are reported before the reporters close.
    flushDoneHooks()
    await Promise.all([this.usage?.stop(), this.traceExporter?.stop(), this.accessLogWriter?.end()])
    await this.admin.close()
    await this.gatekeeper.close()
    if (cut) this.log.warn('drain timeout reached; remaining connections were closed')
    const all = [...this.snapshot.upstreams, ...this.membership.retiring.keys()]
    await Promise.all(all.map((u) => u.destroy().catch(() => undefined)))
    flushLogger(this.log)
  }
}

/** How long before the drain deadline's cut the requests still running are told (at most). */
const DRAIN_NOTICE_MS = 100

function endLive(gateway: Gateway): void {
  // Queued requests first (they have no attempt to end): ending an attempt frees a slot,
  // which would wake a waiter into a new attempt past this point.
  let ended = 0
  for (const route of gateway.snapshot.routes.routes) ended += route.queue.shutdown()
  ended += gateway.live.shutdown()
  if (ended > 0) gateway.log.warn({ requests: ended }, 'drain timeout reached; requests still running were ended')
}

/** The listener limits a snapshot asks for. */
function edgeLimits(snapshot: Snapshot): EdgeLimits {
  const s = snapshot.config.server
  const edge = snapshot.edge
  return {
    keepAliveTimeout: s.keep_alive_timeout,
    headersTimeout: s.headers_timeout,
    requestTimeout: s.request_timeout,
    maxHeaderSize: s.max_header_size,
    maxConnections: s.max_connections,
    maxConnectionsPerIp: s.max_connections_per_ip,
    http2MaxStreams: s.http2_max_streams,
    http2PrematureResetStreams: s.http2_premature_reset_streams,
    http2PrematureResetLifetime: s.http2_premature_reset_lifetime,
    exempt: (ip) => edge.isTrusted(ip),
    clientIpv6Prefix: s.client_ipv6_prefix,
  }
}

function openAccessLog(config: Config): LineWriter | undefined {
  const target = config.logging.access_log
  if (target === 'off') return undefined
  if (target === 'stdout' || target === 'stderr') return LineWriter.open(target === 'stdout' ? 1 : 2)
  try {
    return LineWriter.open(target)
  } catch (err) {
    // A path that cannot be opened is the config's fault: one line at start, as for TLS files.
    const why = (err as NodeJS.ErrnoException).code ?? String(err)
    throw new ConfigError('logging.access_log', [`logging.access_log: cannot open ${target} (${why})`])
  }
}
