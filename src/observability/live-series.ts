// Per-second buckets over a sliding window (an hour by default): requests, errors,
// completion tokens and a small TTFT histogram per second. Preallocated typed arrays, so
// recording is O(1) with no allocation and memory is fixed by the window length.
import { BUCKETS, bucketOf, quantile } from './log-histogram.js'

/** One point of a series: the seconds [t, t + span) aggregated. */
export interface SeriesPoint {
  /** Start of the step, epoch ms. */
  readonly t: number
  /** Seconds of the step inside the window (less than the step for the current one). */
  readonly span: number
  readonly requests: number
  readonly errors: number
  readonly tokens: number
  /** TTFT percentiles in ms over the step; null when no stream started in it. */
  readonly ttft_p50: number | null
  readonly ttft_p95: number | null
  readonly ttft_p99: number | null
}

export interface Percentiles {
  readonly count: number
  readonly p50: number | null
  readonly p95: number | null
  readonly p99: number | null
}

export interface Totals {
  readonly requests: number
  readonly errors: number
  readonly tokens: number
}

const U16_MAX = 0xffff

export class LiveSeries {
  /** Epoch second each slot holds; -1 while unused. */
  private readonly stamp: Float64Array
  private readonly requests: Uint32Array
  private readonly errors: Uint32Array
  private readonly tokens: Float64Array
  /** `seconds` histograms of BUCKETS counts each (saturating at 65535 per bucket-second). */
  private readonly ttft: Uint16Array
  private readonly ttftCount: Uint32Array
  /** Each second's smallest and largest TTFT (ms): the percentiles never leave that range. */
  private readonly ttftMin: Float64Array
  private readonly ttftMax: Float64Array
  private readonly scratch = new Float64Array(BUCKETS)
  /** The newest second written; a clock that steps back writes here instead. */
  private latest = 0

  constructor(readonly seconds: number) {
    this.stamp = new Float64Array(seconds).fill(-1)
    this.requests = new Uint32Array(seconds)
    this.errors = new Uint32Array(seconds)
    this.tokens = new Float64Array(seconds)
    this.ttft = new Uint16Array(seconds * BUCKETS)
    this.ttftCount = new Uint32Array(seconds)
    this.ttftMin = new Float64Array(seconds)
    this.ttftMax = new Float64Array(seconds)
  }

  /** Counts one finished request in second `sec`; `ttftMs` < 0 when it has no TTFT. */
  add(sec: number, error: boolean, tokens: number, ttftMs: number): void {
    const i = this.slot(sec)
    this.requests[i]!++
    if (error) this.errors[i]!++
    this.tokens[i]! += tokens
    if (ttftMs >= 0) {
      const j = i * BUCKETS + bucketOf(ttftMs)
      if (this.ttft[j]! < U16_MAX) this.ttft[j]!++
      if (this.ttftCount[i] === 0 || ttftMs < this.ttftMin[i]!) this.ttftMin[i] = ttftMs
      if (this.ttftCount[i] === 0 || ttftMs > this.ttftMax[i]!) this.ttftMax[i] = ttftMs
      this.ttftCount[i]!++
    }
  }

  private slot(sec: number): number {
    if (sec < this.latest) sec = this.latest
    else this.latest = sec
    const i = sec % this.seconds
    if (this.stamp[i] !== sec) {
      this.stamp[i] = sec
      this.requests[i] = 0
      this.errors[i] = 0
      this.tokens[i] = 0
      this.ttftCount[i] = 0
      this.ttft.fill(0, i * BUCKETS, (i + 1) * BUCKETS)
    }
    return i
  }

  /** Sums requests, errors and tokens over the seconds [from, to] (inclusive) of the window. */
  totals(from: number, to: number, nowSec: number): Totals {
    let requests = 0
    let errors = 0
    let tokens = 0
    for (let s = Math.max(from, nowSec - this.seconds + 1); s <= to; s++) {
      const i = s % this.seconds
      if (this.stamp[i] !== s) continue
      requests += this.requests[i]!
      errors += this.errors[i]!
      tokens += this.tokens[i]!
    }
    return { requests, errors, tokens }
  }

  /** TTFT p50/p95/p99 over the seconds [from, to] (inclusive) of the window. */
  percentiles(from: number, to: number, nowSec: number): Percentiles {
    const acc = this.scratch.fill(0)
    let count = 0
    let min = Number.POSITIVE_INFINITY
    let max = 0
    for (let s = Math.max(from, nowSec - this.seconds + 1); s <= to; s++) {
      const i = s % this.seconds
      if (this.stamp[i] !== s || this.ttftCount[i] === 0) continue
      count += this.ttftCount[i]!
      if (this.ttftMin[i]! < min) min = this.ttftMin[i]!
      if (this.ttftMax[i]! > max) max = this.ttftMax[i]!
      const base = i * BUCKETS
      for (let b = 0; b < BUCKETS; b++) acc[b]! += this.ttft[base + b]!
    }
    if (count === 0) return { count, p50: null, p95: null, p99: null }
    return { count, p50: round(quantile(acc, 0.5, min, max)), p95: round(quantile(acc, 0.95, min, max)), p99: round(quantile(acc, 0.99, min, max)) }
  }

  /**
   * The window as points of `step` seconds aligned to multiples of the step, oldest first,
   * from the step holding `fromSec` (clipped to the window) up to the one holding `nowSec`.
   */
  points(step: number, fromSec: number, nowSec: number): SeriesPoint[] {
    const windowStart = nowSec - this.seconds + 1
    const out: SeriesPoint[] = []
    for (let t = Math.floor(Math.max(fromSec, windowStart) / step) * step; t <= nowSec; t += step) {
      const from = Math.max(t, windowStart)
      const to = Math.min(t + step - 1, nowSec)
      const sums = this.totals(from, to, nowSec)
      const p = this.percentiles(from, to, nowSec)
      out.push({
        t: t * 1000,
        span: to - from + 1,
        requests: sums.requests,
        errors: sums.errors,
        tokens: sums.tokens,
        ttft_p50: p.p50,
        ttft_p95: p.p95,
        ttft_p99: p.p99,
      })
    }
    return out
  }
}

function round(v: number | null): number | null {
  return v === null ? null : Math.round(v * 10) / 10
}
