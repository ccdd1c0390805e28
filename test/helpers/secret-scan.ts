// The suite-wide secret scan: every gateway process a test starts saves its stdout and stderr
// into this run's log directory, tests register the secrets they use, and the global
// teardown (test/global-setup.ts) reads every line of every log for any of them.
// Append-only files with unique names keep it safe with test files running in parallel.
import { appendFileSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** The name under which global setup provides the directory to test workers. */
export const LOG_DIR_KEY = 'switchyardLogDir'
const REGISTRY = 'secrets.jsonl'
/** Shorter values would match by accident ('x' as an API key in tests is not a secret). */
const MIN_SECRET_LENGTH = 8
/** Virtual keys leak whether or not a test registered them. */
const KEY_PATTERNS = [/sk-sy-[A-Za-z0-9_-]{8,}/]

declare module 'vitest' {
  export interface ProvidedContext {
    switchyardLogDir: string
  }
}

/** This run's log directory, or undefined outside vitest (e.g. a helper used by a script). */
export async function runLogDir(): Promise<string | undefined> {
  try {
    const { inject } = await import('vitest')
    return inject(LOG_DIR_KEY)
  } catch {
    return undefined
  }
}

/** Records secrets the scan must never find in a log. */
export async function registerSecrets(...values: readonly (string | undefined)[]): Promise<void> {
  const dir = await runLogDir()
  const lines = values.filter((v): v is string => v !== undefined && v.length >= MIN_SECRET_LENGTH).map((v) => `${JSON.stringify(v)}\n`)
  // Small appends with O_APPEND land whole even when several workers write at once.
  if (dir !== undefined && lines.length > 0) appendFileSync(join(dir, REGISTRY), lines.join(''))
}

/** Secrets worth registering from a gateway config: upstream keys, extra upstream headers, the admin token. */
export function secretsInConfig(config: unknown): string[] {
  const out: string[] = []
  const walk = (node: unknown, key: string): void => {
    if (typeof node === 'string') {
      if (/^(api_key|token|authorization|api-key|x-api-key)$/i.test(key)) out.push(node)
      return
    }
    if (Array.isArray(node)) for (const v of node) walk(v, key)
    else if (node !== null && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, k)
  }
  walk(config, '')
  return out
}

export interface Leak {
  readonly file: string
  readonly line: number
  /** The secret shown cut short, so the report itself does not repeat it. */
  readonly secret: string
}

function masked(secret: string): string {
  return `${secret.slice(0, 4)}…(${secret.length} chars)`
}

/** Every line of every `*.log` in `dir` that holds a registered secret or a virtual key. */
export function scanLogDir(dir: string): Leak[] {
  let secrets: string[] = []
  try {
    secrets = readFileSync(join(dir, REGISTRY), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as string)
  } catch {
    // No test registered anything.
  }
  const unique = [...new Set(secrets)]
  const leaks: Leak[] = []
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.log'))) {
    const lines = readFileSync(join(dir, file), 'utf8').split('\n')
    lines.forEach((text, i) => {
      for (const s of unique) if (text.includes(s)) leaks.push({ file, line: i + 1, secret: masked(s) })
      for (const p of KEY_PATTERNS) {
        const m = p.exec(text)
        if (m !== null) leaks.push({ file, line: i + 1, secret: masked(m[0]) })
      }
    })
  }
  return leaks
}

/** Counts what a scan read, for the closing line. */
export function logFiles(dir: string): number {
  return readdirSync(dir).filter((f) => f.endsWith('.log')).length
}
