// The completion budget cap: max_tokens (and chat's max_completion_tokens) above the limit
// is lowered to it (clamp) or refused (reject). A chat request that names no budget gets
// the limit, since "absent" means "up to the context length" there; a completions request
// does not, since its absent max_tokens already means 16.
import type { FiltersConfig } from '../config/filters.js'
import { InvalidRequestError } from '../errors.js'
import type { RequestFilter } from './filter.js'

const CHAT_FIELDS = ['max_tokens', 'max_completion_tokens'] as const
const COMPLETION_FIELDS = ['max_tokens'] as const

export function maxTokensFilter(options: NonNullable<FiltersConfig['max_tokens']>): RequestFilter {
  const { limit, action } = options
  return {
    name: 'max_tokens',
    apply(ctx) {
      if (ctx.endpoint === 'embeddings') return
      const body = ctx.body!
      let named = false
      for (const field of ctx.endpoint === 'chat' ? CHAT_FIELDS : COMPLETION_FIELDS) {
        const v = body[field]
        if (v === undefined || v === null) continue
        named = true
        // A wrong type is the validation stage's to report (or the upstream's, with it off).
        if (typeof v !== 'number' || v <= limit) continue
        if (action === 'reject') {
          throw new InvalidRequestError(
            `Invalid '${field}': integer above maximum value. Expected a value <= ${limit}, but got ${v} instead.`,
            field,
            'integer_above_max_value'
          )
        }
        body[field] = limit
        ctx.bodyChanged = true
      }
      if (!named && ctx.endpoint === 'chat') {
        body.max_tokens = limit
        ctx.bodyChanged = true
      }
    },
  }
}
