// State → DOM for the dashboard. Every string from the server goes in as textContent
// (never as HTML), so a request id or key name cannot inject markup.
import { drawChart } from './chart.js'

/** States in which an upstream takes no traffic because something is wrong with it. */
const DOWN = new Set(['unhealthy', 'ejected'])
const STATE_LABEL = {
  healthy: 'up',
  unhealthy: 'down · unhealthy',
  ejected: 'down · ejected',
  'cooling-down': 'cooling down',
  draining: 'draining',
}

const $ = (id) => document.getElementById(id)

function h(tag, props, ...children) {
  const e = document.createElement(tag)
  if (props) {
    for (const k in props) {
      if (k === 'class') e.className = props[k]
      else if (k === 'title') e.title = props[k]
      else e.setAttribute(k, props[k])
    }
  }
  for (const c of children) e.append(c instanceof Node ? c : c === null || c === undefined ? '' : String(c))
  return e
}

function fmt(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–'
  return n.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 })
}

export function ms(v) {
  if (v === null || v === undefined) return '–'
  if (v >= 10_000) return `${fmt(v / 1000, 1)} s`
  if (v >= 1000) return `${fmt(v / 1000, 2)} s`
  return `${fmt(v, v < 10 ? 1 : 0)} ms`
}

function time(t) {
  return new Date(t).toLocaleTimeString(undefined, { hour12: false })
}

function renderTiles(s) {
  const lm = s.totals.last_minute
  $('t-rps').textContent = fmt(lm.requests / 60, 2)
  $('t-err').textContent = lm.requests === 0 ? '0' : `${fmt(lm.errors)} (${fmt((100 * lm.errors) / lm.requests, 1)}%)`
  $('t-err').classList.toggle('bad', lm.errors > 0)
  $('t-p50').textContent = ms(s.ttft.last_5m.p50)
  $('t-p95').textContent = ms(s.ttft.last_5m.p95)
  let tps = 0
  let inflight = 0
  for (const p of s.pools) {
    inflight += p.inflight
    for (const u of p.upstreams) tps += u.tokens_per_s
  }
  $('t-tps').textContent = fmt(tps, 1)
  $('t-inflight').textContent = fmt(inflight)
  $('t-hour').textContent = fmt(s.totals.last_hour.requests)
}

function upstreamRow(pool, u) {
  const down = DOWN.has(u.state)
  const tr = h('tr', { class: `upstream ${down ? 'down' : u.state === 'healthy' ? 'up' : 'warn'}`, 'data-upstream': `${pool.model}/${u.id}`, 'data-state': u.state })
  const badge = h('span', { class: 'badge' }, STATE_LABEL[u.state] ?? u.state)
  const cap = u.max_concurrency === null ? '' : ` / ${u.max_concurrency}`
  tr.append(
    h('td', { class: 'name' }, h('strong', null, u.id), h('span', { class: 'muted origin' }, u.origin)),
    h('td', null, badge),
    h('td', { class: 'num' }, `${fmt(u.inflight)}${cap}`),
    h('td', { class: 'num' }, u.latency_ms > 0 ? ms(u.latency_ms) : '–'),
    h('td', { class: 'num' }, fmt(u.tokens_per_s, 1)),
    h('td', { class: 'num' }, fmt(u.requests_per_s, 2)),
    h('td', { class: 'num' }, `${fmt(u.failures)} / ${fmt(u.attempts)}`)
  )
  return tr
}

function renderPools(s) {
  const cards = s.pools.map((p) => {
    const allDown = p.up === 0
    const head = h(
      'div',
      { class: 'pool-head' },
      h('h3', null, p.model),
      h('span', { class: `pill ${allDown ? 'bad' : p.up < p.upstreams.length ? 'warn' : 'ok'}` }, `${p.up}/${p.upstreams.length} up`),
      h('span', { class: 'muted' }, `${p.strategy} · ${fmt(p.inflight)} in flight`)
    )
    const thead = h('thead', null, h('tr', null, ...['Upstream', 'State', 'In flight', 'Latency', 'Tokens/s', 'Req/s', 'Failed / tries'].map((t, i) => h('th', i > 1 ? { class: 'num' } : null, t))))
    const tbody = h('tbody', null)
    for (const u of p.upstreams) tbody.append(upstreamRow(p, u))
    return h('div', { class: `card pool${allDown ? ' down' : ''}`, 'data-pool': p.model }, head, h('table', null, thead, tbody))
  })
  $('pools').replaceChildren(...cards)
  const down = []
  for (const p of s.pools) for (const u of p.upstreams) if (DOWN.has(u.state)) down.push(`${p.model}/${u.id} (${u.state})`)
  const alert = $('alert')
  alert.hidden = down.length === 0
  alert.textContent = down.length === 0 ? '' : `${down.length} upstream${down.length > 1 ? 's' : ''} down: ${down.join(', ')}`
}

