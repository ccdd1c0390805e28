// The session key the `affinity` strategy hashes: the configured header, else the body's
// `user`, else a digest of the conversation's start (system prompt + first user message),
// which is what a model server's prefix cache holds.
import { hashString } from '../balancing/hash.js'
import type { RequestContext } from '../server/context.js'

/** Only this much of each part is hashed: enough to tell conversations apart, bounded cost. */
const MAX_CHARS = 4096

/** The request's affinity key, or undefined when it has none (the balancer then spreads by load). */
export function affinityKey(ctx: RequestContext, header: string): string | undefined {
  const given = ctx.headers[header.toLowerCase()]
  const value = Array.isArray(given) ? given[0] : given
  if (value !== undefined && value !== '') return `h:${value}`
  const body = ctx.body
  if (body === undefined) return undefined
  if (typeof body.user === 'string' && body.user !== '') return `u:${body.user}`
  const start = conversationStart(body)
  return start === undefined ? undefined : `p:${hashString(start).toString(36)}:${start.length}`
}

/** System prompt(s) + the first user message of a chat, or the prompt of a completion. */
function conversationStart(body: Record<string, unknown>): string | undefined {
  const messages = body.messages
  if (Array.isArray(messages)) {
    let system = ''
    for (const m of messages) {
      if (typeof m !== 'object' || m === null) continue
      const { role, content } = m as { role?: unknown; content?: unknown }
      if (role === 'system' || role === 'developer') system += text(content) + '\u0000'
      else if (role === 'user') return (system + text(content)).slice(0, 2 * MAX_CHARS)
    }
    return system === '' ? undefined : system.slice(0, MAX_CHARS)
  }
  const prompt: unknown = Array.isArray(body.prompt) ? (body.prompt as unknown[])[0] : body.prompt
  return typeof prompt === 'string' && prompt !== '' ? prompt.slice(0, MAX_CHARS) : undefined
}

/** A message's text: a string, or the text parts of a content array. */
function text(content: unknown): string {
  if (typeof content === 'string') return content.slice(0, MAX_CHARS)
  if (!Array.isArray(content)) return ''
  let out = ''
  for (const part of content) {
    if (typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string') {
      out += (part as { text: string }).text
      if (out.length >= MAX_CHARS) break
    }
  }
  return out.slice(0, MAX_CHARS)
}
