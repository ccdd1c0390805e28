// A throwaway PostgreSQL server for tests: initdb in a temp dir, started on a free port on
// 127.0.0.1 with the socket in that dir. Runs as the `postgres` user when we are root
// (postgres refuses to run as root). Stop and start it again to simulate an outage.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { freePort } from './ports.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface PostgresServer {
  readonly port: number
  /** postgres://postgres@127.0.0.1:PORT/<database> */
  url(database: string): string
  createDatabase(name: string): void
  stop(): Promise<void>
  start(): Promise<void>
  destroy(): Promise<void>
}

/** The newest installed server binaries, or undefined when PostgreSQL is not installed. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
  versions.sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin')
}

const asRoot = process.getuid?.() === 0

/** argv run as the postgres user when we are root. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBin()
  if (bin === undefined) throw new Error('PostgreSQL is not installed (.ci/run installs the postgresql package)')
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-pg-'))
  chmodSync(dir, 0o777)
  const data = join(dir, 'data')
  if (asRoot) execFileSync('chown', ['postgres', dir])
  const [initCmd, initArgs] = asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'])
  execFileSync(initCmd, initArgs, { stdio: 'ignore' })
  const port = await freePort()
  let proc: ChildProcess | undefined

  const start = async (): Promise<void> => {
    const [cmd, args] = asPostgres(join(bin, 'postgres'), [
      '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off',
    ])
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    proc = child
    let log = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (log += d))
    const until = Date.now() + 20_000
    while (!/ready to accept connections/.test(log)) {
      if (child.exitCode !== null) throw new Error(`postgres exited: ${log}`)
      if (Date.now() > until) throw new Error(`postgres did not start: ${log}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  const stop = async (): Promise<void> => {
    const child = proc
    proc = undefined
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    // SIGINT is the postmaster's "fast" shutdown (clients are cut at once). Sent to the
    // postmaster itself: runuser does not pass signals on.
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
    process.kill(pid, 'SIGINT')
    await exited
  }

  await start()
  const url = (database: string): string => `postgres://postgres@127.0.0.1:${port}/${database}`
  return {
    port,
    url,
    createDatabase(name: string) {
      const [cmd, args] = asPostgres(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', name])
      execFileSync(cmd, args, { stdio: 'ignore' })
    },
    stop,
    start,
    async destroy() {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
