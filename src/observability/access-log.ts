// One JSON line per request, written after the response has ended, built from the context.
// The line has pino's shape (level, time, fields) but is encoded here, byte by byte, straight
// into the LineWriter's buffer (json-bytes.ts): pino's generic serialiser, redaction and
// destination, and then building the line as a string, were most of the access log's cost
// per request. A line built field by field has no secret to redact.
import type { RequestContext } from '../server/context.js'
import { putAscii, putBool, putMs, putNull, putNumber, putString, stringBytes } from './json-bytes.js'
import { LineWriter } from './line-writer.js'

/** Where access lines go (a LineWriter, or a test's collector). */
export interface AccessLogSink {
  write(line: string): unknown
}

/** `YYYY-MM-DDTHH:MM:SS.` of the last two seconds seen (lines of requests ending around a second's turn alternate). */
const secText = ['', '']
const secOf = [-1, -1]

/** Epoch ms as ISO 8601 (`Date#toISOString`), written into `buf`: the second's text is made once per second. */
function putIsoTime(buf: Buffer, p: number, ms: number): number {
  const sec = Math.floor(ms / 1000)
  const slot = sec & 1
  if (secOf[slot] !== sec) {
    secOf[slot] = sec
    const iso = new Date(sec * 1000).toISOString()
    secText[slot] = iso.slice(0, iso.length - 4) // without `000Z`
  }
  p = putAscii(buf, p, secText[slot]!)
  const milli = ms - sec * 1000
  buf[p++] = 0x30 + ((milli / 100) | 0)
  buf[p++] = 0x30 + (((milli / 10) | 0) % 10)
  buf[p++] = 0x30 + (milli % 10)
  buf[p++] = 0x5a // Z
  return p
}

/**
 * When the request ended (the line's `time`, as nginx logs the end): its start on the wall
 * clock plus its monotonic duration, with no clock read per line.
 */
export function endTimeMs(ctx: RequestContext): number {
  return Math.floor(ctx.startTime + Math.max(0, ctx.durationMs))
}

/** nginx's code for "client closed the request". */
export const CLIENT_CLOSED = 499

/** The status the log and metrics report: 499 for a client that left early. */
export function reportedStatus(ctx: RequestContext): number {
  return ctx.outcome === 'cancelled' ? CLIENT_CLOSED : ctx.status
}

/**
 * Why a request failed, as one low-cardinality word (OpenTelemetry's `error.type`): the
 * gateway's error code, `client_closed`, or `upstream_<status>` for an upstream's own error
 * answer that was relayed; null when it succeeded.
 */
export function errorType(ctx: RequestContext): string | null {
  if (ctx.outcome === 'cancelled') return 'client_closed'
  if (ctx.error !== undefined) return ctx.error.code
  return ctx.status >= 400 ? upstreamErrorType(ctx.status) : null
}

const UPSTREAM_ERROR_TYPES = new Map<number, string>()

function upstreamErrorType(status: number): string {
  let t = UPSTREAM_ERROR_TYPES.get(status)
  if (t === undefined) UPSTREAM_ERROR_TYPES.set(status, (t = `upstream_${status}`))
  return t
}

/** Where a line is encoded in place (a LineWriter; see LineWriter.reserve). */
interface LineTarget {
  reserve(most: number): Buffer | undefined
  readonly position: number
  commit(end: number): void
}

/** A string sink (a test's collector) behind the in-place encoding: each line is decoded once. */
class StringLines implements LineTarget {
  private buf = Buffer.allocUnsafe(4096)
  readonly position = 0
  constructor(private readonly sink: AccessLogSink) {}
  reserve(most: number): Buffer {
    if (most > this.buf.length) this.buf = Buffer.allocUnsafe(most)
    return this.buf
  }
  commit(end: number): void {
    this.sink.write(this.buf.toString('utf8', 0, end))
  }
}

/** Room for everything but the strings (field names, numbers, booleans, the time: ~560), with margin. */
const FIXED_BYTES = 1024

export function accessLogHook(sink: AccessLogSink): (ctx: RequestContext) => void {
  const target: LineTarget = sink instanceof LineWriter ? sink : new StringLines(sink)
  return function accessLog(ctx: RequestContext): void {
    const usage = ctx.usage
    const id = ctx.id
    const keyName = ctx.keyName
    const clientIp = ctx.clientIp
    const method = ctx.req.method
    const path = ctx.path
    const model = ctx.model
    const served = ctx.servedModel
    const upstream = ctx.upstream?.id
    const error = errorType(ctx)
    const traceId = ctx.trace?.traceId
    const buf = target.reserve(
      FIXED_BYTES +
        stringBytes(id) +
        stringBytes(keyName) +
        stringBytes(clientIp) +
        stringBytes(method) +
        stringBytes(path) +
        stringBytes(model) +
        stringBytes(served) +
        stringBytes(upstream) +
        stringBytes(error) +
        stringBytes(traceId)
    )
    if (buf === undefined) return
    // Field by field into the buffer, in pino's shape; every string that can come from a
    // client is escaped by putString. The key's name only: a key never reaches the context.
    let p = putAscii(buf, target.position, '{"level":30,"time":"')
    p = putIsoTime(buf, p, endTimeMs(ctx))
    p = putAscii(buf, p, '","type":"access","request_id":')
    p = putString(buf, p, id)
    p = putAscii(buf, p, ',"key_name":')
    p = putString(buf, p, keyName)
    p = putAscii(buf, p, ',"client_ip":')
    p = putString(buf, p, clientIp)
    p = putAscii(buf, p, ',"method":')
    p = putString(buf, p, method)
    p = putAscii(buf, p, ',"path":')
    p = putString(buf, p, path)
    p = putAscii(buf, p, ',"model":')
    p = putString(buf, p, model)
    p = putAscii(buf, p, ',"served_model":')
    p = putString(buf, p, served)
    p = putAscii(buf, p, ',"upstream":')
    p = putString(buf, p, upstream)
    p = putAscii(buf, p, ',"status":')
    p = putNumber(buf, p, reportedStatus(ctx))
    p = putAscii(buf, p, ',"outcome":"')
    p = putAscii(buf, p, ctx.outcome)
    p = putAscii(buf, p, '","stream":')
    p = putBool(buf, p, ctx.stream)
    p = putAscii(buf, p, ',"prompt_tokens":')
    p = putNumber(buf, p, usage?.prompt_tokens)
    p = putAscii(buf, p, ',"completion_tokens":')
    p = putNumber(buf, p, usage?.completion_tokens)
    p = putAscii(buf, p, ',"usage_estimated":')
    p = putBool(buf, p, ctx.usageEstimated)
    p = putAscii(buf, p, ',"ttft_ms":')
    p = ctx.firstByteMs >= 0 ? putMs(buf, p, ctx.firstByteMs) : putNull(buf, p)
    p = putAscii(buf, p, ',"duration_ms":')
    p = putMs(buf, p, ctx.durationMs)
    p = putAscii(buf, p, ',"attempts":')
    p = putNumber(buf, p, ctx.attempts)
    p = putAscii(buf, p, ',"retries":')
    p = putNumber(buf, p, ctx.retries)
    p = putAscii(buf, p, ',"bytes_out":')
    p = putNumber(buf, p, ctx.bytesOut)
    p = putAscii(buf, p, ',"error":')
    p = putString(buf, p, error)
    p = putAscii(buf, p, ',"trace_id":')
    p = putString(buf, p, traceId)
    p = putAscii(buf, p, '}\n')
    target.commit(p)
  }
}
