// A real redis-server for tests: our own instance on a free port, no persistence. It can be
// killed and started again on the same port (outage tests).
import { spawn, type ChildProcess } from 'node:child_process'
import { freePort } from './ports.js'
import { afterAll } from 'vitest'
import { Redis } from 'ioredis'

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server'

const running = new Set<ChildProcess>()
afterAll(() => {
  for (const p of running) if (!exited(p)) p.kill('SIGKILL')
})

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** SIGKILL: the server vanishes as in a crash. */
  kill(): Promise<void>
  /** Starts it again on the same port (empty: no persistence). */
  restart(): Promise<void>
  stop(): Promise<void>
  /** One command on a fresh connection (e.g. INFO commandstats). */
  command(...args: string[]): Promise<unknown>
  /** SIGSTOP: the server stays connected and answers nothing (a pause, a slow fork); thaw() resumes it. */
  freeze(): void
  thaw(): void
}

/** exitCode stays null for a process ended by a signal. */
function exited(p: ChildProcess): boolean {
  return p.exitCode !== null || p.signalCode !== null
}

async function launch(port: number): Promise<ChildProcess> {
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(proc)
  proc.once('exit', () => running.delete(proc))
  let out = ''
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const until = Date.now() + 10_000
  for (;;) {
    if (/Ready to accept connections/.test(out)) return proc
    if (exited(proc)) throw new Error(`redis-server exited (${proc.exitCode}): ${out}`)
    if (Date.now() > until) throw new Error(`redis-server did not start: ${out}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort()
  let proc = await launch(port)
  const url = `redis://127.0.0.1:${port}`
  const kill = async (): Promise<void> => {
    if (exited(proc)) return
    const gone = new Promise((r) => proc.once('exit', r))
    proc.kill('SIGKILL')
    await gone
  }
  return {
    port,
    url,
    kill,
    stop: kill,
    freeze() {
      proc.kill('SIGSTOP')
    },
    thaw() {
      proc.kill('SIGCONT')
    },
    async restart() {
      await kill()
      proc = await launch(port)
    },
    async command(...args: string[]) {
      const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 })
      try {
        await c.connect()
        return await c.call(args[0]!, ...args.slice(1))
      } finally {
        c.disconnect()
      }
    },
  }
}

/** EVALSHA + EVAL calls so far (the store's round trips), from INFO commandstats. */
export async function scriptCalls(redis: RedisServer): Promise<number> {
  const info = String(await redis.command('INFO', 'commandstats'))
  let n = 0
  for (const m of info.matchAll(/cmdstat_(evalsha|eval):calls=(\d+)/g)) n += Number(m[2])
  return n
}
