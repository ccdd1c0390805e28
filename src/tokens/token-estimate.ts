// Prompt-token estimates: for tokens-per-minute limits, made before the call and corrected
// afterwards from the upstream's reported usage; and for usage records when an upstream
// reported none (observability/usage-fallback.ts). Known OpenAI vocabularies are counted with
// gpt-tokenizer; anything else (Llama, Qwen… behind vLLM) by characters. The cost is bounded:
// only the first EXACT_CHARS characters are tokenized, the rest is extrapolated.
import type { ModelConfig } from '../config/schema.js'
import type { Logger } from '../observability/logger.js'
import type { Endpoint } from '../types.js'

/** Counts the tokens of one string. */
export type TokenCounter = (text: string) => number

/** Characters per token for unknown vocabularies (OpenAI's rule of thumb for English). */
const CHARS_PER_TOKEN = 4
/** At most this many characters per request go through the real tokenizer. */
const EXACT_CHARS = 8192
/** OpenAI's chat framing: tokens per message, and the reply's priming. */
const PER_MESSAGE = 3
const PER_REPLY = 3

/** Model name → gpt-tokenizer vocabulary, after tiktoken's model table (first match wins). */
const VOCABULARIES: readonly (readonly [RegExp, string])[] = [
  [/^gpt-oss/, 'o200k_harmony'],
  [/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o1|o3|o4|codex-)/, 'o200k_base'],
  [/^(gpt-4|gpt-3\.5|text-embedding-ada-002|text-embedding-3)/, 'cl100k_base'],
]

/** The gpt-tokenizer vocabulary a model name uses, or undefined for unknown ones (Llama, Qwen…). */
export function encodingFor(model: string): string | undefined {
  const name = model.toLowerCase()
  for (const [pattern, vocabulary] of VOCABULARIES) if (pattern.test(name)) return vocabulary
  return undefined
}

/**
 * A running count over a request's text pieces, exact for the first EXACT_CHARS. One per
 * module, reset per estimate (estimates are synchronous): the limiter estimates every request
 * with a tokens limit, and a fresh object per request was a cache line written cold each time.
 */
class Tally {
  tokens = 0
  private exactChars = 0
  private restChars = 0
  private counter: TokenCounter | undefined = undefined

  reset(counter: TokenCounter | undefined): this {
    this.tokens = 0
    this.exactChars = 0
    this.restChars = 0
    this.counter = counter
    return this
  }

  text(s: string): void {
    if (this.counter === undefined || this.exactChars >= EXACT_CHARS) {
      this.restChars += s.length
      return
    }
    const room = EXACT_CHARS - this.exactChars
    const head = s.length <= room ? s : s.slice(0, room)
    this.tokens += this.counter(head)
    this.exactChars += head.length
    this.restChars += s.length - head.length
  }

  total(): number {
    const ratio = this.exactChars > 0 ? this.tokens / this.exactChars : 1 / CHARS_PER_TOKEN
    const total = Math.ceil(this.tokens + this.restChars * ratio)
    this.counter = undefined
    return total
  }
}

const tally = new Tally()

/** Estimated prompt tokens of a request body (chat, completions or embeddings). */
export function estimatePromptTokens(endpoint: Endpoint, body: Record<string, unknown>, counter?: TokenCounter): number {
  const t = tally.reset(counter)
  let framing = 0
  if (endpoint === 'chat') {
    const messages = body.messages as unknown[]
    framing = PER_REPLY + PER_MESSAGE * messages.length
    for (const m of messages) {
      if (m === null || typeof m !== 'object') continue
      const msg = m as Record<string, unknown>
      content(t, msg.content)
      if (typeof msg.name === 'string') t.text(msg.name)
      if (msg.tool_calls !== undefined) t.text(JSON.stringify(msg.tool_calls))
    }
    if (body.tools !== undefined) t.text(JSON.stringify(body.tools))
    if (body.functions !== undefined) t.text(JSON.stringify(body.functions))
  } else {
    // completions' prompt or embeddings' input: a string, strings, or token ids.
    const input = endpoint === 'completions' ? body.prompt : body.input
    framing = inputs(t, input)
  }
  return t.total() + framing
}

function content(t: Tally, c: unknown): void {
  if (typeof c === 'string') return t.text(c)
  if (!Array.isArray(c)) return
  for (const part of c) {
    if (part !== null && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
      t.text((part as { text: string }).text)
    }
  }
}

