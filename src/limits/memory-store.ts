// A memory store for limit counters: one process, no I/O, synchronous. Same semantics as
// the Redis store (the conformance suite runs against both).
//
// Its counters are objects a caller in this process may also hold and work on directly
// (the rate limiter's fused path, limits/local-admission.ts), through the same few
// primitives admit() and settle() use: one set of semantics, two ways in. A counter the
// sweep drops is marked so, and a holder of it looks its id up again.
import { performance } from 'node:perf_hooks'
import type { AdmitResult, Check, CheckResult, RateLimitStore, SettleOp } from './store.js'

/** A GCRA bucket: its theoretical arrival time (ms; in the past = full). */
export class RateCounter {
  tat = -Infinity
  /**
   * The spacing (ms per unit: period / limit) `tat` was computed with; 0 before the first.
   * A reload can change the limit: the TAT alone, read at another spacing, would count the
   * units used wrong (rateAfter re-expresses it).
   */
  interval = 0
  /** The sweep removed it from the store: look the id up again. */
  dropped = false
}

/** A quota's running sum (never swept: spend is kept). */
export class QuotaCounter {
  sum = 0
}

/** A lease is a number: its slot in the holder, and a store-wide sequence that tells a stale handle from the slot's next lease. */
const SLOT_SPACE = 2 ** 22
const SEQ_SPACE = 2 ** 31

/**
 * The leases held on one concurrency counter, in slots of one typed array: taking and
 * releasing a lease allocates nothing and touches only this holder (a linked list made an
 * object per lease, and unlinking one wrote to other requests' nodes). A slot is two numbers
 * side by side, its lease's handle (0: free) and expiry, and a free slot's second number is
 * the next free slot: a take or a release reads the holder and one line of the array, where
 * separate arrays for handles, expiries and the free stack were three (each with its own
 * header), read cold once per request.
 */
export class Holder {
  size = 0
  /** The sweep removed it from the store (it held no lease): look the id up again. */
  dropped = false
  /** Slots ever used; free ones below it are on the free list. */
  private used = 0
  /** The first free slot below `used` (-1: none). */
  private freeHead = -1
  /** [handle, expires or next free slot] per slot. */
  private slots = new Float64Array(16)

  /** A new lease, as its handle. */
  take(expires: number, seq: number): number {
    const slots = this.slots
    let slot = this.freeHead
    // | 0 here and in release(): slot numbers stay small integers (a double in the field would box every write).
    if (slot >= 0) this.freeHead = slots[2 * slot + 1]! | 0
    else {
      if (2 * this.used === slots.length) return this.takeGrown(expires, seq)
      slot = this.used++
    }
    const handle = seq * SLOT_SPACE + slot
    slots[2 * slot] = handle
    slots[2 * slot + 1] = expires
    this.size++
    return handle
  }

  /** Frees the lease `handle`, if it is still held (a second release is harmless). */
  release(handle: number): void {
    const slot = (handle % SLOT_SPACE) | 0
    if (slot < this.used && this.slots[2 * slot] === handle) this.freeSlot(slot)
  }

  dropExpired(now: number): void {
    const slots = this.slots
    for (let slot = 0; slot < this.used; slot++) {
      if (slots[2 * slot] !== 0 && slots[2 * slot + 1]! <= now) this.freeSlot(slot)
    }
  }

  private freeSlot(slot: number): void {
    this.slots[2 * slot] = 0
    this.slots[2 * slot + 1] = this.freeHead
    this.freeHead = slot
    this.size--
  }

  /** take() when every slot is in use: twice the slots, then the take. */
  private takeGrown(expires: number, seq: number): number {
    const n = this.slots.length
    if (n > SLOT_SPACE) throw new RangeError('too many concurrent leases on one counter')
    const slots = new Float64Array(2 * n)
    slots.set(this.slots)
    this.slots = slots
    return this.take(expires, seq)
  }
}

export interface MemoryStoreOptions {
  /** Monotonic ms clock. Defaults to performance.now() (then a caller's `at` reading is used); tests pass their own. */
  readonly now?: () => number
  /** How often idle counters are dropped. Defaults to 60 s; 0 = never (tests call sweep()). */
  readonly sweepMs?: number
  /**
   * Counters (rate buckets and lease holders) past which a sweep also runs as soon as the
   * current call is done, not only on the timer: many distinct client IPs (or keys) in a
   * minute would otherwise each leave theirs until the next timed sweep. After a sweep the
   * bound is twice what it kept (at least this), so sweeps stay O(1) a new counter.
   * Defaults to 10 000; 0 = only the timer's.
   */
  readonly sweepAbove?: number
}

const CONCURRENCY_RETRY_MS = 1000
const SWEEP_ABOVE = 10_000

