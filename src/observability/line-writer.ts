// A destination for high-volume lines (the access log): each line is encoded straight into
// a 64 KiB buffer; full buffers are written with one writev, one write in flight at a time.
// pino's default async destination concatenated strings and issued a write every few KiB:
// flattening and encoding those strings cost more than making the lines.
import { mkdirSync, openSync, writev } from 'node:fs'
import { dirname } from 'node:path'

export interface LineWriterOptions {
  /** Size of each buffer; a full one is written at once (a timer writes partial ones). */
  readonly chunk?: number
  /** Past this many bytes waiting (the disk or pipe is stuck), lines are dropped and counted. */
  readonly max?: number
}

/**
 * `dir` and its missing parents, one level at a time: Node's recursive mkdir never returns
 * under /proc (a path there cannot be made, and it retries for good), which hung the start.
 */
function makeDirectories(dir: string): void {
  try {
    mkdirSync(dir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return
    if (code !== 'ENOENT' || dirname(dir) === dir) throw err
    makeDirectories(dirname(dir))
    mkdirSync(dir)
  }
}

export class LineWriter {
  /** Lines dropped because the destination could not keep up. */
  dropped = 0
  private cur: Buffer
  private used = 0
  /** Filled buffers waiting to be written, and their bytes. */
  private queue: Buffer[] = []
  private queued = 0
  private writing = false
  private idle: (() => void)[] = []
  private readonly chunk: number
  private readonly max: number

  constructor(
    private readonly fd: number,
    options: LineWriterOptions = {}
  ) {
    this.chunk = options.chunk ?? 64 * 1024
    this.max = options.max ?? 64 * 1024 * 1024
    this.cur = Buffer.allocUnsafe(this.chunk)
  }

  /** 1 = stdout, 2 = stderr, or a file path (appended to; its directory is created). */
  static open(destination: number | string, options?: LineWriterOptions): LineWriter {
    if (typeof destination === 'number') return new LineWriter(destination, options)
    makeDirectories(dirname(destination))
    return new LineWriter(openSync(destination, 'a'), options)
  }

  /** Appends one line (with its newline). Never blocks. */
  write(line: string): boolean {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const buf = this.reserve(line.length * 3)
    if (buf !== undefined) this.used += buf.write(line, this.used)
    return true
  }

  /**
   * Room for one line of at most `most` bytes, to be encoded in place: the line goes at
   * `used` of the returned buffer, and `commit(end)` takes it. Undefined when the line must
   * be dropped (counted): the destination is that far behind.
   */
  reserve(most: number): Buffer | undefined {
    if (this.used + most > this.cur.length) {
      if (this.queued + this.used > this.max) {
        this.dropped++
        return undefined
      }
      this.ship(most)
    }
    return this.cur
  }

  /** Where the next line starts in the buffer `reserve` returned. */
  get position(): number {
    return this.used
  }

  /** Takes the line encoded after `reserve`, up to `end`. */
  commit(end: number): void {
    this.used = end
  }

  /** Starts writing whatever is waiting, partial buffer included (the 1 s timer). */
  flush(): void {
    if (this.used > 0) this.ship(0)
  }

  /** Resolves once everything written so far is out (at shutdown). */
  end(): Promise<void> {
    this.flush()
    if (!this.writing) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }

  private queueCurrent(need: number): void {
    if (this.used > 0) {
      const full = this.cur.subarray(0, this.used)
      this.queue.push(full)
      this.queued += full.length
    }
    this.cur = Buffer.allocUnsafe(Math.max(this.chunk, need))
    this.used = 0
  }

  private ship(need: number): void {
    this.queueCurrent(need)
    if (!this.writing) this.writeQueued()
  }

  private writeQueued(): void {
    if (this.queue.length === 0) {
      this.writing = false
      const waiting = this.idle
      this.idle = []
      for (const resolve of waiting) resolve()
      return
    }
    const bufs = this.queue
    this.queue = []
    this.queued = 0
    this.writing = true
    this.writeOut(bufs)
  }

  private writeOut(bufs: Buffer[]): void {
    writev(this.fd, bufs, (err, n) => {
      if (err !== null) {
        // A full non-blocking pipe: try again shortly. Anything else: these bytes are lost.
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.writeOut(bufs), 10).unref()
          return
        }
        this.dropped++
      } else {
        const rest = skip(bufs, n)
        if (rest.length > 0) return this.writeOut(rest)
      }
      this.writeQueued()
    })
  }
}

/** The buffers left after the first `n` bytes were written (a short write to a pipe). */
function skip(bufs: Buffer[], n: number): Buffer[] {
  let i = 0
  while (i < bufs.length && n >= bufs[i]!.length) n -= bufs[i++]!.length
  if (i === bufs.length) return []
  const rest = bufs.slice(i)
  rest[0] = rest[0]!.subarray(n)
  return rest
}
