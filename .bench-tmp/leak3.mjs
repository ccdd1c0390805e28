import { parseConfig } from '/work/main/dist/src/config/load.js'
import { Gateway } from '/work/main/dist/src/gateway.js'
import { createLogger } from '/work/main/dist/src/observability/logger.js'
const config = parseConfig({ server: { port: 0 }, admin: { port: 0, token: 'leak-token-0123456789' }, usage: { enabled: false }, logging: { access_log: 'off' },
  models: [{ name: 'm1', upstreams: [{ url: 'http://127.0.0.1:9/v1', name: 'a' }] }] })
const gw = new Gateway(config, { logger: createLogger({ level: 'silent' }), accessLog: null })
await gw.start()
const heap = () => { gc(); gc(); return (process.memoryUsage().heapUsed / 1e6).toFixed(1) }
console.log('start', heap())
for (let i = 0; i < 2000; i++) gw.refresh('x')
console.log('after 2000 refresh', heap())
for (let i = 0; i < 2000; i++) gw.applyConfig ? gw.applyConfig(parseConfig({ ...config })) : 0
console.log('after', heap())
await gw.stop(100); process.exit(0)
