import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { encodingFor, estimatePromptTokens, requestedOutputTokens, TokenEstimator } from '../../src/tokens/token-estimate.js'

const silent = pino({ level: 'silent' })

function models(...specs: { name: string; model?: string }[]) {
  return parseConfig({ models: specs.map((s) => ({ name: s.name, upstreams: [{ url: 'http://127.0.0.1:9/v1', model: s.model }] })) }).models
}

describe('estimatePromptTokens by characters (unknown vocabularies)', () => {
  it('chat: text of every message and content part, plus OpenAI framing', () => {
    const body = {
      messages: [
        { role: 'system', content: 'x'.repeat(40) },
        { role: 'user', content: [{ type: 'text', text: 'y'.repeat(20) }, { type: 'image_url', image_url: { url: 'data:…' } }] },
      ],
    }
    expect(estimatePromptTokens('chat', body)).toBe(15 + 3 + 2 * 3)
  })

  it('completions and embeddings: strings, lists of strings, token ids', () => {
    expect(estimatePromptTokens('completions', { prompt: 'abcdefgh' })).toBe(2)
    expect(estimatePromptTokens('completions', { prompt: ['abcd', 'efgh'] })).toBe(2)
    expect(estimatePromptTokens('embeddings', { input: [1, 2, 3] })).toBe(3)
    expect(estimatePromptTokens('embeddings', { input: [[1, 2], [3, 4, 5]] })).toBe(5)
  })

  it('output reservation: max_completion_tokens or max_tokens', () => {
    expect(requestedOutputTokens({ max_tokens: 100 })).toBe(100)
    expect(requestedOutputTokens({ max_completion_tokens: 50, max_tokens: 100 })).toBe(50)
    expect(requestedOutputTokens({})).toBe(0)
    expect(requestedOutputTokens({ max_tokens: 'lots' })).toBe(0)
  })

  it('output reservation: n choices each up to max_tokens', () => {
    expect(requestedOutputTokens({ max_tokens: 100, n: 4 })).toBe(400)
    expect(requestedOutputTokens({ max_completion_tokens: 50, n: 3 })).toBe(150)
    expect(requestedOutputTokens({ n: 4 })).toBe(0)
    // n not a positive integer: one choice (the upstream decides what to make of it).
    for (const n of [0, -2, 2.5, '4', null]) expect(requestedOutputTokens({ max_tokens: 100, n }), String(n)).toBe(100)
  })
})

describe('TokenEstimator with gpt-tokenizer', () => {
  it('maps model names to vocabularies (by route name or upstream model)', () => {
    expect(encodingFor('gpt-4o-mini')).toBe('o200k_base')
    expect(encodingFor('GPT-4.1')).toBe('o200k_base')
    expect(encodingFor('gpt-4-turbo')).toBe('cl100k_base')
    expect(encodingFor('gpt-3.5-turbo')).toBe('cl100k_base')
    expect(encodingFor('text-embedding-3-small')).toBe('cl100k_base')
    expect(encodingFor('gpt-oss-20b')).toBe('o200k_harmony')
    expect(encodingFor('o3')).toBe('o200k_base')
    expect(encodingFor('meta-llama/Llama-3.1-8B-Instruct')).toBeUndefined()
    expect(encodingFor('Qwen/Qwen2.5-0.5B-Instruct')).toBeUndefined()
  })

  it('counts exactly for a known vocabulary, by characters otherwise', async () => {
    const [gpt, llama] = models({ name: 'chat', model: 'gpt-4o-mini' }, { name: 'llama', model: 'llama-3' })
    const est = new TokenEstimator(silent)
    await est.preload([gpt!, llama!])
    const body = { messages: [{ role: 'user', content: 'Hello, how are you today?' }] }
    // o200k: "Hello", ",", " how", " are", " you", " today", "?" = 7, plus 6 framing.
    expect(est.estimate(gpt!, 'chat', body)).toBe(13)
    expect(est.estimate(llama!, 'chat', body)).toBe(Math.ceil(25 / 4) + 6)
  })

  it('treats special tokens in client text as text, and bounds the cost of huge prompts', async () => {
    const [gpt] = models({ name: 'gpt-4o' })
    const est = new TokenEstimator(silent)
    await est.preload([gpt!])
    expect(est.estimate(gpt!, 'chat', { messages: [{ role: 'user', content: 'a <|endoftext|> b' }] })).toBeGreaterThan(6)
    const words = Array.from({ length: 200_000 }, (_, i) => `w${i % 977}`).join(' ') // ~1.2 MB
    const t0 = performance.now()
    const n = est.estimate(gpt!, 'chat', { messages: [{ role: 'user', content: words }] })
    expect(performance.now() - t0).toBeLessThan(100)
    // Extrapolated from the exactly counted head: within 25% of the real count.
    const { countTokens } = await import('gpt-tokenizer/encoding/o200k_base')
    const exact = countTokens(words) + 6
    expect(Math.abs(n - exact) / exact).toBeLessThan(0.25)
  })

  it('estimates by a model name too (the usage fallback: the upstream that answered)', async () => {
    const est = new TokenEstimator(silent)
    const body = { messages: [{ role: 'user', content: 'Hello, how are you today?' }] }
    // Not loaded yet: characters, and the vocabulary starts loading in the background.
    expect(est.estimateByName('gpt-4o-mini', 'chat', body)).toBe(Math.ceil(25 / 4) + 6)
    await est.preload(models({ name: 'gpt-4o-mini' }))
    expect(est.estimateByName('gpt-4o-mini', 'chat', body)).toBe(13)
    expect(est.estimateByName('qwen2.5', 'chat', body)).toBe(Math.ceil(25 / 4) + 6)
    expect(est.estimateByName(undefined, 'completions', { prompt: 'abcdefgh' })).toBe(2)
  })
})
