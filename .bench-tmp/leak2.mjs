import { parseConfig } from '/work/main/dist/src/config/load.js'
import { Gateway } from '/work/main/dist/src/gateway.js'
import { createLogger } from '/work/main/dist/src/observability/logger.js'
const mode = process.argv[2]
const config = parseConfig({ server: { port: 0 }, admin: { port: 0, token: 'leak-token-0123456789' }, usage: { enabled: false }, logging: { access_log: 'off' },
  models: [{ name: 'm1', upstreams: [{ url: 'http://127.0.0.1:9/v1', name: 'a' }] }] })
const gw = new Gateway(config, { logger: createLogger({ level: 'silent' }), accessLog: null })
await gw.start()
const A = gw.admin.url, H = { authorization: 'Bearer leak-token-0123456789', 'content-type': 'application/json' }
const heap = () => { gc(); gc(); return (process.memoryUsage().heapUsed / 1e6).toFixed(1) }
console.log('start', heap())
for (let i = 0; i < 1000; i++) {
  if (mode === 'reload') { const r = await fetch(`${A}/admin/config/reload`, { method: 'POST', headers: H }); await r.text(); continue }
  const r = await fetch(`${A}/admin/models/m1/upstreams`, { method: 'POST', headers: H, body: JSON.stringify({ url: 'http://127.0.0.1:9/v1', name: 'cyc' }) }); await r.text()
  const d = await fetch(`${A}/admin/upstreams/m1%2Fcyc${mode === 'nowait' ? '?wait=0' : '?wait=5s'}`, { method: 'DELETE', headers: H }); await d.text()
}
console.log('after', heap())
await new Promise((r) => setTimeout(r, 6000))
console.log('after 6s', heap())
await gw.stop(100); process.exit(0)
