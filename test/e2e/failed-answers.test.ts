// How failed answers are reported, everywhere alike: an upstream's error answer that is
// relayed, and a stream that breaks after its 200. Access log, metrics, dashboard, usage
// report and traces must all call them failures, and keep them out of time to first token.
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { adminClient } from '../helpers/admin.js'
import { CLI, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { listenLocal } from '../helpers/ports.js'
import { scrape, sum, type Sample } from '../helpers/prometheus.js'
import { post } from '../helpers/requests.js'
import { eventually, setFault, startSims } from '../helpers/sim.js'

const run = promisify(execFile)
const TOKEN = 'failed-answers-admin-token'

let limited: SimServer
let breaking: SimServer
let healthy: SimServer
let gw: GatewayProcess
let collector: Server
const spans: { name: string; kind: number; status?: { code?: number }; attributes: { key: string; value: Record<string, unknown> }[] }[] = []
let access: Record<string, unknown>[]
let samples: Sample[]

async function stream(model: string): Promise<string> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: true, max_tokens: 20, messages: [{ role: 'user', content: 'go' }], ignore_eos: true }),
  })
  expect(res.status).toBe(200)
  return await res.text()
}

beforeAll(async () => {
  ;[limited, breaking, healthy] = await startSims(3, { ttftMs: 20, tokensPerSecond: 200 })
  await setFault(limited!, { mode: 'rate-limit', retry_after: 1 })
  await setFault(breaking!, { mode: 'drop-mid-stream', after_chunks: 3 })
  collector = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (d: string) => (body += d))
    req.on('end', () => {
      for (const rs of JSON.parse(body).resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans.push(...ss.spans)
      res.end('{}')
    })
  })
  const collectorUrl = await listenLocal(collector)
  gw = await startGateway({
    admin: { token: TOKEN },
    usage: { flush_interval: '100ms' },
    tracing: { otlp_endpoint: collectorUrl },
    models: [
      { name: 'limited', upstreams: [{ url: `${limited!.url}/v1`, name: 'lim' }], retries: { attempts: 0 } },
      { name: 'breaking', upstreams: [{ url: `${breaking!.url}/v1`, name: 'brk' }], retries: { attempts: 0 } },
      { name: 'healthy', upstreams: [{ url: `${healthy!.url}/v1`, name: 'ok' }] },
    ],
  })
  // A relayed 429, two broken streams, one whole stream.
  const r = await post(gw.url, { model: 'limited', messages: [{ role: 'user', content: 'x' }] })
  expect(r.status).toBe(429)
  for (let i = 0; i < 2; i++) expect(await stream('breaking')).toContain('upstream_stream_error')
  expect(await stream('healthy')).toContain('data: [DONE]')
  await eventually(() => gw.accessLines().filter((l) => l.type === 'access').length >= 4, 5_000)
  access = gw.accessLines().filter((l) => l.type === 'access')
  samples = await scrape(gw.adminUrl)
})

afterAll(async () => {
  await gw?.stop()
  await Promise.all([limited, breaking, healthy].map((s) => s?.close()))
  collector?.close()
})

describe('failed answers', () => {
  it('the access log calls a relayed upstream error and a broken stream outcome "error"', () => {
    expect(access.find((l) => l.model === 'limited')).toMatchObject({ status: 429, outcome: 'error', error: 'upstream_429' })
    const broken = access.filter((l) => l.model === 'breaking')
    expect(broken).toHaveLength(2)
    for (const l of broken) expect(l).toMatchObject({ status: 200, outcome: 'error', error: 'upstream_stream_error' })
    expect(access.find((l) => l.model === 'healthy')).toMatchObject({ status: 200, outcome: 'ok', error: null })
  })

  it('time to first token and per output token count the successful stream only', () => {
    expect(sum(samples, 'gen_ai_server_time_to_first_token_seconds_count', { gen_ai_request_model: 'breaking' })).toBe(0)
    expect(sum(samples, 'gen_ai_server_time_per_output_token_seconds_count', { gen_ai_request_model: 'breaking' })).toBe(0)
    expect(sum(samples, 'gen_ai_server_time_to_first_token_seconds_count', { gen_ai_request_model: 'healthy' })).toBe(1)
    expect(sum(samples, 'switchyard_requests_total', { gen_ai_request_model: 'breaking', error_type: 'upstream_stream_error' })).toBe(2)
  })

  it("the dashboard's recent requests name each failure as the access log does, with no time to first token for a broken stream", async () => {
    const state = (await adminClient(gw.adminUrl, TOKEN)('GET', '/admin/dashboard/state')).body
    const recent = state.recent as { model: string; error: string | null; ttft_ms: number | null }[]
    expect(recent.find((r) => r.model === 'limited')).toMatchObject({ error: 'upstream_429' })
    for (const r of recent.filter((x) => x.model === 'breaking')) expect(r).toMatchObject({ error: 'upstream_stream_error', ttft_ms: null })
    expect(recent.find((r) => r.model === 'healthy')!.ttft_ms).toBeGreaterThan(0)
  })

  it('switchyard usage counts them as errors and leaves broken streams out of time to first token', { timeout: 60_000 }, async () => {
    const report = async () => {
      const { stdout } = await run(process.execPath, [CLI, 'usage', '--config', gw.configFile, '--by', 'model', '--since', '1h', '--format', 'json'], { cwd: gw.dir })
      return Object.fromEntries((JSON.parse(stdout) as Record<string, unknown>[]).map((r) => [r.group, r]))
    }
    await eventually(async () => Object.values(await report()).reduce((a: number, r) => a + ((r as { requests: number }).requests), 0) === 4)
    const byModel = await report()
    expect(byModel.limited).toMatchObject({ requests: 1, errors: 1 })
    expect(byModel.breaking).toMatchObject({ requests: 2, errors: 2, ttft_p50_ms: null, ttft_p95_ms: null })
    expect(byModel.healthy).toMatchObject({ requests: 1, errors: 0 })
    expect(byModel.healthy!.ttft_p50_ms).toBeGreaterThan(0)
  })

  it("a broken stream's server span has status ERROR", async () => {
    await eventually(() => spans.filter((s) => s.kind === 2).length >= 4, 10_000)
    const server = spans.filter((s) => s.kind === 2)
    const model = (s: (typeof spans)[number]) => s.attributes.find((a) => a.key === 'gen_ai.request.model')?.value.stringValue
    for (const s of server.filter((x) => model(x) === 'breaking')) expect(s.status?.code).toBe(2)
    expect(server.find((x) => model(x) === 'healthy')!.status?.code ?? 0).toBe(0)
  })
})
