import { describe, expect, it } from 'vitest'
import { affinityKey } from '../../src/proxy/affinity-key.js'
import type { RequestContext } from '../../src/server/context.js'

function ctx(body: Record<string, unknown> | undefined, headers: Record<string, string> = {}): RequestContext {
  return { headers, body } as unknown as RequestContext
}

const chat = (system: string, user: string, extra: Record<string, unknown> = {}) => ({
  model: 'm',
  messages: [
    { role: 'system', content: system },
    { role: 'user', content: user },
    { role: 'assistant', content: 'an answer that differs per turn' },
    { role: 'user', content: 'a later turn' },
  ],
  ...extra,
})

describe('affinityKey', () => {
  it('takes the configured header first', () => {
    expect(affinityKey(ctx(chat('s', 'u', { user: 'alice' }), { 'x-session-id': 'sess-1' }), 'x-session-id')).toBe('h:sess-1')
    expect(affinityKey(ctx(chat('s', 'u'), { 'x-conv': 'c9' }), 'X-Conv')).toBe('h:c9')
  })

  it("else the body's user", () => {
    expect(affinityKey(ctx(chat('s', 'u', { user: 'alice' })), 'x-session-id')).toBe('u:alice')
  })

  it('else the system prompt and first user message: later turns keep the key', () => {
    const turn1 = affinityKey(ctx({ model: 'm', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }] }), 'x')
    const turn3 = affinityKey(ctx(chat('S', 'U')), 'x')
    expect(turn1).toBeDefined()
    expect(turn3).toBe(turn1)
    expect(affinityKey(ctx(chat('S', 'other')), 'x')).not.toBe(turn1)
    expect(affinityKey(ctx(chat('other', 'U')), 'x')).not.toBe(turn1)
  })

  it('reads text parts and completion prompts; nothing to key on gives undefined', () => {
    const parts = { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }] }
    const plain = { model: 'm', messages: [{ role: 'user', content: 'hello' }] }
    expect(affinityKey(ctx(parts), 'x')).toBe(affinityKey(ctx(plain), 'x'))
    expect(affinityKey(ctx({ model: 'm', prompt: 'Once upon' }), 'x')).toMatch(/^p:/)
    expect(affinityKey(ctx({ model: 'm', input: 'embed me' }), 'x')).toBeUndefined()
    expect(affinityKey(ctx({ model: 'm', messages: [] }), 'x')).toBeUndefined()
  })
})
