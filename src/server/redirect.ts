// The optional plain-HTTP listener (`server.redirect_http_port`): every request is answered
// 308 Permanent Redirect to the same path on the HTTPS listener (308, unlike 301, keeps the
// method and body). It reads no body and has the same header timeouts and connection caps
// as the data plane, reloaded with them.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { onClientError } from './client-error.js'
import { ConnectionGuard } from './connection-guard.js'
import { listen } from './listen.js'
import type { EdgeLimits } from './listener.js'

/** A Host header's name part: a DNS name, an IPv4 address or a bracketed IPv6 one. */
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/

export interface RedirectOptions {
  readonly host: string
  readonly port: number
  readonly limits: EdgeLimits
}

export class RedirectListener {
  readonly server: Server
  /** The HTTPS port redirected to; set once the HTTPS listener is bound. */
  httpsPort = 443
  private address: AddressInfo | undefined
  private readonly guard: ConnectionGuard

  constructor(private readonly options: RedirectOptions) {
    const { limits } = options
    this.server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => this.redirect(req, res))
    this.guard = new ConnectionGuard(limits.maxConnectionsPerIp, limits.exempt, limits.clientIpv6Prefix)
    this.server.on('connection', this.guard.onConnection)
    this.server.on('clientError', onClientError)
    this.update(limits)
  }

  /** Applies reloadable limits, as Listener.update does for the data plane. */
  update(limits: EdgeLimits): void {
    const server = this.server
    server.keepAliveTimeout = limits.keepAliveTimeout
    server.headersTimeout = limits.headersTimeout
    // No body is read here, so even with no request timeout a request is bounded by the headers one.
    server.requestTimeout = Math.max(limits.requestTimeout, limits.headersTimeout)
    // Read per connection, like the timeouts; @types/node lists it only as an option.
    ;(server as Server & { maxHeaderSize: number }).maxHeaderSize = limits.maxHeaderSize
    server.maxConnections = limits.maxConnections > 0 ? limits.maxConnections : Infinity
    this.guard.update(limits.maxConnectionsPerIp, limits.exempt, limits.clientIpv6Prefix)
  }

  /** http://127.0.0.1:8079 once listening. */
  get url(): string {
    if (this.address === undefined) throw new Error('redirect listener not started')
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address
    return `http://${host}:${this.address.port}`
  }

  /** `https://<host>[:port]<path>` for a request. */
  location(req: IncomingMessage): string {
    const m = HOST.exec(req.headers.host ?? '')
    const host = m !== null ? m[1]! : fallbackHost(this.options.host)
    const port = this.httpsPort === 443 ? '' : `:${this.httpsPort}`
    const url = req.url ?? '/'
    return `https://${host}${port}${url.startsWith('/') ? url : '/'}`
  }

  private redirect(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(308, { location: this.location(req), 'content-length': 0, 'cache-control': 'no-store' })
    res.end()
  }

  async listen(): Promise<AddressInfo> {
    this.address = await listen(this.server, this.options.port, this.options.host)
    return this.address
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }
}

function fallbackHost(bound: string): string {
  if (bound === '0.0.0.0' || bound === '::') return 'localhost'
  return bound.includes(':') ? `[${bound}]` : bound
}
