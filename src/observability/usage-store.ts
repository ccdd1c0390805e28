// The usage store: one row per model request, written in batches off the request path by
// UsageRecorder, read back by `switchyard usage`. Two implementations share one schema and
// one conformance suite: embedded SQLite (default) and PostgreSQL (fleets).
import type { UsageConfig } from '../config/observability.js'
import type { UsageRows } from './usage-batch.js'

/** One request, as stored. Times are epoch ms; durations ms. */
export interface UsageRecord {
  readonly time: number
  readonly request_id: string
  readonly key_name: string | null
  readonly endpoint: string
  /** The model the client asked for. */
  readonly model: string | null
  /** The model that served (differs after a fallback); prices are looked up by it. */
  readonly served_model: string | null
  readonly upstream: string | null
  readonly stream: boolean
  /** 499 when the client left early. */
  readonly status: number
  readonly error: string | null
  readonly prompt_tokens: number
  readonly completion_tokens: number
  /** The upstream reported no usage; the gateway estimated it. */
  readonly usage_estimated: boolean
  readonly cost_usd: number
  /** Time to the first response byte; null when nothing was sent. */
  readonly ttft_ms: number | null
  readonly duration_ms: number
  readonly retries: number
}

export type GroupBy = 'key' | 'model' | 'upstream' | 'day'
export const GROUP_BY: readonly GroupBy[] = ['key', 'model', 'upstream', 'day']

export interface ReportQuery {
  readonly by: GroupBy
  /** Rows at or after this epoch ms. */
  readonly since: number
}

/** One group of the report. Time to first token covers successful streams only. */
export interface ReportRow {
  readonly group: string
  readonly requests: number
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly cost_usd: number
  /** Status ≥ 400, except 499 (the client left). */
  readonly errors: number
  readonly error_rate: number
  /** Requests whose usage the gateway estimated. */
  readonly estimated: number
  readonly ttft_p50_ms: number | null
  readonly ttft_p95_ms: number | null
}

export interface UsageStore {
  readonly kind: 'sqlite' | 'postgres'
  /** Creates the table and index when missing; safe to call again after a failure. */
  init(): Promise<void>
  /** Writes the rows in one transaction: all or none. `rows` must not change until it settles. */
  insert(rows: UsageRows): Promise<void>
  /** Deletes rows older than `time`; resolves to how many. */
  deleteBefore(time: number): Promise<number>
  report(query: ReportQuery): Promise<ReportRow[]>
  close(): Promise<void>
}

/** The configured store: PostgreSQL when `postgres` is set, else the SQLite file. */
export async function openUsageStore(config: UsageConfig, options: { readonly?: boolean } = {}): Promise<UsageStore> {
  if (config.postgres !== undefined) {
    const { PostgresUsageStore } = await import('./postgres-usage-store.js')
    return new PostgresUsageStore(config.postgres)
  }
  const { SqliteUsageStore } = await import('./sqlite-usage-store.js')
  return new SqliteUsageStore(config.sqlite, options)
}
