// `npm run bench`: direct-to-simulator against through-the-gateway, on this machine.
// The gateway is pinned to core 0; the simulator and the load generator share core 1.
import { failoverBench } from './failover.js'
import { filterRows } from './filters.js'
import { hasNginx, startNginx } from './nginx.js'
import { benchAuthLimits } from './auth-limits.js'
import { cpuMs, fmt, load, rssMiB, startGatewayProc, startSimProc, streams, type LoadResult } from './lib.js'
import { benchObservability, printObservability } from './observability.js'
import { reportingCost } from './reporting-cost.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const SOAK_REQUESTS = Number(process.env.BENCH_SOAK ?? 200_000)
const CHAT = JSON.stringify({ model: 'bench', max_tokens: 16, messages: [{ role: 'user', content: 'Hello, benchmark' }] })
const STREAM = JSON.stringify({ model: 'bench', stream: true, max_tokens: 50, ignore_eos: true, messages: [{ role: 'user', content: 'stream' }] })

function row(name: string, direct: LoadResult, via: LoadResult, cpuPerReqUs: number): string {
  return `| ${name} | ${fmt(direct.rps, 0)} | ${fmt(via.rps, 0)} | ${fmt((100 * via.rps) / direct.rps, 0)}% | ${fmt(direct.p50, 3)} / ${fmt(direct.p99, 3)} | ${fmt(via.p50, 3)} / ${fmt(via.p99, 3)} | ${fmt(via.p50 - direct.p50, 3)} | ${fmt(cpuPerReqUs, 0)} | ${via.errors} |`
}

async function main(): Promise<void> {
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
  try {
    console.log(`# Switchyard benchmark (${SECONDS}s per run; gateway on one core)\n`)
    // Warm-up: JIT, connection pools.
    await load(`${gw.url}/v1/chat/completions`, CHAT, 16, 2)
    await load(`${sim.url}/v1/chat/completions`, CHAT, 16, 1)
    const rssWarm = rssMiB(gw.child.pid!)

    console.log('| non-streaming | direct req/s | gateway req/s | ratio | direct p50 / p99 ms | gateway p50 / p99 ms | added p50 ms | gateway CPU µs/req | errors |')
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for (const c of [1, 64]) {
      const direct = await load(`${sim.url}/v1/chat/completions`, CHAT, c, SECONDS)
      const cpu0 = cpuMs(gw.child.pid!)
      const via = await load(`${gw.url}/v1/chat/completions`, CHAT, c, SECONDS)
      const cpu = ((cpuMs(gw.child.pid!) - cpu0) * 1000) / via.requests
      console.log(row(`concurrency ${c}`, direct, via, cpu))
      if (hasNginx()) {
        const nginx = await startNginx(sim.url, 0)
        await load(`${nginx.url}/v1/chat/completions`, CHAT, c, 1)
        const n0 = cpuMs(nginx.child.pid!)
        const vn = await load(`${nginx.url}/v1/chat/completions`, CHAT, c, SECONDS)
        const ncpu = ((cpuMs(nginx.child.pid!) - n0) * 1000) / vn.requests
        console.log(row(`  nginx, concurrency ${c}`, direct, vn, ncpu))
        await nginx.stop()
      }
    }
    if (!hasNginx()) console.log('(nginx is not installed: its reference rows are skipped)')

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

    const soak = await load(`${gw.url}/v1/chat/completions`, CHAT, 64, 600, SOAK_REQUESTS)
    const rssAfter = rssMiB(gw.child.pid!)
    console.log(`\nRSS: ${fmt(rssWarm, 1)} MiB after warm-up, ${fmt(rssAfter, 1)} MiB after ${soak.requests} more requests (${soak.errors} errors, ${fmt(soak.rps, 0)} req/s)`)
  } finally {
    await gw.stop()
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
  const sim = await startSimProc(1)
  try {
    await benchAuthLimits(sim, SECONDS)
  } finally {
    await sim.stop()
  }
}

// BENCH_ONLY=failover runs just the failover scenarios; BENCH_ONLY=auth just keys and limits.
if (process.env.BENCH_ONLY === 'auth') await authOnly()
else {
  if (process.env.BENCH_ONLY !== 'failover') await main()
  await failoverBench(SECONDS)
}
