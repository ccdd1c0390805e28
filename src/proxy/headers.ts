// Header rules at the proxy boundary: hop-by-hop removal (RFC 9110 §7.6.1), client
// credentials never forwarded, the upstream's secret added, tracing ids and forwarding info.
import type { IncomingHttpHeaders } from 'node:http'
import type { Upstream } from '../routing/upstream.js'
import type { RequestContext } from '../server/context.js'

/** Never copied client → upstream: hop-by-hop, credentials, and what we set ourselves. */
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
  'authorization',
  'api-key',
  'x-api-key',
  'cookie',
  'accept-encoding',
  'x-request-id',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
  'x-real-ip',
])

/** Never copied upstream → client. */
const DROP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'x-request-id',
  'set-cookie',
  'date',
  // A request header (RFC 9110 §10.1.1); on a response it makes Node send the head at once,
  // before the gateway's own headers are in it (server/response-head.ts).
  'expect',
  // HTTP/1.1's upgrade offer: connection-specific, and an HTTP/2 response carrying it is malformed.
  'http2-settings',
])

const COLON = 0x3a

/** Headers sent upstream, as a flat name/value list. */
export function upstreamRequestHeaders(ctx: RequestContext, upstream: Upstream): string[] {
  const raw = ctx.req.rawHeaders
  const connectionTokens = ctx.headers.connection
  const out: string[] = []
  const trace = ctx.trace
  const configured = upstream.extraHeaderNames
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) are not headers to forward.
    if (name.charCodeAt(0) === COLON || DROP_REQUEST.has(name) || name.startsWith('x-switchyard-')) continue
    // The upstream's configured value replaces the client's (an OpenAI-Organization billed under the gateway's key).
    if (configured.size > 0 && configured.has(name)) continue
    // A traced request names its own attempt span as the parent (W3C Trace Context).
    if (trace !== undefined && name === 'traceparent') continue
    if (connectionTokens !== undefined && listsToken(connectionTokens, name)) continue
    out.push(name, raw[i + 1]!)
  }
  out.push(
    'x-request-id',
    ctx.id,
    'x-forwarded-for',
    ctx.forwardedFor,
    'x-forwarded-proto',
    ctx.forwardedProto,
    // SSE must stay byte-for-byte readable: never let the upstream compress it.
    'accept-encoding',
    'identity'
  )
  if (trace !== undefined) out.push('traceparent', trace.traceparent)
  if (upstream.authorization !== undefined) out.push('authorization', upstream.authorization)
  const extra = upstream.extraHeaders
  for (let i = 0; i < extra.length; i++) out.push(extra[i]!)
  return out
}

function listsToken(header: string, name: string): boolean {
  if (header === 'keep-alive' || header === 'close') return false
  return header
    .toLowerCase()
    .split(',')
    .some((t) => t.trim() === name)
}

/**
 * Headers sent to the client for a proxied response, but for the late ones
 * (server/response-head.ts writes those). `dropLength` when the body is
 * rewritten on the way (the length would lie); `decoded` when the gateway decompressed it
 * (the client gets identity).
 */
export function clientResponseHeaders(
  ctx: RequestContext,
  upstream: Upstream,
  headers: IncomingHttpHeaders,
  eventStream: boolean,
  dropLength: boolean,
  decoded = false
): string[] {
  const out: string[] = []
  // The gateway's own rate-limit headers replace the upstream's (server/context.ts LateHeaders).
  const ownLimits = ctx.lateHeaders?.writesRateLimits === true
  // Headers the upstream's Connection names are hop-by-hop too (RFC 9110 §7.6.1).
  const connection = headers.connection
  const hopByHop = connection === undefined || connection === 'keep-alive' || connection === 'close' ? undefined : connection
  for (const name in headers) {
    if (DROP_RESPONSE.has(name) || name.startsWith('x-switchyard-')) continue
    if (hopByHop !== undefined && listsToken(hopByHop, name)) continue
    if (ownLimits && name.startsWith('x-ratelimit-')) continue
    // CORS is the gateway's policy (server/cors.ts), never the upstream's.
    if (name.startsWith('access-control-')) continue
    if (dropLength && name === 'content-length') continue
    if (decoded && name === 'content-encoding') continue
    if (eventStream && (name === 'cache-control' || name === 'x-accel-buffering')) continue
    const value = headers[name]
    if (value === undefined) continue
    if (typeof value === 'string') out.push(name, value)
    else for (const v of value) out.push(name, v)
  }
  out.push('x-request-id', ctx.id, 'x-switchyard-upstream', upstream.publicName)
  if (ctx.servedModel !== undefined) out.push('x-switchyard-model', ctx.servedModel)
  // A buffering ingress in front would hold tokens back; both headers tell it not to.
  if (eventStream) out.push('cache-control', 'no-cache', 'x-accel-buffering', 'no')
  ctx.pushHookHeaders(out)
  return out
}

/**
 * Headers of the 200 event stream that keep-alive pings commit before the upstream has
 * answered: ours only, since the upstream's are not known yet (the late ones aside, as above).
 */
export function keepaliveHeaders(ctx: RequestContext, upstream: Upstream): string[] {
  const out = [
    'content-type',
    'text/event-stream',
    'cache-control',
    'no-cache',
    'x-accel-buffering',
    'no',
    'x-request-id',
    ctx.id,
    'x-switchyard-upstream',
    upstream.publicName,
  ]
  if (ctx.servedModel !== undefined) out.push('x-switchyard-model', ctx.servedModel)
  ctx.pushHookHeaders(out)
  return out
}
