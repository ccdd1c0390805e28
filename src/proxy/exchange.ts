// Exchange: one attempt on one upstream, as an undici dispatch handler. Bytes go from
// the upstream socket to the client socket with no intermediate stream: a full client
// buffer pauses the upstream read (backpressure), and a client that leaves aborts it.
import type { IncomingHttpHeaders } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Dispatcher } from 'undici'
import {
  GatewayError,
  ShuttingDownError,
  UpstreamAuthError,
  UpstreamConnectionError,
  UpstreamHttpError,
  UpstreamStreamError,
  UpstreamTimeoutError,
} from '../errors.js'
import type { UpstreamRequest } from '../providers/provider.js'
import type { AttemptOutcome, Upstream } from '../routing/upstream.js'
import type { RequestContext } from '../server/context.js'
import { retryAfterMs } from '../resilience/retry-after.js'
import { sseErrorFrame } from '../server/reply.js'
import { BodyDecoder, codingOf, decodeWhole, type DecoderSink } from './body-decoder.js'
import { clientResponseHeaders, keepaliveHeaders } from './headers.js'
import { writeResponseHead } from '../server/response-head.js'
import { ErrorEventTap, JsonUsageTap, SseUsageTap, type ResponseTap } from './usage-tap.js'

type Controller = Dispatcher.DispatchController

/** How an attempt ended: committed (the response was relayed, however it ended) or not. */
export type AttemptResult =
  | { readonly committed: true }
  | {
      readonly committed: false
      readonly error: GatewayError
      readonly outcome: AttemptOutcome
      /** The upstream's error answer, read whole: relayed if no retry follows. */
      readonly answer?: HeldAnswer
    }

/** An error answer held back (small, read whole) while the loop decides on a retry. */
export interface HeldAnswer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  readonly upstream: Upstream
}

/**
 * Bounds on reading a retryable error answer to its end. Reading it lets undici keep the
 * connection alive (aborting destroys the socket, so the next attempt pays a new handshake);
 * a larger or slower body is not worth the wait and is cut as before.
 */
const HOLD_BYTES = 64 << 10
const HOLD_MS = 500

export interface ExchangeLimits {
  /** ms until the first response byte. */
  readonly firstToken: number
  /** ms allowed between body chunks. */
  readonly idle: number
  /** Epoch of the request's overall deadline, in performance.now() ms. */
  readonly deadline: number
  /** May a retryable status (5xx, 429) be dropped for another attempt? */
  readonly mayRetry: boolean
  /**
   * Streams only: ms between `: ping` comments while no upstream byte has come (0 = off). The
   * first ping commits a 200 event stream, after which no retry is possible.
   */
  readonly keepalive: number
}

const COMMITTED: AttemptResult = { committed: true }

/** Our own abort reason when a client disconnect ends the attempt. */
class ClientClosed extends Error {}

/** An SSE comment: ignored by every SSE parser, but it keeps idle-timing proxies from cutting. */
const PING = Buffer.from(': ping\n\n')

