// Response taps: read token usage off a response on its way to the client without
// holding it back. Stream events pass through as they came, except the usage the gateway
// itself asked for, which is removed when the client did not ask for it (the usage-only
// event whole; a content chunk's `usage` member alone; the `"usage": null` every chunk then
// carries).
import { UpstreamAuthError, UpstreamHttpError, type GatewayError } from '../errors.js'
import { sseErrorFrame } from '../server/reply.js'
import type { Usage } from '../types.js'
import { eventData, splitEvents, SseAccumulator } from './sse.js'
import { hasUsageObject, usageObjectIn, withoutNullUsage, withoutUsageMember } from './usage-json.js'

export interface ResponseTap {
  /** Sees each upstream chunk; returns the bytes to send on (the same Buffer when unchanged). */
  chunk(data: Buffer): Buffer | undefined
  /** The stream ended: bytes still to send, if any. */
  end(): Buffer | undefined
  /** Usage reported by the upstream, once seen. */
  readonly usage: Usage | undefined
  /** Completion tokens counted from the body itself: the fallback when no usage is reported. */
  readonly countedTokens: number
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
  /** Events that carried generated text (about one token each on vLLM, llama.cpp, OpenAI). */
  countedTokens = 0
  /**
   * The upstream said its answer is over (`data: [DONE]`, or a choice's finish_reason): a body
   * that ends without either was cut, however cleanly its HTTP framing ended.
   */
  finished = false
  /**
   * An event was an error object (`{"error":…}`, llama.cpp's; `{"object":"error",…}`, vLLM's
   * when the engine fails mid-stream, which it follows with `[DONE]`): the answer failed,
   * however it ended.
   */
  errored = false
  /** Choices that ended with a finish_reason so far: the answer is whole when all `choices` have. */
  private finishes = 0
  private readonly acc = new SseAccumulator()
  /**
   * A removed event's terminator ended on a CR at the end of a read: the LF of a CRLF may
   * start the next one, and is removed with the event.
   */
  private owesLf = false

  /**
   * @param strip remove the usage (the client did not ask for it)
   * @param choices how many choices the answer has (the request's `n`): each must finish
   */
  constructor(
    private readonly strip: boolean,
    private readonly choices = 1
  ) {}

  /** Events (complete ones: an unterminated one could hold half a finish_reason) seen for the end of the answer. */
  private see(buf: Buffer): void {
    if (!this.errored) this.errored = hasErrorEvent(buf)
    if (this.finished) return
    this.finishes += countFinishes(buf)
    this.finished = this.finishes >= this.choices || saysDone(buf)
  }

  chunk(data: Buffer): Buffer | undefined {
    const acc = this.acc
    const complete = acc.push(data)
    const after = acc.after
    if (after !== undefined) {
      // An event too large to hold (never a usage event) starts here: counted, not read further.
      this.countedTokens += countContentEvents(after)
      this.owesLf = false
      this.see(after)
    }
    // The rest of an oversized event, unread otherwise (rare: never on the per-chunk path).
    if (acc.before !== undefined) this.see(acc.before)
    if (!this.strip) {
      if (complete !== undefined) this.scan(complete, false)
      return data
    }
    // Stripping needs whole events: the unterminated tail waits for the next chunk, unless
    // it is an oversized event's, which passes as it comes (acc.before, acc.after).
    const events = complete === undefined ? undefined : this.scan(complete, true)
    const before = acc.before
    if (before === undefined && after === undefined) return events
    return joined(before, events, after)
  }

  end(): Buffer | undefined {
    const rest = this.acc.rest()
    if (rest === undefined) return undefined
    const kept = this.scan(rest, this.strip, false)
    return this.strip ? kept : undefined
  }

