// Response taps: content events are counted across arbitrary chunk boundaries (the
// fallback when a stream carries no usage), and a non-streaming body's text is measured.
import { describe, expect, it } from 'vitest'
import { countContentEvents, ErrorEventTap, JsonUsageTap, SseUsageTap } from '../../src/proxy/usage-tap.js'
import { usageObjectIn, withoutNullUsage, withoutUsageMember } from '../../src/proxy/usage-json.js'

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

  it('counts tool call arguments and reasoning too, as the stream counter does: a tool-call answer is not free', () => {
    const tap = new JsonUsageTap()
    const message = {
      role: 'assistant',
      content: null,
      reasoning_content: 'r'.repeat(20),
      tool_calls: [
        { id: 'a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"Europe/Paris"}' } },
      ],
    }
    tap.chunk(Buffer.from(JSON.stringify({ choices: [{ message }, { message: { role: 'assistant', content: 'x'.repeat(8) } }] })))
    tap.end()
    expect(tap.usage).toBeUndefined()
    // 20 reasoning + 16 + 21 arguments + 8 content = 65 characters.
    expect(tap.countedTokens).toBe(Math.ceil(65 / 4))
  })
})

describe('JsonUsageTap with upstream usage', () => {
  const answer = (usage: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ id: 'x', choices: [{ message: { role: 'assistant', content: 'the "usage": {"prompt_tokens": 999} of it' } }], usage, ...extra })

  it('reads the top-level usage however the body is chunked, ignoring look-alikes in the text', () => {
    const bytes = Buffer.from(answer({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10, prompt_tokens_details: { cached_tokens: 0 } }))
    for (const size of [1, 13, bytes.length]) {
      const tap = new JsonUsageTap()
      for (let i = 0; i < bytes.length; i += size) tap.chunk(bytes.subarray(i, i + size))
      tap.end()
      expect(tap.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 })
    }
  })

  it('reads usage in pretty-printed JSON and with strings holding braces and escapes', () => {
    const body = JSON.stringify({ choices: [], usage: { prompt_tokens: 2, completion_tokens: 5, note: 'a } \\" {' } }, null, 2)
    expect(usageObjectIn(Buffer.from(body))).toEqual({ prompt_tokens: 2, completion_tokens: 5, note: 'a } \\" {' })
    const tap = new JsonUsageTap()
    tap.chunk(Buffer.from(body))
    tap.end()
    expect(tap.usage).toEqual({ prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 })
  })

  it('falls back to counting the text when usage is null, absent or cut off', () => {
    expect(usageObjectIn(Buffer.from('{"usage": null}'))).toBeUndefined()
    expect(usageObjectIn(Buffer.from('{"usage": {"prompt_tokens": 1'))).toBeUndefined()
    const tap = new JsonUsageTap()
    tap.chunk(Buffer.from(answer(null)))
    tap.end()
    expect(tap.usage).toBeUndefined()
    expect(tap.countedTokens).toBe(Math.ceil('the "usage": {"prompt_tokens": 999} of it'.length / 4))
  })
})

describe('ErrorEventTap', () => {
  it('is a failure (>= 400) whatever the upstream answered after the pings', () => {
    expect(new ErrorEventTap(200, 'u').error.status).toBe(502)
    expect(new ErrorEventTap(302, 'u').error.status).toBe(502)
    expect(new ErrorEventTap(404, 'u').error.status).toBe(404)
    expect(new ErrorEventTap(500, 'u').error.status).toBe(500)
  })

  it("tells a refusal of the gateway's credentials in its own words, never the upstream's body", () => {
    const tap = new ErrorEventTap(401, 'u')
    tap.chunk(Buffer.from(JSON.stringify({ error: { message: 'Incorrect API key provided: sk-****wxyz', code: 'invalid_api_key' } })))
    const frame = tap.end().toString()
    expect(frame).toContain('upstream_auth_error')
    expect(frame).not.toContain('wxyz')
    expect(tap.error.status).toBe(502)
  })
})

