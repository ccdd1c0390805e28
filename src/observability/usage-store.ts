// The usage store: one row per model request, written in batches off the request path by
// UsageRecorder, read back by `switchyard usage`. Two implementations share one schema and
// one conformance suite: embedded SQLite (default) and PostgreSQL (fleets).
import type { UsageConfig } from '../config/observability.js'
import { costUsd } from '../config/prices.js'
import type { RequestContext } from '../server/context.js'
import { errorType, reportedStatus } from './access-log.js'

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
  /** Writes the rows in one transaction: all or none. */
  insert(rows: readonly UsageRecord[]): Promise<void>
  /** Deletes rows older than `time`; resolves to how many. */
  deleteBefore(time: number): Promise<number>
  report(query: ReportQuery): Promise<ReportRow[]>
  close(): Promise<void>
}

/** The row for a finished request (built in the onResponse hook: no I/O). */
export function usageRecordOf(ctx: RequestContext): UsageRecord {
  const usage = ctx.usage
  const served = ctx.upstream === undefined ? undefined : ctx.servedModel
  return {
    time: ctx.startTime,
    request_id: ctx.id,
    key_name: ctx.keyName ?? null,
    endpoint: ctx.endpoint ?? '',
    model: ctx.model ?? null,
    served_model: served ?? null,
    upstream: ctx.upstream?.id ?? null,
    stream: ctx.stream,
    status: reportedStatus(ctx),
    error: errorType(ctx),
    prompt_tokens: usage?.prompt_tokens ?? 0,
    completion_tokens: usage?.completion_tokens ?? 0,
    usage_estimated: ctx.usageEstimated,
    cost_usd: costUsd(ctx.snapshot.config.prices, served ?? ctx.model, usage),
    ttft_ms: ctx.firstByteMs >= 0 ? ctx.firstByteMs : null,
    duration_ms: ctx.durationMs,
    retries: ctx.retries,
  }
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
