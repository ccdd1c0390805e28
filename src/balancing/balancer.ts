// The Balancer interface: a strategy picks one target among a pool's members.
// A balancer never checks health, counts in-flight requests or retries: the pool
// decides who is eligible (PickFilter.accepts) and keeps the counters it reads.

/** What a strategy may read about a pool member. Implemented by routing/upstream.ts. */
export interface BalanceTarget {
  /** Stable identity within its pool (configured name, or the index as a string). */
  readonly id: string
  /** Effective weight (> 0), slow start already applied. */
  readonly weight: number
  /** Requests currently in flight on this target; never negative. */
  readonly inflight: number
  /**
   * Peak-EWMA latency in milliseconds, decaying while no response comes in; 0 while nothing
   * has been measured (lately).
   */
  readonly latencyEwma: number
  /**
   * Share (0, 1] of its normal traffic while slow start ramps it up after a recovery; absent
   * means 1. Strategies that ignore `weight` (round-robin, p2c-ewma) read this instead.
   */
  readonly warmup?: number
}

/** Per-pick view: which targets may be chosen, and the request's affinity key if any. */
export interface PickFilter<T extends BalanceTarget = BalanceTarget> {
  accepts(target: T): boolean
  readonly affinityKey?: string | undefined
}

export interface Balancer<T extends BalanceTarget = BalanceTarget> {
  readonly name: string
  /** Returns an accepted target, or undefined when the filter accepts none. Must not throw. */
  pick(filter: PickFilter<T>): T | undefined
}

export interface BalancerOptions {
  /** Source of randomness in [0, 1); injectable for deterministic tests. Defaults to Math.random. */
  readonly random?: () => number
  /** affinity: no target takes more than this × the average load. Defaults to 1.25. */
  readonly maxLoadFactor?: number
}

/** Builds a balancer over a fixed member list; pools rebuild it when membership changes. */
export type BalancerFactory = <T extends BalanceTarget>(
  targets: readonly T[],
  options?: BalancerOptions
) => Balancer<T>
