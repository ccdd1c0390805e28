// Every piece of prompt text a body carries, visited in place, so deny and redaction see the
// same text: chat message contents (plain, `text`, `refusal` and `thinking` parts, and what
// vLLM also reads as text: bare strings, `input_text` / `output_text` parts), `refusal`,
// `name`, `reasoning`, `reasoning_content`, tool-call and function-call arguments, `prediction`; completion prompts and
// `suffix`; embedding inputs. Token-id prompts are not text.
import type { Endpoint } from '../types.js'

/** Which text of a body: decides the `param` a refusal names. */
export type TextKind =
  | 'content' // messages[i].content (a string)
  | 'text_part' // messages[i].content[j].text
  | 'string_part' // messages[i].content[j] (a string)
  | 'refusal_part' // messages[i].content[j].refusal
  | 'thinking_part' // messages[i].content[j].thinking
  | 'refusal' // messages[i].refusal
  | 'name' // messages[i].name
  | 'reasoning' // messages[i].reasoning
  | 'reasoning_content' // messages[i].reasoning_content
  | 'tool_arguments' // messages[i].tool_calls[j].function.arguments
  | 'tool_input' // messages[i].tool_calls[j].custom.input
  | 'function_arguments' // messages[i].function_call.arguments
  | 'prediction' // prediction.content (a string)
  | 'prediction_part' // prediction.content[j].text
  | 'prompt'
  | 'input'
  | 'suffix'

/** Where a piece of text sits: `index` in messages / prompt list (-1: a lone string), `part` in content or tool_calls. */
export interface TextLocation {
  kind: TextKind
  index: number
  part: number
}

/** The error `param` for a location: `messages[2].content[0].text`, `prompt[1]`… */
export function paramOf(loc: TextLocation): string {
  const m = `messages[${loc.index}]`
  switch (loc.kind) {
    case 'content':
      return `${m}.content`
    case 'text_part':
      return `${m}.content[${loc.part}].text`
    case 'string_part':
      return `${m}.content[${loc.part}]`
    case 'refusal_part':
      return `${m}.content[${loc.part}].refusal`
    case 'thinking_part':
      return `${m}.content[${loc.part}].thinking`
    case 'refusal':
      return `${m}.refusal`
    case 'name':
      return `${m}.name`
    case 'reasoning':
      return `${m}.reasoning`
    case 'reasoning_content':
      return `${m}.reasoning_content`
    case 'tool_arguments':
      return `${m}.tool_calls[${loc.part}].function.arguments`
    case 'tool_input':
      return `${m}.tool_calls[${loc.part}].custom.input`
    case 'function_arguments':
      return `${m}.function_call.arguments`
    case 'prediction':
      return 'prediction.content'
    case 'prediction_part':
      return `prediction.content[${loc.part}].text`
    case 'suffix':
      return 'suffix'
    case 'prompt':
    case 'input':
      return loc.index < 0 ? loc.kind : `${loc.kind}[${loc.index}]`
  }
}

/**
 * Returns the text to keep: the same string leaves it as it was. `where` is reused between
 * calls; copy it to keep it.
 */
export type TextVisitor = (text: string, where: TextLocation) => string

/** Visits each prompt text of a body; returns true when a visitor replaced any. */
export function visitPromptText(endpoint: Endpoint, body: Record<string, unknown>, visit: TextVisitor): boolean {
  const where: TextLocation = { kind: 'input', index: -1, part: -1 }
  if (endpoint === 'chat') {
    const changed = visitMessages(body.messages, where, visit)
    return visitPrediction(body.prediction, where, visit) || changed
  }
  if (endpoint === 'embeddings') return visitPrompt(body, 'input', where, visit)
  const changed = visitPrompt(body, 'prompt', where, visit)
  where.kind = 'suffix'
  where.index = -1
  return visitField(body, 'suffix', where, visit) || changed
}

/** Visits `obj[key]` when it is a string; true when it was replaced. */
function visitField(obj: Record<string, unknown>, key: string, where: TextLocation, visit: TextVisitor): boolean {
  const text = obj[key]
  if (typeof text !== 'string') return false
  const out = visit(text, where)
  if (out === text) return false
  obj[key] = out
  return true
}

function visitPrompt(body: Record<string, unknown>, field: 'prompt' | 'input', where: TextLocation, visit: TextVisitor): boolean {
  where.kind = field
  where.index = -1
  const value = body[field]
  if (!Array.isArray(value)) return visitField(body, field, where, visit)
  let changed = false
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i]
    if (typeof item !== 'string') continue
    where.index = i
    const out = visit(item, where)
    if (out !== item) {
      value[i] = out
      changed = true
    }
  }
  return changed
}

/**
 * The text field of each content-part type that carries prompt text. vLLM also reads
 * `input_text` and `output_text` parts (the Responses API's names) as text, so they are
 * prompt text when validation, which refuses them, is off.
 */
const PART_TEXT: Readonly<Record<string, readonly [key: string, kind: TextKind]>> = {
  text: ['text', 'text_part'],
  input_text: ['text', 'text_part'],
  output_text: ['text', 'text_part'],
  refusal: ['refusal', 'refusal_part'],
  thinking: ['thinking', 'thinking_part'],
}

