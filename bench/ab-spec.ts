// The two sides of an A/B measurement, from the AB_A / AB_B environment variables (shared by
// bench:ab and bench:profile). A spec: `config` (merged over a one-model config against the
// simulator; "$KEY_HASH" in it is the hash of the key the clients send), `cli` (another
// build's dist/src/cli/index.js), `env`. AB_KEYS=1 adds a key with 7 limits and a budget to both.
import { formatKeyHash } from '../src/auth/keys.js'
import type { CliOptions } from './lib.js'
import type { Side } from './side-by-side.js'

export interface Spec extends CliOptions {
  readonly config?: Record<string, unknown>
}

export const CHAT = JSON.stringify({ model: 'bench', max_tokens: 16, messages: [{ role: 'user', content: 'Hello, benchmark' }] })
const BIG = 1_000_000_000

/** The spec in the environment variable `name` ({} when unset). */
export function spec(name: string, key: string): Spec {
  const text = process.env[name] ?? '{}'
  try {
    return JSON.parse(text.replaceAll('$KEY_HASH', formatKeyHash(key))) as Spec
  } catch {
    throw new Error(`${name} is not JSON: ${text}`)
  }
}

/** A gateway side for `s`: one model against the simulator at simUrl; `keyed` adds the auth bench's key, limits and budget. */
export function sideOf(s: Spec, simUrl: string, key: string, keyed: boolean): Side {
  const config = {
    server: { port: 0 },
    admin: { port: 0 },
    logging: { access_log: 'off' },
    ...(keyed && {
      auth: { keys: [{ name: 'bench', hash: formatKeyHash(key), models: ['bench'], limits: { requests_per_minute: BIG, tokens_per_minute: BIG, concurrency: 100_000 }, budget_usd: BIG }] },
      limits: { per_ip: { requests_per_minute: BIG, concurrency: 100_000 }, per_model: { bench: { tokens_per_minute: BIG } } },
      prices: { bench: { input: 0.15, output: 0.6 } },
    }),
    ...s.config,
    models: [{ name: 'bench', upstreams: [{ url: `${simUrl}/v1` }] }],
  }
  return { config, options: { ...(s.cli !== undefined && { cli: s.cli }), ...(s.env !== undefined && { env: s.env }) } }
}

/** The two sides as the runs print them first. */
export function describeSpecs(a: Spec, b: Spec, keyed: boolean): string {
  return `A ${JSON.stringify(a)}\nB ${JSON.stringify(b)}${keyed ? '\n(both with a key under 7 limits and a budget)' : ''}`
}
