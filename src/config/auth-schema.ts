// Config for virtual keys (`auth:`) and the embedded store that holds run-time keys and
// spend (`store:`).
import { z } from 'zod'
import { limitSetSchema } from './limits-schema.js'

/** Key names: no ':' or '/', so they can be part of counter ids. */
export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/
export const keyName = z.string().regex(KEY_NAME, {
  message: 'must be 1-64 letters, digits and . _ @ - (starting with a letter or digit)',
})

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/

/**
 * An expiry date → epoch ms. A bare date (2027-06-30) is valid through the end of that day,
 * UTC; a full ISO timestamp is taken as written.
 */
export function parseExpiry(value: string | Date): number {
  if (value instanceof Date) return value.getTime()
  const v = value.trim()
  return DATE_ONLY.test(v) ? Date.parse(`${v}T23:59:59.999Z`) : Date.parse(v)
}

export const expirySchema = z.union([z.string(), z.date()]).transform((v, ctx) => {
  const at = parseExpiry(v)
  if (Number.isNaN(at)) {
    ctx.issues.push({ code: 'custom', input: v, message: 'must be a date like 2027-06-30 or an ISO timestamp' })
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

export type KeyConfig = z.output<typeof keySchema>
export type AuthConfig = z.output<typeof authSchema>
export type StoreConfig = z.output<typeof storeSchema>

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