export class MemoryStore implements RateLimitStore {
  private readonly rates = new Map<string, RateCounter>()
  private readonly holders = new Map<string, Holder>()
  private readonly quotas = new Map<string, QuotaCounter>()
  /** Monotonic ms: the store's clock, for callers working on its counters directly. */
  readonly now: () => number
  /** The clock is performance.now(): a caller's `at` is a reading of it. */
  private readonly callerClock: boolean
  /** Scratch for admit() (synchronous, so never shared between two calls). */
  private readonly oks: boolean[] = []
  private readonly found: (RateCounter | Holder | QuotaCounter)[] = []
  /** Lease sequence, 1 … SEQ_SPACE - 1 (0 never: a handle of 0 would read as a free slot). */
  private leaseSeq = 0
  private readonly sweeper: NodeJS.Timeout | undefined
  /** The least of sweepAbove; 0: no sweeps by size. */
  private readonly sweepFloor: number
  /** Counters held past which a sweep is queued (Infinity: never, or one is queued). */
  private sweepAt: number

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? (() => performance.now())
    this.callerClock = options.now === undefined
    const every = options.sweepMs ?? 60_000
    this.sweeper = every > 0 ? setInterval(() => this.sweep(), every).unref() : undefined
    this.sweepFloor = options.sweepAbove ?? SWEEP_ABOVE
    this.sweepAt = this.sweepFloor > 0 ? this.sweepFloor : Infinity
  }

  /** The rate counter `id` (made, full, if new). */
  rate(id: string): RateCounter {
    let c = this.rates.get(id)
    if (c === undefined) {
      this.rates.set(id, (c = new RateCounter()))
      if (this.rates.size + this.holders.size > this.sweepAt) this.queueSweep()
    }
    return c
  }

  /** The leases on concurrency counter `id` (made, empty, if new). */
  holder(id: string): Holder {
    let h = this.holders.get(id)
    if (h === undefined) {
      this.holders.set(id, (h = new Holder()))
      if (this.rates.size + this.holders.size > this.sweepAt) this.queueSweep()
    }
    return h
  }

  /** The quota counter `id` (made, at 0, if new). */
  quota(id: string): QuotaCounter {
    let q = this.quotas.get(id)
    if (q === undefined) this.quotas.set(id, (q = new QuotaCounter()))
    return q
  }

  /** Whether `h` has a free slot under `limit`, dropping expired leases only when it looks full. */
  hasSlot(h: Holder, limit: number, now: number): boolean {
    if (h.size >= limit) h.dropExpired(now)
    return h.size < limit
  }

  /** Takes a lease on `h` that expires at `expires`; returns its handle. */
  takeLease(h: Holder, expires: number): number {
    this.leaseSeq = this.leaseSeq === SEQ_SPACE - 1 ? 1 : this.leaseSeq + 1
    return h.take(expires, this.leaseSeq)
  }

  /** The time to settle at: the caller's reading of performance.now() when that is the store's clock. */
  settleTime(at: number | undefined): number {
    return at !== undefined && this.callerClock ? at : this.now()
  }

  admit(checks: readonly Check[]): AdmitResult {
    const now = this.now()
    // Check everything first; take only if everything passes. Each counter is looked up
    // once: the check pass keeps what it found for the take pass (two checks naming one
    // counter find the same object, so the second sees the first's take).
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
          const bucket = (found[i] = this.rate(c.id))
          const next = rateAfter(bucket, now, c.limit, c.periodMs, c.cost)
          ok = rateFits(next, now, c.limit, c.periodMs)
          if (!ok) retryAfterMs = Math.max(retryAfterMs, c.cost > c.limit ? c.periodMs : Math.ceil(next - now - c.periodMs))
          break
        }
        case 'concurrency': {
          const holder = (found[i] = this.holder(c.id))
          ok = this.hasSlot(holder, c.limit, now)
          if (!ok) retryAfterMs = Math.max(retryAfterMs, CONCURRENCY_RETRY_MS)
          break
        }
        case 'quota': {
          const q = (found[i] = this.quota(c.id))
          ok = quotaFits(q, c.limit, c.floor)
          break
        }
      }
      if (!ok) allowed = false
      oks[i] = ok
    }
    // Results describe the state after this call (a passing check of a refused request was not taken).
    const results: CheckResult[] = []
    for (let i = 0; i < checks.length; i++) results.push(this.apply(checks[i]!, found[i]!, oks[i]!, allowed, now))
    return { allowed, retryAfterMs: allowed ? 0 : retryAfterMs, results }
  }

  settle(ops: readonly SettleOp[], at?: number): void {
    const now = this.settleTime(at)
    for (const op of ops) {
      switch (op.kind) {
        case 'refund':
          rateRefund(this.rate(op.id), now, op.limit, op.periodMs, op.amount)
          break
        case 'release':
          this.holders.get(op.id)?.release(op.lease as number)
          break
        case 'add':
          quotaAdd(this.quota(op.id), op.amount, op.floor)
          break
      }
    }
  }

  /**
   * A sweep once the current call is done: never inside it, since a caller working on the
   * counters directly (local-admission.ts) relies on those it just looked up staying live.
   */
  private queueSweep(): void {
    this.sweepAt = Infinity
    setImmediate(sweepStore, this).unref()
  }

  /** Drops counters that are back to their initial state and leases past their TTL. */
  sweep(): void {
    const now = this.now()
    for (const [id, bucket] of this.rates) {
      if (bucket.tat > now) continue
      bucket.dropped = true
      this.rates.delete(id)
    }
    for (const [id, holder] of this.holders) {
      holder.dropExpired(now)
      if (holder.size > 0) continue
      holder.dropped = true
      this.holders.delete(id)
    }
    if (this.sweepFloor > 0) this.sweepAt = Math.max(this.sweepFloor, 2 * (this.rates.size + this.holders.size))
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
  }

  /** Takes one check (when the request is allowed) and reports its state; `found` is its counter. */
  private apply(c: Check, found: RateCounter | Holder | QuotaCounter, ok: boolean, allowed: boolean, now: number): CheckResult {
    switch (c.kind) {
      case 'rate': {
        const bucket = found as RateCounter
        const at = allowed ? (bucket.tat = rateAfter(bucket, now, c.limit, c.periodMs, c.cost)) : rateAfter(bucket, now, c.limit, c.periodMs, 0)
        return { ok, remaining: rateRemaining(c.limit, c.periodMs, at, now), resetMs: Math.ceil(at - now) }
      }
      case 'concurrency': {
        const holder = found as Holder
        const held = holder.size
        if (allowed) return { ok, remaining: c.limit - held - 1, resetMs: 0, lease: this.takeLease(holder, now + c.ttlMs) }
        return { ok, remaining: Math.max(0, c.limit - held), resetMs: 0 }
      }
      case 'quota':
        return { ok, remaining: c.limit - Math.max((found as QuotaCounter).sum, c.floor), resetMs: 0 }
    }
  }
}

