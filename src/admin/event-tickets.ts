// Short-lived, single-use tickets for the dashboard's event stream. A browser's
// EventSource cannot send an Authorization header, and the admin token must not travel in a
// URL (proxies, browser history and server logs keep URLs), so the page trades its token
// for a ticket (POST, Bearer) and opens the stream with `?ticket=`. A leaked ticket is
// worthless: it is random (256 bits), expires in seconds and is consumed on first use.
import { randomBytes } from 'node:crypto'

export interface EventTicketsOptions {
  /** How long an unused ticket stays valid, ms. Defaults to 30 s. */
  readonly ttlMs?: number
  /** Unused tickets held at most; the oldest is dropped beyond. Defaults to 64. */
  readonly max?: number
  /** Epoch ms. Defaults to Date.now. */
  readonly now?: () => number
}

export class EventTickets {
  /** ticket → expiry (epoch ms), in issue order. */
  private readonly pending = new Map<string, number>()
  private readonly ttlMs: number
  private readonly max: number
  private readonly now: () => number

  constructor(options: EventTicketsOptions = {}) {
    this.ttlMs = options.ttlMs ?? 30_000
    this.max = options.max ?? 64
    this.now = options.now ?? Date.now
  }

  issue(): { ticket: string; expires_in: number } {
    const now = this.now()
    for (const [t, exp] of this.pending) {
      if (exp > now && this.pending.size < this.max) break
      this.pending.delete(t)
    }
    const ticket = randomBytes(32).toString('base64url')
    this.pending.set(ticket, now + this.ttlMs)
    return { ticket, expires_in: Math.round(this.ttlMs / 1000) }
  }

  /**
   * True once for a ticket issued less than ttl ago. (A Map lookup by a 256-bit random
   * string gives a timing attacker nothing to guess with.)
   */
  redeem(ticket: string | null): boolean {
    if (!this.valid(ticket)) return false
    this.pending.delete(ticket!)
    return true
  }

  /** Would redeem() take it? (Without using it up: a refusal for another reason leaves it.) */
  valid(ticket: string | null): boolean {
    if (ticket === null || ticket.length > 64) return false
    const exp = this.pending.get(ticket)
    return exp !== undefined && exp > this.now()
  }
}
