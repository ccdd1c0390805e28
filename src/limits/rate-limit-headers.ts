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
  const f: RateLimitFigures = { requestsLimit: -1, requestsRemaining: 0, requestsResetMs: 0, tokensLimit: -1, tokensRemaining: 0, tokensResetMs: 0 }
  takeFigures(f, checks, results)
  pushFigures(f, out)
}

/**
 * The figures the headers report, held as numbers until the response head is written: text
 * made then is still in the CPU's caches when Node copies it into the head (text made at
 * admission was not, a millisecond and many requests later). Fields of the limiter's ticket
 * (limits/ticket.ts), worked on by the functions below: a ticket that inherited them from a
 * base class called V8's derived-constructor builtin on every request.
 */
export interface RateLimitFigures {
  /** The tightest requests limit (-1: none), what is left of it and when it is full again. */
  requestsLimit: number
  requestsRemaining: number
  requestsResetMs: number
  /** The same for tokens. */
  tokensLimit: number
  tokensRemaining: number
  tokensResetMs: number
}

/** Takes the tightest request and token limits of an admission. */
export function takeFigures(f: RateLimitFigures, checks: readonly Check[], results: readonly CheckResult[]): void {
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]!
    if (c.kind !== 'rate') continue
    const r = results[i]!
    if (c.dim === 'requests') requestsFigures(f, c.limit, r.remaining, r.resetMs)
    else tokensFigures(f, c.limit, r.remaining, r.resetMs)
  }
}

/** One requests limit's state after an admission; the tightest (the first with the fewest left) is kept. */
export function requestsFigures(f: RateLimitFigures, limit: number, remaining: number, resetMs: number): void {
  if (f.requestsLimit >= 0 && remaining >= f.requestsRemaining) return
  f.requestsLimit = limit
  f.requestsRemaining = remaining
  f.requestsResetMs = resetMs
}

/** The same for a tokens limit. */
export function tokensFigures(f: RateLimitFigures, limit: number, remaining: number, resetMs: number): void {
  if (f.tokensLimit >= 0 && remaining >= f.tokensRemaining) return
  f.tokensLimit = limit
  f.tokensRemaining = remaining
  f.tokensResetMs = resetMs
}

/** Back to no figures (an admission that was put back). */
export function clearFigures(f: RateLimitFigures): void {
  f.requestsLimit = -1
  f.tokensLimit = -1
}

export function pushFigures(f: RateLimitFigures, out: string[]): void {
  if (f.requestsLimit >= 0) push(out, REQUESTS, f.requestsLimit, f.requestsRemaining, f.requestsResetMs)
  if (f.tokensLimit >= 0) push(out, TOKENS, f.tokensLimit, f.tokensRemaining, f.tokensResetMs)
}

/** The same headers as head lines (server/response-head.ts): names ours, values digits and durations. */
export function figuresText(f: RateLimitFigures): string {
  let text = ''
  if (f.requestsLimit >= 0) text = REQUESTS_LINES.text(f.requestsLimit, f.requestsRemaining, f.requestsResetMs)
  if (f.tokensLimit >= 0) text += TOKENS_LINES.text(f.tokensLimit, f.tokensRemaining, f.tokensResetMs)
  return text
}

/**
 * One dimension's three head lines. The limit's line and the next line's name are one string,
 * made again only when the limit changes (consecutive requests mostly share it): three joins
 * per request instead of eight.
 */
class HeadLines {
  private limit = -1
  private head = ''
  private readonly resetName: string

  constructor(private readonly names: Names) {
    this.resetName = `\r\n${names[2]}: `
  }

  text(limit: number, remaining: number, resetMs: number): string {
    if (limit !== this.limit) {
      this.head = `${this.names[0]}: ${limit}\r\n${this.names[1]}: `
      this.limit = limit
    }
    return `${this.head}${remaining}${this.resetName}${formatReset(resetMs)}\r\n`
  }
}

type Names = readonly [limit: string, remaining: string, reset: string]
const REQUESTS: Names = ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests']
const TOKENS: Names = ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens']
const REQUESTS_LINES = new HeadLines(REQUESTS)
const TOKENS_LINES = new HeadLines(TOKENS)

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
  out.push(names[0], limitText(limit), names[1], `${remaining}`, names[2], formatReset(resetMs))
}
