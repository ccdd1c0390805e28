// OpenAI's rate-limit response headers, from the tightest request and token limits that
// applied: x-ratelimit-{limit,remaining,reset}-{requests,tokens}.
import type { CheckResult, Check } from './store.js'

/** "0ms" … "999ms", made once: most resets of a roomy bucket are under a second. */
const MS_TEXT = Array.from({ length: 1000 }, (_, i) => `${i}ms`)

/** ms → OpenAI's reset format: "20ms", "1s", "1.5s", "6m0s", "1h2m3s". */
export function formatReset(ms: number): string {
  if (ms < 1000) return MS_TEXT[Math.max(0, Math.ceil(ms))]!
  const total = ms / 1000
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = Number((total % 60).toFixed(3))
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`
}

/** Pushes the headers onto `out` (a flat name/value list, as ctx.responseHeaders). */
export function pushRateLimitHeaders(out: string[], checks: readonly Check[], results: readonly CheckResult[]): void {
  const f = new RateLimitFigures()
  f.take(checks, results)
  f.pushHeaders(out)
}

/**
 * The figures the headers report, held as numbers until the response head is written: text
 * made then is still in the CPU's caches when Node copies it into the head (text made at
 * admission was not, a millisecond and many requests later).
 */
export class RateLimitFigures {
  /** The tightest requests limit (-1: none), what is left of it and when it is full again. */
  requestsLimit = -1
  requestsRemaining = 0
  requestsResetMs = 0
  /** The same for tokens. */
  tokensLimit = -1
  tokensRemaining = 0
  tokensResetMs = 0

  /** Takes the tightest request and token limits of an admission. */
  take(checks: readonly Check[], results: readonly CheckResult[]): void {
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i]!
      if (c.kind !== 'rate') continue
      const r = results[i]!
      if (c.dim === 'requests') this.requests(c.limit, r.remaining, r.resetMs)
      else this.tokens(c.limit, r.remaining, r.resetMs)
    }
  }

  /** One requests limit's state after an admission; the tightest (the first with the fewest left) is kept. */
  requests(limit: number, remaining: number, resetMs: number): void {
    if (this.requestsLimit >= 0 && remaining >= this.requestsRemaining) return
    this.requestsLimit = limit
    this.requestsRemaining = remaining
    this.requestsResetMs = resetMs
  }

  /** The same for a tokens limit. */
  tokens(limit: number, remaining: number, resetMs: number): void {
    if (this.tokensLimit >= 0 && remaining >= this.tokensRemaining) return
    this.tokensLimit = limit
    this.tokensRemaining = remaining
    this.tokensResetMs = resetMs
  }

  /** Back to no figures (an admission that was put back). */
  clearFigures(): void {
    this.requestsLimit = -1
    this.tokensLimit = -1
  }

  pushHeaders(out: string[]): void {
    if (this.requestsLimit >= 0) push(out, REQUESTS, this.requestsLimit, this.requestsRemaining, this.requestsResetMs)
    if (this.tokensLimit >= 0) push(out, TOKENS, this.tokensLimit, this.tokensRemaining, this.tokensResetMs)
  }
}

type Names = readonly [limit: string, remaining: string, reset: string]
const REQUESTS: Names = ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests']
const TOKENS: Names = ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens']

/** Limits as text: a handful of configured numbers, each converted once. */
const LIMIT_TEXT = new Map<number, string>()

function limitText(n: number): string {
  let text = LIMIT_TEXT.get(n)
  if (text === undefined) {
    text = String(n)
    // Limits come from config and keys, so few; a bound all the same.
    if (LIMIT_TEXT.size < 10_000) LIMIT_TEXT.set(n, text)
  }
  return text
}

function push(out: string[], names: Names, limit: number, remaining: number, resetMs: number): void {
  out.push(names[0], limitText(limit), names[1], String(remaining), names[2], formatReset(resetMs))
}
