import { describe, expect, it } from 'vitest'
import { balancers, createBalancer, strategyNames } from '../../src/balancing/registry.js'
import { acceptAll, makeTargets } from '../suites/balance-fixtures.js'

describe('balancer registry', () => {
  it('has a factory for every strategy name, named after it', () => {
    expect(Object.keys(balancers).sort()).toEqual([...strategyNames].sort())
    for (const name of strategyNames) expect(balancers[name](makeTargets(1)).name).toBe(name)
  })

  it('creates a working balancer by name', () => {
    const targets = makeTargets(['a', 'b'])
    for (const name of strategyNames) {
      const b = createBalancer(name, targets, { maxLoadFactor: 1.5, random: () => 0 })
      expect(['a', 'b']).toContain(b.pick(acceptAll('k'))?.id)
    }
  })
})
