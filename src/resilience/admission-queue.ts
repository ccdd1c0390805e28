// Admission queue: when every usable upstream of a pool is at max_concurrency, requests
// wait here in arrival order until a member frees a slot, within a length and a time bound.
import { NoHealthyUpstreamError, ShuttingDownError } from '../errors.js'
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js'

export interface QueueLimits {
  /** Most requests waiting at once; 0 turns queueing off (503 at once). */
  readonly max: number
  /** Longest wait (ms) before a 503. */
  readonly timeout: number
}

interface Waiter {
  prev: Waiter | undefined
  next: Waiter | undefined
  resolve: (woken: boolean) => void
  reject: (err: NoHealthyUpstreamError | ShuttingDownError) => void
  timer: TimerHandle | undefined
  signal: AbortSignal
  onAbort: () => void
}

/**
 * A FIFO of waiters as a doubly linked list, so a client that leaves is unlinked in O(1).
 * `release()` is called whenever a member of the pool ends an attempt (one slot freed);
 * `wake()` when capacity may have appeared at once (members added, limits raised).
 * `P` is what waiters pick from: the queue outlives reloads, so it holds the newest one.
 */
export class AdmissionQueue<P = unknown> {
  /** The model's newest pool (set with each snapshot): a woken waiter picks from it. */
  pool: P | undefined = undefined
  private head: Waiter | undefined = undefined
  private tail: Waiter | undefined = undefined
  private size = 0
  /** A wake() is under way: each waiter that gets a slot lets the next one try. */
  private cascading = false

  constructor(
    private limits: QueueLimits,
    private readonly clock: Clock = systemClock
  ) {}

  get length(): number {
    return this.size
  }

  /** New limits apply to requests that arrive from now on (a reload). */
  configure(limits: QueueLimits): void {
    this.limits = limits
  }

  /**
   * Waits for a slot. Resolves true when a slot was freed (the caller picks again), false when
   * `signal` aborted (the client left; it has already left the queue). Rejects with a 503
   * (`queue_full` at once, `queue_timeout` after `timeout`), both with Retry-After.
   * `front` puts a woken waiter that lost the race for the slot back at the head.
   */
  wait(signal: AbortSignal, front = false): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false)
    const { max, timeout } = this.limits
    if (this.size >= max) {
      return Promise.reject(
        new NoHealthyUpstreamError(
          `Every upstream is at its concurrency limit and the queue is full (${max} waiting).`,
          'queue_full'
        )
      )
    }
    return new Promise<boolean>((resolve, reject) => {
      const w: Waiter = {
        prev: undefined,
        next: undefined,
        resolve,
        reject,
        timer: undefined,
        signal,
        onAbort: () => {
          this.unlink(w)
          resolve(false)
        },
      }
      w.timer = this.clock.setTimeout(() => {
        this.unlink(w)
        reject(
          new NoHealthyUpstreamError(
            `Every upstream stayed at its concurrency limit for ${timeout} ms.`,
            'queue_timeout'
          )
        )
      }, timeout)
      signal.addEventListener('abort', w.onAbort, { once: true })
      if (front) {
        // A woken waiter found no slot: whatever capacity appeared is taken.
        this.cascading = false
        this.pushFront(w)
      } else this.pushBack(w)
    })
  }

  /** One slot was freed: the oldest waiter tries again. */
  release(): void {
    const w = this.head
    if (w === undefined) return
    this.unlink(w)
    w.resolve(true)
  }

  /**
   * Capacity of unknown size may have appeared: the oldest waiter tries, and each one that
   * gets a slot passes the turn on (`passOn`), in order, until one finds none. Waking them all
   * at once would let them pick before the first ones hold their slots.
   */
  wake(): void {
    if (this.head === undefined) return
    this.cascading = true
    this.release()
  }

  /** A woken waiter now holds its slot: during a wake(), the next waiter tries. */
  passOn(): void {
    if (this.cascading) this.release()
  }

  /** The gateway's drain deadline: every waiter is answered 503 `shutting_down`; returns how many. */
  shutdown(): number {
    let n = 0
    for (let w = this.head; w !== undefined; w = this.head) {
      this.unlink(w)
      w.reject(new ShuttingDownError())
      n++
    }
    return n
  }

  private pushBack(w: Waiter): void {
    w.prev = this.tail
    if (this.tail === undefined) this.head = w
    else this.tail.next = w
    this.tail = w
    this.size++
  }

  private pushFront(w: Waiter): void {
    w.next = this.head
    if (this.head === undefined) this.tail = w
    else this.head.prev = w
    this.head = w
    this.size++
  }

  /** Takes it out of the list and drops its timer and abort listener; idempotent. */
  private unlink(w: Waiter): void {
    this.clock.clearTimeout(w.timer)
    w.timer = undefined
    w.signal.removeEventListener('abort', w.onAbort)
    if (w.prev === undefined && this.head !== w) return // already unlinked
    if (w.prev === undefined) this.head = w.next
    else w.prev.next = w.next
    if (w.next === undefined) this.tail = w.prev
    else w.next.prev = w.prev
    w.prev = undefined
    w.next = undefined
    this.size--
  }
}
