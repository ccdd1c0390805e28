// A/B: two gateways (two builds, or two configurations) measured at the same time. Both
// run on core 0, each driven by its own clients (the same concurrency) from core 1, so
// whatever else the machine does in a round hits both alike; back-to-back runs of one then
// the other drifted by more than the differences worth measuring (±5% between runs here).
// Each round gives each gateway's CPU per request and their ratio; the median ratio is
// reported. The run then starts both again in the other order and measures once more: the
// order alone biased the ratio by about 1%. The mean of the two medians is the answer.
// The machine's own speed can change between the two passes (one day: 115 and 190 µs of
// CPU per request with everything off, an A/A run at 100.5% either way), and a fixed cost
// is a larger share of the faster pass: when the passes disagree by more than 2 points the
// run says so, and their mean is only as good as a rerun confirms.
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
import { cpuMs, fmt, load, pinSelf, startGatewayProc, startSimProc, type CliOptions, type Proc } from './lib.js'

interface Spec extends CliOptions {
  readonly config?: Record<string, unknown>
}

const CHAT = JSON.stringify({ model: 'bench', max_tokens: 16, messages: [{ role: 'user', content: 'Hello, benchmark' }] })
const BIG = 1_000_000_000

function spec(name: string): Spec {
  const text = process.env[name] ?? '{}'
  try {
    return JSON.parse(text.replaceAll('$KEY_HASH', formatKeyHash(key))) as Spec
  } catch {
    throw new Error(`${name} is not JSON: ${text}`)
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const key = generateKey()
const keyed = process.env.AB_KEYS === '1'
const rounds = Number(process.env.AB_ROUNDS ?? 8)
const seconds = Number(process.env.AB_SECONDS ?? 3)
const concurrency = Number(process.env.AB_CONCURRENCY ?? 32)
const headers = { authorization: `Bearer ${key}` }

function configOf(s: Spec, simUrl: string): Record<string, unknown> {
  return {
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
}

/** One pass: both started (in `order`), warmed, then `rounds` concurrent rounds. Median of B/A CPU per request. */
async function pass(a: Spec, b: Spec, simUrl: string, bFirst: boolean): Promise<{ ratio: number; cpuA: number; cpuB: number }> {
  const procs: Proc[] = []
  try {
    const start = (s: Spec): Promise<Proc> => startGatewayProc(configOf(s, simUrl), 0, s)
    let ga: Proc
    let gb: Proc
    if (bFirst) {
      gb = await start(b)
      ga = await start(a)
    } else {
      ga = await start(a)
      gb = await start(b)
    }
    procs.push(ga, gb)
    const url = (p: Proc): string => `${p.url}/v1/chat/completions`
    await Promise.all([load(url(ga), CHAT, concurrency, 2, Infinity, headers), load(url(gb), CHAT, concurrency, 2, Infinity, headers)])
    const ratios: number[] = []
    const cpuA: number[] = []
    const cpuB: number[] = []
    for (let i = 0; i < rounds; i++) {
      const a0 = cpuMs(ga.child.pid!)
      const b0 = cpuMs(gb.child.pid!)
      const [ra, rb] = await Promise.all([load(url(ga), CHAT, concurrency, seconds, Infinity, headers), load(url(gb), CHAT, concurrency, seconds, Infinity, headers)])
      if (ra.errors > 0 || rb.errors > 0) throw new Error(`errors in a round: A ${ra.errors}, B ${rb.errors}`)
      const ua = ((cpuMs(ga.child.pid!) - a0) * 1000) / ra.requests
      const ub = ((cpuMs(gb.child.pid!) - b0) * 1000) / rb.requests
      cpuA.push(ua)
      cpuB.push(ub)
      ratios.push(ub / ua)
    }
    console.log(`  ${bFirst ? 'B started first' : 'A started first'}: B/A CPU per request, rounds ${ratios.map((r) => fmt(100 * r, 1)).join(' ')}`)
    return { ratio: median(ratios), cpuA: median(cpuA), cpuB: median(cpuB) }
  } finally {
    for (const p of procs) await p.stop()
  }
}

async function main(): Promise<void> {
  const a = spec('AB_A')
  const b = spec('AB_B')
  const pinned = pinSelf('1')
  const sim = await startSimProc(1)
  try {
    console.log(`A ${JSON.stringify(a)}\nB ${JSON.stringify(b)}${keyed ? '\n(both with a key under 7 limits and a budget)' : ''}`)
    console.log(`${rounds} rounds of ${seconds}s, ${concurrency} clients each, both gateways on core 0${pinned ? '' : ' (taskset missing: no pinning)'}`)
    const one = await pass(a, b, sim.url, false)
    const two = await pass(a, b, sim.url, true)
    console.log(
      `A ${fmt(one.cpuA, 1)} / ${fmt(two.cpuA, 1)} µs, B ${fmt(one.cpuB, 1)} / ${fmt(two.cpuB, 1)} µs of CPU per request (each order); ` +
        `B/A ${fmt(100 * one.ratio, 1)}% and ${fmt(100 * two.ratio, 1)}%: mean ${fmt(50 * (one.ratio + two.ratio), 1)}%`
    )
    if (Math.abs(one.ratio - two.ratio) > 0.02) {
      console.log(
        `  The passes disagree by ${fmt(100 * Math.abs(one.ratio - two.ratio), 1)} points` +
          (Math.abs(one.cpuA - two.cpuA) > 0.1 * Math.min(one.cpuA, two.cpuA) ? ` and A's own CPU per request moved ${fmt(one.cpuA, 1)} → ${fmt(two.cpuA, 1)} µs: the machine changed speed between them` : '') +
          '; rerun before trusting the mean.'
      )
    }
  } finally {
    await sim.stop()
  }
}

await main()
