// The validation stages: the message-count limit, then strict body validation by endpoint.
import type { RequestFilter } from './filter.js'
import { arrayTooLong } from './checks.js'
import { validateChat } from './validate-chat.js'
import { validateCompletion, validateEmbeddings } from './validate-params.js'

/** Refuses chat bodies with more than `max` messages (before anything walks them). */
export function maxMessagesFilter(max: number): RequestFilter {
  return {
    name: 'max_messages',
    apply(ctx) {
      if (ctx.endpoint !== 'chat') return
      const n = (ctx.body!.messages as unknown[]).length
      if (n > max) arrayTooLong('messages', max, n)
    },
  }
}

export const validateFilter: RequestFilter = {
  name: 'validate',
  apply(ctx) {
    const body = ctx.body!
    switch (ctx.endpoint!) {
      case 'chat':
        validateChat(body)
        return
      case 'completions':
        validateCompletion(body)
        return
      case 'embeddings':
        validateEmbeddings(body)
        return
    }
  },
}
