// Metrics, access log and usage report against one known traffic pattern: a real gateway
// process, real simulators, the openai SDK, the `switchyard usage` CLI.
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { CLI, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { scrape, sum, type Sample } from '../helpers/prometheus.js'
import { eventually, simStats, startSims } from '../helpers/sim.js'

const run = promisify(execFile)
const UPSTREAM_SECRET = 'sk-upstream-obs-93ad1f'
const CLIENT_KEY = 'sk-client-obs-5be2c7'
const MESSAGES = [{ role: 'user' as const, content: 'Count the tokens of this prompt' }]
const COMPLETION = 8
const PRICE = { input: 2, output: 10 }

let fast: SimServer
let slow: SimServer
let gw: GatewayProcess
let client: OpenAI
let samples: Sample[]
let access: Record<string, unknown>[]
let promptTokens: number

beforeAll(async () => {
  ;[fast] = await startSims(1, { ttftMs: 30 })
  ;[slow] = await startSims(1, { ttftMs: 5, tokensPerSecond: 20 })
  gw = await startGateway({
    usage: { flush_interval: '100ms' },
    prices: { obs: PRICE },
    models: [
      { name: 'obs', upstreams: [{ url: `${fast!.url}/v1`, name: 'fast', api_key: UPSTREAM_SECRET }] },
      { name: 'obs-slow', upstreams: [{ url: `${slow!.url}/v1`, name: 'slow', api_key: UPSTREAM_SECRET }], retries: { attempts: 0 } },
    ],
  })
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 })

  // The traffic: 3 answers, 2 streams, 1 stream the client leaves early, 1 unknown model.
  const opts = { model: 'obs', messages: MESSAGES, max_tokens: COMPLETION, ignore_eos: true }
  for (let i = 0; i < 3; i++) {
    const r = await client.chat.completions.create(opts)
    promptTokens = r.usage!.prompt_tokens
  }
  for (let i = 0; i < 2; i++) {
    const s = await client.chat.completions.create({ ...opts, stream: true })
    for await (const _ of s);
  }
  const cut = await client.chat.completions.create(
    { ...opts, model: 'obs-slow', max_tokens: 500, stream: true },
    { headers: { 'x-request-id': 'obs-abort-1' } }
  )
  let n = 0
  for await (const _ of cut) if (++n === 4) break
  await eventually(async () => (await simStats(slow)).cancelled === 1)
  await expect(client.chat.completions.create({ ...opts, model: 'no-such-model' })).rejects.toMatchObject({ status: 404 })

  await eventually(() => gw.accessLines().length >= 7, 5_000)
  access = gw.accessLines()
  samples = await scrape(gw.adminUrl)
})

afterAll(async () => {
  await gw?.stop()
  await fast?.close()
  await slow?.close()
})

describe('Prometheus metrics after a known traffic pattern', () => {
  const obs = { gen_ai_request_model: 'obs' }

  it('counts requests by model, upstream, status class and error type', () => {
    expect(sum(samples, 'switchyard_requests_total', { ...obs, gen_ai_response_model: 'obs', upstream: 'fast', status_class: '2xx' })).toBe(5)
    expect(sum(samples, 'switchyard_requests_total', { gen_ai_request_model: 'obs-slow', status_class: '4xx', error_type: 'client_closed' })).toBe(1)
    expect(sum(samples, 'switchyard_requests_total', { gen_ai_request_model: '', status_class: '4xx', error_type: 'model_not_found' })).toBe(1)
    expect(sum(samples, 'switchyard_requests_total')).toBe(7)
    expect(sum(samples, 'gen_ai_server_request_duration_seconds_count')).toBe(7)
  })

  it('observes one time to first token per successful stream, and time per output token', () => {
    expect(sum(samples, 'gen_ai_server_time_to_first_token_seconds_count', obs)).toBe(2)
    // The simulator waits 30 ms before the first token.
    expect(sum(samples, 'gen_ai_server_time_to_first_token_seconds_sum', obs)).toBeGreaterThanOrEqual(0.06)
    expect(sum(samples, 'gen_ai_server_time_to_first_token_seconds_bucket', { ...obs, le: '0.001' })).toBe(0)
    expect(sum(samples, 'gen_ai_server_time_per_output_token_seconds_count', obs)).toBe(2)
  })

  it('sums prompt and completion tokens as reported by the upstream', () => {
    const tokens = (type: string) => sum(samples, 'gen_ai_client_token_usage_sum', { ...obs, gen_ai_token_type: type })
    expect(tokens('input')).toBe(5 * promptTokens)
    expect(tokens('output')).toBe(5 * COMPLETION)
    expect(sum(samples, 'gen_ai_client_token_usage_count', { ...obs, gen_ai_token_type: 'input' })).toBe(5)
  })

  it('shows upstream state and in-flight requests at scrape time', () => {
    expect(sum(samples, 'switchyard_upstream_state', { model: 'obs', upstream: 'fast', state: 'healthy' })).toBe(1)
    expect(sum(samples, 'switchyard_upstream_state', { model: 'obs', upstream: 'fast', state: 'ejected' })).toBe(0)
    expect(sum(samples, 'switchyard_upstream_requests_in_flight', { model: 'obs' })).toBe(0)
    expect(samples.some((s) => s.name === 'switchyard_queue_depth' && s.labels.model === 'obs')).toBe(true)
  })

  it('never shows a secret', async () => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text()
    expect(text).not.toContain(UPSTREAM_SECRET)
    expect(text).not.toContain(CLIENT_KEY)
  })
})

