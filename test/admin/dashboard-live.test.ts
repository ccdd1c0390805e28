// The live dashboard end to end: a real gateway process (`switchyard start`) in front of
// three simulators, the page in headless Chromium. Sign in, see the three upstreams, send
// traffic and watch the counts move, kill a simulator and see it marked down.
// Screenshots: artifacts/dashboard-live.png and artifacts/dashboard-live-down.png.
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SimServer } from '../../src/sim/server.js'
import { artifact, launchChromium } from '../helpers/browser.js'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { startSims } from '../helpers/sim.js'

const ADMIN_TOKEN = 'live-admin-token-9a41c3'
let sims: SimServer[]
let gw: GatewayProcess
let browser: Browser
let page: Page

beforeAll(async () => {
  sims = await startSims(3, { ttftMs: 20, tokensPerSecond: 400 })
  gw = await startGateway({
    admin: { token: ADMIN_TOKEN },
    models: [
      {
        name: 'chat',
        strategy: 'round-robin',
        upstreams: sims.map((s, i) => ({ url: `${s.url}/v1`, name: `u${i}`, model: 'sim-model' })),
        // Active health checks: a dead simulator is marked unhealthy within a few hundred ms.
        health: { interval: '200ms', timeout: '200ms', unhealthy_threshold: 2, healthy_threshold: 1 },
      },
    ],
  })
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
})

afterAll(async () => {
  await browser?.close()
  await gw?.stop()
  await Promise.all(sims?.map((s) => s.close()) ?? [])
})

async function chat(stream: boolean): Promise<void> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat', stream, max_tokens: 16, messages: [{ role: 'user', content: 'Hello' }] }),
  })
  await res.text()
}

const text = (selector: string): Promise<string> => page.textContent(selector).then((t) => t ?? '')

describe('live dashboard against a real gateway', () => {
  it('signs in and shows the three upstreams, up', async () => {
    await page.goto(`${gw.adminUrl}/`)
    await page.fill('#token', ADMIN_TOKEN)
    await page.click('#login-form button[type=submit]')
    await page.waitForSelector('#conn[data-state="live"]')
    const rows = await page.$$eval('tr.upstream', (trs) => trs.map((tr) => [tr.getAttribute('data-upstream'), tr.getAttribute('data-state')]))
    expect(rows).toEqual([
      ['chat/u0', 'healthy'],
      ['chat/u1', 'healthy'],
      ['chat/u2', 'healthy'],
    ])
    expect(await text('#t-hour')).toBe('0')
    expect(await page.isVisible('#recent-empty')).toBe(true)
  })

  it('shows traffic as it happens', async () => {
    await Promise.all(Array.from({ length: 12 }, (_, i) => chat(i % 2 === 0)))
    // The next push (every second) carries them: no reload.
    await page.waitForFunction(() => document.getElementById('t-hour')?.textContent === '12', undefined, { timeout: 5_000 })
    expect(await page.$$eval('#recent tbody tr', (trs) => trs.length)).toBe(12)
    expect(await page.isVisible('#recent-empty')).toBe(false)
    const tries = await page.$$eval('tr.upstream td:last-child', (tds) => tds.map((td) => td.textContent))
    expect(tries).toEqual(['0 / 4', '0 / 4', '0 / 4'])
    expect(await text('#t-p50')).toMatch(/ms$/)
    expect(await text('#keys tbody')).toContain('(no key)')
    // The series has its first non-empty point: the request chart draws a line, not the empty text.
    expect(await text('#chart-rps')).not.toContain('No requests')
    await page.screenshot({ path: await artifact('dashboard-live.png'), fullPage: true })
  })

  // Needs the active health checker (branch ha-resilience) to set `healthy = false`.
  it('marks a killed simulator down', async () => {
    await sims[1]!.close()
    try {
      await page.waitForSelector('tr[data-upstream="chat/u1"].down', { timeout: 10_000 })
      expect(await page.getAttribute('tr[data-upstream="chat/u1"]', 'data-state')).toBe('unhealthy')
      expect(await text('#alert')).toContain('chat/u1')
      expect(await text('[data-pool="chat"] .pill')).toBe('2/3 up')
      // The others stay up and keep serving.
      await chat(false)
      expect(await page.$$eval('tr.upstream.down', (trs) => trs.length)).toBe(1)
    } finally {
      await page.screenshot({ path: await artifact('dashboard-live-down.png'), fullPage: true })
    }
  })

  it('kept the admin token and the tickets out of the logs', () => {
    expect(gw.stderr()).not.toContain(ADMIN_TOKEN)
    expect(gw.stdout()).not.toContain(ADMIN_TOKEN)
    expect(gw.stdout()).not.toContain('ticket=')
  })
})
