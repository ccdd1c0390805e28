// Usage rows held column-wise from the moment they are recorded: the numbers in one
// Float64Array, request ids as UTF-8 bytes, and the few distinct texts (key, endpoint,
// model, upstream, error) once per batch in a small dictionary. A buffered row is no JS
// object: a row object (and its request-id string) waiting ~100 ms for its batch survived
// young-generation collections and was copied into the old generation, which cost more CPU
// than building it. A batch crosses to the SQLite worker as a structured clone of typed
// arrays (one block copy each) and a short string list.
import { costUsd } from '../config/prices.js'
import type { RequestContext } from '../server/context.js'
import { errorType, reportedStatus } from './access-log.js'
import { USAGE_COLUMNS } from './usage-sql.js'
import type { UsageRecord } from './usage-store.js'

// Slots of one row in `numbers`.
const TIME = 0
const STREAM = 1
const STATUS = 2
const PROMPT = 3
const COMPLETION = 4
const ESTIMATED = 5
const COST = 6
/** NaN = null. */
const TTFT = 7
const DURATION = 8
const RETRIES = 9
// Texts: an index into `strings`, -1 = null.
const KEY = 10
const ENDPOINT = 11
const MODEL = 12
const SERVED = 13
const UPSTREAM = 14
const ERROR = 15
/** Where the row's request id ends in `ids` (it starts where the previous row's ends). */
const ID_END = 16
const SLOTS = 17

/** Rows as plain data: what a store receives (and what postMessage clones). */
export interface UsageRows {
  readonly count: number
  /** SLOTS numbers per row (see the slot constants above). */
  readonly numbers: Float64Array
  /** The request ids, UTF-8, back to back. */
  readonly ids: Uint8Array
  readonly strings: readonly string[]
}

/** A UUID is 36 bytes; ids sent by clients may be longer (the buffer grows). */
const ID_BYTES = 40

/** Up to `capacity` rows, appended one by one; reusable after clear(). */
export class UsageBatch {
  count = 0
  private readonly numbers: Float64Array
  private ids: Buffer
  private idEnd = 0
  private strings: string[] = []
  private readonly index = new Map<string, number>()
  /** Per text column, the last value and its index: consecutive rows mostly repeat them. */
  private readonly lastText: (string | null | undefined)[] = [null, null, null, null, null, null] // null ↔ -1
  private readonly lastIndex: number[] = [-1, -1, -1, -1, -1, -1]

  constructor(readonly capacity: number) {
    this.numbers = new Float64Array(capacity * SLOTS)
    this.ids = Buffer.allocUnsafe(capacity * ID_BYTES)
  }

  get full(): boolean {
    return this.count >= this.capacity
  }

  /** The row of a finished request, read straight from its context (the onResponse hook). */
  addRequest(ctx: RequestContext): void {
    const usage = ctx.usage
    const upstream = ctx.upstream
    // Prices follow the model that served; with no upstream reached, nothing served.
    const served = upstream === undefined ? undefined : ctx.servedModel
    const n = this.numbers
    const k = this.count * SLOTS
    n[k + TIME] = ctx.startTime
    n[k + STREAM] = ctx.stream ? 1 : 0
    n[k + STATUS] = reportedStatus(ctx)
    n[k + PROMPT] = usage === undefined ? 0 : usage.prompt_tokens
    n[k + COMPLETION] = usage === undefined ? 0 : usage.completion_tokens
    n[k + ESTIMATED] = ctx.usageEstimated ? 1 : 0
    n[k + COST] = costUsd(ctx.snapshot.config.prices, served ?? ctx.model, usage)
    n[k + TTFT] = ctx.firstByteMs >= 0 ? ctx.firstByteMs : Number.NaN
    n[k + DURATION] = ctx.durationMs
    n[k + RETRIES] = ctx.retries
    n[k + KEY] = this.textIn(0, ctx.keyName)
    n[k + ENDPOINT] = this.textIn(1, ctx.endpoint ?? '')
    n[k + MODEL] = this.textIn(2, servedName(ctx))
    n[k + SERVED] = this.textIn(3, served)
    n[k + UPSTREAM] = this.textIn(4, upstream?.id)
    n[k + ERROR] = this.textIn(5, errorType(ctx))
    n[k + ID_END] = this.writeId(ctx.id)
    this.count++
  }

  /** A row given as a record (tests, tools). */
  add(r: UsageRecord): void {
    const n = this.numbers
    const k = this.count * SLOTS
    n[k + TIME] = r.time
    n[k + STREAM] = r.stream ? 1 : 0
    n[k + STATUS] = r.status
    n[k + PROMPT] = r.prompt_tokens
    n[k + COMPLETION] = r.completion_tokens
    n[k + ESTIMATED] = r.usage_estimated ? 1 : 0
    n[k + COST] = r.cost_usd
    n[k + TTFT] = r.ttft_ms ?? Number.NaN
    n[k + DURATION] = r.duration_ms
    n[k + RETRIES] = r.retries
    n[k + KEY] = this.textIn(0, r.key_name)
    n[k + ENDPOINT] = this.textIn(1, r.endpoint)
    n[k + MODEL] = this.textIn(2, r.model)
    n[k + SERVED] = this.textIn(3, r.served_model)
    n[k + UPSTREAM] = this.textIn(4, r.upstream)
    n[k + ERROR] = this.textIn(5, r.error)
    n[k + ID_END] = this.writeId(r.request_id)
    this.count++
  }

