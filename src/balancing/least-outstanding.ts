// Fewest requests in flight, scaled by weight, with ties broken uniformly at random.
import type { Balancer, BalancerFactory, BalancerOptions, BalanceTarget } from './balancer.js'

/**
 * Cost is (inflight + 1) / weight, Envoy's weighted least-request score with bias 1. With equal
 * weights it orders exactly as plain inflight does; with unequal ones a weight-2 member takes
 * about twice the concurrent requests of a weight-1 member. The +1 keeps weights meaningful when
 * idle: inflight / weight would tie every idle member at 0 whatever its weight.
 *
 * Ties are broken by single-pass reservoir sampling, never by list order: under light load
 * every member is tied at 0 and order would send all of it to the first one.
 */
export const leastOutstanding: BalancerFactory = <T extends BalanceTarget>(
  targets: readonly T[],
  options: BalancerOptions = {}
): Balancer<T> => {
  const random = options.random ?? Math.random
  return {
    name: 'least-outstanding',
    pick(filter) {
      let best: T | undefined
      let bestCost = 0
      let ties = 0
      for (const target of targets) {
        if (!filter.accepts(target)) continue
        const cost = (target.inflight + 1) / target.weight
        if (best === undefined || cost < bestCost) {
          best = target
          bestCost = cost
          ties = 1
        } else if (cost === bestCost) {
          // Keep the k-th tied member with probability 1/k: each ends up chosen with 1/ties.
          ties++
          if (random() * ties < 1) best = target
        }
      }
      return best
    },
  }
}
