// Usage per virtual key over a sliding window, in a few coarse slots per key (12 by
// default: five-minute slots for an hour), for the dashboard's "top keys". The table holds
// at most `maxKeys` keys and forgets the one idle longest when a new one arrives.

/** A key's usage over the window; `key` is the key's name (never the key), null without one. */
export interface KeyUsageRow {
  readonly key: string | null
  readonly requests: number
  readonly tokens: number
  readonly errors: number
}

class KeyEntry {
  readonly stamp: number[]
  readonly requests: number[]
  readonly tokens: number[]
  readonly errors: number[]
  constructor(slots: number) {
    this.stamp = new Array<number>(slots).fill(-1)
    this.requests = new Array<number>(slots).fill(0)
    this.tokens = new Array<number>(slots).fill(0)
    this.errors = new Array<number>(slots).fill(0)
  }
}

export interface KeyUsageOptions {
  /** Window length in seconds. */
  readonly windowSeconds: number
  /** Slots the window is cut into. Defaults to 12. */
  readonly slots?: number
  /** Keys remembered at most. Defaults to 1000. */
  readonly maxKeys?: number
}

export class KeyUsage {
  private readonly keys = new Map<string | null, KeyEntry>()
  /** The key added last: already at the end of `keys`, so the next add of it need not move it. */
  private newest: string | null | undefined = undefined
  private readonly slots: number
  private readonly slotSeconds: number
  private readonly maxKeys: number

  constructor(options: KeyUsageOptions) {
    this.slots = options.slots ?? 12
    this.slotSeconds = Math.max(1, Math.ceil(options.windowSeconds / this.slots))
    this.maxKeys = options.maxKeys ?? 1000
  }

  get size(): number {
    return this.keys.size
  }

  add(key: string | null, sec: number, tokens: number, error: boolean): void {
    let e = this.keys.get(key)
    // Maps iterate in insertion order, and every add re-inserts (unless the key is already
    // the last one): the first is the idlest.
    if (e === undefined) {
      if (this.keys.size >= this.maxKeys) this.keys.delete(this.keys.keys().next().value as string | null)
      this.keys.set(key, (e = new KeyEntry(this.slots)))
    } else if (key !== this.newest) {
      this.keys.delete(key)
      this.keys.set(key, e)
    }
    this.newest = key
    const idx = Math.floor(sec / this.slotSeconds)
    const i = idx % this.slots
    if (e.stamp[i] !== idx) {
      if (e.stamp[i]! > idx) return // a clock that stepped back: the slot holds newer data
      e.stamp[i] = idx
      e.requests[i] = 0
      e.tokens[i] = 0
      e.errors[i] = 0
    }
    e.requests[i]!++
    e.tokens[i]! += tokens
    if (error) e.errors[i]!++
  }

  /** The `n` keys with the most tokens in the window (then the most requests). */
  top(n: number, nowSec: number): KeyUsageRow[] {
    const nowIdx = Math.floor(nowSec / this.slotSeconds)
    const rows: KeyUsageRow[] = []
    for (const [key, e] of this.keys) {
      let requests = 0
      let tokens = 0
      let errors = 0
      for (let i = 0; i < this.slots; i++) {
        if (e.stamp[i]! <= nowIdx - this.slots) continue
        requests += e.requests[i]!
        tokens += e.tokens[i]!
        errors += e.errors[i]!
      }
      if (requests > 0) rows.push({ key, requests, tokens, errors })
    }
    rows.sort((a, b) => b.tokens - a.tokens || b.requests - a.requests)
    return rows.slice(0, n)
  }
}
