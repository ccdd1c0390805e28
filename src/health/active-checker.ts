// Active health checks: GET the health path on every member of a pool each interval
// (jittered, timed out, a few at a time) and flip members healthy / unhealthy on thresholds.
import type { Upstream } from '../routing/upstream.js'
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js'
import type { HealthChecker, Probe, WatchedPool } from './health-checker.js'
import { HealthState, type HealthThresholds, type HealthTransition } from './health-state.js'

export interface HealthCheckConfig {
  readonly path: string
  readonly interval: number
  readonly timeout: number
  readonly healthy_threshold: number
  readonly unhealthy_threshold: number
}

export interface ActiveHealthCheckerOptions {
  readonly clock?: Clock
  /** Defaults to httpProbe (a GET over the upstream's own connection pool). */
  readonly probe?: Probe
  /** Probes in flight at once per pool. Defaults to 8. */
  readonly concurrency?: number
  /** Jitter source in [0, 1). Defaults to Math.random. */
  readonly random?: () => number
  /** Told of every flip (logging). */
  readonly onTransition?: (upstream: Upstream, transition: Exclude<HealthTransition, 'unchanged'>) => void
  /** Pass the previous checker's states so streaks survive a reload. */
  readonly states?: WeakMap<Upstream, HealthState>
}

/** Each round starts interval × [0.9, 1.1) after the previous one ended, so pools drift apart. */
const JITTER = 0.2

export class ActiveHealthChecker implements HealthChecker {
  readonly states: WeakMap<Upstream, HealthState>
  private readonly clock: Clock
  private readonly probe: Probe
  private readonly concurrency: number
  private readonly random: () => number
  private timer: TimerHandle | undefined = undefined
  private running = false
  private round: Promise<void> | undefined = undefined
  private abort = new AbortController()
  private readonly thresholds: HealthThresholds

  constructor(
    private pool: WatchedPool,
    readonly config: HealthCheckConfig,
    private readonly options: ActiveHealthCheckerOptions = {}
  ) {
    this.clock = options.clock ?? systemClock
    this.probe = options.probe ?? httpProbe
    this.concurrency = Math.max(1, options.concurrency ?? 8)
    this.random = options.random ?? Math.random
    this.states = options.states ?? new WeakMap()
    this.thresholds = {
      healthyThreshold: config.healthy_threshold,
      unhealthyThreshold: config.unhealthy_threshold,
    }
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.abort = new AbortController()
    // The first round comes soon but at a random point, so many pools do not probe in step.
    this.schedule(this.config.interval * this.random())
  }

  /** Watches the same model's pool in a newer snapshot from the next round on. */
  follow(pool: WatchedPool): void {
    this.pool = pool
  }

  async stop(): Promise<void> {
    this.running = false
    this.clock.clearTimeout(this.timer)
    this.timer = undefined
    this.abort.abort()
    await this.round
  }

  /** Probes every member once (exposed for tests; the timer calls it). */
  runRound(): Promise<void> {
    const round = this.probeAll().finally(() => {
      if (this.round === round) this.round = undefined
    })
    this.round = round
    return round
  }

  private schedule(ms: number): void {
    if (!this.running) return
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      void this.runRound().then(() => {
        const jitter = 1 - JITTER / 2 + JITTER * this.random()
        this.schedule(this.config.interval * jitter)
      })
    }, ms)
    this.timer.unref()
  }

  private async probeAll(): Promise<void> {
    const members = this.pool.members.filter((u) => !u.draining)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < members.length) {
        const u = members[next++]!
        await this.check(u)
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.concurrency, members.length) }, worker))
  }

  private async check(u: Upstream): Promise<void> {
    const signal = this.abort.signal
    let passed: boolean
    try {
      passed = await this.probe(u, this.config.path, this.config.timeout, signal)
    } catch {
      passed = false
    }
    if (signal.aborted) return
    this.apply(u, passed)
  }

  /** Records one result and updates the upstream on a flip. */
  apply(u: Upstream, passed: boolean): void {
    let state = this.states.get(u)
    if (state === undefined) {
      state = new HealthState(this.thresholds, u.healthy)
      this.states.set(u, state)
    }
    // The state may come from the checker this one replaced on a reload: its streaks carry
    // over, but the thresholds are this config's.
    state.thresholds = this.thresholds
    // Someone else (an operator, a reload) may have set it meanwhile: start from the truth.
    state.healthy = u.healthy
    const t = state.record(passed)
    if (t === 'unchanged') return
    u.healthy = t === 'became-healthy'
    if (u.healthy) u.recoveredAt = this.clock.now()
    this.options.onTransition?.(u, t)
  }
}

/**
 * GET `path` on the upstream's origin over its own connection pool, with the headers its
 * requests carry (key, configured extras); 2xx passes.
 */
export const httpProbe: Probe = async (upstream, path, timeoutMs, signal) => {
  const headers = ['user-agent', 'switchyard-health-check', ...upstream.extraHeaders]
  if (upstream.authorization !== undefined) headers.push('authorization', upstream.authorization)
  try {
    const res = await upstream.dispatcher.request({
      path,
      method: 'GET',
      headers,
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    })
    await res.body.dump()
    return res.statusCode >= 200 && res.statusCode < 300
  } catch {
    return false
  }
}
