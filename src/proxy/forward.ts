// The attempt loop: pick (or queue) → dispatch → classify → retry / fall back → commit.
// Retries and fallbacks happen only before the commit point (the first byte to the client).
import { performance } from 'node:perf_hooks'
import {
  GatewayError,
  NoHealthyUpstreamError,
  UpstreamConnectionError,
  UpstreamTimeoutError,
} from '../errors.js'
import { openAiProvider } from '../providers/openai.js'
import type { Route } from '../routing/route-table.js'
import type { Upstream } from '../routing/upstream.js'
import type { RequestContext } from '../server/context.js'
import type { FallbackHook } from '../server/hooks.js'
import { mayUseModel } from '../auth/authenticate.js'
import { affinityKey } from './affinity-key.js'
import { Exchange, relayAnswer, type HeldAnswer } from './exchange.js'

/** A picked member, and whether it came from panic mode (no member of the pool was up). */
interface Choice {
  readonly upstream: Upstream
  readonly panic: boolean
  /** It waited in the admission queue and was woken. */
  readonly queued: boolean
}

/**
 * The fallback models this request may be served by: those its key's allow-list names (a key
 * kept to a small model is not served by a large one when the small one fails). A new list
 * only when the key's allow-list leaves one out.
 */
function fallbacksFor(ctx: RequestContext, first: Route): readonly Route[] {
  const all = first.fallbacks
  if (all.length === 0 || ctx.key?.models === undefined) return all
  for (const r of all) if (!mayUseModel(ctx, r.name)) return all.filter((f) => mayUseModel(ctx, f.name))
  return all
}

/**
 * Forwards ctx (body parsed, route resolved) and relays the response; throws only before
 * commit. `gates` run before each fallback model is tried (its own limits): one that refuses
 * skips that model, and its refusal is the request's error if no later model serves.
 */
export async function forward(ctx: RequestContext, gates: readonly FallbackHook[] = []): Promise<void> {
  const first = ctx.route!
  const deadline = ctx.startedAt + first.config.timeouts.total
  const tried: Upstream[] = []
  let lastError: GatewayError | undefined
  /** The upstream's own answer behind lastError, when it was a held error answer. */
  let lastAnswer: HeldAnswer | undefined
  let panicFailed = false
  first.budget.recordRequest()

  const fallbacks = fallbacksFor(ctx, first)
  for (let i = -1; i < fallbacks.length; i++) {
    const route: Route = i < 0 ? first : fallbacks[i]!
    const isLast = i === fallbacks.length - 1
    if (i >= 0 && gates.length > 0) {
      const refusal = await passGates(gates, ctx, route.name)
      if (ctx.cancelled) return
      if (refusal !== undefined) {
        lastError = refusal
        lastAnswer = undefined
        continue
      }
    }
    const key = route.config.strategy === 'affinity' ? affinityKey(ctx, route.config.affinity.header) : undefined
    let retriesLeft = route.config.retries.attempts
    // Counted when the retry attempt starts, not when it is decided: the pick may find nothing.
    let retrying = false
    for (;;) {
      if (ctx.cancelled) return
      // The common case needs no promise: a member is free.
      const free = route.pool.pick(tried, key)
      let choice: Choice | undefined
      try {
        choice = free !== undefined ? { upstream: free, panic: false, queued: false } : await choose(ctx, route, tried, key, isLast)
      } catch (err) {
        // The queue could not admit it (full, or waited too long): a fallback model may.
        if (isLast || !(err instanceof NoHealthyUpstreamError)) throw err
        lastError = err
        lastAnswer = undefined
        break
      }
      if (ctx.cancelled) return passTurn(route, choice)
      if (choice === undefined) break
      const { upstream } = choice
      if (ctx.attempts > 0 && !first.budget.tryRetry()) {
        passTurn(route, choice)
        return fail(ctx, lastError, lastAnswer, route, panicFailed)
      }
      if (retrying) {
        ctx.retries++
        retrying = false
      }
      tried.push(upstream)
      ctx.attempts++
      ctx.servedModel = route.name
      const t = route.config.timeouts
      const mayRetry = (retriesLeft > 0 || !isLast) && first.budget.canRetry()
      const upstreamModel = upstream.spec.model ?? route.name
      ctx.trace?.startAttempt(upstream, upstreamModel)
      const request = openAiProvider.prepare(ctx, upstream, upstreamModel)
      const exchange = new Exchange(ctx, upstream, request, {
        firstToken: t.first_token,
        idle: t.idle,
        deadline,
        mayRetry,
        keepalive: ctx.stream ? t.keepalive : 0,
      })
      const pending = exchange.start()
      // It holds its slot now (begin() ran): capacity that appeared may serve the next waiter.
      if (choice.queued) route.queue.passOn()
      const result = await pending
      if (result.committed) return
      lastError = result.error
      lastAnswer = result.answer
      if (choice.panic && isUnreachable(lastError)) panicFailed = true
      if (ctx.cancelled || ctx.res.headersSent) throw lastError
      if (!lastError.retryable || performance.now() >= deadline) return fail(ctx, lastError, lastAnswer, route, false)
      if (retriesLeft === 0) break
      retriesLeft--
      retrying = true
    }
  }
  return fail(ctx, lastError, lastAnswer, first, panicFailed)
}

