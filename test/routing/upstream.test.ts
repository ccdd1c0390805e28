// Upstream: live settings a reload changes on the object it keeps.
import { createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { Upstream } from '../../src/routing/upstream.js'

let server: Server | undefined
const sockets: Socket[] = []

afterEach(async () => {
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
