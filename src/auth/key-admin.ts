// Key administration, shared by the admin API (/admin/keys) and the CLI (`switchyard keys`):
// create (checked against the config), list (never a key or a hash), revoke.
import { z } from 'zod'
import { expirySchema, keyName } from '../config/auth-schema.js'
import { formatIssue, issueParam } from '../config/load.js'
import { limitSetSchema } from '../config/limits-schema.js'
import type { Config } from '../config/schema.js'
import { KeyExistsError, type KeyStore, type StoredKey } from './key-store.js'
import { formatKeyHash, generateKey, hashHex } from './keys.js'

/** What a new key may say; `hash` registers a key made elsewhere (then no key is returned). */
export const newKeySchema = z.strictObject({
  name: keyName,
  models: z.array(z.string().min(1)).min(1).optional(),
  limits: limitSetSchema.optional(),
  budget_usd: z.number().min(0).optional(),
  expires: expirySchema.optional(),
  hash: z
    .string()
    .regex(/^sha256:[0-9a-fA-F]{64}$/, { message: 'must be sha256: followed by 64 hex digits' })
    .optional(),
})

/** A refusal with the HTTP status the admin API answers (the CLI prints the message). */
export class KeyAdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The offending field (OpenAI's `param`) and every problem found, for the admin API. */
    readonly detail: { readonly param?: string; readonly issues?: readonly string[] } = {}
  ) {
    super(message)
  }
}

function invalid(param: string, message: string): KeyAdminError {
  return new KeyAdminError(400, `${param}: ${message}`, { param, issues: [`${param}: ${message}`] })
}

/** One row of `keys list` / GET /admin/keys. */
export interface KeyInfo {
  readonly name: string
  readonly source: 'config' | 'store'
  /** shadowed: a stored key whose name or hash a config key also has (the config key is the one in force). */
  readonly status: 'active' | 'revoked' | 'expired' | 'shadowed'
  readonly models: readonly string[] | null
  readonly limits: z.output<typeof limitSetSchema> | null
  readonly budget_usd: number | null
  readonly spent_usd: number
  readonly expires: string | null
  readonly created: string | null
  readonly revoked: string | null
}

export interface CreatedKey {
  /** The key itself, shown this once; undefined when a hash was registered. */
  readonly key: string | undefined
  readonly info: KeyInfo
}

export function createKey(store: KeyStore | undefined, config: Config, input: unknown): CreatedKey {
  if (store === undefined) throw new KeyAdminError(409, 'No store is configured: set store.sqlite to create keys at run time.')
  const parsed = newKeySchema.safeParse(input)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => formatIssue({ ...i, path: i.path.length === 0 ? ['body'] : i.path }))
    const first = parsed.error.issues[0]!
    throw new KeyAdminError(400, issues.join('; '), { param: issueParam(first), issues })
  }
  const spec = parsed.data
  if (config.auth?.keys.some((k) => k.name === spec.name)) {
    throw new KeyAdminError(409, `The key '${spec.name}' is defined in the config; choose another name.`)
  }
  // A stored key whose hash a config key has would never be used: the config key wins.
  const hash = spec.hash?.toLowerCase()
  if (hash !== undefined && config.auth?.keys.some((k) => k.hash.toLowerCase() === hash)) {
    throw new KeyAdminError(409, 'A key defined in the config has this hash; register another key.')
  }
  const models = new Set(config.models.map((m) => m.name))
  const unknown = spec.models?.findIndex((m) => !models.has(m)) ?? -1
  if (unknown >= 0) throw invalid(`models[${unknown}]`, `unknown model '${spec.models![unknown]}'`)
  if (spec.expires !== undefined && spec.expires <= Date.now()) throw invalid('expires', 'is in the past')
  const key = spec.hash === undefined ? generateKey() : undefined
  try {
    const stored = store.create({
      name: spec.name,
      hash: spec.hash ?? formatKeyHash(key!),
      models: spec.models,
      limits: spec.limits,
      budget_usd: spec.budget_usd,
      expires: spec.expires,
    })
    return { key, info: storedInfo(stored, 0) }
  } catch (err) {
    if (err instanceof KeyExistsError) throw new KeyAdminError(409, err.message)
    throw err
  }
}

/**
 * Revokes the stored key `name`. Returns true when a config key of the same name stays in
 * force: a stored key it shadowed is revoked all the same (else removing the config entry
 * later would bring the stored key back, with its own grants).
 */
export function revokeKey(store: KeyStore | undefined, config: Config, name: string): boolean {
  const inConfig = config.auth?.keys.some((k) => k.name === name) === true
  if (store !== undefined && store.revoke(name)) return inConfig
  if (inConfig) throw new KeyAdminError(409, `The key '${name}' is defined in the config: remove it there and reload.`)
  throw new KeyAdminError(404, `No active key named '${name}'.`)
}

/** Config keys, then stored ones (revoked included), with what each has spent. */
export function listKeys(config: Config, stored: readonly StoredKey[], spent: (name: string) => number): KeyInfo[] {
  const now = Date.now()
  const rows: KeyInfo[] = (config.auth?.keys ?? []).map((k) => ({
    name: k.name,
    source: 'config',
    status: k.expires !== undefined && k.expires <= now ? 'expired' : 'active',
    models: k.models ?? null,
    limits: k.limits ?? null,
    budget_usd: k.budget_usd ?? null,
    spent_usd: spent(k.name),
    expires: iso(k.expires),
    created: null,
    revoked: null,
  }))
  // The key ring skips a stored key whose name or hash a config key has (the config key wins).
  const configNames = new Set(config.auth?.keys.map((k) => k.name))
  const configHashes = new Set(config.auth?.keys.map((k) => hashHex(k.hash)))
  for (const k of stored) {
    const shadowed = configNames.has(k.name) || configHashes.has(hashHex(k.hash))
    rows.push(storedInfo(k, spent(k.name), now, shadowed))
  }
  return rows
}

function storedInfo(k: StoredKey, spent: number, now = Date.now(), shadowed = false): KeyInfo {
  return {
    name: k.name,
    source: 'store',
    status:
      k.revoked_at !== undefined
        ? 'revoked'
        : shadowed
          ? 'shadowed'
          : k.expires !== undefined && k.expires <= now
            ? 'expired'
            : 'active',
    models: k.models ?? null,
    limits: k.limits ?? null,
    budget_usd: k.budget_usd ?? null,
    spent_usd: spent,
    expires: iso(k.expires),
    created: iso(k.created_at),
    revoked: iso(k.revoked_at),
  }
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString()
}
