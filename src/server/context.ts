// RequestContext: everything one request carries through the lifecycle, in one
// monomorphic object (no per-request closures hang off it).
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { GatewayError } from '../errors.js'
import type { Route } from '../routing/route-table.js'
import type { Upstream } from '../routing/upstream.js'
import type { Exchange } from '../proxy/exchange.js'
import type { Snapshot } from '../config/snapshot.js'
import type { RequestTrace } from '../observability/tracing.js'
import type { Endpoint, Outcome, Usage } from '../types.js'
import type { VirtualKey } from '../auth/keys.js'

/**
 * Response headers a hook makes when the response head is written rather than when the hook
 * runs: figures kept as numbers until then (the rate limits'), so their text is made while
 * the head is being assembled.
 */
export interface LateHeaders {
  pushHeaders(out: string[]): void
  /**
   * The same headers as head lines ("name: value\r\n" each), for response-head.ts to append
   * to a head Node has assembled: only names and values that need none of Node's checks.
   */
  headText(): string
  /**
   * pushHeaders writes `x-ratelimit-*` headers. The upstream's are then dropped: they describe
   * the upstream account every key shares, and two sets would reach a client as one list
   * ("10000, 60").
   */
  readonly writesRateLimits: boolean
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/

export class RequestContext {
  readonly id: string
  /**
   * The request's headers, read once. Node builds them on first access through a getter, and
   * V8 inlined that getter's header-building loop into every hook that read req.headers: a few
   * KB of machine code per reader, on a path that runs cold once per request.
   */
  readonly headers: IncomingHttpHeaders
  /** Wall-clock start, for logs. */
  readonly startTime = Date.now()
  /** Monotonic start in ms (performance.now()). */
  readonly startedAt = performance.now()
  /** The client's address: the peer's, or from X-Forwarded-For when the peer is a trusted proxy. */
  clientIp: string
  /** The X-Forwarded-For value sent upstream (server/client-ip.ts builds the chain). */
  forwardedFor: string
  /** The client's protocol: this listener's, or a trusted proxy's X-Forwarded-Proto. */
  forwardedProto: 'http' | 'https'
  /** Created on first use: most requests never need a signal. */
  private controller: AbortController | undefined = undefined
  private _cancelled = false

  endpoint: Endpoint | undefined = undefined
  body: Record<string, unknown> | undefined = undefined
  rawBody: Buffer | undefined = undefined
  /** A filter changed `body` after parsing: `rawBody` is stale and the body must be serialised again. */
  bodyChanged = false
  /** The model the client asked for. */
  model: string | undefined = undefined
  route: Route | undefined = undefined
  /** The model that finally served (differs after a fallback). */
  servedModel: string | undefined = undefined
  stream = false
  /** We asked the upstream for stream usage the client did not request: strip it on the way back. */
  usageInjected = false
  upstream: Upstream | undefined = undefined
  /** The attempt in progress, so a client disconnect can abort it. */
  exchange: Exchange | undefined = undefined
  /** Links in the gateway's list of requests in progress (server/live-requests.ts). */
  livePrev: RequestContext | undefined = undefined
  liveNext: RequestContext | undefined = undefined
  attempts = 0
  retries = 0
  status = 0
  outcome: Outcome = 'ok'
  error: GatewayError | undefined = undefined
  /** ms from start until the response ended (set before the onResponse hooks run). */
  durationMs = -1
  /** ms from start until the first response byte reached the client. */
  firstByteMs = -1
  bytesOut = 0
  usage: Usage | undefined = undefined
  /** usage was estimated by the gateway (the upstream reported none). */
  usageEstimated = false
  /** Completion tokens counted from the response body: the fallback when usage is absent. */
  countedTokens = 0
  /** The virtual key that authenticated the request: its name and grants, never the key itself. */
  key: VirtualKey | undefined = undefined
  /** Extra response headers (flat name/value list) that hooks add, e.g. CORS headers. */
  readonly responseHeaders: string[] = []
  /** Headers made as the head is written (after responseHeaders), e.g. the rate-limit figures. */
  lateHeaders: LateHeaders | undefined = undefined
  /**
   * The rate limiter's record of what this request took (limits/rate-limiter.ts), for its
   * settlement. A field of its own rather than a `locals` entry: one object fewer to reach
   * when the request ends, long after admission.
   */
  admission: object | undefined = undefined
  /** The same for each fallback model whose own limits the request took (rare: a field, not a list per request). */
  fallbackAdmissions: object[] | undefined = undefined
  /** This request's trace, when tracing is on: attempts open child spans on it. */
  trace: RequestTrace | undefined = undefined
  /** Per-request state owned by hooks (a provider's serialised body, …). */
  readonly locals: Record<string, unknown> = {}

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly snapshot: Snapshot,
    readonly path: string,
    readonly search: string
  ) {
    this.headers = req.headers
    const given = this.headers['x-request-id']
    this.id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    const ip = req.socket.remoteAddress ?? ''
    this.clientIp = ip.startsWith('::ffff:') ? ip.slice(7) : ip
    this.forwardedFor = this.clientIp
    this.forwardedProto = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http'
  }

  /** Name of the virtual key that authenticated the request, if any (the access log's `key`). */
  get keyName(): string | undefined {
    return this.key?.name
  }

  /** Aborted when the client goes away; for waits that must end with the request. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController()
    if (this._cancelled && !this.controller.signal.aborted) this.controller.abort()
    return this.controller.signal
  }

  get cancelled(): boolean {
    return this._cancelled
  }

  /** The client went away before the response was complete. */
  cancel(): void {
    if (this._cancelled) return
    this._cancelled = true
    this.outcome = 'cancelled'
    this.controller?.abort()
    this.exchange?.cancel()
  }

  /** The hooks' headers for the response head: responseHeaders, then the late ones. */
  pushResponseHeaders(out: string[]): void {
    this.pushHookHeaders(out)
    this.lateHeaders?.pushHeaders(out)
  }

  /** responseHeaders alone (server/response-head.ts adds the late ones). */
  pushHookHeaders(out: string[]): void {
    const extra = this.responseHeaders
    for (let i = 0; i < extra.length; i++) out.push(extra[i]!)
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt
  }
}
