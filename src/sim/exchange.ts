// One /v1/* request from arrival to end. It notices the client leaving, owns the request's timer
// and its place in the admission queue, and records how the request ended.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AdmissionQueue, Leave } from './admission-queue.js'
import type { SimStats } from './stats.js'

export class Exchange {
  #closed = false
  #dropped = false
  #timer: NodeJS.Timeout | undefined
  #leave: Leave | undefined

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly stats: SimStats
  ) {
    stats.received++
    stats.open++
    res.on('close', this.#onClose)
  }

  /** True once the response is over: finished, cancelled by the client, or dropped. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Runs `fn` after `ms` (synchronously when `ms` <= 0, so a zero-latency sim uses no timers).
   * One timer at a time; it is cleared when the request ends first.
   */
  after(ms: number, fn: () => void): void {
    if (this.#closed) return
    if (ms <= 0) {
      fn()
      return
    }
    clearTimeout(this.#timer)
    this.#timer = setTimeout(fn, ms)
  }

  /** Calls `start` once `queue` has a slot for this request; the slot is freed when it ends. */
  admit(queue: AdmissionQueue, start: () => void): void {
    this.#leave = queue.enter(() => {
      // A queued client may have gone between its close and this turn; nothing to start then.
      if (!this.#closed && !this.res.destroyed) start()
    })
  }

  /** Cuts the connection the way a crashing server does; counted as dropped, not cancelled. */
  drop(): void {
    this.#dropped = true
    const socket = this.res.socket
    // destroySoon flushes what was already written, so the client gets those chunks first.
    if (socket !== null) socket.destroySoon()
    else this.res.destroy()
  }

  #onClose = (): void => {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#leave?.()
    const outcome = this.res.writableFinished
      ? 'completed'
      : this.#dropped
        ? 'dropped'
        : 'cancelled'
    this.stats.end(outcome)
  }
}
