// The usage store on a real PostgreSQL server: the report matches the traffic sent, and
// an outage (the server stopped) fails no request; the rows arrive once it is back.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { CLI, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { startPostgres, type PostgresServer } from '../helpers/postgres.js'
import { scrape, sum } from '../helpers/prometheus.js'
import { eventually, startSims } from '../helpers/sim.js'

const run = promisify(execFile)
let pg: PostgresServer
let sim: SimServer
let gw: GatewayProcess
let client: OpenAI

beforeAll(async () => {
  pg = await startPostgres()
  pg.createDatabase('switchyard_e2e')
  ;[sim] = await startSims(1, { ttftMs: 2 })
  gw = await startGateway({
    usage: { postgres: pg.url('switchyard_e2e'), flush_interval: '100ms' },
    models: [{ name: 'pg-model', upstreams: [{ url: `${sim!.url}/v1`, name: 'sim' }] }],
  })
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
}, 60_000)

afterAll(async () => {
  await gw?.stop()
  await sim?.close()
  await pg?.destroy()
})

async function report(): Promise<{ group: string; requests: number; prompt_tokens: number; completion_tokens: number; ttft_p50_ms: number | null }[]> {
  const { stdout } = await run(process.execPath, [CLI, 'usage', '--config', gw.configFile, '--by', 'model', '--format', 'json'], { cwd: gw.dir })
  return JSON.parse(stdout)
}

async function traffic(n: number, stream: boolean): Promise<{ prompt: number; completion: number }> {
  let prompt = 0
  let completion = 0
  for (let i = 0; i < n; i++) {
    if (stream) {
      const s = await client.chat.completions.create({ model: 'pg-model', stream: true, stream_options: { include_usage: true }, max_tokens: 6, messages: [{ role: 'user', content: `stream ${i}` }] })
      for await (const c of s) {
        if (c.usage) {
          prompt += c.usage.prompt_tokens
          completion += c.usage.completion_tokens
        }
      }
    } else {
      const r = await client.chat.completions.create({ model: 'pg-model', max_tokens: 6, messages: [{ role: 'user', content: `answer ${i}` }] })
      prompt += r.usage!.prompt_tokens
      completion += r.usage!.completion_tokens
    }
  }
  return { prompt, completion }
}

describe('usage store on PostgreSQL', () => {
  let sent = { requests: 0, prompt: 0, completion: 0 }

  it('reports the traffic that was sent', async () => {
    const a = await traffic(4, false)
    const b = await traffic(3, true)
    sent = { requests: 7, prompt: a.prompt + b.prompt, completion: a.completion + b.completion }
    await eventually(async () => (await report())[0]?.requests === 7, 10_000)
    const [r] = await report()
    expect(r).toMatchObject({ group: 'pg-model', requests: 7, prompt_tokens: sent.prompt, completion_tokens: sent.completion })
    expect(r!.ttft_p50_ms).toBeGreaterThan(0)
  })

  it('fails no request while the server is down, and the rows arrive after it returns', async () => {
    await pg.stop()
    const during = await traffic(10, false)
    const stalled = await scrape(gw.adminUrl)
    await eventually(async () => sum(await scrape(gw.adminUrl), 'switchyard_usage_write_failures_total') > 0, 10_000)
    expect(sum(stalled, 'switchyard_usage_records_dropped_total')).toBe(0)
    await pg.start()
    await eventually(async () => (await report().catch(() => []))[0]?.requests === 17, 45_000)
    const [r] = await report()
    expect(r).toMatchObject({ requests: 17, prompt_tokens: sent.prompt + during.prompt, completion_tokens: sent.completion + during.completion })
    const after = await scrape(gw.adminUrl)
    expect(sum(after, 'switchyard_usage_buffered_records')).toBe(0)
    expect(sum(after, 'switchyard_usage_records_written_total')).toBe(17)
  }, 90_000)
})
