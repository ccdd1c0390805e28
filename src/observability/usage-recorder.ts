// Records every model request in the usage store, off the request path: the onResponse
// hook only appends a row to a bounded in-memory buffer; a timer (or a full batch) writes
// batches. A store that fails or is down keeps its rows buffered and is retried with
// backoff, so an outage loses nothing that fits the buffer; past it, new rows are dropped
// and counted (metric + a rate-limited warning). No request ever waits on the store.
import type { UsageConfig } from '../config/observability.js'
import type { RequestContext } from '../server/context.js'
import type { Logger } from './logger.js'
import type { UsageRecorderStats } from './metrics.js'
import { usageRecordOf, type UsageRecord, type UsageStore } from './usage-store.js'

const MAX_BACKOFF_MS = 30_000
const RETENTION_EVERY_MS = 3_600_000
const WARN_EVERY_MS = 10_000

export type UsageRecorderOptions = Pick<UsageConfig, 'batch_size' | 'buffer' | 'flush_interval' | 'retention'>

export class UsageRecorder implements UsageRecorderStats {
  written = 0
  dropped = 0
  failedWrites = 0
  private pending: UsageRecord[] = []
  /** The batch being written (still counted against the buffer). */
  private inFlight = 0
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
  ) {}

  get buffered(): number {
    return this.pending.length + this.inFlight
  }

  start(): void {
    this.flushTimer = setInterval(() => void this.flush(), this.options.flush_interval).unref()
    const every = Math.max(60_000, Math.min(RETENTION_EVERY_MS, this.options.retention))
    this.retentionTimer = setInterval(() => void this.applyRetention(), every).unref()
    void this.flush().then(() => this.applyRetention())
  }

  /** The onResponse hook: model requests only (not /healthz, /v1/models, unknown paths). */
  readonly hook = (ctx: RequestContext): void => {
    if (ctx.endpoint !== undefined) this.record(usageRecordOf(ctx))
  }

  record(row: UsageRecord): void {
    if (this.buffered >= this.options.buffer) {
      this.dropped++
      this.warn('usage buffer full; rows dropped', { dropped_total: this.dropped, buffer: this.options.buffer })
      return
    }
    this.pending.push(row)
    if (this.pending.length >= this.options.batch_size && !this.flushSoon) {
      this.flushSoon = true
      setImmediate(() => {
        this.flushSoon = false
        void this.flush()
      })
    }
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
      while (this.pending.length > 0) {
        const size = this.options.batch_size
        const batch = this.pending.length <= size ? this.pending : this.pending.slice(0, size)
        this.pending = batch === this.pending ? [] : this.pending.slice(size)
        this.inFlight = batch.length
        try {
          await this.store.insert(batch)
        } catch (err) {
          // Back to the head of the line, in order: nothing that fits the buffer is lost.
          this.pending = this.pending.length === 0 ? batch : batch.concat(this.pending)
          throw err
        } finally {
          this.inFlight = 0
        }
        this.written += batch.length
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
