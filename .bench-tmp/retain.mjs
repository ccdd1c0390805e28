import v8 from 'node:v8'
import { parseConfig } from '/work/main/dist/src/config/load.js'
import { Gateway } from '/work/main/dist/src/gateway.js'
import { createLogger } from '/work/main/dist/src/observability/logger.js'
const config = parseConfig({ server: { port: 0 }, admin: { port: 0, token: 'leak-token-0123456789' }, usage: { enabled: false }, logging: { access_log: 'off' },
  models: [{ name: 'm1', upstreams: [{ url: 'http://127.0.0.1:9/v1', name: 'a' }] }] })
const gw = new Gateway(config, { logger: createLogger({ level: 'silent' }), accessLog: null })
await gw.start()
const A = gw.admin.url, H = { authorization: 'Bearer leak-token-0123456789', 'content-type': 'application/json' }
for (let i = 0; i < 30; i++) {
  const r = await fetch(`${A}/admin/models/m1/upstreams`, { method: 'POST', headers: H, body: JSON.stringify({ url: 'http://127.0.0.1:9/v1', name: 'cyc' }) }); await r.text()
  const d = await fetch(`${A}/admin/upstreams/m1%2Fcyc?wait=5s`, { method: 'DELETE', headers: H }); await d.text()
}
gc(); gc()
const s = v8.getHeapSnapshot(); const chunks = []; let c; while ((c = s.read()) !== null) chunks.push(c)
const snap = JSON.parse(chunks.join(''))
const f = snap.snapshot.meta.node_fields, nf = f.length, ni = f.indexOf('name'), ec = f.indexOf('edge_count'), ii = f.indexOf('id')
const ef = snap.snapshot.meta.edge_fields, enf = ef.length, et = ef.indexOf('type'), en = ef.indexOf('name_or_index'), eto = ef.indexOf('to_node')
const etypes = snap.snapshot.meta.edge_types[0]
const N = snap.nodes.length / nf
const retainers = Array.from({ length: N }, () => [])
let e = 0
for (let n = 0; n < N; n++) {
  const cnt = snap.nodes[n * nf + ec]
  for (let k = 0; k < cnt; k++, e += enf) {
    const to = snap.edges[e + eto] / nf
    const t = etypes[snap.edges[e + et]]
    if (t === 'weak') continue
    const nm = t === 'element' || t === 'hidden' ? String(snap.edges[e + en]) : snap.strings[snap.edges[e + en]]
    retainers[to].push([n, t + ':' + nm])
  }
}
const name = (n) => snap.strings[snap.nodes[n * nf + ni]]
const targets = []
for (let n = 0; n < N; n++) if (name(n) === 'RouteTable') targets.push(n)
console.log('RouteTables', targets.length)
// BFS from an early target to a root
const start = targets[0]
const seen = new Map([[start, null]])
const q = [start]
let found = -1
while (q.length) {
  const n = q.shift()
  if (n === 0) { found = n; break }
  for (const [r, lbl] of retainers[n]) { const rn = name(r); if (rn === '(Internalized strings)' || rn === '(Code)' || lbl.startsWith('internal:') && rn.startsWith('system /')) continue; if (!seen.has(r)) { seen.set(r, [n, lbl]); q.push(r) } }
}
let n = found; const path = []
while (n !== start && n !== undefined && n !== -1) { const [child, lbl] = seen.get(n) ?? []; if (child === undefined) break; path.push(`${name(n)} -[${lbl}]->`); n = child }
console.log(path.join('\n'))
await gw.stop(100); process.exit(0)
