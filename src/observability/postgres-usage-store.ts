// PostgreSQL usage store (fleets: every gateway writes to one database). The same table
// and report as SQLite; percentiles by percentile_cont. The table is created on first use.
import pg from 'pg'
import type { ReportQuery, ReportRow, UsageStore } from './usage-store.js'
import { rowValueArrays, type UsageRows } from './usage-batch.js'
import { CREATE_USAGE, toReportRow, totalsSql, USAGE_COLUMNS } from './usage-sql.js'

/** Postgres allows 65535 parameters per statement. */
const MAX_ROWS_PER_INSERT = Math.floor(65_535 / USAGE_COLUMNS.length)

export class PostgresUsageStore implements UsageStore {
  readonly kind = 'postgres'
  private readonly pool: pg.Pool
  /** The last error the pool reported on an idle connection (a server restart, say). */
  lastPoolError: Error | undefined

  constructor(connectionString: string) {
    this.pool = new pg.Pool({
      connectionString,
      max: 2,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      query_timeout: 30_000,
      allowExitOnIdle: true,
    })
    // An idle client losing its server emits here; without a listener it would crash the process.
    this.pool.on('error', (err) => {
      this.lastPoolError = err
    })
  }

  async init(): Promise<void> {
    for (const sql of CREATE_USAGE) {
      try {
        await this.pool.query(sql)
      } catch (err) {
        // Two gateways creating the table at once: the loser sees a duplicate, which is fine.
        const code = (err as { code?: string }).code
        if (code !== '23505' && code !== '42P07') throw err
      }
    }
  }

  async insert(batch: UsageRows): Promise<void> {
    if (batch.count === 0) return
    // Read now: the batch is the caller's again once this settles.
    const rows = rowValueArrays(batch)
    const client = await this.pool.connect()
    try {
      await client.query('BEGIN')
      for (let i = 0; i < rows.length; i += MAX_ROWS_PER_INSERT) {
        const chunk = rows.slice(i, i + MAX_ROWS_PER_INSERT)
        const values: unknown[] = []
        const tuples: string[] = []
        for (const r of chunk) {
          const base = values.length
          values.push(...r)
          tuples.push(`(${USAGE_COLUMNS.map((_, j) => `$${base + j + 1}`).join(', ')})`)
        }
        await client.query(`INSERT INTO usage (${USAGE_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`, values)
      }
      await client.query('COMMIT')
      client.release()
    } catch (err) {
      // A broken connection is not returned to the pool.
      await client.query('ROLLBACK').catch(() => undefined)
      client.release(err as Error)
      throw err
    }
  }

  async deleteBefore(time: number): Promise<number> {
    const res = await this.pool.query('DELETE FROM usage WHERE time < $1', [time])
    return res.rowCount ?? 0
  }

  async report(query: ReportQuery): Promise<ReportRow[]> {
    const exists = await this.pool.query<{ present: boolean }>("SELECT to_regclass('usage') IS NOT NULL AS present")
    if (exists.rows[0]?.present !== true) return []
    const res = await this.pool.query(totalsSql(query.by, 'postgres', true), [query.since])
    return res.rows.map((r: Record<string, unknown>) => toReportRow(r, r.ttft_p50_ms, r.ttft_p95_ms))
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}
