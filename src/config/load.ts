// YAML file → interpolated secrets → schema → frozen Config. Everything that can be
// wrong with a config is reported at once, each problem named by its field path.
import { readFile } from 'node:fs/promises'
import { parseDocument } from 'yaml'
import type { z } from 'zod'
import { configSchema, type Config } from './schema.js'

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: readonly string[]
  ) {
    super(`invalid config ${source}:\n  ${issues.join('\n  ')}`)
  }
}

/** `models[1].upstreams[0].url` from ['models', 1, 'upstreams', 0, 'url']. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`
    else out += out === '' ? String(p) : `.${String(p)}`
  }
  return out === '' ? '(root)' : out
}

/** "a string", "a list", "null": what a YAML value is, for type errors (never the value: it may be a secret). */
function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (value instanceof Date) return 'a date'
  const type = typeof value
  if (type === 'object') return 'a mapping'
  // JSON's 1e400 parses as Infinity: say so rather than "a number" (a number is what was expected).
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  return `${type === 'undefined' ? 'nothing' : /^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`
}

/**
 * What a wrong-typed field held, or undefined when it was missing. From the input when the
 * parse reported it (`reportInput: true`), else from zod's own "received <type>" (callers
 * that parse without it, such as the admin API's bodies).
 */
function gotOf(issue: z.core.$ZodIssueInvalidType): string | undefined {
  if (issue.input !== undefined) return kindOf(issue.input)
  const received = /received (\w+)$/.exec(issue.message)?.[1]
  if (received === undefined || received === 'undefined') return undefined
  return RECEIVED[received] ?? `a ${received}`
}

const RECEIVED: Record<string, string> = { array: 'a list', object: 'a mapping', null: 'null', integer: 'an integer', nan: 'NaN', Infinity: 'Infinity' }

const EXPECTED: Record<string, string> = { array: 'a list', object: 'a mapping', int: 'an integer', bigint: 'an integer' }

/**
 * One schema issue as `path: message`, the form every config error is reported in. A missing
 * field "is required"; a field of the wrong type says what was expected and what it got.
 */
export function formatIssue(issue: z.core.$ZodIssue): string {
  let message = issue.message
  if (issue.code === 'unrecognized_keys') message = `unknown field(s): ${issue.keys.join(', ')}`
  else if (issue.code === 'invalid_type') {
    const got = gotOf(issue)
    message = got === undefined ? 'is required' : `expected ${EXPECTED[issue.expected] ?? `a ${issue.expected}`}, got ${got}`
  } else if (issue.code === 'invalid_value' && 'values' in issue) {
    message = `must be one of: ${issue.values.map(String).join(', ')}`
  }
  return `${formatPath(issue.path)}: ${message}`
}

/**
 * The field an issue is about, as OpenAI's `param` names it (`limits.rpm` for an unknown
 * field `rpm` under `limits`, `models[0]`); undefined for the body as a whole.
 */
export function issueParam(issue: z.core.$ZodIssue): string | undefined {
  const path = issue.code === 'unrecognized_keys' && issue.keys.length > 0 ? [...issue.path, issue.keys[0]!] : issue.path
  return path.length === 0 ? undefined : formatPath(path)
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/** What interpolation found: problems by path, and the paths of the strings it substituted into. */
interface Interpolation {
  readonly missing: Map<string, string>
  readonly substituted: Set<string>
}

/**
 * Replaces ${VAR} and ${VAR:-default} in every string of the tree. The default applies when
 * VAR is unset or empty; without one, an unset or empty VAR is a problem at that path.
 */
function interpolate(node: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[], found: Interpolation): unknown {
  if (typeof node === 'string') {
    let hit = false
    const out = node.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      hit = true
      const value = env[name]
      if (value !== undefined && value !== '') return value
      if (fallback !== undefined) return fallback
      const at = formatPath(path)
      found.missing.set(at, `${at}: environment variable ${name} is ${value === undefined ? 'not set' : 'empty'}`)
      return ''
    })
    if (hit) found.substituted.add(formatPath(path))
    return out
  }
  if (Array.isArray(node)) return node.map((v, i) => interpolate(v, env, [...path, i], found))
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) out[k] = interpolate(v, env, [...path, k], found)
    return out
  }
  return node
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const BOOLEAN: Record<string, boolean> = { true: true, false: false }

/**
 * YAML is parsed before ${…} is substituted, so `port: ${PORT:-8080}` is a string. Where the
 * schema wants a number or a boolean and the value came from a substitution that reads as
 * one, it becomes one; nothing else is coerced (an all-digit api_key stays a string).
 * Returns whether anything changed.
 */
function coerceSubstituted(data: unknown, issues: readonly z.core.$ZodIssue[], substituted: Set<string>): boolean {
  let changed = false
  for (const issue of issues) {
    if (issue.code !== 'invalid_type' || typeof issue.input !== 'string') continue
    if (issue.expected !== 'number' && issue.expected !== 'boolean') continue
    const at = formatPath(issue.path)
    if (!substituted.has(at)) continue
    const text = issue.input.trim()
    const value = issue.expected === 'number' ? (NUMBER.test(text) ? Number(text) : undefined) : BOOLEAN[text.toLowerCase()]
    if (value === undefined) continue
    const parent = issue.path.slice(0, -1).reduce<unknown>((o, k) => (o as Record<PropertyKey, unknown>)[k], data)
    ;(parent as Record<PropertyKey, unknown>)[issue.path[issue.path.length - 1]!] = value
    substituted.delete(at)
    changed = true
  }
  return changed
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/** Validates an already-parsed object (from YAML, or built in code by tests and the demo). */
export function parseConfig(raw: unknown, source = '(inline)', env = process.env): Config {
  const found: Interpolation = { missing: new Map(), substituted: new Set() }
  const data = interpolate(raw ?? {}, env, [], found)
  let result = configSchema.safeParse(data, { reportInput: true })
  // Each round fixes every substituted value the schema named, so this ends; the bound is a guard.
  for (let round = 0; !result.success && round < 8 && coerceSubstituted(data, result.error.issues, found.substituted); round++) {
    result = configSchema.safeParse(data, { reportInput: true })
  }
  if (result.success && found.missing.size === 0) return deepFreeze(result.data)
  // Missing variables and schema problems together; a field whose variable is missing is
  // reported once, by the variable, not again for the empty string it was left with.
  const schemaIssues = (result.error?.issues ?? []).filter((issue) => !found.missing.has(formatPath(issue.path)))
  throw new ConfigError(source, [...found.missing.values(), ...schemaIssues.map(formatIssue)])
}

export function parseConfigText(text: string, source: string, env = process.env): Config {
  const doc = parseDocument(text, { prettyErrors: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`)
    )
  }
  return parseConfig(doc.toJS(), source, env)
}

export async function loadConfig(file: string, env = process.env): Promise<Config> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ConfigError(file, [code === 'ENOENT' ? 'file not found' : `cannot read: ${String(err)}`])
  }
  return parseConfigText(text, file, env)
}
