// Hand-drawn SVG line charts for the dashboard: no library, one <svg> per chart, redrawn
// whole each second (a few hundred points at most).
const SVG = 'http://www.w3.org/2000/svg'
const HEIGHT = 150
const PAD = { left: 44, right: 10, top: 10, bottom: 20 }

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name)
  for (const k in attrs) e.setAttribute(k, String(attrs[k]))
  if (text !== undefined) e.textContent = text
  return e
}

/** A round upper bound for the axis: 1, 2 or 5 × 10^n, at least `min`. */
function niceMax(v, min) {
  const x = Math.max(v, min)
  const p = 10 ** Math.floor(Math.log10(x))
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p
  return 10 * p
}

function clock(t) {
  const d = new Date(t)
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
}

/**
 * Draws `lines` over the time range [from, to] into `host`.
 * lines: [{ label, cls, values: [[t, v|null], …], area? }]; null breaks the line.
 * opts: { format(v) → axis label, min: smallest axis top, empty: text when no value is above 0 }
 */
export function drawChart(host, from, to, lines, opts) {
  const width = Math.max(200, host.clientWidth || 400)
  const plotW = width - PAD.left - PAD.right
  const plotH = HEIGHT - PAD.top - PAD.bottom
  let top = 0
  let any = false
  for (const l of lines) {
    for (const [, v] of l.values) {
      if (v === null || v <= 0) continue
      any = true
      if (v > top) top = v
    }
  }
  const yMax = niceMax(top, opts.min ?? 1)
  const x = (t) => PAD.left + ((t - from) / (to - from)) * plotW
  const y = (v) => PAD.top + plotH - (v / yMax) * plotH
  const svg = el('svg', { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', 'aria-label': opts.title ?? '' })
  for (let i = 0; i <= 2; i++) {
    const v = (yMax * i) / 2
    svg.append(el('line', { class: 'grid', x1: PAD.left, x2: width - PAD.right, y1: y(v), y2: y(v) }))
    svg.append(el('text', { class: 'axis', x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, opts.format(v)))
  }
  for (const [t, anchor] of [[from, 'start'], [(from + to) / 2, 'middle'], [to, 'end']]) {
    svg.append(el('text', { class: 'axis', x: x(t), y: HEIGHT - 5, 'text-anchor': anchor }, clock(t)))
  }
  for (const l of lines) {
    let d = ''
    let open = false
    let first = 0
    let last = 0
    const vs = l.values
    for (let i = 0; i < vs.length; i++) {
      const [t, v] = vs[i]
      if (t < from || v === null) {
        open = false
        continue
      }
      const px = x(t).toFixed(1)
      const py = y(v).toFixed(1)
      if (!open) first = px
      d += `${open ? 'L' : 'M'}${px},${py}`
      last = px
      // A point with no neighbour would draw nothing as a path: mark it with a dot.
      if (!open && (i + 1 >= vs.length || vs[i + 1][1] === null)) svg.append(el('circle', { class: `dot ${l.cls}`, cx: px, cy: py, r: 2 }))
      open = true
    }
    if (d === '') continue
    if (l.area && !d.includes('M', 1)) {
      svg.append(el('path', { class: `area ${l.cls}`, d: `${d}L${last},${y(0)}L${first},${y(0)}Z` }))
    }
    svg.append(el('path', { class: `line ${l.cls}`, d }))
  }
  if (!any) {
    svg.append(el('text', { class: 'empty-chart', x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle' }, opts.empty ?? 'No data yet'))
  }
  host.replaceChildren(svg)
}
