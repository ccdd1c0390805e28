// `switchyard usage`: requests, tokens, cost, error rate and time-to-first-token
// percentiles from the usage store, grouped by key, model, upstream or day.
import { access } from 'node:fs/promises'
import { ConfigError, loadConfig } from '../config/load.js'
import { usageSchema, type UsageConfig } from '../config/observability.js'
import { openUsageStore, type GroupBy, type ReportRow } from '../observability/usage-store.js'

export type ReportFormat = 'table' | 'json' | 'csv'

export interface UsageOptions {
  readonly config: string
  readonly by: GroupBy
  /** ms back from now. */
  readonly since: number
  readonly format: ReportFormat
  /** The config was named on the command line: a missing file is an error, not the defaults. */
  readonly configGiven?: boolean
}

const COLUMNS = ['requests', 'prompt_tokens', 'completion_tokens', 'cost_usd', 'error_rate', 'estimated', 'ttft_p50_ms', 'ttft_p95_ms'] as const

/** The usage section of the config file; the defaults when the default file is absent. */
async function usageConfig(file: string, given: boolean): Promise<UsageConfig> {
  if (!given) {
    try {
      await access(file)
    } catch {
      return usageSchema.parse({})
    }
  }
  return (await loadConfig(file)).usage
}

export async function runUsage(opts: UsageOptions): Promise<void> {
  let config: UsageConfig
  try {
    config = await usageConfig(opts.config, opts.configGiven === true)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    process.exitCode = 1
    return
  }
  if (config.postgres === undefined) {
    try {
      await access(config.sqlite)
    } catch {
      console.error(`switchyard: no usage recorded yet (${config.sqlite} does not exist).`)
      process.exitCode = 1
      return
    }
  }
  // The PostgreSQL URL may carry a password: named by its field, never shown.
  const source = config.postgres === undefined ? config.sqlite : 'usage.postgres'
  let rows: ReportRow[]
  try {
    const store = await openUsageStore(config, { readonly: true })
    try {
      rows = await store.report({ by: opts.by, since: Date.now() - opts.since })
    } finally {
      await store.close()
    }
  } catch (err) {
    // Not a database, a corrupt one, a server that refuses: one line, not a stack.
    console.error(`switchyard: cannot read usage from ${source}: ${err instanceof Error ? err.message : String(err)}`)
    process.exitCode = 1
    return
  }
  process.stdout.write(formatReport(rows, opts.by, opts.format))
}

export function formatReport(rows: readonly ReportRow[], by: GroupBy, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(rows, null, 2)}\n`
    case 'csv':
      return [[by, ...COLUMNS].join(','), ...rows.map((r) => [csvField(r.group), ...COLUMNS.map((c) => r[c] ?? '')].join(','))].join('\n') + '\n'
    case 'table':
      return table(rows, by)
  }
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

function table(rows: readonly ReportRow[], by: GroupBy): string {
  if (rows.length === 0) return 'no requests in this period\n'
  const head = [by, 'requests', 'prompt tok', 'completion tok', 'cost USD', 'errors', 'estimated', 'TTFT p50 ms', 'TTFT p95 ms']
  const ms = (v: number | null): string => (v === null ? '-' : v.toFixed(1))
  const line = (r: ReportRow): string[] => [
    r.group,
    String(r.requests),
    String(r.prompt_tokens),
    String(r.completion_tokens),
    r.cost_usd.toFixed(6),
    `${(r.error_rate * 100).toFixed(1)}%`,
    String(r.estimated),
    ms(r.ttft_p50_ms),
    ms(r.ttft_p95_ms),
  ]
  const sum = (k: 'requests' | 'prompt_tokens' | 'completion_tokens' | 'cost_usd' | 'errors' | 'estimated'): number => rows.reduce((a, r) => a + r[k], 0)
  const requests = sum('requests')
  const total = ['total', String(requests), String(sum('prompt_tokens')), String(sum('completion_tokens')), sum('cost_usd').toFixed(6), `${((100 * sum('errors')) / requests).toFixed(1)}%`, String(sum('estimated')), '', '']
  const body = [head, ...rows.map(line), total]
  const widths = head.map((_, i) => Math.max(...body.map((r) => r[i]!.length)))
  const fmt = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()
  const rule = widths.map((w) => '-'.repeat(w)).join('  ')
  return [fmt(head), rule, ...body.slice(1, -1).map(fmt), rule, fmt(total)].join('\n') + '\n'
}
