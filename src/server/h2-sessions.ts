// HTTP/2 sessions of the HTTPS listener. Node applies its header and request timeouts to
// HTTP/1.1 only, so the same guards are kept here: a session must open a stream within the
// headers timeout and is closed after the keep-alive timeout without one (a peer trickling
// a HEADERS frame byte by byte opens none), and a request body must arrive within the
// request timeout. The header size limit is checked per stream too, since nghttp2 applies
// SETTINGS_MAX_HEADER_LIST_SIZE only once the client has acknowledged it. A session whose
// client resets too many streams before their answer ("rapid reset", CVE-2023-44487) is
// closed with GOAWAY (premature-resets.ts). Drain closes every session with GOAWAY, letting
// open streams finish.
import { constants, type Http2SecureServer, type Http2ServerRequest, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import { performance } from 'node:perf_hooks'
import type { Logger } from '../observability/logger.js'
import { isPremature, tooManyPremature, type PrematureResetLimits } from './premature-resets.js'
import { edgeErrorBody } from './reply.js'

export interface SessionLimits extends PrematureResetLimits {
  readonly headersTimeout: number
  readonly keepAliveTimeout: number
  /** 0 = no limit. */
  readonly requestTimeout: number
  /** The largest header list a stream may open with, counted as RFC 7541 §4.1 does. */
  readonly maxHeaderSize: number
}

/** RFC 7541 §4.1's size of a header list (name + value octets + 32 per field), pseudo-headers included. */
export function headerListSize(raw: readonly string[]): number {
  let size = 0
  for (let i = 0; i + 1 < raw.length; i += 2) size += raw[i]!.length + raw[i + 1]!.length + 32
  return size
}

interface SessionState {
  readonly owner: Http2Sessions
  readonly session: ServerHttp2Session
  open: number
  timer: NodeJS.Timeout | undefined
  /** Streams closed so far, and how many of them the client reset before an answer. */
  closed: number
  premature: number
}

const kSession = Symbol('switchyard.h2session')
const kOpenedAt = Symbol('switchyard.openedAt')
type TrackedStream = ServerHttp2Stream & { [kSession]?: SessionState; [kOpenedAt]?: number }

/** One 'close' listener for every stream (`this` is the stream): no closure per stream. */
function onStreamClose(this: TrackedStream): void {
  this[kSession]!.owner.streamClosed(this)
}

export class Http2Sessions {
  private readonly sessions = new Map<ServerHttp2Session, SessionState>()
  private draining = false
  /** Sessions closed for too many premature resets (a counter for /metrics). */
  prematureResetCloses = 0

  constructor(
    server: Http2SecureServer,
    private limits: SessionLimits,
    private readonly log?: Logger
  ) {
    server.on('session', (session) => this.add(session))
  }

  update(limits: SessionLimits): void {
    this.limits = limits
  }

  /**
   * False, with the stream reset, when the request's header list is over the limit. nghttp2
   * does the same once the client has acknowledged our SETTINGS, but until then it allows
   * its own default (curl sends its first request before that ACK): this makes the limit
   * hold from the first stream, with the same outcome (RST_STREAM ENHANCE_YOUR_CALM).
   */
  admit(req: Http2ServerRequest): boolean {
    if (headerListSize(req.rawHeaders) <= this.limits.maxHeaderSize) return true
    req.stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM)
    return false
  }

  get size(): number {
    return this.sessions.size
  }

  /** GOAWAY to every session: no new streams; each closes once its open streams end. */
  closeAll(): void {
    this.draining = true
    for (const session of this.sessions.keys()) session.close()
  }

  private add(session: ServerHttp2Session): void {
    const state: SessionState = { owner: this, session, open: 0, timer: undefined, closed: 0, premature: 0 }
    this.sessions.set(session, state)
    session.once('close', () => {
      clearTimeout(state.timer)
      this.sessions.delete(session)
    })
    if (this.draining) {
      session.close()
      return
    }
    this.idle(session, state, this.limits.headersTimeout)
    session.on('stream', (stream: TrackedStream) => {
      state.open++
      clearTimeout(state.timer)
      state.timer = undefined
      stream[kSession] = state
      stream[kOpenedAt] = performance.now()
      this.guardBody(stream)
      stream.once('close', onStreamClose)
    })
  }

  /** A stream of one of our sessions closed: the idle timer, and the premature-reset count. */
  streamClosed(stream: TrackedStream): void {
    const state = stream[kSession]!
    const session = state.session
    state.open--
    state.closed++
    if (isPremature(stream, stream[kOpenedAt]!, this.limits)) {
      state.premature++
      if (tooManyPremature(state.closed, state.premature, this.limits)) return this.closeAbusive(state)
    }
    if (state.open === 0 && !session.closed && !session.destroyed) {
      this.idle(session, state, this.limits.keepAliveTimeout)
    }
  }

  /**
   * GOAWAY ENHANCE_YOUR_CALM and the connection closed at once, as Envoy does for
   * "too_many_premature_resets": the session's open streams (the client's own) are reset,
   * which cancels their upstream requests. Logged once per session (its address, no headers).
   */
  private closeAbusive(state: SessionState): void {
    const session = state.session
    if (session.destroyed) return
    this.prematureResetCloses++
    this.log?.warn(
      { client: session.socket?.remoteAddress, streams: state.closed, premature_resets: state.premature },
      'HTTP/2 connection closed: its client reset too many streams before their answer (rapid reset)'
    )
    session.destroy(new Error('too many premature stream resets'), constants.NGHTTP2_ENHANCE_YOUR_CALM)
  }

  /** Closes the session unless a stream opens within `ms`. */
  private idle(session: ServerHttp2Session, state: SessionState, ms: number): void {
    if (ms <= 0) return
    state.timer = setTimeout(() => {
      if (state.open === 0) session.close()
    }, ms)
    state.timer.unref()
  }

  /**
   * A stream whose request body is still arriving after the request timeout: answered 408
   * (as HTTP/1.1 is) when nothing was sent on it yet, then reset with NO_ERROR so the client
   * stops sending (RFC 9113 §8.1); reset with CANCEL when a response is already under way.
   */
  private guardBody(stream: ServerHttp2Stream): void {
    const ms = this.limits.requestTimeout
    if (ms <= 0 || stream.endAfterHeaders) return
    let ended = false
    stream.once('end', () => {
      ended = true
    })
    const timer = setTimeout(() => {
      if (ended || stream.closed) return
      if (stream.headersSent) {
        stream.close(constants.NGHTTP2_CANCEL)
        return
      }
      const body = edgeErrorBody('request_timeout', 'The request was not received in time.')
      stream.respond({ ':status': 408, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      stream.end(body, () => stream.close(constants.NGHTTP2_NO_ERROR))
    }, ms)
    timer.unref()
    stream.once('close', () => clearTimeout(timer))
  }
}
