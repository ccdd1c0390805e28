// An upstream that reports no usage at all: the gateway estimates the prompt and counts
// the completion from the stream's content events, and marks the usage as estimated.
import { createServer, type Server } from 'node:http'
import OpenAI from 'openai'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { listenLocal } from '../helpers/ports.js'
import { scrape, sum } from '../helpers/prometheus.js'
import { eventually } from '../helpers/sim.js'

const WORDS = ['One', ' two', ' three', ' four', ' five', ' six']
let upstream: Server
let gw: GatewayProcess

beforeAll(async () => {
  // Ignores stream_options and never sends usage, as some servers do.
  upstream = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (d: string) => (body += d))
    req.on('end', () => {
      const stream = (JSON.parse(body) as { stream?: boolean }).stream === true
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: WORDS.join('') }, finish_reason: 'stop' }] }))
        return
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const frame = (delta: object, finish: string | null = null) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
      res.write(frame({ role: 'assistant', content: '' }))
      for (const w of WORDS) res.write(frame({ content: w }))
      res.write(frame({}, 'stop'))
      res.end('data: [DONE]\n\n')
    })
  })
  gw = await startGateway({ models: [{ name: 'quiet', upstreams: [{ url: `${await listenLocal(upstream)}/v1`, name: 'q' }] }] })
})

afterAll(async () => {
  await gw?.stop()
  upstream?.close()
})

it('estimates usage when the upstream reports none, for streams and answers', async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
  const prompt = 'p'.repeat(40)
  const s = await client.chat.completions.create({ model: 'quiet', stream: true, messages: [{ role: 'user', content: prompt }] }, { headers: { 'x-request-id': 'quiet-stream' } })
  let text = ''
  for await (const c of s) text += c.choices[0]?.delta?.content ?? ''
  expect(text).toBe(WORDS.join(''))
  await client.chat.completions.create({ model: 'quiet', messages: [{ role: 'user', content: prompt }] }, { headers: { 'x-request-id': 'quiet-answer' } })

  await eventually(() => gw.accessLines().length === 2)
  const [stream, answer] = ['quiet-stream', 'quiet-answer'].map((id) => gw.accessLines().find((l) => l.request_id === id)!)
  // 40 characters / 4 + one message (3) + reply priming (3).
  expect(stream).toMatchObject({ usage_estimated: true, prompt_tokens: 16, completion_tokens: WORDS.length })
  expect(answer).toMatchObject({ usage_estimated: true, prompt_tokens: 16, completion_tokens: Math.ceil(WORDS.join('').length / 4) })
  const samples = await scrape(gw.adminUrl)
  expect(sum(samples, 'gen_ai_client_token_usage_sum', { gen_ai_request_model: 'quiet', gen_ai_token_type: 'output' })).toBe(WORDS.length + Math.ceil(WORDS.join('').length / 4))
})
