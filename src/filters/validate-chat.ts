// Strict shape checks for a chat completion body: roles, messages, content parts, tool calls,
// tools and the typed parameters. Known fields must have the types and ranges OpenAI
// documents; fields it does not know (vLLM's top_k, guided_json…) pass untouched.
import {
  arrayOf,
  boolean,
  checkFields,
  emptyArray,
  integer,
  invalidType,
  invalidValue,
  isObject,
  missing,
  nonEmptyString,
  object,
  oneOf,
  onlyWith,
  optional,
  patternMismatch,
  quote,
  required,
  string,
  stringTooLong,
  type FieldCheck,
} from './checks.js'
import { checkStreamOptions, COMMON_PARAMS } from './validate-params.js'
import { InvalidRequestError } from '../errors.js'

export const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const

const TEXT_ONLY = ['text']
/** OpenAI's user parts, then the ones vLLM adds for multimodal models. */
const USER_PARTS = ['text', 'image_url', 'input_audio', 'file', 'audio_url', 'video_url', 'image_embeds', 'audio_embeds', 'prompt_embeds']
/** `thinking` is vLLM's, for interleaved reasoning. */
const ASSISTANT_PARTS = ['text', 'refusal', 'thinking']

const urlObject: FieldCheck = function checkUrlObject(v, param) {
  if (!isObject(v)) invalidType(param, 'an object', v)
  required(v, 'url', param, nonEmptyString)
}

/** Shape of each content part type; parts of other allowed types are not looked into. */
const PART_FIELDS: Readonly<Record<string, (part: Record<string, unknown>, param: string) => void>> = {
  text: (p, param) => required(p, 'text', param, string),
  refusal: (p, param) => required(p, 'refusal', param, string),
  thinking: (p, param) => required(p, 'thinking', param, string),
  image_url: (p, param) => {
    required(p, 'image_url', param, urlObject)
    optional(p.image_url as Record<string, unknown>, 'detail', `${param}.image_url`, oneOf(['auto', 'low', 'high']))
  },
  audio_url: (p, param) => required(p, 'audio_url', param, urlObject),
  video_url: (p, param) => required(p, 'video_url', param, urlObject),
  input_audio: (p, param) => {
    required(p, 'input_audio', param, object)
    const audio = p.input_audio as Record<string, unknown>
    required(audio, 'data', `${param}.input_audio`, nonEmptyString)
    required(audio, 'format', `${param}.input_audio`, nonEmptyString)
  },
  file: (p, param) => {
    required(p, 'file', param, object)
    const file = p.file as Record<string, unknown>
    const at = `${param}.file`
    for (const k of ['file_data', 'file_id', 'filename']) optional(file, k, at, string)
    if (file.file_data == null && file.file_id == null) missing(`${at}.file_data`)
  },
}

function content(allowed: readonly string[], nullable: boolean): FieldCheck {
  const types = new Set(allowed)
  return function checkContent(v, param) {
    if (typeof v === 'string') return
    if (v === null && nullable) return
    if (!Array.isArray(v)) invalidType(param, 'a string or an array of content parts', v)
    if (v.length === 0 && !nullable) emptyArray(param)
    for (let j = 0; j < v.length; j++) {
      const part: unknown = v[j]
      const at = `${param}[${j}]`
      if (!isObject(part)) invalidType(at, 'an object', part)
      const type = part.type
      if (type === undefined) missing(`${at}.type`)
      if (typeof type !== 'string') invalidType(`${at}.type`, 'a string', type)
      if (!types.has(type)) invalidValue(`${at}.type`, type, allowed)
      PART_FIELDS[type]?.(part, at)
    }
  }
}

const systemContent = content(TEXT_ONLY, false)
const userContent = content(USER_PARTS, false)
const toolContent = content(USER_PARTS, false)
const assistantContent = content(ASSISTANT_PARTS, true)

