import v8 from 'node:v8'
import { parseConfig } from '/work/main/dist/src/config/load.js'
import { buildSnapshot } from '/work/main/dist/src/config/snapshot.js'
const config = parseConfig({ server: { port: 0 }, admin: { port: 0 }, usage: { enabled: false }, models: [{ name: 'm1', upstreams: [{ url: 'http://127.0.0.1:9/v1', name: 'a' }] }] })
let snap = buildSnapshot(config).snapshot
function counts() {
  gc(); gc()
  const s = v8.getHeapSnapshot(); const ch = []; let c; while ((c = s.read()) !== null) ch.push(c)
  const snap = JSON.parse(ch.join(''))
  const f = snap.snapshot.meta.node_fields, nf = f.length, ti = f.indexOf('type'), ni = f.indexOf('name')
  const types = snap.snapshot.meta.node_types[0]; const m = new Map()
  for (let i = 0; i < snap.nodes.length; i += nf) { const k = types[snap.nodes[i + ti]] + ':' + snap.strings[snap.nodes[i + ni]]; m.set(k, (m.get(k) ?? 0) + 1) }
  return m
}
const a = counts()
for (let i = 0; i < 500; i++) snap = buildSnapshot(config, snap).snapshot
const b = counts()
console.log([...b].map(([k, n]) => [k, n - (a.get(k) ?? 0)]).filter((x) => x[1] >= 400).sort((x, y) => y[1] - x[1]).slice(0, 20).map((x) => x.join('\t')).join('\n'))
