// A ring buffer of the last N finished requests for the dashboard. Slots are allocated
// once and overwritten; readers get copies. It holds key names, never keys or secrets.

export interface RecentRequest {
  /** Increases by one per request; a reader asks for those after the last it saw. */
  seq: number
  id: string
  /** Start, epoch ms. */
  time: number
  /** The virtual key's name, null when none authenticated the request. */
  key: string | null
  model: string | null
  /** The model that served (differs after a fallback). */
  served_model: string | null
  upstream: string | null
  /** 499 when the client left early. */
  status: number
  stream: boolean
  prompt_tokens: number | null
  completion_tokens: number | null
  ttft_ms: number | null
  duration_ms: number
  /** The gateway's error code (e.g. no_healthy_upstream), null on success. */
  error: string | null
}

export class RecentRequests {
  private readonly slots: RecentRequest[] = []
  private seq = 0

  constructor(readonly capacity: number) {}

  /** The sequence number of the newest entry (0 before the first). */
  get last(): number {
    return this.seq
  }

  /** Stores a copy of `r`'s fields (its `seq` is assigned here) over the oldest slot. */
  push(r: Omit<RecentRequest, 'seq'>): void {
    this.seq++
    const i = this.seq % this.capacity
    const slot = this.slots[i] ?? (this.slots[i] = {} as RecentRequest)
    // Field by field: the caller's object may carry more (e.g. the Upstream), which must not stay.
    slot.seq = this.seq
    slot.id = r.id
    slot.time = r.time
    slot.key = r.key
    slot.model = r.model
    slot.served_model = r.served_model
    slot.upstream = r.upstream
    slot.status = r.status
    slot.stream = r.stream
    slot.prompt_tokens = r.prompt_tokens
    slot.completion_tokens = r.completion_tokens
    slot.ttft_ms = r.ttft_ms
    slot.duration_ms = r.duration_ms
    slot.error = r.error
  }

  /** Copies of the entries newer than `afterSeq`, newest first. */
  since(afterSeq = 0): RecentRequest[] {
    const out: RecentRequest[] = []
    const oldest = Math.max(afterSeq + 1, this.seq - this.capacity + 1, 1)
    for (let s = this.seq; s >= oldest; s--) out.push({ ...this.slots[s % this.capacity]! })
    return out
  }
}