function visitContent(holder: Record<string, unknown>, where: TextLocation, visit: TextVisitor, textKind: TextKind, partKind: TextKind): boolean {
  const content = holder.content
  where.kind = textKind
  where.part = -1
  if (!Array.isArray(content)) return visitField(holder, 'content', where, visit)
  let changed = false
  for (let j = 0; j < content.length; j++) {
    const part = content[j] as Record<string, unknown> | string | null
    if (typeof part === 'string') {
      // vLLM takes a bare string in a content list as text (validation refuses it).
      if (partKind === 'prediction_part') continue
      where.kind = 'string_part'
      where.part = j
      const out = visit(part, where)
      if (out !== part) {
        content[j] = out
        changed = true
      }
      continue
    }
    if (typeof part !== 'object' || part === null || typeof part.type !== 'string') continue
    const text = PART_TEXT[part.type]
    // Prediction content only has text parts.
    if (text === undefined || (partKind === 'prediction_part' && part.type !== 'text')) continue
    where.kind = partKind === 'prediction_part' ? partKind : text[1]
    where.part = j
    if (visitField(part, text[0], where, visit)) changed = true
  }
  return changed
}

function visitMessages(messages: unknown, where: TextLocation, visit: TextVisitor): boolean {
  if (!Array.isArray(messages)) return false
  let changed = false
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Record<string, unknown> | null
    if (typeof m !== 'object' || m === null) continue
    where.index = i
    if (visitContent(m, where, visit, 'content', 'text_part')) changed = true
    where.part = -1
    where.kind = 'refusal'
    if (visitField(m, 'refusal', where, visit)) changed = true
    where.kind = 'name'
    if (visitField(m, 'name', where, visit)) changed = true
    // vLLM passes an assistant turn's `reasoning` (and `reasoning_content`, its older name,
    // which chat templates such as Qwen3's render) to the chat template (interleaved thinking).
    where.kind = 'reasoning'
    if (visitField(m, 'reasoning', where, visit)) changed = true
    where.kind = 'reasoning_content'
    if (visitField(m, 'reasoning_content', where, visit)) changed = true
    if (m.tool_calls !== undefined && visitToolCalls(m.tool_calls, where, visit)) changed = true
    const fn = m.function_call as Record<string, unknown> | null | undefined
    if (typeof fn === 'object' && fn !== null) {
      where.kind = 'function_arguments'
      where.part = -1
      if (visitArguments(fn, where, visit)) changed = true
    }
  }
  return changed
}

function visitToolCalls(calls: unknown, where: TextLocation, visit: TextVisitor): boolean {
  if (!Array.isArray(calls)) return false
  let changed = false
  for (let j = 0; j < calls.length; j++) {
    const call = calls[j] as Record<string, unknown> | null
    if (typeof call !== 'object' || call === null) continue
    where.part = j
    const fn = call.function as Record<string, unknown> | null | undefined
    if (typeof fn === 'object' && fn !== null) {
      where.kind = 'tool_arguments'
      if (visitArguments(fn, where, visit)) changed = true
    }
    const custom = call.custom as Record<string, unknown> | null | undefined
    if (typeof custom === 'object' && custom !== null) {
      where.kind = 'tool_input'
      if (visitField(custom, 'input', where, visit)) changed = true
    }
  }
  return changed
}

function visitArguments(fn: Record<string, unknown>, where: TextLocation, visit: TextVisitor): boolean {
  const args = fn.arguments
  if (typeof args !== 'string') return false
  const out = visitJsonText(args, where, visit)
  if (out === args) return false
  fn.arguments = out
  return true
}

function visitPrediction(prediction: unknown, where: TextLocation, visit: TextVisitor): boolean {
  if (typeof prediction !== 'object' || prediction === null) return false
  where.index = -1
  return visitContent(prediction as Record<string, unknown>, where, visit, 'prediction', 'prediction_part')
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const MINUS = 0x2d

function isNumberChar(c: number): boolean {
  // digits, '.', '+', '-', 'e', 'E'
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2b || c === MINUS || c === 0x65 || c === 0x45
}

/**
 * Tool arguments are JSON text: each string (decoded, so escapes cannot hide a match) and
 * each number is visited on its own, and a replaced one is written back as a JSON string, so
 * the arguments stay valid JSON with their layout kept. Text that is not JSON is visited whole.
 */
export function visitJsonText(json: string, where: TextLocation, visit: TextVisitor): string {
  try {
    JSON.parse(json)
  } catch {
    return visit(json, where)
  }
  let out = ''
  let done = 0
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i)
    let end = i + 1
    let text: string
    if (c === QUOTE) {
      // Valid JSON, so the closing quote is there.
      while (json.charCodeAt(end) !== QUOTE) end += json.charCodeAt(end) === BACKSLASH ? 2 : 1
      end++
      text = JSON.parse(json.slice(i, end)) as string
    } else if (c === MINUS || (c >= 0x30 && c <= 0x39)) {
      while (end < json.length && isNumberChar(json.charCodeAt(end))) end++
      text = json.slice(i, end)
    } else continue
    const replaced = visit(text, where)
    if (replaced !== text) {
      out += json.slice(done, i) + JSON.stringify(replaced)
      done = end
    }
    i = end - 1
  }
  return done === 0 ? json : out + json.slice(done)
}
