// The config file as the commands read it: a broken one is reported (each field by its path)
// and sets exit code 1, so a command only has to stop.
import { ConfigError, loadConfig } from '../config/load.js'
import type { Config } from '../config/schema.js'

/** The config in `file`, or undefined after printing why it cannot be used. */
export async function loadConfigOrReport(file: string): Promise<Config | undefined> {
  try {
    return await loadConfig(file)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    process.exitCode = 1
    return undefined
  }
}
