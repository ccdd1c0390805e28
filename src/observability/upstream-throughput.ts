// Per-upstream completion tokens and requests per second over the last minute. A finished
// request's tokens are spread over the seconds it was generating (its first token to its
// end), so a long stream counts where its tokens were made, not all in its last second.

/** Seconds of history per upstream (the longest rate window). */
const HISTORY = 64

export interface UpstreamRates {
  readonly tokens_per_s: number
  readonly requests_per_s: number
  readonly errors_per_s: number
}

class Ring {
  readonly stamp = new Float64Array(HISTORY).fill(-1)
  readonly tokens = new Float64Array(HISTORY)
  readonly requests = new Uint32Array(HISTORY)
  readonly errors = new Uint32Array(HISTORY)

  slot(sec: number): number {
    const i = sec % HISTORY
    if (this.stamp[i] !== sec) {
      if (this.stamp[i]! > sec) return -1 // already reused by a newer second
      this.stamp[i] = sec
      this.tokens[i] = 0
      this.requests[i] = 0
      this.errors[i] = 0
    }
    return i
  }
}

const ZERO: UpstreamRates = { tokens_per_s: 0, requests_per_s: 0, errors_per_s: 0 }

export class UpstreamThroughput {
  /** Keyed by the Upstream object, so reloads that keep it keep its history, and gone ones are collected. */
  private readonly rings = new WeakMap<object, Ring>()

  /**
   * Counts one request that ended at `endMs` on `upstream`, whose `tokens` were generated
   * from `genStartMs` on (epoch ms). At most a minute of the spread is kept.
   */
  add(upstream: object, endMs: number, genStartMs: number, tokens: number, error: boolean): void {
    let ring = this.rings.get(upstream)
    if (ring === undefined) {
      ring = new Ring()
      this.rings.set(upstream, ring)
    }
    const endSec = Math.floor(endMs / 1000)
    const e = ring.slot(endSec)
    if (e < 0) return
    ring.requests[e]!++
    if (error) ring.errors[e]!++
    if (!(tokens > 0)) return
    const start = Math.max(genStartMs, endMs - (HISTORY - 4) * 1000)
    const length = endMs - start
    if (!(length > 0)) {
      ring.tokens[e]! += tokens
      return
    }
    // Bounded by HISTORY iterations: the spread is clipped to the last minute.
    for (let s = Math.floor(start / 1000); s <= endSec; s++) {
      const overlap = Math.min(endMs, (s + 1) * 1000) - Math.max(start, s * 1000)
      if (overlap <= 0) continue
      const i = ring.slot(s)
      if (i >= 0) ring.tokens[i]! += (tokens * overlap) / length
    }
  }

  /** Rates over the `windowS` complete seconds before `nowMs` (the current second is partial). */
  rates(upstream: object, nowMs: number, windowS = 10): UpstreamRates {
    const ring = this.rings.get(upstream)
    if (ring === undefined) return ZERO
    const w = Math.min(windowS, HISTORY - 2)
    const nowSec = Math.floor(nowMs / 1000)
    let tokens = 0
    let requests = 0
    let errors = 0
    for (let s = nowSec - w; s < nowSec; s++) {
      const i = s % HISTORY
      if (ring.stamp[i] !== s) continue
      tokens += ring.tokens[i]!
      requests += ring.requests[i]!
      errors += ring.errors[i]!
    }
    return { tokens_per_s: round(tokens / w), requests_per_s: round(requests / w), errors_per_s: round(errors / w) }
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100
}
