// Lifecycle hooks (after fastify's): features join the request path here instead of
// editing the handler. See docs/request-lifecycle.md for where each runs.
import type { RequestContext } from './context.js'

/** May throw a GatewayError to refuse the request; may be async (e.g. a Redis round trip). */
export type Hook = (ctx: RequestContext) => void | Promise<void>

/**
 * Before a fallback model is tried (`model`: its name): may throw a GatewayError to keep the
 * request from it (the next fallback is tried; the error is the request's if none serves).
 */
export type FallbackHook = (ctx: RequestContext, model: string) => void | Promise<void>

/** Runs once the response has ended, however it ended; must not throw. */
export type DoneHook = (ctx: RequestContext) => void

export interface Hooks {
  /** Before the body is read: authentication, per-IP limits. */
  readonly onRequest: Hook[]
  /** Body read (`ctx.rawBody`), not yet parsed: raw-byte checks such as JSON nesting depth. */
  readonly preParsing: Hook[]
  /** Body parsed and route resolved: allow-lists, request filters, token and rate limits. */
  readonly preHandler: Hook[]
  /** Before each fallback model is tried: that model's own limits. */
  readonly onFallback: FallbackHook[]
  /** After the response: access log, metrics, usage records, limit settlement. */
  readonly onResponse: DoneHook[]
}

export function emptyHooks(): Hooks {
  return { onRequest: [], preParsing: [], preHandler: [], onFallback: [], onResponse: [] }
}

/**
 * Runs hooks in order, awaiting only those that return a promise. Undefined when every hook
 * was synchronous (the common case: no promise made, nothing to await).
 */
export function runHooks(hooks: readonly Hook[], ctx: RequestContext): Promise<void> | undefined {
  for (let i = 0; i < hooks.length; i++) {
    const r = hooks[i]!(ctx)
    if (r !== undefined) return runRest(r, hooks, i + 1, ctx)
  }
  return undefined
}

async function runRest(first: Promise<void>, hooks: readonly Hook[], from: number, ctx: RequestContext): Promise<void> {
  await first
  for (let i = from; i < hooks.length; i++) {
    const r = hooks[i]!(ctx)
    if (r !== undefined) await r
  }
}
