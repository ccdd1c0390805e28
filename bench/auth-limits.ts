// The cost of keys and limits on the hot path: the same gateway with auth and limits off,
// on with the memory store, and on with a Redis store (our own redis-server on a free port),
// plus the Redis round trips per request counted from INFO commandstats.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Redis } from 'ioredis'
import pino from 'pino'
import { authenticate, checkModelAccess } from '../src/auth/authenticate.js'
import { KeyRing } from '../src/auth/key-ring.js'
import { formatKeyHash, generateKey } from '../src/auth/keys.js'
import { parseConfig } from '../src/config/load.js'
import { buildSnapshot } from '../src/config/snapshot.js'
import { MemoryStore } from '../src/limits/memory-store.js'
import { RateLimiter } from '../src/limits/rate-limiter.js'
import { SpendLedger } from '../src/limits/spend-ledger.js'
import { TokenEstimator } from '../src/tokens/token-estimate.js'
import type { Upstream } from '../src/routing/upstream.js'
import { RequestContext } from '../src/server/context.js'
import { cpuMs, fmt, freePort, load, median, startGatewayProc, type LoadResult, type Proc } from './lib.js'
import { balancedOrders } from './balanced-orders.js'
import { describePasses, disagreement, sideBySide, verdict } from './side-by-side.js'

const CHAT = JSON.stringify({ model: 'bench', max_tokens: 16, messages: [{ role: 'user', content: 'Hello, benchmark' }] })
const BIG = 1_000_000_000

interface Run {
  readonly result: LoadResult
  readonly cpuUsPerReq: number
}

/** Rounds per configuration (default: each balanced order twice); the median is reported (noisy machines). */
const ROUNDS_SET = process.env.BENCH_ROUNDS === undefined ? undefined : Number(process.env.BENCH_ROUNDS)

/** Untimed load before each timed run, so no configuration is measured while it warms up. */
const WARM_SECONDS = 0.5

/** Every limit kind at once (none of them binding): 7 checks per request. */
function limitedConfig(sim: Proc, hash: string, redisUrl?: string): Record<string, unknown> {
  return {
    ...baseConfig(sim),
    auth: {
      keys: [{ name: 'bench', hash, models: ['bench'], limits: { requests_per_minute: BIG, tokens_per_minute: BIG, concurrency: 100_000 }, budget_usd: BIG }],
    },
    limits: { per_ip: { requests_per_minute: BIG, concurrency: 100_000 }, per_model: { bench: { tokens_per_minute: BIG } } },
    prices: { bench: { input: 0.15, output: 0.6 } },
    ...(redisUrl !== undefined && { state: { redis: redisUrl } }),
  }
}

function baseConfig(sim: Proc): Record<string, unknown> {
  return {
    server: { port: 0 },
    admin: { port: 0 },
    logging: { access_log: '/dev/null' },
    models: [{ name: 'bench', upstreams: [{ url: `${sim.url}/v1` }] }],
  }
}

async function measure(gw: Proc, key: string, concurrency: number, seconds: number): Promise<Run> {
  const headers = { authorization: `Bearer ${key}` }
  await load(`${gw.url}/v1/chat/completions`, CHAT, concurrency, WARM_SECONDS, Number.POSITIVE_INFINITY, headers)
  const cpu0 = cpuMs(gw.child.pid!)
  const result = await load(`${gw.url}/v1/chat/completions`, CHAT, concurrency, seconds, Number.POSITIVE_INFINITY, headers)
  return { result, cpuUsPerReq: ((cpuMs(gw.child.pid!) - cpu0) * 1000) / result.requests }
}

/** The run of median throughput (its latencies are reported with it). */
function medianRun(runs: Run[]): Run {
  return [...runs].sort((a, b) => a.result.rps - b.result.rps)[Math.floor(runs.length / 2)]!
}

/**
 * The hooks alone, in this process: the request contexts the gateway would make, run through
 * authenticate, the allow-list, admit and settle (minus the same contexts without them).
 */
