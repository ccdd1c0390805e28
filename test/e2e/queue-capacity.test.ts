// Capacity added while requests wait in the admission queue serves them at once: an upstream
// added through the admin API, a raised max_concurrency, a config reload. Waiters pick from
// the model's newest pool, in arrival order.
import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { adminClient, type AdminCall } from '../helpers/admin.js'
import { configText, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { post, sleep } from '../helpers/requests.js'
import { startSims } from '../helpers/sim.js'

const TOKEN = 'test-admin-token-queue-cap'
let sims: SimServer[]
let gw: GatewayProcess
let admin: AdminCall

/** Each model starts with one upstream that takes one request at a time and answers in 3 s. */
function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const one = (name: string, i: number) => ({
    name,
    upstreams: [{ url: `${sims[i]!.url}/v1`, name: 'first', max_concurrency: 1 }],
    queue: { max: 10, timeout: '10s' },
    timeouts: { first_token: '10s' },
  })
  return { admin: { token: TOKEN }, models: [one('add', 0), one('patch', 2), one('reload', 3)], ...extra }
}

beforeAll(async () => {
  sims = await startSims(5, { ttftMs: 3000 })
  gw = await startGateway(config())
  admin = adminClient(gw.adminUrl, TOKEN)
})

afterAll(async () => {
  await gw?.stop()
  await Promise.all(sims?.map((s) => s.close()) ?? [])
})

const ask = (model: string) => post(gw.url, { model, max_tokens: 1, messages: [{ role: 'user', content: 'q' }] })

/** Fills the one slot, queues a second request, then adds capacity; the second must not wait for the first. */
async function queuedThenServed(model: string, addCapacity: () => Promise<void>): Promise<number> {
  const busy = ask(model)
  await sleep(300)
  const t0 = Date.now()
  const queued = ask(model)
  await sleep(300)
  await addCapacity()
  const r = await queued
  expect(r.status).toBe(200)
  expect((await busy).status).toBe(200)
  return Date.now() - t0
}

describe('capacity added while requests wait', () => {
  it('an upstream added through the admin API serves a queued request at once', async () => {
    const waited = await queuedThenServed('add', async () => {
      const res = await admin('POST', '/admin/models/add/upstreams', { url: `${sims[1]!.url}/v1`, name: 'second' })
      expect(res.status).toBeLessThan(300)
    })
    // 0.3 s queued + 3 s on the new upstream; waiting for the busy one would take ~5.7 s.
    expect(waited).toBeLessThan(5000)
  })

  it('a raised max_concurrency serves a queued request at once', async () => {
    const waited = await queuedThenServed('patch', async () => {
      const res = await admin('PATCH', '/admin/upstreams/patch/first', { max_concurrency: 2 })
      expect(res.status).toBeLessThan(300)
    })
    expect(waited).toBeLessThan(5000)
  })

  it('a config reload that adds an upstream serves a queued request at once', async () => {
    const waited = await queuedThenServed('reload', async () => {
      const next = config()
      const models = next.models as Record<string, unknown>[]
      models[2] = { ...models[2], upstreams: [...(models[2]!.upstreams as object[]), { url: `${sims[4]!.url}/v1`, name: 'second', max_concurrency: 1 }] }
      await writeFile(gw.configFile, configText(next))
      const res = await admin('POST', '/admin/config/reload')
      expect(res.status).toBeLessThan(300)
    })
    expect(waited).toBeLessThan(5000)
  })
})
