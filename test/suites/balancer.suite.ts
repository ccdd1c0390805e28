// The conformance suite every load-balancing strategy passes (STYLE rule 2).
import { describe, expect, it } from 'vitest'
import type { BalancerFactory } from '../../src/balancing/balancer.js'
import {
  acceptAll,
  acceptWhere,
  makeTargets,
  seededRandom,
  type TestTarget,
} from './balance-fixtures.js'

export function balancerSuite(name: string, factory: BalancerFactory): void {
  describe(`${name} (balancer conformance)`, () => {
    it('returns undefined over an empty member list', () => {
      const b = factory<TestTarget>([], { random: seededRandom(1) })
      expect(b.pick(acceptAll())).toBeUndefined()
      expect(b.pick(acceptAll('session-1'))).toBeUndefined()
    })

    it('returns undefined when the filter accepts nothing', () => {
      const b = factory(makeTargets(5), { random: seededRandom(2) })
      for (let i = 0; i < 50; i++) {
        expect(b.pick(acceptWhere(() => false))).toBeUndefined()
        expect(b.pick(acceptWhere(() => false, `key-${i}`))).toBeUndefined()
      }
    })

    it('never returns a target the filter does not accept', () => {
      const targets = makeTargets(8, { latencyEwma: 20 })
      const random = seededRandom(3)
      const b = factory(targets, { random: seededRandom(4) })
      for (let i = 0; i < 2000; i++) {
        // A fresh random subset each pick, sometimes with an affinity key.
        const allowed = new Set(targets.filter(() => random() < 0.5))
        const key = i % 2 === 0 ? `key-${i % 37}` : undefined
        const picked = b.pick(acceptWhere((t) => allowed.has(t), key))
        if (allowed.size === 0) expect(picked).toBeUndefined()
        else expect(picked !== undefined && allowed.has(picked)).toBe(true)
      }
    })

    it('always returns the one accepted target', () => {
      const targets = makeTargets(6, { latencyEwma: 15 })
      const only = targets[4]!
      only.inflight = 40
      only.latencyEwma = 900
      const b = factory(targets, { random: seededRandom(5) })
      for (let i = 0; i < 200; i++) {
        const key = i % 3 === 0 ? undefined : `key-${i}`
        expect(b.pick(acceptWhere((t) => t === only, key))).toBe(only)
      }
      const single = factory(makeTargets(['solo']), { random: seededRandom(6) })
      expect(single.pick(acceptAll())?.id).toBe('solo')
      expect(single.pick(acceptAll('k'))?.id).toBe('solo')
    })

    it('spreads picks over equal targets', () => {
      const ids = ['a', 'b', 'c', 'd']
      const n = 4000
      for (const keyed of [false, true]) {
        const b = factory(makeTargets(ids, { latencyEwma: 10 }), { random: seededRandom(7) })
        const counts = new Map<string, number>()
        for (let i = 0; i < n; i++) {
          const id = b.pick(acceptAll(keyed ? `session-${i}` : undefined))?.id ?? ''
          counts.set(id, (counts.get(id) ?? 0) + 1)
        }
        // Every target gets a real share (a quarter is expected; a tenth is the floor).
        for (const id of ids) expect(counts.get(id) ?? 0).toBeGreaterThan(n / 10)
      }
    })

    it('survives weight, inflight and latency changing between picks', () => {
      const targets = makeTargets(6)
      const random = seededRandom(8)
      const b = factory(targets, { random: seededRandom(9) })
      for (let i = 0; i < 3000; i++) {
        for (const t of targets) {
          t.weight = 0.1 + random() * 10
          t.inflight = Math.floor(random() * 20)
          t.latencyEwma = random() < 0.2 ? 0 : random() * 500
        }
        const down = targets[i % targets.length]!
        const key = i % 2 === 0 ? `key-${i % 11}` : undefined
        const picked = b.pick(acceptWhere((t) => t !== down, key))
        expect(picked).toBeDefined()
        expect(picked).not.toBe(down)
      }
    })

    it('is deterministic given the same injected random', () => {
      const run = (): string[] => {
        const targets = makeTargets(5, { latencyEwma: 10 })
        const b = factory(targets, { random: seededRandom(10) })
        const out: string[] = []
        for (let i = 0; i < 500; i++) {
          const excluded = i % 5
          const key = i % 3 === 0 ? `key-${i % 13}` : undefined
          const picked = b.pick(acceptWhere((t) => t !== targets[excluded], key))
          out.push(picked?.id ?? '')
          // Feed picks back as load, as a pool would.
          if (picked !== undefined) picked.inflight++
          if (i % 4 === 0) for (const t of targets) t.inflight = Math.max(0, t.inflight - 1)
        }
        return out
      }
      expect(run()).toEqual(run())
    })

    it('names itself', () => {
      expect(factory(makeTargets(2)).name).toBe(name)
    })
  })
}
