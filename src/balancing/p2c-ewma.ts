// Power of two choices over peak-EWMA latency (Finagle's P2C + PeakEwma, Linkerd's balancer):
// draw two distinct accepted members at random and send to the cheaper.
import type {
  Balancer,
  BalancerFactory,
  BalancerOptions,
  BalanceTarget,
  PickFilter,
} from './balancer.js'

/**
 * Cost of a member with no latency measured yet but requests already in flight: above any
 * measured cost, then by inflight. Finagle does the same, so a new member is probed while idle
 * (cost 0, cheapest) but not flooded before its first response says how fast it is.
 */
const UNPROBED_PENALTY = 1e12

/** A member warming up after a recovery (slow start) looks proportionally more expensive. */
function cost(target: BalanceTarget): number {
  const latency = target.latencyEwma
  if (latency === 0) return target.inflight === 0 ? 0 : UNPROBED_PENALTY + target.inflight
  return (latency * (target.inflight + 1)) / (target.warmup ?? 1)
}

/**
 * The pair is drawn in random order, so keeping the first on equal cost is a fair coin.
 * Equal cost also covers several unmeasured idle members, which stay evenly probed.
 */
function cheaper<T extends BalanceTarget>(a: T, b: T): T {
  return cost(b) < cost(a) ? b : a
}

export const p2cEwma: BalancerFactory = <T extends BalanceTarget>(
  targets: readonly T[],
  options: BalancerOptions = {}
): Balancer<T> => {
  const random = options.random ?? Math.random
  const n = targets.length

  /** The member at `rank` among the accepted ones (0-based), in list order. */
  function acceptedAt(filter: PickFilter<T>, rank: number): T | undefined {
    let seen = 0
    for (const target of targets) {
      if (!filter.accepts(target)) continue
      if (seen === rank) return target
      seen++
    }
    return undefined
  }

  return {
    name: 'p2c-ewma',
    pick(filter) {
      if (n === 0) return undefined
      // Common case, O(1): a uniform pair of distinct members that are both accepted. When
      // either is not, the slow path below draws uniformly among accepted pairs instead; a
      // mixture of two uniform draws over the same pairs is still uniform.
      if (n >= 2) {
        const i = Math.floor(random() * n) % n
        let j = Math.floor(random() * (n - 1)) % (n - 1)
        if (j >= i) j++
        const a = targets[i]!
        const b = targets[j]!
        if (filter.accepts(a) && filter.accepts(b)) return cheaper(a, b)
      }
      let accepted = 0
      for (const target of targets) if (filter.accepts(target)) accepted++
      if (accepted <= 1) return accepted === 0 ? undefined : acceptedAt(filter, 0)
      const r = Math.floor(random() * accepted) % accepted
      let s = Math.floor(random() * (accepted - 1)) % (accepted - 1)
      if (s >= r) s++
      const a = acceptedAt(filter, r)
      const b = acceptedAt(filter, s)
      // Both exist unless accepts() changed its mind mid-pick; take whichever is left.
      if (a === undefined || b === undefined) return a ?? b
      return cheaper(a, b)
    },
  }
}
