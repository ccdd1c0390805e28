// The SQLite usage table, synchronously (better-sqlite3). Runs inside the usage worker
// thread (sqlite-usage-worker.ts), never on the gateway's event loop: a 500-row commit
// measured 8 ms at the median and 50 ms at p99 (WAL checkpoints) on the dev machine.
import Database from 'better-sqlite3'
import { forEachRow, type UsageRows } from './usage-batch.js'
import type { ReportQuery, ReportRow } from './usage-store.js'
import { CREATE_USAGE, interpolatePercentiles, percentileRowsSql, toReportRow, totalsSql, USAGE_COLUMNS } from './usage-sql.js'

/** Rows per multi-row INSERT (25 × 17 columns stays far below SQLite's variable limit). */
const MULTI_ROWS = 25

/** Rows deleted per statement by retention, so no single statement holds the write lock long. */
const DELETE_CHUNK = 5_000

export class SqliteUsageDb {
  private readonly db: Database.Database
  private insertStmt: Database.Statement | undefined
  private insertManyStmt: Database.Statement | undefined
  /** The bound values of one multi-row insert, reused. */
  private readonly flat: unknown[] = new Array(MULTI_ROWS * USAGE_COLUMNS.length).fill(null)

  constructor(file: string, options: { readonly?: boolean } = {}) {
    this.db = new Database(file, { readonly: options.readonly === true, fileMustExist: options.readonly === true, timeout: 5_000 })
    if (options.readonly !== true) {
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = NORMAL')
    }
  }

  init(): void {
    for (const sql of CREATE_USAGE) this.db.exec(sql)
    const values = `(${USAGE_COLUMNS.map(() => '?').join(', ')})`
    this.insertStmt = this.db.prepare(`INSERT INTO usage (${USAGE_COLUMNS.join(', ')}) VALUES ${values}`)
    this.insertManyStmt = this.db.prepare(`INSERT INTO usage (${USAGE_COLUMNS.join(', ')}) VALUES ${Array(MULTI_ROWS).fill(values).join(', ')}`)
  }

  /**
   * A batch (see usage-batch.ts), in one transaction, with no array per row: rows go
   * MULTI_ROWS to a statement (40% less CPU per row than one by one), the rest one by one.
   */
  insertRows(rows: UsageRows): void {
    const one = this.insertStmt
    const many = this.insertManyStmt
    if (one === undefined || many === undefined) throw new Error('usage table not initialised')
    const width = USAGE_COLUMNS.length
    const flat = this.flat
    const whole = rows.count - (rows.count % MULTI_ROWS)
    let row = 0
    this.db.transaction(() =>
      forEachRow(rows, (values) => {
        if (row++ >= whole) {
          // Spread, not an array: better-sqlite3 binds positional arguments ~20% faster.
          one.run(...values)
          return
        }
        const at = ((row - 1) % MULTI_ROWS) * width
        for (let c = 0; c < width; c++) flat[at + c] = values[c]!
        if (row % MULTI_ROWS === 0) many.run(...flat)
      })
    )()
  }

  deleteBefore(time: number): number {
    const stmt = this.db.prepare(`DELETE FROM usage WHERE rowid IN (SELECT rowid FROM usage WHERE time < ? LIMIT ${DELETE_CHUNK})`)
    let total = 0
    for (;;) {
      const n = stmt.run(time).changes
      total += n
      if (n < DELETE_CHUNK) return total
    }
  }

  report(q: ReportQuery): ReportRow[] {
    if (!this.hasTable()) return []
    const totals = this.db.prepare(sqlite(totalsSql(q.by, 'sqlite', false))).all(q.since) as Record<string, unknown>[]
    const pct = interpolatePercentiles(
      this.db.prepare(sqlite(percentileRowsSql(q.by))).all(q.since) as { grp: string; rn: number; n: number; v: number }[]
    )
    return totals.map((r) => {
      const p = pct.get(String(r.grp))
      return toReportRow(r, p?.[0], p?.[1])
    })
  }

  close(): void {
    this.db.close()
  }

  private hasTable(): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'usage'").get() !== undefined
  }
}

/** `$1` → `?` (each report statement uses its one parameter once). */
function sqlite(sql: string): string {
  return sql.replaceAll('$1', '?')
}
