// Virtual keys end to end: a real gateway process, a simulator, the openai SDK as the client.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatKeyHash, generateKey } from '../../src/auth/keys.js'
import type { SimServer } from '../../src/sim/server.js'
import { configText, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { rawRequest } from '../helpers/raw-http.js'
import { simStats, startSims } from '../helpers/sim.js'

const ADMIN_TOKEN = 'admin-token-for-auth-tests'
const TEAM_A = generateKey()
const EXPIRED = generateKey()
const ANY = generateKey()
const UNKNOWN = generateKey()

let sim: SimServer
let gw: GatewayProcess
let config: { auth: { mode: string; keys: Record<string, unknown>[] } } & Record<string, unknown>

beforeAll(async () => {
  sim = (await startSims(1))[0]!
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-auth-'))
  const upstreams = [{ url: `${sim!.url}/v1`, model: 'sim-model' }]
  config = {
    admin: { token: ADMIN_TOKEN },
    models: [
      { name: 'chat-small', upstreams },
      { name: 'chat-large', upstreams },
    ],
    store: { sqlite: join(dir, 'switchyard.db') },
    auth: {
      mode: 'keys',
      keys: [
        { name: 'team-a', hash: formatKeyHash(TEAM_A), models: ['chat-small'] },
        { name: 'old', hash: formatKeyHash(EXPIRED), expires: '2020-01-01' },
        { name: 'any', hash: formatKeyHash(ANY) },
      ],
    },
  }
  gw = await startGateway(config)
})

afterAll(async () => {
  await gw?.stop()
  await sim?.close()
})

function client(apiKey: string, headers?: Record<string, string | null>): OpenAI {
  return new OpenAI({ baseURL: `${gw.url}/v1`, apiKey, maxRetries: 0, defaultHeaders: headers })
}

const ask = (c: OpenAI, model = 'chat-small') =>
  c.chat.completions.create({ model, max_tokens: 4, messages: [{ role: 'user', content: 'Hello' }] })

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${gw.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, json: await res.json() }
}

