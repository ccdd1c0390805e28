// The optional plain-HTTP listener (`server.redirect_http_port`): every request is answered
// 308 Permanent Redirect to the same path on the HTTPS listener (308, unlike 301, keeps the
// method and body). It reads no body and has the same header timeouts as the data plane.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { onClientError } from './client-error.js'
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

  constructor(private readonly options: RedirectOptions) {
    const { limits } = options
    this.server = createServer(
      {
        keepAliveTimeout: limits.keepAliveTimeout,
        headersTimeout: limits.headersTimeout,
        requestTimeout: Math.max(limits.requestTimeout, limits.headersTimeout),
        maxHeaderSize: limits.maxHeaderSize,
        connectionsCheckingInterval: 1000,
      },
      (req, res) => this.redirect(req, res)
    )
    this.server.maxConnections = limits.maxConnections > 0 ? limits.maxConnections : Infinity
    this.server.on('clientError', onClientError)
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
