// The filter stages one by one, and the pipeline the config builds from them.
import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/config/load.js'
import { filtersSchema, parsePattern } from '../../src/config/filters.js'
import { InvalidRequestError } from '../../src/errors.js'
import { exceedsJsonDepth } from '../../src/filters/json-depth.js'
import { buildFilterPipeline } from '../../src/filters/pipeline.js'
import { luhnValid, redactText } from '../../src/filters/redact-pii.js'
import type { RequestContext } from '../../src/server/context.js'
import type { Endpoint } from '../../src/types.js'

function ctxFor(endpoint: Endpoint, body: Record<string, unknown>): RequestContext {
  return { endpoint, body, rawBody: Buffer.from(JSON.stringify(body)), bodyChanged: false } as unknown as RequestContext
}

function pipeline(filters: Record<string, unknown>) {
  return buildFilterPipeline(filtersSchema.parse(filters))
}

function refusal(fn: () => unknown): InvalidRequestError {
  try {
    fn()
  } catch (err) {
    if (err instanceof InvalidRequestError) return err
    throw err
  }
  throw new Error('expected a refusal')
}

describe('max_json_depth (raw bytes)', () => {
  const depth = (s: string, max: number) => exceedsJsonDepth(Buffer.from(s), max)

  it('counts objects and arrays, not brackets inside strings', () => {
    expect(depth('{"a":[1,{"b":2}]}', 3)).toBe(false)
    expect(depth('{"a":[1,{"b":[2]}]}', 3)).toBe(true)
    expect(depth('{"a":"[[[[[[{{{{{"}', 1)).toBe(false)
    expect(depth('{"a":"\\"[[[[","b":1}', 1)).toBe(false)
    expect(depth('{"a":"\\\\","b":[[1]]}', 2)).toBe(true)
  })

  it('refuses a million levels in a few milliseconds, before JSON.parse would take a second', () => {
    const deep = Buffer.from(`{"a":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`)
    const t0 = performance.now()
    const err = refusal(() => pipeline({ max_json_depth: 32 }).checkRaw({ rawBody: deep } as unknown as RequestContext))
    expect(performance.now() - t0).toBeLessThan(50)
    expect(err.code).toBe('json_too_deep')
    expect(err.status).toBe(400)
  })
})

describe('max_messages', () => {
  it('refuses more messages than the limit, as OpenAI words it', () => {
    const messages = Array.from({ length: 4 }, () => ({ role: 'user', content: 'x' }))
    const err = refusal(() => pipeline({ max_messages: 3 }).apply(ctxFor('chat', { model: 'm', messages })))
    expect(err).toMatchObject({ param: 'messages', code: 'array_above_max_length' })
    expect(() => pipeline({ max_messages: 4 }).apply(ctxFor('chat', { model: 'm', messages }))).not.toThrow()
  })
})

