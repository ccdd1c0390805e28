// `npm run bench`: direct-to-simulator against through-the-gateway, on this machine.
// The gateway is pinned to core 0; the simulator and the load generator share core 1, so
// "direct" is what one core of client and server does, and "through the gateway" adds one
// core that runs only the gateway. One extra pair of runs lets the load generator use
// either core (it then competes with the gateway for core 0), for comparison.
import { failoverBench } from './failover.js'
import { filterRows } from './filters.js'
import { hasNginx, startNginx } from './nginx.js'
import { benchAuthLimits } from './auth-limits.js'
import { cpuMs, fmt, load, pinSelf, rssMiB, startGatewayProc, startSimProc, streams, type LoadResult, type Proc } from './lib.js'
import { benchObservability, printObservability } from './observability.js'
import { reportingCost } from './reporting-cost.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const SOAK_REQUESTS = Number(process.env.BENCH_SOAK ?? 200_000)
/** Alternating rounds per target in the main table; the median is reported. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CHAT = JSON.stringify({ model: 'bench', max_tokens: 16, messages: [{ role: 'user', content: 'Hello, benchmark' }] })
const STREAM = JSON.stringify({ model: 'bench', stream: true, max_tokens: 50, ignore_eos: true, messages: [{ role: 'user', content: 'stream' }] })

function row(name: string, direct: LoadResult, via: LoadResult, cpuPerReqUs: number): string {
  return `| ${name} | ${fmt(direct.rps, 0)} | ${fmt(via.rps, 0)} | ${fmt((100 * via.rps) / direct.rps, 0)}% | ${fmt(direct.p50, 3)} / ${fmt(direct.p99, 3)} | ${fmt(via.p50, 3)} / ${fmt(via.p99, 3)} | ${fmt(via.p50 - direct.p50, 3)} | ${fmt(cpuPerReqUs, 0)} | ${via.errors} |`
}

interface Measured {
  readonly result: LoadResult
  /** CPU time of the measured process per request, µs (0 for the simulator itself). */
  readonly cpuUs: number
}

/** The run with the median req/s; CPU per request is the median of the rounds on its own. */
function medianOf(runs: readonly Measured[]): Measured {
  const byRps = [...runs].sort((a, b) => a.result.rps - b.result.rps)
  const cpu = runs.map((r) => r.cpuUs).sort((a, b) => a - b)
  return { result: byRps[byRps.length >> 1]!.result, cpuUs: cpu[cpu.length >> 1]! }
}

async function measure(url: string, c: number, proc?: Proc): Promise<Measured> {
  const cpu0 = proc === undefined ? 0 : cpuMs(proc.child.pid!)
  const result = await load(`${url}/v1/chat/completions`, CHAT, c, SECONDS)
  return { result, cpuUs: proc === undefined ? 0 : ((cpuMs(proc.child.pid!) - cpu0) * 1000) / result.requests }
}