function hookCostUs(sim: Proc, key: string, hash: string): number {
  const log = pino({ level: 'silent' })
  const config = parseConfig(limitedConfig(sim, hash))
  const snapshot = buildSnapshot(config).snapshot
  const route = snapshot.routes.resolve('bench')!
  const limiter = new RateLimiter({ store: new MemoryStore(), ledger: new SpendLedger(undefined, log), estimator: new TokenEstimator(log), log })
  const auth = authenticate(new KeyRing(undefined, log))
  const body = JSON.parse(CHAT) as Record<string, unknown>
  const req = { headers: { authorization: `Bearer ${key}` }, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage
  const res = {} as ServerResponse
  const upstream = {} as Upstream
  const one = (hooks: boolean): void => {
    const ctx = new RequestContext(req, res, snapshot, '/v1/chat/completions', '')
    ctx.endpoint = 'chat'
    ctx.body = body
    ctx.model = 'bench'
    ctx.route = route
    if (hooks) {
      auth(ctx)
      checkModelAccess(ctx)
      void limiter.admit(ctx)
    }
    ctx.usage = { prompt_tokens: 5, completion_tokens: 16, total_tokens: 21 }
    ctx.attempts = 1
    ctx.upstream = upstream
    ctx.status = 200
    if (hooks) limiter.settle(ctx)
  }
  const best = (hooks: boolean): number => {
    let b = Number.POSITIVE_INFINITY
    for (let round = 0; round < 10; round++) {
      const t0 = performance.now()
      for (let i = 0; i < 100_000; i++) one(hooks)
      b = Math.min(b, ((performance.now() - t0) * 1000) / 100_000)
    }
    return b
  }
  return best(true) - best(false)
}

export async function benchAuthLimits(sim: Proc, seconds: number): Promise<void> {
  const key = generateKey()
  const hash = formatKeyHash(key)
  const redis = await startRedis()
  const configs: [string, Record<string, unknown>][] = [
    ['off (no auth, no limits)', baseConfig(sim)],
    // Keys alone, so the table splits the cost between authentication and the limits.
    ['keys, no limits', { ...baseConfig(sim), auth: { keys: [{ name: 'bench', hash }] } }],
    ['keys + 7 limits, memory store', limitedConfig(sim, hash)],
  ]
  if (redis !== undefined) configs.push(['keys + 7 limits, Redis store', limitedConfig(sim, hash, redis.url)])
  const gateways: Proc[] = []
  try {
    // All run side by side (idle ones cost nothing), pinned to the gateway's core.
    for (const [, config] of configs) gateways.push(await startGatewayProc(config, 0))
    for (const gw of gateways) await load(`${gw.url}/v1/chat/completions`, CHAT, 16, 2, Number.POSITIVE_INFINITY, { authorization: `Bearer ${key}` })

    const orders = balancedOrders(gateways.length)
    const rounds = ROUNDS_SET ?? 2 * orders.length
    console.log(
      `\n## Auth and limits on the hot path (median of ${rounds} rounds of ${seconds}s runs, each after ${WARM_SECONDS}s untimed; ` +
        `every configuration in every position and after every other equally often)\n`
    )
    if (redis === undefined) console.log('(redis-server not found: the Redis row is skipped)\n')
    console.log('| concurrency | configuration | req/s | vs off | p50 / p99 ms | gateway CPU µs/req | CPU vs off | errors |')
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |')
    let offCpu64 = Number.NaN
    for (const c of [64, 1]) {
      const runs: Run[][] = configs.map(() => [])
      // Balanced orders (balancedOrders); "vs off" is the median of each round's own ratio
      // (drift between rounds cancels), CPU the median of its rounds and "CPU vs off" the
      // median of each round's own CPU ratio (steadier than req/s: at concurrency 64 the
      // gateway's core is the bottleneck, so the throughput lost follows the CPU added).
      const ratios: number[][] = configs.map(() => [])
      const cpuRatios: number[][] = configs.map(() => [])
      for (let round = 0; round < rounds; round++) {
        const order = orders[round % orders.length]!
        const got: Run[] = []
        for (const i of order) got[i] = await measure(gateways[i]!, key, c, seconds)
        got.forEach((r, i) => {
          runs[i]!.push(r)
          ratios[i]!.push(r.result.rps / got[0]!.result.rps)
          cpuRatios[i]!.push(r.cpuUsPerReq / got[0]!.cpuUsPerReq)
        })
      }
      if (c === 64) offCpu64 = median(runs[0]!.map((r) => r.cpuUsPerReq))
      configs.forEach(([name], i) => {
        const m = medianRun(runs[i]!)
        const cpu = median(runs[i]!.map((r) => r.cpuUsPerReq))
        console.log(
          `| ${c} | ${name} | ${fmt(m.result.rps, 0)} | ${fmt(100 * median(ratios[i]!), 1)}% | ${fmt(m.result.p50, 3)} / ${fmt(m.result.p99, 3)} | ` +
            `${fmt(cpu, 1)} | ${fmt(100 * median(cpuRatios[i]!), 1)}% | ${m.result.errors} |`
        )
      })
    }
    await sideBySideLine(sim, key, hash)
    const hooks = hookCostUs(sim, key, hash)
    console.log(
      `\nIn process, the auth and limit hooks (authenticate, allow-list, admit and settle with 7 limits and a budget, ` +
        `memory store) cost ${fmt(hooks, 2)} µs per request (best of 10 × 100k): ${fmt((100 * hooks) / offCpu64, 1)}% of the ` +
        `${fmt(offCpu64, 0)} µs of CPU the gateway spends per request with them off. The whole-process figures above ` +
        `swing by more than that between runs on a shared machine.`
    )
    if (redis !== undefined) await roundTrips(gateways[3]!, key, redis.url, seconds)
  } finally {
    await Promise.all(gateways.map((g) => g.stop()))
    redis?.stop()
  }
}

/** Rounds per start order of the side-by-side comparison. */
const SIDE_ROUNDS = Number(process.env.BENCH_SIDE_ROUNDS ?? 10)

/**
 * Off against keys + 7 limits (memory store), both gateways on one core at the same time:
 * the machine's swings hit both alike, which the table's back-to-back runs cannot promise.
 */
async function sideBySideLine(sim: Proc, key: string, hash: string): Promise<void> {
  const r = await sideBySide(
    { config: baseConfig(sim) },
    { config: limitedConfig(sim, hash) },
    { rounds: SIDE_ROUNDS, seconds: 3, concurrency: 32, path: '/v1/chat/completions', body: CHAT, headers: { authorization: `Bearer ${key}` } }
  )
  const cost = 100 * (r.ratio - 1)
  console.log(
    `\nSide by side (both gateways on core 0 at once, 32 clients each, ${SIDE_ROUNDS} rounds of 3 s in each start order): ` +
      `keys + 7 limits (memory store) cost ${cost >= 0 ? '+' : ''}${fmt(cost, 1)}% of CPU per request against off, so a gateway ` +
      `bound by its CPU keeps ${fmt(100 / r.ratio, 1)}% of its throughput. Passes: ${describePasses(r)}. ${disagreement(r)}`.trimEnd()
  )
  // The target, judged on this line, the steadiest of the bench's measurements.
  const v = verdict(r, TARGET_KEPT)
  console.log(
    `Target (memory store under ${fmt(100 * (1 - TARGET_KEPT), 0)}% of throughput lost): ${v} in this run` +
      `${v === 'undecided' ? ' (one pass on each side of the line)' : ''}.`
  )
}

/** The throughput the memory store's keys and limits must keep (the issue: under 5% lost). */
const TARGET_KEPT = 0.95

/** Script calls (EVALSHA + EVAL) per request, from Redis' own counters. */
async function roundTrips(gw: Proc, key: string, url: string, seconds: number): Promise<void> {
  const client = new Redis(url)
  const headers = { authorization: `Bearer ${key}` }
  try {
    await new Promise((r) => setTimeout(r, 100)) // earlier runs' last settlements
    const before = await scriptCalls(client)
    const run = await load(`${gw.url}/v1/chat/completions`, CHAT, 64, seconds, Number.POSITIVE_INFINITY, headers)
    await new Promise((r) => setTimeout(r, 100)) // this run's last settlements, sent on their own
    const calls = (await scriptCalls(client)) - before
    console.log(
      `\nRedis round trips at concurrency 64: ${calls} script calls (EVALSHA + EVAL, from INFO commandstats) for ` +
        `${run.requests} requests = ${fmt(calls / run.requests, 3)} per request. Each request's admission is exactly one ` +
        `round trip; requests that arrive in the same event-loop turn share it, and finished requests' settlements ride along.`
    )
  } finally {
    client.disconnect()
  }
}

async function scriptCalls(client: Redis): Promise<number> {
  const info = await client.info('commandstats')
  let n = 0
  for (const m of info.matchAll(/cmdstat_(evalsha|eval):calls=(\d+)/g)) n += Number(m[2])
  return n
}

interface RedisProc {
  readonly url: string
  stop(): void
}

async function startRedis(): Promise<RedisProc | undefined> {
  if (spawnSync('redis-server', ['--version']).status !== 0) return undefined
  const port = await freePort()
  // Not pinned: on two cores, pinning Redis beside the busy load generator adds the
  // scheduler's latency (about a millisecond) to every round trip; beside the gateway, it
  // takes the gateway's core. The scheduler does better than either.
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('Ready to accept connections')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code}`)))
  })
  child.stdout!.resume()
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') }
}
