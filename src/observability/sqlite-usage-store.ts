// SQLite usage store (the default): the embedded file, written by a worker thread.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { ReportQuery, ReportRow, UsageStore } from './usage-store.js'
import type { UsageRows } from './usage-batch.js'
import type { WorkerReply, WorkerRequest } from './sqlite-usage-worker.js'

type Pending = { resolve(v: unknown): void; reject(e: Error): void }
type Op = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never

/** The compiled worker; tests that import the TypeScript sources use the build's copy. */
function workerFile(): string {
  const here = fileURLToPath(new URL('./sqlite-usage-worker.js', import.meta.url))
  return existsSync(here) ? here : fileURLToPath(new URL('../../dist/src/observability/sqlite-usage-worker.js', import.meta.url))
}

export class SqliteUsageStore implements UsageStore {
  readonly kind = 'sqlite'
  private readonly worker: Worker
  private readonly pending = new Map<number, Pending>()
  private nextId = 0
  private exited: Error | undefined

  constructor(
    readonly file: string,
    options: { readonly?: boolean } = {}
  ) {
    this.worker = new Worker(workerFile(), { workerData: { file, readonly: options.readonly === true } })
    this.worker.unref()
    this.worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id)
      if (p === undefined) return
      this.pending.delete(reply.id)
      if (this.pending.size === 0) this.worker.unref()
      if (reply.ok) p.resolve(reply.value)
      else p.reject(new Error(reply.error))
    })
    const fail = (err: Error): void => {
      this.exited = err
      for (const p of this.pending.values()) p.reject(err)
      this.pending.clear()
    }
    this.worker.on('error', fail)
    this.worker.on('exit', (code) => fail(new Error(`usage worker exited (${code})`)))
  }

  private call(op: Op): Promise<unknown> {
    if (this.exited !== undefined) return Promise.reject(this.exited)
    const id = this.nextId++
    // Referenced only while a call is outstanding: an idle store never keeps the process up.
    if (this.pending.size === 0) this.worker.ref()
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      // A structured clone, made here and now: the rows' typed arrays are copied as blocks.
      this.worker.postMessage({ ...op, id })
    })
  }

  async init(): Promise<void> {
    await this.call({ op: 'init' })
  }

  async insert(rows: UsageRows): Promise<void> {
    if (rows.count === 0) return
    await this.call({ op: 'insert', rows })
  }

  async deleteBefore(time: number): Promise<number> {
    return (await this.call({ op: 'deleteBefore', time })) as number
  }

  async report(query: ReportQuery): Promise<ReportRow[]> {
    return (await this.call({ op: 'report', query })) as ReportRow[]
  }

  async close(): Promise<void> {
    if (this.exited === undefined) {
      await this.call({ op: 'close' }).catch(() => undefined)
      await this.worker.terminate()
    }
  }
}
