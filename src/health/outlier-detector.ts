// Passive outlier detection (Envoy's model): live attempt outcomes eject an upstream that
// keeps failing, for a time that grows with each ejection; a 429 puts it in cooldown.
import type { AttemptOutcome, Upstream } from '../routing/upstream.js'
import { systemClock, type Clock } from '../util/clock.js'

export interface OutlierConfig {
  /** Consecutive failures (5xx, connect errors, timeouts, broken streams) that eject. */
  readonly consecutive_failures: number
  /** Ejection time for the first ejection; the n-th lasts n times as long. */
  readonly base_ejection_time: number
  /** Never more than this share of the pool is ejected at once. */
  readonly max_ejection_percent: number
}

/** Longest single ejection (Envoy's max_ejection_time default); base_ejection_time if larger. */
export const MAX_EJECTION_MS = 300_000
/** Cooldown after a 429 that named no Retry-After. */
export const DEFAULT_COOLDOWN_MS = 1_000
/** Longest cooldown a 429's Retry-After may ask for. */
export const MAX_COOLDOWN_MS = 300_000

/** Per-upstream bookkeeping; kept across reloads while the upstream object lives. */
interface OutlierRecord {
  failures: number
  timesEjected: number
}

/** The members a detector guards; a Pool, or any list in tests. */
export interface MemberList {
  readonly members: readonly Upstream[]
}

export class OutlierDetector {
  constructor(
    private readonly pool: MemberList,
    private readonly config: OutlierConfig,
    private readonly clock: Clock = systemClock,
    /** Pass the previous detector's records so counts survive a reload. */
    readonly records: WeakMap<Upstream, OutlierRecord> = new WeakMap()
  ) {}

  /** How many times it has been ejected (decays while it behaves). */
  timesEjected(upstream: Upstream): number {
    return this.records.get(upstream)?.timesEjected ?? 0
  }

  /** The AttemptObserver: told of every finished attempt of every member. */
  observe(upstream: Upstream, outcome: AttemptOutcome, retryAfterMs: number): void {
    switch (outcome) {
      case 'success':
      case 'client_error':
        // The upstream answered sensibly: the failure streak is over.
        this.record(upstream).failures = 0
        return
      case 'cancelled':
        // The client left: says nothing about the upstream.
        return
      case 'rate_limited':
        this.coolDown(upstream, retryAfterMs)
        return
      case 'http_error':
      case 'connect_error':
      case 'timeout':
      case 'broken':
        this.failure(upstream)
        return
    }
  }

  private record(upstream: Upstream): OutlierRecord {
    let r = this.records.get(upstream)
    if (r === undefined) {
      r = { failures: 0, timesEjected: 0 }
      this.records.set(upstream, r)
    }
    return r
  }

  private coolDown(upstream: Upstream, retryAfterMs: number): void {
    const ms = retryAfterMs > 0 ? Math.min(retryAfterMs, MAX_COOLDOWN_MS) : DEFAULT_COOLDOWN_MS
    upstream.cooldownUntil = Math.max(upstream.cooldownUntil, this.clock.now() + ms)
  }

  private failure(upstream: Upstream): void {
    const now = this.clock.now()
    // Requests that were in flight when it was ejected are still finishing: not new evidence.
    if (now < upstream.ejectedUntil) return
    const r = this.record(upstream)
    r.failures++
    if (r.failures < this.config.consecutive_failures) return
    if (!this.mayEject(upstream, now)) return
    const base = this.config.base_ejection_time
    // Envoy decrements the multiplier for each quiet period; one per base time since it came back.
    if (r.timesEjected > 0 && upstream.ejectedUntil > 0 && base > 0) {
      const quiet = Math.floor((now - upstream.ejectedUntil) / base)
      r.timesEjected = Math.max(0, r.timesEjected - quiet)
    }
    r.timesEjected++
    r.failures = 0
    upstream.ejectedUntil = now + Math.min(base * r.timesEjected, Math.max(MAX_EJECTION_MS, base))
  }

  /** True when ejecting one more keeps the ejected share within max_ejection_percent. */
  private mayEject(upstream: Upstream, now: number): boolean {
    const members = this.pool.members
    let ejected = 0
    for (const u of members) if (u !== upstream && now < u.ejectedUntil) ejected++
    return (ejected + 1) * 100 <= this.config.max_ejection_percent * members.length
  }
}
