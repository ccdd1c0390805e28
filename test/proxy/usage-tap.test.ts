// Response taps: content events are counted across arbitrary chunk boundaries (the
// fallback when a stream carries no usage), and a non-streaming body's text is measured.
import { describe, expect, it } from 'vitest'
import { countContentEvents, JsonUsageTap, SseUsageTap } from '../../src/proxy/usage-tap.js'

const chunk = (delta: object, extra = '') => `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":${JSON.stringify(delta)}${extra}}]}\n\n`
const STREAM =
  chunk({ role: 'assistant', content: '' }) +
  ['Hello', ',', ' world', ' "quoted"', '!'].map((t) => chunk({ content: t })).join('') +
  chunk({}, ',"finish_reason":"stop"') +
  'data: [DONE]\n\n'

describe('countContentEvents', () => {
  it('counts events with generated text, not the role, finish or [DONE] events', () => {
    expect(countContentEvents(Buffer.from(STREAM))).toBe(5)
  })

  it('counts completions text, tool-call arguments and reasoning too', () => {
    const text = 'data: {"choices":[{"text":"a"}]}\n\ndata: {"choices":[{"text":""}]}\n\n'
    const tools = chunk({ tool_calls: [{ index: 0, function: { arguments: '{"x"' } }] })
    const reasoning = chunk({ reasoning_content: 'hmm' })
    expect(countContentEvents(Buffer.from(text + tools + reasoning))).toBe(3)
  })

  it('is not fooled by "data:" inside generated text', () => {
    expect(countContentEvents(Buffer.from(chunk({ content: 'data: x' })))).toBe(1)
  })
})

describe('SseUsageTap without upstream usage', () => {
  it('counts the same events however the stream is cut into chunks', () => {
    const bytes = Buffer.from(STREAM)
    for (const size of [1, 7, 33, bytes.length]) {
      const tap = new SseUsageTap(true)
      const out: Buffer[] = []
      for (let i = 0; i < bytes.length; i += size) {
        const o = tap.chunk(bytes.subarray(i, i + size))
        if (o !== undefined) out.push(o)
      }
      const tail = tap.end()
      if (tail !== undefined) out.push(tail)
      expect(tap.usage).toBeUndefined()
      expect(tap.countedTokens).toBe(5)
      expect(Buffer.concat(out).toString()).toBe(STREAM)
    }
  })
})

describe('JsonUsageTap without upstream usage', () => {
  it('estimates completion tokens from the answer text (4 characters a token)', () => {
    const tap = new JsonUsageTap()
    tap.chunk(Buffer.from(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'x'.repeat(41) } }] })))
    tap.end()
    expect(tap.usage).toBeUndefined()
    expect(tap.countedTokens).toBe(11)
  })
})
