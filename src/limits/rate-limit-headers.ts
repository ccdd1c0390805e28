// OpenAI's rate-limit response headers, from the tightest request and token limits that
// applied: x-ratelimit-{limit,remaining,reset}-{requests,tokens}.
import type { CheckResult, Check } from './store.js'

/** ms → OpenAI's reset format: "20ms", "1s", "1.5s", "6m0s", "1h2m3s". */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`
  const total = ms / 1000
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = Number((total % 60).toFixed(3))
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`
}

/** Pushes the headers onto `out` (a flat name/value list, as ctx.responseHeaders). */
export function pushRateLimitHeaders(out: string[], checks: readonly Check[], results: readonly CheckResult[]): void {
  let req = -1
  let tok = -1
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]!
    if (c.kind !== 'rate') continue
    const r = results[i]!
    if (c.dim === 'requests') {
      if (req < 0 || r.remaining < results[req]!.remaining) req = i
    } else if (tok < 0 || r.remaining < results[tok]!.remaining) {
      tok = i
    }
  }
  if (req >= 0) push(out, 'requests', checks[req] as Check & { limit: number }, results[req]!)
  if (tok >= 0) push(out, 'tokens', checks[tok] as Check & { limit: number }, results[tok]!)
}

const NAMES = {
  requests: ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  tokens: ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
} as const

function push(out: string[], what: 'requests' | 'tokens', c: { limit: number }, r: CheckResult): void {
  const [limit, remaining, reset] = NAMES[what]
  out.push(limit, String(c.limit), remaining, String(r.remaining), reset, formatReset(r.resetMs))
}
