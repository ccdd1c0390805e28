// Streams one generation as SSE: the first token after a delay, then one token per interval,
// pausing while the client's socket is full so a slow reader blocks generation, not memory.
import { performance } from 'node:perf_hooks'
import type { Exchange } from './exchange.js'
import type { FinishReason, Framer } from './sse-framer.js'
import { DONE_FRAME } from './sse-framer.js'
import type { SimStats } from './stats.js'
import type { TokenSource } from './text-generator.js'
import { VOCAB_JSON } from './text-generator.js'

export interface StreamSpec {
  readonly framer: Framer
  readonly tokens: TokenSource
  readonly completionTokens: number
  readonly promptTokens: number
  readonly finishReason: FinishReason
  readonly includeUsage: boolean
  /** Delay before the first token (TTFT plus any injected latency). */
  readonly firstTokenMs: number
  /** Gap between tokens; 0 streams as fast as the client reads. */
  readonly intervalMs: number
  /** drop-mid-stream: cut the connection after this many frames (before [DONE] at the latest). */
  readonly dropAfterFrames?: number | undefined
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
} as const

// Caps one step's work, so a fast reader cannot keep the event loop to itself.
const MAX_FRAMES_PER_STEP = 64

type Phase = 'opening' | 'tokens' | 'usage' | 'done' | 'ended'

export class TokenStream {
  #phase: Phase
  #emitted = 0
  #frames = 0
  /** When token 0 was due; moved forward after a backpressure pause. */
  #t0 = 0

  constructor(
    private readonly ex: Exchange,
    private readonly spec: StreamSpec,
    private readonly stats: SimStats
  ) {
    this.#phase = spec.framer.opening === '' ? 'tokens' : 'opening'
  }

  /** Sends the headers now (as vLLM does) and the first token after `firstTokenMs`. */
  start(): void {
    this.ex.res.writeHead(200, SSE_HEADERS)
    this.ex.res.flushHeaders()
    this.ex.after(this.spec.firstTokenMs, this.#first)
  }

  #first = (): void => {
    this.#t0 = performance.now()
    this.#step()
  }

  #step = (): void => {
    if (this.ex.closed || this.#phase === 'ended') return
    const due = this.#dueTokens()
    const drop = this.spec.dropAfterFrames
    let batch = ''
    for (let n = 0; n < MAX_FRAMES_PER_STEP; n++) {
      // The drop fault never lets [DONE] out: a short stream is cut before its end instead.
      if (this.#frames === drop || (this.#phase === 'done' && drop !== undefined)) {
        this.#drop(batch)
        return
      }
      const frame = this.#nextFrame(due)
      if (frame === undefined) break
      batch += frame
      this.#frames++
      if (frame === DONE_FRAME) {
        this.stats.finished[this.spec.finishReason]++
        this.ex.res.end(batch)
        return
      }
    }
    if (batch !== '' && !this.ex.res.write(batch)) {
      this.ex.res.once('drain', this.#resume)
      return
    }
    this.#schedule()
  }

  #nextFrame(due: number): string | undefined {
    const { framer } = this.spec
    if (this.#phase === 'opening') {
      this.#phase = 'tokens'
      return framer.opening
    }
    if (this.#phase === 'tokens') {
      if (this.#emitted < due) {
        this.#emitted++
        this.stats.generationTokens++
        return framer.token(VOCAB_JSON[this.spec.tokens()]!)
      }
      if (this.#emitted < this.spec.completionTokens) return undefined
      this.#phase = this.spec.includeUsage ? 'usage' : 'done'
      return framer.finish(this.spec.finishReason)
    }
    if (this.#phase === 'usage') {
      this.#phase = 'done'
      const { promptTokens } = this.spec
      const completion = this.#emitted
      return framer.usage({
        prompt_tokens: promptTokens,
        completion_tokens: completion,
        total_tokens: promptTokens + completion,
      })
    }
    if (this.#phase === 'done') {
      this.#phase = 'ended'
      return DONE_FRAME
    }
    return undefined
  }

  #dueTokens(): number {
    const { intervalMs, completionTokens } = this.spec
    if (intervalMs === 0) return completionTokens
    const elapsed = performance.now() - this.#t0
    return Math.min(completionTokens, Math.floor(elapsed / intervalMs) + 1)
  }

  #schedule(): void {
    const { intervalMs } = this.spec
    const tokensLeft = this.#phase === 'tokens' && this.#emitted < this.spec.completionTokens
    if (!tokensLeft || intervalMs === 0) {
      // Only reached when the step cap was hit: continue after pending I/O has had its turn.
      setImmediate(this.#step)
      return
    }
    const wait = this.#t0 + this.#emitted * intervalMs - performance.now()
    if (wait > 0) this.ex.after(wait, this.#step)
    else setImmediate(this.#step)
  }

  #resume = (): void => {
    // A blocked model does not catch up in a burst: shift the schedule so the next token is due
    // now.
    const { intervalMs } = this.spec
    this.#t0 = Math.max(this.#t0, performance.now() - this.#emitted * intervalMs)
    this.#step()
  }

  #drop(batch: string): void {
    this.#phase = 'ended'
    if (batch !== '') this.ex.res.write(batch)
    this.ex.drop()
  }
}
