// Streaming guarantees: client disconnects cancel upstream work, slow readers exert
// backpressure instead of growing memory, SIGTERM lets streams finish.
import { createServer, request, type Server } from 'node:http'
import { readFile } from 'node:fs/promises'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { listenLocal } from '../helpers/ports.js'
import { eventually, resetSim, setFault, simStats, startSims } from '../helpers/sim.js'

let sim: SimServer
let fast: SimServer
let gw: GatewayProcess
let client: OpenAI
/** vLLM's flag, honoured by the simulator: generate exactly max_tokens. */
const LONG = { ignore_eos: true }

beforeAll(async () => {
  ;[sim] = await startSims(1, { ttftMs: 20, tokensPerSecond: 100 })
  ;[fast] = await startSims(1, { ttftMs: 0, tokensPerSecond: 0 })
  gw = await startGateway({
    models: [
      { name: 'm', upstreams: [{ url: `${sim!.url}/v1` }], retries: { attempts: 0 } },
      { name: 'firehose', upstreams: [{ url: `${fast!.url}/v1` }] },
    ],
  })
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
})

afterAll(async () => {
  await gw?.stop()
  await sim?.close()
  await fast?.close()
})

describe('client disconnects cancel the upstream request', () => {
  it('mid-stream', async () => {
    await resetSim(sim)
    const stream = await client.chat.completions.create({
      model: 'm',
      stream: true,
      max_tokens: 5000,
      messages: [{ role: 'user', content: 'long' }],
      ...LONG,
    })
    let chunks = 0
    // Leaving the loop early makes the SDK abort its HTTP request.
    for await (const _ of stream) if (++chunks === 5) break
    expect(chunks).toBe(5)
    const t0 = Date.now()
    await eventually(async () => (await simStats(sim)).cancelled === 1, 1000)
    expect(Date.now() - t0).toBeLessThan(1000)
    expect((await simStats(sim)).inflight).toBe(0)
  })

  it('while waiting for the first token', async () => {
    await resetSim(sim)
    await setFault(sim, { mode: 'slow', latency_ms: 10_000 })
    const controller = new AbortController()
    const pending = client.chat.completions.create(
      { model: 'm', stream: true, messages: [{ role: 'user', content: 'wait' }] },
      { signal: controller.signal }
    )
    await eventually(async () => (await simStats(sim)).inflight === 1)
    controller.abort()
    await expect(pending).rejects.toThrow()
    await eventually(async () => (await simStats(sim)).cancelled === 1, 1000)
    await resetSim(sim)
  })

  it('while waiting for a non-streaming answer, logged as 499', async () => {
    await resetSim(sim)
    await setFault(sim, { mode: 'hang' })
    const controller = new AbortController()
    const pending = client.chat.completions.create(
      { model: 'm', messages: [{ role: 'user', content: 'hang' }] },
      { signal: controller.signal, headers: { 'x-request-id': 'abort-nonstream-1' } }
    )
    await eventually(async () => (await simStats(sim)).inflight === 1)
    controller.abort()
    await expect(pending).rejects.toThrow()
    await eventually(async () => (await simStats(sim)).cancelled === 1, 1000)
    await resetSim(sim)
    await eventually(() => gw.stdout().includes('abort-nonstream-1'), 5000)
    const line = gw.accessLines().find((l) => l.request_id === 'abort-nonstream-1')!
    expect(line.status).toBe(499)
    expect(line.outcome).toBe('cancelled')
    // It was tried on an upstream, which the record names (an unnamed upstream's id is its index).
    expect(line).toMatchObject({ upstream: '0', served_model: 'm', attempts: 1 })
  })
})

describe('backpressure', () => {
  async function rssKb(pid: number): Promise<number> {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    return Number(/VmRSS:\s+(\d+)/.exec(status)![1])
  }

  it('a client that reads a huge stream very slowly does not grow gateway memory', async () => {
    const pid = gw.proc.pid!
    const before = await rssKb(pid)
    // ~1M tokens generated as fast as the sim can: ~150 MB if anything buffered it all.
    const body = JSON.stringify({ model: 'firehose', stream: true, max_tokens: 1_000_000, messages: [{ role: 'user', content: 'flood' }], ...LONG })
    let received = 0
    const req = request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } })
    const done = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        res.on('data', (d: Buffer) => {
          received += d.length
          // Read one chunk, then stall for good: the TCP window fills and must stop the gateway.
          res.pause()
          setTimeout(() => resolve(), 3000)
        })
      })
    })
    req.end(body)
    await done
    const stalled = await simStats(fast)
    const after = await rssKb(pid)
    await new Promise((r) => setTimeout(r, 1000))
    const later = await simStats(fast)
    req.destroy()
    // The sim is blocked too: it made (almost) no progress while the client did not read.
    expect(later.inflight).toBe(1)
    expect(after - before).toBeLessThan(40 * 1024)
    expect(received).toBeLessThan(10 * 1024 * 1024)
    expect(stalled.completed).toBe(later.completed)
    await eventually(async () => (await simStats(fast)).inflight === 0, 2000)
  })
})

