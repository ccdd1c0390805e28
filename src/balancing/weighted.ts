// Smooth weighted round-robin, as nginx does it (ngx_http_upstream_get_peer): every pick,
// each accepted member gains its weight, the richest is chosen and pays back the total.
// For weights 5:1:1 that gives a a b a c a a rather than a a a a a b c.
import type { Balancer, BalancerFactory, BalanceTarget } from './balancer.js'

export const weighted: BalancerFactory = <T extends BalanceTarget>(
  targets: readonly T[]
): Balancer<T> => {
  // current_weight per member, indexed like `targets`; allocated once, not per pick.
  const current = new Float64Array(targets.length)
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
