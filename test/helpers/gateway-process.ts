// Starts the real gateway (`switchyard start`) as a child process on a free port and
// waits until it listens. Logs are kept for assertions, and saved into the run's log
// directory for the secret scan after the suite (helpers/secret-scan.ts); the config's
// secrets are registered for it.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, writeSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { parse, stringify } from 'yaml'
import { registerSecrets, runLogDir, secretsInConfig } from './secret-scan.js'

/** Every gateway this test file started; killed at the end even when a test failed early. */
const running = new Set<ChildProcess>()
afterAll(() => {
  for (const p of running) if (p.exitCode === null) p.kill('SIGKILL')
})

export const CLI = new URL('../../dist/src/cli/index.js', import.meta.url).pathname

export interface GatewayProcess {
  /** http://… or, with server.tls, https://… */
  readonly url: string
  /** The gateway's own temporary directory (its working directory). */
  readonly dir: string
  readonly adminUrl: string
  /** The HTTP → HTTPS redirect listener, when server.redirect_http_port is set. */
  readonly redirectUrl: string | undefined
  readonly proc: ChildProcess
  readonly configFile: string
  /** Everything written to stdout (access log) and stderr (process log) so far. */
  stdout(): string
  stderr(): string
  /** Parsed JSON lines of stdout. */
  accessLines(): Record<string, unknown>[]
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>
}

/** The YAML a test config is written as: ports default to 0 (any free one). */
export function configText(config: Record<string, unknown> | string): string {
  return typeof config === 'string'
    ? config
    : stringify({
        ...config,
        server: { port: 0, ...(config.server as object | undefined) },
        admin: { port: 0, ...(config.admin as object | undefined) },
      })
}

export async function startGateway(
  config: Record<string, unknown> | string,
  env: Record<string, string> = {},
  args: readonly string[] = []
): Promise<GatewayProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-test-'))
  const configFile = join(dir, 'switchyard.yaml')
  await writeFile(configFile, configText(config))
  await registerSecrets(
    ...secretsInConfig(typeof config === 'string' ? parse(config) : config),
    ...Object.entries(env)
      .filter(([k]) => /KEY|TOKEN|SECRET|PASSWORD/i.test(k))
      .map(([, v]) => v)
  )
  const proc = spawn(process.execPath, [CLI, 'start', '--config', configFile, ...args], {
    // Relative paths in the config (the default ./switchyard.db) land in the test's own directory.
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(proc)
  proc.once('exit', () => running.delete(proc))
  const logs = await logFilesFor(proc.pid ?? 0)
  let out = ''
  let err = ''
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d
    if (logs !== undefined) writeSync(logs.stdout, d)
  })
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d
    if (logs !== undefined) writeSync(logs.stderr, d)
  })
  const exited = new Promise<number | null>((resolve) =>
    proc.once('close', (code) => {
      // 'close' comes after the pipes have delivered everything: the log files are complete.
      if (logs !== undefined) {
        closeSync(logs.stdout)
        closeSync(logs.stderr)
      }
      resolve(code)
    })
  )

  const waitForLog = async (pattern: RegExp, timeoutMs = 10_000): Promise<void> => {
    const until = Date.now() + timeoutMs
    while (!pattern.test(err) && !pattern.test(out)) {
      if (proc.exitCode !== null) throw new Error(`gateway exited (${proc.exitCode}):\n${err}`)
      if (Date.now() > until) throw new Error(`timed out waiting for ${pattern}; stderr:\n${err}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  await waitForLog(/"msg":"switchyard listening"/)
  const url = /"url":"(https?:\/\/[^"]+)"/.exec(err)![1]!
  const adminUrl = /"admin_url":"(http:\/\/[^"]+)"/.exec(err)![1]!
  const redirectUrl = /"redirect_url":"(http:\/\/[^"]+)"/.exec(err)?.[1]
  return {
    url,
    dir,
    adminUrl,
    redirectUrl,
    proc,
    configFile,
    stdout: () => out,
    stderr: () => err,
    accessLines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    waitForLog,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal)
      return exited
    },
  }
}

let started = 0

/**
 * Files in the run's log directory (none outside a vitest run). Written synchronously, so a
 * worker that exits early never leaves a log half-flushed for the scan.
 */
async function logFilesFor(pid: number): Promise<{ stdout: number; stderr: number } | undefined> {
  const dir = await runLogDir()
  if (dir === undefined) return undefined
  const base = join(dir, `gateway-${process.pid}-${++started}-${pid}`)
  return { stdout: openSync(`${base}.stdout.log`, 'a'), stderr: openSync(`${base}.stderr.log`, 'a') }
}
