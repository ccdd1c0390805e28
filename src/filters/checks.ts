// Field checks for request bodies, each failing with the 400 OpenAI gives for the same
// mistake: the same `code`, the same message wording, and `param` naming the exact field
// (`messages[2].content[0].type`).
import { InvalidRequestError } from '../errors.js'

/** A check of one optional field; `param` is its path, for the error. */
export type FieldCheck = (value: unknown, param: string) => void

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** "a string", "an integer", "null"…: how OpenAI names what it got. */
function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  switch (typeof v) {
    case 'string':
      return 'a string'
    case 'number':
      return Number.isInteger(v) ? 'an integer' : 'a decimal'
    case 'boolean':
      return 'a boolean'
    default:
      return 'an object'
  }
}

/** A client value quoted in a message, cut short: error bodies stay small. */
export function quote(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v)
  return s.length > 64 ? `${s.slice(0, 61)}...` : s
}

function list(values: readonly string[]): string {
  const q = values.map((v) => `'${v}'`)
  return q.length < 2 ? q.join('') : `${q.slice(0, -1).join(', ')}, and ${q[q.length - 1]}`
}

export function invalidType(param: string, expected: string, got: unknown): never {
  throw new InvalidRequestError(
    `Invalid type for '${param}': expected ${expected}, but got ${describe(got)} instead.`,
    param,
    'invalid_type'
  )
}

export function invalidValue(param: string, got: unknown, supported: readonly string[]): never {
  throw new InvalidRequestError(
    `Invalid value for '${param}': '${quote(got)}'. Supported values are: ${list(supported)}.`,
    param,
    'invalid_value'
  )
}

export function missing(param: string): never {
  throw new InvalidRequestError(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter')
}

export function emptyArray(param: string): never {
  throw new InvalidRequestError(
    `Invalid '${param}': empty array. Expected an array with minimum length 1, but got an empty array instead.`,
    param,
    'empty_array'
  )
}

export function arrayTooLong(param: string, max: number, got: number): never {
  throw new InvalidRequestError(
    `Invalid '${param}': array too long. Expected an array with maximum length ${max}, but got an array with length ${got} instead.`,
    param,
    'array_above_max_length'
  )
}

export function stringTooLong(param: string, max: number, got: number): never {
  throw new InvalidRequestError(
    `Invalid '${param}': string too long. Expected a string with maximum length ${max}, but got a string with length ${got} instead.`,
    param,
    'string_above_max_length'
  )
}

export function patternMismatch(param: string, pattern: string): never {
  throw new InvalidRequestError(
    `Invalid '${param}': string does not match pattern. Expected a string that matches the pattern '${pattern}'.`,
    param,
    'invalid_value'
  )
}

/** A parameter given without the one it depends on; OpenAI's code is null here, ours generic. */
export function onlyWith(param: string, condition: string): never {
  throw new InvalidRequestError(`The '${param}' parameter is only allowed when ${condition}.`, param, 'invalid_request')
}

function outOfRange(param: string, v: number, bound: number, above: boolean, integer: boolean): never {
  const kind = integer ? 'integer' : 'decimal'
  throw new InvalidRequestError(
    `Invalid '${param}': ${kind} ${above ? 'above maximum' : 'below minimum'} value. ` +
      `Expected a value ${above ? '<=' : '>='} ${bound}, but got ${v} instead.`,
    param,
    `${kind}_${above ? 'above_max' : 'below_min'}_value`
  )
}

export function integer(min = -Infinity, max = Infinity): FieldCheck {
  return function checkInteger(v, param) {
    if (typeof v !== 'number' || !Number.isInteger(v)) invalidType(param, 'an integer', v)
    if (v < min) outOfRange(param, v, min, false, true)
    if (v > max) outOfRange(param, v, max, true, true)
  }
}

export function decimal(min = -Infinity, max = Infinity): FieldCheck {
  return function checkDecimal(v, param) {
    if (typeof v !== 'number') invalidType(param, 'a number', v)
    if (v < min) outOfRange(param, v, min, false, false)
    if (v > max) outOfRange(param, v, max, true, false)
  }
}

export const string: FieldCheck = function checkString(v, param) {
  if (typeof v !== 'string') invalidType(param, 'a string', v)
}

export const nonEmptyString: FieldCheck = function checkNonEmptyString(v, param) {
  if (typeof v !== 'string') invalidType(param, 'a string', v)
  if (v === '') {
    throw new InvalidRequestError(
      `Invalid '${param}': empty string. Expected a string with minimum length 1, but got an empty string instead.`,
      param,
      'empty_string'
    )
  }
}

export const boolean: FieldCheck = function checkBoolean(v, param) {
  if (typeof v !== 'boolean') invalidType(param, 'a boolean', v)
}

export const object: FieldCheck = function checkObject(v, param) {
  if (!isObject(v)) invalidType(param, 'an object', v)
}

export function oneOf(values: readonly string[]): FieldCheck {
  const set = new Set(values)
  return function checkOneOf(v, param) {
    if (typeof v !== 'string') invalidType(param, 'a string', v)
    if (!set.has(v)) invalidValue(param, v, values)
  }
}

export function arrayOf(item: FieldCheck, minLength = 0): FieldCheck {
  return function checkArray(v, param) {
    if (!Array.isArray(v)) invalidType(param, 'an array', v)
    if (v.length < minLength) emptyArray(param)
    for (let i = 0; i < v.length; i++) item(v[i], `${param}[${i}]`)
  }
}

/** The field is required (present and not null) and passes `check`. */
export function required(obj: Record<string, unknown>, key: string, param: string, check: FieldCheck): void {
  const v = obj[key]
  if (v === undefined || v === null) missing(`${param}.${key}`)
  check(v, `${param}.${key}`)
}

/** The field may be absent or null; otherwise it passes `check`. */
export function optional(obj: Record<string, unknown>, key: string, param: string, check: FieldCheck): void {
  const v = obj[key]
  if (v !== undefined && v !== null) check(v, `${param}.${key}`)
}

/** Checks each present, non-null top-level field that has a rule; unknown fields pass. */
export function checkFields(body: Record<string, unknown>, rules: ReadonlyMap<string, FieldCheck>): void {
  // The body's few fields, each looked up among the rules: not every rule's name looked up
  // in the body (dozens of property reads that miss, each a slow generic lookup).
  for (const key in body) {
    const check = rules.get(key)
    if (check === undefined) continue
    const v = body[key]
    if (v !== undefined && v !== null) check(v, key)
  }
}