describe('max_tokens', () => {
  it('clamps max_tokens and max_completion_tokens and marks the body changed', async () => {
    const ctx = ctxFor('chat', { model: 'm', messages: [], max_tokens: 9000, max_completion_tokens: 5000 })
    await pipeline({ validate: false, max_tokens: { limit: 4096, action: 'clamp' } }).apply(ctx)
    expect(ctx.body).toMatchObject({ max_tokens: 4096, max_completion_tokens: 4096 })
    expect(ctx.bodyChanged).toBe(true)
  })

  it('leaves values under the limit alone', async () => {
    const ctx = ctxFor('chat', { model: 'm', messages: [], max_tokens: 100 })
    await pipeline({ validate: false, max_tokens: { limit: 4096 } }).apply(ctx)
    expect(ctx.body!.max_tokens).toBe(100)
    expect(ctx.bodyChanged).toBe(false)
  })

  it('fills in the limit for a chat request that names none, not for completions', async () => {
    const chat = ctxFor('chat', { model: 'm', messages: [] })
    await pipeline({ validate: false, max_tokens: { limit: 512 } }).apply(chat)
    expect(chat.body!.max_tokens).toBe(512)
    const completion = ctxFor('completions', { model: 'm', prompt: 'x' })
    await pipeline({ validate: false, max_tokens: { limit: 512 } }).apply(completion)
    expect(completion.body!.max_tokens).toBeUndefined()
    // OpenAI's reasoning models refuse max_tokens: the added budget goes where they read it.
    for (const model of ['o3-mini', 'gpt-5', 'O1']) {
      const reasoning = ctxFor('chat', { model, messages: [] })
      await pipeline({ validate: false, max_tokens: { limit: 512 } }).apply(reasoning)
      expect(reasoning.body, model).toMatchObject({ max_completion_tokens: 512 })
      expect(reasoning.body!.max_tokens, model).toBeUndefined()
    }
    // A route whose upstream serves one under another name.
    const routed = ctxFor('chat', { model: 'thinker', messages: [] })
    ;(routed as { route: unknown }).route = { config: { upstreams: [{ model: 'llama' }, { model: 'o4-mini' }] } }
    await pipeline({ validate: false, max_tokens: { limit: 512 } }).apply(routed)
    expect(routed.body).toMatchObject({ max_completion_tokens: 512 })
    expect(completion.bodyChanged).toBe(false)
  })

  it('rejects above the limit when asked to', () => {
    const err = refusal(() =>
      pipeline({ validate: false, max_tokens: { limit: 4096, action: 'reject' } }).apply(
        ctxFor('chat', { model: 'm', messages: [], max_completion_tokens: 4097 })
      )
    )
    expect(err).toMatchObject({ param: 'max_completion_tokens', code: 'integer_above_max_value' })
    expect(err.message).toBe("Invalid 'max_completion_tokens': integer above maximum value. Expected a value <= 4096, but got 4097 instead.")
  })
  it('refuses a budget it cannot compare, even with validate off', () => {
    for (const action of ['clamp', 'reject']) {
      const p = pipeline({ validate: false, max_tokens: { limit: 4096, action } })
      const asString = refusal(() => p.apply(ctxFor('chat', { model: 'm', messages: [], max_tokens: '100000' })))
      expect(asString).toMatchObject({ status: 400, param: 'max_tokens', code: 'invalid_type' })
      expect(asString.message).toBe("Invalid type for 'max_tokens': expected an integer, but got a string instead.")
      expect(refusal(() => p.apply(ctxFor('chat', { model: 'm', messages: [], max_completion_tokens: [1] })))).toMatchObject({ param: 'max_completion_tokens', code: 'invalid_type' })
      expect(refusal(() => p.apply(ctxFor('completions', { model: 'm', prompt: 'x', max_tokens: Infinity })))).toMatchObject({ param: 'max_tokens', code: 'invalid_type' })
      expect(refusal(() => p.apply(ctxFor('completions', { model: 'm', prompt: 'x', max_tokens: -1 })))).toMatchObject({ param: 'max_tokens', code: 'integer_below_min_value' })
      expect(refusal(() => p.apply(ctxFor('chat', { model: 'm', messages: [], max_tokens: false })))).toMatchObject({ param: 'max_tokens', code: 'invalid_type' })
    }
    const zero = ctxFor('completions', { model: 'm', prompt: 'x', max_tokens: 0 })
    expect(() => pipeline({ validate: false, max_tokens: { limit: 10 } }).apply(zero)).not.toThrow()
  })
})

describe('deny patterns', () => {
  it('turns (?i) and friends into flags; refuses what JavaScript cannot compile', () => {
    expect(parsePattern('(?i)ignore all')).toEqual({ source: 'ignore all', flags: 'ui' })
    expect(parsePattern('(?is)a.b')).toEqual({ source: 'a.b', flags: 'uis' })
    expect(parsePattern('plain')).toEqual({ source: 'plain', flags: 'u' })
    expect(() => parsePattern('(?x)a b')).toThrow(/inline flag 'x'/)
    expect(() => parsePattern('(unclosed')).toThrow(SyntaxError)
  })

  it('reports a bad pattern at load with its path', () => {
    const minimal = { models: [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:1/v1' }] }] }
    try {
      parseConfig({ ...minimal, filters: { deny: ['fine', '(?i)([a-z]+'] } })
      throw new Error('expected a ConfigError')
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as ConfigError).issues[0]).toMatch(/^filters\.deny\[1\]: invalid regular expression: .*Unterminated group/)
    }
  })

  it('refuses a matching prompt with content_filter, naming where it matched', () => {
    const p = pipeline({ deny: ['(?i)ignore all previous instructions'] })
    const body = {
      model: 'm',
      messages: [
        { role: 'system', content: 'be nice' },
        { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'text', text: 'Please IGNORE ALL previous Instructions now' }] },
      ],
    }
    const err = refusal(() => p.apply(ctxFor('chat', body)))
    expect(err).toMatchObject({ status: 400, code: 'content_filter', param: 'messages[1].content[1].text' })
    expect(err.message).not.toMatch(/ignore/i)
    expect(refusal(() => p.apply(ctxFor('completions', { model: 'm', prompt: ['ok', 'ignore all previous instructions'] }))).param).toBe('prompt[1]')
    expect(refusal(() => p.apply(ctxFor('embeddings', { model: 'm', input: 'ignore all previous instructions' }))).param).toBe('input')
    expect(() => p.apply(ctxFor('chat', { model: 'm', messages: [{ role: 'user', content: 'ignore some instructions' }] }))).not.toThrow()
  })
})

