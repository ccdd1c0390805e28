// The life of one request (docs/request-lifecycle.md): match → onRequest hooks → body →
// route → preHandler hooks → forward → onResponse hooks. Errors from any step are mapped
// once, in server/reply.ts.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { mayUseModel } from '../auth/authenticate.js'
import { InvalidRequestError, ModelNotFoundError, ShuttingDownError, toGatewayError } from '../errors.js'
import type { Snapshot } from '../config/snapshot.js'
import { forward } from '../proxy/forward.js'
import { checkIdentityEncoding, checkJsonContentType, parseJsonObject, readBody } from './body.js'
import { RequestContext } from './context.js'
import type { LiveRequests } from './live-requests.js'
import { checkRequiredFields, matchEndpoint, type EndpointDef } from './endpoints.js'
import { runDoneHooksSoon } from './done-hooks.js'
import { runHooks, type Hooks } from './hooks.js'
import { writeError, writeJson } from './reply.js'

/** What the handler needs from the gateway; read once per request. */
/**
 * A readiness condition besides the models' upstreams (GET /readyz): undefined when it holds,
 * else the fields that say why not (merged into the 503's body).
 */
export type ReadinessCheck = () => Record<string, unknown> | undefined

export interface HandlerState {
  readonly snapshot: Snapshot
  readonly hooks: Hooks
  readonly draining: boolean
  /** Requests in progress, for the drain deadline (gateway.stop). */
  readonly live: LiveRequests
  /** What else /readyz requires (e.g. the limits store, when on_error is closed). */
  readonly readiness: readonly ReadinessCheck[]
}

const kCtx = Symbol('switchyard.ctx')
type WithCtx = ServerResponse & { [kCtx]?: RequestContext }

/** Shared listeners (no per-request closures): they find the context on the response. */
function onResponseClose(this: WithCtx): void {
  const ctx = this[kCtx]
  // Complete only if we ended it and it was flushed. writableEnded matters for HTTP/2: a
  // stream the client resets reports writableFinished (the stream is done) though we never
  // ended the response.
  if (ctx !== undefined && !(this.writableEnded && this.writableFinished)) ctx.cancel()
}

function onResponseDrain(this: WithCtx): void {
  this[kCtx]?.exchange?.resume()
}

const SLASH = 0x2f
const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i

/**
 * RFC 9112 §3.2.2: a server must accept a request target in absolute form
 * (`POST http://gw:8080/v1/chat/completions`, as proxies send it); its path and query are
 * what the origin form would carry. Anything else (`*`, junk) stays as it is and matches no
 * endpoint.
 */
function originForm(target: string): string {
  const authority = ABSOLUTE_FORM.exec(target)
  if (authority === null) return target
  const rest = target.slice(authority[0].length)
  return rest === '' || rest.charCodeAt(0) !== SLASH ? `/${rest}` : rest
}

export function createHandler(state: () => HandlerState): (req: IncomingMessage, res: ServerResponse) => void {
  return function handle(req: IncomingMessage, res: ServerResponse): void {
    const s = state()
    let url = req.url ?? '/'
    if (url.charCodeAt(0) !== SLASH) url = originForm(url)
    const q = url.indexOf('?')
    const ctx = new RequestContext(
      req,
      res,
      s.snapshot,
      q === -1 ? url : url.slice(0, q),
      q === -1 ? '' : url.slice(q)
    )
    ;(res as WithCtx)[kCtx] = ctx
    res.on('close', onResponseClose)
    res.on('drain', onResponseDrain)
    if (s.draining) res.shouldKeepAlive = false
    s.live.add(ctx)
    void run(ctx, s)
  }
}