describe('access log', () => {
  it('writes one JSON line per request with the documented fields', () => {
    const lines = access.filter((l) => l.type === 'access')
    expect(lines).toHaveLength(7)
    const ok = lines.filter((l) => l.model === 'obs')
    expect(ok).toHaveLength(5)
    for (const l of ok) {
      expect(l).toMatchObject({ status: 200, upstream: 'fast', served_model: 'obs', prompt_tokens: promptTokens, completion_tokens: COMPLETION, usage_estimated: false, retries: 0, error: null, client_ip: '127.0.0.1' })
      expect(typeof l.request_id).toBe('string')
      expect(l.duration_ms as number).toBeGreaterThan(0)
      expect(l.ttft_ms as number).toBeGreaterThan(0)
      expect(l).toHaveProperty('key_name', null)
    }
    expect(ok.filter((l) => l.stream === true)).toHaveLength(2)
  })

  it("counts the gateway's own answers in bytes_out (an error body too)", () => {
    const notFound = access.find((l) => l.type === 'access' && l.status === 404)!
    const body = JSON.stringify({ error: { message: "The model 'no-such-model' does not exist or you do not have access to it.", type: 'invalid_request_error', code: 'model_not_found', param: 'model' } })
    expect(notFound.bytes_out).toBe(Buffer.byteLength(body))
  })

  it('logs a client that left mid-stream as 499, with the tokens it saw', () => {
    const line = access.find((l) => l.request_id === 'obs-abort-1')!
    expect(line).toMatchObject({ status: 499, outcome: 'cancelled', stream: true, error: 'client_closed', usage_estimated: true })
    expect(line.completion_tokens as number).toBeGreaterThanOrEqual(3)
    expect(line.prompt_tokens as number).toBeGreaterThan(0)
  })

  it('contains no key or upstream secret anywhere in stdout or stderr', () => {
    for (const text of [gw.stdout(), gw.stderr()]) {
      expect(text).not.toContain(UPSTREAM_SECRET)
      expect(text).not.toContain(CLIENT_KEY)
    }
  })
})

describe('switchyard usage (SQLite)', () => {
  async function report(by: string, format = 'json'): Promise<string> {
    const { stdout } = await run(process.execPath, [CLI, 'usage', '--config', gw.configFile, '--by', by, '--since', '1h', '--format', format], { cwd: gw.dir })
    return stdout
  }

  it('reports the traffic that was sent, by model', { timeout: 90_000 }, async () => {
    await eventually(async () => JSON.parse(await report('model')).reduce((a: number, r: { requests: number }) => a + r.requests, 0) === 7)
    const rows = JSON.parse(await report('model')) as Record<string, any>[]
    const byModel = Object.fromEntries(rows.map((r) => [r.group, r]))
    expect(byModel.obs).toMatchObject({ requests: 5, prompt_tokens: 5 * promptTokens, completion_tokens: 5 * COMPLETION, errors: 0, error_rate: 0, estimated: 0 })
    expect(byModel.obs.cost_usd).toBeCloseTo((5 * promptTokens * PRICE.input + 5 * COMPLETION * PRICE.output) / 1e6, 12)
    // Percentiles over the two streams' time to first token, as the access log has them.
    const ttfts = access.filter((l) => l.model === 'obs' && l.stream === true).map((l) => l.ttft_ms as number).sort((a, b) => a - b)
    expect(byModel.obs.ttft_p50_ms).toBeCloseTo((ttfts[0]! + ttfts[1]!) / 2, 0)
    expect(byModel.obs.ttft_p95_ms).toBeCloseTo(ttfts[0]! + 0.95 * (ttfts[1]! - ttfts[0]!), 0)
    // A client that left is not an error; an unknown model is, under '-' (names clients make up are not kept).
    expect(byModel['obs-slow']).toMatchObject({ requests: 1, errors: 0, estimated: 1 })
    expect(byModel['-']).toMatchObject({ requests: 1, errors: 1, error_rate: 1 })
    expect(byModel['no-such-model']).toBeUndefined()
  })

  it('groups by upstream and day, and prints table and csv', async () => {
    const [upstream, day, table, csvText] = await Promise.all([report('upstream'), report('day'), report('key', 'table'), report('model', 'csv')])
    const up = JSON.parse(upstream) as { group: string; requests: number }[]
    expect(up.find((r) => r.group === 'obs/fast')?.requests).toBe(5)
    const days = JSON.parse(day) as { group: string; requests: number }[]
    expect(days.reduce((a, r) => a + r.requests, 0)).toBe(7)
    expect(days[0]!.group).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    expect(table).toMatch(/^key\s+requests/)
    expect(table).toMatch(/\ntotal\s+7\s/)
    const csv = csvText.trim().split('\n')
    expect(csv[0]).toBe('model,requests,prompt_tokens,completion_tokens,cost_usd,error_rate,estimated,ttft_p50_ms,ttft_p95_ms')
    expect(csv).toHaveLength(4)
  }, 90_000)
})

describe('config reloads', () => {
  it('are counted by result', async () => {
    const good = await readFile(gw.configFile, 'utf8')
    gw.proc.kill('SIGHUP')
    await gw.waitForLog(/"msg":"config applied"/)
    await writeFile(gw.configFile, 'models: not-a-list\n')
    gw.proc.kill('SIGHUP')
    await gw.waitForLog(/config reload rejected/)
    await writeFile(gw.configFile, good)
    const s = await scrape(gw.adminUrl)
    expect(sum(s, 'switchyard_config_reloads_total', { result: 'success' })).toBe(1)
    expect(sum(s, 'switchyard_config_reloads_total', { result: 'failure' })).toBe(1)
  })
})
