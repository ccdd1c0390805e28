// The cost of keys and limits on the hot path: the same gateway with auth and limits off,
// on with the memory store, and on with a Redis store (our own redis-server on a free port),
// plus the Redis round trips per request counted from INFO commandstats.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { formatKeyHash, generateKey } from '../src/auth/keys.js'
import { cpuMs, fmt, load, startGatewayProc, type LoadResult, type Proc } from './lib.js'

const CHAT = JSON.stringify({ model: 'bench', max_tokens: 16, messages: [{ role: 'user', content: 'Hello, benchmark' }] })
const BIG = 1_000_000_000

interface Run {
  readonly result: LoadResult
  readonly cpuUsPerReq: number
}

/** Rounds per configuration; they alternate, and the median is reported (noisy machines). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

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
  const cpu0 = cpuMs(gw.child.pid!)
  const result = await load(`${gw.url}/v1/chat/completions`, CHAT, concurrency, seconds, Number.POSITIVE_INFINITY, headers)
  return { result, cpuUsPerReq: ((cpuMs(gw.child.pid!) - cpu0) * 1000) / result.requests }
}

function median(runs: Run[]): Run {
  return [...runs].sort((a, b) => a.result.rps - b.result.rps)[Math.floor(runs.length / 2)]!
}

export async function benchAuthLimits(sim: Proc, seconds: number): Promise<void> {
  const key = generateKey()
  const hash = formatKeyHash(key)
  const redis = await startRedis()
  const configs: [string, Record<string, unknown>][] = [
    ['off (no auth, no limits)', baseConfig(sim)],
    ['keys + 7 limits, memory store', limitedConfig(sim, hash)],
  ]
  if (redis !== undefined) configs.push(['keys + 7 limits, Redis store', limitedConfig(sim, hash, redis.url)])
  const gateways: Proc[] = []
  try {
    // All three run side by side (idle ones cost nothing), pinned to the gateway's core.
    for (const [, config] of configs) gateways.push(await startGatewayProc(config, 0))
    for (const gw of gateways) await load(`${gw.url}/v1/chat/completions`, CHAT, 16, 2, Number.POSITIVE_INFINITY, { authorization: `Bearer ${key}` })

    console.log(`\n## Auth and limits on the hot path (median of ${ROUNDS} alternating ${seconds}s runs)\n`)
    if (redis === undefined) console.log('(redis-server not found: the Redis row is skipped)\n')
    console.log('| concurrency | configuration | req/s | vs off | p50 / p99 ms | gateway CPU µs/req | errors |')
    console.log('| --- | --- | --- | --- | --- | --- | --- |')
    for (const c of [64, 1]) {
      const runs: Run[][] = configs.map(() => [])
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < gateways.length; i++) runs[i]!.push(await measure(gateways[i]!, key, c, seconds))
      }
      const off = median(runs[0]!)
      configs.forEach(([name], i) => {
        const m = median(runs[i]!)
        const cpu = runs[i]!.map((r) => r.cpuUsPerReq).sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!
        console.log(
          `| ${c} | ${name} | ${fmt(m.result.rps, 0)} | ${fmt((100 * m.result.rps) / off.result.rps, 1)}% | ${fmt(m.result.p50, 3)} / ${fmt(m.result.p99, 3)} | ${fmt(cpu, 0)} | ${m.result.errors} |`
        )
      })
    }
    if (redis !== undefined) await roundTrips(gateways[2]!, key, redis.url, seconds)
  } finally {
    await Promise.all(gateways.map((g) => g.stop()))
    redis?.stop()
  }
}

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
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
  // Redis shares core 1 with the simulator and the load generator; the gateway has core 0.
  const argv = ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const pinned = spawnSync('taskset', ['--version']).status === 0
  const child: ChildProcess = spawn(pinned ? 'taskset' : argv[0]!, pinned ? ['-c', '1', ...argv] : argv.slice(1), {
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
