// `switchyard validate`: exit 0 for a valid config, 1 with one line per problem: the schema's,
// then what `start` would find opening the TLS files and SQLite stores (start-checks.ts).
import { ConfigError, loadConfig } from '../config/load.js'
import { startTimeIssues } from './start-checks.js'

export async function runValidate(file: string): Promise<void> {
  try {
    const config = await loadConfig(file)
    const issues = startTimeIssues(config)
    if (issues.length > 0) throw new ConfigError(file, issues)
    const upstreams = config.models.reduce((n, m) => n + m.upstreams.length, 0)
    console.log(`${file}: valid (${config.models.length} models, ${upstreams} upstreams)`)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(`${file}: invalid`)
    for (const issue of err.issues) console.error(`  ${issue}`)
    process.exitCode = 1
  }
}
