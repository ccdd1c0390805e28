// The dashboard's view of the gateway: every pool and upstream with its live state, the
// per-second series, recent requests and top keys. Served whole by GET
// /admin/dashboard/state and as a snapshot then deltas by the SSE feed (admin/events.ts).
// It names upstreams by id and origin only: no URL paths, API keys or virtual keys.
import type { Snapshot } from '../config/snapshot.js'
import type { KeyUsageRow } from '../observability/key-usage.js'
import type { Percentiles, SeriesPoint, Totals } from '../observability/live-series.js'
import type { LiveStats } from '../observability/live-stats.js'
import type { RecentRequest } from '../observability/recent-requests.js'
import type { UpstreamState } from '../routing/upstream.js'

/** Seconds per chart point. */
export const SERIES_STEP = 10

export interface UpstreamView {
  readonly id: string
  readonly origin: string
  readonly state: UpstreamState
  readonly inflight: number
  readonly max_concurrency: number | null
  /** Peak-EWMA time to first byte, ms (0 before the first response). */
  readonly latency_ms: number
  readonly tokens_per_s: number
  readonly requests_per_s: number
  readonly errors_per_s: number
  readonly weight: number
  /** Attempts and failed attempts since the upstream was created. */
  readonly attempts: number
  readonly failures: number
}

export interface PoolView {
  readonly model: string
  readonly strategy: string
  readonly up: number
  readonly inflight: number
  readonly upstreams: UpstreamView[]
}

export interface DashboardState {
  /** The server's clock, epoch ms. */
  readonly now: number
  readonly window_s: number
  readonly pools: PoolView[]
  readonly totals: { readonly last_minute: Totals; readonly last_hour: Totals }
  readonly ttft: { readonly last_5m: Percentiles; readonly last_hour: Percentiles }
  /** Points of `step` seconds; a delta carries only the points that changed. */
  readonly series: { readonly step: number; readonly points: SeriesPoint[] }
  /** Newest first; a delta carries only those after the last `recent_seq` sent. */
  readonly recent: RecentRequest[]
  readonly recent_seq: number
  readonly top_keys: KeyUsageRow[]
}

/** Where the client is: the last snapshot or delta it was sent. */
export interface FeedCursor {
  /** Epoch ms the last state was built at. */
  readonly at: number
  readonly recentSeq: number
}

/**
 * Builds the state. With a cursor, only the series points from the step holding
 * `cursor.at` on and the requests after `cursor.recentSeq` are included.
 */
export function dashboardState(snapshot: Snapshot, stats: LiveStats, cursor?: FeedCursor): DashboardState {
  const now = stats.now()
  const window = stats.windowSeconds
  return {
    now,
    window_s: window,
    pools: [...snapshot.routes.routes].map((route) => {
      const upstreams = route.pool.members.map((u): UpstreamView => {
        const rates = stats.upstreamRates(u)
        return {
          id: u.id,
          origin: u.origin,
          state: u.state(now),
          inflight: u.inflight,
          max_concurrency: u.maxConcurrency ?? null,
          latency_ms: Math.round(u.latencyEwma * 10) / 10,
          tokens_per_s: rates.tokens_per_s,
          requests_per_s: rates.requests_per_s,
          errors_per_s: rates.errors_per_s,
          weight: u.configuredWeight,
          attempts: u.requests,
          failures: u.failures,
        }
      })
      return {
        model: route.name,
        strategy: route.config.strategy,
        up: upstreams.filter((u) => u.state === 'healthy').length,
        inflight: upstreams.reduce((n, u) => n + u.inflight, 0),
        upstreams,
      }
    }),
    totals: { last_minute: stats.totals(60), last_hour: stats.totals(window) },
    ttft: { last_5m: stats.ttft(300), last_hour: stats.ttft(window) },
    series: { step: SERIES_STEP, points: stats.points(SERIES_STEP, cursor?.at ?? 0) },
    recent: stats.recent(cursor?.recentSeq ?? 0),
    recent_seq: stats.recentSeq,
    top_keys: stats.topKeys(10),
  }
}
