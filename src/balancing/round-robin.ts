// Plain rotation over the accepted members, ignoring weight and load (slow start aside).
import type { Balancer, BalancerFactory, BalancerOptions, BalanceTarget } from './balancer.js'

export const roundRobin: BalancerFactory = <T extends BalanceTarget>(
  targets: readonly T[],
  options: BalancerOptions = {}
): Balancer<T> => {
  const n = targets.length
  const random = options.random ?? Math.random
  // Start at a random member: pools are rebuilt on every membership change and gateways run
  // as replicas, so always starting at member 0 would send each fresh rotation's first
  // request to the same upstream.
  let next = n === 0 ? 0 : Math.floor(random() * n) % n
  return {
    name: 'round-robin',
    pick(filter) {
      // A member warming up after a recovery (slow start) takes its turn with probability
      // `warmup`; when every accepted member passes its turn, the first of them is used anyway.
      let passed = -1
      for (let step = 0; step < n; step++) {
        const i = (next + step) % n
        const target = targets[i]
        if (target === undefined || !filter.accepts(target)) continue
        const warmup = target.warmup ?? 1
        if (warmup < 1 && random() >= warmup) {
          if (passed < 0) passed = i
          continue
        }
        next = (i + 1) % n
        return target
      }
      if (passed < 0) return undefined
      next = (passed + 1) % n
      return targets[passed]
    },
  }
}
