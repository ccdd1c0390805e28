// Records every model request in the usage store, off the request path: the onResponse
// hook only appends a row to a bounded in-memory buffer (column-wise, usage-batch.ts); a
// full batch is written at once, a partial one by the timer. A store that fails or is down
// keeps its rows buffered and is retried with backoff, so an outage loses nothing that fits
// the buffer; past it, new rows are dropped and counted (metric + a rate-limited warning).
// No request ever waits on the store.
import type { UsageConfig } from '../config/observability.js'
import type { RequestContext } from '../server/context.js'
import type { Logger } from './logger.js'
import type { UsageRecorderStats } from './metrics.js'
import { UsageBatch } from './usage-batch.js'
import type { UsageRecord, UsageStore } from './usage-store.js'

const MAX_BACKOFF_MS = 30_000
const RETENTION_EVERY_MS = 3_600_000
const WARN_EVERY_MS = 10_000

export type UsageRecorderOptions = Pick<UsageConfig, 'batch_size' | 'buffer' | 'flush_interval' | 'retention'>

export class UsageRecorder implements UsageRecorderStats {
  written = 0
  dropped = 0
  failedWrites = 0
  /** Batches waiting to be written, oldest first (the first may be in flight); then the one filling. */
  private readonly queue: UsageBatch[] = []
  private current: UsageBatch
  /** Written batches, cleared for reuse: a steady load allocates none. */
  private readonly spare: UsageBatch[] = []
  /** Rows in `queue` and `current`. */
  private rows = 0
  private ready = false
  private flushing: Promise<void> | undefined
  private flushSoon = false
  private retryAt = 0
  private backoffMs = 0
  private flushTimer: NodeJS.Timeout | undefined
  private retentionTimer: NodeJS.Timeout | undefined
  private lastWarn = 0

  constructor(
    readonly store: UsageStore,
    private readonly options: UsageRecorderOptions,
    private readonly log: Logger
  ) {
    this.current = this.newBatch()
  }

  get buffered(): number {
    return this.rows
  }

  start(): void {
    this.flushTimer = setInterval(() => void this.flush(), this.options.flush_interval).unref()
    const every = Math.max(60_000, Math.min(RETENTION_EVERY_MS, this.options.retention))
    this.retentionTimer = setInterval(() => void this.applyRetention(), every).unref()
    void this.flush().then(() => this.applyRetention())
  }

  /** The onResponse hook: model requests only (not /healthz, /v1/models, unknown paths). */
  readonly hook = (ctx: RequestContext): void => {
    if (ctx.endpoint === undefined || !this.admit()) return
    this.current.addRequest(ctx)
    this.added()
  }

  /** A row given as a record (tests, tools). */
  record(row: UsageRecord): void {
    if (!this.admit()) return
    this.current.add(row)
    this.added()
  }

  /** Room for one more row? Past the buffer, rows are dropped and counted. */
  private admit(): boolean {
    if (this.rows < this.options.buffer) return true
    this.dropped++
    this.warn('usage buffer full; rows dropped', { dropped_total: this.dropped, buffer: this.options.buffer })
    return false
  }

  private added(): void {
    this.rows++
    if (!this.current.full) return
    this.queue.push(this.current)
    this.current = this.spare.pop() ?? this.newBatch()
    if (!this.flushSoon) {
      this.flushSoon = true
      setImmediate(() => {
        this.flushSoon = false
        void this.flush()
      })
    }
  }

  private newBatch(): UsageBatch {
    return new UsageBatch(Math.min(this.options.batch_size, this.options.buffer))
  }

  /** Writes what is buffered, batch by batch; one flush at a time. Never rejects. */
  flush(): Promise<void> {
    this.flushing ??= this.writeAll().finally(() => (this.flushing = undefined))
    return this.flushing
  }

  /** Stops the timers, writes what it can within `timeoutMs`, then closes the store. */
  async stop(timeoutMs = 5_000): Promise<void> {
    clearInterval(this.flushTimer)
    clearInterval(this.retentionTimer)
    this.retryAt = 0
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))
    await Promise.race([this.drain(), deadline])
    clearTimeout(timer)
    if (this.buffered > 0) this.log.warn({ rows: this.buffered }, 'usage store unreachable at shutdown; rows not written')
    await this.store.close().catch(() => undefined)
  }

  private async drain(): Promise<void> {
    let before = -1
    while (this.buffered > 0 && this.buffered !== before) {
      before = this.buffered
      this.retryAt = 0
      await this.flush()
    }
  }

  private async writeAll(): Promise<void> {
    if (Date.now() < this.retryAt) return
    try {
      if (!this.ready) {
        await this.store.init()
        this.ready = true
      }
      // A partial batch goes too (the timer, or a drain): it stops filling from here.
      if (this.queue.length === 0 && this.current.count > 0) {
        this.queue.push(this.current)
        this.current = this.spare.pop() ?? this.newBatch()
      }
      while (this.queue.length > 0) {
        const batch = this.queue[0]!
        // On failure it stays at the head of the line, in order: nothing that fits the buffer is lost.
        await this.store.insert(batch.rows())
        this.queue.shift()
        this.rows -= batch.count
        this.written += batch.count
        batch.clear()
        if (this.spare.length < 2) this.spare.push(batch)
      }
      this.backoffMs = 0
    } catch (err) {
      this.failedWrites++
      this.backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(this.options.flush_interval, this.backoffMs * 2))
      this.retryAt = Date.now() + this.backoffMs
      this.warn('usage store write failed; rows kept for retry', { err: String(err), buffered: this.buffered, retry_ms: this.backoffMs })
    }
  }

  private async applyRetention(): Promise<void> {
    if (!this.ready) return
    try {
      const deleted = await this.store.deleteBefore(Date.now() - this.options.retention)
      if (deleted > 0) this.log.info({ deleted }, 'usage retention: old rows deleted')
    } catch (err) {
      this.warn('usage retention failed', { err: String(err) })
    }
  }

  /** At most one warning per 10 s: an outage must not flood the process log. */
  private warn(msg: string, fields: Record<string, unknown>): void {
    const now = Date.now()
    if (now - this.lastWarn < WARN_EVERY_MS) return
    this.lastWarn = now
    this.log.warn(fields, msg)
  }
}
