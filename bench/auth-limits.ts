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
  readonly name: string
  readonly result: LoadResult
  readonly cpuUsPerReq: number
}

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

async function measure(name: string, config: Record<string, unknown>, key: string, concurrency: number, seconds: number): Promise<Run> {
  const gw = await startGatewayProc(config, 0)
  const headers = { authorization: `Bearer ${key}` }
  try {
    await load(`${gw.url}/v1/chat/completions`, CHAT, 16, 2, Number.POSITIVE_INFINITY, headers)
    const cpu0 = cpuMs(gw.child.pid!)
    const result = await load(`${gw.url}/v1/chat/completions`, CHAT, concurrency, seconds, Number.POSITIVE_INFINITY, headers)
    return { name, result, cpuUsPerReq: ((cpuMs(gw.child.pid!) - cpu0) * 1000) / result.requests }
  } finally {
    await gw.stop()
  }
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

  console.log('\n## Auth and limits on the hot path\n')
  if (redis === undefined) console.log('(redis-server not found: the Redis row is skipped)\n')
  console.log('| concurrency | configuration | req/s | vs off | p50 / p99 ms | gateway CPU µs/req | errors |')
  console.log('| --- | --- | --- | --- | --- | --- | --- |')
  try {
    for (const c of [64, 1]) {
      // Two interleaved rounds, keeping each configuration's better run (a noisy machine
      // slows whichever run it happens to hit).
      const best = new Map<string, Run>()
      for (let round = 0; round < 2; round++) {
        for (const [name, config] of configs) {
          const run = await measure(name, config, key, c, seconds)
          const prev = best.get(name)
          if (prev === undefined || run.result.rps > prev.result.rps) best.set(name, run)
        }
      }
      const off = best.get(configs[0]![0])!.result.rps
      for (const [name] of configs) {
        const r = best.get(name)!
        console.log(
          `| ${c} | ${name} | ${fmt(r.result.rps, 0)} | ${fmt((100 * r.result.rps) / off, 1)}% | ${fmt(r.result.p50, 3)} / ${fmt(r.result.p99, 3)} | ${fmt(r.cpuUsPerReq, 0)} | ${r.result.errors} |`
        )
      }
    }
    if (redis !== undefined) await roundTrips(sim, key, hash, redis.url, seconds)
  } finally {
    redis?.stop()
  }
}

/** Script calls (EVALSHA + EVAL) per request, from Redis' own counters. */
async function roundTrips(sim: Proc, key: string, hash: string, url: string, seconds: number): Promise<void> {
  const gw = await startGatewayProc(limitedConfig(sim, hash, url), 0)
  const client = new Redis(url)
  const headers = { authorization: `Bearer ${key}` }
  try {
    await load(`${gw.url}/v1/chat/completions`, CHAT, 8, 1, Number.POSITIVE_INFINITY, headers)
    await new Promise((r) => setTimeout(r, 100))
    const before = await scriptCalls(client)
    const run = await load(`${gw.url}/v1/chat/completions`, CHAT, 64, seconds, Number.POSITIVE_INFINITY, headers)
    await new Promise((r) => setTimeout(r, 100)) // the last settlements, sent on their own
    const calls = (await scriptCalls(client)) - before
    console.log(
      `\nRedis round trips: ${calls} script calls for ${run.requests} requests = ${fmt(calls / run.requests, 3)} per request ` +
        `(INFO commandstats, EVALSHA + EVAL). On the request's path there is exactly one (the admit); a finished ` +
        `request's settlement rides on the next admit, or goes alone after 5 ms when none comes.`
    )
  } finally {
    client.disconnect()
    await gw.stop()
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
