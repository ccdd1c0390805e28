// `switchyard start`: the gateway on a config file. SIGTERM/SIGINT drain then exit 0;
// SIGHUP reloads the file (an invalid one is logged and the old config keeps serving).
import { access } from 'node:fs/promises'
import { ConfigError, loadConfig } from '../config/load.js'
import { Gateway } from '../gateway.js'

export async function runStart(file: string): Promise<void> {
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
  let config
  try {
    config = await loadConfig(file)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    process.exitCode = 1
    return
  }
  const gateway = new Gateway(config)
  await gateway.start()
  installSignals(gateway, file)
}

export function installSignals(gateway: Gateway, file: string | undefined): void {
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
  if (file !== undefined) {
    process.on('SIGHUP', () => {
      loadConfig(file).then(
        (config) => gateway.apply(config),
        (err: unknown) => {
          const issues = err instanceof ConfigError ? err.issues : [String(err)]
          gateway.metrics?.configReloads.inc({ result: 'failure' })
          gateway.log.error({ file, issues }, 'config reload rejected; the previous config keeps serving')
        }
      )
    })
  }
}
