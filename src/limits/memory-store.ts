// A memory store for limit counters: one process, no I/O, synchronous. Same semantics as
// the Redis store (the conformance suite runs against both).
import type { AdmitResult, Check, CheckResult, RateLimitStore, SettleOp } from './store.js'

/** A GCRA bucket: its theoretical arrival time (ms). */
interface Bucket {
  tat: number
}

/** A lease is a number: its slot in the holder, and a store-wide sequence that tells a stale handle from the slot's next lease. */
const SLOT_SPACE = 2 ** 22
const SEQ_SPACE = 2 ** 31

/**
 * The leases held on one concurrency counter, in slots of typed arrays: taking and releasing
 * a lease allocates nothing and touches only this holder (a linked list made an object per
 * lease, and unlinking one wrote to other requests' nodes).
 */
class Holder {
  size = 0
  /** Slots ever used; free ones below it are on the `free` stack. */
  private used = 0
  private expires = new Float64Array(8)
  /** The handle each slot was last given (0: free). */
  private handles = new Float64Array(8)
  private free = new Int32Array(8)
  private freeTop = 0

  /** A new lease, as its handle. */
  take(expires: number, seq: number): number {
    let slot: number
    if (this.freeTop > 0) slot = this.free[--this.freeTop]!
    else {
      if (this.used === this.expires.length) this.grow()
      slot = this.used++
    }
    const handle = seq * SLOT_SPACE + slot
    this.expires[slot] = expires
    this.handles[slot] = handle
    this.size++
    return handle
  }

  /** Frees the lease `handle`, if it is still held (a second release is harmless). */
  release(handle: number): void {
    const slot = handle % SLOT_SPACE
    if (slot < this.used && this.handles[slot] === handle) this.freeSlot(slot)
  }

  dropExpired(now: number): void {
    for (let slot = 0; slot < this.used; slot++) {
      if (this.handles[slot] !== 0 && this.expires[slot]! <= now) this.freeSlot(slot)
    }
  }

  private freeSlot(slot: number): void {
    this.handles[slot] = 0
    this.free[this.freeTop++] = slot
    this.size--
  }

  private grow(): void {
    const n = this.expires.length * 2
    if (n > SLOT_SPACE) throw new RangeError('too many concurrent leases on one counter')
    const expires = new Float64Array(n)
    expires.set(this.expires)
    const handles = new Float64Array(n)
    handles.set(this.handles)
    const free = new Int32Array(n)
    free.set(this.free)
    this.expires = expires
    this.handles = handles
    this.free = free
  }
}

export interface MemoryStoreOptions {
  /** Monotonic ms clock. Defaults to performance.now() (then a caller's `at` reading is used); tests pass their own. */
  readonly now?: () => number
  /** How often idle counters are dropped. Defaults to 60 s; 0 = never (tests call sweep()). */
  readonly sweepMs?: number
}

const CONCURRENCY_RETRY_MS = 1000

