// What `start` finds wrong only when it opens things, checked without opening them or the
// network: `validate` runs these after the schema, so a config it passes also starts.
import { ConfigError } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { readTlsMaterial } from '../server/tls.js'
import { appendPathIssue } from '../util/append-path.js'
import { sqlitePathIssue } from '../util/sqlite-path.js'

/** Every start-time problem of `config`, each as `field: why` (empty when there is none). */
export function startTimeIssues(config: Config): string[] {
  const issues: string[] = []
  const tls = config.server.tls
  if (tls !== undefined) {
    try {
      readTlsMaterial(tls)
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      issues.push(...err.issues)
    }
  }
  const accessLog = config.logging.access_log
  if (accessLog !== 'off' && accessLog !== 'stdout' && accessLog !== 'stderr') issues.push(...present(appendPathIssue(accessLog, 'logging.access_log')))
  if (config.store !== undefined) issues.push(...present(sqlitePathIssue(config.store.sqlite, 'store.sqlite')))
  const usage = config.usage
  if (usage.enabled && usage.postgres === undefined) issues.push(...present(sqlitePathIssue(usage.sqlite, 'usage.sqlite')))
  return issues
}

function present(issue: string | undefined): string[] {
  return issue === undefined ? [] : [issue]
}