/** Returns the token ids counted directly (pre-tokenized inputs). */
function inputs(t: Tally, input: unknown): number {
  if (typeof input === 'string') {
    t.text(input)
    return 0
  }
  if (!Array.isArray(input)) return 0
  let ids = 0
  for (const item of input) {
    if (typeof item === 'string') t.text(item)
    else if (typeof item === 'number') ids++
    else if (Array.isArray(item)) ids += item.length
  }
  return ids
}

/**
 * Output tokens the request reserves: its max_tokens (or max_completion_tokens), else 0, for
 * each of its `n` choices (each may run to max_tokens; n not a positive integer: 1).
 */
export function requestedOutputTokens(body: Record<string, unknown>): number {
  const m = body.max_completion_tokens ?? body.max_tokens
  if (typeof m !== 'number' || !Number.isFinite(m) || m <= 0) return 0
  const n = body.n
  return Math.floor(m) * (typeof n === 'number' && Number.isInteger(n) && n > 1 ? n : 1)
}

/**
 * Picks the tokenizer for each route (its name or an upstream's `model`, whichever names a
 * known vocabulary) and loads vocabularies in the background, never on the request path.
 */
export class TokenEstimator {
  private readonly loaded = new Map<string, TokenCounter>()
  private readonly loading = new Map<string, Promise<void>>()
  private readonly byRoute = new WeakMap<ModelConfig, string | null>()
  /** The last route asked about and its vocabulary: consecutive requests mostly repeat it. */
  private lastModel: ModelConfig | undefined = undefined
  private lastEnc: string | null = null

  constructor(private readonly log: Logger) {}

  /** Loads the vocabularies these models use (tens of MB each: only those needed). */
  async preload(models: readonly ModelConfig[]): Promise<void> {
    const wanted = new Set<string>()
    for (const m of models) {
      const enc = this.encodingOf(m)
      if (enc !== undefined) wanted.add(enc)
    }
    await Promise.all([...wanted].map((e) => this.load(e)))
  }

  /** Prompt tokens of a request to `model`; by characters until its vocabulary is loaded. */
  estimate(model: ModelConfig, endpoint: Endpoint, body: Record<string, unknown>): number {
    const enc = this.encodingOf(model)
    let counter: TokenCounter | undefined
    if (enc !== undefined) {
      counter = this.loaded.get(enc)
      if (counter === undefined) void this.load(enc)
    }
    return estimatePromptTokens(endpoint, body, counter)
  }

  /** Prompt tokens of a request to the model named `model` (an upstream's, say); by characters until its vocabulary is loaded. */
  estimateByName(model: string | undefined, endpoint: Endpoint, body: Record<string, unknown>): number {
    const enc = model === undefined ? undefined : encodingFor(model)
    let counter: TokenCounter | undefined
    if (enc !== undefined) {
      counter = this.loaded.get(enc)
      if (counter === undefined) void this.load(enc)
    }
    return estimatePromptTokens(endpoint, body, counter)
  }

  /** The route's vocabulary: its name's, else the first upstream `model` that has one. */
  private encodingOf(model: ModelConfig): string | undefined {
    if (model === this.lastModel) return this.lastEnc ?? undefined
    let enc = this.byRoute.get(model)
    if (enc === undefined) {
      enc = null
      for (const name of [model.name, ...model.upstreams.map((u) => u.model)]) {
        const e = name === undefined ? undefined : encodingFor(name)
        if (e !== undefined) {
          enc = e
          break
        }
      }
      this.byRoute.set(model, enc)
    }
    this.lastModel = model
    this.lastEnc = enc
    return enc ?? undefined
  }

  private load(encoding: string): Promise<void> {
    let p = this.loading.get(encoding)
    if (p === undefined) {
      p = import(`gpt-tokenizer/encoding/${encoding}`).then(
        (mod: { countTokens: (s: string, o: { disallowedSpecial: Set<string> }) => number }) => {
          // Special tokens in client text are text: counted, never an exception.
          const plain = { disallowedSpecial: new Set<string>() }
          this.loaded.set(encoding, (s) => mod.countTokens(s, plain))
        },
        (err: unknown) => {
          this.log.warn({ encoding, err: String(err) }, 'tokenizer vocabulary failed to load; estimating by characters')
        }
      )
      this.loading.set(encoding, p)
    }
    return p
  }
}
