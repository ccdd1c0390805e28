// scratch: optimized code sizes of our functions in a running keyed gateway
import { readFileSync } from 'node:fs'
import { generateKey } from '../src/auth/keys.js'
import { CHAT, sideOf, spec } from '../bench/ab-spec.js'
import { load, startGatewayProc, startSimProc } from '../bench/lib.js'

const key = generateKey()
const sim = await startSimProc(1)
const side = sideOf(spec('AB_B', key), sim.url, key, process.env.AB_KEYS === '1')
const gw = await startGatewayProc(side.config, 0, { env: { NODE_OPTIONS: '--perf-basic-prof' } })
await load(`${gw.url}/v1/chat/completions`, CHAT, 32, 8, Number.POSITIVE_INFINITY, { authorization: `Bearer ${key}` })
const map = readFileSync(`/tmp/perf-${gw.child.pid}.map`, 'utf8').split('\n')
const latest = new Map<string, number>()
for (const line of map) {
  const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line)
  if (!m) continue
  const name = m[3]!
  if (!name.includes('*')) continue
  latest.set(name.replace(/^\S+:/, ''), parseInt(m[2]!, 16))
}
const rows = [...latest].filter(([n]) => /dist\/src\/(limits|auth|tokens|server\/response-head|config\/prices)/.test(n)).sort((a, b) => b[1] - a[1])
let total = 0
for (const [n, s] of rows) { total += s; console.log(String(s).padStart(7), n.replace(/\/work\/main\/dist\/src\//, '')) }
console.log('total', total)
await gw.stop(); await sim.stop(); process.exit(0)
