import { parseConfig } from '/work/main/dist/src/config/load.js'
import { buildSnapshot } from '/work/main/dist/src/config/snapshot.js'
const config = parseConfig({ server: { port: 0 }, admin: { port: 0 }, usage: { enabled: false }, models: [{ name: 'm1', upstreams: [{ url: 'http://127.0.0.1:9/v1', name: 'a' }] }] })
const heap = () => { gc(); gc(); return (process.memoryUsage().heapUsed / 1e6).toFixed(2) }
let snap = buildSnapshot(config).snapshot
console.log('start', heap())
for (let i = 0; i < 2000; i++) snap = buildSnapshot(config, snap).snapshot
console.log('after buildSnapshot x2000', heap())
for (let i = 0; i < 2000; i++) for (const r of snap.routes.routes) r.queue.wake()
console.log('after wake', heap())
for (let i = 0; i < 2000; i++) buildSnapshot(config)
console.log('after fresh builds x2000', heap())
const { Pool } = await import('/work/main/dist/src/routing/pool.js')
const u = snap.upstreams[0]
for (let i = 0; i < 2000; i++) new Pool('m1', [u], { strategy: 'round-robin', maxLoadFactor: 1.25 })
console.log('after pools x2000 on one upstream', heap())
const { OutlierDetector } = await import('/work/main/dist/src/health/outlier-detector.js')
const p = snap.routes.routes[0].pool
for (let i = 0; i < 2000; i++) new OutlierDetector(p, config.models[0].outlier, undefined, snap.routes.routes[0].outlier.records)
console.log('after outlier x2000', heap())
