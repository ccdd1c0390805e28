// The data-plane listener: plain HTTP/1.1 (node:http), or HTTPS with HTTP/2 by ALPN and an
// HTTP/1.1 fallback (node:http2 createSecureServer({ allowHTTP1: true })). Edge guards live
// here: header/request timeouts, header size, connection caps, JSON answers to malformed
// requests, and a graceful close that lets in-flight requests finish (up to a deadline).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest } from 'node:http2'
import { Socket as NetSocket, type AddressInfo, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { onClientError } from './client-error.js'
import { rawErrorResponse, writeEdgeError } from './reply.js'
import { ConnectionGuard } from './connection-guard.js'
import { Http2Sessions } from './h2-sessions.js'
import { listen } from './listen.js'
import type { PrematureResetLimits } from './premature-resets.js'
import type { Logger } from '../observability/logger.js'
import type { TlsMaterial } from './tls.js'

const kBusy = Symbol('switchyard.busy')
type TrackedSocket = Socket & { [kBusy]?: number }

function onResponseClose(this: ServerResponse): void {
  const socket = this.req.socket as TrackedSocket
  socket[kBusy] = (socket[kBusy] ?? 1) - 1
}

/**
 * llhttp parses any `HTTP/d.d` request line, so `HTTP/2.0` or `HTTP/0.9` arrive on an
 * HTTP/1.1 connection as requests of that version: 505, and the connection is closed (only
 * HTTP/2 over TLS by ALPN is HTTP/2 here; nothing else on the connection can be trusted).
 */
function refuseVersion(req: IncomingMessage, res: ServerResponse): void {
  // Through the response, not the socket: a pipelined request before it may still be answering.
  writeEdgeError(res, 505, 'http_version_not_supported', `HTTP/${req.httpVersion} is not supported: send HTTP/1.1 (or HTTP/2 over TLS).`, true)
}

/** An Expect other than 100-continue: 417, in OpenAI's shape (Node's own has no body). */
function refuseExpectation(req: IncomingMessage, res: ServerResponse): void {
  writeEdgeError(res, 417, 'expectation_failed', `Expect '${String(req.headers.expect).slice(0, 64)}' is not supported (only 100-continue is).`)
}

const CONNECT_REFUSED = 'CONNECT is not supported: Switchyard is a reverse proxy.'

const PLAIN_ON_TLS = rawErrorResponse(
  400,
  'http_request_on_https_port',
  'The plain HTTP request was sent to the HTTPS port: use https:// (or the redirect port, if one is configured).'
)

/**
 * A TLS handshake that failed because the client spoke plain HTTP (OpenSSL's "http request"):
 * answered 400 in plain text on the TCP connection under the TLS socket, as nginx does; a
 * silent close leaves a curl user guessing. The raw socket is Node's internal `_parent` (no
 * public way to it): if a later Node moves it, the connection is closed as before.
 */
function onTlsClientError(err: Error & { code?: string }, tls: TLSSocket): void {
  const raw = (tls as unknown as { _parent?: unknown })._parent
  if (err.code !== 'ERR_SSL_HTTP_REQUEST' || !(raw instanceof NetSocket) || raw.destroyed || !raw.writable) return
  raw.end(PLAIN_ON_TLS, () => raw.destroy())
}

/**
 * CONNECT: this is not a forward proxy (Node's default closes an HTTP/1.1 connection without
 * a word, and answers an HTTP/2 one 405 with no body). HTTP/1.1 hands over the socket; HTTP/2
 * (the compat API, on the same event) a response.
 */
function refuseConnect(req: IncomingMessage, socketOrResponse: Duplex | ServerResponse): void {
  if ((req as { stream?: unknown }).stream !== undefined) {
    writeEdgeError(socketOrResponse as ServerResponse, 405, 'method_not_allowed', CONNECT_REFUSED)
    return
  }
  const socket = socketOrResponse as Duplex
  socket.end(rawErrorResponse(405, 'method_not_allowed', CONNECT_REFUSED), () => socket.destroy())
}

/** How often Node looks for connections past their header / request deadline. */
const CONNECTION_CHECK_MS = 1000

/** node:http's server settings, which the HTTP/1.1 fallback of an http2 server also reads. */
interface Http1Settings {
  keepAliveTimeout: number
  headersTimeout: number
  requestTimeout: number
  maxHeaderSize: number
  connectionsCheckingInterval: number
  insecureHTTPParser: boolean
  requireHostHeader: boolean
}

/** Limits that a config reload may change; they apply to connections accepted afterwards. */
export interface EdgeLimits extends PrematureResetLimits {
  readonly keepAliveTimeout: number
  /** Time allowed to receive the request headers (and finish a TLS handshake): slowloris guard. */
  readonly headersTimeout: number
  /** Time allowed to receive the whole request, headers and body (0 = no limit). */
  readonly requestTimeout: number
  readonly maxHeaderSize: number
  /** 0 = no limit. */
  readonly maxConnections: number
  /** 0 = no limit. */
  readonly maxConnectionsPerIp: number
  /** Addresses exempt from the per-address cap (trusted proxies). */
  readonly exempt: (ip: string) => boolean
  /** IPv6 clients count by this many leading bits in the per-address cap. */
  readonly clientIpv6Prefix: number
  /** Concurrent streams one HTTP/2 connection may open. */
  readonly http2MaxStreams: number
}

export interface ListenerOptions {
  readonly host: string
  readonly port: number
  /** HTTPS with HTTP/2 when set. */
  readonly tls?: TlsMaterial
  readonly limits: EdgeLimits
  /** Where HTTP/2 abuse is reported (once per connection closed for it). */
  readonly log?: Logger
}

/**
 * The request handler sees one request type. HTTP/2 compat requests and responses
 * (Http2ServerRequest / Http2ServerResponse) are used only through the members they share
 * with IncomingMessage / ServerResponse; the differences that matter (pseudo-headers,
 * connection-specific headers) are handled where headers are built (proxy/headers.ts,
 * server/reply.ts) and the HTTPS tests cover both protocols.
 */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void

export class Listener {
  readonly server: Server | Http2SecureServer
  readonly secure: boolean
  /** Connections that carry HTTP/1.1, so a drain can close the ones without a request. */
  private readonly h1 = new Set<TrackedSocket>()
  /** Every accepted TCP connection, for the cut at the drain deadline. */
  private readonly accepted = new Set<Socket>()
  private readonly sessions: Http2Sessions | undefined
  private readonly guard: ConnectionGuard

  constructor(
    handler: RequestHandler,
    private readonly options: ListenerOptions
  ) {
    const limits = options.limits
    const track = (req: IncomingMessage, res: ServerResponse): void => {
      const major = req.httpVersionMajor
      if (major === 1) {
        const socket = req.socket as TrackedSocket
        socket[kBusy] = (socket[kBusy] ?? 0) + 1
        res.once('close', onResponseClose)
      } else if (major === 2 && (req as { stream?: unknown }).stream !== undefined) {
        if (!this.sessions!.admit(req as unknown as Http2ServerRequest)) return
      } else return refuseVersion(req, res)
      handler(req, res)
    }
    this.secure = options.tls !== undefined
    if (options.tls !== undefined) {
      const server = createSecureServer({
        allowHTTP1: true,
        cert: options.tls.cert,
        key: options.tls.key,
        handshakeTimeout: limits.headersTimeout,
        settings: { maxConcurrentStreams: limits.http2MaxStreams, maxHeaderListSize: limits.maxHeaderSize },
      })
      server.on('request', track as unknown as Parameters<Http2SecureServer['on']>[1])
      server.on('secureConnection', (socket: TLSSocket) => {
        if (socket.alpnProtocol !== 'h2') this.trackH1(socket)
      })
      server.on('tlsClientError', onTlsClientError)
      this.sessions = new Http2Sessions(server, limits, options.log)
      this.server = server
    } else {
      const server = createServer({ noDelay: true }, track)
      server.on('connection', (socket: Socket) => this.trackH1(socket))
      this.sessions = undefined
      this.server = server
    }
    const http1 = this.server as unknown as Http1Settings
    // Node's HTTP/1.1 connection tracking enforces headersTimeout / requestTimeout; its
    // default sweep interval (30 s) would let a slow client overstay by that much.
    http1.connectionsCheckingInterval = CONNECTION_CHECK_MS
    // Strict llhttp (node:http's default, but the HTTP/1.1 fallback of an http2 server leaves
    // it unset). RFC 9112 §3.2's 400 for an HTTP/1.1 request without Host is edge-policy.ts's,
    // in OpenAI's error shape: node:http's own is a bare 400.
    http1.insecureHTTPParser = false
    http1.requireHostHeader = false
    this.guard = new ConnectionGuard(limits.maxConnectionsPerIp, limits.exempt, limits.clientIpv6Prefix)
    this.server.on('connection', (socket: Socket) => {
      this.accepted.add(socket)
      socket.once('close', () => this.accepted.delete(socket))
      this.guard.onConnection(socket)
    })
    this.server.on('clientError', onClientError)
    // Expect: 100-continue reaches the handler without Node's automatic 100: the body reader
    // sends it once the request may upload (server/body.ts readBody).
    this.server.on('checkContinue', track)
    this.server.on('checkExpectation', refuseExpectation)
    this.server.on('connect', refuseConnect)
    this.update(limits)
  }

  /** Applies reloadable limits (new connections see them; open ones keep what they had). */
  update(limits: EdgeLimits): void {
    // The HTTP/1.1 side of either server reads these per connection / per sweep.
    const http1 = this.server as unknown as Http1Settings
    http1.keepAliveTimeout = limits.keepAliveTimeout
    http1.requestTimeout = limits.requestTimeout
    http1.headersTimeout = limits.headersTimeout // ≤ requestTimeout: the config schema checks it
    http1.maxHeaderSize = limits.maxHeaderSize
    this.server.maxConnections = limits.maxConnections > 0 ? limits.maxConnections : Infinity
    this.guard.update(limits.maxConnectionsPerIp, limits.exempt, limits.clientIpv6Prefix)
    if (this.sessions !== undefined) {
      // The SETTINGS new HTTP/2 sessions announce (nghttp2 enforces them once acknowledged).
      ;(this.server as Http2SecureServer).updateSettings({ maxHeaderListSize: limits.maxHeaderSize })
      this.sessions.update(limits)
    }
  }

  /** HTTP/2 connections closed for too many premature stream resets (rapid reset). */
  get prematureResetCloses(): number {
    return this.sessions?.prematureResetCloses ?? 0
  }

  /** Swaps the certificate and key for new handshakes (open connections keep theirs). */
  setTls(material: TlsMaterial): void {
    if (!this.secure) throw new Error('the listener is not HTTPS')
    ;(this.server as Http2SecureServer).setSecureContext({ cert: material.cert, key: material.key })
  }

  private trackH1(socket: TrackedSocket): void {
    this.h1.add(socket)
    socket.once('close', () => this.h1.delete(socket))
  }

  /** Closes HTTP/1.1 connections with no request in progress (idle keep-alive, or never used). */
  private closeIdle(): void {
    for (const socket of this.h1) {
      if ((socket[kBusy] ?? 0) === 0) socket.destroy()
    }
  }

  listen(): Promise<AddressInfo> {
    return listen(this.server, this.options.port, this.options.host)
  }

  /**
   * Stops accepting, closes HTTP/1.1 connections as they go idle and sends GOAWAY on HTTP/2
   * ones, and resolves when none is left or `drainMs` has passed (then every remaining
   * connection is cut).
   */
  close(drainMs: number): Promise<{ cut: boolean }> {
    const server = this.server
    return new Promise((resolve) => {
      let done = false
      const finish = (cut: boolean): void => {
        if (done) return
        done = true
        clearInterval(sweep)
        clearTimeout(deadline)
        resolve({ cut })
      }
      server.close(() => finish(false))
      this.sessions?.closeAll()
      // Keep-alive connections become idle as their last response ends: close them then.
      const sweep = setInterval(() => this.closeIdle(), 50)
      const deadline = setTimeout(() => {
        for (const socket of this.accepted) socket.destroy()
        finish(true)
      }, drainMs)
      this.closeIdle()
    })
  }
}
