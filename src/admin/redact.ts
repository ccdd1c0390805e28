// Secret redaction for what the admin API shows: config values under secret-looking keys,
// every configured header value, and credentials inside URLs.

const REDACTED = '[redacted]'

/** Keys whose values are secrets wherever they appear (api_key, token, redis_password…). */
const SECRET_KEY = /^(api_?key|key|token|secret|password|passwd|authorization|credentials?)$|_(key|token|secret|password)$/i

/** A URL without userinfo, query or fragment (an upstream's query is never used either). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}`
  } catch {
    return REDACTED
  }
}

function hasCredentials(value: string): boolean {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value)) return false
  try {
    const u = new URL(value)
    return u.username !== '' || u.password !== ''
  } catch {
    return false
  }
}

/** A deep copy of a config with every secret replaced by "[redacted]". */
export function redactSecrets(value: unknown, key = ''): unknown {
  if (value === undefined || value === null) return value
  if (typeof value === 'string') {
    // Only strings hold secrets: `first_token` is a duration, not a token.
    if (SECRET_KEY.test(key)) return REDACTED
    if (!hasCredentials(value)) return value
    const u = new URL(value)
    u.username = ''
    u.password = ''
    return u.toString()
  }
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v))
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      // Upstream headers carry organisation ids and keys: show their names only.
      out[k] = k === 'headers' && v !== null && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v as object).map((h) => [h, REDACTED]))
        : redactSecrets(v, k)
    }
    return out
  }
  return value
}
