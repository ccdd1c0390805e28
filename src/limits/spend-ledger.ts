// SpendLedger: USD spent per key, from `prices` and each response's usage. Requests record
// into memory; a timer writes the deltas to the KeyStore (SQLite) and reads back the totals
// every process sharing the file has written. With no store it is memory only. With Redis it
// also keeps the key's total as Redis last reported it (every replica's spend, whatever file
// each writes), so a Redis that restarts empty is handed that back as the floor.
import type { KeyStore } from '../auth/key-store.js'
import type { Logger } from '../observability/logger.js'

/** One key's spend: the total as last read from the store (or kept here), and what was recorded since. */
interface Spend {
  total: number
  pending: number
  /** The shared limit store's total as last read (admissions), plus what was recorded here since. */
  shared: number
}

export class SpendLedger {
  /** By key name; a request touches one entry (and consecutive requests mostly the same one). */
  private readonly byName = new Map<string, Spend>()
  private lastName: string | undefined = undefined
  private lastSpend: Spend | undefined = undefined
  private failing = false

  constructor(
    private readonly store: KeyStore | undefined,
    private readonly log: Logger
  ) {
    if (store !== undefined) for (const [name, total] of store.spend()) this.byName.set(name, { total, pending: 0, shared: 0 })
  }

  /**
   * USD spent by a key as far as this process knows: its file's totals plus what is unflushed,
   * or what the shared limit store last reported (plus what was recorded since), if more.
   */
  spent(name: string): number {
    const e = this.entry(name)
    const own = e.total + e.pending
    return own > e.shared ? own : e.shared
  }

  record(name: string, usd: number): void {
    if (!(usd > 0)) return
    const e = this.entry(name)
    e.pending += usd
    e.shared += usd
  }

  /**
   * The key's spend as the shared limit store (Redis) reported it at an admission: every
   * replica's, including those that write other files. Kept as a floor (never lowered: a
   * store that restarted empty reports less than was spent).
   */
  observe(name: string, usd: number): void {
    const e = this.entry(name)
    if (usd > e.shared) e.shared = usd
  }

  /** Writes what was recorded and reads the totals back; a busy or broken store keeps it for next time. */
  flush(): void {
    if (this.store === undefined) {
      for (const e of this.byName.values()) {
        e.total += e.pending
        e.pending = 0
      }
      return
    }
    try {
      const deltas = new Map<string, number>()
      for (const [name, e] of this.byName) if (e.pending > 0) deltas.set(name, e.pending)
      if (deltas.size > 0) this.store.addSpend(deltas)
      for (const e of this.byName.values()) e.pending = 0
      const totals = this.store.spend()
      for (const [name, e] of this.byName) e.total = totals.get(name) ?? 0
      for (const [name, total] of totals) if (!this.byName.has(name)) this.byName.set(name, { total, pending: 0, shared: 0 })
      if (this.failing) this.log.info('spend store writable again')
      this.failing = false
    } catch (err) {
      if (!this.failing) this.log.error({ err: String(err) }, 'writing spend to the store failed; kept in memory and retried')
      this.failing = true
    }
  }

  /** A key's entry, made on first use (names come from authenticated keys: a bounded set). */
  private entry(name: string): Spend {
    if (name === this.lastName) return this.lastSpend!
    let e = this.byName.get(name)
    if (e === undefined) this.byName.set(name, (e = { total: 0, pending: 0, shared: 0 }))
    this.lastName = name
    this.lastSpend = e
    return e
  }
}
