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

/**
 * Accumulates a stream and hands over complete events only. Bytes after the last
 * terminator are kept (bounded) until the next chunk completes them.
 */
export class SseAccumulator {
  private pending: Buffer | undefined = undefined
  /** The last two bytes seen (-1: none), for a terminator split across reads. */
  private prev1 = -1
  private prev2 = -1

  constructor(private readonly maxPending = 1 << 20) {}

  /** Returns the complete events this chunk finishes (possibly with earlier bytes), or undefined. */
  push(chunk: Buffer): Buffer | undefined {
    const end = lastEventEnd(chunk, 0, this.prev1, this.prev2)
    this.remember(chunk)
    if (end === -1) {
      this.keep(chunk)
      return undefined
    }
    const head = chunk.subarray(0, end)
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
    const joined = this.pending === undefined ? Buffer.from(bytes) : Buffer.concat([this.pending, bytes])
    // An event this large is not one we need to read; stop holding it.
    this.pending = joined.length > this.maxPending ? undefined : joined
  }
}
