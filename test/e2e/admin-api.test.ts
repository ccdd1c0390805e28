// The admin API against a real gateway process and real simulators: auth, listing without
// secrets, add / patch / drain / delete, and how run-time changes meet a config reload.
import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { adminClient, type AdminCall } from '../helpers/admin.js'
import { configText, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { eventually, simStats, startSims } from '../helpers/sim.js'

const TOKEN = 'test-admin-token-1234'
let sims: SimServer[] = []
let gw: GatewayProcess
let admin: AdminCall

function config(chatUpstreams: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return {
    admin: { token: TOKEN },
    logging: { access_log: 'off' },
    models: [
      { name: 'chat', strategy: 'round-robin', upstreams: chatUpstreams, ...extra },
      { name: 'embed', upstreams: [{ url: `${sims[0]!.url}/v1`, name: 'a' }] },
    ],
  }
}

let chatUpstreams: Record<string, unknown>[]

beforeAll(async () => {
  sims = await startSims(3)
  const b = new URL(sims[1]!.url)
  chatUpstreams = [
    { url: `${sims[0]!.url}/v1`, name: 'a', api_key: 'sk-upstream-secret', headers: { 'X-Org': 'org-secret' } },
    { url: `http://user:pass-secret@${b.host}/v1` },
  ]
  gw = await startGateway(config(chatUpstreams))
  admin = adminClient(gw.adminUrl, TOKEN)
})

afterAll(async () => {
  await gw?.stop()
  await Promise.all(sims.map((s) => s.close()))
})

async function chat(): Promise<string> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] }),
  })
  await res.arrayBuffer()
  expect(res.status).toBe(200)
  return res.headers.get('x-switchyard-upstream')!
}

const names = async (model = 'chat'): Promise<string[]> =>
  ((await admin('GET', `/admin/upstreams?model=${model}`)).body.data as { name: string }[]).map((u) => u.name)

describe('admin API auth', () => {
  const routes: [string, string][] = [
    ['GET', '/admin/models'],
    ['GET', '/admin/upstreams'],
    ['GET', '/admin/config'],
    ['POST', '/admin/config/reload'],
    ['POST', '/admin/models/chat/upstreams'],
    ['POST', '/admin/upstreams/chat%2Fa/drain'],
    ['PATCH', '/admin/upstreams/chat/a'],
    ['DELETE', '/admin/upstreams/chat/a'],
  ]
  it.each(routes)('%s %s answers 401 without a token or with a wrong one', async (method, path) => {
    for (const token of [undefined, 'wrong-token', `${TOKEN}x`]) {
      const res = await adminClient(gw.adminUrl, token)(method, path, method === 'GET' ? undefined : { weight: 2 })
      expect(res.status).toBe(401)
      expect(res.body.error).toMatchObject({ type: 'authentication_error', code: 'invalid_admin_token', param: null })
      expect(typeof res.body.error.message).toBe('string')
    }
    expect(await names()).toEqual(['a', '1'])
  })
})

describe('listing', () => {
  it('shows every upstream with its state and counts, never a secret', async () => {
    await chat()
    const res = await admin('GET', '/admin/upstreams')
    expect(res.status).toBe(200)
    expect(res.body.data).toHaveLength(3)
    expect(res.body.data[0]).toEqual({
      model: 'chat',
      name: 'a',
      id: 'chat/a',
      url: `${sims[0]!.url}/v1`,
      state: 'healthy',
      inflight: 0,
      latency_ewma_ms: expect.any(Number),
      requests: expect.any(Number),
      failures: 0,
      weight: 1,
      max_concurrency: null,
      source: 'config',
    })
    expect(res.body.data[1].url).toBe(`${sims[1]!.url}/v1`)
    const all = JSON.stringify([res.body, (await admin('GET', '/admin/models')).body, (await admin('GET', '/admin/config')).body])
    for (const secret of ['sk-upstream-secret', 'org-secret', 'pass-secret', TOKEN]) expect(all).not.toContain(secret)
  })

  it('summarises models', async () => {
    const res = await admin('GET', '/admin/models')
    expect(res.body.data.map((m: { name: string }) => m.name)).toEqual(['chat', 'embed'])
    expect(res.body.data[0]).toMatchObject({ strategy: 'round-robin', upstreams: 2, states: { healthy: 2 }, inflight: 0 })
  })

  it('needs model/name when a name is in two models, with or without encoding the slash', async () => {
    const ambiguous = await admin('GET', '/admin/upstreams/a')
    expect(ambiguous.status).toBe(409)
    expect(ambiguous.body.error.code).toBe('ambiguous_upstream')
    expect(ambiguous.body.error.message).toContain('chat/a, embed/a')
    expect((await admin('GET', '/admin/upstreams/chat/a')).body.id).toBe('chat/a')
    expect((await admin('GET', '/admin/upstreams/embed%2Fa')).body.id).toBe('embed/a')
    expect((await admin('GET', '/admin/upstreams/1')).body.id).toBe('chat/1')
    expect((await admin('GET', '/admin/upstreams/nope')).status).toBe(404)
  })
})

