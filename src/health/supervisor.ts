// Owns the active health checkers of the live snapshot: one per model that has a `health`
// section. Gateway starts and stops it; apply() follows each new snapshot.
import type { Snapshot } from '../config/snapshot.js'
import type { Logger } from '../observability/logger.js'
import type { Upstream } from '../routing/upstream.js'
import type { Clock } from '../util/clock.js'
import { ActiveHealthChecker } from './active-checker.js'
import type { Probe } from './health-checker.js'
import type { HealthState } from './health-state.js'

export interface HealthSupervisorOptions {
  readonly log?: Logger
  readonly clock?: Clock
  readonly probe?: Probe
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
      const checker = new ActiveHealthChecker(route.pool, config, {
        clock: this.options.clock,
        probe: this.options.probe,
        states: this.states,
        onTransition: (u, t) =>
          this.options.log?.[t === 'became-healthy' ? 'info' : 'warn'](
            { model: route.name, upstream: u.id },
            t === 'became-healthy' ? 'upstream healthy again' : 'upstream failed its health checks'
          ),
      })
      next.set(route.name, checker)
    }
    const old = this.checkers
    this.checkers = next
    for (const c of old.values()) void c.stop()
    // Upstreams of models that no longer check health must not stay marked down for good.
    for (const route of snapshot.routes.routes) {
      if (route.config.health !== undefined) continue
      for (const u of route.pool.members) u.healthy = true
    }
    if (this.running) for (const c of next.values()) c.start()
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all([...this.checkers.values()].map((c) => c.stop()))
  }
}