function renderCharts(s, range) {
  const to = s.now
  const from = to - range * 1000
  const pts = s.series.points.filter((p) => p.t + s.series.step * 1000 > from)
  const rate = (key) => pts.map((p) => [p.t, p.span > 0 ? p[key] / p.span : 0])
  drawChart($('chart-rps'), from, to, [{ cls: 'ok', values: rate('requests'), area: true }], { format: (v) => fmt(v, 1), min: 1, title: 'Requests per second', empty: 'No requests in this range' })
  drawChart($('chart-err'), from, to, [{ cls: 'bad', values: rate('errors'), area: true }], { format: (v) => fmt(v, 1), min: 1, title: 'Errors per second', empty: 'No errors in this range' })
  drawChart(
    $('chart-ttft'),
    from,
    to,
    [
      { cls: 'p95', values: pts.map((p) => [p.t, p.ttft_p95]) },
      { cls: 'p50', values: pts.map((p) => [p.t, p.ttft_p50]) },
    ],
    { format: ms, min: 10, title: 'Time to first token', empty: 'No streamed responses in this range' }
  )
}

function statusCell(r) {
  const cls = r.status === 499 ? 'warn' : r.status >= 500 || r.error ? 'bad' : r.status >= 400 ? 'warn' : 'ok'
  const label = r.status === 499 ? '499 client left' : r.error ? `${r.status} ${r.error}` : String(r.status)
  return h('td', null, h('span', { class: `status ${cls}` }, label))
}

function recentRow(r) {
  const tokens = r.completion_tokens === null ? '–' : `${fmt(r.prompt_tokens)} → ${fmt(r.completion_tokens)}`
  const model = r.served_model !== null && r.served_model !== r.model ? `${r.model} → ${r.served_model}` : r.model
  return h(
    'tr',
    { 'data-request': r.id },
    h('td', null, time(r.time)),
    h('td', { class: 'mono', title: r.id }, r.id.length > 12 ? `${r.id.slice(0, 8)}…` : r.id),
    h('td', null, r.key ?? '—'),
    h('td', null, model ?? '—'),
    h('td', null, r.upstream ?? '—'),
    statusCell(r),
    h('td', null, r.stream ? 'yes' : 'no'),
    h('td', { class: 'num' }, tokens),
    h('td', { class: 'num' }, ms(r.ttft_ms)),
    h('td', { class: 'num' }, ms(r.duration_ms))
  )
}

function renderRecent(s) {
  $('recent').tBodies[0].replaceChildren(...s.recent.map(recentRow))
  $('recent-empty').hidden = s.recent.length > 0
  $('recent').hidden = s.recent.length === 0
}

function renderKeys(s) {
  const rows = s.top_keys.map((k) =>
    h('tr', null, h('td', { class: k.key === null ? 'muted' : '' }, k.key ?? '(no key)'), h('td', { class: 'num' }, fmt(k.requests)), h('td', { class: 'num' }, fmt(k.tokens)), h('td', { class: 'num' }, fmt(k.errors)))
  )
  $('keys').tBodies[0].replaceChildren(...rows)
  $('keys-empty').hidden = rows.length > 0
  $('keys').hidden = rows.length === 0
}

/** Draws the whole state; `changed.recent` false skips the (unchanged) request table. */
export function render(s, range, changed = { recent: true }) {
  renderTiles(s)
  renderPools(s)
  renderCharts(s, range)
  if (changed.recent) renderRecent(s)
  renderKeys(s)
  $('updated').textContent = `updated ${time(s.now)}`
}

/** Redraws only the charts (the range changed or the window was resized). */
export function renderChartsOnly(s, range) {
  renderCharts(s, range)
}
