// Where a difference in CPU goes: two gateways side by side on core 0 (bench/side-by-side.ts),
// both under perf with V8's jitdump (--perf-prof), so JavaScript frames are named right even
// after V8 moves or frees code (the plain perf map names them after whatever was there
// first: module bodies long gone showed up as hot functions). Prints each gateway's CPU per
// request split into categories (limits, key check, response head, socket writes, GC, the
// rest) and the functions whose share moved most.
//
//   AB_A='{}' AB_B='{}' AB_KEYS=1 npm run bench:profile      (A/A: how much one run moves)
//   AB_A='{"config":{"auth":{"mode":"none"},"limits":{"per_ip":{},"per_model":{}}}}' AB_B='{}' AB_KEYS=1 npm run bench:profile
//                                                   (off against keys with 7 limits and a budget)
//
// The same AB_A / AB_B specs as bench:ab (bench/ab-spec.ts). PROFILE_SECONDS (12) of load,
// 32 clients per gateway, after 6 s of warm-up; A started first (PROFILE_B_FIRST=1: B). One run only: an A/A run's "rest" moved by
// ±3% between runs on a busy VM, the named categories much less; read them, and rerun.
// Needs Linux perf (linux-perf / linux-tools) and the right to sample core 0.
import { spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { generateKey } from '../src/auth/keys.js'
import { CHAT, describeSpecs, sideOf, spec } from './ab-spec.js'
import { benchDir, cpuMs, fmt, load, pinSelf, startGatewayProc, startSimProc, type LoadResult, type Proc } from './lib.js'
import { GATEWAY_CATEGORIES, REST, SampleTally, type ProcessSamples } from './perf-samples.js'
import type { Side } from './side-by-side.js'

const FREQUENCY = 2999
const key = generateKey()
const keyed = process.env.AB_KEYS === '1'

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr?.toString().trim() ?? r.error?.message}`)
}

function withJitdump(side: Side): Side {
  const env = side.options?.env ?? {}
  const nodeOptions = [env.NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? '', '--perf-prof'].join(' ').trim()
  return { ...side, options: { ...side.options, env: { ...env, NODE_OPTIONS: nodeOptions } } }
}

async function tally(file: string, pids: readonly number[], cache: readonly string[]): Promise<SampleTally> {
  const t = new SampleTally(pids)
  const child = spawn('perf', [...cache, 'script', '-i', file, '-F', 'pid,ip,sym'], { stdio: ['ignore', 'pipe', 'ignore'] })
  for await (const line of createInterface({ input: child.stdout })) t.line(line)
  t.end()
  return t
}

function usPerRequest(samples: number, requests: number): number {
  return (samples * 1e6) / FREQUENCY / requests
}

function report(a: ProcessSamples, b: ProcessSamples, reqA: number, reqB: number, cpuA: number, cpuB: number): void {
  const baseA = usPerRequest(a.total, reqA)
  console.log(`CPU per request (from /proc): A ${fmt(cpuA, 1)} µs, B ${fmt(cpuB, 1)} µs, B/A ${fmt((100 * cpuB) / cpuA, 1)}%`)
  console.log(`sampled on core 0:            A ${fmt(baseA, 1)} µs, B ${fmt(usPerRequest(b.total, reqB), 1)} µs`)
  console.log('\nµs per request            A        B      B-A   share of A')
  for (const name of [...GATEWAY_CATEGORIES.map((c) => c.name), REST]) {
    const x = usPerRequest(a.byCategory.get(name) ?? 0, reqA)
    const y = usPerRequest(b.byCategory.get(name) ?? 0, reqB)
    console.log(`${name.padEnd(20)} ${fmt(x, 2).padStart(8)} ${fmt(y, 2).padStart(8)} ${fmt(y - x, 2).padStart(8)} ${`${fmt((100 * (y - x)) / baseA, 2)}%`.padStart(9)}`)
  }
  const names = new Set([...a.byFunction.keys(), ...b.byFunction.keys()])
  const moved = [...names]
    .map((n) => ({ n, d: usPerRequest(b.byFunction.get(n) ?? 0, reqB) - usPerRequest(a.byFunction.get(n) ?? 0, reqA) }))
    .sort((p, q) => Math.abs(q.d) - Math.abs(p.d))
    .slice(0, Number(process.env.PROFILE_TOP ?? 20))
  console.log('\nfunctions that moved most (innermost JavaScript frame, inlined code included), µs per request B-A:')
  for (const { n, d } of moved) console.log(`${fmt(d, 3).padStart(8)}  ${n}`)
}

async function main(): Promise<void> {
  if (spawnSync('perf', ['--version']).status !== 0) {
    console.error('bench:profile needs Linux perf (Debian: apt-get install linux-perf).')
    process.exitCode = 1
    return
  }
  const seconds = Number(process.env.PROFILE_SECONDS ?? 12)
  const pinned = pinSelf('1')
  const dir = benchDir('switchyard-profile-')
  // perf keeps a copy of every binary it sees (each jitted function is one) in ~/.debug
  // unless told where: here, in the run's own directory, removed at exit.
  const cache = ['--buildid-dir', join(dir, 'buildid')]
  const sim = await startSimProc(1)
  const procs: Proc[] = []
  try {
    const specA = spec('AB_A', key)
    const specB = spec('AB_B', key)
    const a = withJitdump(sideOf(specA, sim.url, key, keyed))
    const b = withJitdump(sideOf(specB, sim.url, key, keyed))
    console.log(describeSpecs(specA, specB, keyed))
    console.log(
      `${seconds}s of load, 32 clients each, both gateways on core 0${pinned ? '' : ' (taskset missing: no pinning)'}, ` +
        `${process.env.PROFILE_B_FIRST === '1' ? 'B' : 'A'} started first`
    )
    // The gateway started second ran a little cheaper in bench:ab (about 1%; here, its GC
    // 0.1–0.5% of CPU lower in A/A runs): PROFILE_B_FIRST=1 swaps the order to see it.
    const bFirst = process.env.PROFILE_B_FIRST === '1'
    const gb0 = bFirst ? await startGatewayProc(b.config, 0, b.options) : undefined
    const ga = await startGatewayProc(a.config, 0, a.options)
    procs.push(ga)
    const gb = gb0 ?? (await startGatewayProc(b.config, 0, b.options))
    procs.push(gb)
    const one = (g: Proc, s: number): Promise<LoadResult> =>
      load(`${g.url}/v1/chat/completions`, CHAT, 32, s, Number.POSITIVE_INFINITY, { authorization: `Bearer ${key}` })
    const both = (s: number): Promise<[LoadResult, LoadResult]> => Promise.all([one(ga, s), one(gb, s)])
    await both(6)
    const raw = join(dir, 'perf.data')
    const a0 = cpuMs(ga.child.pid!)
    const b0 = cpuMs(gb.child.pid!)
    // -k 1: the clock jitdump records use, so perf inject can place each code object in time.
    const recorder = spawn('perf', [...cache, 'record', '-k', '1', '-g', '-N', '-F', String(FREQUENCY), '-C', '0', '-o', raw, '--', 'sleep', String(seconds)], { stdio: 'ignore' })
    const recorded = new Promise<number | null>((resolve) => recorder.once('exit', resolve))
    const [ra, rb] = await both(seconds)
    if ((await recorded) !== 0) throw new Error('perf record failed (is sampling allowed? kernel.perf_event_paranoid)')
    const cpuA = ((cpuMs(ga.child.pid!) - a0) * 1000) / ra.requests
    const cpuB = ((cpuMs(gb.child.pid!) - b0) * 1000) / rb.requests
    // The jitdump files sit in each gateway's directory until it exits: inject while they run.
    const injected = join(dir, 'perf.jit.data')
    run('perf', [...cache, 'inject', '-j', '-i', raw, '-o', injected])
    const t = await tally(injected, [ga.child.pid!, gb.child.pid!], cache)
    report(t.processes.get(ga.child.pid!)!, t.processes.get(gb.child.pid!)!, ra.requests, rb.requests, cpuA, cpuB)
  } finally {
    for (const p of procs) await p.stop()
    await sim.stop()
  }
}

await main()
