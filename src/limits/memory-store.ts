// A memory store for limit counters: one process, no I/O, synchronous. Same semantics as
// the Redis store (the conformance suite runs against both).
import { rateRemaining, type AdmitResult, type Check, type CheckResult, type RateLimitStore, type SettleOp } from './store.js'

/** One concurrency lease: a node of its holder's list, so a release is O(1) with no hashing. */
interface LeaseNode {
  expires: number
  prev: LeaseNode | null
  next: LeaseNode | null
  holder: Holder | null
}

/** The leases held on one concurrency counter, oldest first. */
interface Holder {
  size: number
  head: LeaseNode | null
  tail: LeaseNode | null
}

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
  /** Concurrency id → its leases. */
  private readonly leases = new Map<string, Holder>()
  /** Quota id → sum. */
  private readonly sums = new Map<string, number>()
  private readonly now: () => number
  /** Scratch for admit() (synchronous, so never shared between two calls). */
  private readonly oks: boolean[] = []
  private readonly sweeper: NodeJS.Timeout | undefined

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? (() => performance.now())
    const every = options.sweepMs ?? 60_000
    this.sweeper = every > 0 ? setInterval(() => this.sweep(), every).unref() : undefined
  }

  admit(checks: readonly Check[]): AdmitResult {
    const now = this.now()
    // Check everything first; take only if everything passes.
    const oks = this.oks
    oks.length = 0
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
    for (let i = 0; i < checks.length; i++) results.push(this.apply(checks[i]!, oks[i]!, allowed, now))
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
        case 'release':
          unlink(op.lease as LeaseNode)
          break
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
    for (const [id, holder] of this.leases) {
      dropExpired(holder, now)
      if (holder.size === 0) this.leases.delete(id)
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
  }

  /** Leases held on `id`; expired ones are dropped when they would decide the answer. */
  private held(id: string, now: number, limit: number): number {
    const holder = this.leases.get(id)
    if (holder === undefined) return 0
    if (holder.size >= limit) dropExpired(holder, now)
    return holder.size
  }

  /** Takes one check (when the request is allowed) and reports its state. */
  private apply(c: Check, ok: boolean, allowed: boolean, now: number): CheckResult {
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
        let holder = this.leases.get(c.id)
        const held = holder?.size ?? 0
        if (allowed) {
          if (holder === undefined) this.leases.set(c.id, (holder = { size: 0, head: null, tail: null }))
          const lease: LeaseNode = { expires: now + c.ttlMs, prev: holder.tail, next: null, holder }
          if (holder.tail === null) holder.head = lease
          else holder.tail.next = lease
          holder.tail = lease
          holder.size++
          return { ok, remaining: c.limit - held - 1, resetMs: 0, lease }
        }
        return { ok, remaining: Math.max(0, c.limit - held), resetMs: 0 }
      }
      case 'quota':
        return { ok, remaining: c.limit - Math.max(this.sums.get(c.id) ?? 0, c.floor), resetMs: 0 }
    }
  }
}

/** Takes a lease out of its holder's list; releasing twice is harmless. */
function unlink(lease: LeaseNode): void {
  const holder = lease.holder
  if (holder === null) return
  if (lease.prev === null) holder.head = lease.next
  else lease.prev.next = lease.next
  if (lease.next === null) holder.tail = lease.prev
  else lease.next.prev = lease.prev
  lease.prev = lease.next = lease.holder = null
  holder.size--
}

function dropExpired(holder: Holder, now: number): void {
  for (let n = holder.head; n !== null; ) {
    const next = n.next
    if (n.expires <= now) unlink(n)
    n = next
  }
}
