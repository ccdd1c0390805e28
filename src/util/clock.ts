// An injectable clock and timers, so health checks, ejection backoff and queue timeouts can be
// tested by advancing time instead of sleeping (STYLE rule 12).

/** A cancellable timer handle; only the clock that made it can clear it. */
export interface TimerHandle {
  /** Lets the process exit while the timer is pending (a no-op on test clocks). */
  unref(): void
}

export interface Clock {
  /** Epoch milliseconds (Date.now() on the system clock). */
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle | undefined): void
}

/** The real clock: Date.now() and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
}
