// Token estimates: gpt-tokenizer for vocabularies it knows, characters / 4 otherwise,
// bounded cost for long texts.
import { describe, expect, it } from 'vitest'
import { countTextTokens, encodingFor, estimatePromptTokens, MAX_TOKENIZED_CHARS } from '../../src/observability/token-estimate.js'

describe('token estimates', () => {
  it('knows OpenAI vocabularies and nothing else', () => {
    expect(encodingFor('gpt-4')).toBe('cl100k_base')
    expect(encodingFor('gpt-4o-mini')).toBe('o200k_base')
    expect(encodingFor('o3')).toBe('o200k_base')
    expect(encodingFor('Qwen/Qwen2.5-0.5B-Instruct')).toBeUndefined()
    expect(encodingFor('llama3')).toBeUndefined()
  })

  it('tokenizes with the known vocabulary', () => {
    expect(countTextTokens('Hello world', 'gpt-4')).toBe(2)
  })

  it('falls back to characters / 4 for unknown vocabularies', () => {
    expect(countTextTokens('x'.repeat(10), 'qwen2.5')).toBe(3)
    expect(countTextTokens('', 'qwen2.5')).toBe(0)
  })

  it('tokenizes at most MAX_TOKENIZED_CHARS and extrapolates the rest', () => {
    const text = 'hello world '.repeat(5000)
    const t0 = performance.now()
    const n = countTextTokens(text, 'gpt-4')
    expect(performance.now() - t0).toBeLessThan(500)
    expect(text.length).toBeGreaterThan(MAX_TOKENIZED_CHARS)
    expect(n).toBeGreaterThan(9000)
    expect(n).toBeLessThan(11000)
  })

  it('estimates chat prompts with per-message framing, and every endpoint shape', () => {
    const chat = { messages: [{ role: 'system', content: 'abcd' }, { role: 'user', content: [{ type: 'text', text: 'efgh' }, { type: 'image_url', image_url: { url: 'data:...' } }] }] }
    // 8 characters → 2 tokens; 2 messages × 3 + 3 for the reply.
    expect(estimatePromptTokens('chat', chat, 'vllm-model')).toBe(2 + 9)
    expect(estimatePromptTokens('completions', { prompt: 'abcdefgh' }, undefined)).toBe(2)
    expect(estimatePromptTokens('completions', { prompt: [1, 2, 3] }, undefined)).toBe(3)
    expect(estimatePromptTokens('embeddings', { input: ['abcd', 'efgh'] }, undefined)).toBe(2)
    expect(estimatePromptTokens('embeddings', { input: [[1, 2], [3]] }, undefined)).toBe(3)
  })
})
