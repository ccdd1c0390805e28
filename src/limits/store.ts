// RateLimitStore: where limit counters live. One interface, two implementations (memory for
// one instance, Redis for replicas), one conformance suite (test/suites/rate-limit-store.suite.ts).
//
// A request's limits are checked together and atomically: all pass and all are taken, or
// none is taken. Rates are GCRA (a token bucket held as one "theoretical arrival time"),
// concurrency is a set of leases that expire after a TTL (so a crashed replica cannot hold
// slots forever), and quotas (budgets) are running sums admitted while under their limit.

/** What a check counts, for messages and headers (stores ignore it). */
export type Dimension = 'requests' | 'tokens' | 'concurrency' | 'budget'

interface CheckBase {
  /** Counter id, e.g. `k:team-a:rpm`; the same id is the same counter for every replica. */
  readonly id: string
  readonly dim: Dimension
}

/** `cost` units out of a bucket refilling `limit` per `periodMs`, holding at most `limit`. */
export interface RateCheck extends CheckBase {
  readonly kind: 'rate'
  readonly limit: number
  readonly periodMs: number
  readonly cost: number
}

/** One more lease if fewer than `limit` are held; the lease expires after `ttlMs`. */
export interface ConcurrencyCheck extends CheckBase {
  readonly kind: 'concurrency'
  readonly limit: number
  readonly ttlMs: number
}

/**
 * Admitted while the sum is below `limit`. The sum is at least `floor` (what this process
 * knows from its own records), so a store that lost its data never forgets known spend.
 */
export interface QuotaCheck extends CheckBase {
  readonly kind: 'quota'
  readonly limit: number
  readonly floor: number
}

export type Check = RateCheck | ConcurrencyCheck | QuotaCheck

/** What a store needs to release one concurrency lease; opaque to everyone else. */
export type Lease = unknown

export interface CheckResult {
  readonly ok: boolean
  /** Units left after this request (rates: whole units; concurrency: free slots). */
  readonly remaining: number
  /** ms until the counter is back to its initial state (rates), else 0. */
  readonly resetMs: number
  /** A concurrency lease taken by this call: hand it back in a 'release' settlement. */
  readonly lease?: Lease
}

export interface AdmitResult {
  readonly allowed: boolean
  /** When refused: ms until the refused checks could pass (concurrency: a guess, 1 s). */
  readonly retryAfterMs: number
  /** One per check, in order. */
  readonly results: readonly CheckResult[]
}

/** Settling a finished request: give back or charge tokens, free a lease, add spend. */
export type SettleOp =
  /** `amount` > 0 gives units back to the bucket, < 0 charges more (possibly into debt). */
  | { readonly kind: 'refund'; readonly id: string; readonly limit: number; readonly periodMs: number; readonly amount: number }
  | { readonly kind: 'release'; readonly id: string; readonly lease: Lease }
  | { readonly kind: 'add'; readonly id: string; readonly amount: number; readonly floor: number }

export interface RateLimitStore {
  /**
   * The store counts for other processes too (Redis): a quota's sum then holds every
   * replica's spend, which the limiter keeps as a floor. Absent: this process alone.
   */
  readonly shared?: boolean
  /**
   * Checks every limit of a request and takes them all, or none. Rejects only when the
   * store is unreachable.
   */
  admit(checks: readonly Check[]): AdmitResult | Promise<AdmitResult>
  /**
   * Applies a finished request's settlements. Never throws; their effect is visible to every
   * admit() called after it returns (a store may batch them, but never reorders them).
   * A store is only ever handed back leases it issued. `at`: the caller's `performance.now()`
   * reading of the request's end, when it has one (a clock read saved per request); a store
   * on another clock (Redis' TIME, a test's clock) ignores it.
   */
  settle(ops: readonly SettleOp[], at?: number): void
  /** Applies anything batched and releases connections and timers. */
  close(): Promise<void>
}
