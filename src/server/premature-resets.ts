// When an HTTP/2 client's stream resets are an attack rather than cancellations: Envoy's
// premature-reset rule (overload.premature_reset_total_stream_count and
// premature_reset_min_stream_lifetime_seconds), the answer to "rapid reset" (CVE-2023-44487).
// A stream that closes younger than the minimum lifetime without a response having been
// committed to it was reset prematurely (by the client's RST_STREAM, or by us for a request
// the client made unacceptable, such as an oversized header list). Requests the gateway had
// already dispatched upstream when the reset came were cancelled there, but each one cost the
// model server a prefill: closing the connection bounds what one connection can make it spend.
import { performance } from 'node:perf_hooks'

export interface PrematureResetLimits {
  /**
   * Envoy's total stream count: a session is closed once half this many of its streams were
   * reset prematurely, or, after this many streams, whenever half of them or more were.
   * 0 = never.
   */
  readonly http2PrematureResetStreams: number
  /** Streams that lived at least this long (ms) are never premature. */
  readonly http2PrematureResetLifetime: number
}

/** A closed stream was reset before an answer was committed to it, and young. */
export function isPremature(stream: { readonly headersSent: boolean }, openedAt: number, limits: PrematureResetLimits): boolean {
  return !stream.headersSent && performance.now() - openedAt < limits.http2PrematureResetLifetime
}

/**
 * Envoy's ConnectionManagerImpl::maybeDrainDueToPrematureResets: before `limit` streams, close
 * as soon as premature resets reach half of it (even if every later stream were good, the
 * ratio check would fail when the count is reached); from then on, at a ratio of 50% or more.
 */
export function tooManyPremature(closed: number, premature: number, limits: PrematureResetLimits): boolean {
  const limit = limits.http2PrematureResetStreams
  if (limit === 0) return false
  return closed < limit ? premature * 2 >= limit : premature * 2 >= closed
}
