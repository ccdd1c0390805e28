import { describe, expect, it } from 'vitest'
import { EventTickets } from '../../src/admin/event-tickets.js'

describe('EventTickets', () => {
  it('accepts a fresh ticket once', () => {
    const t = new EventTickets()
    const { ticket, expires_in } = t.issue()
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(expires_in).toBe(30)
    expect(t.redeem(ticket)).toBe(true)
    expect(t.redeem(ticket)).toBe(false)
  })

  it('refuses an expired, unknown, missing or oversized ticket', () => {
    let now = 1_000_000
    const t = new EventTickets({ ttlMs: 5_000, now: () => now })
    const { ticket } = t.issue()
    now += 5_001
    expect(t.redeem(ticket)).toBe(false)
    expect(t.redeem('made-up')).toBe(false)
    expect(t.redeem(null)).toBe(false)
    expect(t.redeem('x'.repeat(10_000))).toBe(false)
  })

  it('holds a bounded number of unused tickets, dropping the oldest', () => {
    const t = new EventTickets({ max: 3 })
    const issued = Array.from({ length: 5 }, () => t.issue().ticket)
    expect(t.redeem(issued[0]!)).toBe(false)
    expect(t.redeem(issued[1]!)).toBe(false)
    expect(t.redeem(issued[4]!)).toBe(true)
  })
})