describe('changing a pool', () => {
  it('rejects a bad upstream with field-precise 400s, an unknown model with 404, a taken name with 409', async () => {
    const bad = await admin('POST', '/admin/models/chat/upstreams', { url: 'ftp://x', weight: -1, colour: 'red' })
    expect(bad.status).toBe(400)
    expect(bad.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_upstream', param: 'url' })
    expect(bad.body.error.issues).toEqual(['url: must be an http(s) URL', 'weight: Too small: expected number to be >0', '(root): unknown field(s): colour'])
    const missing = await admin('POST', '/admin/models/chat/upstreams', { name: 'x' })
    expect(missing.body.error).toMatchObject({ param: 'url', issues: ['url: is required'] })
    expect((await admin('POST', '/admin/models/chat/upstreams', 'text')).status).toBe(400)
    expect((await admin('POST', '/admin/models/nope/upstreams', { url: sims[2]!.url })).status).toBe(404)
    const taken = await admin('POST', '/admin/models/chat/upstreams', { url: `${sims[2]!.url}/v1`, name: 'a' })
    expect(taken.status).toBe(409)
    expect(taken.body.error).toMatchObject({ code: 'upstream_exists', param: 'name' })
  })

  it('adds an upstream that takes traffic at once', async () => {
    const res = await admin('POST', '/admin/models/chat/upstreams', { url: `${sims[2]!.url}/v1`, name: 'c', api_key: 'sk-new-secret' })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ model: 'chat', name: 'c', state: 'healthy', source: 'runtime', url: `${sims[2]!.url}/v1` })
    expect(JSON.stringify(res.body)).not.toContain('sk-new-secret')
    const served = new Set<string>()
    for (let i = 0; i < 6; i++) served.add(await chat())
    expect([...served].sort()).toEqual(['1', 'a', 'c'])
    expect((await simStats(sims[2]!)).lastRequest?.headers.authorization).toBe('Bearer sk-new-secret')
  })

  it('names an upstream added without a name by its index', async () => {
    const res = await admin('POST', '/admin/models/embed/upstreams', { url: `${sims[2]!.url}/v1` })
    expect(res.status).toBe(201)
    expect(res.body.name).toBe('1')
    expect(await names('embed')).toEqual(['a', '1'])
    expect((await admin('DELETE', '/admin/upstreams/embed/1')).status).toBe(200)
  })

  it('patches weight and max_concurrency, and rejects anything else', async () => {
    const res = await admin('PATCH', '/admin/upstreams/c', { weight: 3, max_concurrency: 8 })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ name: 'c', weight: 3, max_concurrency: 8 })
    expect((await admin('PATCH', '/admin/upstreams/c', { max_concurrency: null })).body.max_concurrency).toBeNull()
    const bad = await admin('PATCH', '/admin/upstreams/c', { weight: 0 })
    expect(bad.status).toBe(400)
    expect(bad.body.error.param).toBe('weight')
    const other = await admin('PATCH', '/admin/upstreams/c', { url: 'http://x' })
    expect(other.status).toBe(400)
    expect(other.body.error.issues).toContain('(root): unknown field(s): url')
    expect((await admin('PATCH', '/admin/upstreams/c', {})).status).toBe(400)
  })

  it('drains an upstream: 202, then it is gone and gets no more requests', async () => {
    const res = await admin('POST', '/admin/upstreams/c/drain')
    expect(res.status).toBe(202)
    expect(res.body).toMatchObject({ id: 'chat/c', state: 'draining' })
    await eventually(async () => !(await names()).includes('c'))
    const before = (await simStats(sims[2]!)).received
    for (let i = 0; i < 4; i++) expect(await chat()).not.toBe('c')
    expect((await simStats(sims[2]!)).received).toBe(before)
    expect((await admin('POST', '/admin/upstreams/c/drain')).status).toBe(404)
  })

  it('deletes a configured upstream and answers once it is removed', async () => {
    // A wait no Node timer can hold (past ~24.8 days) is refused, not answered at once.
    for (const wait of ['30d', 'abc']) {
      const bad = await admin('DELETE', `/admin/upstreams/chat/1?wait=${wait}`)
      expect(bad.status, wait).toBe(400)
      expect(bad.body.error).toMatchObject({ param: 'wait', code: 'invalid_request' })
    }
    expect(await names()).toEqual(['a', '1'])
    const res = await admin('DELETE', '/admin/upstreams/chat/1')
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: 'chat/1', removed: true })
    expect(await names()).toEqual(['a'])
    expect(await chat()).toBe('a')
  })

  it('adds what was asked after a configured upstream was deleted, never the deleted one', async () => {
    // No name: the next index skips '1', which names the deleted configured upstream.
    const unnamed = await admin('POST', '/admin/models/chat/upstreams', { url: `${sims[2]!.url}/v1` })
    expect(unnamed.status).toBe(201)
    expect(unnamed.body).toMatchObject({ name: '2', source: 'runtime', url: `${sims[2]!.url}/v1` })
    // Its name given: a run-time upstream with the url and weight sent takes its place.
    const named = await admin('POST', '/admin/models/chat/upstreams', { url: `${sims[2]!.url}/v1`, name: '1', weight: 3 })
    expect(named.status).toBe(201)
    expect(named.body).toMatchObject({ name: '1', source: 'runtime', url: `${sims[2]!.url}/v1`, weight: 3 })
    const changes = (await admin('GET', '/admin/config')).body.runtime_changes as { added: string[] }
    expect(changes.added).toEqual(expect.arrayContaining(['chat/1', 'chat/2']))
    for (const name of ['1', '2']) expect((await admin('DELETE', `/admin/upstreams/chat/${name}`)).status).toBe(200)
    expect(await names()).toEqual(['a'])
  })
})

