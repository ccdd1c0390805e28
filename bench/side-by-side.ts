// Two gateways measured at the same time: both on core 0, each driven by its own clients
// (the same concurrency) from core 1, so whatever else the machine does in a round hits
// both alike. Back-to-back runs of one then the other drifted by more than the differences
// worth measuring (±5% between runs, up to 2× within a minute on a busy host); side by side,
// an A/A run reads 100 ± 1%. Each round gives each gateway's CPU per request and their
// ratio; a pass reports the median. Both start orders are measured (a pass each), since
// the order alone biased the ratio by about 1% on one day; the mean of the two is the
// answer. The machine's own speed can still change between the passes (one day: 115 and
// 190 µs of CPU per request with everything off), and a fixed cost is a larger share of
// the faster pass, so a result says when its passes disagree.
import { cpuMs, fmt, load, median, startGatewayProc, type CliOptions, type LoadResult, type Proc } from './lib.js'

/** One side: its config and how to run it (another build, extra environment). */
export interface Side {
  readonly config: Record<string, unknown>
  readonly options?: CliOptions
}

export interface SideBySideOptions {
  readonly rounds: number
  readonly seconds: number
  /** Clients per gateway. */
  readonly concurrency: number
  /** The request: a path on the gateway, its JSON body and extra headers. */
  readonly path: string
  readonly body: string
  readonly headers: Record<string, string>
}

export interface Pass {
  readonly bFirst: boolean
  /** Each round's B/A CPU per request. */
  readonly ratios: readonly number[]
  /** Medians: B/A, and each gateway's CPU µs per request. */
  readonly ratio: number
  readonly cpuA: number
  readonly cpuB: number
}

export interface SideBySide {
  readonly passes: readonly [Pass, Pass]
  /** The mean of the two passes' B/A. */
  readonly ratio: number
}

/** Both passes (A started first, then B), each with freshly started gateways. */
export async function sideBySide(a: Side, b: Side, o: SideBySideOptions): Promise<SideBySide> {
  const one = await pass(a, b, o, false)
  const two = await pass(a, b, o, true)
  return { passes: [one, two], ratio: (one.ratio + two.ratio) / 2 }
}

async function pass(a: Side, b: Side, o: SideBySideOptions, bFirst: boolean): Promise<Pass> {
  const procs: Proc[] = []
  try {
    const [ga, gb] = await startSides(a, b, bFirst, procs)
    const both = (seconds: number): Promise<[LoadResult, LoadResult]> =>
      Promise.all([
        load(`${ga.url}${o.path}`, o.body, o.concurrency, seconds, Number.POSITIVE_INFINITY, o.headers),
        load(`${gb.url}${o.path}`, o.body, o.concurrency, seconds, Number.POSITIVE_INFINITY, o.headers),
      ])
    await both(2) // warm-up: JIT and connections
    const ratios: number[] = []
    const cpuA: number[] = []
    const cpuB: number[] = []
    for (let i = 0; i < o.rounds; i++) {
      const a0 = cpuMs(ga.child.pid!)
      const b0 = cpuMs(gb.child.pid!)
      const [ra, rb] = await both(o.seconds)
      if (ra.errors > 0 || rb.errors > 0) throw new Error(`errors in a round: A ${ra.errors}, B ${rb.errors}`)
      const ua = ((cpuMs(ga.child.pid!) - a0) * 1000) / ra.requests
      const ub = ((cpuMs(gb.child.pid!) - b0) * 1000) / rb.requests
      cpuA.push(ua)
      cpuB.push(ub)
      ratios.push(ub / ua)
    }
    return { bFirst, ratios, ratio: median(ratios), cpuA: median(cpuA), cpuB: median(cpuB) }
  } finally {
    for (const p of procs) await p.stop()
  }
}

/** Both gateways on core 0, B first when `bFirst` (each pushed onto `procs` as it starts, for stopping); [A, B]. */
export async function startSides(a: Side, b: Side, bFirst: boolean, procs: Proc[]): Promise<[Proc, Proc]> {
  const start = async (s: Side): Promise<Proc> => {
    const p = await startGatewayProc(s.config, 0, s.options)
    procs.push(p)
    return p
  }
  if (bFirst) {
    const gb = await start(b)
    return [await start(a), gb]
  }
  const ga = await start(a)
  return [ga, await start(b)]
}

/** The passes: "B/A 104.5% (A started first; A at 186.7 µs of CPU per request) and 110.9% (B first; A at 114.7 µs)". */
export function describePasses(r: SideBySide): string {
  const [one, two] = r.passes
  return (
    `B/A ${fmt(100 * one.ratio, 1)}% (A started first; A at ${fmt(one.cpuA, 1)} µs of CPU per request) and ` +
    `${fmt(100 * two.ratio, 1)}% (B first; A at ${fmt(two.cpuA, 1)} µs)`
  )
}

/** A warning when the passes differ by more than 2 points, so the mean needs a rerun to be trusted (else ''). */
/**
 * Whether B keeps more than `kept` of A's throughput (a CPU-bound gateway's throughput
 * follows its CPU per request): "met" only when both passes say so, "not met" when neither
 * does; one pass on each side of the line decides nothing.
 */
export function verdict(r: SideBySide, kept: number): 'met' | 'not met' | 'undecided' {
  const under = r.passes.filter((p) => 1 / p.ratio > kept).length
  return under === 2 ? 'met' : under === 0 ? 'not met' : 'undecided'
}

export function disagreement(r: SideBySide): string {
  const [one, two] = r.passes
  if (Math.abs(one.ratio - two.ratio) <= 0.02) return ''
  const moved = Math.abs(one.cpuA - two.cpuA) > 0.1 * Math.min(one.cpuA, two.cpuA)
  return (
    `The passes disagree by ${fmt(100 * Math.abs(one.ratio - two.ratio), 1)} points` +
    (moved ? ", and A's own CPU per request moved between them: the machine changed speed" : '') +
    '. Rerun before trusting the mean.'
  )
}