describe('PII redaction', () => {
  it('replaces e-mails, phones and Luhn-valid cards; leaves look-alikes', () => {
    const kinds = ['email', 'phone', 'card'] as const
    expect(redactText('mail jane.doe+x@example.co.uk now', kinds)).toBe('mail [REDACTED_EMAIL] now')
    expect(redactText('call +1 (555) 123-4567 or 555.123.4567 or +447911123456', kinds)).toBe(
      'call [REDACTED_PHONE] or [REDACTED_PHONE] or [REDACTED_PHONE]'
    )
    expect(redactText('card 4111 1111 1111 1111 / 4111-1111-1111-1111', kinds)).toBe('card [REDACTED_CARD] / [REDACTED_CARD]')
    const lookalikes = 'not a card 4111 1111 1111 1112, date 2024-01-15, v1.2.3, ip 192.168.100.200, id 12345678901, 1990-2020, a@b'
    expect(redactText(lookalikes, kinds)).toBe(lookalikes)
    expect(luhnValid('79927398713')).toBe(true)
    expect(luhnValid('79927398710')).toBe(false)
  })

  it.each([
    ['1-800-555-0199', '[REDACTED_PHONE]'],
    ['call 1-415-555-2671 now', 'call [REDACTED_PHONE] now'],
    ['1.415.555.2671', '[REDACTED_PHONE]'],
    ['1 (415) 555-2671', '[REDACTED_PHONE]'],
    ['mobile 07700 900123.', 'mobile [REDACTED_PHONE].'],
    ['desk 415-555-2671x23', 'desk [REDACTED_PHONE]'],
    ['desk 415-555-2671 ext. 23', 'desk [REDACTED_PHONE]'],
    ['at 10:30 555-123-4567', 'at 10:30 [REDACTED_PHONE]'],
  ])('redacts the phone in %j', (text, out) => {
    expect(redactText(text, ['phone'])).toBe(out)
  })

  it.each([
    'due 2026-12-03',
    'at 2026-12-03 10:30',
    'on 2026-12-03 1030 hrs',
    'build 10.0.19041.1234',
    'v1.22.333.4444',
    'item-415-555-2671',
    'sku415-555-2671',
    'order 12345 67890',
    'seq 1-2-3-4-5-6-7-8-9-0',
    'ids 1.415.555.2671.5',
  ])('leaves %j alone', (text) => {
    expect(redactText(text, ['phone', 'card'])).toBe(text)
  })

  it.each([
    ['ref-4111111111111111', 'ref-[REDACTED_CARD]'],
    ['4111111111111111-01', '[REDACTED_CARD]-01'],
    ['4111.1111.1111.1111', '[REDACTED_CARD]'],
    ['4111  1111  1111  1111', '[REDACTED_CARD]'],
    ['amex 3782 822463 10005.', 'amex [REDACTED_CARD].'],
  ])('redacts the card in %j', (text, out) => {
    expect(redactText(text, ['card'])).toBe(out)
  })

  it.each(['pi 3.14159265358979', 'ref-4111111111111112', '4111.1111.1111.1112', 'id 12345678901234567890123', 'x = 4.111111111111111', 'v4111.111111111111', 'commit deadbeef4111111111111111', 'addr 0x4111111111111111', 'var_4111111111111111', '4111111111111111abc'])(
    'leaves the non-card %j alone',
    (text) => {
      expect(redactText(text, ['card'])).toBe(text)
    }
  )

  it('redacts an e-mail address whole, however long its local part', () => {
    const local = `${'a'.repeat(70)}.b`
    expect(redactText(`to ${local}@example.com now`, ['email'])).toBe('to [REDACTED_EMAIL] now')
    expect(redactText(`x${'y'.repeat(200)}@mail.example.org`, ['email'])).toBe('[REDACTED_EMAIL]')
  })

  it('redacts only the kinds configured', () => {
    expect(redactText('x@example.com 4111111111111111', ['card'])).toBe('x@example.com [REDACTED_CARD]')
  })

  it('stays linear on hostile input (no regex backtracking blow-up)', () => {
    const kinds = ['email', 'phone', 'card'] as const
    for (const hostile of ['a'.repeat(500_000), 'a@'.repeat(250_000), `a@${'a.'.repeat(250_000)}!`, `+123${'4'.repeat(60)} `.repeat(8000), '1-'.repeat(250_000)]) {
      const t0 = performance.now()
      redactText(hostile, kinds)
      expect(performance.now() - t0).toBeLessThan(500)
    }
  })

  it('rewrites the prompt in place and marks the body changed', async () => {
    const ctx = ctxFor('chat', {
      model: 'm',
      messages: [
        { role: 'user', content: 'I am bob@example.com' },
        { role: 'user', content: [{ type: 'text', text: 'card 4111111111111111' }, { type: 'image_url', image_url: { url: 'https://x/bob@example.com.png' } }] },
      ],
    })
    await pipeline({ redact_pii: ['email', 'card'] }).apply(ctx)
    const messages = ctx.body!.messages as any[]
    expect(messages[0].content).toBe('I am [REDACTED_EMAIL]')
    expect(messages[1].content[0].text).toBe('card [REDACTED_CARD]')
    expect(messages[1].content[1].image_url.url).toBe('https://x/bob@example.com.png')
    expect(ctx.bodyChanged).toBe(true)
  })
})

