import OpenAI from 'openai'
import { describe, expect, it } from 'vitest'
import { VOCAB } from '../../src/sim/text-generator.js'
import { call, chatBody, simHarness, sseData } from './helpers.js'

const sims = simHarness()
const client = (url: string) => new OpenAI({ baseURL: url + '/v1', apiKey: 'x', maxRetries: 0 })

/** Splits generated text into its tokens, checking each is a vocabulary word. */
function tokensOf(text: string): string[] {
  const tokens = text.match(/ [^ ]+/g) ?? []
  expect(tokens.join('')).toBe(text)
  for (const token of tokens) expect(VOCAB).toContain(token)
  return tokens
}

describe('chat completions', () => {
  it('answers a non-streaming request with a full OpenAI object and consistent usage', async () => {
    const sim = await sims()
    const res = await client(sim.url).chat.completions.create({
      model: 'my-alias',
      messages: [{ role: 'user', content: 'Hello there, simulator!' }],
    })
    expect(res.object).toBe('chat.completion')
    expect(res.id).toMatch(/^chatcmpl-/)
    expect(res.model).toBe('my-alias')
    expect(res.created).toBeGreaterThan(1_600_000_000)
    const choice = res.choices[0]!
    expect(choice.message.role).toBe('assistant')
    expect(choice.finish_reason).toBe('stop')
    const tokens = tokensOf(choice.message.content ?? '')
    expect(tokens.length).toBeGreaterThanOrEqual(16)
    expect(tokens.length).toBeLessThanOrEqual(48)
    expect(res.usage).toEqual({
      prompt_tokens: Math.ceil('Hello there, simulator!'.length / 4),
      completion_tokens: tokens.length,
      total_tokens: Math.ceil('Hello there, simulator!'.length / 4) + tokens.length,
    })
  })

  it('streams a role delta, a chunk per token, a finish chunk, no usage by default', async () => {
    const sim = await sims()
    const openai = client(sim.url)
    const whole = await openai.chat.completions.create(chatBody('stream me'))
    const stream = await openai.chat.completions.create({ ...chatBody('stream me'), stream: true })
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' })
    const last = chunks.at(-1)!
    expect(last.choices[0]!.delta).toEqual({})
    expect(last.choices[0]!.finish_reason).toBe('stop')
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')
    // Streaming and non-streaming give the same text for the same prompt.
    expect(content).toBe(whole.choices[0]!.message.content)
    expect(chunks.length).toBe(tokensOf(content).length + 2)
    for (const chunk of chunks) {
      expect(chunk.object).toBe('chat.completion.chunk')
      expect(chunk.id).toBe(chunks[0]!.id)
      expect(chunk.model).toBe('sim-model')
      expect('usage' in chunk).toBe(false)
    }
  })

  it('adds a final usage chunk and usage:null elsewhere only with include_usage', async () => {
    const sim = await sims()
    const stream = await client(sim.url).chat.completions.create({
      ...chatBody('count my tokens please'),
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    const last = chunks.at(-1)!
    expect(last.choices).toEqual([])
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')
    const completion = tokensOf(content).length
    expect(last.usage).toEqual({
      prompt_tokens: 6,
      completion_tokens: completion,
      total_tokens: 6 + completion,
    })
    for (const chunk of chunks.slice(0, -1)) expect(chunk.usage).toBeNull()
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop')
  })

  it('uses exact SSE framing and ends with [DONE]', async () => {
    const sim = await sims()
    const res = await fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(chatBody('frames', { stream: true })),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const data = sseData(await res.text())
    expect(data.at(-1)).toBe('[DONE]')
    const first = JSON.parse(data[0]!) as Record<string, unknown>
    expect(Object.keys(first)).toEqual(['id', 'object', 'created', 'model', 'choices'])
    expect(first.choices).toEqual([
      { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
    ])
    for (const payload of data.slice(0, -1)) {
      expect(() => JSON.parse(payload) as unknown).not.toThrow()
    }
  })

  it('honours max_tokens and max_completion_tokens with finish_reason length', async () => {
    const sim = await sims()
    const openai = client(sim.url)
    const cut = await openai.chat.completions.create({ ...chatBody('cut me'), max_tokens: 5 })
    expect(cut.choices[0]!.finish_reason).toBe('length')
    expect(tokensOf(cut.choices[0]!.message.content ?? '')).toHaveLength(5)
    expect(cut.usage!.completion_tokens).toBe(5)
    const stream = await openai.chat.completions.create({
      ...chatBody('cut me'),
      max_completion_tokens: 3,
      stream: true,
    })
    let content = ''
    let finish: string | null = null
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    expect(tokensOf(content)).toHaveLength(3)
    expect(finish).toBe('length')
    // A large max_tokens does not lengthen a natural completion.
    const big = await openai.chat.completions.create({ ...chatBody('cut me'), max_tokens: 200_000 })
    expect(big.choices[0]!.finish_reason).toBe('stop')
    expect(big.choices[0]!.message.content!.startsWith(cut.choices[0]!.message.content!)).toBe(true)
  })

  it('streams exactly max_tokens with ignore_eos, fast when tokensPerSecond is 0', async () => {
    const sim = await sims({ ttftMs: 0, tokensPerSecond: 0 })
    const res = await fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(
        chatBody('long', { stream: true, max_tokens: 50_000, ignore_eos: true })
      ),
    })
    const data = sseData(await res.text())
    // role + 50 000 tokens + finish + [DONE]
    expect(data).toHaveLength(50_003)
    expect(data.at(-2)).toContain('"finish_reason":"length"')
  })

  it('is deterministic for a seed and prompt, and varies with either', async () => {
    const a = await sims({ seed: 7 })
    const b = await sims({ seed: 7 })
    const c = await sims({ seed: 8 })
    const text = async (url: string, prompt: string) =>
      (await client(url).chat.completions.create(chatBody(prompt))).choices[0]!.message.content
    expect(await text(a.url, 'same prompt')).toBe(await text(b.url, 'same prompt'))
    expect(await text(a.url, 'same prompt')).not.toBe(await text(c.url, 'same prompt'))
    expect(await text(a.url, 'same prompt')).not.toBe(await text(a.url, 'other prompt'))
  })

  it('waits ttftMs before the first token and paces tokens at tokensPerSecond', async () => {
    const sim = await sims({ ttftMs: 150, tokensPerSecond: 100 })
    const started = performance.now()
    const stream = await client(sim.url).chat.completions.create({
      ...chatBody('timing'),
      max_tokens: 20,
      stream: true,
    })
    let firstToken = 0
    for await (const chunk of stream) {
      if (firstToken === 0 && chunk.choices[0]?.delta.content) firstToken = performance.now()
    }
    const total = performance.now() - started
    expect(firstToken - started).toBeGreaterThanOrEqual(140)
    // 19 more tokens at 10 ms each after the first (lower bounds hold however loaded the host)
    expect(total).toBeGreaterThanOrEqual(140 + 190)
    expect(total).toBeLessThan(1500)
  })
})

describe('completions', () => {
  it('answers non-streaming and streaming text completions with the same text', async () => {
    const sim = await sims()
    const openai = client(sim.url)
    const whole = await openai.completions.create({ model: 'm', prompt: 'Once upon a time' })
    expect(whole.object).toBe('text_completion')
    expect(whole.id).toMatch(/^cmpl-/)
    expect(whole.choices[0]!.index).toBe(0)
    expect(whole.choices[0]!.logprobs).toBeNull()
    expect(whole.choices[0]!.finish_reason).toBe('stop')
    const text = whole.choices[0]!.text
    expect(whole.usage).toEqual({
      prompt_tokens: 4,
      completion_tokens: tokensOf(text).length,
      total_tokens: 4 + tokensOf(text).length,
    })
    const stream = await openai.completions.create({
      model: 'm',
      prompt: 'Once upon a time',
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe(text)
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop')
    expect(chunks.at(-1)!.usage!.completion_tokens).toBe(tokensOf(text).length)
  })

  it('counts token-id prompts by their length', async () => {
    const sim = await sims()
    const res = await client(sim.url).completions.create({
      model: 'm',
      prompt: [1, 2, 3, 4, 5, 6, 7],
      max_tokens: 2,
    })
    expect(res.usage!.prompt_tokens).toBe(7)
    expect(res.choices[0]!.finish_reason).toBe('length')
  })
})

describe('embeddings and models', () => {
  it('returns base64 embeddings (the SDK default) that decode to unit vectors', async () => {
    const sim = await sims()
    const res = await client(sim.url).embeddings.create({ model: 'e', input: ['a', 'b b'] })
    expect(res.data.map((d) => d.index)).toEqual([0, 1])
    for (const { embedding } of res.data) {
      expect(embedding).toHaveLength(16)
      const norm = Math.sqrt(embedding.reduce((sum, v) => sum + v * v, 0))
      expect(norm).toBeCloseTo(1, 5)
    }
    expect(res.data[0]!.embedding).not.toEqual(res.data[1]!.embedding)
    expect(res.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 })
    expect(res.model).toBe('e')
    // The float encoding carries the same numbers.
    const floats = await call(`${sim.url}/v1/embeddings`, {
      body: { model: 'e', input: 'a', encoding_format: 'float' },
    })
    const data = (floats.body as { data: { embedding: number[] }[] }).data
    expect(data[0]!.embedding).toEqual(res.data[0]!.embedding)
  })

  it('honours dimensions', async () => {
    const sim = await sims()
    const res = await client(sim.url).embeddings.create({ model: 'e', input: 'x', dimensions: 5 })
    expect(res.data[0]!.embedding).toHaveLength(5)
  })

  it('lists the configured model', async () => {
    const sim = await sims({ model: 'llama-sim' })
    const page = await client(sim.url).models.list()
    expect(page.data.map((m) => [m.id, m.object])).toEqual([['llama-sim', 'model']])
  })
})

describe('bad input and routing', () => {
  it('rejects a non-JSON body with 400 and OpenAI error JSON', async () => {
    const sim = await sims()
    const reply = await call(`${sim.url}/v1/chat/completions`, { raw: '{not json' })
    expect(reply.status).toBe(400)
    const error = (reply.body as { error: Record<string, unknown> }).error
    expect(Object.keys(error)).toEqual(['message', 'type', 'code', 'param'])
    expect(error.type).toBe('invalid_request_error')
  })

  it('rejects missing messages, prompt and input, naming the param', async () => {
    const sim = await sims()
    const cases = [
      ['/v1/chat/completions', { model: 'm' }, 'messages'],
      ['/v1/chat/completions', { model: 'm', messages: [] }, 'messages'],
      ['/v1/completions', { model: 'm' }, 'prompt'],
      ['/v1/embeddings', { model: 'm' }, 'input'],
      ['/v1/chat/completions', { ...chatBody('x'), max_tokens: 0 }, 'max_tokens'],
    ] as const
    for (const [path, body, param] of cases) {
      const reply = await call(sim.url + path, { body })
      expect(reply.status, path).toBe(400)
      expect((reply.body as { error: { param: string } }).error.param).toBe(param)
    }
    await expect(
      client(sim.url).chat.completions.create({ model: 'm', messages: [] })
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError)
  })

  it('answers 404 for unknown paths and 405 for wrong methods', async () => {
    const sim = await sims()
    const unknown = await call(`${sim.url}/v1/nope`, { body: {} })
    expect(unknown.status).toBe(404)
    expect((unknown.body as { error: { type: string } }).error.type).toBe('invalid_request_error')
    expect((await call(`${sim.url}/elsewhere`)).status).toBe(404)
    const wrong = await call(`${sim.url}/v1/chat/completions`)
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toBe('POST')
    expect((await call(`${sim.url}/v1/models`, { body: {} })).status).toBe(405)
  })

  it('reports health and labels every response with x-sim-name', async () => {
    const sim = await sims({ name: 'gpu-a' })
    const health = await call(`${sim.url}/health`)
    expect(health.status).toBe(200)
    expect(health.body).toEqual({ status: 'ok' })
    expect(health.headers.get('x-sim-name')).toBe('gpu-a')
    const missing = await call(`${sim.url}/v1/nope`)
    expect(missing.headers.get('x-sim-name')).toBe('gpu-a')
    const unnamed = await sims()
    expect((await call(`${unnamed.url}/health`)).headers.get('x-sim-name')).toBeNull()
  })
})
