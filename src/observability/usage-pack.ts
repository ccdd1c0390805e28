// Usage rows on their way to the SQLite worker: a structured clone of 500 objects cost more
// CPU per request than the rest of the usage path, so a batch travels as one string (every
// text value, back to back) and one transferred Float64Array (every number, and each text's
// length, -1 for null). Packing is a loop of plain writes; the transfer copies nothing.
import { USAGE_COLUMNS } from './usage-sql.js'
import type { UsageRecord } from './usage-store.js'

/** A batch of usage rows, ready for postMessage (transfer `numbers.buffer`). */
export interface PackedRows {
  readonly count: number
  readonly text: string
  readonly numbers: Float64Array
}

/** Per row: the 10 numeric columns, then the lengths of the 7 text columns. */
const PER_ROW = 17
const TEXT_COLUMNS = 7

function len(s: string | null): number {
  return s === null ? -1 : s.length
}

export function packRows(rows: readonly UsageRecord[]): PackedRows {
  const numbers = new Float64Array(rows.length * PER_ROW)
  let text = ''
  let k = 0
  for (const r of rows) {
    numbers[k++] = r.time
    numbers[k++] = r.stream ? 1 : 0
    numbers[k++] = r.status
    numbers[k++] = r.prompt_tokens
    numbers[k++] = r.completion_tokens
    numbers[k++] = r.usage_estimated ? 1 : 0
    numbers[k++] = r.cost_usd
    numbers[k++] = r.ttft_ms === null ? Number.NaN : r.ttft_ms
    numbers[k++] = r.duration_ms
    numbers[k++] = r.retries
    numbers[k++] = len(r.request_id)
    numbers[k++] = len(r.key_name)
    numbers[k++] = len(r.endpoint)
    numbers[k++] = len(r.model)
    numbers[k++] = len(r.served_model)
    numbers[k++] = len(r.upstream)
    numbers[k++] = len(r.error)
    text += r.request_id + (r.key_name ?? '') + r.endpoint + (r.model ?? '') + (r.served_model ?? '') + (r.upstream ?? '') + (r.error ?? '')
  }
  return { count: rows.length, text, numbers }
}

/**
 * Calls `visit` with each row's values in USAGE_COLUMNS order (what the insert statement
 * binds). The array is reused from row to row: copy it to keep it.
 */
export function forEachRow(packed: PackedRows, visit: (values: readonly (string | number | null)[]) => void): void {
  const { numbers: n, text } = packed
  const v = new Array<string | number | null>(USAGE_COLUMNS.length).fill(null)
  let pos = 0
  const take = (length: number): string | null => {
    if (length < 0) return null
    const s = text.slice(pos, pos + length)
    pos += length
    return s
  }
  for (let i = 0, k = 0; i < packed.count; i++, k += PER_ROW) {
    const t = k + PER_ROW - TEXT_COLUMNS
    const ttft = n[k + 7]!
    // USAGE_COLUMNS order.
    v[0] = n[k]!
    v[1] = take(n[t]!)
    v[2] = take(n[t + 1]!)
    v[3] = take(n[t + 2]!)
    v[4] = take(n[t + 3]!)
    v[5] = take(n[t + 4]!)
    v[6] = take(n[t + 5]!)
    v[7] = n[k + 1]!
    v[8] = n[k + 2]!
    v[9] = take(n[t + 6]!)
    v[10] = n[k + 3]!
    v[11] = n[k + 4]!
    v[12] = n[k + 5]!
    v[13] = n[k + 6]!
    v[14] = Number.isNaN(ttft) ? null : ttft
    v[15] = n[k + 8]!
    v[16] = n[k + 9]!
    visit(v)
  }
}

/** The rows as value arrays in USAGE_COLUMNS order. */
export function unpackRows(packed: PackedRows): (string | number | null)[][] {
  const rows: (string | number | null)[][] = []
  forEachRow(packed, (values) => rows.push([...values]))
  return rows
}

// The unpacked order above is written out by hand: fail loudly at load if the schema moves.
if (USAGE_COLUMNS.join() !== 'time,request_id,key_name,endpoint,model,served_model,upstream,stream,status,error,prompt_tokens,completion_tokens,usage_estimated,cost_usd,ttft_ms,duration_ms,retries') {
  throw new Error('usage-pack.ts is out of step with USAGE_COLUMNS')
}
