// Exchange: one attempt on one upstream, as an undici dispatch handler. Bytes go from
// the upstream socket to the client socket with no intermediate stream: a full client
// buffer pauses the upstream read (backpressure), and a client that leaves aborts it.
import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import {
  GatewayError,
  UpstreamConnectionError,
  UpstreamHttpError,
  UpstreamStreamError,
  UpstreamTimeoutError,
} from '../errors.js'
import type { UpstreamRequest } from '../providers/provider.js'
import type { AttemptOutcome, Upstream } from '../routing/upstream.js'
import type { RequestContext } from '../server/context.js'
import { sseErrorFrame } from '../server/reply.js'
import { clientResponseHeaders } from './headers.js'
import { JsonUsageTap, SseUsageTap, type ResponseTap } from './usage-tap.js'

type Controller = Dispatcher.DispatchController

/** How an attempt ended: committed (the response was relayed, however it ended) or not. */
export type AttemptResult =
  | { readonly committed: true }
  | { readonly committed: false; readonly error: GatewayError; readonly outcome: AttemptOutcome }

export interface ExchangeLimits {
  /** ms until the first response byte. */
  readonly firstToken: number
  /** ms allowed between body chunks. */
  readonly idle: number
  /** Epoch of the request's overall deadline, in performance.now() ms. */
  readonly deadline: number
  /** May a retryable status (5xx, 429) be dropped for another attempt? */
  readonly mayRetry: boolean
}

const COMMITTED: AttemptResult = { committed: true }

/** Our own abort reason when a client disconnect ends the attempt. */
class ClientClosed extends Error {}

export class Exchange implements Dispatcher.DispatchHandler {
  readonly result: Promise<AttemptResult>
  private resolve!: (r: AttemptResult) => void
  private controller: Controller | null = null
  private pendingAbort: Error | null = null
  private status = 0
  private headers: IncomingHttpHeaders | null = null
  private committed = false
  private finished = false
  private eventStream = false
  private tap: ResponseTap | undefined = undefined
  private timer: NodeJS.Timeout | undefined = undefined
  /** The first timer is the total deadline, which comes before the first-token one. */
  private firstIsTotal = false
  private readonly startedAt = performance.now()

  constructor(
    private readonly ctx: RequestContext,
    private readonly upstream: Upstream,
    private readonly request: UpstreamRequest,
    private readonly limits: ExchangeLimits
  ) {
    this.result = new Promise<AttemptResult>((resolve) => {
      this.resolve = resolve
    })
  }

  /** Sends the request; `result` settles when the attempt is over. */
  start(): Promise<AttemptResult> {
    const { ctx, upstream, request, limits } = this
    ctx.exchange = this
    upstream.begin()
    const total = limits.deadline - this.startedAt
    this.firstIsTotal = total < limits.firstToken
    this.timer = setTimeout(onTimer, Math.max(1, Math.min(limits.firstToken, total)), this)
    upstream.dispatcher.dispatch(
      {
        path: request.path,
        method: request.method,
        headers: request.headers,
        body: request.body,
        bodyTimeout: limits.idle,
        headersTimeout: 0,
      },
      this
    )
    return this.result
  }

  /** The client went away: stop the upstream at once (it frees the model server's slot). */
  cancel(): void {
    if (this.finished) return
    this.abortUpstream(new ClientClosed('client closed the connection'))
    this.finish('cancelled', COMMITTED)
  }

  /** The timer fired: the first-token deadline before the first byte, the total one after. */
  onTimer(): void {
    if (this.finished) return
    const total = this.committed || this.firstIsTotal
    const err = new UpstreamTimeoutError(
      total
        ? 'The request exceeded its total time limit.'
        : `Upstream ${this.upstream.id} sent nothing within ${this.limits.firstToken} ms.`,
      total ? 'total_timeout' : 'first_token_timeout'
    )
    if (this.committed) {
      this.breakStream(err, 'timeout')
      this.abortUpstream(err)
      return
    }
    this.abortUpstream(err)
    this.fail(err, 'timeout')
  }

  /** Resumes reading the upstream once the client has drained its buffer. */
  resume(): void {
    this.controller?.resume()
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller
    if (this.pendingAbort !== null) controller.abort(this.pendingAbort)
  }

  onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders): void {
    if (this.finished) return
    this.status = status
    if (status >= 500 || status === 429) {
      if (this.limits.mayRetry && !this.ctx.res.headersSent) {
        const retryAfter = retryAfterMs(headers)
        const err = new UpstreamHttpError(status, `Upstream ${this.upstream.id} answered ${status}.`, retryAfter / 1000)
        // Finish first: abort() re-enters onResponseError synchronously, which would
        // otherwise record the attempt as a connection error.
        this.finish(status === 429 ? 'rate_limited' : 'http_error', { committed: false, error: err, outcome: 'http_error' }, retryAfter)
        controller.abort(err)
        return
      }
    }
    this.headers = headers
    const type = headers['content-type']
    this.eventStream = typeof type === 'string' && type.startsWith('text/event-stream')
    if (status < 300) {
      this.tap = this.eventStream
        ? new SseUsageTap(this.ctx.usageInjected)
        : typeof type === 'string' && type.includes('json')
          ? new JsonUsageTap()
          : undefined
    }
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.finished) return
    if (!this.committed) this.commit()
    const out = this.tap === undefined ? chunk : this.tap.chunk(chunk)
    if (out === undefined || out.length === 0) return
    this.ctx.bytesOut += out.length
    if (!this.ctx.res.write(out)) controller.pause()
  }

  onResponseEnd(): void {
    if (this.finished) return
    if (!this.committed) this.commit()
    const tail = this.tap?.end()
    if (tail !== undefined && tail.length > 0) this.ctx.bytesOut += tail.length
    this.ctx.res.end(tail)
    const s = this.status
    this.finish(s >= 500 ? 'http_error' : s === 429 ? 'rate_limited' : s >= 400 ? 'client_error' : 'success', COMMITTED, s === 429 ? retryAfterMs(this.headers ?? {}) : 0)
  }

  onResponseError(_controller: Controller, err: Error): void {
    if (this.finished) return
    if (err instanceof ClientClosed || this.ctx.cancelled) {
      this.finish('cancelled', COMMITTED)
      return
    }
    const error = classify(err, this.upstream.id, this.committed)
    if (!this.committed && !this.ctx.res.headersSent) {
      this.fail(error, error instanceof UpstreamTimeoutError ? 'timeout' : 'connect_error')
      return
    }
    this.breakStream(new UpstreamStreamError(`The upstream stream broke: ${error.message}`), 'broken')
  }

  /** Bytes already reached the client: say so in-band, never pass a cut stream off as whole. */
  private breakStream(error: GatewayError, outcome: AttemptOutcome): void {
    const res = this.ctx.res
    this.ctx.error = error
    this.ctx.outcome = 'error'
    if (this.eventStream && !res.writableEnded) res.end(sseErrorFrame(error))
    else res.destroy()
    this.finish(outcome, COMMITTED)
  }

  /** Writes the status line and headers: the point after which no retry is possible. */
  private commit(): void {
    this.committed = true
    const { ctx, upstream } = this
    ctx.status = this.status
    ctx.upstream = upstream
    ctx.firstByteMs = ctx.elapsedMs()
    upstream.observeLatency(performance.now() - this.startedAt)
    clearTimeout(this.timer)
    const left = this.limits.deadline - performance.now()
    this.timer = Number.isFinite(left) ? setTimeout(onTimer, Math.max(1, left), this) : undefined
    if (ctx.res.headersSent) return
    const dropLength = this.tap instanceof SseUsageTap && ctx.usageInjected
    ctx.res.writeHead(this.status, clientResponseHeaders(ctx, upstream, this.headers!, this.eventStream, dropLength))
  }

  private fail(error: GatewayError, outcome: AttemptOutcome): void {
    this.finish(outcome, { committed: false, error, outcome })
  }

  private abortUpstream(reason: Error): void {
    if (this.controller !== null) this.controller.abort(reason)
    else this.pendingAbort = reason
  }

  private finish(outcome: AttemptOutcome, result: AttemptResult, retryAfter = 0): void {
    if (this.finished) return
    this.finished = true
    clearTimeout(this.timer)
    const ctx = this.ctx
    if (ctx.exchange === this) ctx.exchange = undefined
    if (result.committed && this.tap !== undefined) {
      // However the response ended (complete, cut, abandoned), what was seen of it is counted.
      ctx.usage = this.tap.usage
      ctx.countedTokens = this.tap.countedTokens
    }
    this.upstream.end(outcome, retryAfter)
    ctx.trace?.endAttempt(outcome, this.status)
    this.resolve(result)
  }
}

function onTimer(ex: Exchange): void {
  ex.onTimer()
}

/** undici's error → our error class. */
function classify(err: Error, id: string, committed: boolean): GatewayError {
  if (err instanceof GatewayError) return err
  const code = (err as { code?: string }).code
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new UpstreamTimeoutError(`Connecting to upstream ${id} timed out.`, 'connect_timeout')
  }
  if (code === 'UND_ERR_BODY_TIMEOUT') {
    return new UpstreamTimeoutError(`Upstream ${id} stalled between chunks.`, 'idle_timeout')
  }
  const what = committed ? 'closed the stream early' : 'could not be reached'
  return new UpstreamConnectionError(`Upstream ${id} ${what} (${code ?? err.name}).`)
}

/** Retry-After (seconds or HTTP date) or OpenAI's x-ratelimit-reset-* ("1s", "6m0s"), in ms. */
export function retryAfterMs(headers: IncomingHttpHeaders): number {
  const ra = headers['retry-after']
  if (typeof ra === 'string') {
    const secs = Number(ra)
    if (Number.isFinite(secs)) return Math.max(0, secs * 1000)
    const date = Date.parse(ra)
    if (Number.isFinite(date)) return Math.max(0, date - Date.now())
  }
  for (const name of ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens']) {
    const v = headers[name]
    if (typeof v === 'string') {
      const ms = parseResetDuration(v)
      if (ms > 0) return ms
    }
  }
  return 0
}

/** OpenAI's reset format: "1s", "6m0s", "20ms", "1h2m3.5s". */
function parseResetDuration(v: string): number {
  let ms = 0
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    const n = Number(m[1])
    ms += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000
  }
  return ms
}