export class Exchange implements Dispatcher.DispatchHandler, DecoderSink {
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
  /** Only for an answer compressed despite `accept-encoding: identity`. */
  private decoder: BodyDecoder | undefined = undefined
  private timer: NodeJS.Timeout | undefined = undefined
  /** Between body chunks after the commit; not running while the client holds us paused. */
  private idleTimer: NodeJS.Timeout | undefined = undefined
  private paused = false
  /** An error answer from an upstream with credentials: they are masked out of it, should it quote them. */
  private masking = false
  /**
   * The last three bytes relayed, packed (the newest lowest), across chunks: whether they end
   * an event says if an error event must first close a half one. Starts as an event's end.
   */
  private lastBytes = BLANK_LINE
  private pingTimer: NodeJS.Timeout | undefined = undefined
  /** Keep-alive pings committed a 200 event stream before the upstream's first byte. */
  private pinged = false
  /** A retryable error answer (or a redirect) being read to its end, not relayed yet. */
  private held: { error: UpstreamHttpError | UpstreamAuthError; chunks: Buffer[]; size: number; relay: boolean } | undefined = undefined
  /** The running timer is the total deadline (not the first-token one). */
  private timerIsTotal = false
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
    this.timerIsTotal = total < limits.firstToken
    this.timer = setTimeout(onTimer, Math.max(1, Math.min(limits.firstToken, total)), this)
    if (limits.keepalive > 0) this.pingTimer = setInterval(onPing, limits.keepalive, this)
    upstream.dispatcher.dispatch(
      {
        path: request.path,
        method: request.method,
        headers: request.headers,
        body: request.body,
        // Ours, not undici's: its bodyTimeout counts from the response headers, which a model
        // server sends before its (possibly long) prefill. Streams have the idle timer from the
        // first body byte; a non-streaming answer, the first-token deadline to its last byte.
        bodyTimeout: 0,
        headersTimeout: 0,
      },
      this
    )
    return this.result
  }

  /** The client went away: stop the upstream at once (it frees the model server's slot). */
  cancel(): void {
    if (this.finished) return
    // Before the commit too, the request's record names the upstream that was working on it
    // (access log, usage, metrics): it was tried, whatever came of it.
    this.ctx.upstream = this.upstream
    this.abortUpstream(new ClientClosed('client closed the connection'))
    this.finish('cancelled', COMMITTED)
  }

  /**
   * The gateway's drain deadline passed: end the attempt in words before its connection is
   * cut. A committed stream gets the SSE error event (a cut non-streaming answer is cut);
   * before the commit the request is answered 503 `shutting_down` (the error is not
   * retryable). Not the upstream's fault: the attempt counts as cancelled. False when it was over.
   */
  shutdown(): boolean {
    if (this.finished) return false
    const err = new ShuttingDownError()
    // Finish first: abort() re-enters onResponseError synchronously.
    if (this.committed || this.pinged) this.breakStream(err, 'cancelled')
    else this.finish('cancelled', { committed: false, error: err, outcome: 'cancelled' })
    this.abortUpstream(err)
    return true
  }

  /** The timer fired: the first-token deadline before the first byte, the total one after. */
  onTimer(): void {
    if (this.finished) return
    if (this.held !== undefined) return this.dropHeld()
    if (this.committed && !this.timerIsTotal && this.ctx.stream) {
      // The first-token timer, left running at the commit (re-arming it on every response
      // costs more than this rare case): the total deadline takes over from here.
      this.timerIsTotal = true
      const left = this.limits.deadline - performance.now()
      if (!Number.isFinite(left)) return
      if (left > 0) {
        this.timer = setTimeout(onTimer, Math.max(1, left), this)
        return
      }
    }
    // On a non-streaming call the first-token deadline covers the whole answer (README).
    const total = this.timerIsTotal || (this.committed && this.ctx.stream)
    const err = new UpstreamTimeoutError(
      total
        ? 'The request exceeded its total time limit.'
        : this.committed
          ? `Upstream ${this.upstream.publicName} did not finish its answer within ${this.limits.firstToken} ms.`
          : `Upstream ${this.upstream.publicName} sent nothing within ${this.limits.firstToken} ms.`,
      total ? 'total_timeout' : 'first_token_timeout'
    )
    if (this.committed) {
      this.breakStream(err, 'timeout')
      this.abortUpstream(err)
      return
    }
    this.fail(err, 'timeout')
    this.abortUpstream(err)
  }

  /** No upstream byte yet: keep the client's connection alive with an SSE comment. */
  onPing(): void {
    if (this.finished || this.committed) {
      clearInterval(this.pingTimer)
      return
    }
    const { ctx } = this
    if (!this.pinged) {
      if (ctx.res.headersSent) return
      this.pinged = true
      this.eventStream = true
      ctx.status = 200
      ctx.upstream = this.upstream
      writeResponseHead(ctx, 200, keepaliveHeaders(ctx, this.upstream))
    }
    ctx.bytesOut += PING.length
    ctx.res.write(PING)
  }

  /** Nothing came between two chunks for `idle` ms (time paused by the client not counted). */
  onIdle(): void {
    if (this.finished || this.paused) return
    if (this.held !== undefined) return this.dropHeld()
    if (this.tap instanceof SseUsageTap && this.tap.finished) {
      // The answer is whole ([DONE], or every choice finished) and the upstream only keeps
      // its response open: the client's ends as complete; the upstream's is dropped.
      this.end()
      this.abortUpstream(new Error('the answer was complete; the upstream kept its response open'))
      return
    }
    const err = new UpstreamTimeoutError(`Upstream ${this.upstream.publicName} stalled between chunks.`, 'idle_timeout')
    this.breakStream(err, 'timeout')
    this.abortUpstream(err)
  }

  /** Resumes reading the upstream once the client has drained its buffer. */
  resume(): void {
    if (this.paused) {
      this.paused = false
      this.idleTimer?.refresh()
    }
    // A decoder still full of input resumes the upstream when it drains.
    if (this.decoder !== undefined && !this.decoder.resume()) return
    this.controller?.resume()
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller
    if (this.pendingAbort !== null) controller.abort(this.pendingAbort)
  }

  onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders): void {
    if (this.finished) return
    this.status = status
    this.headers = headers
    this.masking = status >= 400 && this.upstream.secrets.length > 0
    if (status >= 500 || status === 429) {
      if (this.limits.mayRetry && !this.ctx.res.headersSent && !this.pinged) {
        const err = new UpstreamHttpError(status, `Upstream ${this.upstream.publicName} answered ${status}.`, retryAfterMs(headers) / 1000)
        return this.hold(err, headers, true)
      }
    } else if (status >= 300 && status < 400 && !this.pinged) {
      // Redirects are not followed, and their Location may name internal hosts: never relayed.
      return this.hold(new UpstreamHttpError(502, `Upstream ${this.upstream.publicName} answered ${status}; redirects are not followed.`), headers, false)
    } else if ((status === 401 || status === 403) && !this.pinged) {
      // The gateway's credentials, not the client's: never relayed (the body may quote the key).
      return this.hold(new UpstreamAuthError(this.upstream.publicName, status), headers, false)
    }
    const type = headers['content-type']
    this.eventStream = typeof type === 'string' && type.startsWith('text/event-stream')
    // Compressed despite our `accept-encoding: identity`: decoded on the way (body-decoder.ts).
    const encoding = headers['content-encoding']
    const coding = encoding === undefined ? undefined : codingOf(encoding)
    // After pings the client has our identity headers: bytes we cannot decode would corrupt it.
    if (this.pinged && (status >= 300 || !this.eventStream || coding === null)) {
      // The client already has a 200 event stream: the upstream's answer becomes an error event.
      this.eventStream = true
      const tap = new ErrorEventTap(status, this.upstream.publicName)
      this.tap = tap
      // The client keeps the 200 already on the wire, but the request failed: access log,
      // metrics, usage and limits see the failure (nothing billed, reserved tokens refunded).
      this.ctx.status = tap.error.status
      if (coding) this.decoder = new BodyDecoder(coding, this)
      return
    }
    this.eventStream ||= this.pinged
    if (status >= 400 && coding !== undefined) {
      // An error answer is read for credentials to mask: decoded on the way; one in a coding
      // we cannot decode is not relayed at all (our own error names its status).
      if (coding === null && this.masking) return this.hold(new UpstreamHttpError(status, `Upstream ${this.upstream.publicName} answered ${status}.`), headers, false)
      if (coding !== null) this.decoder = new BodyDecoder(coding, this)
      return
    }
    // A coding we cannot decode: the bytes pass untouched and unread (usage is estimated).
    if (status < 300 && coding !== null) {
      this.tap = this.eventStream
        ? new SseUsageTap(this.ctx.usageInjected && this.upstream.spec.stream_usage, choicesOf(this.ctx.body))
        : typeof type === 'string' && type.includes('json')
          ? new JsonUsageTap()
          : undefined
      if (coding !== undefined && this.tap !== undefined) this.decoder = new BodyDecoder(coding, this)
    }
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.finished) return
    if (!this.committed) {
      if (this.held !== undefined) return this.holdChunk(chunk)
      this.commit()
    } else this.idleTimer?.refresh()
    if (this.decoder !== undefined) {
      if (!this.decoder.write(chunk)) controller.pause()
      return
    }
    this.send(chunk)
  }

  /** Through the tap to the client; a full client buffer pauses the upstream (and decoder). */
  private send(chunk: Buffer): void {
    let out = this.tap === undefined ? chunk : this.tap.chunk(chunk)
    if (out === undefined || out.length === 0) return
    // An error event in a 200 stream may quote the credentials too: masked from then on.
    if (!this.masking && this.eventStream && (this.tap as SseUsageTap | undefined)?.errored === true) this.masking = this.upstream.secrets.length > 0
    if (this.masking) out = maskSecrets(out, this.upstream.secrets)
    this.ctx.bytesOut += out.length
    if (this.eventStream) this.lastBytes = lastBytesAfter(this.lastBytes, out)
    if (!this.ctx.res.write(out)) {
      this.paused = true
      this.controller!.pause()
      this.decoder?.pause()
    }
  }

  onDecoded(chunk: Buffer): void {
    if (!this.finished) this.send(chunk)
  }

  onDecoderDrain(): void {
    if (!this.finished && !this.paused) this.controller?.resume()
  }

  onDecodedEnd(): void {
    if (!this.finished) this.end()
  }

  /** A corrupt or truncated compressed body: broken, never a clean end. */
  onDecodeError(err: Error): void {
    if (this.finished) return
    const error = new UpstreamStreamError(`Upstream ${this.upstream.publicName} sent a body that could not be decoded (${err.message}).`)
    this.breakStream(error, 'broken')
    this.abortUpstream(error)
  }

  onResponseEnd(): void {
    if (this.finished) return
    if (!this.committed) {
      if (this.held !== undefined) return this.endHeld()
      this.commit()
    }
    if (this.decoder !== undefined) return this.decoder.end()
    this.end()
  }

  /** The whole body went through the tap (decoded, if it was compressed). */
  private end(): void {
    const tap = this.tap
    const tail = tap?.end()
    if (tail !== undefined && tail.length > 0) this.ctx.bytesOut += tail.length
    if (tap instanceof SseUsageTap && !tap.finished && this.ctx.endpoint !== 'embeddings') {
      // The body ended cleanly, but the answer did not (no [DONE], no finish_reason): it was cut.
      if (tail !== undefined && tail.length > 0) {
        this.ctx.res.write(tail)
        this.lastBytes = lastBytesAfter(this.lastBytes, tail)
      }
      return this.breakStream(new UpstreamStreamError(`Upstream ${this.upstream.publicName} ended the stream before the answer was complete.`), 'broken')
    }
    if (tap instanceof ErrorEventTap) {
      this.ctx.error = tap.error
      this.ctx.outcome = 'error'
    }
    if (tap instanceof SseUsageTap && tap.errored) {
      // The client has the upstream's own error event (its SDK raises it); the request and
      // the upstream are recorded as failed, not as a whole answer.
      this.ctx.error = new UpstreamStreamError(`Upstream ${this.upstream.publicName} sent an error event in the stream.`)
      this.ctx.outcome = 'error'
      this.ctx.res.end(tail !== undefined && this.masking ? maskSecrets(tail, this.upstream.secrets) : tail)
      return this.finish('broken', COMMITTED)
    }
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
    if (this.held !== undefined) return this.endHeld(false)
    const error = classify(err, this.upstream.publicName, this.committed)
    if (!this.committed) {
      this.fail(error, error instanceof UpstreamTimeoutError ? 'timeout' : 'connect_error')
      return
    }
    this.breakStream(new UpstreamStreamError(`The upstream stream broke: ${error.message}`), 'broken')
  }

  /**
   * Reads an error answer (bounded) instead of aborting, so the connection stays reusable;
   * the idle timer, unused before the commit, bounds the wait.
   */
  private hold(error: UpstreamHttpError | UpstreamAuthError, headers: IncomingHttpHeaders, relay: boolean): void {
    const length = Number(headers['content-length'])
    this.held = { error, chunks: [], size: 0, relay }
    // The upstream has answered: no more pings (their first would commit a 200).
    clearInterval(this.pingTimer)
    if (length > HOLD_BYTES) return this.dropHeld()
    this.idleTimer = setTimeout(onIdle, HOLD_MS, this)
  }

  private holdChunk(chunk: Buffer): void {
    const held = this.held!
    held.size += chunk.length
    if (held.size > HOLD_BYTES) return this.dropHeld()
    if (held.relay) held.chunks.push(chunk)
  }

  /** The held answer is complete (or, `whole` false, broke off): the attempt failed. */
  private endHeld(whole = true): void {
    const { error, chunks, relay } = this.held!
    const status = this.status
    const answer: HeldAnswer | undefined =
      whole && relay ? { status, headers: this.headers!, body: Buffer.concat(chunks), upstream: this.upstream } : undefined
    const outcome = status === 429 ? 'rate_limited' : 'http_error'
    this.finish(outcome, { committed: false, error, outcome: 'http_error', answer }, status === 429 ? retryAfterMs(this.headers!) : 0)
  }

  /** Too large or too slow to hold: cut it (the socket goes), and fail with our own error. */
  private dropHeld(): void {
    const error = this.held!.error
    // Finish first: abort() re-enters onResponseError synchronously.
    this.endHeld(false)
    this.abortUpstream(error)
  }

  /** Bytes already reached the client: say so in-band, never pass a cut stream off as whole. */
  private breakStream(error: GatewayError, outcome: AttemptOutcome): void {
    const res = this.ctx.res
    this.ctx.error = error
    this.ctx.outcome = 'error'
    if (this.eventStream && !res.writableEnded) {
      // A blank line first if the upstream stopped inside an event: else SSE parsers read
      // the error as part of that half event, and the error's code is lost.
      if (!endsEvent(this.lastBytes)) res.write(EVENT_END)
      res.end(sseErrorFrame(error))
    }
    else res.destroy()
    this.finish(outcome, COMMITTED)
  }

  /** Writes the status line and headers: the point after which no retry is possible. */
  private commit(): void {
    this.committed = true
    const { ctx, upstream } = this
    if (!this.pinged) ctx.status = this.status
    // An upstream's error answer, relayed: the request failed, as one the gateway answers does.
    if (this.status >= 400) ctx.outcome = 'error'
    ctx.upstream = upstream
    ctx.firstByteMs = ctx.elapsedMs()
    upstream.observeLatency(performance.now() - this.startedAt)
    // The running timer stays: if it is the first-token one, onTimer() re-arms it for the rest
    // of the total deadline when it fires.
    clearInterval(this.pingTimer)
    if (this.limits.idle > 0 && ctx.stream) this.idleTimer = setTimeout(onIdle, this.limits.idle, this)
    if (ctx.res.headersSent) return
    const decoded = this.decoder !== undefined
    const dropLength = decoded || (this.tap instanceof SseUsageTap && ctx.usageInjected && upstream.spec.stream_usage)
    writeResponseHead(ctx, this.status, clientResponseHeaders(ctx, upstream, this.headers!, this.eventStream, dropLength, decoded))
  }

  /** Failed before the first upstream byte: retryable, unless keep-alive pings committed. */
  private fail(error: GatewayError, outcome: AttemptOutcome): void {
    if (this.pinged) {
      // As for an error answer: the wire says 200, the request's record says what failed.
      this.ctx.status = error.status
      this.breakStream(error, outcome)
    } else {
      // The request's record names the upstream that failed (a retry that answers replaces it):
      // per-upstream error rates in the access log, metrics and usage depend on it.
      this.ctx.upstream = this.upstream
      this.finish(outcome, { committed: false, error, outcome })
    }
  }

  private abortUpstream(reason: Error): void {
    if (this.controller !== null) this.controller.abort(reason)
    else this.pendingAbort = reason
  }

  private finish(outcome: AttemptOutcome, result: AttemptResult, retryAfter = 0): void {
    if (this.finished) return
    this.finished = true
    clearTimeout(this.timer)
    clearTimeout(this.idleTimer)
    clearInterval(this.pingTimer)
    this.decoder?.destroy()
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

const EVENT_END = Buffer.from('\n\n')

/**
 * `buf` with every occurrence of a secret overwritten by asterisks, byte for byte (the length
 * stays, so a Content-Length passed on stays true); the same buffer when none occurs. Only
 * error answers go through it, and a stream from its first error event on. A secret split
 * between two reads is not seen: error answers are small, and come in one.
 */
export function maskSecrets(buf: Buffer, secrets: readonly Buffer[]): Buffer {
  let out = buf
  for (const secret of secrets) {
    for (let i = out.indexOf(secret); i !== -1; i = out.indexOf(secret, i + secret.length)) {
      if (out === buf) out = Buffer.from(buf)
      out.fill(0x2a, i, i + secret.length)
    }
  }
  return out
}

const BLANK_LINE = 0x000a0a

/** The last three bytes of what was relayed, `packed` then `b`; a chunk of one or two bytes (`\r\n`) shifts in. */
function lastBytesAfter(packed: number, b: Buffer): number {
  const n = b.length
  if (n >= 3) return (b[n - 3]! << 16) | (b[n - 2]! << 8) | b[n - 1]!
  for (let i = 0; i < n; i++) packed = ((packed << 8) | b[i]!) & 0xffffff
  return packed
}

/** Do the last bytes (packed, as lastBytesAfter) end with a blank line, an event's end in any of SSE's line endings? */
function endsEvent(packed: number): boolean {
  const last = packed & 0xff
  const b2 = (packed >> 8) & 0xff
  const b3 = packed >> 16
  if (last === 0x0a) return b2 === 0x0a || (b2 === 0x0d && (b3 === 0x0a || b3 === 0x0d))
  return last === 0x0d && b2 === 0x0d
}

/** The choices a request asks for (`n`), each of which must finish for the answer to be whole. */
function choicesOf(body: Record<string, unknown> | undefined): number {
  const n = body?.n
  return typeof n === 'number' && Number.isInteger(n) && n > 1 ? n : 1
}

function onIdle(ex: Exchange): void {
  ex.onIdle()
}

function onPing(ex: Exchange): void {
  ex.onPing()
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

/**
 * No retry followed a held error answer: the client gets the upstream's own answer, decoded
 * if it came compressed (so its credentials are masked, and the client gets what it can
 * read). False when it cannot be relayed safely (a coding that does not decode, with
 * credentials to mask): the caller answers with its own error.
 */
export function relayAnswer(ctx: RequestContext, answer: HeldAnswer): boolean {
  const encoding = answer.headers['content-encoding']
  const coding = encoding === undefined ? undefined : codingOf(encoding)
  let body = answer.body
  if (coding !== undefined) {
    const decoded = coding === null ? undefined : decodeWhole(coding, body, DECODED_ANSWER_BYTES)
    if (decoded === undefined && answer.upstream.secrets.length > 0) return false
    if (decoded !== undefined) body = decoded
  }
  const decoded = body !== answer.body
  ctx.status = answer.status
  ctx.outcome = 'error'
  ctx.upstream = answer.upstream
  ctx.bytesOut += body.length
  const headers = clientResponseHeaders(ctx, answer.upstream, answer.headers, false, decoded, decoded)
  if (decoded) headers.push('content-length', String(body.length))
  writeResponseHead(ctx, answer.status, headers)
  ctx.res.end(maskSecrets(body, answer.upstream.secrets))
  return true
}

/** A held error answer (at most HOLD_BYTES) decodes to at most this. */
const DECODED_ANSWER_BYTES = 1 << 20
