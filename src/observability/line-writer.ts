// A pino destination for high-volume lines (the access log): lines are appended to a string
// and written in large chunks, one write in flight at a time. pino's default async
// destination issued a write every few KiB; each costs a thread-pool round trip, and on the
// gateway's hot path that made a log line cost three times its serialisation.
import { mkdirSync, openSync, write, writeSync } from 'node:fs'
import { dirname } from 'node:path'

export interface LineWriterOptions {
  /** Write once this many characters are waiting (a timer flushes smaller tails). */
  readonly chunk?: number
  /** Past this many waiting characters (the disk or pipe is stuck), lines are dropped and counted. */
  readonly max?: number
}

export class LineWriter {
  /** Lines dropped because the destination could not keep up. */
  dropped = 0
  private buf = ''
  private writing = false
  private readonly chunk: number
  private readonly max: number

  constructor(
    private readonly fd: number,
    options: LineWriterOptions = {}
  ) {
    this.chunk = options.chunk ?? 64 * 1024
    this.max = options.max ?? 64 * 1024 * 1024
  }

  /** 1 = stdout, 2 = stderr, or a file path (appended to; its directory is created). */
  static open(destination: number | string, options?: LineWriterOptions): LineWriter {
    if (typeof destination === 'number') return new LineWriter(destination, options)
    mkdirSync(dirname(destination), { recursive: true })
    return new LineWriter(openSync(destination, 'a'), options)
  }

  /** pino's destination interface. */
  write(line: string): boolean {
    if (this.buf.length + line.length > this.max) {
      this.dropped++
      return true
    }
    this.buf += line
    if (!this.writing && this.buf.length >= this.chunk) this.writeOut()
    return true
  }

  /** Starts writing whatever is waiting (pino calls this from logger.flush()). */
  flush(cb?: (err?: Error) => void): void {
    if (!this.writing) this.writeOut()
    cb?.()
  }

  /** Writes everything still waiting, synchronously (at shutdown). */
  flushSync(): void {
    if (this.writing || this.buf === '') return
    const data = Buffer.from(this.buf)
    this.buf = ''
    let off = 0
    for (let tries = 0; off < data.length && tries < 1000; tries++) {
      try {
        off += writeSync(this.fd, data, off, data.length - off)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return
      }
    }
  }

  private writeOut(): void {
    if (this.buf === '') return
    const data = Buffer.from(this.buf)
    this.buf = ''
    this.writing = true
    this.writeFrom(data, 0)
  }

  private writeFrom(data: Buffer, off: number): void {
    write(this.fd, data, off, data.length - off, null, (err, n) => {
      if (err !== null) {
        // A full non-blocking pipe: try again shortly. Anything else: the chunk is lost.
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.writeFrom(data, off), 10).unref()
          return
        }
        this.dropped++
      } else if (off + n < data.length) {
        this.writeFrom(data, off + n)
        return
      }
      this.writing = false
      if (this.buf.length >= this.chunk) this.writeOut()
    })
  }
}
