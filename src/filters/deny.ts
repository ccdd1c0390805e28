// Deny patterns: a prompt text matching any configured regular expression is refused with
// 400 content_filter. The message names where the match is, never what matched or which rule.
import { parsePattern } from '../config/filters.js'
import { InvalidRequestError } from '../errors.js'
import type { RequestFilter } from './filter.js'
import { paramOf, visitPromptText } from './prompt-text.js'

export function denyFilter(patterns: readonly string[]): RequestFilter {
  const rules = patterns.map((p) => {
    const { source, flags } = parsePattern(p)
    return new RegExp(source, flags)
  })
  function check(text: string, where: Parameters<typeof paramOf>[0]): string {
    for (let i = 0; i < rules.length; i++) {
      if (rules[i]!.test(text)) {
        throw new InvalidRequestError(
          "The request was refused by the gateway's content filter.",
          paramOf(where),
          'content_filter'
        )
      }
    }
    return text
  }
  return {
    name: 'deny',
    apply(ctx) {
      visitPromptText(ctx.endpoint!, ctx.body!, check)
    },
  }
}
