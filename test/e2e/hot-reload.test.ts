// Hot reload with real processes: a config swap under 200 live streams drops none, new
// requests use the new config, an invalid file changes nothing, SIGHUP and file changes both
// reload.
import { writeFile } from 'node:fs/promises'
import OpenAI from 'openai'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { configText, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { freePort } from '../helpers/ports.js'
import { eventually, simStats, startSims } from '../helpers/sim.js'

let sims: SimServer[] = []
let gw: GatewayProcess | undefined

afterEach(async () => {
  await gw?.stop()
  gw = undefined
})

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()))
})

function config(names: readonly ('a' | 'b' | 'c')[], extra: Record<string, unknown> = {}) {
  return {
    logging: { access_log: 'off' },
    models: [
      {
        name: 'm',
        strategy: 'round-robin',
        upstreams: names.map((n) => ({ url: `${sims['abc'.indexOf(n)]!.url}/v1`, name: n })),
        ...extra,
      },
    ],
  }
}

async function servedBy(client: OpenAI): Promise<string> {
  const { response } = await client.chat.completions
    .create({ model: 'm', max_tokens: 2, messages: [{ role: 'user', content: 'which' }] })
    .withResponse()
  return response.headers.get('x-switchyard-upstream')!
}

describe('hot reload', () => {
  it('swaps the config under 200 live streams: none dropped, new requests use the new config', { timeout: 90_000 }, async () => {
    // Slow streams keep the 200 cheap for the test process (the SDK parses every chunk),
    // and long enough that all are live together when the config changes.
    sims = await startSims(3, { ttftMs: 20, tokensPerSecond: 5 })
    gw = await startGateway(config(['a', 'b']))
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 30_000 })
    const TOKENS = 60 // 12 s: all 200 are live together even on a loaded machine
    const reading = Array.from({ length: 200 }, async () => {
      const stream = await client.chat.completions.create({
        model: 'm',
        stream: true,
        max_tokens: TOKENS,
        messages: [{ role: 'user', content: 'reload under me' }],
        ...{ ignore_eos: true },
      })
      let n = 0
      let finish: string | null = null
      for await (const c of stream) {
        n += c.choices[0]?.delta?.content ? 1 : 0
        finish = c.choices[0]?.finish_reason ?? finish
      }
      return { n, finish }
    })
    await eventually(async () => (await simStats(sims[0]!)).inflight + (await simStats(sims[1]!)).inflight === 200, 20_000)

    // a leaves, c joins, and a setting changes.
    await writeFile(gw.configFile, configText(config(['b', 'c'], { retries: { attempts: 1 } })))
    await gw.waitForLog(/"trigger":"file".*"msg":"config reloaded"/)
    expect((await simStats(sims[0]!)).inflight).toBeGreaterThan(0)
    const served = new Set<string>()
    for (let i = 0; i < 6; i++) served.add(await servedBy(client))
    expect([...served].sort()).toEqual(['b', 'c'])

    const results = await Promise.all(reading)
    expect(results.filter((r) => r.n !== TOKENS || r.finish !== 'length')).toEqual([])
    for (const s of sims) expect((await simStats(s)).cancelled).toBe(0)
    expect((await simStats(sims[0]!)).received).toBe(100)
    await gw.waitForLog(/"upstream":"a","msg":"upstream drained and removed"/)
  })

  it('rejects an invalid file with each error by field path; the old config keeps serving', async () => {
    gw = await startGateway(config(['a']))
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
    await writeFile(
      gw.configFile,
      configText({ models: [{ name: 'm', strategy: 'fastest', upstreams: [{ url: `${sims[1]!.url}/v1`, wieght: 2 }] }] })
    )
    await gw.waitForLog(/config reload rejected; the previous config keeps serving/)
    expect(gw.stderr()).toContain('models[0].strategy: must be one of')
    expect(gw.stderr()).toContain('models[0].upstreams[0]: unknown field(s): wieght')
    expect(await servedBy(client)).toBe('a')
  })

  it('reloads on SIGHUP (with --no-watch, only then)', async () => {
    gw = await startGateway(config(['a']), {}, ['--no-watch'])
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
    await writeFile(gw.configFile, configText(config(['c'])))
    await new Promise((r) => setTimeout(r, 500))
    expect(await servedBy(client)).toBe('a')
    gw.proc.kill('SIGHUP')
    await gw.waitForLog(/"trigger":"signal".*"msg":"config reloaded"/)
    expect(await servedBy(client)).toBe('c')
  })

  it('says which changed settings need a restart', async () => {
    gw = await startGateway(config(['a']))
    // keep_alive_timeout is applied live, so only http2_max_streams is named.
    await writeFile(gw.configFile, configText({ ...config(['b']), server: { port: 0, keep_alive_timeout: '10s', http2_max_streams: 64 } }))
    await gw.waitForLog(/"fields":\["server.http2_max_streams"\].*only after a restart/)
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
    expect(await servedBy(client)).toBe('b')
  })

  it('a setting changed and then changed back waits for nothing: no restart warning, by either wording', async () => {
    const port = await freePort()
    gw = await startGateway({ ...config(['a']), server: { port } })
    await writeFile(gw.configFile, configText({ ...config(['b']), server: { port: port + 1 } }))
    await gw.waitForLog(/"fields":\["server.port"\].*only after a restart/)
    const before = gw.stderr().length
    // Back to the port the process listens on, with another change so the reload applies.
    await writeFile(gw.configFile, configText({ ...config(['c']), server: { port } }))
    await gw.waitForLog(/"reloads":2.*"msg":"config reloaded"/)
    const after = gw.stderr().slice(before)
    expect(after, after).not.toMatch(/restart/)
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 })
    expect(await servedBy(client)).toBe('c')
  })
})
