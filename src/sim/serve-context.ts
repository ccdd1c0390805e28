// What a /v1/* handler gets besides the request: settings, shared state, and the fault in force.
import type { AdmissionQueue } from './admission-queue.js'
import type { Fault } from './fault.js'
import type { SimStats } from './stats.js'

/** Resolved, validated simulator settings. */
export interface SimConfig {
  readonly model: string
  readonly ttftMs: number
  /** Milliseconds between tokens; 0 = as fast as the client reads. */
  readonly intervalMs: number
  /** 0 = unlimited. */
  readonly maxConcurrency: number
  readonly seed: number
  readonly name: string | undefined
}

export interface ServeContext {
  readonly config: SimConfig
  readonly stats: SimStats
  readonly queue: AdmissionQueue
  /** The fault as it was when this request arrived (a later change does not affect it). */
  readonly fault: Fault
}

/** Latency the `slow` fault adds before the first token (or before any answer). */
export function faultLatency(fault: Fault): number {
  return fault.mode === 'slow' ? fault.latency_ms : 0
}
