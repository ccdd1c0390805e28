// Starts the real gateway (`switchyard start`) as a child process on a free port and
// waits until it listens. Logs are kept for assertions (and the secret-leak scans).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'

export const CLI = new URL('../../dist/src/cli/index.js', import.meta.url).pathname

export interface GatewayProcess {
  readonly url: string
  /** The gateway's own temporary directory (its working directory). */
  readonly dir: string
  readonly adminUrl: string
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

export async function startGateway(
  config: Record<string, unknown> | string,
  env: Record<string, string> = {}
): Promise<GatewayProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-test-'))
  const configFile = join(dir, 'switchyard.yaml')
  const withDefaults =
    typeof config === 'string'
      ? config
      : stringify({
          ...config,
          server: { port: 0, ...(config.server as object | undefined) },
          admin: { port: 0, ...(config.admin as object | undefined) },
        })
  await writeFile(configFile, withDefaults)
  const proc = spawn(process.execPath, [CLI, 'start', '--config', configFile], {
    // Relative paths in the config (the default ./switchyard.db) land in the test's own directory.
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))

  const waitForLog = async (pattern: RegExp, timeoutMs = 10_000): Promise<void> => {
    const until = Date.now() + timeoutMs
    while (!pattern.test(err) && !pattern.test(out)) {
      if (proc.exitCode !== null) throw new Error(`gateway exited (${proc.exitCode}):\n${err}`)
      if (Date.now() > until) throw new Error(`timed out waiting for ${pattern}; stderr:\n${err}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  await waitForLog(/"msg":"switchyard listening"/)
  const url = /"url":"(http:\/\/[^"]+)"/.exec(err)![1]!
  const adminUrl = /"admin_url":"(http:\/\/[^"]+)"/.exec(err)![1]!
  return {
    url,
    dir,
    adminUrl,
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