describe('stripping the usage the gateway asked for (the client did not)', () => {
  let upstream: Server
  let gw2: GatewayProcess
  const ev = (content: string, extra = '') => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] }).slice(0, -1)}${extra}}`
  const USAGE = { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }
  const usageEvent = `data: ${JSON.stringify({ id: 'x', choices: [], usage: USAGE })}\n\n`
  const HUGE = ev('start') + '\n\n' + ev('Z'.repeat(1_500_000)) + '\n\n' + ev('end') + '\n\n'

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      let body = ''
      req.setEncoding('utf8').on('data', (d: string) => (body += d))
      req.on('end', () => {
        const b = JSON.parse(body) as { messages: { content: string }[]; stream_options?: { include_usage?: boolean } }
        const wants = b.stream_options?.include_usage === true
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        const text = b.messages[0]!.content
        if (text === 'huge') {
          res.write(HUGE)
          if (wants) res.write(usageEvent)
          res.end('data: [DONE]\n\n')
        } else if (text === 'split') {
          // The first event's blank line comes in a read of its own; the next event much later.
          res.write(ev('first') + '\n')
          setTimeout(() => res.write('\n'), 100)
          setTimeout(() => res.end(ev('second') + '\n\n' + (wants ? usageEvent : '') + 'data: [DONE]\n\n'), 2000)
        } else {
          // Usage on the last content chunk, as some servers send it.
          res.end(ev('a') + '\n\n' + ev('b', wants ? `,"usage":${JSON.stringify(USAGE)}` : '') + '\n\ndata: [DONE]\n\n')
        }
      })
    })
    const url = `${await listenLocal(upstream)}/v1`
    gw2 = await startGateway({ models: [{ name: 'raw', upstreams: [{ url, name: 'raw' }], retries: { attempts: 0 } }] })
  })

  afterAll(async () => {
    await gw2?.stop()
    upstream?.close()
  })

  function post(content: string, id: string): Promise<{ at: number; text: string }[]> {
    return new Promise((resolve, reject) => {
      const t0 = Date.now()
      const headers = { 'content-type': 'application/json', 'x-request-id': id }
      const req = request(`${gw2.url}/v1/chat/completions`, { method: 'POST', headers }, (res) => {
        const chunks: { at: number; text: string }[] = []
        res.setEncoding('utf8')
        res.on('data', (d: string) => chunks.push({ at: Date.now() - t0, text: d }))
        res.on('end', () => resolve(chunks))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(JSON.stringify({ model: 'raw', stream: true, messages: [{ role: 'user', content }] }))
    })
  }

  const line = async (id: string) => {
    await eventually(() => gw2.accessLines().some((l) => l.request_id === id))
    return gw2.accessLines().find((l) => l.request_id === id)!
  }

  it('an event over 1 MiB reaches the client intact', async () => {
    const chunks = await post('huge', 'strip-huge')
    expect(chunks.map((c) => c.text).join('')).toBe(HUGE + 'data: [DONE]\n\n')
    expect(await line('strip-huge')).toMatchObject({ prompt_tokens: 5, completion_tokens: 5, usage_estimated: false })
  })

  it('an event whose blank line comes in a later read is sent as soon as it is complete', async () => {
    const chunks = await post('split', 'strip-split')
    const first = ev('first') + '\n\n'
    const body = chunks.map((c) => c.text).join('')
    expect(body).toBe(first + ev('second') + '\n\ndata: [DONE]\n\n')
    let seen = ''
    const done = chunks.find((c) => (seen += c.text).length >= first.length)!
    expect(done.at).toBeLessThan(1000)
  })

  it('usage on a content chunk is removed, the content kept, the usage recorded', async () => {
    const chunks = await post('inline', 'strip-inline')
    expect(chunks.map((c) => c.text).join('')).toBe(ev('a') + '\n\n' + ev('b') + '\n\ndata: [DONE]\n\n')
    expect(await line('strip-inline')).toMatchObject({ prompt_tokens: 5, completion_tokens: 5, usage_estimated: false })
  })
})

describe('a stream whose body ends cleanly but whose answer did not', () => {
  let upstream: Server
  let gw3: GatewayProcess
  const ev = (delta: object, finish: string | null = null) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
  const HEAD = ev({ role: 'assistant', content: '' }) + ev({ content: 'Hal' })
  const VLLM_ERROR = 'data: {"object":"error","message":"engine dead","type":"InternalServerError","param":null,"code":500}\n\n'
  const evAt = (index: number, delta: object) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index, delta, finish_reason: null }] })}\n\n`

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        const mode = req.headers['x-mode']
        // A complete HTTP body (chunked terminator sent) in every case.
        if (mode === 'cut') res.end(HEAD)
        else if (mode === 'no-done') res.end(HEAD + ev({}, 'stop'))
        // n = 2: choice 0 finishes, choice 1 is cut.
        else if (mode === 'one-of-two') res.end(HEAD + ev({}, 'stop') + evAt(1, { content: 'B' }))
        // The last event cut off inside its finish_reason.
        else if (mode === 'half-finish') res.end(HEAD + 'data: {"id":"x","choices":[{"index":0,"delta":{"content":"B"},"finish_reason":"st')
        // The last event cut off inside its text.
        else if (mode === 'half-text') res.end(HEAD + 'data: {"id":"x","choices":[{"index":0,"delta":{"content":"B')
        // vLLM when its engine fails mid-stream: an error object, then [DONE], no finish_reason.
        else if (mode === 'vllm-error') res.end(HEAD + VLLM_ERROR + 'data: [DONE]\n\n')
        // CRLF line endings, an event's blank line in a read of its own, then the end.
        else if (mode === 'crlf-split') {
          res.write('data: {"id":"x","choices":[{"index":0,"delta":{"content":"A"},"finish_reason":null}]}\r\n')
          setTimeout(() => res.end('\r\n'), 60).unref()
        }
        // A whole answer, then the response held open past the idle timeout.
        else if (mode === 'open-after-done') {
          res.write(HEAD + ev({}, 'stop') + 'data: [DONE]\n\n')
          setTimeout(() => res.end(), 3000).unref()
        }
        else res.end(HEAD + ev({}, 'stop') + 'data: [DONE]\n\n')
      })
    })
    const url = `${await listenLocal(upstream)}/v1`
    gw3 = await startGateway({ models: [{ name: 'cut', upstreams: [{ url, name: 'cut' }], retries: { attempts: 0 }, timeouts: { idle: '1s' } }] })
  })

  afterAll(async () => {
    await gw3?.stop()
    upstream?.close()
  })

  const ask = async (mode: string, id: string, extra: Record<string, unknown> = {}) => {
    const res = await fetch(`${gw3.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mode': mode, 'x-request-id': id },
      body: JSON.stringify({ model: 'cut', stream: true, messages: [{ role: 'user', content: 'q' }], ...extra }),
    })
    const text = await res.text()
    await eventually(() => gw3.accessLines().some((l) => l.request_id === id))
    return { text, line: gw3.accessLines().find((l) => l.request_id === id)! }
  }

  it('with neither [DONE] nor a finish_reason: ends with the error event, recorded as broken', async () => {
    const { text, line } = await ask('cut', 'cut-1')
    expect(text.startsWith(HEAD)).toBe(true)
    const last = JSON.parse(text.slice(HEAD.length).replace(/^data: /, '')) as { error: { code: string } }
    expect(last.error.code).toBe('upstream_stream_error')
    expect(line).toMatchObject({ outcome: 'error', error: 'upstream_stream_error' })
  })

  it('with a finish_reason but no [DONE] (some servers omit it): a clean end', async () => {
    const { text, line } = await ask('no-done', 'cut-2')
    expect(text).toBe(HEAD + ev({}, 'stop'))
    expect(line).toMatchObject({ outcome: 'ok', error: null })
    expect((await ask('whole', 'cut-3')).text).toBe(HEAD + ev({}, 'stop') + 'data: [DONE]\n\n')
  })

  const lastEvent = (text: string) => JSON.parse(text.trimEnd().split('\n\n').pop()!.replace(/^data: /, '')) as { error: { code: string } }

  it('n = 2 with one choice finished and the other cut: the error event, not a clean end', async () => {
    const { text, line } = await ask('one-of-two', 'cut-4', { n: 2 })
    expect(lastEvent(text).error.code).toBe('upstream_stream_error')
    expect(line).toMatchObject({ outcome: 'error', error: 'upstream_stream_error' })
  })

  it('a last event cut inside its finish_reason is a cut, not a finish', async () => {
    const { text, line } = await ask('half-finish', 'cut-5')
    expect(lastEvent(text).error.code).toBe('upstream_stream_error')
    expect(line).toMatchObject({ outcome: 'error', error: 'upstream_stream_error' })
  })

  it('the error event after a half event starts on its own (a blank line first), so SSE parsers read its code', async () => {
    const { text } = await ask('half-text', 'cut-6')
    expect(text).toContain('"content":"B\n\ndata: {"error"')
    expect(lastEvent(text).error.code).toBe('upstream_stream_error')
  })

  it('the error event after a whole CRLF event whose blank line came in a read of its own: no extra blank line', async () => {
    // Usage asked for: nothing to strip, so the bytes pass as they come.
    const { text } = await ask('crlf-split', 'cut-8', { stream_options: { include_usage: true } })
    expect(text).toContain('"finish_reason":null}]}\r\n\r\ndata: {"error"')
    const error = JSON.parse(text.slice(text.lastIndexOf('data: {"error"') + 6)) as { error: { code: string } }
    expect(error.error.code).toBe('upstream_stream_error')
  })

  it("an upstream's own error event followed by [DONE] (vLLM): relayed as it came, recorded as a failure", async () => {
    const { text, line } = await ask('vllm-error', 'cut-9')
    expect(text).toBe(HEAD + VLLM_ERROR + 'data: [DONE]\n\n')
    expect(line).toMatchObject({ status: 200, outcome: 'error', error: 'upstream_stream_error' })
  })

  it('an upstream that holds its response open after [DONE]: the client gets a clean end, the upstream no failure', async () => {
    const t0 = Date.now()
    const { text, line } = await ask('open-after-done', 'cut-7')
    expect(text).toBe(HEAD + ev({}, 'stop') + 'data: [DONE]\n\n')
    expect(line).toMatchObject({ status: 200, outcome: 'ok', error: null })
    // Ended at the idle timeout (1 s), not when the upstream let go (3 s).
    expect(Date.now() - t0).toBeLessThan(2800)
  })
})

describe('an upstream that refuses stream_options (older Azure OpenAI api-versions)', () => {
  let upstream: Server
  let gw4: GatewayProcess
  const bodies: string[] = []
  const ev = (delta: object, finish: string | null = null) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
  const STREAM = ev({ role: 'assistant', content: '' }) + ev({ content: 'Hi' }) + ev({}, 'stop') + 'data: [DONE]\n\n'

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      let body = ''
      req.setEncoding('utf8').on('data', (d: string) => (body += d))
      req.on('end', () => {
        bodies.push(body)
        if ((JSON.parse(body) as Record<string, unknown>).stream_options !== undefined) {
          res.writeHead(400, { 'content-type': 'application/json' })
          return res.end(JSON.stringify({ error: { message: 'Unrecognized request argument supplied: stream_options', type: 'invalid_request_error', param: null, code: null } }))
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.end(STREAM)
      })
    })
    const url = `${await listenLocal(upstream)}/v1`
    gw4 = await startGateway({
      models: [
        { name: 'asks', upstreams: [{ url, name: 'asks' }], retries: { attempts: 0 } },
        { name: 'quiet', upstreams: [{ url, name: 'quiet', stream_usage: false }], retries: { attempts: 0 } },
      ],
    })
  })

  afterAll(async () => {
    await gw4?.stop()
    upstream?.close()
  })

  const ask = async (model: string, id: string) => {
    const raw = JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'q' }] })
    const res = await fetch(`${gw4.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': id }, body: raw })
    return { raw, status: res.status, text: await res.text() }
  }

  it('by default the usage request is added, and such a server refuses the stream', async () => {
    const r = await ask('asks', 'so-1')
    expect(r.status).toBe(400)
    expect(bodies.at(-1)).toContain('"stream_options":{"include_usage":true}')
  })

  it('with stream_usage: false the body goes as the client sent it, the stream comes whole, its usage estimated', async () => {
    const r = await ask('quiet', 'so-2')
    expect(r.status).toBe(200)
    expect(bodies.at(-1)).toBe(r.raw)
    expect(r.text).toBe(STREAM)
    await eventually(() => gw4.accessLines().some((l) => l.request_id === 'so-2'))
    expect(gw4.accessLines().find((l) => l.request_id === 'so-2')).toMatchObject({ status: 200, outcome: 'ok', usage_estimated: true })
  })
})
