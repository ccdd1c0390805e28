// Response taps: read token usage off a response on its way to the client without
// holding it back. Stream events pass through as they came, except the usage event the
// gateway itself asked for, which is removed when the client did not ask for it.
import { UpstreamHttpError, type GatewayError } from '../errors.js'
import { sseErrorFrame } from '../server/reply.js'
import type { Usage } from '../types.js'
import { eventData, splitEvents, SseAccumulator } from './sse.js'

export interface ResponseTap {
  /** Sees each upstream chunk; returns the bytes to send on (the same Buffer when unchanged). */
  chunk(data: Buffer): Buffer | undefined
  /** The stream ended: bytes still to send, if any. */
  end(): Buffer | undefined
  /** Usage reported by the upstream, once seen. */
  readonly usage: Usage | undefined
}

const USAGE_OBJECT = /"usage"\s*:\s*\{/

/** Normalises an upstream usage object (missing fields count as zero). */
export function toUsage(value: unknown): Usage | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const u = value as Record<string, unknown>
  const prompt = typeof u.prompt_tokens === 'number' ? u.prompt_tokens : 0
  const completion = typeof u.completion_tokens === 'number' ? u.completion_tokens : 0
  const total = typeof u.total_tokens === 'number' ? u.total_tokens : prompt + completion
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total }
}

export class SseUsageTap implements ResponseTap {
  usage: Usage | undefined = undefined
  /** Content events seen: the fallback completion count when no usage arrives. */
  events = 0
  private readonly acc = new SseAccumulator()

  /** @param strip drop the usage-only event (the client did not ask for usage) */
  constructor(private readonly strip: boolean) {}

  chunk(data: Buffer): Buffer | undefined {
    const complete = this.acc.push(data)
    if (!this.strip) {
      if (complete !== undefined) this.scan(complete, false)
      return data
    }
    // Stripping needs whole events: the unterminated tail waits for the next chunk.
    return complete === undefined ? undefined : this.scan(complete, true)
  }

  end(): Buffer | undefined {
    const rest = this.acc.rest()
    if (rest === undefined) return undefined
    const kept = this.scan(rest, this.strip)
    return this.strip ? kept : undefined
  }

  /** Reads usage out of complete events; returns them minus the usage-only event when stripping. */
  private scan(events: Buffer, strip: boolean): Buffer {
    this.events += countEvents(events)
    if (!hasUsageObject(events)) return events
    const kept: Buffer[] = []
    let dropped = false
    for (const ev of splitEvents(events)) {
      const data = eventData(ev)
      if (data === undefined || !USAGE_OBJECT.test(data)) {
        kept.push(ev)
        continue
      }
      let obj: { usage?: unknown; choices?: unknown[] } | undefined
      try {
        obj = JSON.parse(data) as { usage?: unknown; choices?: unknown[] }
      } catch {
        kept.push(ev)
        continue
      }
      const usage = toUsage(obj?.usage)
      if (usage !== undefined) this.usage = usage
      if (strip && usage !== undefined && Array.isArray(obj?.choices) && obj.choices.length === 0) {
        dropped = true
        continue
      }
      kept.push(ev)
    }
    return dropped ? Buffer.concat(kept) : events
  }
}

/** Does `"usage"` followed by an object (not null) occur? Searched natively, no string made. */
function hasUsageObject(buf: Buffer): boolean {
  let i = buf.indexOf('"usage"')
  while (i !== -1) {
    let j = i + 7
    while (j < buf.length && (buf[j] === 0x20 || buf[j] === 0x3a)) j++
    if (buf[j] === 0x7b) return true
    i = buf.indexOf('"usage"', j)
  }
  return false
}

function countEvents(buf: Buffer): number {
  let n = 0
  let i = buf.indexOf('data:')
  while (i !== -1) {
    n++
    i = buf.indexOf('data:', i + 5)
  }
  return n
}

/** Non-streaming JSON: keeps a bounded copy to read `usage` at the end. */
export class JsonUsageTap implements ResponseTap {
  usage: Usage | undefined = undefined
  private chunks: Buffer[] = []
  private size = 0

  constructor(private readonly limit = 8 << 20) {}

  chunk(data: Buffer): Buffer {
    if (this.size <= this.limit) {
      this.chunks.push(data)
      this.size += data.length
    }
    return data
  }

  end(): undefined {
    if (this.size > 0 && this.size <= this.limit) {
      try {
        const body = JSON.parse(Buffer.concat(this.chunks, this.size).toString('utf8')) as { usage?: unknown }
        this.usage = toUsage(body.usage)
      } catch {
        // Not JSON after all: no usage to read.
      }
    }
    this.chunks = []
    return undefined
  }
}

/**
 * Keep-alive pings already sent the client a 200 event stream when the upstream answered with
 * an error (or not with a stream): its body is held back (bounded) and becomes one final
 * `data: {"error":…}` event, the upstream's own error object when it sent one.
 */
export class ErrorEventTap implements ResponseTap {
  readonly usage: Usage | undefined = undefined
  readonly error: GatewayError
  private chunks: Buffer[] = []
  private size = 0

  constructor(
    status: number,
    upstreamId: string,
    private readonly limit = 64 << 10
  ) {
    const what = status < 300 ? 'a response that is not an event stream' : `status ${status}`
    this.error = new UpstreamHttpError(status < 300 ? 502 : status, `Upstream ${upstreamId} answered with ${what}.`)
  }

  chunk(data: Buffer): undefined {
    if (this.size < this.limit) {
      this.chunks.push(data)
      this.size += data.length
    }
    return undefined
  }

  end(): Buffer {
    try {
      const body = JSON.parse(Buffer.concat(this.chunks).toString('utf8')) as { error?: unknown }
      if (typeof body.error === 'object' && body.error !== null) {
        return Buffer.from(`data: ${JSON.stringify({ error: body.error })}\n\n`)
      }
    } catch {
      // Not JSON: report it in our own words.
    }
    return sseErrorFrame(this.error)
  }
}
