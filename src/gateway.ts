// Composition root: builds everything from a Config, swaps snapshots on reload, and owns
// the start/stop of every listener and background task.
import type { AddressInfo } from 'node:net'
import { registerDashboard } from './admin/dashboard.js'
import type { EventFeed } from './admin/events.js'
import { AdminServer } from './admin/server.js'
import { ConfigError } from './config/load.js'
import type { Config } from './config/schema.js'
import { buildSnapshot, type Snapshot } from './config/snapshot.js'
import { filterBodyHook, filterRawHook } from './filters/pipeline.js'
import { accessLogHook } from './observability/access-log.js'
import { LiveStats, liveStatsHook } from './observability/live-stats.js'
import { createLogger, flushLogger, type Logger } from './observability/logger.js'
import type { Upstream } from './routing/upstream.js'
import { createHandler, type HandlerState } from './server/handler.js'
import { emptyHooks, type Hooks } from './server/hooks.js'
import { Listener, type EdgeLimits } from './server/listener.js'
import { RedirectListener } from './server/redirect.js'
import { readTlsMaterial } from './server/tls.js'

export interface GatewayOptions {
  /** Process log (startup, reloads, warnings). Defaults to stderr at the configured level. */
  readonly logger?: Logger
  /** Access log; defaults to what `logging.access_log` says. */
  readonly accessLog?: Logger | null
}

export class Gateway implements HandlerState {
  snapshot: Snapshot
  readonly hooks: Hooks = emptyHooks()
  draining = false
  readonly log: Logger
  private readonly accessLog: Logger | null
  private readonly listener: Listener
  /** Plain-HTTP listener redirecting to HTTPS (server.redirect_http_port). */
  private readonly redirect: RedirectListener | undefined
  /** The admin port: admin API, metrics, dashboard. Features register their routes on it. */
  readonly admin: AdminServer
  /** The live dashboard's collector (fed per request) and its event stream. */
  readonly liveStats = new LiveStats()
  private readonly dashboardFeed: EventFeed
  private address: AddressInfo | undefined
  private flushTimer: NodeJS.Timeout | undefined

  constructor(config: Config, options: GatewayOptions = {}) {
    this.log = options.logger ?? createLogger({ level: config.logging.level })
    this.accessLog = options.accessLog !== undefined ? options.accessLog : openAccessLog(config)
    this.snapshot = buildSnapshot(config).snapshot
    // Filters first among preHandler hooks: cheap refusals before any limit's round trip, and
    // limits that estimate tokens see max_tokens as capped.
    this.hooks.preParsing.push(filterRawHook)
    this.hooks.preHandler.push(filterBodyHook)
    if (this.accessLog !== null) this.hooks.onResponse.push(accessLogHook(this.accessLog))
    const s = config.server
    this.admin = new AdminServer({ host: config.admin.host, port: config.admin.port, token: config.admin.token, log: this.log })
    this.hooks.onResponse.push(liveStatsHook(this.liveStats))
    this.dashboardFeed = registerDashboard(this.admin, { snapshot: () => this.snapshot, stats: this.liveStats })
    const limits = edgeLimits(this.snapshot)
    this.listener = new Listener(createHandler(() => this), {
      host: s.host,
      port: s.port,
      tls: s.tls === undefined ? undefined : readTlsMaterial(s.tls),
      limits,
    })
    this.redirect =
      s.redirect_http_port === undefined ? undefined : new RedirectListener({ host: s.host, port: s.redirect_http_port, limits })
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
    this.address = await this.listener.listen()
    if (this.redirect !== undefined) {
      this.redirect.httpsPort = this.address.port
      await this.redirect.listen()
    }
    await this.admin.start()
    // The access log is written in batches; a quiet gateway still shows its lines within a second.
    const accessLog = this.accessLog
    if (accessLog !== null) this.flushTimer = setInterval(() => flushLogger(accessLog), 1000).unref()
    this.log.info(
      { url: this.url, admin_url: this.admin.url, redirect_url: this.redirect?.url, models: this.snapshot.routes.names },
      'switchyard listening'
    )
  }

  /**
   * Swaps in a new config for new requests; in-flight requests finish on the snapshot they
   * started with, and upstreams that are gone are closed once their requests end.
   */
  apply(config: Config): void {
    const previous = this.snapshot.config.server
    const { snapshot, removed } = buildSnapshot(config, this.snapshot)
    this.snapshot = snapshot
    for (const u of removed) void retire(u, this.log)
    this.listener.update(edgeLimits(snapshot))
    const s = config.server
    const restart: string[] = (['host', 'port', 'redirect_http_port'] as const).filter((k) => s[k] !== previous[k])
    if ((s.tls === undefined) !== (previous.tls === undefined)) restart.push('tls')
    if (restart.length > 0) {
      this.log.warn({ fields: restart.map((k) => `server.${k}`) }, 'these settings take effect at the next restart')
    } else if (s.tls !== undefined) this.reloadTls()
    this.log.info({ models: snapshot.routes.names, removed: removed.length }, 'config applied')
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
    const { cut } = await this.listener.close(drainMs)
    await this.redirect?.close()
    clearInterval(this.flushTimer)
    this.dashboardFeed.close()
    await this.admin.close()
    if (cut) this.log.warn('drain timeout reached; remaining connections were closed')
    await Promise.all(this.snapshot.upstreams.map((u) => u.destroy()))
    if (this.accessLog !== null) flushLogger(this.accessLog)
    flushLogger(this.log)
  }
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
    exempt: (ip) => edge.isTrusted(ip),
  }
}

async function retire(u: Upstream, log: Logger): Promise<void> {
  try {
    await u.close()
  } catch (err) {
    log.warn({ upstream: u.id, err: String(err) }, 'closing a removed upstream failed')
  }
}

function openAccessLog(config: Config): Logger | null {
  const target = config.logging.access_log
  if (target === 'off') return null
  // Access-log lines are assembled field by field from the context (no headers, no bodies).
  return createLogger({
    destination: target === 'stdout' ? 1 : target === 'stderr' ? 2 : target,
    async: true,
    trustedFields: true,
  })
}
