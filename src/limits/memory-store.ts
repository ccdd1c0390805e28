// A memory store for limit counters: one process, no I/O, synchronous. Same semantics as
// the Redis store (the conformance suite runs against both).
import { rateRemaining, type AdmitResult, type Check, type CheckResult, type RateLimitStore, type SettleOp } from './store.js'

export interface MemoryStoreOptions {
  /** Monotonic ms clock. Defaults to performance.now(); tests pass their own. */
  readonly now?: () => number
  /** How often idle counters are dropped. Defaults to 60 s; 0 = never (tests call sweep()). */
  readonly sweepMs?: number
}

const CONCURRENCY_RETRY_MS = 1000

export class MemoryStore implements RateLimitStore {
  readonly shared = false
  /** Rate id → theoretical arrival time (ms). */
  private readonly tats = new Map<string, number>()
  /** Concurrency id → lease → expiry (ms). */
  private readonly leases = new Map<string, Map<string, number>>()
  /** Quota id → sum. */
  private readonly sums = new Map<string, number>()
  private readonly now: () => number
  private readonly sweeper: NodeJS.Timeout | undefined

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? (() => performance.now())
    const every = options.sweepMs ?? 60_000
    this.sweeper = every > 0 ? setInterval(() => this.sweep(), every).unref() : undefined
  }

  admit(checks: readonly Check[], lease: string): AdmitResult {
    const now = this.now()
    // Check everything first; take only if everything passes.
    const oks: boolean[] = []
    let allowed = true
    let retryAfterMs = 0
    for (const c of checks) {
      let ok: boolean
      switch (c.kind) {
        case 'rate': {
          const tat = Math.max(this.tats.get(c.id) ?? now, now)
          const next = tat + c.cost * (c.periodMs / c.limit)
          ok = next - now <= c.periodMs
          if (!ok) retryAfterMs = Math.max(retryAfterMs, c.cost > c.limit ? c.periodMs : Math.ceil(next - now - c.periodMs))
          break
        }
        case 'concurrency':
          ok = this.held(c.id, now, c.limit) < c.limit
          if (!ok) retryAfterMs = Math.max(retryAfterMs, CONCURRENCY_RETRY_MS)
          break
        case 'quota':
          ok = Math.max(this.sums.get(c.id) ?? 0, c.floor) < c.limit
          break
      }
      if (!ok) allowed = false
      oks.push(ok)
    }
    // Results describe the state after this call (a passing check of a refused request was not taken).
    const results: CheckResult[] = []
    for (let i = 0; i < checks.length; i++) results.push(this.apply(checks[i]!, oks[i]!, allowed, lease, now))
    return { allowed, retryAfterMs: allowed ? 0 : retryAfterMs, results }
  }

  settle(ops: readonly SettleOp[]): void {
    const now = this.now()
    for (const op of ops) {
      switch (op.kind) {
        case 'refund': {
          const interval = op.periodMs / op.limit
          const tat = Math.max(this.tats.get(op.id) ?? now, now) - op.amount * interval
          if (tat > now) this.tats.set(op.id, tat)
          else this.tats.delete(op.id)
          break
        }
        case 'release': {
          const set = this.leases.get(op.id)
          if (set !== undefined && set.delete(op.lease) && set.size === 0) this.leases.delete(op.id)
          break
        }
        case 'add':
          this.sums.set(op.id, Math.max(this.sums.get(op.id) ?? 0, op.floor) + op.amount)
          break
      }
    }
  }

  /** Drops counters that are back to their initial state and leases past their TTL. */
  sweep(): void {
    const now = this.now()
    for (const [id, tat] of this.tats) if (tat <= now) this.tats.delete(id)
    for (const [id, set] of this.leases) {
      for (const [lease, until] of set) if (until <= now) set.delete(lease)
      if (set.size === 0) this.leases.delete(id)
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
  }

  /** Leases held on `id`; expired ones are dropped when they would decide the answer. */
  private held(id: string, now: number, limit: number): number {
    const set = this.leases.get(id)
    if (set === undefined) return 0
    if (set.size >= limit) for (const [lease, until] of set) if (until <= now) set.delete(lease)
    return set.size
  }

  /** Takes one check (when the request is allowed) and reports its state. */
  private apply(c: Check, ok: boolean, allowed: boolean, lease: string, now: number): CheckResult {
    switch (c.kind) {
      case 'rate': {
        let at = Math.max(this.tats.get(c.id) ?? now, now)
        if (allowed) {
          at += c.cost * (c.periodMs / c.limit)
          this.tats.set(c.id, at)
        }
        return { ok, remaining: rateRemaining(c.limit, c.periodMs, at, now), resetMs: Math.ceil(at - now) }
      }
      case 'concurrency': {
        let set = this.leases.get(c.id)
        const held = set?.size ?? 0
        if (allowed) {
          if (set === undefined) this.leases.set(c.id, (set = new Map()))
          set.set(lease, now + c.ttlMs)
          return { ok, remaining: c.limit - held - 1, resetMs: 0 }
        }
        return { ok, remaining: Math.max(0, c.limit - held), resetMs: 0 }
      }
      case 'quota':
        return { ok, remaining: c.limit - Math.max(this.sums.get(c.id) ?? 0, c.floor), resetMs: 0 }
    }
  }
}
