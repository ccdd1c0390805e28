// HTTP/2 sessions of the HTTPS listener. Node applies its header and request timeouts to
// HTTP/1.1 only, so the same guards are kept here: a session must open a stream within the
// headers timeout and is closed after the keep-alive timeout without one (a peer trickling
// a HEADERS frame byte by byte opens none), and a request body must arrive within the
// request timeout. The header size limit is checked per stream too, since nghttp2 applies
// SETTINGS_MAX_HEADER_LIST_SIZE only once the client has acknowledged it. Drain closes
// every session with GOAWAY, letting open streams finish.
import { constants, type Http2SecureServer, type Http2ServerRequest, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'

export interface SessionLimits {
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
  open: number
  timer: NodeJS.Timeout | undefined
}

export class Http2Sessions {
  private readonly sessions = new Map<ServerHttp2Session, SessionState>()
  private draining = false

  constructor(
    server: Http2SecureServer,
    private limits: SessionLimits
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
    const state: SessionState = { open: 0, timer: undefined }
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
    session.on('stream', (stream: ServerHttp2Stream) => {
      state.open++
      clearTimeout(state.timer)
      state.timer = undefined
      this.guardBody(stream)
      stream.once('close', () => {
        if (--state.open === 0 && !session.closed && !session.destroyed) {
          this.idle(session, state, this.limits.keepAliveTimeout)
        }
      })
    })
  }

  /** Closes the session unless a stream opens within `ms`. */
  private idle(session: ServerHttp2Session, state: SessionState, ms: number): void {
    if (ms <= 0) return
    state.timer = setTimeout(() => {
      if (state.open === 0) session.close()
    }, ms)
    state.timer.unref()
  }

  /** Resets a stream whose request body is still arriving after the request timeout. */
  private guardBody(stream: ServerHttp2Stream): void {
    const ms = this.limits.requestTimeout
    if (ms <= 0 || stream.endAfterHeaders) return
    let ended = false
    stream.once('end', () => {
      ended = true
    })
    const timer = setTimeout(() => {
      if (!ended && !stream.closed) stream.close(constants.NGHTTP2_CANCEL)
    }, ms)
    timer.unref()
    stream.once('close', () => clearTimeout(timer))
  }
}