/** Runs the fallback gates for `model`; the refusal, if one refused. */
async function passGates(gates: readonly FallbackHook[], ctx: RequestContext, model: string): Promise<GatewayError | undefined> {
  try {
    for (const gate of gates) await gate(ctx, model)
    return undefined
  } catch (err) {
    if (err instanceof GatewayError) return err
    throw err
  }
}

/** No retry follows: the upstream's own error answer if one was held, else the error. */
function fail(
  ctx: RequestContext,
  lastError: GatewayError | undefined,
  lastAnswer: HeldAnswer | undefined,
  route: Route,
  panicFailed: boolean
): void {
  if (lastAnswer !== undefined && !panicFailed && !ctx.res.headersSent && relayAnswer(ctx, lastAnswer)) return
  throwLast(lastError, route, panicFailed)
}

/**
 * The next member to try: one the balancer picks; else, when every up member is at
 * max_concurrency, the next one to free a slot (waiting in the pool's FIFO queue); else, on the
 * last route of the chain, panic mode (Envoy): with no member up, try them all anyway.
 * Undefined when nothing is left to try on this route or the client left while queued.
 */
async function choose(
  ctx: RequestContext,
  route: Route,
  tried: readonly Upstream[],
  key: string | undefined,
  isLast: boolean
): Promise<Choice | undefined> {
  let woken = false
  for (;;) {
    // The model's newest pool: members added or limits raised while it waited count.
    const pool = route.queue.pool ?? route.pool
    const upstream = pool.pick(tried, key)
    if (upstream !== undefined) return { upstream, panic: false, queued: woken }
    if (!pool.isSaturated()) {
      const panic = isLast ? pool.pickPanic(tried, key) : undefined
      if (panic !== undefined) return { upstream: panic, panic: true, queued: woken }
      // Woken, but nothing here is usable now (members ejected or removed meanwhile): the
      // waiters behind learn the same at once instead of at their timeout.
      if (woken) route.queue.release()
      return undefined
    }
    // A woken waiter that lost the slot to someone else goes back to the head of the line.
    woken = await route.queue.wait(ctx.signal, woken)
    if (!woken) return undefined
  }
}

/**
 * A waiter woken for a freed slot that will not take it (its client left, or the retry
 * budget is spent) hands the turn to the next waiter: else, with nothing else in flight to
 * free another slot, the rest of the queue would wait out its timeout in front of an idle
 * upstream.
 */
function passTurn(route: Route, choice: Choice | undefined): void {
  if (choice?.queued === true) route.queue.release()
}

/** Nothing answered: the failure says the upstream is gone, not that it said no. */
function isUnreachable(err: GatewayError): boolean {
  return err instanceof UpstreamConnectionError || (err instanceof UpstreamTimeoutError && err.code === 'connect_timeout')
}

function throwLast(lastError: GatewayError | undefined, route: Route, panicFailed: boolean): never {
  if (lastError === undefined || panicFailed) {
    const why = lastError === undefined ? '' : ` (${lastError.message})`
    throw new NoHealthyUpstreamError(
      `No upstream of model '${route.name}' is available${why}.`,
      'no_healthy_upstream',
      retryAfterSeconds(route)
    )
  }
  throw lastError
}

/** Seconds until the first member of the pool is due back from ejection or cooldown (1 … 60). */
function retryAfterSeconds(route: Route): number {
  const now = Date.now()
  let soonest = Number.POSITIVE_INFINITY
  for (const u of route.pool.members) {
    const back = Math.max(u.ejectedUntil, u.cooldownUntil)
    if (back > now) soonest = Math.min(soonest, back - now)
  }
  return Number.isFinite(soonest) ? Math.min(60, Math.max(1, Math.ceil(soonest / 1000))) : 1
}
