// Retry budget (Finagle's RetryBudget): retries may be at most `percent` of requests over
// a sliding window, plus a small floor, so a failing fleet is not hammered by retries.

const BUCKETS = 10

export class RetryBudget {
  private readonly requests = new Array<number>(BUCKETS).fill(0)
  private readonly retries = new Array<number>(BUCKETS).fill(0)
  private bucket = 0
  private bucketStart = 0

  /**
   * @param percent retries allowed per 100 requests in the window
   * @param windowMs sliding window length (10 s)
   * @param minPerWindow retries always allowed per window, so a quiet route can still retry
   */
  constructor(
    readonly percent: number,
    private readonly windowMs = 10_000,
    private readonly minPerWindow = 10,
    private readonly now: () => number = Date.now
  ) {}

  recordRequest(): void {
    this.rotate()
    this.requests[this.bucket]!++
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryRetry(): boolean {
    this.rotate()
    const allowed = this.minPerWindow + (sum(this.requests) * this.percent) / 100
    if (sum(this.retries) + 1 > allowed) return false
    this.retries[this.bucket]!++
    return true
  }

  /** Would a retry be allowed now (without taking it)? */
  canRetry(): boolean {
    this.rotate()
    return sum(this.retries) + 1 <= this.minPerWindow + (sum(this.requests) * this.percent) / 100
  }

  private rotate(): void {
    const now = this.now()
    const width = this.windowMs / BUCKETS
    if (this.bucketStart === 0) this.bucketStart = now
    let steps = Math.floor((now - this.bucketStart) / width)
    if (steps <= 0) return
    this.bucketStart += steps * width
    if (steps > BUCKETS) steps = BUCKETS
    while (steps-- > 0) {
      this.bucket = (this.bucket + 1) % BUCKETS
      this.requests[this.bucket] = 0
      this.retries[this.bucket] = 0
    }
  }
}

function sum(a: readonly number[]): number {
  let s = 0
  for (const v of a) s += v
  return s
}
