// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header and
// random trace / span ids, drawn from a pooled random buffer (no allocation per id).
import { randomFillSync } from 'node:crypto'

export interface ParentContext {
  readonly traceId: string
  readonly spanId: string
  readonly sampled: boolean
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)

/** Parses a client's traceparent; undefined when absent or invalid (then a new trace starts). */
export function parseTraceparent(header: string | string[] | undefined): ParentContext | undefined {
  if (typeof header !== 'string') return undefined
  const m = TRACEPARENT.exec(header.trim())
  if (m === null) return undefined
  const [, version, traceId, spanId, flags] = m as unknown as [string, string, string, string, string]
  // Version ff is invalid; version 00 allows nothing after the flags.
  if (version === 'ff' || (version === '00' && header.trim().length !== 55)) return undefined
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 }
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`
}

const POOL_SIZE = 4096
const pool = Buffer.allocUnsafe(POOL_SIZE)
let offset = POOL_SIZE

function randomHex(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool)
    offset = 0
  }
  const hex = pool.toString('hex', offset, offset + bytes)
  offset += bytes
  return hex
}

/** 16 random bytes as 32 hex digits (never all zero in practice; the spec forbids it). */
export function newTraceId(): string {
  return randomHex(16)
}

/** 8 random bytes as 16 hex digits. */
export function newSpanId(): string {
  return randomHex(8)
}

/** True for a new root trace kept under `ratio`: decided from the trace id, as TraceIdRatioBased does. */
export function sampledByRatio(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true
  if (ratio <= 0) return false
  // The low 7 bytes of the id as a fraction of 2^56.
  return parseInt(traceId.slice(18), 16) / 2 ** 56 < ratio
}
