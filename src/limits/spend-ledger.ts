// SpendLedger: USD spent per key, from `prices` and each response's usage. Requests record
// into memory; a timer writes the deltas to the KeyStore (SQLite) and reads back the totals
// every process sharing the file has written. With no store it is memory only.
import type { KeyStore } from '../auth/key-store.js'
import type { Logger } from '../observability/logger.js'

export class SpendLedger {
  /** Totals as last read from the store (or kept here, with no store). */
  private totals = new Map<string, number>()
  /** Recorded since the last flush. */
  private pending = new Map<string, number>()
  private failing = false

  constructor(
    private readonly store: KeyStore | undefined,
    private readonly log: Logger
  ) {
    if (store !== undefined) this.totals = store.spend()
  }

  /** USD spent by a key as far as this process knows (its file's totals plus what is unflushed). */
  spent(name: string): number {
    return (this.totals.get(name) ?? 0) + (this.pending.get(name) ?? 0)
  }

  record(name: string, usd: number): void {
    if (!(usd > 0)) return
    this.pending.set(name, (this.pending.get(name) ?? 0) + usd)
  }

  /** Writes what was recorded and reads the totals back; a busy or broken store keeps it for next time. */
  flush(): void {
    if (this.store === undefined) {
      for (const [name, usd] of this.pending) this.totals.set(name, (this.totals.get(name) ?? 0) + usd)
      this.pending.clear()
      return
    }
    try {
      if (this.pending.size > 0) this.store.addSpend(this.pending)
      this.pending = new Map()
      this.totals = this.store.spend()
      if (this.failing) this.log.info('spend store writable again')
      this.failing = false
    } catch (err) {
      if (!this.failing) this.log.error({ err: String(err) }, 'writing spend to the store failed; kept in memory and retried')
      this.failing = true
    }
  }
}