describe('run-time changes and a config reload', () => {
  async function reloadWith(cfg: Record<string, unknown>): Promise<void> {
    const before = (await admin('GET', '/admin/config')).body.reloads as number
    await writeFile(gw.configFile, configText(cfg))
    await eventually(async () => (await admin('GET', '/admin/config')).body.reloads === before + 1, 5000)
  }

  it('keeps run-time additions, removals and patches while the file leaves those entries alone', async () => {
    expect((await admin('POST', '/admin/models/chat/upstreams', { url: `${sims[2]!.url}/v1`, name: 'c' })).status).toBe(201)
    expect((await admin('PATCH', '/admin/upstreams/chat/a', { weight: 5 })).status).toBe(200)
    await reloadWith(config(chatUpstreams, { retries: { attempts: 1 } }))
    const list = (await admin('GET', '/admin/upstreams?model=chat')).body.data
    expect(list.map((u: { name: string; weight: number; source: string }) => [u.name, u.weight, u.source])).toEqual([
      ['a', 5, 'config'],
      ['c', 1, 'runtime'],
    ])
    const cfg = (await admin('GET', '/admin/config')).body
    expect(cfg.runtime_changes).toEqual({ added: ['chat/c'], removed: ['chat/1'], patched: { 'chat/a': { weight: 5 } } })
    expect(cfg.config.models[0].retries.attempts).toBe(1)
  })

  it('lets the file win for entries it changes, and forgets the changes of a removed model', async () => {
    const edited = [{ ...chatUpstreams[0], weight: 2 }, { url: `${sims[1]!.url}/v2` }]
    await reloadWith(config(edited))
    expect((await admin('GET', '/admin/upstreams?model=chat')).body.data.map((u: { name: string; weight: number }) => [u.name, u.weight])).toEqual([
      ['a', 2],
      ['1', 1],
      ['c', 1],
    ])
    await reloadWith({ ...config(edited), models: [config(edited).models[1]] })
    expect((await admin('GET', '/admin/models')).body.data.map((m: { name: string }) => m.name)).toEqual(['embed'])
    await reloadWith(config(chatUpstreams))
    expect(await names()).toEqual(['a', '1'])
    expect((await admin('GET', '/admin/config')).body.runtime_changes).toEqual({ added: [], removed: [], patched: {} })
  })

  it('reloads on demand; an invalid file is refused with its errors and the old config serves on', async () => {
    const ok = await admin('POST', '/admin/config/reload')
    expect(ok.status).toBe(200)
    expect(ok.body).toMatchObject({ reloaded: true, restart_required: [] })
    await writeFile(gw.configFile, configText({ ...config(chatUpstreams), models: [{ name: 'chat', upstreams: [{ url: 'nope' }] }] }))
    const bad = await admin('POST', '/admin/config/reload')
    expect(bad.status).toBe(400)
    expect(bad.body.error).toMatchObject({ code: 'invalid_config', param: 'models[0].upstreams[0].url', issues: ['models[0].upstreams[0].url: must be an http(s) URL'] })
    expect(await chat()).toMatch(/^(a|1)$/)
    const cfg = (await admin('GET', '/admin/config')).body
    expect(cfg.reload_failures).toBeGreaterThanOrEqual(1)
    expect(cfg.last_reload).toMatchObject({ ok: false, issues: ['models[0].upstreams[0].url: must be an http(s) URL'] })
    expect(gw.stderr()).toContain('models[0].upstreams[0].url: must be an http(s) URL')
    await writeFile(gw.configFile, configText(config(chatUpstreams)))
  })
})
