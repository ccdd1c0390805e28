// The dashboard page in headless Chromium against an in-process gateway: sign-in, empty
// states, how each upstream state renders (the state is set on the Upstream objects here,
// as a health checker or outlier detector would), escaping, and reconnecting.
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { Gateway } from '../../src/gateway.js'
import { createLogger } from '../../src/observability/logger.js'
import { artifact, launchChromium } from '../helpers/browser.js'

const TOKEN = 'dash-token-0b6e44'
let gw: Gateway
let browser: Browser
let page: Page

beforeAll(async () => {
  // Nothing listens on these ports: this file is about rendering, not traffic.
  const config = parseConfig({
    server: { port: 0 },
    admin: { port: 0, token: TOKEN },
    logging: { access_log: 'off' },
    // No usage store: rendering needs none, and the default would write ./switchyard.db.
    usage: { enabled: false },
    models: [
      { name: 'chat', upstreams: ['a', 'b', 'c', 'd'].map((name, i) => ({ url: `http://127.0.0.1:${9 + i}/v1`, name })), retries: { attempts: 0 } },
      { name: 'embed', upstreams: [{ url: 'http://127.0.0.1:13/v1', name: 'solo' }] },
    ],
  })
  gw = new Gateway(config, { logger: createLogger({ level: 'silent' }) })
  await gw.start()
  browser = await launchChromium()
  // One page for the file (a new one costs seconds here); each test starts signed out.
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
})

afterAll(async () => {
  await browser?.close()
  await gw?.stop(100)
})

beforeEach(async () => {
  // Signed out by clearing the tab's storage on a page of the same origin that runs no
  // script: on the dashboard itself, a sign-in still in flight from the stored token would
  // write it back after the clear.
  await page.goto(`${gw.admin.url}/admin/dashboard/state`)
  await page.evaluate(() => sessionStorage.clear())
})

function upstream(model: string, id: string) {
  return gw.snapshot.routes.resolve(model)!.pool.find(id)!
}

async function signIn(token = TOKEN): Promise<void> {
  await page.goto(`${gw.admin.url}/`)
  await page.fill('#token', token)
  await page.click('#login-form button[type=submit]')
}

