import v8 from 'node:v8'
import { parseConfig } from '/work/main/dist/src/config/load.js'
import { Gateway } from '/work/main/dist/src/gateway.js'
import { createLogger } from '/work/main/dist/src/observability/logger.js'
const mode = process.argv[2] ?? 'cycle'
const config = parseConfig({ server: { port: 0 }, admin: { port: 0, token: 'leak-token-0123456789' }, usage: { enabled: false }, logging: { access_log: 'off' },
  models: [{ name: 'm1', upstreams: [{ url: 'http://127.0.0.1:9/v1', name: 'a' }] }] })
const gw = new Gateway(config, { logger: createLogger({ level: 'silent' }), accessLog: null })
await gw.start()
const A = gw.admin.url, H = { authorization: 'Bearer leak-token-0123456789', 'content-type': 'application/json' }
async function cycles(n) {
  for (let i = 0; i < n; i++) {
    if (mode === 'cycle') {
      const r = await fetch(`${A}/admin/models/m1/upstreams`, { method: 'POST', headers: H, body: JSON.stringify({ url: 'http://127.0.0.1:9/v1', name: 'cyc' }) }); await r.text()
      const d = await fetch(`${A}/admin/upstreams/m1%2Fcyc?wait=0`, { method: 'DELETE', headers: H }); await d.text()
    } else {
      const r = await fetch(`${A}/admin/config/reload`, { method: 'POST', headers: H }); await r.text()
    }
  }
}
function counts() {
  gc(); gc()
  const snap = JSON.parse(readAll(v8.getHeapSnapshot()))
  const f = snap.snapshot.meta.node_fields, nf = f.length, ti = f.indexOf('type'), ni = f.indexOf('name'), si = f.indexOf('self_size')
  const types = snap.snapshot.meta.node_types[0]
  const m = new Map()
  for (let i = 0; i < snap.nodes.length; i += nf) {
    const t = types[snap.nodes[i + ti]]
    if (t !== 'object' && t !== 'closure' && t !== 'array') continue
    const k = t + ':' + snap.strings[snap.nodes[i + ni]]
    const e = m.get(k) ?? [0, 0]; e[0]++; e[1] += snap.nodes[i + si]; m.set(k, e)
  }
  return m
}
function readAll(stream) { const chunks = []; let c; while ((c = stream.read()) !== null) chunks.push(c); return chunks.join('') }
await cycles(50)
const a = counts()
await cycles(400)
await new Promise((r) => setTimeout(r, 6000))
const b = counts()
const diff = [...b].map(([k, [n, sz]]) => [k, n - (a.get(k)?.[0] ?? 0), sz - (a.get(k)?.[1] ?? 0)]).filter((x) => x[1] >= 300).sort((x, y) => y[2] - x[2]).slice(0, 25)
for (const d of diff) console.log(d.join('\t'))
console.log('heap', process.memoryUsage().heapUsed)
await gw.stop(100); process.exit(0)
