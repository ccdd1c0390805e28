import { describe, expect, it } from 'vitest'
import { HealthState } from '../../src/health/health-state.js'

describe('HealthState', () => {
  const thresholds = { healthyThreshold: 2, unhealthyThreshold: 3 }

  it('goes unhealthy after unhealthy_threshold consecutive failures', () => {
    const s = new HealthState(thresholds)
    expect(s.record(false)).toBe('unchanged')
    expect(s.record(false)).toBe('unchanged')
    expect(s.record(false)).toBe('became-unhealthy')
    expect(s.healthy).toBe(false)
    expect(s.record(false)).toBe('unchanged')
  })

  it('comes back after healthy_threshold consecutive passes', () => {
    const s = new HealthState(thresholds, false)
    expect(s.record(true)).toBe('unchanged')
    expect(s.record(true)).toBe('became-healthy')
    expect(s.healthy).toBe(true)
  })

  it('a flapping upstream reaches neither threshold', () => {
    const s = new HealthState(thresholds)
    for (let i = 0; i < 20; i++) {
      expect(s.record(false)).toBe('unchanged')
      expect(s.record(false)).toBe('unchanged')
      expect(s.record(true)).toBe('unchanged')
    }
    expect(s.healthy).toBe(true)
    const down = new HealthState(thresholds, false)
    for (let i = 0; i < 20; i++) {
      expect(down.record(true)).toBe('unchanged')
      expect(down.record(false)).toBe('unchanged')
    }
    expect(down.healthy).toBe(false)
  })
})
