// Global setup: one log directory per run, provided to every test file, and the secret scan
// after the whole suite: a registered secret (or any virtual key) in any gateway log line
// fails the run. The directory is removed after a clean scan and kept when it finds a leak.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { LOG_DIR_KEY, logFiles, scanLogDir } from './helpers/secret-scan.js'

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-logs-'))
  project.provide(LOG_DIR_KEY, dir)
  return function teardown(): void {
    const leaks = scanLogDir(dir)
    if (leaks.length === 0) {
      process.stdout.write(`secret scan: ${logFiles(dir)} gateway logs, no key or upstream secret found\n`)
      rmSync(dir, { recursive: true, force: true })
      return
    }
    const where = leaks.map((l) => `  ${l.file}:${l.line} holds ${l.secret}`).join('\n')
    process.stderr.write(`secret scan: ${leaks.length} leak(s); logs kept in ${dir}\n${where}\n`)
    throw new Error(`secret scan found ${leaks.length} secret(s) in gateway logs`)
  }
}
