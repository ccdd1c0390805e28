// Smooth weighted round-robin, as nginx does it (ngx_http_upstream_get_peer): every pick,
// each accepted member gains its weight, the richest is chosen and pays back the total.
// For weights 5:1:1 that gives a a b a c a a rather than a a a a a b c.
import type { Balancer, BalancerFactory, BalancerOptions, BalanceTarget } from './balancer.js'

/**
 * Each member starts with a random offset this small: too small to change any pick between
 * unequal scores, it only breaks exact ties, in an order drawn once per balancer.
 */
const TIE_BREAK = 1e-9

export const weighted: BalancerFactory = <T extends BalanceTarget>(
  targets: readonly T[],
  options: BalancerOptions = {}
): Balancer<T> => {
  const random = options.random ?? Math.random
  // current_weight per member, indexed like `targets`; allocated once, not per pick. nginx
  // starts them all at 0 and breaks ties by list order, so every fresh rotation (pools are
  // rebuilt on each membership change; gateways run as replicas) would send its first request
  // over equal weights to the first member. The offsets never change the share: each pick
  // adds the weights and takes back their total, so they persist as a tie-break order only.
  const current = Float64Array.from(targets, () => random() * TIE_BREAK)
  return {
    name: 'weighted',
    pick(filter) {
      let best = -1
      let total = 0
      for (let i = 0; i < targets.length; i++) {
        const target = targets[i]
        if (target === undefined || !filter.accepts(target)) continue
        // Read at pick time so slow start and weight changes apply at once.
        const w = target.weight
        total += w
        current[i]! += w
        if (best < 0 || current[i]! > current[best]!) best = i
      }
      if (best < 0) return undefined
      current[best]! -= total
      return targets[best]
    },
  }
}
