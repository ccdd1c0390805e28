// RateLimiter: turns a request's key, client IP and model into limit checks, admits it
// through the RateLimitStore in one call (preHandler), and settles it when it ends
// (onResponse): tokens corrected from the upstream's usage, leases released, spend added.
import { costUsd } from '../config/prices.js'
import type { LimitSet } from '../config/limits-schema.js'
import { LimitsUnavailableError, RateLimitedError } from '../errors.js'
import type { Logger } from '../observability/logger.js'
import type { RequestContext } from '../server/context.js'
import { pushRateLimitHeaders, RateLimitFigures } from './rate-limit-headers.js'
import type { SpendLedger } from './spend-ledger.js'
import type { AdmitResult, Check, ConcurrencyCheck, Lease, RateCheck, RateLimitStore, SettleOp } from './store.js'
import { requestedOutputTokens, type TokenEstimator } from '../tokens/token-estimate.js'

const MINUTE = 60_000
/** A lease outlives the longest request it can belong to by this much. */
const LEASE_MARGIN_MS = 30_000
const NO_CHECKS: Check[] = []

/**
 * What settle needs of an admitted request, inline in one object. Settle runs when the
 * response ends, after many other requests: by then the admission's checks and results are
 * out of the CPU's caches, and reading them cost a miss each (about 0.4 µs a request under
 * load, by perf). The counter ids are shared by every request (in cache); the rest is here.
 * Fields per scope (key, client IP, model) rather than arrays: each array is one more miss.
 * It carries the figures for the rate-limit headers too, made into text as the head is written.
 */
class Ticket extends RateLimitFigures {
  /** Tokens-per-minute limit and the tokens taken, per scope (limit 0: no such check). */
  keyTpm = 0
  keyCost = 0
  ipTpm = 0
  ipCost = 0
  modelTpm = 0
  modelCost = 0
  /** The request's checks, until it is admitted (settle needs none of them). */
  checks: Check[] = []
  /** Concurrency leases taken, per scope. */
  keyLease: Lease = undefined
  ipLease: Lease = undefined
  modelLease: Lease = undefined

  constructor(
    readonly keyIds: Ids | undefined,
    readonly ipIds: Ids | undefined,
    readonly modelIds: Ids | undefined,
    /** The key's budget was checked: its spend is added to the store. */
    readonly budget: boolean
  ) {
    super()
  }
}

export interface RateLimiterOptions {
  readonly store: RateLimitStore
  readonly ledger: SpendLedger
  readonly estimator: TokenEstimator
  readonly log: Logger
}

export interface RateLimiterStats {
  /** Store calls that failed (Redis unreachable or too slow). */
  storeErrors: number
  /** Requests admitted unchecked because the store failed and on_error is open. */
  admittedUnchecked: number
  /** 429s, by what was exceeded. */
  refused: { requests: number; tokens: number; concurrency: number; budget: number }
}

export class RateLimiter {
  readonly stats: RateLimiterStats = {
    storeErrors: 0,
    admittedUnchecked: 0,
    refused: { requests: 0, tokens: 0, concurrency: 0, budget: 0 },
  }
  /** The store failed and has not answered since. */
  degraded = false

  constructor(private readonly options: RateLimiterOptions) {}

  /** preHandler: checks and takes every limit that applies, in one store call. */
  readonly admit = (ctx: RequestContext): void | Promise<void> => {
    const t = this.checksFor(ctx)
    if (t === undefined) return
    let result: AdmitResult | Promise<AdmitResult>
    try {
      result = this.options.store.admit(t.checks)
    } catch (err) {
      return this.storeFailed(ctx, err)
    }
    if (result instanceof Promise) {
      return result.then(
        (r) => this.admitted(ctx, t, r),
        (err: unknown) => this.storeFailed(ctx, err)
      )
    }
    this.admitted(ctx, t, result)
  }

