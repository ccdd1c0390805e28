// Secret redaction for what the admin API shows: config values under secret-looking keys,
// every configured header value, and credentials and queries inside URLs.

const REDACTED = '[redacted]'

/** Keys whose values are secrets wherever they appear (api_key, token, redis_password…); a key's hash too (a guessable key falls to it offline). */
const SECRET_KEY = /^(api_?key|key|hash|token|secret|password|passwd|authorization|credentials?)$|_(key|hash|token|secret|password)$/i

/** A URL without userinfo, query or fragment (an upstream's query is never used either). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}`
  } catch {
    return REDACTED
  }
}

/** A URL (scheme://…) that carries credentials or a query (which may hold a token). */
function hasSecretParts(value: string): boolean {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^\s]*[@?#]/i.test(value)) return false
  try {
    const u = new URL(value)
    return u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== ''
  } catch {
    return false
  }
}

/** The URL without userinfo; a query or fragment shown as redacted. */
function redactUrl(value: string): string {
  const u = new URL(value)
  const hidden = u.search !== '' || u.hash !== ''
  u.username = ''
  u.password = ''
  u.search = ''
  u.hash = ''
  return hidden ? `${u.toString()}?${REDACTED}` : u.toString()
}

/** A deep copy of a config with every secret replaced by "[redacted]". */
export function redactSecrets(value: unknown, key = ''): unknown {
  if (value === undefined || value === null) return value
  if (typeof value === 'string') {
    // Only strings hold secrets: `first_token` is a duration, not a token.
    if (SECRET_KEY.test(key)) return REDACTED
    return hasSecretParts(value) ? redactUrl(value) : value
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
