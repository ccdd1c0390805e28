// Failover scenarios for `npm run bench`: a simulator killed under steady load (client-visible
// errors, time until traffic has fully moved), and p2c-ewma against round-robin with one slow
// simulator (tail latency). Traffic goes to 127.0.0.1 only; every loop stops on a deadline.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Pool } from 'undici'
import { benchDir, fmt, pct, startGatewayProc, startSimProc, type Proc } from './lib.js'

const CHAT = (model: string): string =>
  JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'Hello, failover' }] })

interface Sample {
  /** ms since the run started, when the request was sent */
  readonly at: number
  readonly ms: number
  readonly ok: boolean
  readonly upstream: string
}

/** `concurrency` loops until `seconds` pass; `during(elapsedMs)` runs alongside. */
async function steadyLoad(url: string, body: string, concurrency: number, seconds: number, during?: () => Promise<void>): Promise<Sample[]> {
  const u = new URL(url)
  const pool = new Pool(u.origin, { connections: concurrency })
  const samples: Sample[] = []
  const start = performance.now()
  const until = start + seconds * 1000
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      const t0 = performance.now()
      let ok = false
      let upstream = ''
      try {
        const res = await pool.request({ path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json' }, body })
        await res.body.dump({ limit: Number.MAX_SAFE_INTEGER })
        ok = res.statusCode === 200
        upstream = String(res.headers['x-switchyard-upstream'] ?? '')
      } catch {
        ok = false
      }
      samples.push({ at: t0 - start, ms: performance.now() - t0, ok, upstream })
    }
  }
  await Promise.all([...Array.from({ length: concurrency }, worker), during?.()])
  await pool.close()
  return samples
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

async function setFault(sim: Proc, fault: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${sim.url}/sim/fault`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fault) })
  await res.text()
}

async function simReceived(sim: Proc): Promise<number> {
  const res = await fetch(`${sim.url}/sim/stats`)
  return ((await res.json()) as { received: number }).received
}

/** Kill one of three simulators (SIGKILL, like a crash) two seconds into steady load. */
async function killOneOfThree(seconds: number): Promise<void> {
  const sims = [await startSimProc(1), await startSimProc(1), await startSimProc(1)]
  const logFile = join(benchDir(), 'access.log')
  const gw = await startGatewayProc(
    {
      server: { port: 0 },
      admin: { port: 0 },
      logging: { access_log: logFile },
      models: [
        {
          name: 'failover',
          strategy: 'least-outstanding',
          upstreams: sims.map((s, i) => ({ url: `${s.url}/v1`, name: `sim-${i}` })),
          health: { interval: '1s', timeout: '500ms', unhealthy_threshold: 2, healthy_threshold: 2 },
        },
      ],
    },
    0
  )
  try {
    const url = `${gw.url}/v1/chat/completions`
    await steadyLoad(url, CHAT('failover'), 16, 1) // warm-up
    const killAt = 2000
    let killedAtWall = 0
    const samples = await steadyLoad(url, CHAT('failover'), 32, Math.max(6, seconds), async () => {
      await sleep(killAt)
      killedAtWall = Date.now()
      sims[0]!.child.kill('SIGKILL')
    })
    const errors = samples.filter((s) => !s.ok).length
    // Traffic has fully moved when no request touches the dead simulator any more: the last
    // access-log line after the kill that needed a retry (or was served by it) marks the end.
    const lines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith('{'))
    let lastTouch = killedAtWall
    let retried = 0
    for (const line of lines) {
      const entry = JSON.parse(line) as { time: string; duration_ms: number; retries: number; upstream: string | null }
      const started = Date.parse(entry.time)
      if (started < killedAtWall - 1000) continue
      if (entry.retries > 0 || entry.upstream === 'sim-0') {
        if (entry.retries > 0) retried++
        lastTouch = Math.max(lastTouch, started + entry.duration_ms)
      }
    }
    const before = samples.filter((s) => s.at < killAt).map((s) => s.ms).sort((a, b) => a - b)
    const window = samples.filter((s) => s.at >= killAt && s.at < killAt + 1000).map((s) => s.ms).sort((a, b) => a - b)
    console.log('\n| failover: kill 1 of 3 simulators (SIGKILL) under 32 concurrent clients | value |')
    console.log('| --- | --- |')
    console.log(`| requests / client-visible errors | ${samples.length} / ${errors} |`)
    console.log(`| requests retried after the kill | ${retried} |`)
    console.log(`| time until traffic fully moved | ${fmt(lastTouch - killedAtWall, 0)} ms |`)
    console.log(`| p50 / p99 before the kill | ${fmt(pct(before, 50), 2)} / ${fmt(pct(before, 99), 2)} ms |`)
    console.log(`| p50 / p99 in the second after the kill | ${fmt(pct(window, 50), 2)} / ${fmt(pct(window, 99), 2)} ms |`)
  } finally {
    await gw.stop()
    for (const s of sims) await s.stop()
  }
}

/** Three simulators, one made slow (`slow` fault): tail latency under each strategy. */
async function slowOneOfThree(seconds: number, slowMs: number): Promise<void> {
  const sims = [await startSimProc(1), await startSimProc(1), await startSimProc(1)]
  const strategies = ['round-robin', 'least-outstanding', 'p2c-ewma'] as const
  const gw = await startGatewayProc(
    {
      server: { port: 0 },
      admin: { port: 0 },
      logging: { access_log: 'off' },
      models: strategies.map((strategy) => ({
        name: strategy,
        strategy,
        upstreams: sims.map((s, i) => ({ url: `${s.url}/v1`, name: `sim-${i}` })),
      })),
    },
    0
  )
  try {
    await setFault(sims[2]!, { mode: 'slow', latency_ms: slowMs })
    console.log(`\n| one of 3 simulators slow (+${slowMs} ms), 32 concurrent clients | req/s | p50 ms | p90 ms | p99 ms | share to the slow one | errors |`)
    console.log('| --- | --- | --- | --- | --- | --- | --- |')
    for (const strategy of strategies) {
      const url = `${gw.url}/v1/chat/completions`
      await steadyLoad(url, CHAT(strategy), 8, 1) // warm-up: latencies get measured
      const slowBefore = await simReceived(sims[2]!)
      const samples = await steadyLoad(url, CHAT(strategy), 32, seconds)
      const slowShare = ((await simReceived(sims[2]!)) - slowBefore) / samples.length
      const ms = samples.filter((s) => s.ok).map((s) => s.ms).sort((a, b) => a - b)
      const errors = samples.length - ms.length
      console.log(`| ${strategy} | ${fmt(ms.length / seconds, 0)} | ${fmt(pct(ms, 50), 2)} | ${fmt(pct(ms, 90), 2)} | ${fmt(pct(ms, 99), 2)} | ${fmt(100 * slowShare, 1)}% | ${errors} |`)
    }
  } finally {
    await gw.stop()
    for (const s of sims) await s.stop()
  }
}

export async function failoverBench(seconds: number): Promise<void> {
  await killOneOfThree(seconds)
  await slowOneOfThree(seconds, 250)
}
