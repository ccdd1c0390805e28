// A hand-made HTTP/2 client for edge tests: frames written byte by byte, so a test decides
// what node:http2 would do for it (here: whether, and when, the server's SETTINGS are
// acknowledged). Header blocks use HPACK literals only, never the dynamic table.
import { connect as tlsConnect, type TLSSocket } from 'node:tls'

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const
export const END_STREAM = 0x1
export const END_HEADERS = 0x4
const ACK = 0x1

export interface Frame {
  readonly type: number
  readonly flags: number
  readonly stream: number
  readonly payload: Buffer
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9)
  head.writeUIntBE(payload.length, 0, 3)
  head[3] = type
  head[4] = flags
  head.writeUInt32BE(stream, 5)
  return Buffer.concat([head, payload])
}

/** RFC 7541 §5.1 integer with a 7-bit prefix (string lengths, Huffman bit clear). */
function length7(n: number): number[] {
  if (n < 127) return [n]
  const out = [127]
  n -= 127
  while (n >= 128) {
    out.push((n & 127) | 128)
    n >>= 7
  }
  out.push(n)
  return out
}

/** A header block of "literal without indexing, new name" fields (RFC 7541 §6.2.2). */
export function headerBlock(headers: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = []
  for (const [name, value] of headers) {
    parts.push(Buffer.from([0, ...length7(name.length)]), Buffer.from(name, 'latin1'))
    parts.push(Buffer.from(length7(value.length)), Buffer.from(value, 'latin1'))
  }
  return Buffer.concat(parts)
}

/** One HEADERS frame (END_HEADERS | END_STREAM): a request without a body. */
export function requestFrame(stream: number, headers: readonly (readonly [string, string])[]): Buffer {
  return frame(FRAME.HEADERS, END_HEADERS | END_STREAM, stream, headerBlock(headers))
}

/** RST_STREAM with `code` (RFC 9113 §6.4). */
export function resetFrame(stream: number, code: number): Buffer {
  const payload = Buffer.alloc(4)
  payload.writeUInt32BE(code, 0)
  return frame(FRAME.RST_STREAM, 0, stream, payload)
}

/**
 * A POST with a JSON body (HEADERS, then DATA with END_STREAM), optionally followed at once
 * by RST_STREAM CANCEL: one round of an HTTP/2 "rapid reset" (CVE-2023-44487).
 */
export function postFrames(stream: number, authority: string, path: string, body: string, reset: boolean): Buffer {
  const bytes = Buffer.from(body)
  const headers = frame(
    FRAME.HEADERS,
    END_HEADERS,
    stream,
    headerBlock([
      [':method', 'POST'],
      [':scheme', 'https'],
      [':path', path],
      [':authority', authority],
      ['content-type', 'application/json'],
      ['content-length', String(bytes.length)],
    ])
  )
  const data = frame(FRAME.DATA, END_STREAM, stream, bytes)
  return reset ? Buffer.concat([headers, data, resetFrame(stream, 8)]) : Buffer.concat([headers, data])
}

/** The GOAWAY frame's error code, when the server sent one. */
export function goawayCode(f: Frame): number {
  return f.payload.readUInt32BE(4)
}

export class RawH2 {
  readonly frames: Frame[] = []
  private buffered = Buffer.alloc(0)
  private waiters: (() => void)[] = []
  closed = false

  private constructor(readonly socket: TLSSocket) {
    socket.on('data', (d: Buffer) => this.onData(d))
    socket.on('error', () => {})
    socket.on('close', () => {
      this.closed = true
      this.wake()
    })
  }

  /** Connects by TLS (ALPN h2, no certificate checks) and sends the preface and an empty SETTINGS, no ACK. */
  static open(url: string): Promise<RawH2> {
    const { hostname, port } = new URL(url)
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: hostname, port: Number(port), rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
        socket.write(Buffer.concat([Buffer.from(PREFACE, 'latin1'), frame(FRAME.SETTINGS, 0, 0)]))
        resolve(new RawH2(socket))
      })
      socket.once('error', reject)
    })
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes)
  }

  /** Waits for the server's SETTINGS, then acknowledges them. */
  async ackSettings(timeoutMs = 5000): Promise<void> {
    await this.until((f) => f.type === FRAME.SETTINGS && (f.flags & ACK) === 0, timeoutMs)
    this.send(frame(FRAME.SETTINGS, ACK, 0))
  }

  /** The first frame received (so far or later) that matches, or undefined on close / timeout. */
  async until(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.frames.find(match)
      if (found !== undefined || this.closed || Date.now() >= deadline) return found
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now())
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** What happened to a stream: its response HEADERS, its RST_STREAM code, or nothing. */
  async outcome(stream: number, timeoutMs = 5000): Promise<{ kind: 'response' } | { kind: 'reset'; code: number } | { kind: 'none' }> {
    const f = await this.until((x) => x.stream === stream && (x.type === FRAME.HEADERS || x.type === FRAME.RST_STREAM), timeoutMs)
    if (f === undefined) return { kind: 'none' }
    return f.type === FRAME.HEADERS ? { kind: 'response' } : { kind: 'reset', code: f.payload.readUInt32BE(0) }
  }

  close(): void {
    this.socket.destroy()
  }

  private onData(d: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, d])
    while (this.buffered.length >= 9) {
      const len = this.buffered.readUIntBE(0, 3)
      if (this.buffered.length < 9 + len) break
      this.frames.push({
        type: this.buffered[3]!,
        flags: this.buffered[4]!,
        stream: this.buffered.readUInt32BE(5) & 0x7fffffff,
        payload: this.buffered.subarray(9, 9 + len),
      })
      this.buffered = this.buffered.subarray(9 + len)
    }
    this.wake()
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}
