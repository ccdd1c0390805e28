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
import type { Lease } from './store.js'
import type { Ids, Ticket } from './ticket.js'

export const MINUTE = 60_000

/** Checks every limit of `t` and takes them all; false (nothing taken) when one does not fit. */
export function admitLocal(s: MemoryStore, t: Ticket): boolean {
  const now = s.now()
  if (t.budget && !quotaFits(usdOf(s, t.keyIds!), t.budgetUsd, t.spentUsd)) return false
  if (t.keySet !== undefined && !fits(s, t.keyIds!, t.keySet, t.keyCost, now)) return false
  if (t.ipSet !== undefined && !fits(s, t.ipIds!, t.ipSet, t.ipCost, now)) return false
  if (t.modelSet !== undefined && !fits(s, t.modelIds!, t.modelSet, t.modelCost, now)) return false
  // In the generic path's order (budget, key, IP, model), so the header figures are the same.
  if (t.keySet !== undefined) t.keyLease = take(s, t, t.keyIds!, t.keySet, t.keyCost, now)
  if (t.ipSet !== undefined) t.ipLease = take(s, t, t.ipIds!, t.ipSet, t.ipCost, now)
  if (t.modelSet !== undefined) t.modelLease = take(s, t, t.modelIds!, t.modelSet, t.modelCost, now)
  return true
}

/**
 * Settles an admitted request: `usd` spent (added to the budget's quota when checked), tokens
 * `used` against each scope's estimate (-1: as estimated), leases freed. `at`: as settle().
 */
export function settleLocal(s: MemoryStore, t: Ticket, usd: number, spentBefore: number, used: number, at: number): void {
  const now = s.settleTime(at)
  if (t.budget && usd > 0) quotaAdd(usdOf(s, t.keyIds!), usd, spentBefore)
  if (t.keyIds !== undefined) settleScope(s, t.keyIds, t.keySet, t.keyCost, t.keyLease, used, now)
  if (t.ipIds !== undefined) settleScope(s, t.ipIds, t.ipSet, t.ipCost, t.ipLease, used, now)
  if (t.modelIds !== undefined) settleScope(s, t.modelIds, t.modelSet, t.modelCost, t.modelLease, used, now)
}

function fits(s: MemoryStore, ids: Ids, set: LimitSet, cost: number, now: number): boolean {
  const rpm = set.requests_per_minute
  if (rpm !== undefined && !rateFits(rateAfter(rpmOf(s, ids), now, rpm, MINUTE, 1), now, rpm, MINUTE)) return false
  const tpm = set.tokens_per_minute
  if (tpm !== undefined && !rateFits(rateAfter(tpmOf(s, ids), now, tpm, MINUTE, cost), now, tpm, MINUTE)) return false
  const conc = set.concurrency
  return conc === undefined || s.hasSlot(holderOf(s, ids), conc, now)
}

/** Takes one scope's limits (fits() has just looked its counters up); returns its lease, if any. */
function take(s: MemoryStore, t: Ticket, ids: Ids, set: LimitSet, cost: number, now: number): Lease {
  const rpm = set.requests_per_minute
  if (rpm !== undefined) {
    const b = ids.rpmCounter!
    const tat = (b.tat = rateAfter(b, now, rpm, MINUTE, 1))
    t.requests(rpm, rateRemaining(rpm, MINUTE, tat, now), Math.ceil(tat - now))
  }
  const tpm = set.tokens_per_minute
  if (tpm !== undefined) {
    const b = ids.tpmCounter!
    const tat = (b.tat = rateAfter(b, now, tpm, MINUTE, cost))
    t.tokens(tpm, rateRemaining(tpm, MINUTE, tat, now), Math.ceil(tat - now))
  }
  const conc = set.concurrency
  return conc === undefined ? undefined : s.takeLease(ids.holder!, now + t.ttlMs)
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
