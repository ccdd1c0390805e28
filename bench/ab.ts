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
import { generateKey } from '../src/auth/keys.js'
import { CHAT, describeSpecs, sideOf, spec } from './ab-spec.js'
import { fmt, pinSelf, startSimProc } from './lib.js'
import { describePasses, disagreement, sideBySide } from './side-by-side.js'

const key = generateKey()
const keyed = process.env.AB_KEYS === '1'

async function main(): Promise<void> {
  const a = spec('AB_A', key)
  const b = spec('AB_B', key)
  const rounds = Number(process.env.AB_ROUNDS ?? 8)
  const seconds = Number(process.env.AB_SECONDS ?? 3)
  const concurrency = Number(process.env.AB_CONCURRENCY ?? 32)
  const pinned = pinSelf('1')
  const sim = await startSimProc(1)
  try {
    console.log(describeSpecs(a, b, keyed))
    console.log(`${rounds} rounds of ${seconds}s, ${concurrency} clients each, both gateways on core 0${pinned ? '' : ' (taskset missing: no pinning)'}`)
    const r = await sideBySide(sideOf(a, sim.url, key, keyed), sideOf(b, sim.url, key, keyed), {
      rounds,
      seconds,
      concurrency,
      path: '/v1/chat/completions',
      body: CHAT,
      headers: { authorization: `Bearer ${key}` },
    })
    for (const p of r.passes) {
      console.log(`  ${p.bFirst ? 'B started first' : 'A started first'}: B/A CPU per request, rounds ${p.ratios.map((x) => fmt(100 * x, 1)).join(' ')}`)
    }
    const [one, two] = r.passes
    console.log(`A ${fmt(one.cpuA, 1)} / ${fmt(two.cpuA, 1)} µs, B ${fmt(one.cpuB, 1)} / ${fmt(two.cpuB, 1)} µs of CPU per request (each order)`)
    console.log(`${describePasses(r)}: mean ${fmt(100 * r.ratio, 1)}%.`)
    const warning = disagreement(r)
    if (warning !== '') console.log(warning)
  } finally {
    await sim.stop()
  }
}

await main()