describe('usage on a content chunk (choices and usage in one event)', () => {
  const USAGE = { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 }
  const last = `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"!"},"finish_reason":"stop"}],"usage":${JSON.stringify(USAGE)}}\n\n`
  const stream = chunk({ content: 'Hi' }) + last + 'data: [DONE]\n\n'
  const trimmed = last.replace(`,"usage":${JSON.stringify(USAGE)}`, '')

  function run(strip: boolean, size: number): { out: string; tap: SseUsageTap } {
    const bytes = Buffer.from(stream)
    const tap = new SseUsageTap(strip)
    let out = ''
    for (let i = 0; i < bytes.length; i += size) out += tap.chunk(bytes.subarray(i, i + size))?.toString() ?? ''
    out += tap.end()?.toString() ?? ''
    return { out, tap }
  }

  it('keeps the content and removes only the usage member when the client did not ask for usage', () => {
    for (const size of [1, 7, stream.length]) {
      const { out, tap } = run(true, size)
      expect(out).toBe(chunk({ content: 'Hi' }) + trimmed + 'data: [DONE]\n\n')
      expect(JSON.parse(trimmed.slice(6))).toEqual({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: '!' }, finish_reason: 'stop' }] })
      expect(tap.usage).toEqual(USAGE)
      expect(tap.countedTokens).toBe(2)
    }
  })

  it('passes it through untouched when the client asked for usage', () => {
    const { out, tap } = run(false, 7)
    expect(out).toBe(stream)
    expect(tap.usage).toEqual(USAGE)
  })
})

describe('the "usage": null on every chunk of a stream the gateway asked usage for', () => {
  const USAGE = { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 }
  const ev = (json: string) => `data: ${json}\n\n`
  const plain = [
    '{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}',
    '{"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}',
    '{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
  ]
  // As OpenAI and vLLM send it with include_usage: a null usage as the last member (or spaced, or first).
  const marked = [
    plain[0]!.replace(/}$/, ',"usage":null}'),
    plain[1]!.replace(/}$/, ', "usage" : null}'),
    plain[2]!.replace('{"id":"c",', '{"usage":null,"id":"c",'),
  ]
  const usageEvent = ev(`{"id":"c","choices":[],"usage":${JSON.stringify(USAGE)}}`)
  const stream = marked.map(ev).join('') + usageEvent + 'data: [DONE]\n\n'

  it('is removed with the usage event when the client did not ask, however the stream is cut', () => {
    for (const size of [1, 9, stream.length]) {
      const bytes = Buffer.from(stream)
      const tap = new SseUsageTap(true)
      let out = ''
      for (let i = 0; i < bytes.length; i += size) out += tap.chunk(bytes.subarray(i, i + size))?.toString() ?? ''
      out += tap.end()?.toString() ?? ''
      expect(out, String(size)).toBe(plain.map(ev).join('') + 'data: [DONE]\n\n')
      expect(tap.usage).toEqual(USAGE)
    }
  })

  it('stays when the client asked for usage', () => {
    const tap = new SseUsageTap(false)
    expect(tap.chunk(Buffer.from(stream))?.toString()).toBe(stream)
  })

  it('only a "usage" key with a null value goes: text that merely says usage stays', () => {
    expect(withoutNullUsage(Buffer.from(ev('{"choices":[{"delta":{"content":"usage: null"}}]}'))).toString()).toBe(ev('{"choices":[{"delta":{"content":"usage: null"}}]}'))
    expect(withoutNullUsage(Buffer.from(ev('{"usage":null}'))).toString()).toBe(ev('{}'))
  })
})

describe('withoutUsageMember', () => {
  const cut = (json: string) => withoutUsageMember(Buffer.from(`data: ${json}\n\n`))?.toString()
  const u = '{"prompt_tokens":1,"note":"} {"}'

  it('splices out the top-level usage member wherever it stands, leaving valid JSON', () => {
    expect(cut(`{"usage":${u},"choices":[1]}`)).toBe('data: {"choices":[1]}\n\n')
    expect(cut(`{"a":1, "usage" : ${u} ,"choices":[1]}`)).toBe('data: {"a":1 ,"choices":[1]}\n\n')
    expect(cut(`{"choices":[1],"usage":${u}}`)).toBe('data: {"choices":[1]}\n\n')
    expect(cut(`{"usage":${u}}`)).toBe('data: {}\n\n')
  })

  it('leaves nested usage keys, usage as a value, and null usage alone', () => {
    expect(cut(`{"choices":[{"delta":{"usage":{"x":1}}}],"object":"usage","usage":${u}}`)).toBe(
      'data: {"choices":[{"delta":{"usage":{"x":1}}}],"object":"usage"}\n\n'
    )
    expect(cut('{"choices":[{"delta":{"usage":{"x":1}}}],"object":"usage"}')).toBeUndefined()
    expect(cut('{"choices":[1],"usage":null}')).toBeUndefined()
  })
})

