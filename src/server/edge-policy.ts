// The first step of every request, before routing: who the client is (trusted proxies), the
// Host checks llhttp leaves to us, and CORS. Built once per config snapshot.
import type { Config } from '../config/schema.js'
import { InvalidRequestError, PermissionDeniedError, UnsupportedTransferCodingError } from '../errors.js'
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

  /**
   * A body with no Content-Type from a browser page (it sent Origin) of an origin CORS does not
   * allow: a request no preflight vetted (a Blob body), which a page on any site can make an
   * open gateway run, spending its upstream keys. JSON bodies from such pages need a
   * preflight, which CORS refuses; other types get 415 (body.ts checkJsonContentType).
   */
  refuseUnvetted(ctx: RequestContext): void {
    const origin = ctx.headers.origin
    if (origin === undefined || ctx.headers['content-type'] !== undefined || this.cors?.allows(origin) === true) return
    throw new PermissionDeniedError(
      `A browser request from ${origin.slice(0, 100)} without Content-Type: application/json is refused (no CORS preflight vetted it).`,
      'cors_origin_not_allowed'
    )
  }

  /** Runs first for every request; true when the request has been answered here. */
  admit(ctx: RequestContext): boolean {
    if (ctx.req.httpVersionMajor === 1) {
      checkHost(ctx.req.rawHeaders, ctx.req.httpVersionMinor)
      const te = ctx.headers['transfer-encoding']
      if (te !== undefined && te !== 'chunked') checkTransferCoding(te)
    }
    this.trusted?.resolve(ctx)
    return this.cors !== undefined && this.cors.handle(ctx)
  }
}

/**
 * RFC 9112 §6.1. Chunked not last: the body's length cannot be known, 400 and close (llhttp
 * refuses most such requests itself, not always before the request is handed on). Chunked
 * last with other codings before it (`gzip, chunked`; two lines `identity` and `chunked`,
 * which Node joins): llhttp frames the chunks and Node would read the body as if chunked
 * were all, taking gzip data for JSON; a coding the server does not implement is 501.
 */
function checkTransferCoding(te: string): void {
  const codings = te.toLowerCase()
  const last = codings.slice(codings.lastIndexOf(',') + 1).trim()
  if (last !== 'chunked') {
    const err = new InvalidRequestError(`The request framing is ambiguous or invalid: Transfer-Encoding '${te.slice(0, 64)}' does not end in chunked.`, null, 'invalid_framing')
    err.headers = { connection: 'close' }
    throw err
  }
  if (codings.trim() === 'chunked') return
  throw new UnsupportedTransferCodingError(`Transfer-Encoding '${te.slice(0, 64)}' is not supported: send the body chunked or with a Content-Length, uncompressed.`)
}

/**
 * RFC 9112 §3.2: an HTTP/1.1 request without Host, or any request with more than one Host
 * field line (or Authorization field line), gets 400 (HTTP/1.0 may omit it; HTTP/2 has :authority). llhttp rejects every
 * Content-Length / Transfer-Encoding ambiguity itself (test/e2e/edge.test.ts tries each),
 * but lets a second Host through and Node keeps only the first; node:http's own check for a
 * missing one is off (listener.ts) because it answers with a bare 400.
 */
function checkHost(raw: readonly string[], minor: number): void {
  let seen = 0
  let authorizations = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === 'host') seen++
    else if (name.length === 13 && name.toLowerCase() === 'authorization') authorizations++
  }
  // Authorization is one credential (RFC 9110 §11.6.2); Node would keep the first of two
  // silently, and which key a request runs under must not depend on that.
  if (authorizations > 1) {
    const err = new InvalidRequestError('The request has more than one Authorization header.', null, 'invalid_authorization')
    err.headers = { connection: 'close' }
    throw err
  }
  if (seen === 1 || (seen === 0 && minor === 0)) return
  const message = seen === 0 ? 'The HTTP/1.1 request has no Host header.' : 'The request has more than one Host header.'
  const err = new InvalidRequestError(message, null, 'invalid_host')
  err.headers = { connection: 'close' }
  throw err
}
