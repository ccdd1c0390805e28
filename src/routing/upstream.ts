// Upstream: one model-server endpoint — its spec, its undici connection pool, and the
// live state strategies and health read (in flight, latency, availability).
import { buildConnector, Pool as ConnectionPool } from 'undici'
import type { BalanceTarget } from '../balancing/balancer.js'
import type { UpstreamConfig } from '../config/schema.js'

export interface UpstreamOptions {
  /** Identity within the pool: the configured name, else the index (`name@address` for a discovered endpoint). */
  readonly id: string
  /** What clients are told (x-switchyard-upstream, error messages): the entry's id, never an address. Defaults to id. */
  readonly publicName?: string
  /** Connect timeout (ms) for new connections. */
  readonly connectTimeout: number
  /** Overrides the URL's host (DNS discovery hands one address per endpoint). */
  readonly address?: string
}

/** How one attempt on an upstream ended, as health and outlier detection see it. */
export type AttemptOutcome =
  | 'success'
  | 'client_error' // a 4xx other than 429: the request's fault, not the upstream's
  | 'http_error' // 5xx
  | 'rate_limited' // 429
  | 'connect_error'
  | 'timeout'
  | 'broken' // failed after the first byte (reset, idle timeout)
  | 'cancelled' // the client left: never the upstream's fault

/** Told of every finished attempt (the outlier detector is one). */
export type AttemptObserver = (upstream: Upstream, outcome: AttemptOutcome, retryAfterMs: number) => void

/** Why an upstream takes no new requests (absent = available). */
export type UpstreamState = 'healthy' | 'unhealthy' | 'ejected' | 'cooling-down' | 'draining'

/** Time constant of the latency estimate: it decays by 1/e per 10 s without a response (Finagle's default). */
const PEAK_EWMA_DECAY_MS = 10_000
/**
 * Decayed below this share of its last value (after ~14 s without a response), the estimate
 * reads as unmeasured: p2c-ewma then sends the member one probe and waits for its answer,
 * rather than flooding it on a near-zero figure, which for LLM calls means seconds of pile-up.
 */
const PEAK_EWMA_STALE = 0.25

export class Upstream implements BalanceTarget {
  readonly id: string
  /** The name clients see: a discovered endpoint's address stays internal. */
  readonly publicName: string
  readonly origin: string
  /** The URL's path without a trailing slash, e.g. '/v1'. */
  readonly basePath: string
  /** The URL's query without '?' (Azure's api-version=…), '' for none: sent with every request. */
  readonly query: string
  /** `Bearer <api_key>`, or Basic for credentials in the URL; kept off every log and response. */
  readonly authorization: string | undefined
  /** Extra configured headers as a flat name/value list. */
  readonly extraHeaders: readonly string[]
  /** Their names, lower case: a client's header of one of these names is not forwarded (the configured value replaces it). */
  readonly extraHeaderNames: ReadonlySet<string>
  /**
   * The credentials it is configured with (api_key, a URL password, header values of 8 bytes
   * or more): masked out of any error answer it sends back, should it quote them.
   */
  readonly secrets: readonly Buffer[]
  readonly dispatcher: ConnectionPool

  configuredWeight: number
  maxConcurrency: number | undefined
  inflight = 0
  requests = 0
  failures = 0
  /** Set by the health checker; true until a check says otherwise. */
  healthy = true
  /** Epoch ms until which passive outlier detection keeps it out. */
  ejectedUntil = 0
  /** Epoch ms until which a 429's Retry-After keeps it out. */
  cooldownUntil = 0
  draining = false
  /** Epoch ms when it last became healthy again (slow start ramps from here). */
  recoveredAt = 0
  slowStartMs = 0
  observer: AttemptObserver | undefined = undefined
  /** The estimate as of lastLatencyAt; reads decay it from there (latencyAt). */
  private latencyPeak = 0
  private lastLatencyAt = 0
  private connectTimeoutMs: number
  private connector: buildConnector.connector

  constructor(
    readonly spec: UpstreamConfig,
    options: UpstreamOptions
  ) {
    const url = new URL(spec.url)
    this.id = options.id
    this.publicName = options.publicName ?? options.id
    // A discovered endpoint connects to its address but still names the host: in the Host
    // header, and so in TLS SNI and certificate checks (undici derives both from it).
    const host = options.address === undefined ? [] : ['host', url.host]
    if (options.address !== undefined) {
      url.hostname = options.address.includes(':') ? `[${options.address}]` : options.address
    }
    this.origin = url.origin
    this.basePath = url.pathname.replace(/\/+$/, '')
    this.query = url.search.slice(1)
    this.authorization = spec.api_key !== undefined ? `Bearer ${spec.api_key}` : basicAuth(url)
    this.extraHeaders = [...host, ...Object.entries(spec.headers ?? {}).flat()]
    this.extraHeaderNames = new Set(Object.keys(spec.headers ?? {}).map((n) => n.toLowerCase()))
    this.secrets = [spec.api_key, url.password === '' ? undefined : decodeURIComponent(url.password), ...Object.values(spec.headers ?? {})]
      .filter((v): v is string => v !== undefined && Buffer.byteLength(v) >= MIN_SECRET_BYTES)
      .map((v) => Buffer.from(v))
    this.configuredWeight = spec.weight
    this.maxConcurrency = spec.max_concurrency
    this.connectTimeoutMs = options.connectTimeout
    this.connector = buildConnector({ timeout: options.connectTimeout })
    this.dispatcher = new ConnectionPool(this.origin, {
      // Through a field, so a reload can change the connect timeout of new connections without
      // a new pool: open connections and in-flight requests are left alone.
      connect: (opts, callback) => this.connector(opts, callback),
      keepAliveTimeout: 60_000,
      // Our own deadlines (proxy/deadlines) bound every request; undici's defaults would cut
      // long generations at 300 s.
      headersTimeout: 0,
      bodyTimeout: 0,
    })
  }

