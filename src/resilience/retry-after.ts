// How long an upstream asks us to stay away: Retry-After (RFC 9110 §10.2.3) or OpenAI's
// x-ratelimit-reset-* headers. Feeds the 429 cooldown and the Retry-After we pass on.
import type { IncomingHttpHeaders } from 'node:http'

/**
 * retry-after-ms (Azure OpenAI's, which the openai SDKs read first), Retry-After (seconds or
 * HTTP date) or OpenAI's x-ratelimit-reset-* ("1s", "6m0s"), in ms.
 */
export function retryAfterMs(headers: IncomingHttpHeaders): number {
  const raMs = headers['retry-after-ms']
  if (typeof raMs === 'string') {
    const ms = Number(raMs)
    if (Number.isFinite(ms) && ms >= 0 && raMs.trim() !== '') return ms
  }
  const ra = headers['retry-after']
  if (typeof ra === 'string') {
    const secs = Number(ra)
    if (Number.isFinite(secs)) return Math.max(0, secs * 1000)
    const date = Date.parse(ra)
    if (Number.isFinite(date)) return Math.max(0, date - Date.now())
  }
  for (const name of ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens']) {
    const v = headers[name]
    if (typeof v === 'string') {
      const ms = parseResetDuration(v)
      if (ms > 0) return ms
    }
  }
  return 0
}

/** OpenAI's reset format: "1s", "6m0s", "20ms", "1h2m3.5s". */
function parseResetDuration(v: string): number {
  let ms = 0
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    const n = Number(m[1])
    ms += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000
  }
  return ms
}
