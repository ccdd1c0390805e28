// Whether SQLite can create or open a database file at a configured path, checked without
// opening it: `validate` runs it for store.sqlite and usage.sqlite, and the gateway for
// usage.sqlite before it starts (its store is opened later, in a worker, where a bad path
// would only show as writes retried forever).
import { accessSync, constants, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

/** `field: cannot open file: why` when SQLite could not use `file`; undefined when it can. */
export function sqlitePathIssue(file: string, field: string): string | undefined {
  const problem = sqlitePathProblem(file)
  return problem === undefined ? undefined : `${field}: cannot open ${file}: ${problem}`
}

function sqlitePathProblem(file: string): string | undefined {
  // In-memory and URI databases name no directory of their own.
  if (file === '' || file === ':memory:' || file.startsWith('file:')) return undefined
  const dir = dirname(resolve(file))
  try {
    if (!statSync(dir).isDirectory()) return `${dir} is not a directory`
  } catch {
    return `directory ${dir} does not exist`
  }
  try {
    // SQLite writes its journal (-wal, -shm) beside the file.
    accessSync(dir, constants.W_OK)
  } catch {
    return `directory ${dir} is not writable`
  }
  try {
    if (statSync(file).isDirectory()) return 'it is a directory'
    accessSync(file, constants.R_OK | constants.W_OK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT') return `not readable and writable (${code ?? String(err)})`
  }
  return undefined
}