  /** onResponse: spend, token correction and lease release, however the request ended. */
  readonly settle = (ctx: RequestContext): void => {
    const key = ctx.key
    const usage = ctx.usage
    let usd = 0
    let floor = 0
    if (key !== undefined && usage !== undefined) {
      usd = costUsd(ctx.snapshot.config.prices, ctx.servedModel ?? ctx.model, usage)
      floor = this.options.ledger.spent(key.name)
      this.options.ledger.record(key.name, usd)
    }
    const t = ctx.admission as Ticket | undefined
    if (t === undefined) return
    // Tokens used: the upstream's figure; else the estimate if the model worked on it
    // (an answer without usage, or a client that left mid-way, -1 here); else none.
    const worked = ctx.attempts > 0 && (ctx.cancelled || (ctx.upstream !== undefined && ctx.status < 400))
    const used = usage !== undefined ? usage.total_tokens : worked ? -1 : 0
    const ops: SettleOp[] = []
    if (t.budget && usd > 0) ops.push({ kind: 'add', id: t.keyIds!.usd, amount: usd, floor })
    if (t.keyIds !== undefined) settleScope(ops, t.keyIds, t.keyTpm, t.keyCost, t.keyLease, used)
    if (t.ipIds !== undefined) settleScope(ops, t.ipIds, t.ipTpm, t.ipCost, t.ipLease, used)
    if (t.modelIds !== undefined) settleScope(ops, t.modelIds, t.modelTpm, t.modelCost, t.modelLease, used)
    // The response's end, as the handler measured it: no second clock read.
    if (ops.length > 0) this.options.store.settle(ops, ctx.startedAt + ctx.durationMs)
  }

  /** The checks for this request, in a new ticket; undefined when no limit applies. */
  private checksFor(ctx: RequestContext): Ticket | undefined {
    const limits = ctx.snapshot.config.limits
    const key = ctx.key
    const model = ctx.model!
    const perIp = limits.per_ip
    const perModel = Object.hasOwn(limits.per_model, model) ? limits.per_model[model] : undefined
    const keyLimits = key?.limits
    const budget = key !== undefined && key.budgetUsd !== undefined
    if (keyLimits === undefined && !budget && perIp === undefined && perModel === undefined) return undefined
    const countTokens =
      keyLimits?.tokens_per_minute !== undefined || perIp?.tokens_per_minute !== undefined || perModel?.tokens_per_minute !== undefined
    const prompt = countTokens ? this.options.estimator.estimate(ctx.route!.config, ctx.endpoint!, ctx.body!) : 0
    const output = countTokens ? requestedOutputTokens(ctx.body!) : 0
    const ttl = ctx.route!.config.timeouts.total + LEASE_MARGIN_MS
    const ids = this.ids
    const keyIds = keyLimits !== undefined || budget ? ids.keys.of(key!.name) : undefined
    const ipIds = perIp !== undefined ? ids.ips.of(ctx.clientIp) : undefined
    const modelIds = perModel !== undefined ? ids.models.of(model) : undefined
    const t = new Ticket(keyIds, ipIds, modelIds, budget)
    const checks = t.checks
    if (budget) checks.push({ kind: 'quota', id: keyIds!.usd, dim: 'budget', limit: key.budgetUsd, floor: this.options.ledger.spent(key.name) })
    if (keyLimits !== undefined) t.keyCost = addLimits(checks, keyIds!, keyLimits, prompt, output, ttl)
    if (perIp !== undefined) t.ipCost = addLimits(checks, ipIds!, perIp, prompt, output, ttl)
    if (perModel !== undefined) t.modelCost = addLimits(checks, modelIds!, perModel, prompt, output, ttl)
    t.keyTpm = keyLimits?.tokens_per_minute ?? 0
    t.ipTpm = perIp?.tokens_per_minute ?? 0
    t.modelTpm = perModel?.tokens_per_minute ?? 0
    return checks.length > 0 ? t : undefined
  }

  private readonly ids = new CounterIds()