export class MemoryStore implements RateLimitStore {
  /** Rate id → its bucket (a mutable box: a take updates it without another map write). */
  private readonly tats = new Map<string, Bucket>()
  /** Concurrency id → its leases. */
  private readonly leases = new Map<string, Holder>()
  /** Quota id → sum. */
  private readonly sums = new Map<string, number>()
  private readonly now: () => number
  /** The clock is performance.now(): a caller's `at` is a reading of it. */
  private readonly callerClock: boolean
  /** Scratch for admit() (synchronous, so never shared between two calls). */
  private readonly oks: boolean[] = []
  private readonly found: (Bucket | Holder | undefined)[] = []
  /** Lease sequence, 1 … SEQ_SPACE - 1 (0 never: a handle of 0 would read as a free slot). */
  private leaseSeq = 0
  private readonly sweeper: NodeJS.Timeout | undefined

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? (() => performance.now())
    this.callerClock = options.now === undefined
    const every = options.sweepMs ?? 60_000
    this.sweeper = every > 0 ? setInterval(() => this.sweep(), every).unref() : undefined
  }

  admit(checks: readonly Check[]): AdmitResult {
    const now = this.now()
    // Check everything first; take only if everything passes. Each counter is looked up
    // once: the check pass keeps what it found for the take pass.
    // Scratch arrays written by index (resetting their length is a runtime call each time);
    // what they keep from the last call is at most a few counters, overwritten by the next.
    const oks = this.oks
    const found = this.found
    let allowed = true
    let retryAfterMs = 0
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i]!
      let ok: boolean
      switch (c.kind) {
        case 'rate': {
          const bucket = this.tats.get(c.id)
          found[i] = bucket
          const tat = bucket === undefined || bucket.tat < now ? now : bucket.tat
          const next = tat + c.cost * (c.periodMs / c.limit)
          ok = next - now <= c.periodMs
          if (!ok) retryAfterMs = Math.max(retryAfterMs, c.cost > c.limit ? c.periodMs : Math.ceil(next - now - c.periodMs))
          break
        }
        case 'concurrency': {
          const holder = this.leases.get(c.id)
          found[i] = holder
          if (holder !== undefined && holder.size >= c.limit) holder.dropExpired(now)
          ok = (holder?.size ?? 0) < c.limit
          if (!ok) retryAfterMs = Math.max(retryAfterMs, CONCURRENCY_RETRY_MS)
          break
        }
        case 'quota':
          found[i] = undefined
          ok = Math.max(this.sums.get(c.id) ?? 0, c.floor) < c.limit
          break
      }
      if (!ok) allowed = false
      oks[i] = ok
    }
    // Results describe the state after this call (a passing check of a refused request was not taken).
    const results: CheckResult[] = []
    for (let i = 0; i < checks.length; i++) results.push(this.apply(checks[i]!, found[i], oks[i]!, allowed, now))
    return { allowed, retryAfterMs: allowed ? 0 : retryAfterMs, results }
  }

  settle(ops: readonly SettleOp[], at?: number): void {
    const now = at !== undefined && this.callerClock ? at : this.now()
    for (const op of ops) {
      switch (op.kind) {
        case 'refund': {
          const bucket = this.tats.get(op.id)
          const tat = (bucket === undefined || bucket.tat < now ? now : bucket.tat) - op.amount * (op.periodMs / op.limit)
          // A bucket refunded back to full stays (tat ≤ now reads as full) until the sweep:
          // with a roomy limit that is every request, and the next one would make it again.
          if (bucket !== undefined) bucket.tat = tat
          else if (tat > now) this.tats.set(op.id, { tat })
          break
        }
        case 'release':
          this.leases.get(op.id)?.release(op.lease as number)
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
    for (const [id, bucket] of this.tats) if (bucket.tat <= now) this.tats.delete(id)
    for (const [id, holder] of this.leases) {
      holder.dropExpired(now)
      if (holder.size === 0) this.leases.delete(id)
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
  }

  /** Takes one check (when the request is allowed) and reports its state; `found` is its counter, if any. */
  private apply(c: Check, found: Bucket | Holder | undefined, ok: boolean, allowed: boolean, now: number): CheckResult {
    switch (c.kind) {
      case 'rate': {
        // A counter new in this call is looked up again: two checks could name it.
        let bucket = (found as Bucket | undefined) ?? this.tats.get(c.id)
        let at = bucket === undefined || bucket.tat < now ? now : bucket.tat
        if (allowed) {
          at += c.cost * (c.periodMs / c.limit)
          if (bucket === undefined) this.tats.set(c.id, (bucket = { tat: at }))
          else bucket.tat = at
        }
        return { ok, remaining: rateRemaining(c.limit, c.periodMs, at, now), resetMs: Math.ceil(at - now) }
      }
      case 'concurrency': {
        let holder = (found as Holder | undefined) ?? this.leases.get(c.id)
        const held = holder?.size ?? 0
        if (allowed) {
          if (holder === undefined) this.leases.set(c.id, (holder = new Holder()))
          this.leaseSeq = this.leaseSeq === SEQ_SPACE - 1 ? 1 : this.leaseSeq + 1
          const lease = holder.take(now + c.ttlMs, this.leaseSeq)
          return { ok, remaining: c.limit - held - 1, resetMs: 0, lease }
        }
        return { ok, remaining: Math.max(0, c.limit - held), resetMs: 0 }
      }
      case 'quota':
        return { ok, remaining: c.limit - Math.max(this.sums.get(c.id) ?? 0, c.floor), resetMs: 0 }
    }
  }
}

/** Whole units left in a GCRA bucket whose arrival time is `tat`, at `now`. */
function rateRemaining(limit: number, periodMs: number, tat: number, now: number): number {
  const interval = periodMs / limit
  // The epsilon absorbs float error (7 per minute is a non-terminating interval).
  return Math.max(0, Math.floor((periodMs - Math.max(0, tat - now)) / interval + 1e-6))
}
