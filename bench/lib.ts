// Benchmark plumbing: child processes for the simulator and gateway, a bounded load loop,
// percentiles. Traffic goes to 127.0.0.1 only; every loop stops on a deadline.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { Pool } from 'undici'
import { stringify } from 'yaml'

const CLI = new URL('../src/cli/index.js', import.meta.url).pathname
const HAS_TASKSET = spawnSync('taskset', ['--version']).status === 0

/**
 * Pins this process (every thread: the load generator) to `cores`, e.g. '1' or '0,1'.
 * Returns false where taskset is missing (the layout is then the scheduler's).
 */
export function pinSelf(cores: string): boolean {
  return HAS_TASKSET && spawnSync('taskset', ['-a', '-p', '-c', cores, String(process.pid)]).status === 0
}

const tempDirs: string[] = []
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
})

/**
 * A temporary directory removed when the bench exits: the access logs and usage databases
 * of a run are hundreds of MB, and earlier runs' files left behind fill the disk.
 */
export function benchDir(prefix = 'switchyard-bench-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.push(dir)
  return dir
}

/**
 * Writes back dirty pages before a measurement: otherwise the kernel may still be writing
 * an earlier run's logs while this one runs, and file writes measure slower than they are.
 */
export function settleDisk(): void {
  spawnSync('sync')
}

export interface Proc {
  readonly url: string
  readonly child: ChildProcess
  stop(): Promise<void>
}

/** How to run a gateway other than this build's plain `switchyard start` (A/B runs). */
export interface CliOptions {
  /** Another build's `dist/src/cli/index.js`. */
  readonly cli?: string
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>
}

/** Spawns `switchyard <args>` pinned to a core, waits for its URL on stdout/stderr. */
export async function spawnCli(args: string[], core: number, urlPattern: RegExp, cwd?: string, options: CliOptions = {}): Promise<Proc> {
  const cli = options.cli ?? CLI
  const cmd = HAS_TASKSET ? 'taskset' : process.execPath
  const argv = HAS_TASKSET ? ['-c', String(core), process.execPath, cli, ...args] : [cli, ...args]
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd, env: options.env === undefined ? process.env : { ...process.env, ...options.env } })
  let text = ''
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      text += d.toString()
      const m = urlPattern.exec(text)
      if (m) resolve(m[1]!)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => reject(new Error(`switchyard ${args[0]} exited ${code}: ${text}`)))
    setTimeout(() => reject(new Error(`switchyard ${args[0]} did not start: ${text}`)), 15_000).unref()
  })
  child.stdout.resume()
  child.stderr.resume()
  return {
    url,
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

/** A free TCP port on 127.0.0.1 (for nginx and Redis, which cannot be told to pick one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export function startSimProc(core: number, extra: string[] = []): Promise<Proc> {
  return spawnCli(['sim', '--port', '0', '--ttft', '0ms', '--tokens-per-second', '0', ...extra], core, /at (http:\/\/[\d.:]+)\/v1/)
}

export function startGatewayProc(config: Record<string, unknown>, core: number, options?: CliOptions): Promise<Proc> {
  const dir = benchDir()
  const file = join(dir, 'switchyard.yaml')
  writeFileSync(file, stringify(config))
  // Relative paths in the config (the default ./switchyard.db) land in the temp dir.
  return spawnCli(['start', '--config', file], core, /"url":"(http:\/\/[^"]+)"/, dir, options)
}

export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024
}

/** CPU time (user + system) a process has used so far, in ms (from /proc; Linux). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100

export interface LoadResult {
  readonly requests: number
  readonly errors: number
  readonly rps: number
  readonly p50: number
  readonly p99: number
}

/** `concurrency` loops POST `body` to `url` until `seconds` pass (or `maxRequests`), with extra `headers`. */
export async function load(
  url: string,
  body: string,
  concurrency: number,
  seconds: number,
  maxRequests = Number.POSITIVE_INFINITY,
  extraHeaders: Record<string, string> = {}
): Promise<LoadResult> {
  const headers = { 'content-type': 'application/json', ...extraHeaders }
  const u = new URL(url)
  const pool = new Pool(u.origin, { connections: concurrency, pipelining: 1 })
  const latencies: number[] = []
  let errors = 0
  let sent = 0
  const start = performance.now()
  const until = start + seconds * 1000
  const worker = async (): Promise<void> => {
    while (performance.now() < until && sent < maxRequests) {
      sent++
      const t0 = performance.now()
      try {
        const res = await pool.request({ path: u.pathname, method: 'POST', headers, body })
        await res.body.dump({ limit: Number.MAX_SAFE_INTEGER })
        if (res.statusCode !== 200) errors++
        else latencies.push(performance.now() - t0)
      } catch {
        errors++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = (performance.now() - start) / 1000
  await pool.close()
  latencies.sort((a, b) => a - b)
  return { requests: latencies.length + errors, errors, rps: latencies.length / elapsed, p50: pct(latencies, 50), p99: pct(latencies, 99) }
}

export interface StreamResult {
  readonly streams: number
  readonly errors: number
  readonly ttfbP50: number
  readonly ttfbP99: number
  readonly totalP50: number
  readonly totalP99: number
}

/** Opens `n` streams at once, measuring time to first byte and to the end of each. */
export async function streams(url: string, body: string, n: number): Promise<StreamResult> {
  const u = new URL(url)
  const pool = new Pool(u.origin, { connections: n })
  const ttfb: number[] = []
  const total: number[] = []
  let errors = 0
  await Promise.all(
    Array.from({ length: n }, async () => {
      const t0 = performance.now()
      try {
        const res = await pool.request({ path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json' }, body })
        let first = true
        for await (const _ of res.body) {
          if (first) {
            ttfb.push(performance.now() - t0)
            first = false
          }
        }
        if (res.statusCode !== 200) errors++
        else total.push(performance.now() - t0)
      } catch {
        errors++
      }
    })
  )
  await pool.close()
  ttfb.sort((a, b) => a - b)
  total.sort((a, b) => a - b)
  return { streams: n, errors, ttfbP50: pct(ttfb, 50), ttfbP99: pct(ttfb, 99), totalP50: pct(total, 50), totalP99: pct(total, 99) }
}

export function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!
}

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-'
}
