// The dashboard's admin routes on an in-process gateway in front of three simulators:
// the static page, the state JSON, and the event stream with its ticket auth.
import { appendFileSync } from 'node:fs'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DashboardState } from '../../src/admin/dashboard-state.js'
import { parseConfig } from '../../src/config/load.js'
import { Gateway } from '../../src/gateway.js'
import { createLogger } from '../../src/observability/logger.js'
import type { SimServer } from '../../src/sim/server.js'
import { eventually, startSims } from '../helpers/sim.js'
import { SseReader } from '../helpers/sse.js'

const ADMIN_TOKEN = 'admin-token-5d2c7e91'
let sims: SimServer[]
let gw: Gateway
let admin: string
let logFile: string

beforeAll(async () => {
  sims = await startSims(3)
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-dash-'))
  logFile = join(dir, 'gateway.log')
  const config = parseConfig({
    server: { port: 0 },
    admin: { port: 0, token: ADMIN_TOKEN },
    usage: { sqlite: join(dir, 'usage.db') },
    models: [{ name: 'chat', upstreams: sims.map((s, i) => ({ url: `${s.url}/v1`, name: `u${i}`, api_key: 'sk-upstream-secret' })) }],
  })
  const log = createLogger({ destination: logFile, level: 'debug' })
  // Access lines go to the same file, so the secret checks below read them too.
  gw = new Gateway(config, { logger: log, accessLog: { write: (line: string) => appendFileSync(logFile, line) } })
  await gw.start()
  admin = gw.admin.url
})

afterAll(async () => {
  await gw?.stop(100)
  await Promise.all(sims?.map((s) => s.close()) ?? [])
})

const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` }

async function chat(stream: boolean): Promise<void> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat', stream, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
  })
  await res.text()
}

async function ticket(): Promise<string> {
  const res = await fetch(`${admin}/admin/events/ticket`, { method: 'POST', headers: bearer })
  expect(res.status).toBe(200)
  return ((await res.json()) as { ticket: string }).ticket
}

describe('dashboard page', () => {
  it('serves the page and its assets without a token, with a strict CSP', async () => {
    const page = await fetch(`${admin}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'")
    expect(await page.text()).toContain('src="app.js"')
    for (const [path, type] of [
      ['/app.js', 'text/javascript'],
      ['/render.js', 'text/javascript'],
      ['/chart.js', 'text/javascript'],
      ['/style.css', 'text/css'],
    ] as const) {
      const res = await fetch(`${admin}${path}`)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('content-type')).toContain(type)
      const again = await fetch(`${admin}${path}`, { headers: { 'if-none-match': res.headers.get('etag')! } })
      expect(again.status).toBe(304)
    }
  })

  it('serves nothing else from the folder', async () => {
    expect((await fetch(`${admin}/index.html`)).status).toBe(404)
    expect((await fetch(`${admin}/../server.ts`)).status).toBe(404)
  })
})

