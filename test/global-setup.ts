// Global setup: one log directory per run, provided to every test file, and the secret scan
// after the whole suite: a registered secret (or any virtual key) in any gateway log line
// fails the run. The directory is removed after a clean scan and kept when it finds a leak.
// Every other temporary file of the run (test databases, configs, certificates, the
// gateways' own) goes under one directory, TMPDIR for the workers and every process they
// start, removed at the end: a run left about seventy directories in /tmp before.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { LOG_DIR_KEY, logFiles, scanLogDir } from './helpers/secret-scan.js'

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-logs-'))
  project.provide(LOG_DIR_KEY, dir)
  const runTmp = mkdtempSync(join(tmpdir(), 'switchyard-run-'))
  // Others may pass through (not list): the Postgres tests run the server as its own user.
  chmodSync(runTmp, 0o711)
  const outerTmp = process.env.TMPDIR
  process.env.TMPDIR = runTmp
  return function teardown(): void {
    if (outerTmp === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = outerTmp
    rmSync(runTmp, { recursive: true, force: true })
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
