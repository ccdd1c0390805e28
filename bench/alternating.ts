// Two gateways measured one at a time, alternating, each alone on core 0 while it runs (the
// layout of a real deployment: one gateway, its core to itself). Side by side
// (bench/side-by-side.ts) is steadier against the machine's swings, but the two gateways
// share one core's caches, and most of what keys and limits cost is cache misses (the
// first touch of a request's counters and code): sharing may overstate it. This measures
// the same pair without that sharing, and says how sure it is.
//
// A pass runs A B A B … A (each window after an untimed warm-up) and gives each B window the
// mean of the A windows either side of it as its baseline, so a steady drift of the machine
// cancels. Two passes: A started first and run first, then B started first and run first
// (its A windows are then the ones between Bs). The answer is the mean of every pair's B/A
// with a 95% interval by bootstrap (pairs resampled), for CPU per request and for requests/s.
import { cpuMs, load, median, type LoadResult, type Proc } from './lib.js'
import { startSides, type Side, type SideBySideOptions } from './side-by-side.js'

export interface Estimate {
  readonly mean: number
  readonly low: number
  readonly high: number
  readonly median: number
}

export interface AlternatingPass {
  readonly bFirst: boolean
  /** Each pair's B/A CPU per request and B/A requests/s. */
  readonly cpuRatios: readonly number[]
  readonly rpsRatios: readonly number[]
  /** A's CPU per request (µs, median of its windows) and the share of its core it used. */
  readonly cpuA: number
  readonly busyA: number
}

export interface Alternating {
  readonly passes: readonly [AlternatingPass, AlternatingPass]
  readonly cpu: Estimate
  readonly rps: Estimate
}

interface Window {
  readonly result: LoadResult
  readonly cpuUs: number
  /** CPU ms over wall ms: 1 means the gateway's core was its bottleneck. */
  readonly busy: number
}

/** Untimed load before each window, so neither side is measured while it warms up again. */
const WARM_SECONDS = 0.5

/** Sends load to a gateway: bench/lib.ts load (undici) unless the caller brings another. */
export type Driver = (url: string, seconds: number) => Promise<LoadResult>

export async function alternating(a: Side, b: Side, o: SideBySideOptions, driver?: Driver): Promise<Alternating> {
  const drive: Driver = driver ?? ((url, seconds) => load(url, o.body, o.concurrency, seconds, Number.POSITIVE_INFINITY, o.headers))
  const one = await pass(a, b, o, false, drive)
  const two = await pass(a, b, o, true, drive)
  const cpu = [...one.cpuRatios, ...two.cpuRatios]
  const rps = [...one.rpsRatios, ...two.rpsRatios]
  return { passes: [one, two], cpu: estimate(cpu), rps: estimate(rps) }
}

async function pass(a: Side, b: Side, o: SideBySideOptions, bFirst: boolean, drive: Driver): Promise<AlternatingPass> {
  const procs: Proc[] = []
  try {
    const [ga, gb] = await startSides(a, b, bFirst, procs)
    const [g1, g2] = bFirst ? [gb, ga] : [ga, gb]
    const window = async (g: Proc): Promise<Window> => {
      await drive(`${g.url}${o.path}`, WARM_SECONDS)
      const c0 = cpuMs(g.child.pid!)
      const t0 = performance.now()
      const result = await drive(`${g.url}${o.path}`, o.seconds)
      const ms = cpuMs(g.child.pid!) - c0
      if (result.errors > 0) throw new Error(`${result.errors} errors in a window`)
      return { result, cpuUs: (ms * 1000) / result.requests, busy: ms / (performance.now() - t0) }
    }
    // Warm-up: JIT and connections, each alone.
    await drive(`${g1.url}${o.path}`, 2)
    await drive(`${g2.url}${o.path}`, 2)
    // X Y X Y … X, X being the side started first; pairs are each Y with the Xs around it.
    const [gx, gy] = bFirst ? [gb, ga] : [ga, gb]
    const xs: Window[] = [await window(gx)]
    const ys: Window[] = []
    for (let i = 0; i < o.rounds; i++) {
      ys.push(await window(gy))
      xs.push(await window(gx))
    }
    const cpuRatios: number[] = []
    const rpsRatios: number[] = []
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i]!
      const xCpu = (xs[i]!.cpuUs + xs[i + 1]!.cpuUs) / 2
      const xRps = (xs[i]!.result.rps + xs[i + 1]!.result.rps) / 2
      // Always B over A.
      cpuRatios.push(bFirst ? xCpu / y.cpuUs : y.cpuUs / xCpu)
      rpsRatios.push(bFirst ? xRps / y.result.rps : y.result.rps / xRps)
    }
    const aWindows = bFirst ? ys : xs
    return { bFirst, cpuRatios, rpsRatios, cpuA: median(aWindows.map((w) => w.cpuUs)), busyA: median(aWindows.map((w) => w.busy)) }
  } finally {
    for (const p of procs) await p.stop()
  }
}

/** Mean, median and a 95% bootstrap interval of the mean (5,000 resamples, a fixed seed so a rerun of the same data agrees). */
export function estimate(xs: readonly number[]): Estimate {
  const n = xs.length
  const mean = xs.reduce((s, x) => s + x, 0) / n
  let seed = 0x9e3779b9
  const random = (): number => {
    // xorshift32: deterministic, enough for resampling.
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) / 0x1_0000_0000
  }
  const means: number[] = []
  for (let r = 0; r < 5000; r++) {
    let s = 0
    for (let i = 0; i < n; i++) s += xs[Math.floor(random() * n)]!
    means.push(s / n)
  }
  means.sort((p, q) => p - q)
  return { mean, low: means[Math.floor(0.025 * means.length)]!, high: means[Math.floor(0.975 * means.length)]!, median: median(xs) }
}
