// Shared domain types only; no logic.

/** Token counts as OpenAI reports them. */
export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

/** The OpenAI-compatible endpoints the gateway proxies. */
export type Endpoint = 'chat' | 'completions' | 'embeddings'

/** How a request ended, as the access log and metrics see it. */
export type Outcome = 'ok' | 'error' | 'cancelled'
