// The attempt loop: pick → dispatch → classify → retry / fall back → commit.
// Retries and fallbacks happen only before the commit point (the first byte to the client).
import { NoHealthyUpstreamError, type GatewayError } from '../errors.js'
import { openAiProvider } from '../providers/openai.js'
import type { Route } from '../routing/route-table.js'
import type { Upstream } from '../routing/upstream.js'
import type { RequestContext } from '../server/context.js'
import { Exchange } from './exchange.js'

/** Forwards ctx (body parsed, route resolved) and relays the response; throws only before commit. */
export async function forward(ctx: RequestContext): Promise<void> {
  const first = ctx.route!
  const deadline = ctx.startedAt + first.config.timeouts.total
  const tried: Upstream[] = []
  let lastError: GatewayError | undefined
  first.budget.recordRequest()

  for (let i = -1; i < first.fallbacks.length; i++) {
    const route: Route = i < 0 ? first : first.fallbacks[i]!
    const isLast = i === first.fallbacks.length - 1
    let retriesLeft = route.config.retries.attempts
    for (;;) {
      if (ctx.cancelled) return
      const upstream = route.pool.pick(tried) ?? (isLast ? route.pool.pickPanic(tried) : undefined)
      if (upstream === undefined) break
      if (ctx.attempts > 0 && !first.budget.tryRetry()) return throwLast(lastError, route)
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
      })
      const result = await exchange.start()
      if (result.committed) return
      lastError = result.error
      if (!lastError.retryable || ctx.cancelled || ctx.res.headersSent) throw lastError
      if (performance.now() >= deadline) throw lastError
      if (retriesLeft === 0) break
      retriesLeft--
      ctx.retries++
    }
  }
  return throwLast(lastError, first)
}

function throwLast(lastError: GatewayError | undefined, route: Route): never {
  throw lastError ?? new NoHealthyUpstreamError(`No upstream of model '${route.name}' is available.`)
}