  /** Connect timeout (ms) for connections opened from now on. */
  get connectTimeout(): number {
    return this.connectTimeoutMs
  }

  set connectTimeout(ms: number) {
    if (ms === this.connectTimeoutMs) return
    this.connectTimeoutMs = ms
    this.connector = buildConnector({ timeout: ms })
  }

  /**
   * The path of a request upstream: the base path, the client's path under /v1, and the
   * query, the configured one's parameters over the client's of the same name.
   */
  requestPath(subpath: string, search: string): string {
    if (this.query === '') return this.basePath + subpath + search
    if (search === '') return `${this.basePath}${subpath}?${this.query}`
    const client = new URLSearchParams(search)
    for (const name of new URLSearchParams(this.query).keys()) client.delete(name)
    const rest = client.toString()
    return `${this.basePath}${subpath}?${this.query}${rest === '' ? '' : `&${rest}`}`
  }

  /** Effective weight: ramps linearly from 10% to 100% over slow start after recovery. */
  get weight(): number {
    return this.configuredWeight * this.warmup
  }

  /** Share of its full traffic while slow start ramps it up after recovery: 0.1 … 1. */
  get warmup(): number {
    if (this.slowStartMs > 0 && this.recoveredAt > 0) {
      const since = Date.now() - this.recoveredAt
      if (since < this.slowStartMs) return Math.max(0.1, since / this.slowStartMs)
    }
    return 1
  }

  /** The state an operator sees; 'healthy' means it takes traffic. */
  state(now = Date.now()): UpstreamState {
    if (this.draining) return 'draining'
    if (!this.healthy) return 'unhealthy'
    if (now < this.ejectedUntil) return 'ejected'
    if (now < this.cooldownUntil) return 'cooling-down'
    return 'healthy'
  }

  /** May the balancer hand it a request now (ignoring concurrency limits)? */
  isUp(now: number): boolean {
    return !this.draining && this.healthy && now >= this.ejectedUntil && now >= this.cooldownUntil
  }

  /** Has it room for one more request under max_concurrency? */
  hasCapacity(): boolean {
    return this.maxConcurrency === undefined || this.inflight < this.maxConcurrency
  }

  begin(): void {
    this.inflight++
    this.requests++
  }

  /** Every begin() is matched by exactly one end(), on every exit path. */
  end(outcome: AttemptOutcome, retryAfterMs = 0): void {
    if (this.inflight > 0) this.inflight--
    if (outcome !== 'success' && outcome !== 'client_error' && outcome !== 'cancelled') this.failures++
    this.observer?.(this, outcome, retryAfterMs)
  }

  /** Peak-EWMA latency (ms) now; 0 while nothing has been measured lately. */
  get latencyEwma(): number {
    return this.latencyAt(Date.now())
  }

  /**
   * The estimate decays towards 0 while no response comes in (Finagle's and Linkerd's
   * peak-EWMA do so when the balancer reads it): a member's only feedback is its own
   * responses, so one that was slower once would otherwise never be picked again. Computed
   * lazily on read, no state written: p2c-ewma calls this on every pick.
   */
  latencyAt(now: number): number {
    if (this.latencyPeak === 0) return 0
    const w = Math.exp(-Math.max(0, now - this.lastLatencyAt) / PEAK_EWMA_DECAY_MS)
    return w < PEAK_EWMA_STALE ? 0 : this.latencyPeak * w
  }

  /** Peak-EWMA (Finagle): jumps up to a slow sample at once, decays towards fast ones. */
  observeLatency(ms: number, now = Date.now()): void {
    const current = this.latencyAt(now)
    if (current === 0 || ms > current) {
      this.latencyPeak = ms
    } else {
      // The decayed estimate blended with the sample: w weighs the past by its age.
      const w = Math.exp(-Math.max(0, now - this.lastLatencyAt) / PEAK_EWMA_DECAY_MS)
      this.latencyPeak = current + ms * (1 - w)
    }
    this.lastLatencyAt = now
  }

  /** Stops taking requests; resolves once in-flight ones have finished, then closes connections. */
  async close(): Promise<void> {
    this.draining = true
    await this.dispatcher.close()
  }

  destroy(): Promise<void> {
    this.draining = true
    return this.dispatcher.destroy()
  }
}

/** Shorter configured values are not masked in answers: too likely to match ordinary text. */
const MIN_SECRET_BYTES = 8

/** `Basic …` for credentials in the URL (http://user:pass@host), which the origin leaves out. */
function basicAuth(url: URL): string | undefined {
  if (url.username === '' && url.password === '') return undefined
  const pair = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
  return `Basic ${Buffer.from(pair).toString('base64')}`
}