describe('SseUsageTap.finished: did the upstream say its answer is over?', () => {
  function run(stream: string, size: number): SseUsageTap {
    const bytes = Buffer.from(stream)
    const tap = new SseUsageTap(true)
    for (let i = 0; i < bytes.length; i += size) tap.chunk(bytes.subarray(i, i + size))
    tap.end()
    return tap
  }
  const content = chunk({ role: 'assistant', content: '' }) + chunk({ content: 'Hi' })

  it('is set by a finish_reason (spaced or not) or a [DONE] line, however the stream is cut', () => {
    for (const size of [1, 5, 1000]) {
      expect(run(STREAM, size).finished).toBe(true)
      expect(run(content + chunk({}, ',"finish_reason":"length"'), size).finished).toBe(true)
      expect(run(content + 'data: {"choices":[{"index":0,"finish_reason": "stop"}]}\n\n', size).finished).toBe(true)
      expect(run(content + 'data: [DONE]\n\n', size).finished).toBe(true)
      expect(run(content + 'data:[DONE]\r\n\r\n', size).finished).toBe(true)
      // The last event unterminated: still read at the end.
      expect(run(content + 'data: [DONE]', size).finished).toBe(true)
    }
  })

  it('is not set by null finish_reasons, or by [DONE] or finish_reason inside generated text', () => {
    for (const size of [1, 5, 1000]) {
      expect(run(content + chunk({}, ',"finish_reason":null'), size).finished).toBe(false)
      expect(run(content + chunk({ content: 'say [DONE] or data: [DONE]' }), size).finished).toBe(false)
      expect(run(content + chunk({ content: '"finish_reason":"stop"' }), size).finished).toBe(false)
      expect(run('', size).finished).toBe(false)
    }
  })

  it('errored: an error event, as vLLM (then [DONE]) and llama.cpp send it mid-stream, however the stream is cut', () => {
    const vllm = 'data: {"object":"error","message":"engine dead","type":"InternalServerError","param":null,"code":500}\n\n'
    for (const size of [1, 5, 1000]) {
      expect(run(content + vllm + 'data: [DONE]\n\n', size)).toMatchObject({ errored: true, finished: true })
      expect(run(content + 'data: {"error":{"code":500,"message":"llama died","type":"server_error"}}\n\n', size).errored).toBe(true)
      expect(run(content + 'data:{"error": {"message":"x"}}\r\n\r\n', size).errored).toBe(true)
      expect(run(content + 'data: {"object": "error", "message": "spaced"}\n\n', size).errored).toBe(true)
      // The last event unterminated: still read at the end.
      expect(run(content + 'data: {"error":{"message":"x"}}', size).errored).toBe(true)
    }
  })

  it('errored: not set by text that speaks of errors, or by an error key below the top', () => {
    for (const size of [1, 5, 1000]) {
      expect(run(STREAM, size).errored).toBe(false)
      expect(run(content + chunk({ content: '{"error": "quoted", "object": "error"}' }) + 'data: [DONE]\n\n', size).errored).toBe(false)
      expect(run(content + chunk({}, ',"finish_reason":"error"') + 'data: [DONE]\n\n', size).errored).toBe(false)
      expect(run(content + chunk({ tool_calls: [{ index: 0, function: { arguments: '{"object":"error"}' } }] }), size).errored).toBe(false)
    }
  })

  it('is set by a finish_reason inside an event too large to hold', () => {
    const huge = `data: {"choices":[{"index":0,"delta":{"content":"${'x'.repeat(1_100_000)}"},"finish_reason":"stop"}]}\n\n`
    expect(run(content + huge, 64 << 10).finished).toBe(true)
    expect(run(content + huge.replace('"stop"', 'null'), 64 << 10).finished).toBe(false)
  })
})
