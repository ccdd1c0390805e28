// Config for virtual keys (`auth:`) and the embedded store that holds run-time keys and
// spend (`store:`).
import { z } from 'zod'
import { limitSetSchema } from './limits-schema.js'

/** Key names: no ':' or '/', so they can be part of counter ids. */
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/
export const keyName = z.string().regex(KEY_NAME, {
  message: 'must be 1-64 letters, digits and . _ @ - (starting with a letter or digit)',
})

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?([Zz]|([+-])(\d{2}):?(\d{2}))?$/

/**
 * An expiry → epoch ms; NaN when it is not a real date. A bare date (2027-06-30) is valid
 * through the end of that day, UTC; a timestamp is taken at its offset, and as UTC when it
 * names none (so the gateway's time zone never moves a key's end). Checked by hand, not by
 * Date.parse, which rolls 2027-02-31 over into March and reads free text.
 */
export function parseExpiry(value: string | Date): number {
  if (value instanceof Date) return value.getTime()
  const v = value.trim()
  const date = DATE_ONLY.exec(v)
  if (date !== null) return utc(+date[1]!, +date[2]!, +date[3]!, 23, 59, 59, 999)
  const t = TIMESTAMP.exec(v)
  if (t === null) return NaN
  const ms = t[7] === undefined ? 0 : Math.floor(Number(`0${t[7]}`) * 1000)
  const at = utc(+t[1]!, +t[2]!, +t[3]!, +t[4]!, +t[5]!, t[6] === undefined ? 0 : +t[6], ms)
  if (t[9] === undefined) return at
  const offH = +t[10]!
  const offM = +t[11]!
  if (offH > 23 || offM > 59) return NaN
  return at - (t[9] === '-' ? -1 : 1) * (offH * 60 + offM) * 60_000
}

/** Epoch ms of a UTC wall time; NaN unless every field is in range (no day 31 in June). */
function utc(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return NaN
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate()
  if (d > daysInMonth) return NaN
  return Date.UTC(y, mo - 1, d, h, mi, s, ms)
}

const EXPIRY_FORMAT = 'must be a real date like 2027-06-30 or an ISO 8601 timestamp (2027-06-30T18:00:00Z)'

export const expirySchema = z.union([z.string(), z.date()], { error: EXPIRY_FORMAT }).transform((v, ctx) => {
  const at = parseExpiry(v)
  if (Number.isNaN(at)) {
    ctx.issues.push({ code: 'custom', input: v, message: EXPIRY_FORMAT })
    return z.NEVER
  }
  return at
})

export const keySchema = z.strictObject({
  name: keyName,
  /** sha256 of the key, hex: `sha256:9f86d0…`. Never the key itself. */
  hash: z.string().regex(/^sha256:[0-9a-fA-F]{64}$/, { message: 'must be sha256: followed by 64 hex digits' }),
  /** Models the key may use; absent = all. */
  models: z.array(z.string().min(1)).optional(),
  limits: limitSetSchema.optional(),
  /** Spend ceiling in USD (from `prices`); over it → 429 insufficient_quota. */
  budget_usd: z.number().min(0).optional(),
  /** Epoch ms after which the key is refused. */
  expires: expirySchema.optional(),
})

export const authSchema = z.strictObject({
  mode: z.enum(['keys', 'none']).default('keys'),
  keys: z.array(keySchema).default([]),
})

export const storeSchema = z.strictObject({
  /** SQLite file for keys created at run time and spend (relative to the working directory). */
  sqlite: z.string().min(1),
})

type KeyConfig = z.output<typeof keySchema>

/** What checkAccessRefs reads of the whole config. */
interface AccessRefs {
  readonly models: readonly { readonly name: string }[]
  readonly auth?: { readonly keys: readonly KeyConfig[] } | undefined
  readonly limits: { readonly per_model: Readonly<Record<string, unknown>> }
}

/** Cross-section checks: unique key names and hashes; allow-lists and per-model limits name real models. */
export function checkAccessRefs(cfg: AccessRefs, ctx: z.RefinementCtx): void {
  const models = new Set(cfg.models.map((m) => m.name))
  const names = new Set<string>()
  const hashes = new Set<string>()
  cfg.auth?.keys.forEach((k, i) => {
    if (names.has(k.name)) ctx.addIssue({ code: 'custom', path: ['auth', 'keys', i, 'name'], message: `duplicate key name '${k.name}'` })
    names.add(k.name)
    const hash = k.hash.toLowerCase()
    if (hashes.has(hash)) ctx.addIssue({ code: 'custom', path: ['auth', 'keys', i, 'hash'], message: 'the same hash is used by another key' })
    hashes.add(hash)
    k.models?.forEach((m, j) => {
      if (!models.has(m)) ctx.addIssue({ code: 'custom', path: ['auth', 'keys', i, 'models', j], message: `unknown model '${m}'` })
    })
  })
  for (const m of Object.keys(cfg.limits.per_model)) {
    if (!models.has(m)) ctx.addIssue({ code: 'custom', path: ['limits', 'per_model', m], message: `unknown model '${m}'` })
  }
}