const toolCall: FieldCheck = function checkToolCall(v, param) {
  if (!isObject(v)) invalidType(param, 'an object', v)
  required(v, 'id', param, string)
  const type = v.type ?? 'function'
  if (type === 'function') {
    required(v, 'function', param, object)
    const fn = v.function as Record<string, unknown>
    required(fn, 'name', `${param}.function`, string)
    required(fn, 'arguments', `${param}.function`, string)
  } else if (type === 'custom') {
    required(v, 'custom', param, object)
    const c = v.custom as Record<string, unknown>
    required(c, 'name', `${param}.custom`, string)
    required(c, 'input', `${param}.custom`, string)
  } else {
    invalidValue(`${param}.type`, type, ['function', 'custom'])
  }
}

function checkMessage(m: unknown, i: number): void {
  const at = `messages[${i}]`
  if (!isObject(m)) invalidType(at, 'an object', m)
  const role = m.role
  if (role === undefined || role === null) missing(`${at}.role`)
  if (typeof role !== 'string') invalidType(`${at}.role`, 'a string', role)
  optional(m, 'name', at, string)
  switch (role) {
    case 'system':
    case 'developer':
      required(m, 'content', at, systemContent)
      return
    case 'user':
      required(m, 'content', at, userContent)
      return
    case 'assistant':
      optional(m, 'content', at, assistantContent)
      optional(m, 'refusal', at, string)
      optional(m, 'tool_calls', at, arrayOf(toolCall))
      optional(m, 'function_call', at, functionCall)
      optional(m, 'audio', at, object)
      // OpenAI: content is "required unless tool_calls or function_call is specified"; a
      // refusal echoed back from a response (content null) is accepted as well.
      if (m.content == null && m.tool_calls == null && m.function_call == null && m.audio == null && m.refusal == null) {
        missing(`${at}.content`)
      }
      return
    case 'tool':
      required(m, 'content', at, toolContent)
      required(m, 'tool_call_id', at, string)
      return
    case 'function':
      required(m, 'name', at, string)
      optional(m, 'content', at, string)
      return
    default:
      invalidValue(`${at}.role`, role, ROLES)
  }
}

const functionCall: FieldCheck = function checkFunctionCall(v, param) {
  if (!isObject(v)) invalidType(param, 'an object', v)
  required(v, 'name', param, string)
  required(v, 'arguments', param, string)
}

/** OpenAI's rule for function names (tools and legacy functions). */
const FUNCTION_NAME = /^[a-zA-Z0-9_-]+$/
const MAX_FUNCTION_NAME = 64

const functionName: FieldCheck = function checkFunctionName(v, param) {
  nonEmptyString(v, param)
  const name = v as string
  if (name.length > MAX_FUNCTION_NAME) stringTooLong(param, MAX_FUNCTION_NAME, name.length)
  if (!FUNCTION_NAME.test(name)) patternMismatch(param, FUNCTION_NAME.source)
}

const functionDef: FieldCheck = function checkFunctionDef(v, param) {
  if (!isObject(v)) invalidType(param, 'an object', v)
  required(v, 'name', param, functionName)
  optional(v, 'description', param, string)
  optional(v, 'parameters', param, object)
  optional(v, 'strict', param, boolean)
}

const tool: FieldCheck = function checkTool(v, param) {
  if (!isObject(v)) invalidType(param, 'an object', v)
  required(v, 'type', param, oneOf(['function', 'custom']))
  if (v.type === 'function') required(v, 'function', param, functionDef)
  else {
    required(v, 'custom', param, object)
    required(v.custom as Record<string, unknown>, 'name', `${param}.custom`, nonEmptyString)
  }
}

const TOOL_CHOICE_MODES = ['none', 'auto', 'required']
const toolChoice: FieldCheck = function checkToolChoice(v, param) {
  if (typeof v === 'string') {
    if (!TOOL_CHOICE_MODES.includes(v)) invalidValue(param, v, TOOL_CHOICE_MODES)
    return
  }
  if (!isObject(v)) invalidType(param, 'a string or an object', v)
  required(v, 'type', param, oneOf(['function', 'custom', 'allowed_tools']))
  if (v.type === 'function') {
    required(v, 'function', param, object)
    required(v.function as Record<string, unknown>, 'name', `${param}.function`, string)
  } else if (v.type === 'custom') {
    required(v, 'custom', param, object)
    required(v.custom as Record<string, unknown>, 'name', `${param}.custom`, string)
  } else {
    required(v, 'allowed_tools', param, object)
  }
}

