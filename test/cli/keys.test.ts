// `switchyard keys` end to end: the CLI and a running gateway sharing one SQLite store.
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import type { SimServer } from '../../src/sim/server.js'
import { CLI, startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { eventually, startSims } from '../helpers/sim.js'

const run = promisify(execFile)

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args])
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

let sim: SimServer
let gw: GatewayProcess
let configFile: string

beforeAll(async () => {
  sim = (await startSims(1))[0]!
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-keys-cli-'))
  configFile = join(dir, 'switchyard.yaml')
  const config = {
    server: { port: 0 },
    admin: { port: 0 },
    models: [
      { name: 'chat-small', upstreams: [{ url: `${sim!.url}/v1`, model: 'sim-model' }] },
      { name: 'chat-large', upstreams: [{ url: `${sim!.url}/v1`, model: 'sim-model' }] },
    ],
    auth: { mode: 'keys' },
    store: { sqlite: join(dir, 'switchyard.db') },
  }
  await writeFile(configFile, stringify(config))
  gw = await startGateway(config)
})

afterAll(async () => {
  await gw?.stop()
  await sim?.close()
})

const ask = (key: string, model = 'chat-small') =>
  new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 }).chat.completions.create({
    model,
    max_tokens: 2,
    messages: [{ role: 'user', content: 'Hi' }],
  })

describe('switchyard keys', () => {
  it('create prints the key once; a running gateway accepts it within a second; revoke cuts it off', { timeout: 90_000 }, async () => {
    const created = await cli(['keys', 'create', '--name', 'team-a', '--models', 'chat-small', '--rpm', '60', '--tpm', '5000', '--concurrency', '4', '--budget', '2.5', '--expires', '2099-12-31', '--config', configFile])
    expect(created.code).toBe(0)
    const key = created.stdout.trim()
    expect(key).toMatch(/^sk-sy-[A-Za-z0-9_-]{32}$/)
    expect(created.stderr).toContain("created key 'team-a'")
    expect(created.stderr).toContain('only time')

    await eventually(async () => (await ask(key).catch(() => undefined)) !== undefined, 5000)
    await expect(ask(key, 'chat-large')).rejects.toMatchObject({ status: 403 })

    const list = await cli(['keys', 'list', '--config', configFile])
    expect(list.code).toBe(0)
    expect(list.stdout).toMatch(/team-a\s+store\s+active\s+chat-small\s+60\s+5000\s+4\s+\$2\.5/)
    const json = JSON.parse((await cli(['keys', 'list', '--json', '--config', configFile])).stdout)
    expect(json[0]).toMatchObject({ name: 'team-a', status: 'active', limits: { requests_per_minute: 60, tokens_per_minute: 5000, concurrency: 4 }, budget_usd: 2.5 })
    expect(list.stdout + JSON.stringify(json)).not.toContain(key)

    const revoked = await cli(['keys', 'revoke', 'team-a', '--config', configFile])
    expect(revoked.code).toBe(0)
    await eventually(async () => (await ask(key).catch((e: { status?: number }) => e.status)) === 401, 5000)
    expect((await cli(['keys', 'list', '--config', configFile])).stdout).toMatch(/team-a\s+store\s+revoked/)
    expect(gw.stdout() + gw.stderr()).not.toContain(key)
  })

  it('explains what is wrong, exit code 1', { timeout: 90_000 }, async () => {
    const dup = await cli(['keys', 'create', '--name', 'x1', '--config', configFile])
    expect(dup.code).toBe(0)
    const again = await cli(['keys', 'create', '--name', 'x1', '--config', configFile])
    expect(again).toMatchObject({ code: 1 })
    expect(again.stderr).toContain('exists already')
    const model = await cli(['keys', 'create', '--name', 'x2', '--models', 'nope', '--config', configFile])
    expect(model.stderr).toContain("unknown model 'nope'")
    const date = await cli(['keys', 'create', '--name', 'x3', '--expires', 'soon', '--config', configFile])
    expect(date.stderr).toContain('expires')
    // The listing shows a bare date as the date (valid through that day) and any other expiry in full.
    expect((await cli(['keys', 'create', '--name', 'x4', '--expires', '2099-06-30T18:05:00Z', '--config', configFile])).code).toBe(0)
    expect((await cli(['keys', 'create', '--name', 'x5', '--expires', '2099-06-30', '--config', configFile])).code).toBe(0)
    const listed = (await cli(['keys', 'list', '--config', configFile])).stdout
    expect(listed).toMatch(/^x4 .*2099-06-30T18:05:00Z$/m)
    expect(listed).toMatch(/^x5 .*2099-06-30$/m)
    const gone = await cli(['keys', 'revoke', 'nobody', '--config', configFile])
    expect(gone).toMatchObject({ code: 1 })
    const noStore = join(await mkdtemp(join(tmpdir(), 'switchyard-keys-cli-')), 'plain.yaml')
    await writeFile(noStore, stringify({ models: [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:9/v1' }] }] }))
    const none = await cli(['keys', 'list', '--config', noStore])
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('store')
  })
})

describe('switchyard demo --keys', () => {
  it('turns keys on and prints a ready-to-paste key in its curl line', { timeout: 60_000 }, async () => {
    // In a directory of its own: the demo writes its store (./switchyard.db) where it runs.
    const cwd = await mkdtemp(join(tmpdir(), 'switchyard-demo-'))
    const proc = spawn(process.execPath, [CLI, 'demo', '--keys', '--port', '0', '--sim-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], cwd })
    try {
      let out = ''
      proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
      proc.stderr.on('data', (d: Buffer) => (out += d.toString()))
      await eventually(() => /Ctrl-C/.test(out), 30_000)
      const url = /gateway at (http:\/\/[\d.:]+)\/v1/.exec(out)![1]!
      const key = /curl -si \S+ -H 'content-type: application\/json' -H 'authorization: Bearer (sk-sy-[\w-]+)'/.exec(out)![1]!
      const body = JSON.stringify({ model: 'chat-small', max_tokens: 2, messages: [{ role: 'user', content: 'Hi' }] })
      const headers = { 'content-type': 'application/json' }
      expect((await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body })).status).toBe(401)
      const ok = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${key}` }, body })
      expect(ok.status).toBe(200)
    } finally {
      proc.kill('SIGKILL')
    }
  })
})