  /**
   * The rows so far, as views of this batch (no copy): the batch must not change until the
   * store is done with them. postMessage clones them at once; the PostgreSQL store reads them
   * before its insert resolves, and the recorder appends only to another batch meanwhile.
   */
  rows(): UsageRows {
    return { count: this.count, numbers: this.numbers.subarray(0, this.count * SLOTS), ids: this.ids.subarray(0, this.idEnd), strings: this.strings }
  }

  clear(): void {
    this.count = 0
    this.idEnd = 0
    this.strings = []
    this.index.clear()
    this.lastText.fill(null)
    this.lastIndex.fill(-1)
  }

  /** The index of text column `col`'s value (the last one's again without a lookup). */
  private textIn(col: number, s: string | null | undefined): number {
    if (s === this.lastText[col]) return this.lastIndex[col]!
    const i = this.text(s)
    this.lastText[col] = s
    this.lastIndex[col] = i
    return i
  }

  private text(s: string | null | undefined): number {
    if (s === null || s === undefined) return -1
    let i = this.index.get(s)
    if (i === undefined) {
      i = this.strings.length
      this.strings.push(s)
      this.index.set(s, i)
    }
    return i
  }

  private writeId(id: string): number {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (this.idEnd + id.length * 3 > this.ids.length) {
      const next = Buffer.allocUnsafe(Math.max(this.ids.length * 2, this.idEnd + id.length * 3))
      this.ids.copy(next, 0, 0, this.idEnd)
      this.ids = next
    }
    this.idEnd += this.ids.write(id, this.idEnd)
    return this.idEnd
  }
}

/** Records as rows (tests, and stores fed records). */
export function usageRows(records: readonly UsageRecord[]): UsageRows {
  const batch = new UsageBatch(Math.max(1, records.length))
  for (const r of records) batch.add(r)
  return batch.rows()
}

/**
 * Calls `visit` with each row's values in USAGE_COLUMNS order (what an insert binds). The
 * array is reused from row to row: copy it to keep it.
 */
export function forEachRow(rows: UsageRows, visit: (values: readonly (string | number | null)[]) => void): void {
  const { numbers: n, strings } = rows
  const ids = Buffer.from(rows.ids.buffer, rows.ids.byteOffset, rows.ids.byteLength)
  const v = new Array<string | number | null>(USAGE_COLUMNS.length).fill(null)
  const text = (i: number): string | null => (i < 0 ? null : strings[i]!)
  let idStart = 0
  for (let r = 0, k = 0; r < rows.count; r++, k += SLOTS) {
    const idEnd = n[k + ID_END]!
    const ttft = n[k + TTFT]!
    // USAGE_COLUMNS order.
    v[0] = n[k + TIME]!
    v[1] = ids.toString('utf8', idStart, idEnd)
    v[2] = text(n[k + KEY]!)
    v[3] = text(n[k + ENDPOINT]!)
    v[4] = text(n[k + MODEL]!)
    v[5] = text(n[k + SERVED]!)
    v[6] = text(n[k + UPSTREAM]!)
    v[7] = n[k + STREAM]!
    v[8] = n[k + STATUS]!
    v[9] = text(n[k + ERROR]!)
    v[10] = n[k + PROMPT]!
    v[11] = n[k + COMPLETION]!
    v[12] = n[k + ESTIMATED]!
    v[13] = n[k + COST]!
    v[14] = Number.isNaN(ttft) ? null : ttft
    v[15] = n[k + DURATION]!
    v[16] = n[k + RETRIES]!
    idStart = idEnd
    visit(v)
  }
}

/** The rows as value arrays in USAGE_COLUMNS order. */
export function rowValueArrays(rows: UsageRows): (string | number | null)[][] {
  const out: (string | number | null)[][] = []
  forEachRow(rows, (values) => out.push([...values]))
  return out
}

/** The rows as records (tests, fake stores). */
export function recordsOf(rows: UsageRows): UsageRecord[] {
  return rowValueArrays(rows).map((v) => ({
    time: v[0] as number,
    request_id: v[1] as string,
    key_name: v[2] as string | null,
    endpoint: v[3] as string,
    model: v[4] as string | null,
    served_model: v[5] as string | null,
    upstream: v[6] as string | null,
    stream: v[7] === 1,
    status: v[8] as number,
    error: v[9] as string | null,
    prompt_tokens: v[10] as number,
    completion_tokens: v[11] as number,
    usage_estimated: v[12] === 1,
    cost_usd: v[13] as number,
    ttft_ms: v[14] as number | null,
    duration_ms: v[15] as number,
    retries: v[16] as number,
  }))
}

// The column order above is written out by hand: fail loudly at load if the schema moves.
if (USAGE_COLUMNS.join() !== 'time,request_id,key_name,endpoint,model,served_model,upstream,stream,status,error,prompt_tokens,completion_tokens,usage_estimated,cost_usd,ttft_ms,duration_ms,retries') {
  throw new Error('usage-batch.ts is out of step with USAGE_COLUMNS')
}

/**
 * The requested model when the gateway serves it; undefined (shown as `-`) for any other
 * name: those are whatever clients invent, and each would be a group of its own.
 */
function servedName(ctx: RequestContext): string | undefined {
  const model = ctx.model
  if (model === undefined || ctx.route !== undefined) return model
  return ctx.snapshot.routes.resolve(model) === undefined ? undefined : model
}
