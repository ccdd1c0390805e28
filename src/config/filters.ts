// The `filters:` section: limits and rules applied to request bodies before they leave
// (src/filters/ builds the pipeline from it). Patterns are checked here, at load time.
import { z } from 'zod'

/** PII kinds `redact_pii` knows (src/filters/redact-pii.ts has the detectors). */
export const piiKinds = ['email', 'phone', 'card'] as const
export type PiiKind = (typeof piiKinds)[number]

/** Leading inline flags, as RE2/PCRE/Python write them: `(?i)`, `(?is)`… */
const INLINE_FLAGS = /^\(\?([a-zA-Z]+)\)/
/** The inline flags that have a JavaScript equivalent. */
const JS_FLAGS = new Set(['i', 'm', 's'])

/**
 * A deny pattern as operators write it → JavaScript RegExp source and flags. A leading
 * `(?i)` (or `(?ims)`…) becomes the `i` (`m`, `s`) flag; `u` is always on, so `\p{…}`
 * classes work and invalid escapes are errors. Throws SyntaxError when it cannot compile.
 */
export function parsePattern(pattern: string): { source: string; flags: string } {
  let source = pattern
  let flags = 'u'
  const m = INLINE_FLAGS.exec(pattern)
  if (m !== null) {
    for (const f of m[1]!) {
      if (!JS_FLAGS.has(f)) throw new SyntaxError(`inline flag '${f}' is not supported (use i, m or s)`)
      if (!flags.includes(f)) flags += f
    }
    source = pattern.slice(m[0].length)
  }
  if (source === '') throw new SyntaxError('the pattern is empty')
  new RegExp(source, flags) // throws SyntaxError naming the problem
  return { source, flags }
}

const denyPattern = z.string().superRefine((pattern, ctx) => {
  try {
    parsePattern(pattern)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(err as Error).message}` })
  }
})

export const maxTokensSchema = z.strictObject({
  /** Largest completion budget a request may ask for (max_tokens / max_completion_tokens). */
  limit: z.number().int().positive(),
  /** clamp: lower it to the limit; reject: 400. Either way an absent value becomes the limit. */
  action: z.enum(['clamp', 'reject']).default('clamp'),
})

export const filtersSchema = z.strictObject({
  /** Strict validation of chat / completions / embeddings bodies (types, roles, shapes, ranges). */
  validate: z.boolean().default(true),
  /** Most messages one chat request may carry (OpenAI's own limit is 2048). */
  max_messages: z.number().int().positive().default(2048),
  /** Deepest nesting of objects and arrays in a request body, checked before parsing. */
  max_json_depth: z.number().int().min(2).max(1000).default(64),
  max_tokens: maxTokensSchema.optional(),
  /** Regular expressions matched against prompt text; a match is a 400 content_filter. */
  deny: z.array(denyPattern).default([]),
  /** PII replaced in prompt text before the request leaves the gateway. */
  redact_pii: z.array(z.enum(piiKinds)).default([]),
})

export type FiltersConfig = z.output<typeof filtersSchema>
