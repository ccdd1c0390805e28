// What the simulator has seen: request counters, token counters and the last /v1/* request.
import type { IncomingHttpHeaders } from 'node:http'
import type { ParsedBody } from './request-body.js'

/** How one /v1/* request ended. `dropped` is the simulator cutting it (drop-mid-stream fault). */
export type Outcome = 'completed' | 'cancelled' | 'dropped'

export interface LastRequest {
  readonly method: string
  /** Path without the query string. */
  readonly path: string
  /** The request target as sent, query string included. */
  readonly url: string
  readonly headers: IncomingHttpHeaders
  /** Parsed JSON when the body was JSON, the raw text when it was not, null when empty. */
  readonly body: unknown
}

export interface StatsSnapshot {
  received: number
  completed: number
  cancelled: number
  dropped: number
  inflight: number
  waiting: number
  byPath: Record<string, number>
  lastRequest: LastRequest | null
}

export class SimStats {
  /** /v1/* requests received. */
  received = 0
  completed = 0
  cancelled = 0
  dropped = 0
  /** /v1/* requests open now (queued ones included); not reset, it is live state. */
  open = 0
  promptTokens = 0
  generationTokens = 0
  /** Generations that ran to their end, by finish reason (vllm:request_success_total). */
  readonly finished = { stop: 0, length: 0 }
  byPath: Record<string, number> = {}
  lastRequest: LastRequest | null = null

  countPath(path: string): void {
    this.byPath[path] = (this.byPath[path] ?? 0) + 1
  }

  recordRequest(
    method: string,
    path: string,
    url: string,
    headers: IncomingHttpHeaders,
    body: ParsedBody
  ): void {
    const value = body.kind === 'json' ? body.value : body.kind === 'text' ? body.raw : null
    this.lastRequest = { method, path, url, headers: { ...headers }, body: value }
  }

  end(outcome: Outcome): void {
    this.open--
    this[outcome]++
  }

  reset(): void {
    this.received = 0
    this.completed = 0
    this.cancelled = 0
    this.dropped = 0
    this.promptTokens = 0
    this.generationTokens = 0
    this.finished.stop = 0
    this.finished.length = 0
    this.byPath = {}
    this.lastRequest = null
  }

  snapshot(waiting: number): StatsSnapshot {
    return {
      received: this.received,
      completed: this.completed,
      cancelled: this.cancelled,
      dropped: this.dropped,
      inflight: this.open - waiting,
      waiting,
      byPath: { ...this.byPath },
      lastRequest: this.lastRequest,
    }
  }
}
