// CORS for the data plane, off unless `server.cors.origins` lists origins. Preflights from
// an allowed origin are answered here (before authentication: browsers send no credentials
// on them); actual requests from one get Access-Control-Allow-Origin and the headers a
// browser client needs to read (request id, rate limits).
import { PermissionDeniedError } from '../errors.js'
import type { RequestContext } from './context.js'
import { writeNoContent } from './reply.js'

const ALLOW_METHODS = 'GET, HEAD, POST, OPTIONS'
const EXPOSE_HEADERS = [
  'x-request-id',
  'x-switchyard-upstream',
  'x-switchyard-model',
  'retry-after',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
].join(', ')
const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers'
/** A comma-separated list of header names (RFC 9110 tokens), as Access-Control-Request-Headers is. */
const HEADER_LIST = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*,[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/

export interface CorsOptions {
  readonly origins: readonly string[]
  /** ms */
  readonly max_age: number
}

export class CorsPolicy {
  private readonly any: boolean
  private readonly origins: ReadonlySet<string>
  private readonly maxAge: string

  constructor(options: CorsOptions) {
    this.any = options.origins.includes('*')
    this.origins = new Set(options.origins)
    this.maxAge = String(Math.floor(options.max_age / 1000))
  }

  /** Is `origin` one the config allows? */
  allows(origin: string): boolean {
    return this.any || this.origins.has(origin)
  }

  /** The Access-Control-Allow-Origin value for `origin`, or undefined when it is not allowed. */
  private allowOrigin(origin: string): string | undefined {
    if (this.any) return '*'
    return this.origins.has(origin) ? origin : undefined
  }

  /** Adds CORS headers for an allowed origin; answers a preflight and returns true. */
  handle(ctx: RequestContext): boolean {
    const headers = ctx.headers
    const origin = headers.origin
    if (origin === undefined) return false
    const out = ctx.responseHeaders
    const preflight = ctx.req.method === 'OPTIONS' && headers['access-control-request-method'] !== undefined
    const allowed = this.allowOrigin(origin)
    // The answer depends on these request headers unless every origin gets the same one.
    if (!this.any) out.push('vary', preflight ? PREFLIGHT_VARY : 'Origin')
    if (allowed === undefined) {
      if (!preflight) return false // served as usual, but the browser will not let the page read it
      throw new PermissionDeniedError(`Origin ${origin} is not allowed to call this API.`, 'cors_origin_not_allowed')
    }
    out.push('access-control-allow-origin', allowed)
    if (!preflight) {
      out.push('access-control-expose-headers', EXPOSE_HEADERS)
      return false
    }
    out.push('access-control-allow-methods', ALLOW_METHODS, 'access-control-max-age', this.maxAge)
    const asked = headers['access-control-request-headers']
    if (typeof asked === 'string' && HEADER_LIST.test(asked)) out.push('access-control-allow-headers', asked)
    writeNoContent(ctx)
    return true
  }
}
