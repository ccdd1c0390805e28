// Session affinity: rendezvous hashing on the request's affinity key, with bounded load
// (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2017) so one hot
// key cannot pile onto a single member. Requests without a key go to least-outstanding.
import type { Balancer, BalancerFactory, BalancerOptions, BalanceTarget } from './balancer.js'
import { hashString, mix32 } from './hash.js'
import { leastOutstanding } from './least-outstanding.js'

const DEFAULT_MAX_LOAD_FACTOR = 1.25
const TWO_POW_32 = 0x1_0000_0000

/**
 * Weighted rendezvous score (Schindelhauer & Schomaker's logarithmic method): weight / -ln(u),
 * u uniform in (0, 1) from hash(key) ^ hash(id). With equal weights it ranks members exactly as
 * the raw hash does; otherwise each member's share of keys is proportional to its weight, and a
 * member whose weight rises (slow start) only gains keys, it never shuffles the others'.
 */
function score(keyHash: number, idHash: number, weight: number): number {
  const u = (mix32(keyHash ^ idHash) + 0.5) / TWO_POW_32
  return weight / -Math.log(u)
}

/**
 * Picks the highest-scored accepted member whose load stays within the bound
 * `inflight + 1 <= ceil(maxLoadFactor × (totalInflight + 1) × weight / totalWeight)`, which is
 * the paper's `ceil(c × (m + 1) / n)` when weights are equal. Some member always fits when
 * maxLoadFactor >= 1 (they cannot all be above their share of total + 1). Removing a member
 * only moves the keys it held: every other member's score for a key is unchanged.
 *
 * An empty key counts as none: hashing it would send every keyless-looking request to one member.
 */
export const affinity: BalancerFactory = <T extends BalanceTarget>(
  targets: readonly T[],
  options: BalancerOptions = {}
): Balancer<T> => {
  const maxLoadFactor = options.maxLoadFactor ?? DEFAULT_MAX_LOAD_FACTOR
  // Ids are fixed for the balancer's lifetime, so their hashes are computed once.
  const idHashes = Uint32Array.from(targets, (t) => hashString(t.id))
  const fallback = leastOutstanding(targets, options)

  function withinBound(t: T, totalInflight: number, totalWeight: number): boolean {
    const cap = Math.ceil((maxLoadFactor * (totalInflight + 1) * t.weight) / totalWeight)
    return t.inflight + 1 <= cap
  }

  return {
    name: 'affinity',
    pick(filter) {
      const key = filter.affinityKey
      if (key === undefined || key === '') return fallback.pick(filter)
      const keyHash = hashString(key)
      // One pass finds the top-ranked member and the totals the bound needs.
      let top = -1
      let topScore = 0
      let totalInflight = 0
      let totalWeight = 0
      for (let i = 0; i < targets.length; i++) {
        const t = targets[i]!
        if (!filter.accepts(t)) continue
        totalInflight += t.inflight
        totalWeight += t.weight
        const s = score(keyHash, idHashes[i]!, t.weight)
        if (top < 0 || s > topScore) {
          top = i
          topScore = s
        }
      }
      if (top < 0) return undefined
      const first = targets[top]!
      if (withinBound(first, totalInflight, totalWeight)) return first
      // The top member is over its bound: walk on to the best-ranked one that is not.
      let next: T | undefined
      let nextScore = 0
      for (let i = 0; i < targets.length; i++) {
        const t = targets[i]!
        if (i === top || !filter.accepts(t) || !withinBound(t, totalInflight, totalWeight)) continue
        const s = score(keyHash, idHashes[i]!, t.weight)
        if (next === undefined || s > nextScore) {
          next = t
          nextScore = s
        }
      }
      // Only a maxLoadFactor below 1 can leave nothing within bound; then affinity wins.
      return next ?? first
    },
  }
}
