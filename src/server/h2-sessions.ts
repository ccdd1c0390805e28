// HTTP/2 sessions of the HTTPS listener. Node applies its header and request timeouts to
// HTTP/1.1 only, so the same guards are kept here: a session must open a stream within the
// headers timeout and is closed after the keep-alive timeout without one (a peer trickling
// a HEADERS frame byte by byte opens none), and a request body must arrive within the
// request timeout. Drain closes every session with GOAWAY, letting open streams finish.
import { constants, type Http2SecureServer, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'

export interface SessionTimeouts {
  readonly headersTimeout: number
  readonly keepAliveTimeout: number
  /** 0 = no limit. */
  readonly requestTimeout: number
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
    private timeouts: SessionTimeouts
  ) {
    server.on('session', (session) => this.add(session))
  }

  update(timeouts: SessionTimeouts): void {
    this.timeouts = timeouts
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
    this.idle(session, state, this.timeouts.headersTimeout)
    session.on('stream', (stream: ServerHttp2Stream) => {
      state.open++
      clearTimeout(state.timer)
      state.timer = undefined
      this.guardBody(stream)
      stream.once('close', () => {
        if (--state.open === 0 && !session.closed && !session.destroyed) {
          this.idle(session, state, this.timeouts.keepAliveTimeout)
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
    const ms = this.timeouts.requestTimeout
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
