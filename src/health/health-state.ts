// Per-upstream active health state: consecutive probe results against the configured
// thresholds decide when an upstream flips between healthy and unhealthy.

export interface HealthThresholds {
  /** Consecutive passes that bring an unhealthy upstream back. */
  readonly healthyThreshold: number
  /** Consecutive failures that take a healthy upstream out. */
  readonly unhealthyThreshold: number
}

/** What one probe result changed. */
export type HealthTransition = 'became-healthy' | 'became-unhealthy' | 'unchanged'

/**
 * Counts consecutive passes and failures. A pass resets the failure streak and a failure the
 * pass streak, so a flapping upstream never reaches either threshold from mixed results.
 */
export class HealthState {
  private passes = 0
  private fails = 0

  constructor(
    /** Replaced when a reload changes them; the streaks carry over. */
    public thresholds: HealthThresholds,
    /** The upstream's current verdict (true for a new one: traffic flows until a check fails). */
    public healthy = true
  ) {}

  record(passed: boolean): HealthTransition {
    if (passed) {
      this.fails = 0
      this.passes++
      if (!this.healthy && this.passes >= this.thresholds.healthyThreshold) {
        this.healthy = true
        return 'became-healthy'
      }
    } else {
      this.passes = 0
      this.fails++
      if (this.healthy && this.fails >= this.thresholds.unhealthyThreshold) {
        this.healthy = false
        return 'became-unhealthy'
      }
    }
    return 'unchanged'
  }
}
