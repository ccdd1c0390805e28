// A fixed log-scale histogram layout for latencies: bucket i holds values in
// (BOUND[i-1], BOUND[i]] ms, each bound 2^(1/3) ≈ 1.26× the previous, so a percentile read
// back from the counts is within about ±13% of the true value (less after interpolation).
// Counts live in caller-owned typed arrays, so many histograms can share one allocation.

/** Buckets per histogram: 1 ms … 2^(55/3) ms ≈ 5.5 min; the last one also takes anything larger. */
export const BUCKETS = 56

const MIN_MS = 1
const STEPS_PER_DOUBLING = 3

/** Upper bound of each bucket in ms. */
export const BOUNDS: readonly number[] = Array.from({ length: BUCKETS }, (_, i) => MIN_MS * 2 ** (i / STEPS_PER_DOUBLING))

/** The bucket a value (ms) falls in; NaN and negatives land in bucket 0. */
export function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0
  const i = Math.ceil(Math.log2(ms / MIN_MS) * STEPS_PER_DOUBLING - 1e-9)
  return i >= BUCKETS ? BUCKETS - 1 : i
}

/**
 * The q-quantile (0 < q ≤ 1) of the counts in `counts[0..BUCKETS)`, interpolated
 * geometrically inside the bucket that holds it; null when the histogram is empty. `min` and
 * `max`, the smallest and largest value counted when known, narrow the end buckets: a few
 * close values (one model's TTFT) all share one bucket, and spreading them over its whole
 * width put a p95 a fifth above the largest value seen.
 */
export function quantile(counts: ArrayLike<number>, q: number, min = 0, max = Number.POSITIVE_INFINITY): number | null {
  let total = 0
  for (let i = 0; i < BUCKETS; i++) total += counts[i]!
  if (total === 0) return null
  const rank = Math.max(1, Math.ceil(q * total))
  let seen = 0
  for (let i = 0; i < BUCKETS; i++) {
    const c = counts[i]!
    if (c === 0) continue
    if (seen + c >= rank) {
      let hi = BOUNDS[i]!
      let lo = i === 0 ? 0 : BOUNDS[i - 1]!
      if (min > lo) lo = min
      if (max < hi) hi = max
      if (hi <= lo) return lo
      // Samples are taken as spread evenly through the bucket; this one sits at fraction f.
      const f = (rank - seen - 0.5) / c
      return lo === 0 ? hi * f : lo * (hi / lo) ** f
    }
    seen += c
  }
  return BOUNDS[BUCKETS - 1]!
}