async function main(): Promise<void> {
  const pinned = pinSelf('1')
  const sim = await startSimProc(1)
  const slowSim = await startSimProc(1, ['--ttft', '100ms', '--tokens-per-second', '50'])
  const gw = await startGatewayProc(
    {
      server: { port: 0 },
      admin: { port: 0 },
      logging: { access_log: '/dev/null' },
      models: [
        { name: 'bench', upstreams: [{ url: `${sim.url}/v1` }] },
        { name: 'bench-stream', upstreams: [{ url: `${slowSim.url}/v1` }] },
      ],
    },
    0
  )
  const nginx = hasNginx() ? await startNginx(sim.url, 0) : undefined
  try {
    console.log(`# Switchyard benchmark (${SECONDS}s per run; gateway on core 0${pinned ? ', load generator and simulator on core 1' : ', taskset missing: layout left to the scheduler'})\n`)
    // Warm-up: JIT, connection pools.
    await load(`${gw.url}/v1/chat/completions`, CHAT, 16, 2)
    await load(`${sim.url}/v1/chat/completions`, CHAT, 16, 1)
    if (nginx !== undefined) await load(`${nginx.url}/v1/chat/completions`, CHAT, 16, 1)
    const rssWarm = rssMiB(gw.child.pid!)

    console.log(`| non-streaming (median of ${ROUNDS} alternating rounds) | direct req/s | via req/s | ratio | direct p50 / p99 ms | via p50 / p99 ms | added p50 ms | proxy CPU µs/req | errors |`)
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for (const c of [1, 64]) {
      const runs: { direct: Measured[]; gw: Measured[]; nginx: Measured[] } = { direct: [], gw: [], nginx: [] }
      for (let i = 0; i < ROUNDS; i++) {
        runs.direct.push(await measure(sim.url, c))
        runs.gw.push(await measure(gw.url, c, gw))
        if (nginx !== undefined) runs.nginx.push(await measure(nginx.url, c, nginx))
      }
      const direct = medianOf(runs.direct).result
      const via = medianOf(runs.gw)
      console.log(row(`gateway, concurrency ${c}`, direct, via.result, via.cpuUs))
      if (nginx !== undefined) {
        const n = medianOf(runs.nginx)
        console.log(row(`  nginx, concurrency ${c}`, direct, n.result, n.cpuUs))
        console.log(`| gateway CPU per request ÷ nginx's, concurrency ${c} | | | ${fmt(via.cpuUs / n.cpuUs, 2)}× | | | | | |`)
      }
    }
    if (nginx === undefined) console.log('(nginx is not installed: its reference rows are skipped)')
    if (pinned) {
      // The same pair with the load generator free to use both cores: it then takes CPU from
      // the gateway's core, and the ratio measures the total CPU per request instead.
      pinSelf('0,1')
      const direct = await measure(sim.url, 64)
      const via = await measure(gw.url, 64, gw)
      pinSelf('1')
      console.log(row('gateway, concurrency 64, load generator on either core', direct.result, via.result, via.cpuUs))
    }

    const sbody = STREAM.replace('"bench"', '"bench-stream"')
    const sd = await streams(`${slowSim.url}/v1/chat/completions`, sbody, 256)
    const sg = await streams(`${gw.url}/v1/chat/completions`, sbody, 256)
    console.log('\n| 256 concurrent streams (ttft 100 ms, 50 tok/s, 50 tokens) | ttfb p50 / p99 ms | total p50 / p99 ms | errors |')
    console.log('| --- | --- | --- | --- |')
    console.log(`| direct | ${fmt(sd.ttfbP50, 1)} / ${fmt(sd.ttfbP99, 1)} | ${fmt(sd.totalP50, 0)} / ${fmt(sd.totalP99, 0)} | ${sd.errors} |`)
    console.log(`| gateway | ${fmt(sg.ttfbP50, 1)} / ${fmt(sg.ttfbP99, 1)} | ${fmt(sg.totalP50, 0)} / ${fmt(sg.totalP99, 0)} | ${sg.errors} |`)

    filterRows()
    const obs = await benchObservability(sim.url, SECONDS)
    printObservability(obs)
    const hooks = await reportingCost()
    const total = hooks.reduce((a, h) => a + h.us, 0)
    console.log(
      `Reporting hooks, CPU per request (in-process, usage worker included): ${hooks.map((h) => `${h.name} ${fmt(h.us, 2)} µs`).join(', ')}; ` +
        `total ${fmt(total, 1)} µs = ${fmt((100 * total) / (obs.cpuPerRequest.off * 1000), 1)}% of the gateway's ${fmt(obs.cpuPerRequest.off * 1000, 0)} µs per request with all off`
    )

    // Sampled in quarters: a leak climbs from one to the next; GC makes RSS swing, not climb.
    const samples: string[] = []
    let soaked = 0
    let soakErrors = 0
    for (let q = 1; q <= 4; q++) {
      const part = await load(`${gw.url}/v1/chat/completions`, CHAT, 64, 150, Math.ceil(SOAK_REQUESTS / 4))
      soaked += part.requests
      soakErrors += part.errors
      samples.push(`${fmt(rssMiB(gw.child.pid!), 1)} after ${soaked}`)
    }
    console.log(`\nRSS (MiB): ${fmt(rssWarm, 1)} after warm-up; ${samples.join(', ')} more requests (${soakErrors} errors)`)
  } finally {
    await gw.stop()
    await nginx?.stop()
  }
  try {
    await benchAuthLimits(sim, SECONDS)
  } finally {
    await sim.stop()
    await slowSim.stop()
  }
}

/** BENCH_ONLY=auth: just the cost of keys and limits. */
async function authOnly(): Promise<void> {
  pinSelf('1')
  const sim = await startSimProc(1)
  try {
    await benchAuthLimits(sim, SECONDS)
  } finally {
    await sim.stop()
  }
}

/** BENCH_ONLY=reporting: just the cost of the access log, metrics and usage recording. */
async function reportingOnly(): Promise<void> {
  pinSelf('1')
  const sim = await startSimProc(1)
  try {
    printObservability(await benchObservability(sim.url, SECONDS))
  } finally {
    await sim.stop()
  }
}

// BENCH_ONLY=failover runs just the failover scenarios; =auth just keys and limits; =reporting
// just logging, metrics and usage.
if (process.env.BENCH_ONLY === 'auth') await authOnly()
else if (process.env.BENCH_ONLY === 'reporting') await reportingOnly()
else {
  if (process.env.BENCH_ONLY !== 'failover') await main()
  await failoverBench(SECONDS)
}
