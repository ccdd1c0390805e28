// The usage worker thread: owns the SQLite connection and runs each request of
// SqliteUsageStore in turn, so no write, checkpoint or lock wait stalls the gateway.
import { parentPort, workerData } from 'node:worker_threads'
import { SqliteUsageDb } from './sqlite-usage-db.js'
import type { UsageRows } from './usage-batch.js'
import type { ReportQuery } from './usage-store.js'

export type WorkerRequest =
  | { readonly id: number; readonly op: 'init' }
  | { readonly id: number; readonly op: 'insert'; readonly rows: UsageRows }
  | { readonly id: number; readonly op: 'deleteBefore'; readonly time: number }
  | { readonly id: number; readonly op: 'report'; readonly query: ReportQuery }
  | { readonly id: number; readonly op: 'close' }

export type WorkerReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: string }

const { file, readonly } = workerData as { file: string; readonly: boolean }
let db: SqliteUsageDb | undefined

function run(req: WorkerRequest): unknown {
  db ??= new SqliteUsageDb(file, { readonly })
  switch (req.op) {
    case 'init':
      return db.init()
    case 'insert':
      return db.insertRows(req.rows)
    case 'deleteBefore':
      return db.deleteBefore(req.time)
    case 'report':
      return db.report(req.query)
    case 'close':
      db.close()
      db = undefined
      return undefined
  }
}

parentPort!.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply
  try {
    reply = { id: req.id, ok: true, value: run(req) }
  } catch (err) {
    reply = { id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }
  }
  parentPort!.postMessage(reply)
})
