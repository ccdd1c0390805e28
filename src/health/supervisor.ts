// Owns the active health checkers of the live snapshot: one per model that has a `health`
// section. Gateway starts and stops it; apply() follows each new snapshot.
import type { Snapshot } from '../config/snapshot.js'
import type { Logger } from '../observability/logger.js'
import type { Upstream } from '../routing/upstream.js'
import type { Clock } from '../util/clock.js'
import { ActiveHealthChecker, type HealthCheckConfig } from './active-checker.js'
import type { Probe } from './health-checker.js'
import type { HealthState } from './health-state.js'

export interface HealthSupervisorOptions {
  readonly log?: Logger
  readonly clock?: Clock
  readonly probe?: Probe
  /** Jitter source for the checkers (tests pin it). */
  readonly random?: () => number
}

export class HealthSupervisor {
  private checkers = new Map<string, ActiveHealthChecker>()
  /** Shared by every checker, so probe streaks carry over a reload for unchanged upstreams. */
  private readonly states = new WeakMap<Upstream, HealthState>()
  private running = false

  constructor(private readonly options: HealthSupervisorOptions = {}) {}

  start(snapshot: Snapshot): void {
    this.running = true
    this.apply(snapshot)
    for (const c of this.checkers.values()) c.start()
  }

  /**
   * Replaces the checkers with ones over the new snapshot's pools. Upstreams reused by the
   * snapshot keep their health verdict (it lives on the Upstream) and their probe streaks.
   */
  apply(snapshot: Snapshot): void {
    const next = new Map<string, ActiveHealthChecker>()
    for (const route of snapshot.routes.routes) {
      const config = route.config.health
      if (config === undefined) continue
      const current = this.checkers.get(route.name)
      if (current !== undefined && sameConfig(current.config, config)) {
        // Same settings: keep its rhythm, watch the new pool (membership may have changed).
        current.follow(route.pool)
        next.set(route.name, current)
        continue
      }
      const checker = new ActiveHealthChecker(route.pool, config, {
        clock: this.options.clock,
        probe: this.options.probe,
        random: this.options.random,
        states: this.states,
        onTransition: (u, t) =>
          this.options.log?.[t === 'became-healthy' ? 'info' : 'warn'](
            { model: route.name, upstream: u.id },
            t === 'became-healthy' ? 'upstream healthy again' : 'upstream failed its health checks'
          ),
      })
      next.set(route.name, checker)
      if (this.running) checker.start()
    }
    for (const [name, c] of this.checkers) if (next.get(name) !== c) void c.stop()
    this.checkers = next
    // Upstreams of models that no longer check health must not stay marked down for good.
    for (const route of snapshot.routes.routes) {
      if (route.config.health !== undefined) continue
      for (const u of route.pool.members) u.healthy = true
    }
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all([...this.checkers.values()].map((c) => c.stop()))
  }
}

function sameConfig(a: HealthCheckConfig, b: HealthCheckConfig): boolean {
  return (
    a.path === b.path &&
    a.interval === b.interval &&
    a.timeout === b.timeout &&
    a.healthy_threshold === b.healthy_threshold &&
    a.unhealthy_threshold === b.unhealthy_threshold
  )
}
