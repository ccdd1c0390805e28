// `switchyard keys create | list | revoke`: run-time keys in the store named by the config
// (store.sqlite). Running gateways pick changes up within a second.
import { Command } from 'commander'
import { createKey, KeyAdminError, listKeys, revokeKey, type KeyInfo } from '../auth/key-admin.js'
import { KeyStore } from '../auth/key-store.js'
import { loadConfigOrReport } from './config-file.js'
import type { Config } from '../config/schema.js'
import { intArg, numberArg } from './args.js'

interface CreateOptions {
  config: string
  name: string
  models?: string
  rpm?: number
  tpm?: number
  concurrency?: number
  budget?: number
  expires?: string
}

export function keysCommand(defaultConfig: string): Command {
  const keys = new Command('keys').description('manage virtual keys in the store (store.sqlite in the config)')
  keys
    .command('create')
    .description('create a key and print it (once: only its hash is kept)')
    .requiredOption('--name <name>', 'key name, shown in logs and usage')
    .option('--models <list>', 'comma-separated models the key may use (default: all)')
    .option('--rpm <n>', 'requests per minute', intArg)
    .option('--tpm <n>', 'tokens per minute', intArg)
    .option('--concurrency <n>', 'requests in flight at once', intArg)
    .option('--budget <usd>', 'spend ceiling in USD (from prices)', numberArg)
    .option('--expires <date>', 'expiry: 2027-06-30 (valid through that day, UTC) or an ISO timestamp')
    .option('-c, --config <file>', 'config file', defaultConfig)
    .action((opts: CreateOptions) => withStore(opts.config, (store, config) => create(store, config, opts)))
  keys
    .command('list')
    .description('list keys (config and store) with their limits and spend; never the keys')
    .option('--json', 'JSON instead of a table', false)
    .option('-c, --config <file>', 'config file', defaultConfig)
    .action((opts: { config: string; json: boolean }) =>
      withStore(opts.config, (store, config) => {
        const spend = store.spend()
        print(listKeys(config, store.keys(), (n) => spend.get(n) ?? 0), opts.json)
      })
    )
  keys
    .command('revoke')
    .description('revoke a key at once (running gateways refuse it within a second)')
    .argument('<name>', 'key name')
    .option('-c, --config <file>', 'config file', defaultConfig)
    .action((name: string, opts: { config: string }) =>
      withStore(opts.config, (store, config) => {
        const configKeyStays = revokeKey(store, config, name)
        console.log(`revoked key '${name}'`)
        if (configKeyStays) console.error(`the config key '${name}' stays in force: remove it from the config and reload`)
      })
    )
  return keys
}

function create(store: KeyStore, config: Config, opts: CreateOptions): void {
  const limits = {
    ...(opts.rpm !== undefined && { requests_per_minute: opts.rpm }),
    ...(opts.tpm !== undefined && { tokens_per_minute: opts.tpm }),
    ...(opts.concurrency !== undefined && { concurrency: opts.concurrency }),
  }
  const { key, info } = createKey(store, config, {
    name: opts.name,
    models: opts.models?.split(',').map((m) => m.trim()).filter((m) => m !== ''),
    limits: Object.keys(limits).length > 0 ? limits : undefined,
    budget_usd: opts.budget,
    expires: opts.expires,
  })
  // The key alone on stdout (for scripts); the explanation on stderr.
  console.log(key)
  console.error(`created key '${info.name}' (${describe(info)}). This is the only time it is shown: store it now.`)
}

async function withStore(file: string, fn: (store: KeyStore, config: Config) => void): Promise<void> {
  const config = await loadConfigOrReport(file)
  if (config === undefined) return
  if (config.store === undefined) {
    console.error(`${file} has no store: add "store: { sqlite: ./switchyard.db }" to keep keys made at run time`)
    process.exitCode = 1
    return
  }
  let store: KeyStore
  try {
    store = new KeyStore(config.store.sqlite, 5000)
  } catch (err) {
    console.error(`switchyard keys: cannot open store.sqlite ${config.store.sqlite}: ${(err as Error).message}`)
    process.exitCode = 1
    return
  }
  try {
    fn(store, config)
  } catch (err) {
    if (!(err instanceof KeyAdminError)) throw err
    console.error(`switchyard keys: ${err.message}`)
    process.exitCode = 1
  } finally {
    store.close()
  }
}

function describe(k: KeyInfo): string {
  const parts = [k.models === null ? 'all models' : `models: ${k.models.join(', ')}`]
  const l = k.limits
  if (l?.requests_per_minute !== undefined) parts.push(`${l.requests_per_minute} requests/min`)
  if (l?.tokens_per_minute !== undefined) parts.push(`${l.tokens_per_minute} tokens/min`)
  if (l?.concurrency !== undefined) parts.push(`${l.concurrency} at once`)
  if (k.budget_usd !== null) parts.push(`budget $${k.budget_usd}`)
  if (k.expires !== null) parts.push(`expires ${k.expires}`)
  return parts.join('; ')
}

function print(rows: KeyInfo[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify(rows, null, 2))
    return
  }
  const table = [
    ['NAME', 'SOURCE', 'STATUS', 'MODELS', 'RPM', 'TPM', 'CONC', 'BUDGET', 'SPENT', 'EXPIRES'],
    ...rows.map((k) => [
      k.name,
      k.source,
      k.status,
      k.models?.join(',') ?? '*',
      String(k.limits?.requests_per_minute ?? '-'),
      String(k.limits?.tokens_per_minute ?? '-'),
      String(k.limits?.concurrency ?? '-'),
      k.budget_usd === null ? '-' : `$${k.budget_usd}`,
      `$${k.spent_usd.toFixed(4)}`,
      expiryText(k.expires),
    ]),
  ]
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)))
  for (const r of table) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd())
}

/** A bare date (valid through that day, UTC: stored as its last millisecond) as the date; any other time in full. */
function expiryText(iso: string | null): string {
  if (iso === null) return '-'
  if (iso.endsWith('T23:59:59.999Z')) return iso.slice(0, 10)
  return iso.replace('.000Z', 'Z')
}
