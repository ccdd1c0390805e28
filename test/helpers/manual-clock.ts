// A Clock whose time moves only when a test says so; timers fire in due order.
import type { Clock, TimerHandle } from '../../src/util/clock.js'

interface ManualTimer extends TimerHandle {
  at: number
  seq: number
  fn: () => void
}

export class ManualClock implements Clock {
  private timers: ManualTimer[] = []
  private seq = 0

  constructor(public time = 1_700_000_000_000) {}

  now(): number {
    return this.time
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, unref() {} }
    this.timers.push(timer)
    return timer
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.timers = this.timers.filter((t) => t !== handle)
  }

  get pending(): number {
    return this.timers.length
  }

  /** Moves time forward, firing every timer that falls due on the way (in order). */
  advance(ms: number): void {
    const end = this.time + ms
    for (;;) {
      const next = this.due(end)
      if (next === undefined) break
      this.time = next.at
      next.fn()
    }
    this.time = end
  }

  /** Like advance(), letting promise callbacks run after each timer (for async work). */
  async advanceAsync(ms: number): Promise<void> {
    const end = this.time + ms
    for (;;) {
      await flush()
      const next = this.due(end)
      if (next === undefined) break
      this.time = next.at
      next.fn()
    }
    this.time = end
    await flush()
  }

  private due(end: number): ManualTimer | undefined {
    let best: ManualTimer | undefined
    for (const t of this.timers) {
      if (t.at > end) continue
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t
    }
    if (best !== undefined) this.timers = this.timers.filter((t) => t !== best)
    return best
  }
}

/** Lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r))
}
