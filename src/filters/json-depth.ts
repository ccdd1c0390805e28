// Nesting depth of a JSON body, counted on the raw bytes before JSON.parse runs. V8's parser
// is iterative but slow on deep input (a million levels costs about a second), and our own
// walks and JSON.stringify are recursive, so depth is refused before anything else looks.
import { InvalidRequestError } from '../errors.js'
import type { RequestFilter } from './filter.js'

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d

/**
 * True when objects and arrays nest deeper than `max` (the top-level object is depth 1).
 * Brackets inside strings do not count. Malformed JSON is left to JSON.parse to report.
 */
export function exceedsJsonDepth(raw: Uint8Array, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) inString = true
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--
  }
  return false
}

export function jsonDepthFilter(max: number): RequestFilter {
  return {
    name: 'max_json_depth',
    checkRaw(ctx) {
      if (ctx.rawBody !== undefined && exceedsJsonDepth(ctx.rawBody, max)) {
        throw new InvalidRequestError(
          `The request body nests objects and arrays deeper than ${max} levels.`,
          null,
          'json_too_deep'
        )
      }
    },
  }
}
