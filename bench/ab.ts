// A/B: two gateways (two builds, or two configurations) measured at the same time, in both
// start orders (bench/side-by-side.ts says how and why). Each pass prints its rounds' B/A
// CPU per request; the mean of the two passes' medians is the answer.
//
//   AB_A='{"config":{"logging":{"access_log":"off"}}}' AB_B='{}' npm run bench:ab
//   AB_A='{"cli":"/tmp/old/dist/src/cli/index.js"}' AB_B='{}' AB_KEYS=1 npm run bench:ab
//
// A spec: `config` (merged over a one-model config against the simulator; "$KEY_HASH" in it
// is the hash of the key the clients send), `cli` (another build's dist/src/cli/index.js),
// `env`. Compare builds that sit alike: two git worktrees, each built, with node_modules
// linked in. A copied dist/ without its package.json ran ~2% slower than the same build in
// place, which reads as a difference that is not there; an A/A run (the same build twice)
// shows what noise and bias are left. AB_KEYS=1 adds a key with 7 limits and a budget to
// both (the auth bench's). AB_ROUNDS (8), AB_SECONDS (3), AB_CONCURRENCY (32 per gateway).
// AB_LAYOUT=alone measures them one at a time instead, each alone on core 0, alternating
// (bench/alternating.ts), with a 95% interval; AB_ROUNDS is then the pairs per pass (12).
import { generateKey } from '../src/auth/keys.js'
import { CHAT, describeSpecs, sideOf, spec } from './ab-spec.js'
import { fmt, pinSelf, startSimProc } from './lib.js'
import { alternating, type Estimate } from './alternating.js'
import { cannedUpstream, rawLoad } from './raw-http.js'
import { describePasses, disagreement, sideBySide, type SideBySideOptions } from './side-by-side.js'

const key = generateKey()
const keyed = process.env.AB_KEYS === '1'

async function main(): Promise<void> {
  const a = spec('AB_A', key)
  const b = spec('AB_B', key)
  const layout = process.env.AB_LAYOUT ?? 'side-by-side'
  if (!['side-by-side', 'alone', 'saturated'].includes(layout)) throw new Error(`AB_LAYOUT: side-by-side, alone or saturated, not ${layout}`)
  const alone = layout !== 'side-by-side'
  const rounds = Number(process.env.AB_ROUNDS ?? (alone ? 12 : 8))
  const seconds = Number(process.env.AB_SECONDS ?? 3)
  const concurrency = Number(process.env.AB_CONCURRENCY ?? 32)
  const pinned = pinSelf('1')
  // Saturated: the prepared upstream in this process (bench/raw-http.ts) instead of the simulator.
  const sim = layout === 'saturated' ? await cannedUpstream() : await startSimProc(1)
  try {
    console.log(describeSpecs(a, b, keyed))
    const options: SideBySideOptions = { rounds, seconds, concurrency, path: '/v1/chat/completions', body: CHAT, headers: { authorization: `Bearer ${key}` } }
    const sideA = sideOf(a, sim.url, key, keyed)
    const sideB = sideOf(b, sim.url, key, keyed)
    const where = pinned ? '' : ' (taskset missing: no pinning)'
    if (alone) {
      const saturated = layout === 'saturated'
      console.log(
        `${rounds} pairs of ${seconds}s windows per pass, ${concurrency} clients, each gateway alone on core 0 while it runs${where}` +
          (saturated ? '; raw-socket clients and a prepared upstream on core 1, so the gateway is the bottleneck' : '')
      )
      const driver = saturated
        ? (url: string, s: number) => rawLoad(url, CHAT, concurrency, s, { authorization: `Bearer ${key}` })
        : undefined
      const r = await alternating(sideA, sideB, options, driver)
      for (const p of r.passes) {
        console.log(
          `  ${p.bFirst ? 'B first' : 'A first'}: B/A CPU per request, pairs ${p.cpuRatios.map((x) => fmt(100 * x, 1)).join(' ')}` +
            ` (A at ${fmt(p.cpuA, 1)} µs, its core ${fmt(100 * p.busyA, 0)}% busy)`
        )
      }
      console.log(`B/A CPU per request: ${describeEstimate(r.cpu)}`)
      console.log(`B/A requests/s:      ${describeEstimate(r.rps)}`)
      return
    }
    console.log(`${rounds} rounds of ${seconds}s, ${concurrency} clients each, both gateways on core 0${where}`)
    const r = await sideBySide(sideA, sideB, options)
    for (const p of r.passes) {
      console.log(`  ${p.bFirst ? 'B started first' : 'A started first'}: B/A CPU per request, rounds ${p.ratios.map((x) => fmt(100 * x, 1)).join(' ')}`)
    }
    const [one, two] = r.passes
    console.log(`A ${fmt(one.cpuA, 1)} / ${fmt(two.cpuA, 1)} µs, B ${fmt(one.cpuB, 1)} / ${fmt(two.cpuB, 1)} µs of CPU per request (each order)`)
    console.log(`${describePasses(r)}: mean ${fmt(100 * r.ratio, 1)}%.`)
    const warning = disagreement(r)
    if (warning !== '') console.log(warning)
  } finally {
    await ('stop' in sim ? sim.stop() : sim.close())
  }
}

/** "104.2% (95% interval 102.9–105.6%, median 104.0%)". */
function describeEstimate(e: Estimate): string {
  return `${fmt(100 * e.mean, 1)}% (95% interval ${fmt(100 * e.low, 1)}–${fmt(100 * e.high, 1)}%, median ${fmt(100 * e.median, 1)}%)`
}

await main()
