// The side-by-side bench's reading of its two passes: the target's verdict needs both.
import { describe, expect, it } from 'vitest'
import { type Pass, type SideBySide, verdict } from '../../bench/side-by-side.js'

const pass = (ratio: number, bFirst: boolean): Pass => ({ bFirst, ratios: [ratio], ratio, cpuA: 100, cpuB: 100 * ratio })
const run = (one: number, two: number): SideBySide => ({ passes: [pass(one, false), pass(two, true)], ratio: (one + two) / 2 })

describe('verdict', () => {
  it('is met only when both passes keep more than the target', () => {
    expect(verdict(run(1.03, 1.045), 0.95)).toBe('met')
    // 1 / 1.0527 < 0.95: this pass loses just over 5%.
    expect(verdict(run(1.03, 1.0527), 0.95)).toBe('undecided')
    expect(verdict(run(1.06, 1.07), 0.95)).toBe('not met')
  })

  it('does not let a good mean hide a pass over the line', () => {
    // Mean 1.04 (96.2% kept), but the second pass keeps only 92.6%.
    expect(verdict(run(1.0, 1.08), 0.95)).toBe('undecided')
  })
})
