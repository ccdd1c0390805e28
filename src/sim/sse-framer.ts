// Server-sent event frames in OpenAI's exact streaming format, built by string concatenation
// from per-stream prefixes so no chunk object is serialised.

export type FinishReason = 'stop' | 'length'

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export interface Framer {
  /** The frame sent before the first token (chat's role delta), or '' when there is none. */
  readonly opening: string
  /** A frame carrying one token, given as a JSON string literal. */
  token(tokenJson: string): string
  /** The frame that carries finish_reason. */
  finish(reason: FinishReason): string
  /** The trailing usage frame (`choices: []`), sent only with stream_options.include_usage. */
  usage(usage: Usage): string
}

export const DONE_FRAME = 'data: [DONE]\n\n'

export interface StreamIdentity {
  readonly id: string
  readonly created: number
  readonly model: string
  /** Whether stream_options.include_usage was set: then every chunk carries `usage: null`. */
  readonly includeUsage: boolean
}

function envelope(object: string, who: StreamIdentity): string {
  const model = JSON.stringify(who.model)
  return `data: {"id":"${who.id}","object":"${object}","created":${who.created},"model":${model},`
}

function usageFrame(head: string, usage: Usage): string {
  return `${head}"choices":[],"usage":${JSON.stringify(usage)}}\n\n`
}

export function chatFramer(who: StreamIdentity): Framer {
  const head = envelope('chat.completion.chunk', who)
  const open = `${head}"choices":[{"index":0,"delta":`
  const tail = who.includeUsage ? ',"usage":null}\n\n' : '}\n\n'
  const pending = `,"logprobs":null,"finish_reason":null}]${tail}`
  return {
    opening: `${open}{"role":"assistant","content":""}${pending}`,
    token: (tokenJson) => `${open}{"content":${tokenJson}}${pending}`,
    finish: (reason) => `${open}{},"logprobs":null,"finish_reason":"${reason}"}]${tail}`,
    usage: (usage) => usageFrame(head, usage),
  }
}

export function completionFramer(who: StreamIdentity): Framer {
  const head = envelope('text_completion', who)
  const open = `${head}"choices":[{"index":0,"text":`
  const tail = who.includeUsage ? ',"usage":null}\n\n' : '}\n\n'
  const pending = `,"logprobs":null,"finish_reason":null}]${tail}`
  return {
    opening: '',
    token: (tokenJson) => `${open}${tokenJson}${pending}`,
    finish: (reason) => `${open}"","logprobs":null,"finish_reason":"${reason}"}]${tail}`,
    usage: (usage) => usageFrame(head, usage),
  }
}
