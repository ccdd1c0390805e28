import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { upstreamSchema } from '../../src/config/schema.js'
import { httpProbe } from '../../src/health/active-checker.js'
import { Upstream } from '../../src/routing/upstream.js'
import { setFault, simStats, startSims } from '../helpers/sim.js'

const open: Upstream[] = []
afterAll(async () => {
  await Promise.all(open.map((u) => u.destroy()))
})

function upstream(url: string): Upstream {
  const u = new Upstream(upstreamSchema.parse({ url, api_key: 'sk-probe', headers: { 'x-extra': '1' } }), { id: 'p', connectTimeout: 500 })
  open.push(u)
  return u
}

describe('httpProbe', () => {
  it('GETs the path on the origin with the upstream headers; 2xx passes, 503 fails', async () => {
    const [sim] = await startSims(1)
    const u = upstream(`${sim.url}/v1`)
    const signal = new AbortController().signal
    expect(await httpProbe(u, '/health', 1000, signal)).toBe(true)
    await setFault(sim, { mode: 'down' })
    expect(await httpProbe(u, '/health', 1000, signal)).toBe(false)
    expect(await httpProbe(u, '/no-such-path', 1000, signal)).toBe(false)
    expect((await simStats(sim)).received).toBe(0) // /health is not a /v1 request
    await sim.close()
    expect(await httpProbe(u, '/health', 1000, signal)).toBe(false)
  })

  it('times out a server that never answers, and stops when aborted', async () => {
    const seen: Record<string, string | string[] | undefined>[] = []
    const server = createServer((req) => seen.push(req.headers)) // never answers
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const u = upstream(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`)
    let t0 = Date.now()
    expect(await httpProbe(u, '/health', 200, new AbortController().signal)).toBe(false)
    expect(Date.now() - t0).toBeLessThan(1500)
    expect(seen[0]).toMatchObject({ authorization: 'Bearer sk-probe', 'x-extra': '1' })
    const controller = new AbortController()
    t0 = Date.now()
    const pending = httpProbe(u, '/health', 10_000, controller.signal)
    setTimeout(() => controller.abort(), 50)
    expect(await pending).toBe(false)
    expect(Date.now() - t0).toBeLessThan(1500)
    server.closeAllConnections()
    server.close()
  })
})
