// The completion budget cap: max_tokens (and chat's max_completion_tokens) above the limit
// is lowered to it (clamp) or refused (reject). A chat request that names no budget gets
// the limit, since "absent" means "up to the context length" there; a completions request
// does not, since its absent max_tokens already means 16.
import type { FiltersConfig } from '../config/filters.js'
import { InvalidRequestError } from '../errors.js'
import { integer, invalidType } from './checks.js'
import type { RequestFilter } from './filter.js'

const CHAT_FIELDS = ['max_tokens', 'max_completion_tokens'] as const
/** OpenAI's reasoning models refuse max_tokens (400: use max_completion_tokens). */
const REASONING_MODEL = /^(o\d|gpt-5|codex-)/i
const COMPLETION_FIELDS = ['max_tokens'] as const
/** 400 integer_below_min_value (invalid_type for a decimal), as the validator words it. */
const belowZero = integer(0)

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
        // Checked here whatever `validate` says: a value the cap cannot compare ("100000",
        // 1e999) would pass it and reach an upstream that may parse it; a negative one means
        // "no limit" to some (llama.cpp's -1).
        if (typeof v !== 'number' || !Number.isFinite(v)) invalidType(field, 'an integer', v)
        if (v < 0) belowZero(v, field)
        if (v <= limit) continue
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
        body[budgetField(ctx.route?.config.upstreams, body.model)] = limit
        ctx.bodyChanged = true
      }
    },
  }
}

/**
 * The field a budget the gateway adds goes in: max_completion_tokens for OpenAI's reasoning
 * models (the requested name or an upstream's), max_tokens for the rest (servers such as
 * TGI and older vLLM read only that).
 */
function budgetField(upstreams: readonly { readonly model?: string | undefined }[] | undefined, requested: unknown): (typeof CHAT_FIELDS)[number] {
  if (typeof requested === 'string' && REASONING_MODEL.test(requested)) return 'max_completion_tokens'
  if (upstreams?.some((u) => u.model !== undefined && REASONING_MODEL.test(u.model))) return 'max_completion_tokens'
  return 'max_tokens'
}