describe('GET /admin/dashboard/state', () => {
  it('needs the admin token', async () => {
    expect((await fetch(`${admin}/admin/dashboard/state`)).status).toBe(401)
    expect((await fetch(`${admin}/admin/dashboard/state`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401)
  })

  it('shows every upstream with its state, and the traffic sent', async () => {
    await chat(true)
    await chat(false)
    await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' })
    await fetch(`${gw.url}/healthz`) // not an API call: not counted
    const res = await fetch(`${admin}/admin/dashboard/state`, { headers: bearer })
    expect(res.status).toBe(200)
    const s = (await res.json()) as DashboardState
    expect(s.pools.map((p) => p.model)).toEqual(['chat'])
    const pool = s.pools[0]!
    expect(pool.up).toBe(3)
    expect(pool.upstreams.map((u) => [u.id, u.state])).toEqual([
      ['u0', 'healthy'],
      ['u1', 'healthy'],
      ['u2', 'healthy'],
    ])
    expect(s.totals.last_minute).toMatchObject({ requests: 3, errors: 1 })
    expect(s.series.step).toBe(10)
    expect(s.series.points.length).toBeGreaterThanOrEqual(360)
    expect(s.ttft.last_5m.count).toBe(1)
    expect(s.recent.map((r) => r.status)).toEqual([400, 200, 200])
    expect(s.recent[0]!.error).toBe('invalid_json')
    expect(s.recent[2]).toMatchObject({ stream: true, model: 'chat', key: null })
    expect(s.recent[2]!.ttft_ms).toBeGreaterThan(0)
    expect(s.recent[1]!.ttft_ms).toBeNull()
    expect(s.top_keys).toEqual([expect.objectContaining({ key: null, requests: 3 })])
    expect(JSON.stringify(s)).not.toContain('sk-upstream-secret')
  })
})

describe('GET /admin/events', () => {
  it('streams a snapshot, then deltas with only the new requests', async () => {
    const res = await fetch(`${admin}/admin/events?ticket=${await ticket()}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const sse = new SseReader(res)
    try {
      const first = await sse.next()
      expect(first?.event).toBe('snapshot')
      const snap = JSON.parse(first!.data) as DashboardState
      expect(snap.pools[0]!.upstreams.length).toBe(3)
      await chat(true)
      let delta: DashboardState | undefined
      // The request may land just after one push: wait for the one that carries it.
      for (let i = 0; i < 4 && (delta === undefined || delta.recent.length === 0); i++) {
        const e = await sse.next(3_000)
        expect(e?.event).toBe('delta')
        delta = JSON.parse(e!.data) as DashboardState
      }
      expect(delta!.recent.length).toBe(1)
      expect(delta!.recent_seq).toBe(snap.recent_seq + 1)
      expect(delta!.series.points.length).toBeLessThanOrEqual(2)
    } finally {
      await sse.cancel()
    }
  })

  it('takes a ticket once only', async () => {
    const t = await ticket()
    const ok = await fetch(`${admin}/admin/events?ticket=${t}`)
    expect(ok.status).toBe(200)
    await ok.body!.cancel()
    const again = await fetch(`${admin}/admin/events?ticket=${t}`)
    expect(again.status).toBe(401)
  })

  it('a stream refused for room (16 open) leaves its ticket good for a retry', async () => {
    const open = await Promise.all(Array.from({ length: 16 }, () => fetch(`${admin}/admin/events`, { headers: bearer })))
    try {
      expect(open.map((r) => r.status)).toEqual(Array(16).fill(200))
      const t = await ticket()
      const full = await fetch(`${admin}/admin/events?ticket=${t}`)
      expect(full.status).toBe(503)
      expect(await full.json()).toMatchObject({ error: { code: 'too_many_streams' } })
      await open.pop()!.body!.cancel()
      await eventually(async () => {
        const retry = await fetch(`${admin}/admin/events?ticket=${t}`)
        if (retry.status === 200) open.push(retry)
        else expect(retry.status).toBe(503)
        return retry.status === 200
      })
    } finally {
      await Promise.all(open.map((r) => r.body!.cancel()))
    }
  })

  it('refuses no ticket, a made-up one, and the admin token in the URL', async () => {
    expect((await fetch(`${admin}/admin/events`)).status).toBe(401)
    expect((await fetch(`${admin}/admin/events?ticket=abc`)).status).toBe(401)
    expect((await fetch(`${admin}/admin/events?token=${ADMIN_TOKEN}`)).status).toBe(401)
    expect((await fetch(`${admin}/admin/events/ticket`, { method: 'POST' })).status).toBe(401)
  })

  it('also accepts the Bearer header (for curl)', async () => {
    const res = await fetch(`${admin}/admin/events`, { headers: bearer })
    expect(res.status).toBe(200)
    const sse = new SseReader(res)
    expect((await sse.next())?.event).toBe('snapshot')
    await sse.cancel()
  })

  it('never writes the token or a ticket to the logs', async () => {
    const t = await ticket()
    const res = await fetch(`${admin}/admin/events?ticket=${t}`)
    await res.body!.cancel()
    await fetch(`${admin}/admin/events?ticket=${t}`) // refused: a reused ticket
    const log = await readFile(logFile, 'utf8')
    expect(log).not.toContain(ADMIN_TOKEN)
    expect(log).not.toContain(t)
  })
})
