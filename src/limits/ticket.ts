// A request's record of its limits, from admission to settlement, and the counter ids (and,
// with the memory store, the counters) of each scope: a key, a client IP, a model.
import type { LimitSet } from '../config/limits-schema.js'
import type { Holder, QuotaCounter, RateCounter } from './memory-store.js'
import { figuresText, pushFigures, type RateLimitFigures } from './rate-limit-headers.js'
import type { ConcurrencyCheck, Lease, RateCheck } from './store.js'

/**
 * What settle needs of an admitted request, inline in one object. Settle runs when the
 * response ends, after many other requests: by then the admission's checks and results are
 * out of the CPU's caches, and reading them cost a miss each (about 0.4 µs a request under
 * load, by perf). The counter ids are shared by every request (in cache); the rest is here.
 * Fields per scope (key, client IP, model) rather than arrays: each array is one more miss.
 * It carries the figures for the rate-limit headers too, made into text as the head is written.
 */
export class Ticket implements RateLimitFigures {
  requestsLimit = -1
  requestsRemaining = 0
  requestsResetMs = 0
  tokensLimit = -1
  tokensRemaining = 0
  tokensResetMs = 0
  /** The tokens each scope's tokens-per-minute limit took (0: no such limit). */
  keyCost = 0
  ipCost = 0
  modelCost = 0
  /** Concurrency leases taken, per scope. */
  keyLease: Lease = undefined
  ipLease: Lease = undefined
  modelLease: Lease = undefined

  constructor(
    /** Each scope's counters and limits (undefined: no limit of that scope applies). */
    readonly keyIds: Ids | undefined,
    readonly keySet: LimitSet | undefined,
    readonly ipIds: Ids | undefined,
    readonly ipSet: LimitSet | undefined,
    readonly modelIds: Ids | undefined,
    readonly modelSet: LimitSet | undefined,
    /** The key's budget is checked (then its spend is added to the store): limit and known spend (USD). */
    readonly budget: boolean,
    readonly budgetUsd: number,
    readonly spentUsd: number,
    /** How long a concurrency lease may be held. */
    readonly ttlMs: number
  ) {}

  /** The rate-limit headers (the request's LateHeaders). */
  pushHeaders(out: string[]): void {
    pushFigures(this, out)
  }

  headText(): string {
    return figuresText(this)
  }

  get writesRateLimits(): boolean {
    return this.requestsLimit >= 0 || this.tokensLimit >= 0
  }
}

/**
 * A scope's counter ids; the checks that are the same every request (shared: checks are
 * immutable); the memory store's counters once looked up (limits/local-admission.ts).
 */
export class Ids {
  rpmCheck: RateCheck | undefined = undefined
  concCheck: ConcurrencyCheck | undefined = undefined
  rpmCounter: RateCounter | undefined = undefined
  tpmCounter: RateCounter | undefined = undefined
  holder: Holder | undefined = undefined
  usdCounter: QuotaCounter | undefined = undefined
  readonly rpm: string
  readonly tpm: string
  readonly conc: string
  readonly usd: string

  constructor(id: string) {
    this.rpm = `${id}:rpm`
    this.tpm = `${id}:tpm`
    this.conc = `${id}:conc`
    this.usd = `${id}:usd`
  }
}

type Scope = 'k:' | 'ip:' | 'm:'

/** One scope's counter ids by name, and the last one asked for (consecutive requests mostly repeat it). */
class ScopeIds {
  private readonly byName = new Map<string, Ids>()
  private lastName: string | undefined = undefined
  private lastIds: Ids | undefined = undefined

  constructor(
    private readonly owner: CounterIds,
    private readonly scope: Scope
  ) {}

  of(name: string): Ids {
    if (name === this.lastName) return this.lastIds!
    let ids = this.byName.get(name)
    if (ids === undefined) {
      this.owner.grew()
      this.byName.set(name, (ids = new Ids(this.scope + name)))
    }
    this.lastName = name
    this.lastIds = ids
    return ids
  }

  clear(): void {
    this.byName.clear()
    this.lastName = undefined
    this.lastIds = undefined
  }
}

/**
 * Counter ids by scope and name, made once: the same string objects every request (their
 * hash is computed once, and no string is built per check). Bounded: client IPs come and go.
 * Starting over loses nothing: the counters live in the store, under the same ids.
 */
export class CounterIds {
  readonly keys = new ScopeIds(this, 'k:')
  readonly ips = new ScopeIds(this, 'ip:')
  readonly models = new ScopeIds(this, 'm:')
  private size = 0

  /** A scope made a new entry: past the bound, every scope starts over. */
  grew(): void {
    if (++this.size > 10_000) {
      this.keys.clear()
      this.ips.clear()
      this.models.clear()
      this.size = 1
    }
  }
}
