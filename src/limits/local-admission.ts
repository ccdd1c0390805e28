// The rate limiter's fused path for the memory store: every limit of a request checked and
// taken on the store's counters directly, through the store's own primitives (so one set of
// semantics, which the conformance suite covers through admit() and settle()). It builds no
// check, result or settlement objects and writes the header figures straight into the
// ticket: about half the machine code of the generic path, which is what a request pays for
// most here (docs/auth-limits-cost.md). It only ever admits: a request that does not fit goes
// the generic way, which refuses it with the details (or admits it, if time freed a unit).
import {
  type Holder,
  type MemoryStore,
  type QuotaCounter,
  type RateCounter,
  quotaAdd,
  quotaFits,
  rateAfter,
  rateFits,
  rateRefund,
  rateRemaining,
} from './memory-store.js'
import type { LimitSet } from '../config/limits-schema.js'
import { clearFigures, requestsFigures, tokensFigures } from './rate-limit-headers.js'
import type { Lease } from './store.js'
import type { Ids, Ticket } from './ticket.js'

export const MINUTE = 60_000

/**
 * Checks every limit of `t` and takes them all; false (nothing taken) when one does not fit.
 * One pass, in the generic path's order (budget, key, IP, model), so the header figures are
 * the same: each scope's limits are checked and then taken together, and if a later scope
 * does not fit, what the earlier ones took is put back (rare: the generic path then refuses
 * with the details). One pass rather than a check pass and a take pass: this code runs once
 * per request, cold, and its machine code's size is what it costs most
 * (docs/auth-limits-cost.md).
 */
export function admitLocal(s: MemoryStore, t: Ticket): boolean {
  const now = s.now()
  if (t.budget && !quotaFits(usdOf(s, t.keyIds!), t.budgetUsd, t.spentUsd)) return false
  for (let i = 0; i < SCOPES; i++) {
    const set = setOf(t, i)
    if (set !== undefined && !takeScope(s, t, i, idsOf(t, i)!, set, costOf(t, i), now)) {
      putBack(t, i)
      return false
    }
  }
  return true
}

/**
 * Settles an admitted request: `usd` spent (added to the budget's quota when checked), tokens
 * `used` against the key's and the client's estimates and `modelUsed` against the model's
 * (-1: as estimated; 0 for a model a fallback served instead), leases freed. `at`: as settle().
 */
export function settleLocal(s: MemoryStore, t: Ticket, usd: number, spentBefore: number, used: number, modelUsed: number, at: number): void {
  const now = s.settleTime(at)
  if (t.budget && usd > 0) quotaAdd(usdOf(s, t.keyIds!), usd, spentBefore)
  for (let i = 0; i < SCOPES; i++) {
    const ids = idsOf(t, i)
    if (ids !== undefined) settleScope(s, ids, setOf(t, i), costOf(t, i), leaseOf(t, i), i === 2 ? modelUsed : used, now)
  }
}

// A ticket's scopes by number (0 key, 1 client IP, 2 model), for the loops above.
const SCOPES = 3

function idsOf(t: Ticket, i: number): Ids | undefined {
  return i === 0 ? t.keyIds : i === 1 ? t.ipIds : t.modelIds
}

function setOf(t: Ticket, i: number): LimitSet | undefined {
  return i === 0 ? t.keySet : i === 1 ? t.ipSet : t.modelSet
}

function costOf(t: Ticket, i: number): number {
  return i === 0 ? t.keyCost : i === 1 ? t.ipCost : t.modelCost
}

function leaseOf(t: Ticket, i: number): Lease {
  return i === 0 ? t.keyLease : i === 1 ? t.ipLease : t.modelLease
}

function setLease(t: Ticket, i: number, lease: Lease): void {
  if (i === 0) t.keyLease = lease
  else if (i === 1) t.ipLease = lease
  else t.modelLease = lease
}

/**
 * Each scope's arrival times from before admitLocal took its units (requests at 2i, tokens
 * at 2i + 1), to put back if a later scope does not fit. admitLocal is synchronous, so one
 * array serves every call.
 */
