// The dashboard: sign in with the admin token (kept in sessionStorage, this tab only),
// load the state, then follow the event stream (a snapshot, then a delta every second).
// EventSource cannot send headers, so each connection first trades the token for a
// one-time ticket (POST admin/events/ticket) and opens admin/events?ticket=….
import { render, renderChartsOnly } from './render.js'

const TOKEN_KEY = 'switchyard.adminToken'
const RECENT_MAX = 100
/** No event for this long while live: the stream is stuck, so reconnect. */
const STALE_MS = 5000

const $ = (id) => document.getElementById(id)

let token = sessionStorage.getItem(TOKEN_KEY)
let state = null
let range = 3600
let source = null
let retryTimer = 0
let retryDelay = 1000
let lastEvent = 0
/** Bumped on sign-out, so late answers of an old session are ignored. */
let session = 0

function setConn(kind, text) {
  const c = $('conn')
  c.dataset.state = kind
  c.textContent = text ?? kind
}

function api(path, init = {}) {
  return fetch(path, { ...init, cache: 'no-store', headers: { authorization: `Bearer ${token}` } })
}

async function errorMessage(res) {
  try {
    return (await res.json()).error.message
  } catch {
    return `HTTP ${res.status}`
  }
}

function showLogin(message) {
  $('dash').hidden = true
  $('logout').hidden = true
  $('login').hidden = false
  $('login-error').textContent = message ?? ''
  setConn('offline', 'signed out')
  $('token').focus()
}

function signOut(message) {
  session++
  token = null
  state = null
  sessionStorage.removeItem(TOKEN_KEY)
  closeSource()
  clearTimeout(retryTimer)
  showLogin(message)
}

/** Checks the token against the state route; on success shows the dashboard and goes live. */
async function start() {
  const mine = session
  setConn('connecting', 'connecting…')
  let res
  try {
    res = await api('admin/dashboard/state')
  } catch {
    if (mine !== session) return
    showLogin('Cannot reach the gateway’s admin port; retrying…')
    clearTimeout(retryTimer)
    retryTimer = setTimeout(start, 3000)
    return
  }
  if (mine !== session) return
  if (res.status === 401) {
    const message = await errorMessage(res)
    // Say why when the admin API is off; otherwise keep it short.
    return signOut(message.includes('disabled') ? message : 'Wrong admin token.')
  }
  if (!res.ok) return showLogin(`The gateway answered: ${await errorMessage(res)}`)
  sessionStorage.setItem(TOKEN_KEY, token)
  state = await res.json()
  $('login').hidden = true
  $('dash').hidden = false
  $('logout').hidden = false
  render(state, range)
  connect()
}

function closeSource() {
  if (source !== null) source.close()
  source = null
}

async function connect() {
  const mine = session
  closeSource()
  let ticket
  try {
    const res = await api('admin/events/ticket', { method: 'POST' })
    if (mine !== session) return
    if (res.status === 401) return signOut('The admin token is no longer accepted.')
    if (!res.ok) throw new Error(await errorMessage(res))
    ticket = (await res.json()).ticket
  } catch {
    if (mine === session) reconnectLater()
    return
  }
  const es = new EventSource(`admin/events?ticket=${encodeURIComponent(ticket)}`)
  source = es
  lastEvent = Date.now()
  es.addEventListener('snapshot', (e) => {
    retryDelay = 1000
    lastEvent = Date.now()
    state = JSON.parse(e.data)
    setConn('live')
    render(state, range)
  })
  es.addEventListener('delta', (e) => {
    lastEvent = Date.now()
    const added = merge(JSON.parse(e.data))
    setConn('live')
    render(state, range, { recent: added })
  })
  // A ticket is single-use, so EventSource's own retry would be refused: start over instead.
  es.onerror = () => {
    if (source !== es) return
    closeSource()
    reconnectLater()
  }
}

function reconnectLater() {
  setConn('reconnecting', `reconnecting in ${Math.round(retryDelay / 1000)} s…`)
  clearTimeout(retryTimer)
  retryTimer = setTimeout(connect, retryDelay)
  retryDelay = Math.min(retryDelay * 2, 10_000)
}

/** Folds a delta into the state; returns whether new requests arrived. */
function merge(d) {
  if (state === null) {
    state = d
    return true
  }
  const first = d.series.points[0]?.t ?? Infinity
  const oldest = d.now - d.window_s * 1000
  const kept = state.series.points.filter((p) => p.t < first && p.t + d.series.step * 1000 > oldest)
  const recent = d.recent.length === 0 ? state.recent : d.recent.concat(state.recent).slice(0, RECENT_MAX)
  state = { ...d, series: { step: d.series.step, points: kept.concat(d.series.points) }, recent }
  return d.recent.length > 0
}

function watchdog() {
  if (source !== null && Date.now() - lastEvent > STALE_MS) {
    closeSource()
    setConn('reconnecting', 'stream stalled, reconnecting…')
    connect()
  }
}

function init() {
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const value = $('token').value.trim()
    if (value === '') return
    session++
    clearTimeout(retryTimer)
    closeSource()
    token = value
    $('token').value = ''
    $('login-error').textContent = ''
    start()
  })
  $('logout').addEventListener('click', () => signOut())
  for (const b of $('range').querySelectorAll('button')) {
    b.addEventListener('click', () => {
      range = Number(b.dataset.range)
      for (const o of $('range').querySelectorAll('button')) o.setAttribute('aria-pressed', String(o === b))
      if (state !== null) renderChartsOnly(state, range)
    })
  }
  let resizeTimer = 0
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer)
    resizeTimer = setTimeout(() => state !== null && renderChartsOnly(state, range), 150)
  })
  setInterval(watchdog, 1000)
  if (token === null) showLogin()
  else start()
}

init()