/**
 * A tool_choice that names a tool must name one in `tools` (OpenAI and vLLM both refuse it
 * otherwise; a model server may instead force a call of a tool it was never described).
 * Runs after the field checks, so both fields have their shapes.
 */
function checkNamedToolChoice(choice: Record<string, unknown>, tools: unknown): void {
  const type = choice.type
  if (type !== 'function' && type !== 'custom') return
  if (!Array.isArray(tools)) {
    throw new InvalidRequestError(
      "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
      'tool_choice',
      'invalid_value'
    )
  }
  const name = (choice[type] as Record<string, unknown>).name
  for (let i = 0; i < tools.length; i++) {
    const t = tools[i] as Record<string, unknown>
    if (t.type === type && (t[type] as Record<string, unknown>).name === name) return
  }
  throw new InvalidRequestError(
    `Invalid value for 'tool_choice.${type}.name': '${quote(name)}' is not the name of a ${type} tool in 'tools'.`,
    `tool_choice.${type}.name`,
    'invalid_value'
  )
}

const legacyFunctionCall: FieldCheck = function checkLegacyFunctionCall(v, param) {
  if (typeof v === 'string') {
    if (v !== 'none' && v !== 'auto') invalidValue(param, v, ['none', 'auto'])
    return
  }
  if (!isObject(v)) invalidType(param, 'a string or an object', v)
  required(v, 'name', param, string)
}

/** `structural_tag` is vLLM's. */
const RESPONSE_FORMATS = ['text', 'json_object', 'json_schema', 'structural_tag']
const responseFormat: FieldCheck = function checkResponseFormat(v, param) {
  if (!isObject(v)) invalidType(param, 'an object', v)
  required(v, 'type', param, oneOf(RESPONSE_FORMATS))
  if (v.type === 'json_schema') {
    required(v, 'json_schema', param, object)
    required(v.json_schema as Record<string, unknown>, 'name', `${param}.json_schema`, string)
    optional(v.json_schema as Record<string, unknown>, 'schema', `${param}.json_schema`, object)
  }
}

const CHAT_PARAMS: ReadonlyMap<string, FieldCheck> = new Map([
  ...COMMON_PARAMS,
  ['max_tokens', integer(1)],
  ['max_completion_tokens', integer(1)],
  ['logprobs', boolean],
  ['top_logprobs', integer(0, 20)],
  ['tools', arrayOf(tool)],
  ['tool_choice', toolChoice],
  ['parallel_tool_calls', boolean],
  ['functions', arrayOf(functionDef)],
  ['function_call', legacyFunctionCall],
  ['response_format', responseFormat],
  ['modalities', arrayOf(string)],
  ['reasoning_effort', string],
  ['store', boolean],
  ['metadata', object],
  ['service_tier', string],
  ['audio', object],
  ['prediction', object],
  ['web_search_options', object],
])

/** Throws the first problem found in a chat body (model, messages array and stream already checked). */
export function validateChat(body: Record<string, unknown>): void {
  const messages = body.messages as unknown[]
  for (let i = 0; i < messages.length; i++) checkMessage(messages[i], i)
  checkFields(body, CHAT_PARAMS)
  checkStreamOptions(body)
  if (isObject(body.tool_choice)) checkNamedToolChoice(body.tool_choice, body.tools)
  // top_logprobs 0 asks for nothing, so it passes alone (Swagger-made clients send it).
  if (typeof body.top_logprobs === 'number' && body.top_logprobs > 0 && body.logprobs !== true) {
    onlyWith('top_logprobs', "'logprobs' is true")
  }
}

