// The auth bench's run orders: every configuration in every position, and right after every
// other one, equally often; never right after itself within a round.
import { describe, expect, it } from 'vitest'
import { balancedOrders } from '../../bench/balanced-orders.js'

describe('balancedOrders', () => {
  for (let n = 2; n <= 6; n++) {
    it(`balances positions and predecessors for ${n} configurations`, () => {
      const rows = balancedOrders(n)
      expect(rows).toHaveLength(n % 2 === 0 ? n : 2 * n)
      const each = rows.length / n
      for (const row of rows) expect([...row].sort((a, b) => a - b)).toEqual([...Array(n).keys()])
      for (let pos = 0; pos < n; pos++) {
        const counts = new Array<number>(n).fill(0)
        for (const row of rows) counts[row[pos]!]!++
        expect(counts).toEqual(new Array<number>(n).fill(each))
      }
      const pairs = new Map<string, number>()
      for (const row of rows) for (let i = 1; i < n; i++) pairs.set(`${row[i - 1]}>${row[i]}`, (pairs.get(`${row[i - 1]}>${row[i]}`) ?? 0) + 1)
      // n(n-1) ordered pairs of different configurations, each as often.
      expect(pairs.size).toBe(n * (n - 1))
      expect(new Set(pairs.values())).toEqual(new Set([each]))
    })
  }
})
