// RateLimiter: turns a request's key, client IP and model into limit checks, admits it
// through the RateLimitStore in one call (preHandler), and settles it when it ends
// (onResponse): tokens corrected from the upstream's usage, leases released, spend added.
// With the memory store it works on the store's counters directly (local-admission.ts) and
// goes through checks and results only to refuse.
import { costUsd } from '../config/prices.js'
import { clientGroup } from '../server/client-ip.js'
import type { LimitSet } from '../config/limits-schema.js'
import type { Config } from '../config/schema.js'
import { LimitsUnavailableError, RateLimitedError } from '../errors.js'
import type { Logger } from '../observability/logger.js'
import type { RequestContext } from '../server/context.js'
import { ConfigLimits } from './active-limits.js'
import { admitLocal, MINUTE, settleLocal } from './local-admission.js'
import { MemoryStore } from './memory-store.js'
import { pushRateLimitHeaders, takeFigures } from './rate-limit-headers.js'
import type { SpendLedger } from './spend-ledger.js'
import type { AdmitResult, Check, Lease, RateLimitStore, SettleOp } from './store.js'
import { CounterIds, type Ids, Ticket } from './ticket.js'
import { requestedOutputTokens, type TokenEstimator } from '../tokens/token-estimate.js'

/** A lease outlives the longest request it can belong to by this much. */
const LEASE_MARGIN_MS = 30_000

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

  /** The memory store, when it is the store: its counters are worked on directly. */
  private readonly local: MemoryStore | undefined
  private readonly ids = new CounterIds()
  /** The per-IP and per-model limits of the config `limitsOf`, in the limiter's shape. */
  private configLimits = new ConfigLimits({ per_model: {} })
  private limitsOf: Config | undefined = undefined
  private lastIp = ''
  private lastPrefix = 0
  private lastGroup = ''

  constructor(private readonly options: RateLimiterOptions) {
    this.local = options.store instanceof MemoryStore ? options.store : undefined
  }

  /** preHandler: checks and takes every limit that applies, in one store call. */
  readonly admit = (ctx: RequestContext): void | Promise<void> => {
    const t = this.ticketFor(ctx)
    if (t === undefined) return
    if (this.local !== undefined && admitLocal(this.local, t)) {
      ctx.lateHeaders = t
      ctx.admission = t
      return
    }
    const checks = checksOf(t)
    let result: AdmitResult | Promise<AdmitResult>
    try {
      result = this.options.store.admit(checks)
    } catch (err) {
      return this.storeFailed(ctx, err)
    }
    if (result instanceof Promise) {
      return result.then(
        (r) => this.admitted(ctx, t, checks, r),
        (err: unknown) => this.storeFailed(ctx, err)
      )
    }
    this.admitted(ctx, t, checks, result)
  }

  /**
   * A fallback hook (forward): before a request is served by the fallback model `model`, that
   * model's own limits (per_model) are checked and taken, as for a request that asked for it;
   * over them, the fallback is skipped with the 429 it would have had. The key's and the
   * client's limits were taken once, at admission.
   */
  readonly admitFallback = (ctx: RequestContext, model: string): void | Promise<void> => {
    this.releaseTriedModel(ctx)
    const set = this.limitsFor(ctx.snapshot.config).perModel.get(model)
    if (set === undefined) return
    const route = ctx.snapshot.routes.resolve(model)!
    const countTokens = set.tokens_per_minute !== undefined
    const prompt = countTokens ? this.options.estimator.estimate(route.config, ctx.endpoint!, ctx.body!) : 0
    const output = countTokens ? requestedOutputTokens(ctx.body!) : 0
    const t = new Ticket(undefined, undefined, undefined, undefined, this.ids.models.of(model), set, false, 0, 0, route.config.timeouts.total + LEASE_MARGIN_MS)
    t.modelCost = tokenCost(set, prompt, output)
    const checks = checksOf(t)
    let result: AdmitResult | Promise<AdmitResult>
    try {
      result = this.options.store.admit(checks)
    } catch (err) {
      return this.storeFailed(ctx, err)
    }
    if (result instanceof Promise) {
      return result.then(
        (r) => this.fallbackAdmitted(ctx, model, t, checks, r),
        (err: unknown) => this.storeFailed(ctx, err)
      )
    }
    this.fallbackAdmitted(ctx, model, t, checks, result)
  }

  /**
   * The model tried before a fallback is done with the request (forward never goes back to
   * it): its concurrency slot is freed now rather than when the fallback's answer ends, so a
   * long stream from the fallback does not keep that model's own clients out.
   */
  private releaseTriedModel(ctx: RequestContext): void {
    const fallbacks = ctx.fallbackAdmissions as FallbackAdmission[] | undefined
    const t = fallbacks !== undefined && fallbacks.length > 0 ? fallbacks[fallbacks.length - 1]!.ticket : (ctx.admission as Ticket | undefined)
    const lease = t?.modelLease
    if (t === undefined || lease === undefined) return
    t.modelLease = undefined
    try {
      this.options.store.settle([{ kind: 'release', id: t.modelIds!.conc, lease }])
    } catch {
      // Redis queues it; a store that failed frees the slot by the lease's expiry.
      this.stats.storeErrors++
    }
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
    const fallbacks = ctx.fallbackAdmissions as FallbackAdmission[] | undefined
    if (t === undefined && fallbacks === undefined) return
    // Tokens used: the upstream's figure; else the estimate if the model worked on it
    // (an answer without usage, or a client that left mid-way, -1 here); else none.
    const worked = ctx.attempts > 0 && (ctx.cancelled || (ctx.upstream !== undefined && ctx.status < 400))
    const used = usage !== undefined ? usage.total_tokens : worked ? -1 : 0
    // The response's end, as the handler measured it: no second clock read.
    const at = ctx.startedAt + ctx.durationMs
    // A model that did not serve (a fallback did) gets back every token it reserved.
    const served = ctx.servedModel
    const modelUsed = served === undefined || served === ctx.model ? used : 0
    if (t !== undefined) this.settleTicket(t, usd, floor, used, modelUsed, at)
    if (fallbacks !== undefined) for (const f of fallbacks) this.settleTicket(f.ticket, 0, 0, used, f.model === served ? used : 0, at)
  }

  /** One ticket's settlement: `used` for the key's and the client's limits, `modelUsed` for the model's. */
  private settleTicket(t: Ticket, usd: number, floor: number, used: number, modelUsed: number, at: number): void {
    if (this.local !== undefined) return settleLocal(this.local, t, usd, floor, used, modelUsed, at)
    const ops: SettleOp[] = []
    if (t.budget && usd > 0) ops.push({ kind: 'add', id: t.keyIds!.usd, amount: usd, floor })
    if (t.keyIds !== undefined) settleScope(ops, t.keyIds, t.keySet, t.keyCost, t.keyLease, used)
    if (t.ipIds !== undefined) settleScope(ops, t.ipIds, t.ipSet, t.ipCost, t.ipLease, used)
    if (t.modelIds !== undefined) settleScope(ops, t.modelIds, t.modelSet, t.modelCost, t.modelLease, modelUsed)
    if (ops.length > 0) this.options.store.settle(ops, at)
  }

  /** This request's limits, in a new ticket; undefined when none applies. */
  private ticketFor(ctx: RequestContext): Ticket | undefined {
    const config = ctx.snapshot.config
    const key = ctx.key
    const model = ctx.model!
    const limits = this.limitsFor(config)
    const perIp = limits.perIp
    const perModel = limits.perModel.get(model)
    // The key ring keeps a key's limits in the same shape (undefined when it sets none).
    const keyLimits = key?.limits
    const budget = key !== undefined && key.budgetUsd !== undefined
    if (keyLimits === undefined && !budget && perIp === undefined && perModel === undefined) return undefined
    const countTokens =
      keyLimits?.tokens_per_minute !== undefined || perIp?.tokens_per_minute !== undefined || perModel?.tokens_per_minute !== undefined
    const prompt = countTokens ? this.options.estimator.estimate(ctx.route!.config, ctx.endpoint!, ctx.body!) : 0
    const output = countTokens ? requestedOutputTokens(ctx.body!) : 0
    const ids = this.ids
    const t = new Ticket(
      keyLimits !== undefined || budget ? ids.keys.of(key!.name) : undefined,
      keyLimits,
      perIp !== undefined ? ids.ips.of(this.ipGroup(ctx.clientIp, config.server.client_ipv6_prefix)) : undefined,
      perIp,
      perModel !== undefined ? ids.models.of(model) : undefined,
      perModel,
      budget,
      budget ? key.budgetUsd : 0,
      budget ? this.options.ledger.spent(key.name) : 0,
      ctx.route!.config.timeouts.total + LEASE_MARGIN_MS
    )
    t.keyCost = tokenCost(keyLimits, prompt, output)
    t.ipCost = tokenCost(perIp, prompt, output)
    t.modelCost = tokenCost(perModel, prompt, output)
    return t
  }

  /** The per-IP and per-model limits of `config`, made into the limiter's shape once per config. */
  private limitsFor(config: Config): ConfigLimits {
    if (config !== this.limitsOf) {
      this.configLimits = new ConfigLimits(config.limits)
      this.limitsOf = config
    }
    return this.configLimits
  }

  /** The client's per-IP identity (server/client-ip.ts clientGroup), the last one remembered: IPv4 costs one scan for ':'. */
  private ipGroup(ip: string, prefix: number): string {
    if (ip === this.lastIp && prefix === this.lastPrefix) return this.lastGroup
    const group = clientGroup(ip, prefix)
    this.lastIp = ip
    this.lastPrefix = prefix
    this.lastGroup = group
    return group
  }

  private admitted(ctx: RequestContext, t: Ticket, checks: readonly Check[], r: AdmitResult): void {
    if (this.degraded) {
      this.degraded = false
      this.options.log.info('rate limit store answering again; limits enforced')
    }
    // The budget's check comes first; a shared store's sum is every replica's spend, whatever
    // file each writes: kept, so a Redis that restarts empty gets it back as the floor.
    if (t.budget && this.options.store.shared === true) this.options.ledger.observe(ctx.key!.name, t.budgetUsd - r.results[0]!.remaining)
    if (!r.allowed) {
      pushRateLimitHeaders(ctx.responseHeaders, checks, r.results)
      throw this.refusal(checks, r)
    }
    takeFigures(t, checks, r.results)
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
    ctx.admission = t
  }

  /** A fallback's admission answered: its ticket kept for settlement (and its figures in the headers), or its refusal thrown. */
  private fallbackAdmitted(ctx: RequestContext, model: string, t: Ticket, checks: readonly Check[], r: AdmitResult): void {
    if (this.degraded) {
      this.degraded = false
      this.options.log.info('rate limit store answering again; limits enforced')
    }
    if (!r.allowed) throw this.refusal(checks, r)
    // The tightest figures of every limit that applies, as for one admission.
    const headers = ctx.lateHeaders instanceof Ticket ? ctx.lateHeaders : (ctx.lateHeaders = t)
    takeFigures(headers, checks, r.results)
    for (let i = 0; i < checks.length; i++) if (checks[i]!.kind === 'concurrency') t.modelLease = r.results[i]!.lease
    const admissions = (ctx.fallbackAdmissions ??= []) as FallbackAdmission[]
    admissions.push({ model, ticket: t })
  }

  private refusal(checks: readonly Check[], r: AdmitResult): RateLimitedError {
    // A refusal for good (a budget spent, a request larger than a tokens-per-minute limit)
    // wins over one that waiting cures: telling the client to retry would only repeat it.
    let failed = checks.findIndex((c, i) => c.kind === 'quota' && !r.results[i]!.ok)
    if (failed < 0) failed = checks.findIndex((c, i) => c.kind === 'rate' && c.cost > c.limit && !r.results[i]!.ok)
    if (failed < 0) failed = r.results.findIndex((x) => !x.ok)
    const c = checks[failed]!
    this.stats.refused[c.dim]++
    const scope = scopeOf(c.id)
    if (c.kind === 'quota') {
      return new RateLimitedError(`The budget of ${scope} ($${c.limit}) is used up.`, 0, 'insufficient_quota')
    }
    if (c.kind === 'rate' && c.cost > c.limit) {
      const err = new RateLimitedError(`Request too large for ${scope}: about ${c.cost} tokens, over the limit of ${c.limit} tokens per minute.`, 0)
      // No Retry-After: no wait makes it fit (it named a time the refusal would be the same).
      err.headers = { 'x-should-retry': 'false' }
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

/** What a fallback model's limits took for a request (settled with the rest). */
interface FallbackAdmission {
  readonly model: string
  readonly ticket: Ticket
}

/** The tokens a set's tokens-per-minute limit takes (0: no such limit). The reserved output never makes a request impossible on its own: it is capped at the limit. */
function tokenCost(set: LimitSet | undefined, prompt: number, output: number): number {
  const tpm = set?.tokens_per_minute
  return tpm === undefined ? 0 : Math.max(1, Math.min(prompt + output, Math.max(tpm, prompt)))
}

/** The generic path's checks for a ticket, in order: budget, then the key's, the client IP's and the model's limits. */
function checksOf(t: Ticket): Check[] {
  const checks: Check[] = []
  if (t.budget) checks.push({ kind: 'quota', id: t.keyIds!.usd, dim: 'budget', limit: t.budgetUsd, floor: t.spentUsd })
  if (t.keySet !== undefined) addLimits(checks, t.keyIds!, t.keySet, t.keyCost, t.ttlMs)
  if (t.ipSet !== undefined) addLimits(checks, t.ipIds!, t.ipSet, t.ipCost, t.ttlMs)
  if (t.modelSet !== undefined) addLimits(checks, t.modelIds!, t.modelSet, t.modelCost, t.ttlMs)
  return checks
}

/** The checks of one limit set (a key's, the client IP's or the model's); `tokens`: what its tokens-per-minute check takes. */
function addLimits(checks: Check[], id: Ids, set: LimitSet, tokens: number, ttlMs: number): void {
  const rpm = set.requests_per_minute
  if (rpm !== undefined) {
    let c = id.rpmCheck
    if (c === undefined || c.limit !== rpm) id.rpmCheck = c = { kind: 'rate', id: id.rpm, dim: 'requests', limit: rpm, periodMs: MINUTE, cost: 1 }
    checks.push(c)
  }
  const tpm = set.tokens_per_minute
  if (tpm !== undefined) checks.push({ kind: 'rate', id: id.tpm, dim: 'tokens', limit: tpm, periodMs: MINUTE, cost: tokens })
  const conc = set.concurrency
  if (conc !== undefined) {
    let c = id.concCheck
    if (c === undefined || c.limit !== conc || c.ttlMs !== ttlMs) id.concCheck = c = { kind: 'concurrency', id: id.conc, dim: 'concurrency', limit: conc, ttlMs }
    checks.push(c)
  }
}

/** One scope's settlements: tokens given back (or charged) against its estimate, its lease freed. `used` -1: as estimated. */
function settleScope(ops: SettleOp[], ids: Ids, set: LimitSet | undefined, cost: number, lease: Lease, used: number): void {
  const tpm = set?.tokens_per_minute
  if (tpm !== undefined && used >= 0 && used !== cost) ops.push({ kind: 'refund', id: ids.tpm, limit: tpm, periodMs: MINUTE, amount: cost - used })
  if (lease !== undefined) ops.push({ kind: 'release', id: ids.conc, lease })
}

const SCOPES: Readonly<Record<string, string>> = { k: 'key', ip: 'client', m: 'model' }

/** Whose limit a counter id is, for messages: `k:team-a:rpm` → `key team-a`. */
function scopeOf(id: string): string {
  const start = id.indexOf(':')
  return `${SCOPES[id.slice(0, start)]} ${id.slice(start + 1, id.lastIndexOf(':'))}`
}
