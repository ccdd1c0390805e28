// Upstream: live settings a reload changes on the object it keeps.
import { createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { p2cEwma } from '../../src/balancing/p2c-ewma.js'
import { parseConfig } from '../../src/config/load.js'
import { Upstream } from '../../src/routing/upstream.js'
import { acceptAll, seededRandom } from '../suites/balance-fixtures.js'

let server: Server | undefined
const sockets: Socket[] = []

afterEach(async () => {
  vi.restoreAllMocks()
  for (const s of sockets) s.destroy()
  await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)))
  server = undefined
})

/** Accepts TCP connections and never answers, so a TLS handshake waits for the connect timeout. */
async function silentPort(): Promise<number> {
  server = createServer((s) => sockets.push(s))
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

describe('Upstream', () => {
  it('opens new connections with a connect timeout changed after it was built', async () => {
    const port = await silentPort()
    const spec = parseConfig({ models: [{ name: 'm', upstreams: [{ url: `https://127.0.0.1:${port}/v1` }] }] })
      .models[0]!.upstreams[0]!
    const u = new Upstream(spec, { id: '0', connectTimeout: 30_000 })
    u.connectTimeout = 150
    const started = Date.now()
    await expect(u.dispatcher.request({ path: '/v1/models', method: 'GET' })).rejects.toMatchObject({
      code: 'UND_ERR_CONNECT_TIMEOUT',
    })
    expect(Date.now() - started).toBeLessThan(5_000)
    await u.destroy()
  })
})

function upstream(id: string): Upstream {
  const spec = parseConfig({ models: [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:9/v1' }] }] }).models[0]!.upstreams[0]!
  return new Upstream(spec, { id, connectTimeout: 1_000 })
}

describe('Upstream latency estimate', () => {
  it('decays towards 0 while no response comes in, and reads as unmeasured once stale', () => {
    const u = upstream('a')
    u.observeLatency(30, 1_000)
    expect(u.latencyAt(1_000)).toBe(30)
    expect(u.latencyAt(11_000)).toBeCloseTo(30 / Math.E, 5)
    expect(u.latencyAt(1_000 + 20_000)).toBe(0)
    // A slow sample still counts at once (peak), a fast one blends in.
    u.observeLatency(50, 12_000)
    expect(u.latencyAt(12_000)).toBe(50)
    u.observeLatency(10, 12_000)
    expect(u.latencyAt(12_000)).toBe(50)
  })

  it('lets p2c-ewma come back to a member after one slightly slower response', () => {
    let now = 1_000_000
    vi.spyOn(Date, 'now').mockImplementation(() => now)
    const a = upstream('a')
    const b = upstream('b')
    const balancer = p2cEwma([a, b], { random: seededRandom(11) })
    let slowOnce = true
    const picks = { a: 0, b: 0 }
    for (let i = 0; i < 60; i++, now += 100) {
      const u = balancer.pick(acceptAll())!
      picks[u.id as 'a' | 'b']++
      u.begin()
      u.observeLatency(u === b && slowOnce ? 30.4 : 28.5, now)
      if (u === b) slowOnce = false
      u.end('success')
    }
    // Without decay b keeps its 30.4 ms against a's 28.5 and gets nothing after its first.
    expect(picks.b).toBeGreaterThan(10)
  })
})
