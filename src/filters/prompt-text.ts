// Every piece of prompt text a body carries, visited in place: chat message contents (plain
// or `text` parts), completion prompts and embedding inputs. Token-id prompts are not text.
import type { Endpoint } from '../types.js'

/** Where a piece of text sits: `index` in messages / prompt list (-1: a lone string), `part` in content (-1: string content). */
export interface TextLocation {
  field: 'messages' | 'prompt' | 'input'
  index: number
  part: number
}

/** The error `param` for a location: `messages[2].content[0].text`, `prompt[1]`… */
export function paramOf(loc: TextLocation): string {
  if (loc.field === 'messages') {
    const content = `messages[${loc.index}].content`
    return loc.part < 0 ? content : `${content}[${loc.part}].text`
  }
  return loc.index < 0 ? loc.field : `${loc.field}[${loc.index}]`
}

/**
 * Returns the text to keep: the same string leaves it as it was. `where` is reused between
 * calls; copy it to keep it.
 */
export type TextVisitor = (text: string, where: TextLocation) => string

/** Visits each prompt text of a body; returns true when a visitor replaced any. */
export function visitPromptText(endpoint: Endpoint, body: Record<string, unknown>, visit: TextVisitor): boolean {
  if (endpoint === 'chat') return visitMessages(body.messages, visit)
  const field = endpoint === 'completions' ? 'prompt' : 'input'
  const where: TextLocation = { field, index: -1, part: -1 }
  const value = body[field]
  if (typeof value === 'string') {
    const out = visit(value, where)
    if (out === value) return false
    body[field] = out
    return true
  }
  return Array.isArray(value) ? visitStrings(value, where, visit) : false
}

function visitStrings(list: unknown[], where: TextLocation, visit: TextVisitor): boolean {
  let changed = false
  for (let i = 0; i < list.length; i++) {
    const item = list[i]
    if (typeof item !== 'string') continue
    where.index = i
    const out = visit(item, where)
    if (out !== item) {
      list[i] = out
      changed = true
    }
  }
  return changed
}

function visitMessages(messages: unknown, visit: TextVisitor): boolean {
  if (!Array.isArray(messages)) return false
  const where: TextLocation = { field: 'messages', index: 0, part: -1 }
  let changed = false
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as { content?: unknown } | null
    if (typeof m !== 'object' || m === null) continue
    where.index = i
    where.part = -1
    const content = m.content
    if (typeof content === 'string') {
      const out = visit(content, where)
      if (out !== content) {
        m.content = out
        changed = true
      }
    } else if (Array.isArray(content)) {
      for (let j = 0; j < content.length; j++) {
        const part = content[j] as { type?: unknown; text?: unknown } | null
        if (typeof part !== 'object' || part === null || part.type !== 'text' || typeof part.text !== 'string') continue
        where.part = j
        const out = visit(part.text, where)
        if (out !== part.text) {
          part.text = out
          changed = true
        }
      }
    }
  }
  return changed
}