  /** Reads usage out of complete events; returns them without the usage when stripping. */
  private scan(events: Buffer, strip: boolean, complete = true): Buffer {
    if (this.owesLf) {
      this.owesLf = false
      if (events[0] === 0x0a) events = events.subarray(1)
    }
    this.countedTokens += countContentEvents(events)
    // An unterminated last event (the body's end) may be cut anywhere: only a whole
    // `data: [DONE]` line counts there, never a finish_reason in half an event.
    if (complete) this.see(events)
    else {
      if (!this.errored) this.errored = hasErrorEvent(events)
      if (!this.finished) this.finished = saysDone(events)
    }
    if (strip) events = withoutNullUsage(events)
    if (!hasUsageObject(events)) return events
    const kept: Buffer[] = []
    let changed = false
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
        changed = true
        this.owesLf = ev[ev.length - 1] === 0x0d
        continue
      }
      this.owesLf = false
      // Usage on a content chunk (some servers send it on the last one): the content stays,
      // the usage the client did not ask for goes.
      const trimmed = strip && usage !== undefined ? withoutUsageMember(ev) : undefined
      if (trimmed !== undefined) changed = true
      kept.push(trimmed ?? ev)
    }
    return changed ? Buffer.concat(kept) : events
  }
}

/** The parts that hold bytes, in order: the part itself when it is alone (no copy). */
function joined(...parts: (Buffer | undefined)[]): Buffer | undefined {
  const some = parts.filter((p): p is Buffer => p !== undefined && p.length > 0)
  return some.length <= 1 ? some[0] : Buffer.concat(some)
}

const DATA = Buffer.from('data:')
/** The fields whose non-empty string value is generated output (chat, completions, tools, reasoning). */
const CONTENT_FIELDS = ['"content":', '"text":', '"arguments":', '"reasoning_content":'].map((f) => Buffer.from(f))

/**
 * Counts `data:` events holding a non-empty generated string. One native search per field
 * and event at most: each field's next occurrence is remembered across events.
 */
export function countContentEvents(buf: Buffer): number {
  let n = 0
  const next = [-2, -2, -2, -2]
  let i = buf.indexOf(DATA)
  while (i !== -1) {
    let j = buf.indexOf(DATA, i + 5)
    while (j > 0 && buf[j - 1] !== 0x0a && buf[j - 1] !== 0x0d) j = buf.indexOf(DATA, j + 5)
    const end = j === -1 ? buf.length : j
    for (let k = 0; k < CONTENT_FIELDS.length; k++) {
      let p = next[k]!
      if (p === -1) continue
      if (p < i) next[k] = p = buf.indexOf(CONTENT_FIELDS[k]!, i)
      if (p === -1 || p >= end) continue
      let v = p + CONTENT_FIELDS[k]!.length
      while (buf[v] === 0x20) v++
      // A string value that is not empty: `"…":"x`.
      if (buf[v] === 0x22 && buf[v + 1] !== 0x22) {
        n++
        break
      }
    }
    i = j
  }
  return n
}

const DONE = Buffer.from('[DONE]')
const FINISH_REASON = Buffer.from('"finish_reason"')

/**
 * The bytes `"finish_reason"` cannot come from generated text (its quotes would be escaped),
 * and `[DONE]` counts only as a whole data line: native searches only.
 */
/** How many finish_reasons that are strings (not null) the events hold: one per choice that ended. */
export function countFinishes(buf: Buffer): number {
  let n = 0
  let i = buf.indexOf(FINISH_REASON)
  while (i !== -1) {
    let v = i + FINISH_REASON.length
    while (buf[v] === 0x20 || buf[v] === 0x3a) v++
    if (buf[v] === 0x22) n++
    i = buf.indexOf(FINISH_REASON, v)
  }
  return n
}

const ERROR = Buffer.from('"error"')
const OBJECT = Buffer.from('"object"')

/**
 * An event that is an error object: `"error"` as the data's first key, or as the value of its
 * top-level `"object"`. Generated text cannot hold these bytes (its quotes are escaped), and
 * no ordinary chunk has them: one native search per read, which finds nothing.
 */
