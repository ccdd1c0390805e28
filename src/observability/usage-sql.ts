// The SQL both usage stores speak: one schema, one insert, one report; the two dialects
// differ only in the day expression, placeholders and how percentiles are computed.
import type { GroupBy, ReportRow } from './usage-store.js'

export const USAGE_COLUMNS = [
  'time',
  'request_id',
  'key_name',
  'endpoint',
  'model',
  'served_model',
  'upstream',
  'stream',
  'status',
  'error',
  'prompt_tokens',
  'completion_tokens',
  'usage_estimated',
  'cost_usd',
  'ttft_ms',
  'duration_ms',
  'retries',
] as const

/** Portable DDL: SQLite maps each type to its affinity. The key store may share the file, never this table. */
export const CREATE_USAGE = [
  `CREATE TABLE IF NOT EXISTS usage (
    time BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    key_name TEXT,
    endpoint TEXT NOT NULL,
    model TEXT,
    served_model TEXT,
    upstream TEXT,
    stream SMALLINT NOT NULL,
    status INTEGER NOT NULL,
    error TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    usage_estimated SMALLINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    ttft_ms DOUBLE PRECISION,
    duration_ms DOUBLE PRECISION NOT NULL,
    retries INTEGER NOT NULL
  )`,
  'CREATE INDEX IF NOT EXISTS usage_time ON usage (time)',
]

export type Dialect = 'sqlite' | 'postgres'

/** The grouping expression of each report dimension (days in UTC). */
export function groupExpression(by: GroupBy, dialect: Dialect): string {
  switch (by) {
    case 'key':
      return "COALESCE(key_name, '-')"
    case 'model':
      return "COALESCE(model, '-')"
    case 'upstream':
      return "COALESCE(served_model, '-') || '/' || COALESCE(upstream, '-')"
    case 'day':
      return dialect === 'sqlite'
        ? "strftime('%Y-%m-%d', time / 1000, 'unixepoch')"
        : "to_char(to_timestamp(time / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
  }
}

/** Which rows time to first token is reported over: successful streams (not one that broke after its 200). */
export const TTFT_ROWS = 'stream = 1 AND status >= 200 AND status < 300 AND error IS NULL AND ttft_ms IS NOT NULL'
/** Errors: answered ≥ 400 but for 499 (the client left), or a 200 stream that broke. */
const ERROR = 'CASE WHEN (status >= 400 AND status <> 499) OR (status < 400 AND error IS NOT NULL) THEN 1 ELSE 0 END'

/** Totals per group; `$1` is the since-time (SQLite reads it as a numbered parameter too). */
export function totalsSql(by: GroupBy, dialect: Dialect, withPercentiles: boolean): string {
  const g = groupExpression(by, dialect)
  const pct = withPercentiles
    ? `,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY ttft_ms) FILTER (WHERE ${TTFT_ROWS}) AS ttft_p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY ttft_ms) FILTER (WHERE ${TTFT_ROWS}) AS ttft_p95_ms`
    : ''
  return `SELECT ${g} AS grp, COUNT(*) AS requests, SUM(prompt_tokens) AS prompt_tokens,
    SUM(completion_tokens) AS completion_tokens, SUM(cost_usd) AS cost_usd,
    SUM(${ERROR}) AS errors, SUM(usage_estimated) AS estimated${pct}
  FROM usage WHERE time >= $1 GROUP BY grp ORDER BY grp`
}

export const PERCENTILES = [0.5, 0.95] as const

/**
 * For engines without percentile_cont (SQLite): only the rows on either side of each
 * percentile's position, per group. The database sorts; at most four rows per group
 * come back, whatever the traffic.
 */
export function percentileRowsSql(by: GroupBy): string {
  const g = groupExpression(by, 'sqlite')
  const positions = PERCENTILES.flatMap((p) => [`CAST(${p} * (n - 1) AS INTEGER) + 1`, `CAST(${p} * (n - 1) AS INTEGER) + 2`])
  return `WITH ranked AS (
    SELECT ${g} AS grp, ttft_ms AS v,
      ROW_NUMBER() OVER (PARTITION BY ${g} ORDER BY ttft_ms) AS rn,
      COUNT(*) OVER (PARTITION BY ${g}) AS n
    FROM usage WHERE time >= $1 AND ${TTFT_ROWS}
  )
  SELECT grp, rn, n, v FROM ranked WHERE rn IN (${positions.join(', ')})`
}

/** percentile_cont's linear interpolation over the rows percentileRowsSql returned. */
export function interpolatePercentiles(rows: readonly { grp: string; rn: number; n: number; v: number }[]): Map<string, [number, number]> {
  const byGroup = new Map<string, { n: number; at: Map<number, number> }>()
  for (const r of rows) {
    let g = byGroup.get(r.grp)
    if (g === undefined) byGroup.set(r.grp, (g = { n: r.n, at: new Map() }))
    g.at.set(r.rn, r.v)
  }
  const out = new Map<string, [number, number]>()
  for (const [grp, { n, at }] of byGroup) {
    const value = (p: number): number => {
      const pos = p * (n - 1)
      const lo = Math.floor(pos)
      const a = at.get(lo + 1)!
      const b = at.get(lo + 2) ?? a
      return a + (pos - lo) * (b - a)
    }
    out.set(grp, [value(PERCENTILES[0]), value(PERCENTILES[1])])
  }
  return out
}

/** A totals row from either driver (Postgres returns bigints as strings) → ReportRow. */
export function toReportRow(r: Record<string, unknown>, p50: unknown, p95: unknown): ReportRow {
  const requests = Number(r.requests)
  const errors = Number(r.errors ?? 0)
  return {
    group: String(r.grp),
    requests,
    prompt_tokens: Number(r.prompt_tokens ?? 0),
    completion_tokens: Number(r.completion_tokens ?? 0),
    cost_usd: Number(r.cost_usd ?? 0),
    errors,
    error_rate: requests === 0 ? 0 : errors / requests,
    estimated: Number(r.estimated ?? 0),
    ttft_p50_ms: p50 === null || p50 === undefined ? null : Number(p50),
    ttft_p95_ms: p95 === null || p95 === undefined ? null : Number(p95),
  }
}
