// Incremental SSE framing over Buffers: finds complete events across arbitrary read
// boundaries without copying or re-encoding the bytes that pass through.

const LF = 0x0a
const CR = 0x0d

/**
 * Returns the offset just past the last event terminator (a blank line: \n\n or \r\n\r\n)
 * in buf, or -1 when buf holds no complete event end.
 */
export function lastEventEnd(buf: Buffer): number {
  for (let i = buf.length - 1; i > 0; i--) {
    if (buf[i] !== LF) continue
    if (buf[i - 1] === LF) return i + 1
    if (buf[i - 1] === CR && i >= 3 && buf[i - 2] === LF && buf[i - 3] === CR) return i + 1
  }
  return -1
}

/** Splits complete events (terminators included) into individual event slices. */
export function splitEvents(buf: Buffer): Buffer[] {
  const out: Buffer[] = []
  let start = 0
  for (let i = 1; i < buf.length; i++) {
    if (buf[i] !== LF) continue
    if (buf[i - 1] === LF || (buf[i - 1] === CR && i >= 3 && buf[i - 2] === LF && buf[i - 3] === CR)) {
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
  for (const line of event.toString('utf8').split(/\r?\n/)) {
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

  constructor(private readonly maxPending = 1 << 20) {}

  /** Returns the complete events this chunk finishes (possibly with earlier bytes), or undefined. */
  push(chunk: Buffer): Buffer | undefined {
    const end = lastEventEnd(chunk)
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

  private keep(bytes: Buffer): void {
    const joined = this.pending === undefined ? Buffer.from(bytes) : Buffer.concat([this.pending, bytes])
    // An event this large is not one we need to read; stop holding it.
    this.pending = joined.length > this.maxPending ? undefined : joined
  }
}