const before = new Float64Array(2 * SCOPES)

/** Checks scope `i`'s limits and, if they all fit, takes them; false: nothing of it taken. */
function takeScope(s: MemoryStore, t: Ticket, i: number, ids: Ids, set: LimitSet, cost: number, now: number): boolean {
  const rpm = set.requests_per_minute
  const tpm = set.tokens_per_minute
  const conc = set.concurrency
  let rpmNext = 0
  let tpmNext = 0
  if (rpm !== undefined) {
    rpmNext = rateAfter(rpmOf(s, ids), now, rpm, MINUTE, 1)
    if (!rateFits(rpmNext, now, rpm, MINUTE)) return false
  }
  if (tpm !== undefined) {
    tpmNext = rateAfter(tpmOf(s, ids), now, tpm, MINUTE, cost)
    if (!rateFits(tpmNext, now, tpm, MINUTE)) return false
  }
  if (conc !== undefined && !s.hasSlot(holderOf(s, ids), conc, now)) return false
  // The counters just looked up are live: nothing runs in between that could drop them.
  if (rpm !== undefined) {
    const b = ids.rpmCounter!
    before[2 * i] = b.tat
    b.tat = rpmNext
    requestsFigures(t, rpm, rateRemaining(rpm, MINUTE, rpmNext, now), Math.ceil(rpmNext - now))
  }
  if (tpm !== undefined) {
    const b = ids.tpmCounter!
    before[2 * i + 1] = b.tat
    b.tat = tpmNext
    tokensFigures(t, tpm, rateRemaining(tpm, MINUTE, tpmNext, now), Math.ceil(tpmNext - now))
  }
  if (conc !== undefined) setLease(t, i, s.takeLease(ids.holder!, now + t.ttlMs))
  return true
}

/** Puts back what the scopes before `failed` took (arrival times, leases) and the header figures: the generic path starts from nothing. */
function putBack(t: Ticket, failed: number): void {
  for (let i = 0; i < failed; i++) {
    const set = setOf(t, i)
    if (set === undefined) continue
    const ids = idsOf(t, i)!
    if (set.requests_per_minute !== undefined) ids.rpmCounter!.tat = before[2 * i]!
    if (set.tokens_per_minute !== undefined) ids.tpmCounter!.tat = before[2 * i + 1]!
    const lease = leaseOf(t, i)
    if (lease !== undefined) {
      ids.holder!.release(lease as number)
      setLease(t, i, undefined)
    }
  }
  clearFigures(t)
}

function settleScope(s: MemoryStore, ids: Ids, set: LimitSet | undefined, cost: number, lease: Lease, used: number, now: number): void {
  const tpm = set?.tokens_per_minute
  if (tpm !== undefined && used >= 0 && used !== cost) rateRefund(tpmOf(s, ids), now, tpm, MINUTE, cost - used)
  // A holder the sweep dropped held no lease any more; its successor frees nothing it did not issue.
  if (lease !== undefined) holderOf(s, ids).release(lease as number)
}

// A scope's counters, held on its ids; looked up again once the sweep has dropped them (a
// counter not dropped is the store's own for its id, so every holder of it sees one state).

function rpmOf(s: MemoryStore, ids: Ids): RateCounter {
  const c = ids.rpmCounter
  return c !== undefined && !c.dropped ? c : (ids.rpmCounter = s.rate(ids.rpm))
}

function tpmOf(s: MemoryStore, ids: Ids): RateCounter {
  const c = ids.tpmCounter
  return c !== undefined && !c.dropped ? c : (ids.tpmCounter = s.rate(ids.tpm))
}

function holderOf(s: MemoryStore, ids: Ids): Holder {
  const h = ids.holder
  return h !== undefined && !h.dropped ? h : (ids.holder = s.holder(ids.conc))
}

function usdOf(s: MemoryStore, ids: Ids): QuotaCounter {
  return (ids.usdCounter ??= s.quota(ids.usd))
}
