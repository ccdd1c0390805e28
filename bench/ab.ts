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
import { formatKeyHash, generateKey } from '../src/auth/keys.js'
import { fmt, pinSelf, startSimProc, type CliOptions } from './lib.js'
import { describePasses, disagreement, sideBySide, type Side } from './side-by-side.js'

interface Spec extends CliOptions {
  readonly config?: Record<string, unknown>
}

const CHAT = JSON.stringify({ model: 'bench', max_tokens: 16, messages: [{ role: 'user', content: 'Hello, benchmark' }] })
const BIG = 1_000_000_000

const key = generateKey()
const keyed = process.env.AB_KEYS === '1'

function spec(name: string): Spec {
  const text = process.env[name] ?? '{}'
  try {
    return JSON.parse(text.replaceAll('$KEY_HASH', formatKeyHash(key))) as Spec
  } catch {
    throw new Error(`${name} is not JSON: ${text}`)
  }
}

function sideOf(s: Spec, simUrl: string): Side {
  const config = {
    server: { port: 0 },
    admin: { port: 0 },
    logging: { access_log: 'off' },
    ...(keyed && {
      auth: { keys: [{ name: 'bench', hash: formatKeyHash(key), models: ['bench'], limits: { requests_per_minute: BIG, tokens_per_minute: BIG, concurrency: 100_000 }, budget_usd: BIG }] },
      limits: { per_ip: { requests_per_minute: BIG, concurrency: 100_000 }, per_model: { bench: { tokens_per_minute: BIG } } },
      prices: { bench: { input: 0.15, output: 0.6 } },
    }),
    ...s.config,
    models: [{ name: 'bench', upstreams: [{ url: `${simUrl}/v1` }] }],
  }
  return { config, options: { ...(s.cli !== undefined && { cli: s.cli }), ...(s.env !== undefined && { env: s.env }) } }
}

async function main(): Promise<void> {
  const a = spec('AB_A')
  const b = spec('AB_B')
  const rounds = Number(process.env.AB_ROUNDS ?? 8)
  const seconds = Number(process.env.AB_SECONDS ?? 3)
  const concurrency = Number(process.env.AB_CONCURRENCY ?? 32)
  const pinned = pinSelf('1')
  const sim = await startSimProc(1)
  try {
    console.log(`A ${JSON.stringify(a)}\nB ${JSON.stringify(b)}${keyed ? '\n(both with a key under 7 limits and a budget)' : ''}`)
    console.log(`${rounds} rounds of ${seconds}s, ${concurrency} clients each, both gateways on core 0${pinned ? '' : ' (taskset missing: no pinning)'}`)
    const r = await sideBySide(sideOf(a, sim.url), sideOf(b, sim.url), {
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