export function hasErrorEvent(buf: Buffer): boolean {
  for (let i = buf.indexOf(ERROR); i !== -1; i = buf.indexOf(ERROR, i + ERROR.length)) {
    let b = i - 1
    while (buf[b] === 0x20) b--
    // {"error": … as the event's data
    if (buf[b] === 0x7b) {
      let d = b - 1
      while (buf[d] === 0x20) d--
      if (buf[d] === 0x3a && buf.compare(DATA, 0, 4, d - 4, d) === 0) return true
    }
    // "object": "error"
    if (buf[b] === 0x3a) {
      b--
      while (buf[b] === 0x20) b--
      if (b >= OBJECT.length - 1 && buf.compare(OBJECT, 0, OBJECT.length, b - OBJECT.length + 1, b + 1) === 0) return true
    }
  }
  return false
}

/** A whole `data: [DONE]` line. */
export function saysDone(buf: Buffer): boolean {
  for (let d = buf.indexOf(DONE); d !== -1; d = buf.indexOf(DONE, d + 6)) {
    const s = buf[d - 1] === 0x20 ? d - 1 : d
    const line = s === 5 || buf[s - 6] === 0x0a || buf[s - 6] === 0x0d
    const end = buf[d + 6]
    if (s >= 5 && line && buf.compare(DATA, 0, 5, s - 5, s) === 0 && (end === undefined || end === 0x0a || end === 0x0d)) return true
  }
  return false
}

/** Non-streaming JSON: keeps a bounded copy to read `usage` at the end. */
export class JsonUsageTap implements ResponseTap {
  usage: Usage | undefined = undefined
  countedTokens = 0
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
      const bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size)
      // The usage object alone is a few dozen bytes: parsing only it saves parsing the answer.
      this.usage = toUsage(usageObjectIn(bytes))
      if (this.usage === undefined) {
        try {
          const body = JSON.parse(bytes.toString('utf8')) as { usage?: unknown; choices?: unknown }
          this.usage = toUsage(body.usage)
          if (this.usage === undefined) this.countedTokens = Math.ceil(generatedChars(body.choices) / CHARS_PER_TOKEN)
        } catch {
          // Not JSON after all: no usage to read.
        }
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
  readonly countedTokens = 0
  readonly error: GatewayError
  private chunks: Buffer[] = []
  private size = 0

  constructor(
    status: number,
    upstreamId: string,
    private readonly limit = 64 << 10
  ) {
    const what = status < 300 ? 'a response that is not an event stream' : `status ${status}`
    // A failure whatever the upstream's status: never recorded as a success (< 400). A refusal
    // of the gateway's credentials is told in our words only (its body may quote the key).
    this.ownWords = status === 401 || status === 403
    this.error = this.ownWords
      ? new UpstreamAuthError(upstreamId, status)
      : new UpstreamHttpError(status < 400 ? 502 : status, `Upstream ${upstreamId} answered with ${what}.`)
  }

  private readonly ownWords: boolean

  chunk(data: Buffer): undefined {
    if (this.size < this.limit) {
      this.chunks.push(data)
      this.size += data.length
    }
    return undefined
  }

  end(): Buffer {
    if (this.ownWords) return sseErrorFrame(this.error)
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

/** The char-based estimate (OpenAI's rule of thumb for English text). */
export const CHARS_PER_TOKEN = 4

interface AnswerChoice {
  text?: unknown
  message?: { content?: unknown; reasoning_content?: unknown; tool_calls?: unknown }
}

/**
 * Characters of generated text in a non-streaming answer's choices: the same fields the
 * stream counter reads (CONTENT_FIELDS): text, content, reasoning and tool call arguments.
 */
function generatedChars(choices: unknown): number {
  if (!Array.isArray(choices)) return 0
  let n = 0
  for (const c of choices as (AnswerChoice | null)[]) {
    if (typeof c?.text === 'string') n += c.text.length
    const m = c?.message
    if (m === undefined || m === null) continue
    if (typeof m.content === 'string') n += m.content.length
    if (typeof m.reasoning_content === 'string') n += m.reasoning_content.length
    if (!Array.isArray(m.tool_calls)) continue
    for (const call of m.tool_calls as ({ function?: { arguments?: unknown } } | null)[]) {
      const args = call?.function?.arguments
      if (typeof args === 'string') n += args.length
    }
  }
  return n
}