function sweepStore(store: MemoryStore): void {
  store.sweep()
}

// The counters' semantics, shared by admit()/settle() and callers holding counters.

/**
 * The bucket's arrival time after taking `cost` units (0: as it stands) at `now`. A bucket
 * last taken under another limit is first moved to this one's spacing, keeping the units
 * used: admission is where a store first sees a reloaded limit (refused or not).
 */
export function rateAfter(b: RateCounter, now: number, limit: number, periodMs: number, cost: number): number {
  const interval = periodMs / limit
  if (b.interval !== interval) rateRespace(b, now, interval)
  return (b.tat < now ? now : b.tat) + cost * interval
}

/** Re-expresses the bucket at `interval`: used = (tat − now) / old interval (at least 0) stays used. */
function rateRespace(b: RateCounter, now: number, interval: number): void {
  if (b.tat > now && b.interval > 0) b.tat = now + ((b.tat - now) / b.interval) * interval
  b.interval = interval
}

/**
 * Whether an arrival time `next` (rateAfter) is within the bucket's depth. The slack (a
 * millionth of a unit, as rateRemaining's) absorbs float error: 7 per minute is a
 * non-terminating interval, and seven of them added up can land a hair past the minute,
 * which refused the seventh request of a burst.
 */
export function rateFits(next: number, now: number, limit: number, periodMs: number): boolean {
  return next - now <= periodMs + (periodMs / limit) * 1e-6
}

/**
 * Gives `amount` units back to the bucket (< 0: charges more, possibly into debt). Units are
 * units at the bucket's own spacing: `limit` is the one the request was admitted under, maybe
 * before a reload, and counts only for a bucket holding nothing (no spacing of its own then).
 */
export function rateRefund(b: RateCounter, now: number, limit: number, periodMs: number, amount: number): void {
  // A bucket refunded back to full stays (tat ≤ now reads as full) until the sweep: with a
  // roomy limit that is every request, and the next one would make it again.
  if (b.tat <= now) {
    b.tat = now
    b.interval = periodMs / limit
  }
  b.tat -= amount * b.interval
}

/**
 * Whether a quota is still open: its sum (at least `floor`) below `limit`. The floor is kept
 * (as the Redis script keeps it): spend the caller knows of counts from then on.
 */
export function quotaFits(q: QuotaCounter, limit: number, floor: number): boolean {
  if (floor > q.sum) q.sum = floor
  return q.sum < limit
}

export function quotaAdd(q: QuotaCounter, amount: number, floor: number): void {
  q.sum = Math.max(q.sum, floor) + amount
}

/** Whole units left in a GCRA bucket whose arrival time is `tat`, at `now`. */
export function rateRemaining(limit: number, periodMs: number, tat: number, now: number): number {
  const interval = periodMs / limit
  // The epsilon absorbs float error (7 per minute is a non-terminating interval).
  return Math.max(0, Math.floor((periodMs - Math.max(0, tat - now)) / interval + 1e-6))
}
