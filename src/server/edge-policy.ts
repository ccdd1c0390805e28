// The first step of every request, before routing: who the client is (trusted proxies), a
// framing check llhttp leaves to us, and CORS. Built once per config snapshot.
import type { Config } from '../config/schema.js'
import { InvalidRequestError } from '../errors.js'
import { TrustedProxies } from './client-ip.js'
import type { RequestContext } from './context.js'
import { CorsPolicy } from './cors.js'

export class EdgePolicy {
  /** undefined when no proxy is trusted: X-Forwarded-For is then never read. */
  readonly trusted: TrustedProxies | undefined
  /** undefined when CORS is off. */
  readonly cors: CorsPolicy | undefined

  constructor(server: Config['server']) {
    this.trusted = server.trusted_proxies.length > 0 ? new TrustedProxies(server.trusted_proxies) : undefined
    this.cors = server.cors.origins.length > 0 ? new CorsPolicy(server.cors) : undefined
  }

  /** Is `ip` a trusted proxy (exempt from per-address connection limits)? */
  isTrusted(ip: string): boolean {
    return this.trusted?.trusts(ip) ?? false
  }

  /** Runs first for every request; true when the request has been answered here. */
  admit(ctx: RequestContext): boolean {
    if (ctx.req.httpVersionMajor === 1) checkSingleHost(ctx.req.rawHeaders)
    this.trusted?.resolve(ctx)
    return this.cors !== undefined && this.cors.handle(ctx)
  }
}

/**
 * RFC 9112 §3.2: a request with more than one Host field line gets 400. llhttp rejects
 * every Content-Length / Transfer-Encoding ambiguity itself (test/e2e/edge.test.ts tries each),
 * but lets a second Host through and Node keeps only the first.
 */
function checkSingleHost(raw: readonly string[]): void {
  let seen = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (seen) {
        const err = new InvalidRequestError('The request has more than one Host header.', null, 'invalid_host')
        err.headers = { connection: 'close' }
        throw err
      }
      seen = true
    }
  }
}
