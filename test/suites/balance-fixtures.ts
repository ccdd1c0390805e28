// Fixtures shared by the balancer tests: mutable targets, filters, seeded randomness, tallies.
import type { Balancer, BalanceTarget, PickFilter } from '../../src/balancing/balancer.js'

/** A pool member whose live numbers a test sets directly. */
export interface TestTarget {
  id: string
  weight: number
  inflight: number
  latencyEwma: number
}

/** Targets named by `ids` (or t0…t(n-1)), weight 1, idle, latency unknown unless given. */
export function makeTargets(
  ids: number | readonly string[],
  init: Partial<Omit<TestTarget, 'id'>> = {}
): TestTarget[] {
  const names = typeof ids === 'number' ? Array.from({ length: ids }, (_, i) => `t${i}`) : ids
  return names.map((id) => ({ id, weight: 1, inflight: 0, latencyEwma: 0, ...init }))
}

export function acceptAll<T extends BalanceTarget>(affinityKey?: string): PickFilter<T> {
  return { accepts: () => true, affinityKey }
}

export function acceptWhere<T extends BalanceTarget>(
  accepts: (t: T) => boolean,
  affinityKey?: string
): PickFilter<T> {
  return { accepts, affinityKey }
}

/** mulberry32: a tiny seeded PRNG in [0, 1), so statistical tests give the same answer each run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return function random() {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000
  }
}

/** Picks `n` times with the same filter and counts picks per id ('' for undefined). */
export function tally<T extends BalanceTarget>(
  balancer: Balancer<T>,
  filter: PickFilter<T>,
  n: number
): Map<string, number> {
  const counts = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const id = balancer.pick(filter)?.id ?? ''
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return counts
}

/** Pearson's chi-square statistic of `counts` against a uniform spread over `ids`. */
export function chiSquareUniform(counts: Map<string, number>, ids: readonly string[]): number {
  let total = 0
  for (const id of ids) total += counts.get(id) ?? 0
  const expected = total / ids.length
  let chi = 0
  for (const id of ids) chi += ((counts.get(id) ?? 0) - expected) ** 2 / expected
  return chi
}
