// The demo's background load: a few clients in a loop, alternating streaming and plain
// chat completions through the gateway, counting what a user would have seen.

export interface TrafficCounts {
  /** Complete answers. */
  ok: number
  /** Streams that ended with the gateway's SSE error event (their upstream died mid-answer). */
  broken: number
  /** Requests answered with an error status, or that could not connect at all. */
  failed: number
}

export class Traffic {
  readonly counts: TrafficCounts = { ok: 0, broken: 0, failed: 0 }
  private running = false
  private readonly workers = new Set<Promise<void>>()

  constructor(
    private readonly url: string,
    private readonly model: string,
    /** The demo's virtual key when keys are on. */
    private readonly apiKey?: string,
    readonly concurrency = 6
  ) {}

  get on(): boolean {
    return this.running
  }

  start(): void {
    if (this.running) return
    this.running = true
    for (let i = 0; i < this.concurrency; i++) {
      const w = this.loop(i % 2 === 0).finally(() => this.workers.delete(w))
      this.workers.add(w)
    }
  }

  /** Stops after the requests in progress; resolves when they are done. */
  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.workers)
  }

  private async loop(stream: boolean): Promise<void> {
    while (this.running) {
      const outcome = await this.once(stream)
      this.counts[outcome]++
      // A failing gateway answers fast: do not spin on it.
      if (outcome === 'failed') await new Promise((r) => setTimeout(r, 250))
    }
  }

  private async once(stream: boolean): Promise<keyof TrafficCounts> {
    try {
      const res = await fetch(`${this.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.apiKey !== undefined && { authorization: `Bearer ${this.apiKey}` }),
        },
        body: JSON.stringify({
          model: this.model,
          stream,
          max_tokens: 40,
          messages: [{ role: 'user', content: 'Tell me about switchyards.' }],
        }),
      })
      const text = await res.text()
      if (res.status !== 200) return 'failed'
      if (!stream) return 'ok'
      return text.includes('data: {"error"') || !text.includes('data: [DONE]') ? 'broken' : 'ok'
    } catch {
      return 'failed'
    }
  }
}
