// Turns a chat or completions request body into a plan: prompt size, completion length, finish.
import { badRequest } from './reply.js'
import { isRecord, isTokenList, modelOf } from './request-body.js'
import type { FinishReason } from './sse-framer.js'
import { estimateTokens, hashText, naturalLength } from './text-generator.js'

export type GenerationKind = 'chat' | 'completion'

export interface GenerationPlan {
  readonly kind: GenerationKind
  /** The request's model, echoed back (the configured one when the request names none). */
  readonly model: string
  readonly stream: boolean
  readonly includeUsage: boolean
  readonly promptTokens: number
  readonly completionTokens: number
  readonly finishReason: FinishReason
  /** Seeds the token sequence; a pure function of the simulator's seed and the prompt. */
  readonly textSeed: number
}

interface Prompt {
  readonly text: string
  readonly tokens: number
}

/**
 * Length rules: a natural length of 16–48 tokens picked from seed + prompt, raised to vLLM's
 * `min_tokens`, cut to `max_completion_tokens` / `max_tokens` (finish_reason 'length').
 * vLLM's `ignore_eos: true` with a max makes the completion exactly max tokens long.
 */
export function planGeneration(
  kind: GenerationKind,
  body: Record<string, unknown>,
  defaults: { readonly model: string; readonly seed: number }
): GenerationPlan {
  const prompt = kind === 'chat' ? readMessages(body.messages) : readPrompt(body.prompt)
  const maxTokens = readCount(body, 'max_completion_tokens', 1) ?? readCount(body, 'max_tokens', 1)
  const minTokens = readCount(body, 'min_tokens', 0) ?? 0
  const hash = hashText(prompt.text, defaults.seed)
  const desired =
    body.ignore_eos === true && maxTokens !== undefined
      ? Number.POSITIVE_INFINITY
      : Math.max(naturalLength(hash), minTokens)
  const completionTokens = Math.min(desired, maxTokens ?? desired)
  const stream = body.stream === true
  const options = body.stream_options
  return {
    kind,
    model: modelOf(body, defaults.model),
    stream,
    includeUsage: stream && isRecord(options) && options.include_usage === true,
    promptTokens: prompt.tokens,
    completionTokens,
    finishReason: completionTokens < desired ? 'length' : 'stop',
    // A second, unrelated stream of numbers, so the length does not predict the first token.
    textSeed: (hash ^ 0x5bd1e995) >>> 0,
  }
}

function readMessages(messages: unknown): Prompt {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw badRequest("'messages' must be a non-empty array.", 'messages')
  }
  const parts: string[] = []
  for (const [i, message] of messages.entries()) {
    if (!isRecord(message)) throw badRequest(`'messages[${i}]' must be an object.`, 'messages')
    parts.push(contentText(message.content))
  }
  const text = parts.join('\n')
  return { text, tokens: estimateTokens(text) }
}

/** Text of a message's content: a string, or the text parts of a content-part array. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  let text = ''
  for (const part of content) {
    if (isRecord(part) && typeof part.text === 'string') text += part.text
  }
  return text
}

/** A prompt is a string, strings, token ids, or lists of token ids; batches are joined into one. */
function readPrompt(prompt: unknown): Prompt {
  if (typeof prompt === 'string') return { text: prompt, tokens: estimateTokens(prompt) }
  if (Array.isArray(prompt) && prompt.length > 0) {
    if (prompt.every((p) => typeof p === 'string')) {
      const text = prompt.join('\n')
      return { text, tokens: estimateTokens(text) }
    }
    if (prompt.every((p) => typeof p === 'number')) {
      return { text: prompt.join(','), tokens: prompt.length }
    }
    if (prompt.every(isTokenList)) {
      const lists: number[][] = prompt
      const tokens = lists.reduce((sum, list) => sum + list.length, 0)
      return { text: lists.map((list) => list.join(',')).join('\n'), tokens }
    }
  }
  throw badRequest(
    "'prompt' must be a string, an array of strings, or token ids (non-empty).",
    'prompt'
  )
}

function readCount(body: Record<string, unknown>, name: string, min: number): number | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw badRequest(`'${name}' must be an integer of at least ${min}.`, name)
  }
  return value
}
