// A key's model allow-list holds for the model that serves, not only for the one asked for:
// a key kept to a small model is never served by a large fallback when the small one is down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { testKey } from '../helpers/keys.js'
import { setFault, simStats, startSims } from '../helpers/sim.js'

let small: SimServer
let large: SimServer
let gw: GatewayProcess
const narrow = testKey('narrow', { models: ['chat-small'] })
const wide = testKey('wide', { models: ['chat-small', 'chat-large'] })
const open = testKey('open')

beforeAll(async () => {
  ;[small, large] = await startSims(2)
  gw = await startGateway({
    logging: { access_log: 'off' },
    auth: { keys: [narrow.entry, wide.entry, open.entry] },
    models: [
      { name: 'chat-small', upstreams: [{ url: `${small.url}/v1` }], retries: { attempts: 0 }, fallback: ['chat-large'] },
      { name: 'chat-large', upstreams: [{ url: `${large.url}/v1` }] },
    ],
  })
  await setFault(small, { mode: 'down' })
})

afterAll(async () => {
  await gw?.stop()
  await small?.close()
  await large?.close()
})

function ask(key: string): Promise<Response> {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'chat-small', max_tokens: 5, messages: [{ role: 'user', content: 'Hello' }] }),
  })
}

describe('fallbacks and a key allow-list', () => {
  it('a key allowed the fallback model is served by it', async () => {
    for (const key of [wide.key, open.key]) {
      const r = await ask(key)
      expect(r.status).toBe(200)
      expect(r.headers.get('x-switchyard-model')).toBe('chat-large')
    }
  })

  it('a key not allowed the fallback model gets the small model failure, and the large model is never asked', async () => {
    const before = (await simStats(large)).received
    const r = await ask(narrow.key)
    expect(r.status).toBeGreaterThanOrEqual(500)
    const body = (await r.json()) as { error: { code: string } }
    expect(typeof body.error.code).toBe('string')
    expect(r.headers.get('x-switchyard-model')).not.toBe('chat-large')
    expect((await simStats(large)).received).toBe(before)
  })
})
