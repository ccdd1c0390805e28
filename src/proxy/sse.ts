// Incremental SSE framing over Buffers: finds complete events across arbitrary read
// boundaries without copying or re-encoding the bytes that pass through.

const LF = 0x0a
const CR = 0x0d

/**
 * Does an event end just after buf[i]? An event ends with a blank line: two line endings in a
 * row, each CRLF, LF or CR (the SSE spec's three). A CR is a line ending unless an LF follows
 * it; a CR that is the last byte seen counts as one, so a `\r\r` stream is not held back
 * waiting for a byte that may never come. Indices -1 and -2 are the bytes before buf
 * (prev1, prev2; -1 when none), so a terminator split across reads is still found.
 */
function endsEventAt(buf: Buffer, i: number, prev1: number, prev2: number): boolean {
  const b = buf[i]
  let s: number
  if (b === LF) s = byteAt(buf, i - 1, prev1, prev2) === CR ? i - 1 : i
  else if (b === CR && buf[i + 1] !== LF) s = i
  else return false
  const before = byteAt(buf, s - 1, prev1, prev2)
  return before === LF || before === CR
}

function byteAt(buf: Buffer, i: number, prev1: number, prev2: number): number {
  return i >= 0 ? buf[i]! : i === -1 ? prev1 : prev2
}

/**
 * Returns the offset just past the last event terminator in buf[from…], or -1 when there is
 * none. prev1 and prev2 are the two bytes that came before buf (-1 when none).
 */
export function lastEventEnd(buf: Buffer, from = 0, prev1 = -1, prev2 = -1): number {
  for (let i = buf.length - 1; i >= from; i--) {
    const b = buf[i]
    if ((b === LF || b === CR) && endsEventAt(buf, i, prev1, prev2)) return i + 1
  }
  return -1
}

/** Splits complete events (terminators included) into individual event slices. */
export function splitEvents(buf: Buffer): Buffer[] {
  const out: Buffer[] = []
  let start = 0
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]
    // A terminator that is the whole slice so far (the rest of one already split) joins the next event.
    if ((b === LF || b === CR) && i > start && endsEventAt(buf, i, -1, -1)) {
      out.push(buf.subarray(start, i + 1))
      start = i + 1
    }
  }
  if (start < buf.length) out.push(buf.subarray(start))
  return out
}

/** The joined `data:` lines of one event, or undefined when it has none. */
export function eventData(event: Buffer): string | undefined {
  let data: string | undefined
  for (const line of event.toString('utf8').split(/\r\n|\r|\n/)) {
    if (!line.startsWith('data:')) continue
    const value = line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5)
    data = data === undefined ? value : `${data}\n${value}`
  }
  return data
}

/** The offset just past the first event terminator in buf, or -1 (prev1, prev2 as above). */
export function firstEventEnd(buf: Buffer, prev1 = -1, prev2 = -1): number {
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]
    if ((b === LF || b === CR) && endsEventAt(buf, i, prev1, prev2)) return i + 1
  }
  return -1
}

/**
 * Accumulates a stream and hands over complete events only. Bytes after the last
 * terminator are kept until the next chunk completes them, up to maxPending: an event that
 * outgrows it is handed over unread instead (`after`, then `before` on the following
 * chunks until its end), so no byte is lost and memory stays bounded.
 */
export class SseAccumulator {
  /**
   * Set by push(): bytes of an oversized event to send on as they are, without reading them.
   * `before` precedes the complete events push() returned (the rest of an event that was
   * passing through), `after` follows them (an event that just outgrew the bound).
   */
  before: Buffer | undefined = undefined
  after: Buffer | undefined = undefined
  private pending: Buffer | undefined = undefined
  /** Inside an oversized event: its bytes pass through until its terminator. */
  private passing = false
  /** The last two bytes seen (-1: none), for a terminator split across reads. */
  private prev1 = -1
  private prev2 = -1

  constructor(private readonly maxPending = 1 << 20) {}

  /** Returns the complete events this chunk finishes (possibly with earlier bytes), or undefined. */
  push(chunk: Buffer): Buffer | undefined {
    this.before = undefined
    this.after = undefined
    let from = 0
    if (this.passing) {
      from = firstEventEnd(chunk, this.prev1, this.prev2)
      if (from === -1) {
        this.before = chunk
        this.remember(chunk)
        return undefined
      }
      this.passing = false
      this.before = chunk.subarray(0, from)
    }
    const end = lastEventEnd(chunk, from, this.prev1, this.prev2)
    this.remember(chunk)
    if (end === -1) {
      this.keep(from === 0 ? chunk : chunk.subarray(from))
      return undefined
    }
    const head = chunk.subarray(from, end)
    const complete = this.pending === undefined ? head : Buffer.concat([this.pending, head])
    this.pending = undefined
    if (end < chunk.length) this.keep(chunk.subarray(end))
    return complete
  }

  /** What is left when the stream ends (an unterminated last event), if anything. */
  rest(): Buffer | undefined {
    const rest = this.pending
    this.pending = undefined
    return rest
  }

  private remember(chunk: Buffer): void {
    const n = chunk.length
    if (n === 0) return
    this.prev2 = n > 1 ? chunk[n - 2]! : this.prev1
    this.prev1 = chunk[n - 1]!
  }

  private keep(bytes: Buffer): void {
    if (bytes.length === 0) return
    const pending = this.pending
    const size = (pending === undefined ? 0 : pending.length) + bytes.length
    if (size > this.maxPending) {
      // An event this large is not one we need to read: stop holding it, send it on.
      this.after = pending === undefined ? bytes : Buffer.concat([pending, bytes], size)
      this.pending = undefined
      this.passing = true
      return
    }
    this.pending = pending === undefined ? Buffer.from(bytes) : Buffer.concat([pending, bytes], size)
  }
}