  private admitted(ctx: RequestContext, t: Ticket, r: AdmitResult): void {
    if (this.degraded) {
      this.degraded = false
      this.options.log.info('rate limit store answering again; limits enforced')
    }
    const checks = t.checks
    if (!r.allowed) {
      pushRateLimitHeaders(ctx.responseHeaders, checks, r.results)
      throw this.refusal(checks, r)
    }
    t.take(checks, r.results)
    ctx.lateHeaders = t
    // The leases, by scope (each scope's concurrency check carries its own id string).
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i]!
      if (c.kind !== 'concurrency') continue
      const lease = r.results[i]!.lease
      if (c.id === t.keyIds?.conc) t.keyLease = lease
      else if (c.id === t.ipIds?.conc) t.ipLease = lease
      else t.modelLease = lease
    }
    t.checks = NO_CHECKS
    ctx.admission = t
  }

  private refusal(checks: readonly Check[], r: AdmitResult): RateLimitedError {
    let failed = checks.findIndex((c, i) => c.kind === 'quota' && !r.results[i]!.ok)
    if (failed < 0) failed = r.results.findIndex((x) => !x.ok)
    const c = checks[failed]!
    this.stats.refused[c.dim]++
    const scope = scopeOf(c.id)
    if (c.kind === 'quota') {
      return new RateLimitedError(`The budget of ${scope} ($${c.limit}) is used up.`, 0, 'insufficient_quota')
    }
    if (c.kind === 'rate' && c.cost > c.limit) {
      const err = new RateLimitedError(`Request too large for ${scope}: about ${c.cost} tokens, over the limit of ${c.limit} tokens per minute.`, c.periodMs / 1000)
      err.headers = { ...err.headers, 'x-should-retry': 'false' }
      return err
    }
    const what = c.kind === 'concurrency' ? `${c.limit} concurrent requests` : `${c.limit} ${c.dim} per minute`
    return new RateLimitedError(`Rate limit reached for ${scope}: ${what}. Retry after the time in Retry-After.`, r.retryAfterMs / 1000)
  }

  private storeFailed(ctx: RequestContext, err: unknown): void {
    this.stats.storeErrors++
    const onError = ctx.snapshot.config.state.on_error
    if (!this.degraded) {
      this.degraded = true
      this.options.log.error(
        { err: err instanceof Error ? err.message : String(err), on_error: onError },
        onError === 'open' ? 'rate limit store unavailable: admitting requests without limits' : 'rate limit store unavailable: refusing requests (503)'
      )
    }
    if (onError === 'closed') throw new LimitsUnavailableError()
    this.stats.admittedUnchecked++
  }
}

/** A scope's counter ids, and the checks that are the same every request (shared: checks are immutable). */
interface Ids {
  readonly rpm: string
  readonly tpm: string
  readonly conc: string
  readonly usd: string
  rpmCheck: RateCheck | undefined
  concCheck: ConcurrencyCheck | undefined
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
      const id = this.scope + name
      this.byName.set(name, (ids = { rpm: `${id}:rpm`, tpm: `${id}:tpm`, conc: `${id}:conc`, usd: `${id}:usd`, rpmCheck: undefined, concCheck: undefined }))
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
 */
class CounterIds {
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

/** The checks of one limit set (a key's, the client IP's or the model's); returns the tokens its tokens-per-minute check takes (0: none). */
function addLimits(checks: Check[], id: Ids, set: LimitSet, prompt: number, output: number, ttlMs: number): number {
  let tokens = 0
  const rpm = set.requests_per_minute
  if (rpm !== undefined) {
    let c = id.rpmCheck
    if (c === undefined || c.limit !== rpm) id.rpmCheck = c = { kind: 'rate', id: id.rpm, dim: 'requests', limit: rpm, periodMs: MINUTE, cost: 1 }
    checks.push(c)
  }
  const tpm = set.tokens_per_minute
  if (tpm !== undefined) {
    // The reserved output never makes a request impossible on its own: it is capped at the limit.
    tokens = Math.max(1, Math.min(prompt + output, Math.max(tpm, prompt)))
    checks.push({ kind: 'rate', id: id.tpm, dim: 'tokens', limit: tpm, periodMs: MINUTE, cost: tokens })
  }
  const conc = set.concurrency
  if (conc !== undefined) {
    let c = id.concCheck
    if (c === undefined || c.limit !== conc || c.ttlMs !== ttlMs) id.concCheck = c = { kind: 'concurrency', id: id.conc, dim: 'concurrency', limit: conc, ttlMs }
    checks.push(c)
  }
  return tokens
}

/** One scope's settlements: tokens given back (or charged) against its estimate, its lease freed. `used` -1: as estimated. */
function settleScope(ops: SettleOp[], ids: Ids, tpm: number, cost: number, lease: Lease, used: number): void {
  if (tpm > 0 && used >= 0 && used !== cost) ops.push({ kind: 'refund', id: ids.tpm, limit: tpm, periodMs: MINUTE, amount: cost - used })
  if (lease !== undefined) ops.push({ kind: 'release', id: ids.conc, lease })
}

const SCOPES: Readonly<Record<string, string>> = { k: 'key', ip: 'client', m: 'model' }

/** Whose limit a counter id is, for messages: `k:team-a:rpm` → `key team-a`. */
function scopeOf(id: string): string {
  const start = id.indexOf(':')
  return `${SCOPES[id.slice(0, start)]} ${id.slice(start + 1, id.lastIndexOf(':'))}`
}
