// Typed parameters shared by chat and completions, and the completions and embeddings
// bodies. Ranges are OpenAI's; `null` means "not given", as the OpenAI API treats it.
import {
  arrayOf,
  arrayTooLong,
  boolean,
  checkFields,
  decimal,
  emptyArray,
  integer,
  invalidType,
  isObject,
  nonEmptyString,
  oneOf,
  onlyWith,
  optional,
  quote,
  string,
  type FieldCheck,
} from './checks.js'
import { InvalidRequestError } from '../errors.js'

/** OpenAI's limit; vLLM takes more, but a client written against OpenAI never sends more. */
const MAX_STOP = 4

const stop: FieldCheck = function checkStop(v, param) {
  if (typeof v === 'string') return
  if (Array.isArray(v) && v.length > MAX_STOP) arrayTooLong(param, MAX_STOP, v.length)
  arrayOf(string)(v, param)
}

/** A token id as a JSON object key. */
const TOKEN_ID = /^[0-9]+$/
const bias = decimal(-100, 100)

const logitBias: FieldCheck = function checkLogitBias(v, param) {
  if (!isObject(v)) invalidType(param, 'an object', v)
  for (const token in v) {
    if (!TOKEN_ID.test(token)) {
      // OpenAI's wording and `param`; the key may be long, so the message cuts it short.
      throw new InvalidRequestError(
        `Invalid key in '${param}': ${quote(token)}. You should only be submitting non-negative integers.`,
        param,
        'invalid_value'
      )
    }
    bias(v[token], `${param}.${token}`)
  }
}

const streamOptions: FieldCheck = function checkStreamOptions(v, param) {
  if (!isObject(v)) invalidType(param, 'an object', v)
  optional(v, 'include_usage', param, boolean)
}

/** Cross-field rules shared by chat and completions (`null` is "not given" here too). */
export function checkStreamOptions(body: Record<string, unknown>): void {
  if (body.stream_options != null && body.stream !== true) onlyWith('stream_options', "'stream' is enabled")
}

export const COMMON_PARAMS: ReadonlyArray<readonly [string, FieldCheck]> = [
  ['temperature', decimal(0, 2)],
  ['top_p', decimal(0, 1)],
  ['n', integer(1, 128)],
  ['presence_penalty', decimal(-2, 2)],
  ['frequency_penalty', decimal(-2, 2)],
  ['seed', integer()],
  ['user', string],
  ['stop', stop],
  ['logit_bias', logitBias],
  ['stream_options', streamOptions],
]

const COMPLETION_PARAMS: ReadonlyMap<string, FieldCheck> = new Map([
  ...COMMON_PARAMS,
  // 0 is allowed here: with echo it scores the prompt without generating.
  ['max_tokens', integer(0)],
  ['logprobs', integer(0)],
  ['best_of', integer(1)],
  ['echo', boolean],
  ['suffix', string],
])

/**
 * A prompt or an embeddings input: a string, a list of strings, a list of token ids, or a
 * list of token-id lists (never a mix).
 */
function textOrTokens(maxItems: number, nonEmpty: boolean): FieldCheck {
  const token = integer(0)
  return function checkTextOrTokens(v, param) {
    if (typeof v === 'string') {
      if (nonEmpty) nonEmptyString(v, param)
      return
    }
    if (!Array.isArray(v)) invalidType(param, 'a string or an array', v)
    if (v.length === 0) emptyArray(param)
    if (v.length > maxItems) arrayTooLong(param, maxItems, v.length)
    const first: unknown = v[0]
    for (let i = 0; i < v.length; i++) {
      const item: unknown = v[i]
      const at = `${param}[${i}]`
      if (typeof first === 'string') {
        if (nonEmpty) nonEmptyString(item, at)
        else string(item, at)
      } else if (typeof first === 'number') token(item, at)
      else if (Array.isArray(first)) arrayOf(token, 1)(item, at)
      else invalidType(at, 'a string, a token id or a list of token ids', item)
    }
  }
}

const prompt = textOrTokens(Infinity, false)
const embeddingInput = textOrTokens(2048, true)

export function validateCompletion(body: Record<string, unknown>): void {
  prompt(body.prompt, 'prompt')
  checkFields(body, COMPLETION_PARAMS)
  checkStreamOptions(body)
}

const EMBEDDING_PARAMS: ReadonlyMap<string, FieldCheck> = new Map([
  ['encoding_format', oneOf(['float', 'base64'])],
  ['dimensions', integer(1)],
  ['user', string],
])

export function validateEmbeddings(body: Record<string, unknown>): void {
  embeddingInput(body.input, 'input')
  checkFields(body, EMBEDDING_PARAMS)
}