describe('dashboard page', () => {
  it('asks for the token, refuses a wrong one, then shows every pool and upstream', async () => {
    await page.goto(`${gw.admin.url}/`)
    expect(await page.isVisible('#login')).toBe(true)
    expect(await page.isVisible('#dash')).toBe(false)
    await signIn('not-the-token')
    await page.waitForSelector('#login-error:text("Wrong admin token.")')
    await signIn()
    await page.waitForSelector('#conn[data-state="live"]')
    expect(await page.isVisible('#login')).toBe(false)
    const rows = await page.$$eval('tr.upstream', (trs) => trs.map((tr) => tr.getAttribute('data-upstream')))
    expect(rows).toEqual(['chat/a', 'chat/b', 'chat/c', 'chat/d', 'embed/solo'])
    // Nothing has happened yet: the empty states say so.
    expect(await page.isVisible('#recent-empty')).toBe(true)
    expect(await page.isVisible('#keys-empty')).toBe(true)
    expect(await page.textContent('#chart-rps')).toContain('No requests in this range')
    expect(await page.textContent('#chart-err')).toContain('No errors in this range')
    expect(await page.textContent('#chart-ttft')).toContain('No streamed responses in this range')
    // The token stays in this tab across a reload, and signing out forgets it.
    await page.reload()
    await page.waitForSelector('#conn[data-state="live"]')
    expect(await page.isVisible('#login')).toBe(false)
    await page.click('#logout')
    expect(await page.isVisible('#login')).toBe(true)
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0)
  })

  it('marks unhealthy and ejected upstreams down, and the others by their state', async () => {
    upstream('chat', 'a').healthy = false
    upstream('chat', 'b').ejectedUntil = Date.now() + 60_000
    upstream('chat', 'c').cooldownUntil = Date.now() + 60_000
    upstream('embed', 'solo').healthy = false
    try {
      await signIn()
      await page.waitForSelector('tr[data-upstream="chat/a"].down')
      const states = await page.$$eval('tr.upstream', (trs) =>
        trs.map((tr) => [tr.getAttribute('data-upstream'), tr.getAttribute('data-state'), tr.classList.contains('down'), tr.querySelector('.badge')!.textContent])
      )
      expect(states).toEqual([
        ['chat/a', 'unhealthy', true, 'down · unhealthy'],
        ['chat/b', 'ejected', true, 'down · ejected'],
        ['chat/c', 'cooling-down', false, 'cooling down'],
        ['chat/d', 'healthy', false, 'up'],
        ['embed/solo', 'unhealthy', true, 'down · unhealthy'],
      ])
      expect(await page.textContent('[data-pool="chat"] .pill')).toBe('1/4 up')
      expect(await page.getAttribute('[data-pool="embed"]', 'class')).toContain('down')
      expect(await page.textContent('#alert')).toBe('3 upstreams down: chat/a (unhealthy), chat/b (ejected), embed/solo (unhealthy)')
      await page.screenshot({ path: await artifact('dashboard-states.png'), fullPage: true })
      // Recovery shows on the next push, with no reload.
      upstream('chat', 'a').healthy = true
      await page.waitForSelector('tr[data-upstream="chat/a"][data-state="healthy"]', { timeout: 5_000 })
    } finally {
      upstream('chat', 'a').healthy = true
      upstream('chat', 'b').ejectedUntil = 0
      upstream('chat', 'c').cooldownUntil = 0
      upstream('embed', 'solo').healthy = true
    }
  })

  it('shows request fields as text, never as markup', async () => {
    await signIn()
    await page.waitForSelector('#conn[data-state="live"]')
    const id = '<img/src=x/onerror=document.title="owned">'
    await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
    })
    await page.waitForSelector('#recent tbody tr')
    expect(await page.getAttribute('#recent tbody tr', 'data-request')).toBe(id)
    expect(await page.$('#recent img')).toBeNull()
    expect(await page.title()).not.toBe('owned')
    // The upstreams refused the connection: the request is an error, shown as one.
    expect(await page.textContent('#recent tbody tr .status')).toMatch(/^502 /)
  })

  it('reconnects after losing the event stream', async () => {
    await signIn()
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 15_000 })
    // Record every state the indicator passes through, so a short-lived one cannot be missed
    // between two polls and a failure says how far the page got.
    await page.evaluate(() => {
      const w = window as unknown as { connStates: string[] }
      w.connStates = []
      const conn = document.getElementById('conn')!
      new MutationObserver(() => w.connStates.push(conn.dataset.state ?? '')).observe(conn, { attributes: true, attributeFilter: ['data-state'] })
    })
    const states = () => page.evaluate(() => (window as unknown as { connStates: string[] }).connStates.join(' → '))
    // The next ticket request fails, then the stream is cut from the server side.
    let tickets = 0
    await page.route('**/admin/events/ticket', async (route) => {
      if (tickets++ === 0) await route.abort('connectionrefused')
      else await route.continue()
    })
    try {
      ;(gw as unknown as { dashboardFeed: { close(): void } }).dashboardFeed.close()
      // 1 s, then the refused ticket, then 2 s: live again within a few seconds.
      await page.waitForFunction(
        () => {
          const s = (window as unknown as { connStates: string[] }).connStates
          return s.includes('reconnecting') && s[s.length - 1] === 'live'
        },
        undefined,
        { timeout: 20_000 }
      ).catch(async (err: Error) => {
        throw new Error(`not live again; states: ${await states()}; ticket requests: ${tickets}; ${err.message.split('\n')[0]}`)
      })
      expect(tickets).toBeGreaterThanOrEqual(2)
      expect(await states()).toMatch(/^reconnecting → .*live$/)
    } finally {
      await page.unroute('**/admin/events/ticket')
    }
  }, 45_000)
})
