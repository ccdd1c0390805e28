// The strategies by configured name; config/schema.ts validates `strategy` against strategyNames.
import { affinity } from './affinity.js'
import type { Balancer, BalancerFactory, BalancerOptions, BalanceTarget } from './balancer.js'
import { leastOutstanding } from './least-outstanding.js'
import { p2cEwma } from './p2c-ewma.js'
import { roundRobin } from './round-robin.js'
import { weighted } from './weighted.js'

export const strategyNames = [
  'round-robin',
  'weighted',
  'least-outstanding',
  'p2c-ewma',
  'affinity',
] as const

export type StrategyName = (typeof strategyNames)[number]

export const balancers: Record<StrategyName, BalancerFactory> = {
  'round-robin': roundRobin,
  weighted,
  'least-outstanding': leastOutstanding,
  'p2c-ewma': p2cEwma,
  affinity,
}

/** Builds the named strategy over a fixed member list (rebuild it when membership changes). */
export function createBalancer<T extends BalanceTarget>(
  name: StrategyName,
  targets: readonly T[],
  options?: BalancerOptions
): Balancer<T> {
  return balancers[name](targets, options)
}
