// Usage for responses whose upstream reported none: the prompt estimated from the request
// body, the completion counted from the response (content events of a stream). Runs first
// among the onResponse hooks, so the access log, metrics and usage rows all see it; it
// costs nothing when the upstream did report usage, which the gateway asks streams for.
import type { RequestContext } from '../server/context.js'
import type { TokenEstimator } from '../tokens/token-estimate.js'

export function usageFallbackHook(estimator: TokenEstimator): (ctx: RequestContext) => void {
  return function usageFallbackHook(ctx: RequestContext): void {
    if (ctx.usage !== undefined || ctx.upstream === undefined) return
    // Only answers the model produced: an upstream error status carries no billable work.
    if (ctx.status >= 400 || ctx.body === undefined || ctx.endpoint === undefined) return
    const prompt = estimator.estimateByName(ctx.upstream.spec.model ?? ctx.servedModel, ctx.endpoint, ctx.body)
    const completion = ctx.endpoint === 'embeddings' ? 0 : ctx.countedTokens
    ctx.usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
    ctx.usageEstimated = true
  }
}
