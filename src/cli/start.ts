// `switchyard start`: the gateway on a config file. SIGTERM/SIGINT drain then exit 0;
// SIGHUP or a change of the file reloads it (config/reload.ts).
import { access } from 'node:fs/promises'
import { ConfigError } from '../config/load.js'
import { loadConfigOrReport } from './config-file.js'
import { Gateway } from '../gateway.js'
import { ListenError } from '../server/listen-error.js'

export async function runStart(file: string, options: { watch?: boolean } = {}): Promise<void> {
  try {
    await access(file)
  } catch {
    console.error(
      `switchyard: no config at ${file}.\n` +
        `  Write a starter one with:   npx switchyard init\n` +
        `  or try the demo with:       npm start`
    )
    process.exitCode = 1
    return
  }
  // SIGHUP's default action kills the process. The reloader handles it once the gateway
  // listens and stops handling it when a drain begins; before and after, this one keeps a
  // config tool's SIGHUP (a rollout, a renewed certificate) from cutting every live stream.
  let gateway: Gateway | undefined
  let started = false
  let hupWhileStarting = false
  process.on('SIGHUP', () => {
    if (!started) hupWhileStarting = true
    else if (gateway?.draining === true) gateway.log.warn('SIGHUP ignored: shutting down')
  })
  const config = await loadConfigOrReport(file)
  if (config === undefined) return
  try {
    // Reads server.tls files and opens the key store: what only opening reveals (a bad
    // certificate, an unusable store path) is still the config's fault.
    gateway = new Gateway(config, { configFile: file, reload: { signal: 'SIGHUP', watch: options.watch !== false } })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(new ConfigError(file, err.issues).message)
    process.exitCode = 1
    return
  }
  try {
    await gateway.start()
  } catch (err) {
    if (!(err instanceof ListenError)) throw err
    // One line, not a stack; what already started (other listeners, timers) goes with the process.
    console.error(`switchyard: ${err.issues.join('; ')}`)
    process.exit(1)
  }
  started = true
  installSignals(gateway)
  // The file may have changed after start read it: read it again now, as the signal asked.
  if (hupWhileStarting) void gateway.reloader?.reload('signal')
}

/** SIGTERM / SIGINT: drain, then exit 0 (a second signal exits at once). */
export function installSignals(gateway: Gateway): void {
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      gateway.log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    gateway.log.info({ signal }, 'shutting down')
    gateway.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        gateway.log.error({ err: String(err) }, 'shutdown failed')
        process.exit(1)
      }
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