describe('virtual keys with the openai SDK', () => {
  it('a valid key is served, and the access log names the key (never the key itself)', async () => {
    const r = await ask(client(TEAM_A))
    expect(r.choices[0]!.message.content!.length).toBeGreaterThan(0)
    await gw.waitForLog(/"key_name":"team-a"/)
    const line = gw.accessLines().find((l) => l.key_name === 'team-a')!
    expect(line.status).toBe(200)
  })

  it('an unknown key → 401 invalid_api_key', async () => {
    const err = await ask(client(UNKNOWN)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError)
    expect(err).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'authentication_error' })
  })

  it('no key at all → 401', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-small', messages: [{ role: 'user', content: 'x' }] }),
    })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="switchyard"')
    expect(((await res.json())).error).toMatchObject({ type: 'authentication_error', code: 'missing_api_key' })
  })

  it('a key sent without the Bearer scheme → 401 saying to use it', async () => {
    for (const authorization of [TEAM_A, `Basic ${TEAM_A}`, `Token ${TEAM_A}`]) {
      const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization } })
      expect(res.status).toBe(401)
      const { error } = await res.json()
      expect(error).toMatchObject({ code: 'missing_api_key' })
      expect(error.message).toContain('Bearer scheme')
      expect(error.message).not.toContain(TEAM_A)
    }
  })

  it('two Authorization headers → 400, whichever comes first (no key is picked silently)', async () => {
    for (const [a, b] of [
      [ANY, UNKNOWN],
      [UNKNOWN, ANY],
    ]) {
      const r = await rawRequest(gw.url, `GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a}\r\nAuthorization: Bearer ${b}\r\n\r\n`)
      expect(r.status).toBe(400)
      expect(r.json.error).toMatchObject({ code: 'invalid_authorization', type: 'invalid_request_error' })
    }
    // On the admin port neither is taken.
    const admin = await rawRequest(gw.adminUrl, `GET /admin/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nAuthorization: Bearer nope\r\nConnection: close\r\n\r\n`)
    expect(admin.status).toBe(401)
  })

  it('serves a request whose target is in absolute form (RFC 9112 §3.2.2)', async () => {
    const body = JSON.stringify({ model: 'chat-small', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] })
    const r = await rawRequest(
      gw.url,
      `POST ${gw.url}/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEAM_A}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
    )
    expect(r.status).toBe(200)
    expect(r.json.object).toBe('chat.completion')
  })

  it('an expired key → 401 saying so', async () => {
    const err = await ask(client(EXPIRED)).catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 401, code: 'invalid_api_key' })
    expect((err as Error).message).toContain('expired')
  })

  it('a model outside the allow-list → 403', async () => {
    const err = await ask(client(TEAM_A), 'chat-large').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError)
    expect(err).toMatchObject({ status: 403, code: 'model_not_allowed', param: 'model' })
    expect((await ask(client(ANY), 'chat-large')).object).toBe('chat.completion')
  })

  it('accepts Authorization: Bearer, api-key (Azure) and x-api-key (Anthropic)', async () => {
    expect((await ask(client(ANY))).object).toBe('chat.completion')
    expect((await ask(client('unused', { authorization: null, 'api-key': ANY }))).object).toBe('chat.completion')
    expect((await ask(client('unused', { authorization: null, 'x-api-key': ANY }))).object).toBe('chat.completion')
    // And each style is checked: a wrong key in any of them is refused.
    for (const h of ['api-key', 'x-api-key']) {
      const err = await ask(client('unused', { authorization: null, [h]: UNKNOWN })).catch((e: unknown) => e)
      expect(err).toMatchObject({ status: 401 })
    }
  })

  it('the client key never reaches the model server', async () => {
    await ask(client(ANY))
    const seen = JSON.stringify((await simStats(sim)).lastRequest!.headers)
    expect(seen).not.toContain(ANY)
  })

  it('/v1/models needs a key and lists only the models it may use', async () => {
    expect((await fetch(`${gw.url}/v1/models`)).status).toBe(401)
    const a = await client(TEAM_A).models.list()
    expect(a.data.map((m) => m.id)).toEqual(['chat-small'])
    const any = await client(ANY).models.list()
    expect(any.data.map((m) => m.id).sort()).toEqual(['chat-large', 'chat-small'])
    await expect(client(TEAM_A).models.retrieve('chat-large')).rejects.toMatchObject({ status: 404 })
    // Health endpoints stay open for probes.
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200)
  })

  it('any other /v1/ URL asks for a key before saying it does not exist', async () => {
    expect((await fetch(`${gw.url}/v1/nothing-here`)).status).toBe(401)
    expect((await fetch(`${gw.url}/v1/chat/completions`)).status).toBe(401)
    const auth = { authorization: `Bearer ${ANY}` }
    expect((await fetch(`${gw.url}/v1/nothing-here`, { headers: auth })).status).toBe(404)
    const wrong = await fetch(`${gw.url}/v1/chat/completions`, { headers: auth })
    expect(wrong.status).toBe(405)
    const malformed = await fetch(`${gw.url}/v1/models/%E0%A4%A`, { headers: auth })
    expect(malformed.status).toBe(400)
    expect(await malformed.json()).toMatchObject({ error: { code: 'invalid_url', param: 'model', type: 'invalid_request_error' } })
  })
})

describe('keys through the admin API', () => {
  it('creates a key shown once, lists keys without secrets, revokes at once', async () => {
    const created = await admin('POST', '/admin/keys', { name: 'runtime-1', models: ['chat-small'], limits: { requests_per_minute: 100 } })
    expect(created.status).toBe(201)
    const key = created.json.key as string
    expect(key).toMatch(/^sk-sy-[A-Za-z0-9_-]{32}$/)
    expect((await ask(client(key))).object).toBe('chat.completion')

    const list = await admin('GET', '/admin/keys')
    expect(list.status).toBe(200)
    const names = list.json.data.map((k: { name: string }) => k.name)
    expect(names).toEqual(expect.arrayContaining(['team-a', 'old', 'any', 'runtime-1']))
    const text = JSON.stringify(list.json)
    for (const secret of [key, TEAM_A, ANY, formatKeyHash(key).slice(7), formatKeyHash(TEAM_A).slice(7)]) expect(text).not.toContain(secret)
    expect(list.json.data.find((k: { name: string }) => k.name === 'old').status).toBe('expired')

    const revoked = await admin('DELETE', '/admin/keys/runtime-1')
    expect(revoked).toMatchObject({ status: 200, json: { name: 'runtime-1', status: 'revoked' } })
    const err = await ask(client(key)).catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 401, code: 'invalid_api_key' })
    expect((err as Error).message).toContain('revoked')
  })

  it('refuses bad requests with a reason', async () => {
    expect((await admin('POST', '/admin/keys', { name: 'x', models: ['nope'] })).status).toBe(400)
    expect((await admin('POST', '/admin/keys', { name: 'team-a' })).status).toBe(409)
    expect((await admin('POST', '/admin/keys', { name: 'bad name!' })).status).toBe(400)
    expect((await admin('DELETE', '/admin/keys/team-a')).status).toBe(409)
    expect((await admin('DELETE', '/admin/keys/nobody')).status).toBe(404)
    const unauth = await fetch(`${gw.adminUrl}/admin/keys`)
    expect(unauth.status).toBe(401)
    expect(unauth.headers.get('www-authenticate')).toBe('Bearer realm="switchyard-admin"')
  })

  it('names the exact field: an unknown one, one under limits, an expiry of the wrong type, a number too large', async () => {
    expect((await admin('POST', '/admin/keys', { name: 'typo1', Models: ['chat-small'] })).json.error).toMatchObject({ param: 'Models', code: 'invalid_request' })
    expect((await admin('POST', '/admin/keys', { name: 'typo2', limits: { rpm: 5 } })).json.error).toMatchObject({ param: 'limits.rpm' })
    for (const expires of [true, 12345, null]) {
      const r = await admin('POST', '/admin/keys', { name: 'typo3', expires })
      expect(r.json.error.param, String(expires)).toBe('expires')
      expect(r.json.error.message, String(expires)).toMatch(/^expires: (must be a real date like 2027-06-30|expected)/)
    }
    const res = await fetch(`${gw.adminUrl}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: '{"name":"typo4","budget_usd":1e400}',
    })
    expect(res.status).toBe(400)
    expect((await res.json()).error).toMatchObject({ param: 'budget_usd', message: 'budget_usd: expected a number, got Infinity' })
  })

  it("a stored key that a config key came to shadow is listed so, can be revoked, and does not come back when the config's goes", async () => {
    const created = await admin('POST', '/admin/keys', { name: 'shadow-me' })
    expect(created.status).toBe(201)
    const stored = created.json.key as string
    expect((await ask(client(stored), 'chat-large')).object).toBe('chat.completion')
    // The config takes the name (another key, kept to the small model).
    const configKeys = config.auth.keys
    config.auth.keys = [...configKeys, { name: 'shadow-me', hash: formatKeyHash(generateKey()), models: ['chat-small'] }]
    await writeFile(gw.configFile, configText(config))
    expect((await admin('POST', '/admin/config/reload')).status).toBe(200)
    const rows = (await admin('GET', '/admin/keys')).json.data.filter((k: { name: string }) => k.name === 'shadow-me')
    expect(rows.map((k: { source: string; status: string }) => [k.source, k.status])).toEqual([
      ['config', 'active'],
      ['store', 'shadowed'],
    ])
    expect(await ask(client(stored)).catch((e: unknown) => e)).toMatchObject({ status: 401 })
    // The stored one is revoked; the config's stays.
    const revoked = await admin('DELETE', '/admin/keys/shadow-me')
    expect(revoked).toMatchObject({ status: 200, json: { name: 'shadow-me', status: 'revoked' } })
    expect(revoked.json.note).toContain('config key')
    // With the config entry gone again, the stored key stays revoked.
    config.auth.keys = configKeys
    await writeFile(gw.configFile, configText(config))
    expect((await admin('POST', '/admin/config/reload')).status).toBe(200)
    const err = await ask(client(stored), 'chat-large').catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 401 })
    expect((err as Error).message).toContain('revoked')
    // Its hash stays taken: the 409 says so rather than naming a key that does not exist.
    const again = await admin('POST', '/admin/keys', { name: 'reborn', hash: formatKeyHash(stored) })
    expect(again).toMatchObject({ status: 409 })
    expect(again.json.error.message).toContain('with that hash')
  })

  it("names every bad field, refuses a config key's hash, impossible or past expiries", async () => {
    const bad = await admin('POST', '/admin/keys', { name: 'bad name', models: [], budget_usd: -1, extra: 1 })
    expect(bad.status).toBe(400)
    expect(bad.json.error.param).toBe('name')
    expect(bad.json.error.issues).toHaveLength(4)
    expect(bad.json.error.issues.join(' ')).toMatch(/name: .*models: .*budget_usd: .*unknown field\(s\): extra/s)
    const model = await admin('POST', '/admin/keys', { name: 'm1', models: ['chat-small', 'nope'] })
    expect(model).toMatchObject({ status: 400, json: { error: { param: 'models[1]', code: 'invalid_request' } } })
    // The config key would win, so the stored one would be listed active and never used.
    const taken = await admin('POST', '/admin/keys', { name: 'stealth', hash: formatKeyHash(ANY) })
    expect(taken).toMatchObject({ status: 409, json: { error: { code: 'conflict' } } })
    for (const expires of ['2027-02-31', '2027-06-31', '1', 'June 30 2027', '2027-06-30T25:00:00Z']) {
      const r = await admin('POST', '/admin/keys', { name: 'when', expires })
      expect(r, expires).toMatchObject({ status: 400, json: { error: { param: 'expires' } } })
    }
    expect(await admin('POST', '/admin/keys', { name: 'when', expires: '2020-01-01' })).toMatchObject({ status: 400, json: { error: { param: 'expires', message: 'expires: is in the past' } } })
    // A timestamp without an offset is UTC, whatever the gateway's time zone.
    const utc = await admin('POST', '/admin/keys', { name: 'when', expires: '2099-06-30T12:00:00' })
    expect(utc).toMatchObject({ status: 201, json: { expires: '2099-06-30T12:00:00.000Z' } })
    const offset = await admin('POST', '/admin/keys', { name: 'when2', expires: '2099-06-30T12:00:00+02:00' })
    expect(offset).toMatchObject({ status: 201, json: { expires: '2099-06-30T10:00:00.000Z' } })
  })

  it('takes the admin token with "bearer" in any case; a 405 names the allowed methods', async () => {
    const lower = await fetch(`${gw.adminUrl}/admin/keys`, { headers: { authorization: `bearer  ${ADMIN_TOKEN}` } })
    expect(lower.status).toBe(200)
    const wrong = await fetch(`${gw.adminUrl}/admin/keys`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toBe('GET, HEAD, POST')
  })

  it("never shows a key's hash in the config it serves", async () => {
    const r = await admin('GET', '/admin/config')
    expect(r.status).toBe(200)
    const text = JSON.stringify(r.json)
    expect(text).toContain('team-a')
    for (const key of [TEAM_A, EXPIRED, ANY]) expect(text).not.toContain(formatKeyHash(key).slice(7))
  })

  it('registers a key made elsewhere by its hash', async () => {
    const mine = generateKey()
    const r = await admin('POST', '/admin/keys', { name: 'byo', hash: formatKeyHash(mine) })
    expect(r).toMatchObject({ status: 201, json: { name: 'byo', key: null } })
    expect((await ask(client(mine))).object).toBe('chat.completion')
  })
})

describe('secrets', () => {
  it('no key appears in any log line', async () => {
    const logs = gw.stdout() + gw.stderr()
    for (const secret of [TEAM_A, EXPIRED, ANY, UNKNOWN, ADMIN_TOKEN]) expect(logs).not.toContain(secret)
  })
})
