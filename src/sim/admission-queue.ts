// FIFO admission for maxConcurrency: beyond the limit, requests wait in arrival order, as in
// vLLM's scheduler queue.

/** Leaves the queue: removes a waiting entry, or frees a running slot for the next in line. */
export type Leave = () => void

export class AdmissionQueue {
  #running = 0
  // A Set keeps insertion order and deletes in O(1), so cancelling a waiter is cheap.
  readonly #waiting = new Set<() => void>()

  /** @param limit how many may run at once; 0 means unlimited */
  constructor(private readonly limit: number) {}

  get running(): number {
    return this.#running
  }

  get waiting(): number {
    return this.#waiting.size
  }

  /**
   * Calls `start` now if there is room, otherwise once every earlier entry has started.
   * The returned function must be called exactly when the request ends (it is idempotent).
   */
  enter(start: () => void): Leave {
    let state: 'waiting' | 'running' | 'left' = 'waiting'
    const admit = (): void => {
      state = 'running'
      this.#running++
      start()
    }
    if (this.#hasRoom()) admit()
    else this.#waiting.add(admit)
    return () => {
      const was = state
      state = 'left'
      if (was === 'waiting') this.#waiting.delete(admit)
      else if (was === 'running') {
        this.#running--
        this.#admitNext()
      }
    }
  }

  #hasRoom(): boolean {
    return this.limit === 0 || this.#running < this.limit
  }

  #admitNext(): void {
    while (this.#hasRoom()) {
      const first = this.#waiting.values().next()
      if (first.done === true) return
      this.#waiting.delete(first.value)
      first.value()
    }
  }
}
