// Deterministic text for the simulator: the same seed and prompt always give the same tokens.

const WORDS = [
  'the', 'model', 'server', 'token', 'stream', 'request', 'answer', 'quick', 'simple', 'signal',
  'router', 'gateway', 'latency', 'batch', 'cache', 'prompt', 'output', 'value', 'system', 'data',
  'river', 'stone', 'light', 'garden', 'window', 'paper', 'engine', 'bridge', 'harbor', 'field',
  'and', 'of', 'to', 'in', 'with', 'for', 'on', 'over', 'under', 'through',
  'is', 'was', 'runs', 'moves', 'holds', 'finds', 'makes', 'keeps', 'sends', 'reads',
  'bright', 'calm', 'steady', 'early', 'small', 'large', 'green', 'silent', 'rapid', 'careful',
  'again', 'today', 'soon', 'here',
] as const

/** One token is one word with a leading space, as BPE vocabularies usually store it. */
export const VOCAB: readonly string[] = WORDS.map((word) => ' ' + word)

/** VOCAB as JSON string literals, built once so stream frames are plain concatenation. */
export const VOCAB_JSON: readonly string[] = VOCAB.map((token) => JSON.stringify(token))

/** A source of vocabulary indexes; call it once per token. */
export type TokenSource = () => number

/** FNV-1a (32-bit) over the UTF-16 code units of `text`, mixed with `seed`. */
export function hashText(text: string, seed: number): number {
  let hash = (0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b1)) >>> 0
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** mulberry32: a tiny, fast PRNG whose whole state is one uint32; returns uint32 values. */
export function createRandom(state: number): () => number {
  let s = state >>> 0
  return function random(): number {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}

/** Tokens for one completion; the sequence is a pure function of `textSeed`. */
export function createTokenSource(textSeed: number): TokenSource {
  const random = createRandom(textSeed)
  return () => random() % VOCAB.length
}

/** The length a completion has when nothing cuts it short: 16 to 48 tokens. */
export function naturalLength(promptHash: number): number {
  return 16 + (promptHash % 33)
}

/** Rough token estimate for text, like the usual "four characters per token" rule; at least 1. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4))
}

/** Builds a whole completion text (non-streaming responses). */
export function generateText(textSeed: number, tokens: number): string {
  const next = createTokenSource(textSeed)
  const parts = new Array<string>(tokens)
  for (let i = 0; i < tokens; i++) parts[i] = VOCAB[next()]!
  return parts.join('')
}
