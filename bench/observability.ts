// Cost of the reporting features: throughput and latency with the access log (to a file),
// Prometheus metrics and usage recording (SQLite) on, against all of them off. The two
// gateways run side by side on the same core and are measured in alternation.
import { join } from 'node:path'
import { benchDir, cpuMs, fmt, load, median, settleDisk, startGatewayProc, type LoadResult, type Proc } from './lib.js'

export interface ObservabilityBench {
  readonly off: LoadResult
  readonly on: LoadResult
  /** Throughput with everything on as a share of all off: the median over back-to-back pairs. */
  readonly ratio: number
  readonly ratios: readonly number[]
  /** Gateway CPU time per request (ms), which other load on the machine disturbs far less than req/s. */
  readonly cpuPerRequest: { readonly off: number; readonly on: number }
}

const BODY = JSON.stringify({ model: 'bench', max_tokens: 16, messages: [{ role: 'user', content: 'Hello, benchmark' }] })

function merge(runs: readonly LoadResult[]): LoadResult {
  const avg = (k: 'rps' | 'p50' | 'p99'): number => runs.reduce((a, r) => a + r[k], 0) / runs.length
  return { requests: runs.reduce((a, r) => a + r.requests, 0), errors: runs.reduce((a, r) => a + r.errors, 0), rps: avg('rps'), p50: avg('p50'), p99: avg('p99') }
}

/**
 * Runs `rounds` back-to-back pairs (off, on; the order alternates), `seconds` each. The
 * median of the pairs' ratios resists what else the machine is doing better than totals.
 */
export async function benchObservability(simUrl: string, seconds: number, rounds = 10): Promise<ObservabilityBench> {
  const dir = benchDir('switchyard-bench-obs-')
  const models = [{ name: 'bench', upstreams: [{ url: `${simUrl}/v1` }] }]
  const base = { server: { port: 0 }, admin: { port: 0 }, models }
  let off: Proc | undefined
  let on: Proc | undefined
  try {
    off = await startGatewayProc({ ...base, logging: { access_log: 'off' }, metrics: { enabled: false }, usage: { enabled: false } }, 0)
    on = await startGatewayProc({ ...base, logging: { access_log: join(dir, 'access.log') }, usage: { sqlite: join(dir, 'usage.db') } }, 0)
    const url = (p: Proc): string => `${p.url}/v1/chat/completions`
    await load(url(off), BODY, 16, 1)
    await load(url(on), BODY, 16, 1)
    const offRuns: LoadResult[] = []
    const onRuns: LoadResult[] = []
    const ratios: number[] = []
    const cpu = new Map<Proc, { ms: number; requests: number }>([[off, { ms: 0, requests: 0 }], [on, { ms: 0, requests: 0 }]])
    const measure = async (p: Proc): Promise<LoadResult> => {
      settleDisk()
      const before = cpuMs(p.child.pid!)
      const r = await load(url(p), BODY, 64, seconds)
      const c = cpu.get(p)!
      c.ms += cpuMs(p.child.pid!) - before
      c.requests += r.requests
      return r
    }
    for (let i = 0; i < rounds; i++) {
      const first = i % 2 === 0 ? off : on
      const x = await measure(first)
      const y = await measure(first === off ? on : off)
      const [a, b] = first === off ? [x, y] : [y, x]
      offRuns.push(a)
      onRuns.push(b)
      ratios.push(b.rps / a.rps)
    }
    const perRequest = (p: Proc): number => cpu.get(p)!.ms / cpu.get(p)!.requests
    return { off: merge(offRuns), on: merge(onRuns), ratio: median(ratios), ratios, cpuPerRequest: { off: perRequest(off), on: perRequest(on) } }
  } finally {
    await off?.stop()
    await on?.stop()
  }
}

export function printObservability(r: ObservabilityBench): void {
  const us = (ms: number): string => fmt(ms * 1000, 0)
  console.log('\n| logging + metrics + usage (non-streaming, concurrency 64) | req/s | p50 / p99 ms | gateway CPU µs / request | errors |')
  console.log('| --- | --- | --- | --- | --- |')
  console.log(`| all off | ${fmt(r.off.rps, 0)} | ${fmt(r.off.p50, 3)} / ${fmt(r.off.p99, 3)} | ${us(r.cpuPerRequest.off)} | ${r.off.errors} |`)
  console.log(`| all on (access log to a file, /metrics, usage in SQLite) | ${fmt(r.on.rps, 0)} | ${fmt(r.on.p50, 3)} / ${fmt(r.on.p99, 3)} | ${us(r.cpuPerRequest.on)} | ${r.on.errors} |`)
  console.log(
    `\nThroughput with reporting on: ${fmt(100 * r.ratio, 1)}% of all off (median of ${r.ratios.length} back-to-back pairs: ` +
      `${r.ratios.map((x) => `${fmt(100 * x, 0)}%`).join(', ')}); cost ${fmt(100 * (1 - r.ratio), 1)}%, budget 10%`
  )
  const cpuCost = 1 - r.cpuPerRequest.off / r.cpuPerRequest.on
  console.log(`CPU per request with reporting on: +${fmt(100 * (r.cpuPerRequest.on / r.cpuPerRequest.off - 1), 1)}%, i.e. ${fmt(100 * cpuCost, 1)}% less throughput on a saturated core`)
}