async function run(ctx: RequestContext, s: HandlerState): Promise<void> {
  try {
    // Client address, framing checks, CORS; true when it answered (a CORS preflight).
    if (ctx.snapshot.edge.admit(ctx)) return
    let def: EndpointDef
    try {
      def = matchEndpoint(ctx.req.method ?? 'GET', ctx.path)
    } catch (err) {
      // Every /v1/ URL is for key holders: without a key, 401 before a 404 or 405 says what exists.
      if (ctx.path.startsWith('/v1/')) {
        const pending = runHooks(s.hooks.onRequest, ctx)
        if (pending !== undefined) await pending
      }
      throw err
    }
    if (def.kind === 'local') {
      // The model list is for key holders (and shows only what their key allows).
      if (def.name === 'models' || def.name === 'model') {
        const pending = runHooks(s.hooks.onRequest, ctx)
        if (pending !== undefined) await pending
      }
      serveLocal(ctx, def, s)
    } else {
      if (s.draining) throw new ShuttingDownError()
      ctx.endpoint = def.endpoint
      // Hooks are awaited only when one returned a promise: most are synchronous.
      let pending = runHooks(s.hooks.onRequest, ctx)
      if (pending !== undefined) await pending
      checkJsonContentType(ctx.headers['content-type'])
      checkIdentityEncoding(ctx.headers['content-encoding'])
      ctx.snapshot.edge.refuseUnvetted(ctx)
      ctx.rawBody = await readBody(ctx.req, ctx.headers['content-length'], s.snapshot.config.server.max_body, ctx.res)
      pending = runHooks(s.hooks.preParsing, ctx)
      if (pending !== undefined) await pending
      const body = parseJsonObject(ctx.rawBody)
      ctx.body = body
      // Named in the request's record even when another required field is what is wrong.
      if (typeof body.model === 'string' && body.model !== '') ctx.model = body.model
      const model = checkRequiredFields(def.endpoint, body)
      ctx.model = model
      ctx.stream = body.stream === true
      const route = ctx.snapshot.routes.resolve(model)
      if (route === undefined) throw new ModelNotFoundError(model)
      ctx.route = route
      if (ctx.stream && def.endpoint !== 'embeddings') ctx.usageInjected = !clientWantsUsage(body)
      pending = runHooks(s.hooks.preHandler, ctx)
      if (pending !== undefined) await pending
      if (ctx.cancelled) return
      await forward(ctx, s.hooks.onFallback)
    }
  } catch (err) {
    if (!ctx.cancelled) writeError(ctx, toGatewayError(err))
  } finally {
    s.live.delete(ctx)
    ctx.durationMs = ctx.elapsedMs()
    runDoneHooksSoon(s.hooks.onResponse, ctx)
  }
}

function clientWantsUsage(body: Record<string, unknown>): boolean {
  const opts = body.stream_options
  return typeof opts === 'object' && opts !== null && (opts as { include_usage?: unknown }).include_usage === true
}

function serveLocal(ctx: RequestContext, def: Extract<EndpointDef, { kind: 'local' }>, s: HandlerState): void {
  const routes = ctx.snapshot.routes
  switch (def.name) {
    case 'healthz':
      writeJson(ctx, 200, { status: 'ok' })
      return
    case 'readyz': {
      // Not ready: draining (load balancers stop sending new work), a model with no usable
      // upstream, or a condition a feature adds (every request would be refused).
      const why: Record<string, unknown> = {}
      if (s.draining) why.draining = true
      const notReady = [...routes.routes].filter((r) => r.pool.upCount() === 0).map((r) => r.name)
      if (notReady.length > 0) why.models_without_upstream = notReady
      for (const check of s.readiness) Object.assign(why, check())
      const ready = Object.keys(why).length === 0
      writeJson(ctx, ready ? 200 : 503, ready ? { status: 'ready' } : { status: 'not_ready', ...why })
      return
    }
    case 'models':
      writeJson(ctx, 200, { object: 'list', data: routes.names.filter((n) => mayUseModel(ctx, n)).map(modelObject) })
      return
    case 'model': {
      const name = modelInPath(ctx.path.slice('/v1/models/'.length))
      if (routes.resolve(name) === undefined || !mayUseModel(ctx, name)) throw new ModelNotFoundError(name)
      writeJson(ctx, 200, modelObject(name))
      return
    }
  }
}

function modelInPath(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new InvalidRequestError(`Malformed percent-encoding in the model name: ${segment}.`, 'model', 'invalid_url')
  }
}

const CREATED = Math.floor(Date.now() / 1000)

function modelObject(id: string): { id: string; object: 'model'; created: number; owned_by: string } {
  return { id, object: 'model', created: CREATED, owned_by: 'switchyard' }
}
