// One JSON line per request, written after the response has ended, built from the context.
// The line has pino's shape (level, time, fields) but is encoded here, byte by byte, straight
// into the LineWriter's buffer (json-bytes.ts): pino's generic serialiser, redaction and
// destination, and then building the line as a string, were most of the access log's cost
// per request. A line built field by field has no secret to redact.
import type { RequestContext } from '../server/context.js'
import { asciiBytes, putAscii, putBool, putBytes, putMs, putNull, putNumber, putString, stringBytes } from './json-bytes.js'
import { LineWriter } from './line-writer.js'

/** Where access lines go (a LineWriter, or a test's collector). */
export interface AccessLogSink {
  write(line: string): unknown
}

/** `YYYY-MM-DDTHH:MM:SS.` of the last two seconds seen (lines of requests ending around a second's turn alternate). */
const secText: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)]
const secOf = [-1, -1]

/** Epoch ms as ISO 8601 (`Date#toISOString`), written into `buf`: the second's text is made once per second. */
function putIsoTime(buf: Buffer, p: number, ms: number): number {
  const sec = Math.floor(ms / 1000)
  const slot = sec & 1
  if (secOf[slot] !== sec) {
    secOf[slot] = sec
    const iso = new Date(sec * 1000).toISOString()
    secText[slot] = asciiBytes(iso.slice(0, iso.length - 4)) // without `000Z`
  }
  p = putBytes(buf, p, secText[slot]!)
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
function endTimeMs(ctx: RequestContext): number {
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

// The line's constant text, as bytes.
const F_OPEN = asciiBytes('{"level":30,"time":"')
const F_REQUEST_ID = asciiBytes('","type":"access","request_id":')
const F_KEY_NAME = asciiBytes(',"key_name":')
const F_CLIENT_IP = asciiBytes(',"client_ip":')
const F_METHOD = asciiBytes(',"method":')
const F_PATH = asciiBytes(',"path":')
const F_MODEL = asciiBytes(',"model":')
const F_SERVED_MODEL = asciiBytes(',"served_model":')
const F_UPSTREAM = asciiBytes(',"upstream":')
const F_STATUS = asciiBytes(',"status":')
const F_OUTCOME = asciiBytes(',"outcome":"')
const F_STREAM = asciiBytes('","stream":')
const F_PROMPT_TOKENS = asciiBytes(',"prompt_tokens":')
const F_COMPLETION_TOKENS = asciiBytes(',"completion_tokens":')
const F_USAGE_ESTIMATED = asciiBytes(',"usage_estimated":')
const F_TTFT_MS = asciiBytes(',"ttft_ms":')
const F_DURATION_MS = asciiBytes(',"duration_ms":')
const F_ATTEMPTS = asciiBytes(',"attempts":')
const F_RETRIES = asciiBytes(',"retries":')
const F_BYTES_OUT = asciiBytes(',"bytes_out":')
const F_ERROR = asciiBytes(',"error":')
const F_TRACE_ID = asciiBytes(',"trace_id":')
const F_CLOSE = asciiBytes('}\n')

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
    let p = putBytes(buf, target.position, F_OPEN)
    p = putIsoTime(buf, p, endTimeMs(ctx))
    p = putBytes(buf, p, F_REQUEST_ID)
    p = putString(buf, p, id)
    p = putBytes(buf, p, F_KEY_NAME)
    p = putString(buf, p, keyName)
    p = putBytes(buf, p, F_CLIENT_IP)
    p = putString(buf, p, clientIp)
    p = putBytes(buf, p, F_METHOD)
    p = putString(buf, p, method)
    p = putBytes(buf, p, F_PATH)
    p = putString(buf, p, path)
    p = putBytes(buf, p, F_MODEL)
    p = putString(buf, p, model)
    p = putBytes(buf, p, F_SERVED_MODEL)
    p = putString(buf, p, served)
    p = putBytes(buf, p, F_UPSTREAM)
    p = putString(buf, p, upstream)
    p = putBytes(buf, p, F_STATUS)
    p = putNumber(buf, p, reportedStatus(ctx))
    p = putBytes(buf, p, F_OUTCOME)
    p = putAscii(buf, p, ctx.outcome)
    p = putBytes(buf, p, F_STREAM)
    p = putBool(buf, p, ctx.stream)
    p = putBytes(buf, p, F_PROMPT_TOKENS)
    p = putNumber(buf, p, usage?.prompt_tokens)
    p = putBytes(buf, p, F_COMPLETION_TOKENS)
    p = putNumber(buf, p, usage?.completion_tokens)
    p = putBytes(buf, p, F_USAGE_ESTIMATED)
    p = putBool(buf, p, ctx.usageEstimated)
    p = putBytes(buf, p, F_TTFT_MS)
    p = ctx.firstByteMs >= 0 ? putMs(buf, p, ctx.firstByteMs) : putNull(buf, p)
    p = putBytes(buf, p, F_DURATION_MS)
    p = putMs(buf, p, ctx.durationMs)
    p = putBytes(buf, p, F_ATTEMPTS)
    p = putNumber(buf, p, ctx.attempts)
    p = putBytes(buf, p, F_RETRIES)
    p = putNumber(buf, p, ctx.retries)
    p = putBytes(buf, p, F_BYTES_OUT)
    p = putNumber(buf, p, ctx.bytesOut)
    p = putBytes(buf, p, F_ERROR)
    p = putString(buf, p, error)
    p = putBytes(buf, p, F_TRACE_ID)
    p = putString(buf, p, traceId)
    p = putBytes(buf, p, F_CLOSE)
    target.commit(p)
  }
}
