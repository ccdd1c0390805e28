// The only place where the gateway makes response bytes of its own: JSON bodies, errors
// (JSON before the commit point, an SSE error event after it).
import { STATUS_CODES, type ServerResponse } from 'node:http'
import { toGatewayError, type GatewayError } from '../errors.js'
import type { RequestContext } from './context.js'

/** Status, the headers hooks added, and the request id: what every answer of ours carries. */
function head(ctx: RequestContext, status: number): ServerResponse {
  const res = ctx.res
  ctx.status = status
  res.statusCode = status
  const extra: string[] = []
  ctx.pushResponseHeaders(extra)
  for (let i = 0; i < extra.length; i += 2) res.setHeader(extra[i]!, extra[i + 1]!)
  res.setHeader('x-request-id', ctx.id)
  return res
}

export function writeJson(ctx: RequestContext, status: number, body: unknown): void {
  const payload = JSON.stringify(body)
  const length = Buffer.byteLength(payload)
  const res = head(ctx, status)
  res.setHeader('content-type', 'application/json')
  res.setHeader('content-length', length)
  ctx.bytesOut += length
  res.end(payload)
}

/** A 204 with no body (a CORS preflight's answer). */
export function writeNoContent(ctx: RequestContext): void {
  head(ctx, 204).end()
}

/**
 * A complete HTTP/1.1 error response as raw bytes, for the socket-level failures that come
 * before any request object exists (malformed framing, header timeouts); the connection closes.
 */
export function rawErrorResponse(status: number, code: string, message: string): string {
  const body = edgeErrorBody(code, message)
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `connection: close\r\n\r\n${body}`
  )
}

/** The body of an error the edge answers before a request context exists. */
export function edgeErrorBody(code: string, message: string): string {
  return JSON.stringify({ error: { message, type: 'invalid_request_error', code, param: null } })
}

/** Answers an edge error through a response object (HTTP/1.1 or the HTTP/2 compat API); `close`: end the connection after it. */
export function writeEdgeError(res: ServerResponse, status: number, code: string, message: string, close = false): void {
  const body = edgeErrorBody(code, message)
  if (close) res.shouldKeepAlive = false
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(close && { connection: 'close' }) })
  res.end(body)
}

/** `data: {"error":{…}}` with no event field: the shape openai-node raises as APIError. */
export function sseErrorFrame(err: GatewayError): Buffer {
  return Buffer.from(`data: ${JSON.stringify(err.toBody())}\n\n`)
}

/**
 * Reports a failure to the client in the only way still open: an error response before
 * anything was sent; an SSE error event on a committed stream; otherwise cutting the
 * connection so a truncated body can never pass for a complete one.
 */
export function writeError(ctx: RequestContext, error: unknown): void {
  const err = toGatewayError(error)
  ctx.error = err
  ctx.outcome = 'error'
  const res = ctx.res
  if (res.destroyed || res.writableEnded) return
  if (!res.headersSent) {
    if (err.headers !== undefined) {
      const h2 = ctx.req.httpVersionMajor === 2
      for (const [k, v] of Object.entries(err.headers)) {
        // RFC 9113 §8.2.2: connection-specific headers are malformed in HTTP/2 (Node drops
        // them with a process warning); a stream error never closes the connection anyway.
        if (h2 && k === 'connection') continue
        res.setHeader(k, v)
      }
    }
    writeJson(ctx, err.status, err.toBody())
    return
  }
  if (isEventStream(res)) {
    const frame = sseErrorFrame(err)
    ctx.bytesOut += frame.length
    res.end(frame)
    return
  }
  res.destroy()
}

function isEventStream(res: ServerResponse): boolean {
  const type = res.getHeader('content-type')
  return typeof type === 'string' && type.startsWith('text/event-stream')
}
