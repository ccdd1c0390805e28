// The HealthChecker interface: something that watches a pool's members and marks them
// healthy or unhealthy. Gateway starts and stops them; a reload points them at the new pool.
import type { Upstream } from '../routing/upstream.js'

export interface HealthChecker {
  /** Starts checking (idempotent). */
  start(): void
  /** Stops checking; resolves once no probe is in flight. */
  stop(): Promise<void>
}

/** The members a checker watches; read afresh every round, so membership changes apply. */
export interface WatchedPool {
  readonly model: string
  readonly members: readonly Upstream[]
}

/**
 * One probe of one upstream: resolves true when it passed. Must resolve (never reject) within
 * about `timeoutMs`, and stop early when `signal` aborts.
 */
export type Probe = (upstream: Upstream, path: string, timeoutMs: number, signal: AbortSignal) => Promise<boolean>
