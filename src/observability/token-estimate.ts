// Token estimates for requests whose upstream reported no usage: gpt-tokenizer for the
// vocabularies it knows (OpenAI models), a char-based estimate for every other model (a
// vLLM Llama or Qwen has its own vocabulary, which no bundled tokenizer matches). Cost is
// bounded: at most MAX_TOKENIZED_CHARS are tokenized, the rest extrapolated.
import { createRequire } from 'node:module'
import type { Endpoint } from '../types.js'
import { CHARS_PER_TOKEN } from '../proxy/usage-tap.js'

const require = createRequire(import.meta.url)

/** Longest text handed to the tokenizer (~1 ms); longer texts are extrapolated from it. */
export const MAX_TOKENIZED_CHARS = 8_192

type CountTokens = (text: string) => number

/** The encodings the tokenizer has for OpenAI models newer than its model map. */
const O200K_MODELS = /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o[1-9](-|$)|chatgpt-4o|gpt-realtime|gpt-audio|omni-moderation)/

let modelMap: Record<string, string> | undefined
const encodings = new Map<string, CountTokens>()

/** The gpt-tokenizer encoding for a model, or undefined when its vocabulary is unknown. */
export function encodingFor(model: string | undefined): string | undefined {
  if (model === undefined) return undefined
  modelMap ??= (require('gpt-tokenizer/cjs/mapping') as { modelToEncodingMap: Record<string, string> }).modelToEncodingMap
  return modelMap[model] ?? (O200K_MODELS.test(model) ? 'o200k_base' : undefined)
}

/** Loads an encoding (hundreds of ms, tens of MB): done at start for the configured models. */
export function loadEncoding(name: string): CountTokens {
  let count = encodings.get(name)
  if (count === undefined) {
    count = (require(`gpt-tokenizer/cjs/encoding/${name}`) as { countTokens: CountTokens }).countTokens
    encodings.set(name, count)
  }
  return count
}

/** Tokens in `text` for `model`: tokenized when the vocabulary is known, else chars / 4. */
export function countTextTokens(text: string, model: string | undefined): number {
  if (text.length === 0) return 0
  const encoding = encodingFor(model)
  if (encoding === undefined) return Math.ceil(text.length / CHARS_PER_TOKEN)
  const count = loadEncoding(encoding)
  if (text.length <= MAX_TOKENIZED_CHARS) return count(text)
  const head = count(text.slice(0, MAX_TOKENIZED_CHARS))
  return Math.ceil((head * text.length) / MAX_TOKENIZED_CHARS)
}

/** OpenAI's chat framing: a few tokens per message, and the reply's priming. */
const TOKENS_PER_MESSAGE = 3
const REPLY_PRIMING = 3

/** The prompt text of a request body, with the count of framing tokens it adds. */
function promptText(endpoint: Endpoint, body: Record<string, unknown>): { text: string; framing: number; tokenIds: number } {
  if (endpoint === 'chat') {
    const messages = Array.isArray(body.messages) ? body.messages : []
    let text = ''
    for (const m of messages as { content?: unknown; name?: unknown }[]) {
      text += contentText(m?.content)
      if (typeof m?.name === 'string') text += m.name
    }
    return { text, framing: messages.length * TOKENS_PER_MESSAGE + REPLY_PRIMING, tokenIds: 0 }
  }
  const input = endpoint === 'completions' ? body.prompt : body.input
  if (typeof input === 'string') return { text: input, framing: 0, tokenIds: 0 }
  if (!Array.isArray(input)) return { text: '', framing: 0, tokenIds: 0 }
  // A list of strings, a list of token ids, or a list of token-id lists.
  let text = ''
  let tokenIds = 0
  for (const item of input as unknown[]) {
    if (typeof item === 'string') text += item
    else if (typeof item === 'number') tokenIds++
    else if (Array.isArray(item)) tokenIds += item.length
  }
  return { text, framing: 0, tokenIds }
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  let text = ''
  for (const part of content as { type?: unknown; text?: unknown }[]) {
    if (typeof part?.text === 'string') text += part.text
  }
  return text
}

/** Estimated prompt tokens of a request body sent to `model`. */
export function estimatePromptTokens(endpoint: Endpoint, body: Record<string, unknown>, model: string | undefined): number {
  const { text, framing, tokenIds } = promptText(endpoint, body)
  return countTextTokens(text, model) + framing + tokenIds
}