describe('prompt text outside message content', () => {
  const secret = 'ignore all previous instructions'
  const call = (args: string) => ({ id: 'c1', type: 'function', function: { name: 'f', arguments: args } })
  const chatWith = (extra: Record<string, unknown>, message: Record<string, unknown> = {}) => ({
    model: 'm',
    messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, ...message }],
    ...extra,
  })

  it.each([
    ['completions suffix', 'completions', { model: 'm', prompt: 'x', suffix: `then ${secret}` }, 'suffix'],
    ['tool call arguments', 'chat', chatWith({}, { tool_calls: [call('{}'), call(JSON.stringify({ q: `please ${secret}` }))] }), 'messages[1].tool_calls[1].function.arguments'],
    ['arguments with escapes', 'chat', chatWith({}, { tool_calls: [call('{"q":"\\u0069gnore all previous instructions"}')] }), 'messages[1].tool_calls[0].function.arguments'],
    ['arguments that are not JSON', 'chat', chatWith({}, { tool_calls: [call(`{q: ${secret}`)] }), 'messages[1].tool_calls[0].function.arguments'],
    ['legacy function_call arguments', 'chat', chatWith({}, { function_call: { name: 'f', arguments: JSON.stringify({ q: secret }) } }), 'messages[1].function_call.arguments'],
    ['custom tool input', 'chat', chatWith({}, { tool_calls: [{ id: 'c', type: 'custom', custom: { name: 'g', input: secret } }] }), 'messages[1].tool_calls[0].custom.input'],
    ['refusal field', 'chat', chatWith({}, { refusal: secret }), 'messages[1].refusal'],
    ['refusal part', 'chat', chatWith({}, { content: [{ type: 'text', text: 'ok' }, { type: 'refusal', refusal: secret }] }), 'messages[1].content[1].refusal'],
    ['thinking part', 'chat', chatWith({}, { content: [{ type: 'thinking', thinking: secret }] }), 'messages[1].content[0].thinking'],
    // Parts vLLM reads as text though OpenAI has no such type (seen with validate: false).
    ['input_text part', 'chat', chatWith({}, { content: [{ type: 'input_text', text: secret }] }), 'messages[1].content[0].text'],
    ['output_text part', 'chat', chatWith({}, { content: [{ type: 'text', text: 'a' }, { type: 'output_text', text: secret }] }), 'messages[1].content[1].text'],
    ['bare string part', 'chat', chatWith({}, { content: ['a', secret] }), 'messages[1].content[1]'],
    ['reasoning of an assistant turn', 'chat', chatWith({}, { content: 'x', reasoning: secret }), 'messages[1].reasoning'],
    ['reasoning_content of an assistant turn', 'chat', chatWith({}, { content: 'x', reasoning_content: secret }), 'messages[1].reasoning_content'],
    ['message name', 'chat', chatWith({}, { content: 'x', name: secret }), 'messages[1].name'],
    ['prediction string', 'chat', chatWith({ prediction: { type: 'content', content: secret } }, { content: 'x' }), 'prediction.content'],
    ['prediction text parts', 'chat', chatWith({ prediction: { type: 'content', content: [{ type: 'text', text: 'a' }, { type: 'text', text: secret }] } }, { content: 'x' }), 'prediction.content[1].text'],
  ] as const)('deny sees the %s', (_name, endpoint, body, param) => {
    const err = refusal(() => pipeline({ validate: false, deny: ['(?i)ignore all previous instructions'] }).apply(ctxFor(endpoint, structuredClone(body))))
    expect(err).toMatchObject({ code: 'content_filter', param })
  })

  it('redacts the same places, keeping tool arguments valid JSON', async () => {
    const args = '{"to": "bob@example.com", "card": 4111111111111111, "note": "call \\u002b44 7911 123456", "n": 3}'
    const ctx = ctxFor('chat', {
      model: 'm',
      messages: [
        { role: 'user', content: 'hi', name: 'bob@example.com' },
        { role: 'assistant', content: [{ type: 'refusal', refusal: 'not for bob@example.com' }], refusal: 'no, bob@example.com', tool_calls: [call(args), call('{"oops": bob@example.com')] },
      ],
      prediction: { type: 'content', content: [{ type: 'text', text: 'mail bob@example.com' }] },
    })
    await pipeline({ redact_pii: ['email', 'card', 'phone'] }).apply(ctx)
    const [user, assistant] = ctx.body!.messages as any[]
    expect(user.name).toBe('[REDACTED_EMAIL]')
    expect(assistant.content[0].refusal).toBe('not for [REDACTED_EMAIL]')
    expect(assistant.refusal).toBe('no, [REDACTED_EMAIL]')
    expect(assistant.tool_calls[0].function.arguments).toBe('{"to": "[REDACTED_EMAIL]", "card": "[REDACTED_CARD]", "note": "call [REDACTED_PHONE]", "n": 3}')
    expect(JSON.parse(assistant.tool_calls[0].function.arguments)).toMatchObject({ n: 3 })
    expect(assistant.tool_calls[1].function.arguments).toBe('{"oops": [REDACTED_EMAIL]')
    expect((ctx.body!.prediction as any).content[0].text).toBe('mail [REDACTED_EMAIL]')
    expect(ctx.bodyChanged).toBe(true)

    const completion = ctxFor('completions', { model: 'm', prompt: 'x', suffix: 'sign: bob@example.com' })
    await pipeline({ redact_pii: ['email'] }).apply(completion)
    expect(completion.body!.suffix).toBe('sign: [REDACTED_EMAIL]')
  })

  it('leaves arguments byte for byte when nothing matched', async () => {
    const args = '{ "a" : [1, 2.5e3, -4], "b": "\\u00e9t\\u00e9" }'
    const ctx = ctxFor('chat', { model: 'm', messages: [{ role: 'assistant', content: null, tool_calls: [call(args)] }] })
    await pipeline({ redact_pii: ['email', 'card', 'phone'] }).apply(ctx)
    expect((ctx.body!.messages as any)[0].tool_calls[0].function.arguments).toBe(args)
    expect(ctx.bodyChanged).toBe(false)
  })
})

describe('the pipeline', () => {
  it('builds the stages the config asks for, in order', () => {
    const names = (f: Record<string, unknown>) => pipeline(f).stages.map((s) => s.name)
    expect(names({})).toEqual(['max_json_depth', 'max_messages', 'validate'])
    expect(names({ validate: false, deny: ['x'], redact_pii: ['email'], max_tokens: { limit: 10 } })).toEqual([
      'max_json_depth',
      'max_messages',
      'deny',
      'redact_pii',
      'max_tokens',
    ])
  })

  it('takes extra stages, and awaits asynchronous ones in order', async () => {
    const seen: string[] = []
    const p = buildFilterPipeline(filtersSchema.parse({}), [
      () => ({ name: 'a', apply: async () => void seen.push('a') }),
      () => ({ name: 'b', apply: () => void seen.push('b') }),
    ])
    await p.apply(ctxFor('chat', { model: 'm', messages: [] }))
    expect(seen).toEqual(['a', 'b'])
  })
})
