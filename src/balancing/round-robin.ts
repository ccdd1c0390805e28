// Plain rotation over the accepted members, ignoring weight and load.
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
      for (let step = 0; step < n; step++) {
        const i = (next + step) % n
        const target = targets[i]
        if (target !== undefined && filter.accepts(target)) {
          next = (i + 1) % n
          return target
        }
      }
      return undefined
    },
  }
}
